package memcluster

import (
	"hash/fnv"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/deadlock"
)

// lockWaits is the lock manager of the in-process TiKV: pessimistic lock requests that meet
// another transaction's lock wait here until the lock is released, their timeout passes
// or their context ends, and every wait adds an edge to a wait-for graph that is checked
// for cycles before the wait starts (TiKV's deadlock detector). It is safe for concurrent
// use; its own mutex is always taken after the MVCC mutex, never before.
type lockWaits struct {
	mu      sync.Mutex
	byKey   map[string][]*waiter
	waitFor map[uint64][]edge // waiting txn -> the txns it waits for
}

// edge is one wait-for relation: a transaction waits for holder's lock on key.
type edge struct {
	holder uint64
	key    []byte
}

// waiter is one blocked lock request. done receives the commit ts of the released lock
// (0 for a rollback) exactly once. holders are the transactions it waits for: one, or
// every holder of a shared lock.
type waiter struct {
	txn     uint64
	holders []uint64
	key     string
	done    chan uint64
}

func newLockWaits() *lockWaits {
	return &lockWaits{byKey: map[string][]*waiter{}, waitFor: map[uint64][]edge{}}
}

// keyHash is the hash the deadlock report carries for a key.
func keyHash(key []byte) uint64 {
	h := fnv.New64a()
	h.Write(key)
	return h.Sum64()
}

// add registers txn as waiting for the holders' lock on key (one holder, or every
// holder of a shared lock). When a new edge closes a cycle it registers nothing and
// returns the cycle as a wait chain, starting at txn.
func (lw *lockWaits) add(txn uint64, holders []uint64, key []byte) (*waiter, []*deadlock.WaitForEntry) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, holder := range holders {
		if path := lw.pathLocked(holder, txn, map[uint64]bool{}); path != nil {
			chain := []*deadlock.WaitForEntry{{Txn: txn, WaitForTxn: holder, Key: key, KeyHash: keyHash(key)}}
			return nil, append(chain, path...)
		}
	}
	w := &waiter{txn: txn, holders: holders, key: string(key), done: make(chan uint64, 1)}
	lw.byKey[w.key] = append(lw.byKey[w.key], w)
	for _, holder := range holders {
		lw.waitFor[txn] = append(lw.waitFor[txn], edge{holder: holder, key: clone(key)})
	}
	return w, nil
}

// pathLocked returns the wait-for edges leading from 'from' to 'to', or nil.
func (lw *lockWaits) pathLocked(from, to uint64, seen map[uint64]bool) []*deadlock.WaitForEntry {
	if seen[from] {
		return nil
	}
	seen[from] = true
	for _, e := range lw.waitFor[from] {
		hop := &deadlock.WaitForEntry{Txn: from, WaitForTxn: e.holder, Key: e.key, KeyHash: keyHash(e.key)}
		if e.holder == to {
			return []*deadlock.WaitForEntry{hop}
		}
		if rest := lw.pathLocked(e.holder, to, seen); rest != nil {
			return append([]*deadlock.WaitForEntry{hop}, rest...)
		}
	}
	return nil
}

// remove unregisters w (after a timeout or cancellation); it is a no-op when w was
// already woken.
func (lw *lockWaits) remove(w *waiter) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.removeLocked(w)
}

func (lw *lockWaits) removeLocked(w *waiter) {
	ws := lw.byKey[w.key]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(lw.byKey, w.key)
	} else {
		lw.byKey[w.key] = ws
	}
	for _, holder := range w.holders {
		lw.removeEdgeLocked(w.txn, holder, w.key)
	}
}

func (lw *lockWaits) removeEdgeLocked(txn, holder uint64, key string) {
	es := lw.waitFor[txn]
	for i, e := range es {
		if e.holder == holder && string(e.key) == key {
			es = append(es[:i], es[i+1:]...)
			break
		}
	}
	if len(es) == 0 {
		delete(lw.waitFor, txn)
	} else {
		lw.waitFor[txn] = es
	}
}

// release wakes every request waiting for holder's lock on key; commitTS is the commit
// timestamp of the released lock, or 0 when it was rolled back.
func (lw *lockWaits) release(key []byte, holder, commitTS uint64) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, w := range append([]*waiter(nil), lw.byKey[string(key)]...) {
		if slices.Contains(w.holders, holder) {
			lw.removeLocked(w)
			w.done <- commitTS
		}
	}
}

// releaseKey wakes every request waiting for the lock on key, whoever holds it: the
// last holder of a shared lock left (commitTS as in release).
func (lw *lockWaits) releaseKey(key []byte, commitTS uint64) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, w := range append([]*waiter(nil), lw.byKey[string(key)]...) {
		lw.removeLocked(w)
		w.done <- commitTS
	}
}

// dropHolder forgets that requests waiting on key wait for holder, which left a shared
// lock that other holders still keep: they go on waiting for those, and the departed
// holder no longer counts in deadlock detection.
func (lw *lockWaits) dropHolder(key []byte, holder uint64) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, w := range lw.byKey[string(key)] {
		if i := slices.Index(w.holders, holder); i >= 0 {
			w.holders = slices.Delete(slices.Clone(w.holders), i, i+1)
			lw.removeEdgeLocked(w.txn, holder, w.key)
		}
	}
}

// waiting returns the number of blocked requests (for tests and diagnostics).
func (lw *lockWaits) waiting() int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	n := 0
	for _, ws := range lw.byKey {
		n += len(ws)
	}
	return n
}
