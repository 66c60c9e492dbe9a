package kv

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Conditions without data. Each is returned wrapped with context (fmt.Errorf("...: %w"));
// test for them with errors.Is.
var (
	// ErrNotFound: the key does not exist (or was deleted) at the read timestamp.
	ErrNotFound = errors.New("tikv: key not found")
	// ErrLockWaitTimeout: a pessimistic lock could not be acquired within the wait the
	// caller allowed. Retryable.
	ErrLockWaitTimeout = errors.New("tikv: lock wait timeout")
	// ErrLockNoWait: a pessimistic lock with the no-wait policy met a lock held by another
	// transaction. Not retryable: the caller asked to fail fast.
	ErrLockNoWait = errors.New("tikv: key is locked by another transaction and no-wait was requested")
	// ErrTxnTooLarge: the transaction's write buffer exceeds its size or entry-count limit.
	ErrTxnTooLarge = errors.New("tikv: transaction too large")
	// ErrEntryTooLarge: one key-value pair exceeds the entry size limit.
	ErrEntryTooLarge = errors.New("tikv: entry too large")
	// ErrKeyTooLarge: one key exceeds the key size limit.
	ErrKeyTooLarge = errors.New("tikv: key too large")
	// ErrEmptyValue: a transactional write of an empty value; use Delete to remove a key.
	ErrEmptyValue = errors.New("tikv: empty value in a transactional write")
	// ErrTxnAbortedByGC: the read or commit timestamp is older than the GC safe point, so
	// the versions it needs may have been collected. Start a new transaction.
	ErrTxnAbortedByGC = errors.New("tikv: transaction start timestamp is behind the GC safe point")
	// ErrUndetermined: a commit may or may not have taken effect (the primary commit
	// request may have reached TiKV but no answer came back). Never retried
	// automatically; read the data to find out.
	ErrUndetermined = errors.New("tikv: commit result undetermined")
	// ErrTxnDone: the transaction was already committed or rolled back.
	ErrTxnDone = errors.New("tikv: transaction already committed or rolled back")
	// ErrKeyspaceNotFound: PD knows no keyspace of the configured name.
	ErrKeyspaceNotFound = errors.New("tikv: keyspace not found")
	// ErrKeyspaceDisabled: the keyspace exists but is not in the ENABLED state.
	ErrKeyspaceDisabled = errors.New("tikv: keyspace not enabled")
	// ErrAPIVersionMismatch: the client's API version or mode does not match what the
	// cluster or keyspace serves.
	ErrAPIVersionMismatch = errors.New("tikv: API version mismatch")
	// ErrClosed: the client (or the object) was closed.
	ErrClosed = errors.New("tikv: client closed")
	// ErrScanLimitExceeded: a scan asked for more entries than the configured maximum.
	ErrScanLimitExceeded = errors.New("tikv: scan limit exceeded")
	// ErrFutureTSRead: a read timestamp lies ahead of every timestamp PD has issued.
	ErrFutureTSRead = errors.New("tikv: read timestamp is in the future")
	// ErrInvalidReadTS: a read timestamp that is never valid (in [MaxInt64, MaxTS) or MaxTS
	// for a stale read).
	ErrInvalidReadTS = errors.New("tikv: invalid read timestamp")
	// ErrRaftEntryTooLarge: one request's data exceeds what TiKV accepts in a Raft entry.
	ErrRaftEntryTooLarge = errors.New("tikv: raft entry too large")
	// ErrRegionFlashback: the region is being flashed back (or not prepared for it) and
	// refuses the request.
	ErrRegionFlashback = errors.New("tikv: region in flashback")
)

// Retry-budget conditions. When the client has retried a request for as long as its
// budget (or ctx) allows, it returns a *BackoffError whose Err is the sentinel of the kind
// of trouble that cost the most waiting. All but ErrDiskFull are transient and retryable.
var (
	// ErrStoreUnavailable: a TiKV store could not be reached.
	ErrStoreUnavailable = errors.New("tikv: store unavailable")
	// ErrPDUnavailable: PD could not be reached or answered with an error.
	ErrPDUnavailable = errors.New("tikv: PD unavailable")
	// ErrRegionUnavailable: the region kept moving, had no leader or could not be loaded.
	ErrRegionUnavailable = errors.New("tikv: region unavailable")
	// ErrServerBusy: TiKV kept answering ServerIsBusy.
	ErrServerBusy = errors.New("tikv: server busy")
	// ErrResolveLockTimeout: locks of other transactions could not be resolved in time.
	ErrResolveLockTimeout = errors.New("tikv: timed out resolving locks")
	// ErrDiskFull: the stores of the region are out of disk space.
	ErrDiskFull = errors.New("tikv: disk full")
	// ErrRegionRecoveryInProgress: the region is being recovered (online unsafe recovery).
	ErrRegionRecoveryInProgress = errors.New("tikv: region recovery in progress")
	// ErrStaleCommand: TiKV kept dropping the request as stale.
	ErrStaleCommand = errors.New("tikv: stale command")
	// ErrMaxTimestampNotSynced: the new region leader has not synced its max timestamp.
	ErrMaxTimestampNotSynced = errors.New("tikv: max timestamp not synced")
	// ErrRegionNotInitialized: the region's peer is not initialized yet.
	ErrRegionNotInitialized = errors.New("tikv: region not initialized")
	// ErrIsWitness: the request reached a witness peer, which holds no data.
	ErrIsWitness = errors.New("tikv: peer is a witness")
	// ErrCommitTSLag: the TSO did not pass the required commit-wait timestamp in time.
	ErrCommitTSLag = errors.New("tikv: TSO lags behind the required commit timestamp")
)

// transient lists the sentinels IsRetryable treats as retryable.
var transient = []error{
	ErrLockWaitTimeout, ErrStoreUnavailable, ErrPDUnavailable, ErrRegionUnavailable,
	ErrServerBusy, ErrResolveLockTimeout, ErrRegionRecoveryInProgress, ErrStaleCommand,
	ErrMaxTimestampNotSynced, ErrRegionNotInitialized, ErrIsWitness, ErrCommitTSLag,
}

// IsRetryable reports whether running the whole operation again, in a new transaction
// where one applies, may succeed with nothing changed by the caller. It is false for nil,
// for context cancellation and deadlines, and for any undetermined commit (see
// IsUndetermined), whatever else the error wraps. Typed errors decide through a
// Retryable() bool method; otherwise the transient sentinels above count as retryable.
func IsRetryable(err error) bool {
	if err == nil || IsUndetermined(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	for _, s := range transient {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// IsUndetermined reports whether err says a commit may or may not have taken effect.
func IsUndetermined(err error) bool { return errors.Is(err, ErrUndetermined) }

// ConflictReason says why TiKV reported a write conflict. Its values equal those of
// kvproto's WriteConflict.Reason.
type ConflictReason int32

// Write-conflict reasons.
const (
	ConflictUnknown              ConflictReason = 0
	ConflictOptimistic           ConflictReason = 1 // prewrite found a newer committed version
	ConflictPessimisticRetry     ConflictReason = 2 // a pessimistic lock found a newer version
	ConflictSelfRolledBack       ConflictReason = 3 // the transaction was already rolled back
	ConflictRCCheckTS            ConflictReason = 4 // a read-committed read with check-TS saw a newer version
	ConflictLazyUniquenessCheck  ConflictReason = 5 // a deferred uniqueness check failed
	ConflictNotLockedKeyConflict ConflictReason = 6 // a key written without a pessimistic lock conflicted
)

// String names the reason.
func (r ConflictReason) String() string {
	switch r {
	case ConflictOptimistic:
		return "optimistic"
	case ConflictPessimisticRetry:
		return "pessimistic retry"
	case ConflictSelfRolledBack:
		return "self rolled back"
	case ConflictRCCheckTS:
		return "read-committed check ts"
	case ConflictLazyUniquenessCheck:
		return "lazy uniqueness check"
	case ConflictNotLockedKeyConflict:
		return "not-locked key conflict"
	}
	return "unknown"
}

// WriteConflictError reports that another transaction committed a write to Key after this
// transaction's start (or for-update) timestamp. Retry the transaction from the start.
type WriteConflictError struct {
	Key              Key    // the key written by both transactions
	Primary          Key    // the primary key of the transaction that got the error
	StartTS          uint64 // start timestamp of the transaction that got the error
	ConflictStartTS  uint64 // start timestamp of the transaction that won
	ConflictCommitTS uint64 // commit timestamp of the transaction that won
	Reason           ConflictReason
}

// Error implements error.
func (e *WriteConflictError) Error() string {
	return fmt.Sprintf("tikv: write conflict on key %v: txn %d conflicts with txn %d committed at %d (%v)",
		e.Key, e.StartTS, e.ConflictStartTS, e.ConflictCommitTS, e.Reason)
}

// Retryable reports true: a new transaction sees the winner's write.
func (e *WriteConflictError) Retryable() bool { return true }

// LockType is the kind of lock a transaction holds on a key.
type LockType uint8

// Lock types.
const (
	LockPut         LockType = iota + 1 // prewritten put
	LockDelete                          // prewritten delete
	LockLock                            // prewritten read lock (no data change)
	LockPessimistic                     // pessimistic lock not yet prewritten
	LockShared                          // a shared lock of several transactions (TXN-9); resolvers resolve its holders
)

// String names the lock type.
func (t LockType) String() string {
	switch t {
	case LockPut:
		return "put"
	case LockDelete:
		return "delete"
	case LockLock:
		return "lock"
	case LockPessimistic:
		return "pessimistic"
	case LockShared:
		return "shared"
	}
	return "unknown"
}

// Lock describes a lock found on a key.
type Lock struct {
	Key            Key
	Primary        Key      // primary key of the owning transaction
	StartTS        uint64   // start timestamp of the owning transaction
	TTL            uint64   // lock time-to-live in milliseconds from StartTS's physical time
	TxnSize        uint64   // number of keys the owner wrote in the lock's region
	Type           LockType //
	ForUpdateTS    uint64   // for-update timestamp of a pessimistic lock
	MinCommitTS    uint64   // smallest commit timestamp the owner may use
	UseAsyncCommit bool     // the owner commits with the async-commit protocol
	Secondaries    []Key    // secondary keys of an async-commit primary lock
}

// KeyLockedError reports a lock that could not be resolved before the caller's budget ran
// out. Retryable: the owner will commit, roll back or expire.
type KeyLockedError struct {
	Lock Lock
}

// Error implements error.
func (e *KeyLockedError) Error() string {
	return fmt.Sprintf("tikv: key %v is locked by txn %d (primary %v, ttl %dms, %v)",
		e.Lock.Key, e.Lock.StartTS, e.Lock.Primary, e.Lock.TTL, e.Lock.Type)
}

// Retryable reports true.
func (e *KeyLockedError) Retryable() bool { return true }

// WaitForEdge is one edge of a deadlock cycle: transaction TxnTS waits for WaitForTxnTS,
// which holds a lock on Key.
type WaitForEdge struct {
	TxnTS        uint64
	WaitForTxnTS uint64
	Key          Key
	KeyHash      uint64
}

// DeadlockError reports that TiKV's deadlock detector chose this transaction's lock
// request as the victim of a cycle. Roll back; retry when IsRetryable is set.
type DeadlockError struct {
	Key         Key    // the key this transaction was waiting to lock
	LockTS      uint64 // start timestamp of the transaction holding the lock
	LockKey     Key    // the key that transaction holds
	KeyHash     uint64 // TiKV's hash of the awaited key
	WaitChain   []WaitForEdge
	IsRetryable bool // TiKV's (and the client's) judgement that a retry may succeed
}

// Error implements error.
func (e *DeadlockError) Error() string {
	return fmt.Sprintf("tikv: deadlock waiting for key %v held by txn %d (retryable %v)", e.Key, e.LockTS, e.IsRetryable)
}

// Retryable reports the IsRetryable field.
func (e *DeadlockError) Retryable() bool { return e.IsRetryable }

// KeyExistsError reports an insert (or a not-exists check) of a key that already exists.
type KeyExistsError struct {
	Key Key
}

// Error implements error.
func (e *KeyExistsError) Error() string { return fmt.Sprintf("tikv: key %v already exists", e.Key) }

// Assertion is what a transaction asserts about a key before writing it.
type Assertion uint8

// Assertions.
const (
	AssertNone     Assertion = iota // no assertion
	AssertExist                     // the key must exist
	AssertNotExist                  // the key must not exist
)

// String names the assertion.
func (a Assertion) String() string {
	switch a {
	case AssertExist:
		return "exist"
	case AssertNotExist:
		return "not exist"
	}
	return "none"
}

// AssertionFailedError reports that TiKV found a key's existence different from what the
// transaction asserted. It signals a bug or corruption in the caller's data model.
type AssertionFailedError struct {
	Key              Key
	StartTS          uint64
	Assertion        Assertion
	ExistingStartTS  uint64 // start timestamp of the version TiKV found (0 if none)
	ExistingCommitTS uint64 // commit timestamp of the version TiKV found (0 if none)
}

// Error implements error.
func (e *AssertionFailedError) Error() string {
	return fmt.Sprintf("tikv: assertion %q failed on key %v in txn %d (existing version start %d commit %d)",
		e.Assertion, e.Key, e.StartTS, e.ExistingStartTS, e.ExistingCommitTS)
}

// SizeLimitError reports a size limit that a write exceeded. Err is ErrTxnTooLarge,
// ErrEntryTooLarge or ErrKeyTooLarge, so errors.Is works on the sentinel.
type SizeLimitError struct {
	Err   error
	Size  uint64 // the size (bytes or entries) the write would reach
	Limit uint64 // the configured limit
}

// Error implements error.
func (e *SizeLimitError) Error() string {
	return fmt.Sprintf("%v: %d exceeds the limit of %d", e.Err, e.Size, e.Limit)
}

// Unwrap returns the sentinel.
func (e *SizeLimitError) Unwrap() error { return e.Err }

// BackoffAttempt records one wait of a retry loop.
type BackoffAttempt struct {
	Kind  string        // backoff kind, such as "regionMiss" or "tikvServerBusy"
	Sleep time.Duration // how long the loop slept
	Cause error         // the error that caused the wait
}

// BackoffError is returned when a request was retried until its budget ran out. Err is the
// sentinel of the kind of trouble that cost the most waiting (ErrRegionUnavailable,
// ErrServerBusy, ...); Cause is the last error seen. errors.Is matches both.
type BackoffError struct {
	Err      error            // sentinel of the dominant backoff kind
	Kind     string           // name of that kind
	Cause    error            // the last error that caused a retry
	Total    time.Duration    // total time slept, including sleeps excluded from the budget
	Budget   time.Duration    // the budget that was exhausted
	Attempts int              // number of waits
	History  []BackoffAttempt // the most recent waits, oldest first (bounded)
}

// Error implements error.
func (e *BackoffError) Error() string {
	msg := fmt.Sprintf("%v: retry budget %v exhausted after %d attempts, %v slept (mostly %s)",
		e.Err, e.Budget, e.Attempts, e.Total, e.Kind)
	if e.Cause != nil {
		msg += ": last error: " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the sentinel and the last cause.
func (e *BackoffError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// Retryable reports whether the dominant kind is transient.
func (e *BackoffError) Retryable() bool {
	for _, s := range transient {
		if e.Err == s {
			return true
		}
	}
	return false
}
