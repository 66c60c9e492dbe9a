// Package raw is the RawKV client: a distributed, ordered map of byte keys to byte values
// with no transactions and no MVCC, served by TiKV. It offers point reads and writes,
// batches, scans in both directions, a streaming iterator, delete-range, per-key TTLs,
// compare-and-swap and checksums (client-go's rawkv, inventory §1.F, RAW-1..RAW-15).
//
// A Client is built with New (which opens its own kv/cluster connection) or
// NewWithCluster (which shares one). It is safe for concurrent use; every call takes a
// ctx that bounds all of its work, including retries.
//
// # Regions
//
// TiKV splits the key space into regions, ranges [start, end) served by a Raft group.
// Every request goes to the leader of the region holding its keys; the region layer
// (kv/region) locates regions from a cache, retries inside a region (new leader, busy
// store, unreachable store) and reports a moved region (split, merge, stale epoch) to
// this package, which locates the keys again and retries within the call's retry budget.
// A call that runs out of budget fails with a *kv.BackoffError; one whose ctx ends with
// an error wrapping ctx.Err().
//
// # Batches
//
// BatchGet, BatchPut and BatchDelete group their keys by region and cut each region's
// keys into RPCs of at most Config.MaxBatchKeys keys and Config.MaxBatchBytes bytes
// (keys plus values), so that no request nears TiKV's raft-entry-max-size (8 MiB) or the
// gRPC message limits: a 100 MB BatchPut becomes about a hundred RPCs. Regions run in
// parallel (Config.Concurrency), the RPCs of one region in order, so a key repeated in
// a BatchPut gets its last value. Batches are not atomic: after an error, some RPCs may
// have been applied. When a region moves, the keys of that region are located and sent
// again; every batch operation is idempotent, so this is safe.
//
// # Scans and the reverse convention
//
// Scan, ReverseScan, Iter, DeleteRange and Checksum take a half-open range [start, end)
// of user keys; an empty end means the end of the keyspace. They walk the range region by
// region, clipping each RPC to its region and continuing from the region boundary (or,
// for a full batch, just after the last key read). ReverseScan and Iter with WithReverse
// take the same [start, end) as their forward forms and return keys in descending order.
// TiKV's reverse RawScan takes the exclusive upper bound as StartKey and the inclusive
// lower bound as EndKey (and client-go's ReverseScan(startKey, endKey) reads
// [endKey, startKey)); this package does that translation, and finds the region to read
// first with the cache's LocateEnd (the region with start < end <= region end). Under API
// v1 there is no wire key for "the end of the key space" that TiKV's reverse seek
// accepts, so a reverse scan there needs a non-empty end.
//
// Scan and ReverseScan return slices and are capped: a limit above Config.MaxScan, or no
// limit over a range holding more than MaxScan pairs, fails with kv.ErrScanLimitExceeded
// rather than truncating silently. Iter streams any number of pairs with bounded memory:
// one batch being consumed and at most one prefetched.
//
// # Values
//
// A missing key reads as an error wrapping kv.ErrNotFound (Get, TTL) or as nil
// (BatchGet); an empty value reads as a non-nil []byte{}. TiKV stores empty raw values,
// so Put accepts them. Keys of point and batch operations must not be empty
// (ErrEmptyKey).
//
// # TTL
//
// WithTTL gives written keys a lifetime in whole seconds (TiKV's resolution); TiKV hides
// and later removes expired keys. TTL reports what is left. TTLs need TiKV with
// storage.api-version = 2, or 1 with storage.enable-ttl; otherwise TiKV refuses the write
// and the call fails with ErrTTLNotEnabled. A write without WithTTL clears any TTL the
// key had, because TiKV replaces the whole entry.
//
// # Compare-and-swap and atomic mode
//
// CompareAndSwap writes a value only when the current one equals the expected value (nil
// expected: only when the key does not exist). TiKV runs it as a single-key atomic
// command that is ordered only against other writes flagged ForCas, so a client must be
// in atomic mode (Config.Atomic) to use it, and all clients writing those keys should be
// in the same mode: a plain Put racing with a CAS may be lost. Atomic mode is a property
// of the client fixed at New, not a setter. CompareAndSwap is never resent once it may
// have reached TiKV; an unknown outcome is kv.ErrUndetermined.
//
// # Checksum
//
// Checksum asks every region of the range for TiKV's CRC64-XOR checksum and merges them:
// the XOR of CRC64-ECMA(key || value) over all pairs, the pair count and the byte count.
// TiKV computes it over wire keys, so under API v2 the 4-byte keyspace prefix is part of
// every checksummed key; a checksum is comparable only with one taken in the same
// keyspace layout.
//
// # Keyspaces and column families
//
// Under API v2 (Config.Keyspace, or APIVersion 2 for the DEFAULT keyspace) every key
// travels with the keyspace's raw prefix ('r' and a 3-byte keyspace ID), added and
// removed at exactly one place (the cluster's Codec); callers only ever see their own
// keys, and ranges never leave the keyspace. API v1 uses keys as they are. Column
// families ("default", "write", "lock") separate raw data under API v1 (RAW-14); API v2
// has only the default one.
package raw
