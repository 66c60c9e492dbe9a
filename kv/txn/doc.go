// Package txn is the transactional client of TiKV: snapshots, buffered optimistic
// transactions committed with two-phase commit (Percolator), the lock resolver, and the
// Transact retry loop.
//
// # Timestamps and snapshots
//
// PD's TSO orders everything. A transaction takes a start timestamp when it begins
// (Client.Begin) and reads the snapshot of data committed at or before it: every read of
// the transaction sees the same state, whatever commits meanwhile. A Snapshot
// (Client.Snapshot) is such a view without writes; kv.MaxTS reads the latest committed
// data. Reads are checked against the GC safe point: a snapshot older than it fails with
// kv.ErrTxnAbortedByGC, because the versions it needs may be gone.
//
// # Writes and commit
//
// Set, Delete, Insert and LockKeys only fill a local buffer (internal/memdb); reads of
// the transaction see its own writes merged over the snapshot. Commit turns the buffer
// into mutations (Put, Del, Insert with an existence check, Lock for LockKeys) and runs
// two-phase commit:
//
//  1. The primary key is chosen: the smallest key that leaves a lock. Every other key is
//     a secondary, and its lock points to the primary.
//  2. Prewrite: mutations are grouped by region, cut into batches of about 16 KiB and
//     sent in parallel. TiKV writes a lock for each key after checking that no other
//     transaction committed the key after our start timestamp (otherwise
//     *kv.WriteConflictError) and that no other lock is there (which we resolve, see
//     below, and retry). Any failure rolls back what was prewritten (BatchRollback).
//  3. A commit timestamp is taken from PD, and the primary key is committed. This single
//     write is the commit point: once TiKV applied it, the transaction is committed. The
//     request is never resent once it may have reached TiKV; if no answer comes back the
//     outcome is unknown and Commit returns kv.ErrUndetermined without cleaning up.
//  4. The secondaries are committed, synchronously, before Commit returns. If that is
//     cut short (ctx ends, a store fails), the transaction is still committed: whoever
//     meets a leftover secondary lock finds the primary committed and commits the key.
//
// Locks carry a TTL (3 s, growing with the transaction's size up to 20 s, plus the time
// the transaction has run). Commits of transactions above 32 MiB send heartbeats that
// extend the primary lock's TTL while they run; the heartbeat goroutine is owned by the
// commit and joined before Commit returns.
//
// # Lock resolution
//
// A read or prewrite that meets another transaction's lock asks the lock's primary for
// the transaction's status (CheckTxnStatus): committed, rolled back, or alive with a
// TTL. A lock whose TTL ran out is rolled back by that call. Decided transactions'
// locks are then committed or rolled back: key by key for small transactions
// (resolve-lock-lite), region-wide otherwise; a pessimistic lock is rolled back with
// PessimisticRollback. A read does not wait for a live writer when TiKV can push the
// writer's minimum commit timestamp above the read timestamp; it then ignores that lock.
// Async-commit locks are decided by checking every secondary (CheckSecondaryLocks). A
// cache of decided transactions avoids asking twice. Live locks that cannot be pushed
// are waited for, within the operation's budget; a lock that outlives it is reported as
// a *kv.BackoffError wrapping kv.ErrResolveLockTimeout and the *kv.KeyLockedError.
//
// # What Commit's errors mean
//
// Write conflicts, kv.KeyExistsError and every error before step 3 mean nothing was
// committed. kv.ErrUndetermined means the primary commit's outcome is unknown: read the
// data to find out. Transact retries only errors for which kv.IsRetryable holds and
// never an undetermined commit.
//
// # Concurrency and lifetime
//
// A Client is safe for concurrent use and owns no goroutines; Close closes the cluster
// connection when New opened it. Snapshots are safe for concurrent use; a Txn serialises
// its methods with a mutex. Every blocking call takes a ctx that bounds it.
//
// # Async commit and 1PC
//
// When enabled (Config.EnableAsyncCommit, Config.Enable1PC, or per transaction
// WithAsyncCommit and With1PC), a transaction whose mutations fit one batch of one region
// is committed by its prewrite (1PC), and a small one (at most 256 keys) is committed as
// soon as every prewrite succeeded (async commit: the primary lock lists the
// secondaries, so a resolver can decide the transaction from them). Their prewrites may
// commit, so a lost answer is kv.ErrUndetermined. TiKV may refuse either (a commit ts
// outside the allowed window); the transaction then commits with 2PC.
//
// Not built yet: pessimistic transactions, pipelined DML, local latches, assertions on
// our own mutations. See docs/txn.md.
package txn
