package txn

import (
	"sync"
	"sync/atomic"
	"time"
)

// LockStats says how one LockKeysWithOptions call of a pessimistic transaction went
// (client-go's LockCtx.Stats, TXN-7): where its time went and how much contention it met.
// Pass a pointer in LockOptions.Stats; it is filled when the call returns, also when the
// call fails.
type LockStats struct {
	// Keys is the number of keys this call sent lock requests for (keys the transaction
	// already held with what the call asks for are not sent again).
	Keys int
	// Regions is the number of distinct regions the requests went to.
	Regions int
	// Requests is the number of PessimisticLock requests sent, including the ones
	// repeated after a lock of another transaction was resolved or waited for.
	Requests int
	// Retries is the number of rounds repeated with a newer for-update timestamp after
	// a write conflict (another transaction committed one of the keys).
	Retries int
	// LocksMet is the number of other transactions' locks TiKV reported (after its own
	// wait); ResolveTime is the time spent resolving them.
	LocksMet    int
	ResolveTime time.Duration
	// ConflictTS is the newest commit timestamp a key was locked "with conflict" at
	// (fair locking hands a waiter the lock after a newer commit), or 0.
	ConflictTS uint64
	// Total is the call's duration.
	Total time.Duration
}

// lockCounters collects a LockStats from the goroutines of one lock call.
type lockCounters struct {
	requests, locksMet atomic.Int64
	resolveNanos       atomic.Int64
	mu                 sync.Mutex
	regions            map[uint64]struct{}
}

func (c *lockCounters) sent(regionID uint64) {
	if c == nil {
		return
	}
	c.requests.Add(1)
	c.mu.Lock()
	if c.regions == nil {
		c.regions = make(map[uint64]struct{})
	}
	c.regions[regionID] = struct{}{}
	c.mu.Unlock()
}

func (c *lockCounters) resolved(locks int, d time.Duration) {
	if c == nil {
		return
	}
	c.locksMet.Add(int64(locks))
	c.resolveNanos.Add(int64(d))
}

// fill writes the counters into s.
func (c *lockCounters) fill(s *LockStats, keys, retries int, conflictTS uint64, total time.Duration) {
	c.mu.Lock()
	regions := len(c.regions)
	c.mu.Unlock()
	*s = LockStats{Keys: keys, Regions: regions, Requests: int(c.requests.Load()), Retries: retries,
		LocksMet: int(c.locksMet.Load()), ResolveTime: time.Duration(c.resolveNanos.Load()),
		ConflictTS: conflictTS, Total: total}
}
