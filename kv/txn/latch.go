package txn

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// Local latches (TXN-31): an optional in-process table that serialises the commits of
// optimistic transactions of one Client whose keys hash to the same slots, and refuses
// at once a commit whose keys another transaction of this Client committed after its
// start ts: TiKV would refuse its prewrite with a write conflict anyway, so the latch
// saves the round trips and the rollback. It does not replace TiKV's checks (other
// clients write too); pessimistic transactions bypass it, their locks already serialise.
// Unlike client-go, which keeps the newest commit ts per key inside a slot (and recycles
// old entries), a slot here keeps one commit ts for all its keys: a smaller table gives
// more false conflicts, never missed ones.

// LatchConflictError reports that a transaction of this Client committed one of the
// transaction's keys after its start ts (client-go's ErrWriteConflictInLatch). Nothing
// was sent to TiKV; the transaction is retryable.
type LatchConflictError struct {
	StartTS uint64
}

// Error implements error.
func (e *LatchConflictError) Error() string {
	return fmt.Sprintf("txn: write conflict in the local latches (start ts %d)", e.StartTS)
}

// Retryable reports true: a new transaction reads the newer data.
func (e *LatchConflictError) Retryable() bool { return true }

// latches is the slot table; nil when Config.LocalLatches is 0.
type latches struct {
	slots []latchSlot
}

// latchSlot is one slot: a one-token semaphore and the newest commit ts of a
// transaction that held it.
type latchSlot struct {
	token    chan struct{}
	commitTS uint64 // guarded by holding token
}

func newLatches(size int) *latches {
	if size <= 0 {
		return nil
	}
	l := &latches{slots: make([]latchSlot, size)}
	for i := range l.slots {
		l.slots[i].token = make(chan struct{}, 1)
	}
	return l
}

// slotsOf returns the sorted, distinct slots of the keys the buffer writes or locks.
func (l *latches) slotsOf(db *memdb.DB) []int {
	var idx []int
	it := db.Iter(kv.KeyRange{}, memdb.IterOptions{WithFlagsOnly: true})
	for ; it.Valid(); it.Next() {
		if !it.HasValue() && !it.Flags().Has(memdb.FlagNeedLocked) {
			continue // flags only (assertions): not written
		}
		h := fnv.New64a()
		h.Write(it.Key())
		idx = append(idx, int(h.Sum64()%uint64(len(l.slots))))
	}
	slices.Sort(idx)
	return slices.Compact(idx)
}

// acquire takes the slots of tx's keys in order (so two commits cannot deadlock), then
// checks them. It returns the function that releases them, recording commitTS when the
// commit succeeded. Without latches, or for pessimistic transactions, it does nothing.
func (tx *Txn) acquireLatches(ctx context.Context) (release func(commitTS uint64), err error) {
	l := tx.c.latches
	if l == nil || tx.opts.proto.pessimistic {
		return func(uint64) {}, nil
	}
	idx := l.slotsOf(tx.mem)
	held := 0
	release = func(commitTS uint64) {
		for _, i := range idx[:held] {
			s := &l.slots[i]
			s.commitTS = max(s.commitTS, commitTS)
			<-s.token
		}
	}
	for _, i := range idx {
		select {
		case l.slots[i].token <- struct{}{}:
			held++
		case <-ctx.Done():
			release(0)
			return nil, ctx.Err()
		}
	}
	for _, i := range idx {
		if l.slots[i].commitTS > tx.startTS {
			release(0)
			return nil, &LatchConflictError{StartTS: tx.startTS}
		}
	}
	return release, nil
}
