// Package memcluster is an in-process TiKV + PD cluster. It keeps data in memory with
// TiKV's Percolator MVCC rules and serves it over the real gRPC services (tikvpb.Tikv with
// BatchCommands on every store, pdpb.PD with the TSO and region-router streams,
// keyspacepb.Keyspace and an empty meta-storage service on PD), each on its own
// 127.0.0.1 port. Client code — ours, the official PD client, client-go — runs against it
// unchanged. It backs `memory://name` DSNs, users' tests and fault-injection tests.
//
// # Topology
//
// [New] starts PD and Options.Stores stores (default 1) with one region covering all keys.
// Every region has peers on up to three stores and one leader; leaders are spread over
// the stores. Region boundaries are region keys exactly as TiKV orders them: the
// memcomparable encoding ([RegionKey]) of transactional keys and of every API v2 key, and
// the plain bytes of API v1 raw keys. [Cluster.Split], [Cluster.Merge],
// [Cluster.TransferLeader], [Cluster.StopStore] and [Cluster.StartStore] (optionally on a
// new address) change the topology; PD reports changes at once (no heartbeat lag), while
// clients learn them from region errors as they would from TiKV. [Cluster.SetSlowScore]
// makes a store report itself slow through TiKV's health feedback (on every BatchCommands
// response and from GetHealthFeedback). Like TiKV, a store relays requests (unary calls
// and BatchCommands streams) that carry the tikv-forwarded-host header to the named
// store; [Cluster.IsolateStore] cuts a store off from clients only (it still serves what
// other stores relay), the partition that client-side forwarding works around.
//
// Every request is checked like TiKV checks it, in TiKV's order: the context's peer must
// be on the receiving store (StoreNotMatch), the region must exist with a peer there
// (RegionNotFound), the store must lead it unless the request is a replica or stale read
// (NotLeader with a leader hint), the epoch must be current (EpochNotMatch carrying the
// region and its neighbours) and every key must lie in the region (KeyNotInRegion). Range
// requests are clipped to the region.
//
// # Storage
//
// One MVCC store and one RawKV store are shared by all stores, as if replication were
// instantaneous (followers serve the latest data). Keys are stored as they arrive on the
// wire, so API v2 keyspace prefixes are kept; keyspaces are not enforced.
//
// Transactional data follows TiKV (src/storage/txn/actions): each key has at most one
// lock and a list of write records (Put, Delete, Lock, Rollback) ordered by commit ts.
//   - Reads at ts see the newest Put/Delete committed at or below ts. A lock at or below ts
//     blocks the read (KeyIsLocked) unless it is a pessimistic or Lock-type lock, its min
//     commit ts lies above ts, the read is at MaxTS on the primary of a non-async lock, the
//     context lists the lock's transaction as resolved (ignored) or committed (its value is
//     read), or the isolation level is RC. Reads raise the store's max read ts.
//   - Prewrite fails for a key locked by another transaction, for a write committed after
//     the start ts (WriteConflict with the winner's start and commit ts), for the
//     transaction's own rollback (SelfRolledBack), for inserts of existing keys and for
//     failed assertions; a failing prewrite writes nothing. Pessimistic prewrites require
//     the transaction's pessimistic lock. Async-commit and 1PC prewrites choose a commit
//     ts above every read seen and the start/for-update ts; 1PC commits at once; a max
//     commit ts that would be exceeded falls back to ordinary locks.
//   - Commit checks the lock and min commit ts (CommitTsExpired) and is idempotent.
//     Rollbacks leave a rollback record; the primary of a pessimistic transaction (and
//     any rollback of a missing lock) is protected, others collapse. A rollback whose
//     start ts equals another transaction's commit ts marks that record instead
//     (overlapped rollback), so a late prewrite still fails.
//   - CheckTxnStatus, CheckSecondaryLocks, ResolveLock, TxnHeartBeat, Cleanup,
//     BatchRollback, PessimisticRollback, ScanLock, DeleteRange and GC follow the TiKV
//     actions of the same names. UnsafeDestroyRange drops a range from the engine the
//     stores share; [Cluster.Versions] shows what the engine keeps for a key.
//   - PessimisticLock really waits: a request meeting another transaction's lock waits
//     (its WaitTimeout, TiKV's 1 s default for 0, not at all when negative) until the lock
//     is released, and then fails with a PessimisticRetry write conflict carrying the
//     release's commit ts (TiKV's legacy wake-up) or, in WakeUpModeForceLock, retries and
//     may lock with conflict. A wait that would close a cycle in the wait-for graph fails
//     at once with a Deadlock error and its wait chain. A timed-out wait returns the lock.
//   - Pipelined DML: Flush writes locks tagged with a generation (a later generation
//     overwrites the transaction's own lock, an older one is ignored); BufferBatchGet reads
//     the transaction's own flushed Put values and, as empty values, its flushed
//     deletions. Commit goes through ResolveLock as usual. BroadcastTxnStatus is
//     acknowledged but not cached (reads resolve pipelined locks via CheckTxnStatus).
//   - Shared locks (TXN-9): Op_SharedPessimisticLock and a prewrite's Op_SharedLock put the
//     transaction's lock into the key's shared lock, which several transactions hold at
//     once; each holder still passes the write-column checks of an ordinary lock (a newer
//     record, other holders' committed Lock records included, is a write conflict).
//     Exclusive requests and writes of other transactions meet it as KeyIsLocked with a
//     LockInfo of type SharedLock that has no start ts or primary and lists the holders in
//     SharedLockInfos (ordinary PessimisticLock or Lock entries). The first exclusive lock
//     request makes the shared lock shrink-only and is answered at once; from then on new
//     shared requests and exclusive ones wait for every holder, and deadlock detection
//     follows every holder. A shared request meets an exclusive lock as usual, and always
//     locks (LockOnlyIfExists does not apply). A holder asking for an exclusive lock, or prewriting a write of
//     the key, gets LockTypeNotMatch (no upgrade). Commit writes the holder's own Lock
//     record; commit, rollback, PessimisticRollback, Cleanup, CheckSecondaryLocks and
//     ResolveLock act on one holder, and the key is unlocked (its waiters woken) when the
//     last leaves. Reads ignore shared locks; ScanLock returns the shared lock with the
//     holders at or below its max version. A shared key is never a primary: CheckTxnStatus
//     verifying one reports PrimaryMismatch, TxnHeartBeat TxnNotFound. A prewrite carrying
//     a shared lock is done in two phases even when async commit or 1PC is asked for
//     (memcluster's choice: clients never ask).
//
// RawKV data lives in column families; TTLs expire by Options.Clock (inject one to test
// expiry), CAS compares and swaps atomically, and RawChecksum XOR-folds the CRC64-ECMA of
// key||value over the keys as sent (with their keyspace prefix).
//
// # PD
//
// PD is bootstrapped at start. It serves a monotonic TSO (physical ms from Options.Clock,
// logical counter), GetMinTS, regions (GetRegion, GetPrevRegion, GetRegionByID,
// ScanRegions, BatchScanRegions, QueryRegion), stores, SplitRegions,
// SplitAndScatterRegions and ScatterRegion (immediate; [Cluster.SetScatterRunning] makes
// GetOperator report a running scatter for a while), keyspaces (the DEFAULT keyspace
// exists; [Cluster.CreateKeyspace] adds one and splits its ranges off, as PD does;
// [Cluster.SetKeyspaceConfig] sets its config, such as keyspace-level GC), and
// the GC state API (txn and GC safe points per keyspace, barriers with TTL, the legacy
// safe-point and service-safe-point calls). Advancing a GC safe point collects old
// versions below it.
//
// # Safe ts and stale reads
//
// Each region has a safe ts that only moves forward: when asked (GetStoreSafeTS,
// [Cluster.StoreSafeTS]) or when a stale read's timestamp is beyond it, it advances to
// min(a fresh TSO, the smallest start ts of the region's locks - 1). GetStoreSafeTS
// returns the smallest safe ts of the store's regions overlapping the key range (all of
// them for an empty range), 0 for a store without regions. A stale read (Context.StaleRead)
// at a timestamp beyond its region's safe ts gets DataIsNotReady. See safets.go.
//
// # Faults
//
// [Cluster.AddHook] installs a function that sees every TiKV request (unary or batched)
// and may inject latency, a region error, an RPC error or a dropped response. Store
// outages come from [Cluster.StopStore].
//
// # Sharing and lifetime
//
// [Open] returns a reference to a cluster registered under a name, creating it on first
// use; the cluster stops when the last reference is closed. This registry is the
// package's only global. All methods are safe for concurrent use; [Cluster.Close] stops
// every listener and waits for every goroutine, including blocked lock waits.
//
// # Not modelled
//
// Replication lag (followers have the leader's data and safe ts), follower-only failures, ServerIsBusy and
// other store-level errors except by hooks, shared-lock upgrades (LockUpgradeConflict),
// flashback, coprocessor,
// resource control, TiKV's status HTTP server, persistent storage, API v2 keyspace
// enforcement on the store side (keys outside any keyspace are accepted).
package memcluster
