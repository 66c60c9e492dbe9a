package txn

import (
	"math"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// mutation is one key's change in 2PC, in user-key form.
type mutation struct {
	key   []byte
	value []byte
	op    kvrpcpb.Op
	flags memdb.KeyFlags // the buffer's flags (pessimistic locks, assertions)
}

// committed reports whether the mutation leaves a lock that commit must settle:
// CheckNotExists only takes part in prewrite.
func (m mutation) committed() bool { return m.op != kvrpcpb.Op_CheckNotExists }

// mutationsOf derives the mutations of a buffer in key order (SB-6):
//   - a value: Put, or Insert when the key was inserted (FlagPresumeKNE);
//   - a tombstone: Del, or CheckNotExists when the key was inserted and then deleted
//     in this transaction (the insert's existence check still applies);
//   - only FlagNeedLocked, or a pessimistic lock (FlagKeyLocked): Lock;
//   - only a shared lock (FlagKeyLockedShared): SharedLock (TXN-9).
//
// Keys and values alias the buffer, which is not written while (or after) the
// transaction commits, so a large transaction is not copied a second time.
func mutationsOf(db *memdb.DB) ([]mutation, int) {
	var out []mutation
	size := 0
	it := db.Iter(kv.KeyRange{}, memdb.IterOptions{WithFlagsOnly: true})
	for ; it.Valid(); it.Next() {
		f := it.Flags()
		m := mutation{key: it.Key(), flags: f}
		switch {
		case it.HasValue() && !it.IsDelete():
			m.value = it.Value()
			m.op = kvrpcpb.Op_Put
			if f.Has(memdb.FlagPresumeKNE) {
				m.op = kvrpcpb.Op_Insert
			}
		case it.HasValue():
			m.op = kvrpcpb.Op_Del
			if f.Has(memdb.FlagPresumeKNE) && !f.Has(memdb.FlagKeyLocked) { // a lock already checked it
				m.op = kvrpcpb.Op_CheckNotExists
			}
		case f.Has(memdb.FlagKeyLockedShared):
			m.op = kvrpcpb.Op_SharedLock // a shared lock commits as the holder's own Lock record
		case f.Has(memdb.FlagNeedLocked) || f.Has(memdb.FlagKeyLocked):
			m.op = kvrpcpb.Op_Lock // a pessimistic lock without a write still commits
		default:
			continue
		}
		size += len(m.key) + len(m.value)
		out = append(out, m)
	}
	return out, size
}

// primaryOf chooses the primary key (SB-7): the first mutation in key order that leaves
// a lock, so every transaction picks its smallest written key. It returns -1 when no
// mutation leaves a lock (only existence checks).
func primaryOf(muts []mutation) int {
	for i, m := range muts {
		if m.committed() {
			return i
		}
	}
	return -1
}

// batchBySize cuts the mutations of one region into batches of about limit bytes
// (SB-5): a batch is closed once its size reaches limit, so it may exceed the limit by
// one mutation. size gives a mutation's weight (key plus value for prewrite, key only
// for commit and rollback).
func batchBySize[T any](items []T, limit int, size func(T) int) [][]T {
	var out [][]T
	start, acc := 0, 0
	for i, it := range items {
		acc += size(it)
		if acc >= limit {
			out = append(out, items[start:i+1])
			start, acc = i+1, 0
		}
	}
	if start < len(items) {
		out = append(out, items[start:])
	}
	return out
}

// lockTTL computes the TTL of a transaction's locks in ms (SB-9, TXN-14): base for a
// transaction under 16 KiB, else 6000·sqrt(MiB) clamped to [base, maxTTL], plus the
// time the transaction has already run, so a long transaction's locks do not look
// expired the moment they are written.
func lockTTL(base, maxTTL time.Duration, size int, elapsed time.Duration) uint64 {
	ttl := uint64(base.Milliseconds())
	if size >= DefaultCommitBatchSize {
		mib := float64(size) / (1 << 20)
		ttl = uint64(6000 * math.Sqrt(mib))
		ttl = max(ttl, uint64(base.Milliseconds()))
		ttl = min(ttl, uint64(maxTTL.Milliseconds()))
	}
	return ttl + uint64(max(elapsed, 0).Milliseconds())
}
