// Package memdb is the write buffer of a transaction: every Set, Delete and key flag of a
// transaction lives here until commit turns the buffer into mutations.
//
// # Model
//
// A [DB] is an ordered map from key to an entry. An entry may hold a value, a delete
// tombstone (a value of length zero: transactional writes never store empty values), or no
// value at all but only [KeyFlags] (for example a key that was locked but not written).
// Lookups distinguish the three; iterators yield entries with a value or a tombstone and,
// when asked, flag-only entries too.
//
// Keys and values are copied into an arena of large chunks, and entries refer to them by
// offset, so the buffer holds no per-entry pointers: a transaction of a million keys costs
// the garbage collector almost nothing to scan. Entries are indexed twice: by an in-memory
// B+ tree whose leaves are linked both ways, so forward and reverse iteration are
// sequential, and by an open-addressing hash table of entry indices for exact keys, so a
// point read or the "is this key new?" check of a write costs one or two memory accesses
// instead of a tree descent (at a million keys: about 60 ns instead of 1.6 µs per Get).
// Entries are never removed from the index; an entry with no value and no flags is
// invisible, which keeps iterators valid across writes.
//
// # Staging and checkpoints
//
// Staging gives statement-level atomicity inside a transaction. [DB.Staging] opens a level
// and returns its handle; [DB.Release] merges the top level into its parent (keeping its
// changes); [DB.Cleanup] reverts everything the top level did. Levels nest. A checkpoint
// ([DB.Checkpoint], [DB.RevertToCheckpoint]) is a lighter savepoint that needs no
// release. Both are built on an undo log: the first time an entry changes after the most
// recent staging level or checkpoint began, its previous state is recorded; reverting
// replays the log backwards. Nothing is recorded while there is neither an open level nor
// a checkpoint, so a plain transaction pays no undo cost.
//
// Some flags are persistent ([PersistentFlags]): a pessimistic lock taken by a statement
// that is later cleaned up still exists in TiKV, so the flags recording it survive
// Cleanup and RevertToCheckpoint.
//
// # Limits and accounting
//
// [Limits] bound the size of one key, one entry (key plus value) and the whole buffer;
// writes beyond them fail with a *kv.SizeLimitError wrapping kv.ErrKeyTooLarge,
// kv.ErrEntryTooLarge or kv.ErrTxnTooLarge and change nothing. [DB.Size] is the logical
// size (keys plus current values), [DB.Mem] the bytes the buffer holds.
//
// # Concurrency
//
// A DB is not safe for concurrent use; the transaction that owns it serialises access.
// An [Iterator] stays valid while the DB is written: after a write it repositions itself
// after (or, in reverse, before) the key it last returned.
package memdb
