// Package rangetask runs work over a key range region by region, and builds the two
// range-wide deletions of garbage collection on it (client-go's txnkv/rangetask and
// KVStore.UnsafeDestroyRange, inventory GC-4..GC-6).
//
// # The runner
//
// A Runner cuts [start, end) into tasks of Runner.RegionsPerTask consecutive regions
// (128 by default), following the region cache, and hands them to a fixed number of
// workers that call its Handler. A task is a user-key range; a Handler walks it region by
// region itself, because regions split and merge while it works (the task boundaries are
// only a way to share the work). Each Handler call reports how many regions it completed
// and how many it gave up on; the Runner sums them. The first Handler error cancels the
// other workers and is returned; Run returns only after every worker has stopped, so no
// goroutine outlives it. ctx bounds everything.
//
// # Deleting ranges
//
// DeleteRange sends TiKV's DeleteRange to every region of a range: TiKV drops every
// version and lock in the range directly in its storage engine, through Raft, without
// writing MVCC tombstones, so it is for data no transaction will read again (TiDB uses
// it after DROP TABLE). NotifyDeleteRange only tells TiKV the range is about to be
// deleted (notify_only) and deletes nothing.
//
// UnsafeDestroyRange goes further: it asks every TiKV store to drop the range's data from
// its engine, bypassing Raft, so replicas are not kept consistent by it. It is the last
// step of GC for a range already deleted and never read again. Calling it twice on a
// range is harmless.
//
// All keys are user keys of the cluster's keyspace; this package encodes them for the
// wire. Both deletions address transactional data and refuse a raw-mode cluster.
package rangetask
