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
// data, and a point read at kv.MaxTS waits only for the first lock it meets (later locks
// of other transactions are skipped, so writers cannot starve it; pointget.go). Snapshot
// options choose stale reads (WithStaleRead: a point read that meets a lock continues at
// the leader), a KV read timeout (WithKVReadTimeout) and reads that return commit
// timestamps (GetWithCommitTS, BatchGetWithCommitTS). Reads are checked against the GC safe point: a snapshot older than it fails with
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
//     Before that, a region that would receive 100 000 mutations or more is split every 32 MiB
//     and scattered (PreSplitConfig); a failed split only costs the optimisation.
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
// # Pessimistic transactions
//
// A transaction begun WithPessimistic takes its locks in TiKV when LockKeys (or
// LockKeysWithOptions) runs, not at commit. Each lock request carries a fresh for-update
// timestamp: TiKV refuses it if the key was committed after that timestamp (LockKeys
// then retries at a newer one) and otherwise locks the key, waiting for another
// transaction's lock as the wait policy says (LockWait: TiKV's default wait, forever,
// no wait, or a timeout; kv.ErrLockNoWait and kv.ErrLockWaitTimeout report the last
// two). TiKV's deadlock detector refuses a wait that would close a cycle
// (*kv.DeadlockError). The first key locked is the primary; a heartbeat extends its TTL
// while the transaction is open. With ReturnValues the latest committed values come
// back with the locks and later reads of those keys return them, so "lock, read,
// write" loses no update. At commit the locked keys are prewritten with a pessimistic
// check (TiKV only converts our lock, it cannot conflict), other writes with the usual
// conflict check. Rollback removes the locks (PessimisticRollback).
//
// Isolation: reads see the start-ts snapshot (WithIsolation(SnapshotIsolation)), or,
// in pessimistic transactions only, the latest committed data at each read
// (ReadCommitted, a fresh timestamp per read; ReadCommittedCheckTS, the newest
// timestamp the transaction already holds, refreshed when TiKV reports a newer version).
//
// # Async commit and 1PC
//
// Both are on by default (Config.DisableAsyncCommit and Config.DisableOnePC turn them
// off for a Client, WithAsyncCommit and WithOnePC per transaction). With async commit
// the primary lock lists
// the secondary keys and TiKV chooses each key's commit timestamp floor; once every
// prewrite succeeded the transaction is committed at the largest floor, because anyone
// who meets one of its locks can check all of them. Commit returns then; the commit
// RPCs, which only clean up, run in a goroutine owned by the Client. With 1PC
// a transaction whose writes fit one request to one
// region is prewritten and committed by that request. Both fall back to two-phase
// commit when the transaction is too large (AsyncCommitKeysLimit,
// AsyncCommitTotalKeySizeLimit, one region and batch for 1PC) or TiKV declines (a commit
// timestamp above the transaction's max commit ts). For both, a prewrite whose answer is
// lost is kv.ErrUndetermined: TiKV may have committed.
//
// Assertions (Txn.Assert, WithAssertionLevel) let TiKV check that keys exist or not as
// the caller expects; a failed one is *kv.AssertionFailedError and nothing is written.
//
// # Concurrency and lifetime
//
// A Client is safe for concurrent use; Close closes the cluster connection when New
// opened it. The Client owns two kinds of goroutines: the commit RPCs of async-commit
// transactions, which Close lets finish within its ctx, and the heartbeats of open
// pessimistic transactions, which stop when the transaction ends or the Client closes.
// Snapshots are safe for concurrent use; a Txn serialises its methods with a mutex.
// Every blocking call takes a ctx that bounds it.
//
// Pipelined DML (WithPipelined) flushes a large transaction's writes while it runs; its
// flushes, heartbeat and post-commit lock resolution are goroutines owned by the Client,
// which Close joins. See docs/txn.md.
//
// Aggressive (fair) locking stages (StartAggressiveLocking and its siblings) keep the
// locks of a statement across its retries and make prewrite verify them; WithFairLocking
// alone gives single-key lock calls TiKV's force-lock wake-up.
//
// Shared locks (LockOptions.Shared) let several pessimistic transactions lock one key at
// once while excluding exclusive locks and writes of others; they need a primary chosen
// by an exclusive lock, are never upgraded, and make the commit two-phase. Lock
// resolvers resolve each holder of a shared lock as its own transaction. See docs/txn.md.
package txn
