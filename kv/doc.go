// Package kv is the vocabulary shared by every layer of tikvsql: keys and ranges,
// timestamps, the errors a caller acts on, and the hooks through which a client reports
// what it does. It imports nothing from the rest of the module and holds no state.
//
// # Keys and ranges
//
// A [Key] is a byte string; keys sort byte-wise and the empty key is the smallest. A
// [KeyRange] is half-open, [Start, End), and an empty End means "unbounded". Use
// [PrefixRange] for "every key with this prefix" and [KeyRange.Validate] to reject a range
// whose start is after its end. Values are byte slices; a key that exists with an empty
// value reads back as a non-nil, zero-length slice, distinct from "not found".
//
// # Timestamps
//
// PD issues 64-bit timestamps (TSO) that order all transactions: milliseconds since the
// Unix epoch in the high bits and an 18-bit logical counter in the low bits. [ComposeTS],
// [PhysicalMs], [Logical], [TimeOf] and [TSOf] convert between the parts and wall-clock
// time without contacting PD.
//
// # Errors
//
// Errors are plain Go errors: sentinels for conditions (test with errors.Is) and struct
// types for conditions that carry data (test with errors.As). No kvproto type, gRPC status
// or raw region-error string is ever returned to a caller. What to do with each:
//
//   - [ErrNotFound]: the key has no value at the read timestamp. Only APIs that return a
//     single value use it; batch reads simply omit missing keys.
//   - [*WriteConflictError]: another transaction committed a write to the same key after
//     this one started (optimistic) or after its for-update timestamp (pessimistic).
//     Retry the whole transaction.
//   - [*KeyLockedError]: a lock of another transaction could not be resolved within the
//     caller's budget. Retry later.
//   - [ErrLockWaitTimeout]: a pessimistic lock waited as long as allowed. Retry or give up.
//   - [ErrLockNoWait]: a no-wait pessimistic lock met a held lock. The caller asked to fail.
//   - [*DeadlockError]: TiKV's deadlock detector aborted this lock request to break a
//     cycle. Roll back; retry if IsRetryable.
//   - [*KeyExistsError]: an insert found the key present. A constraint violation: do not
//     retry blindly.
//   - [*AssertionFailedError]: TiKV found the key's existence different from what the
//     transaction asserted; a bug in the caller's data model or corruption.
//   - [ErrTxnTooLarge], [ErrEntryTooLarge], [ErrKeyTooLarge] (as [*SizeLimitError] with the
//     size and the limit): the write buffer limits were hit. Split the work.
//   - [ErrTxnAbortedByGC]: the transaction is older than the GC safe point; the versions it
//     reads may be gone. Start a new transaction; keep transactions shorter than the GC
//     life time.
//   - [*BackoffError] wrapping [ErrRegionUnavailable], [ErrServerBusy], [ErrStoreUnavailable],
//     [ErrPDUnavailable], [ErrResolveLockTimeout] and the other budget sentinels: the
//     client retried for as long as its budget allowed. The error names the kind of
//     trouble that cost the most waiting and carries the recent attempts. Transient:
//     retry later, with backoff.
//   - [ErrUndetermined]: the commit may or may not have happened (the primary commit
//     request may have reached TiKV but no answer came back, or an async-commit or 1PC
//     prewrite failed in transit). Never retried automatically: read the data to find
//     out, or make the write idempotent.
//   - [ErrKeyspaceNotFound], [ErrKeyspaceDisabled], [ErrAPIVersionMismatch]: configuration
//     errors found when a client starts. Fix the configuration.
//   - [ErrClosed], [ErrTxnDone]: use after Close, or after commit/rollback.
//   - context.Canceled and context.DeadlineExceeded: the caller's ctx ended; they are
//     returned as they are (wrapped), so errors.Is works.
//
// [IsRetryable] answers "may running the operation again succeed?" and is what retry
// loops such as the transactional client's Transact use; it is false for undetermined
// commits and for context errors. [IsUndetermined] answers "may the commit have happened?".
//
// # Hooks
//
// A [Tracer] given to a client may implement [RPCTracer], [BackoffTracer], [RegionTracer]
// and [TxnTracer]. Hooks run synchronously on the client's goroutines and must be cheap and
// safe for concurrent use.
package kv
