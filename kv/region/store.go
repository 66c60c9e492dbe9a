package region

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// Store is one cached TiKV store (RC-8): address, labels, liveness, load and slowness.
// Safe for concurrent use.
type Store struct {
	id uint64

	resolving sync.Mutex // serialises PD lookups of this store
	mu        sync.Mutex // guards meta and tombstone (never held across a PD call)
	meta      *metapb.Store
	tombstone bool

	epoch     atomic.Uint32 // bumped when the store is found gone, moved or unreachable
	needCheck atomic.Bool   // re-resolve from PD on next use (StoreNotMatch, send failure)
	// unreachableUntil is the unix-nano time until which the store counts as
	// unreachable; 0 when reachable.
	unreachableUntil atomic.Int64
	busyUntil        atomic.Int64 // estimated wait (RC-12) as an absolute unix-nano time
	resolvedAt       atomic.Int64 // unix nanos of the last successful PD lookup
	slow             slowScore
	inflight         atomic.Int64 // requests in flight through the Sender (tokenlimit.go)
	flows            replicaFlows // prefer-leader reads sent here (flows.go)
}

// ID returns the store ID.
func (s *Store) ID() uint64 { return s.id }

// Addr returns the last resolved address ("" before resolution).
func (s *Store) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.GetAddress()
}

// Labels returns the store's labels; do not modify them.
func (s *Store) Labels() []*metapb.StoreLabel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.GetLabels()
}

// Reachable reports whether the store is considered reachable at now.
func (s *Store) Reachable(now time.Time) bool {
	u := s.unreachableUntil.Load()
	return u == 0 || now.UnixNano() >= u
}

// EstimatedWait returns how long TiKV said requests would queue, minus the time elapsed
// since (RC-12).
func (s *Store) EstimatedWait(now time.Time) time.Duration {
	d := time.Duration(s.busyUntil.Load() - now.UnixNano())
	return max(d, 0)
}

// Slow reports whether the store's combined slow score marks it slow (RC-11).
func (s *Store) Slow(now time.Time) bool { return s.slow.isSlow(now) }

func (s *Store) matchLabels(want []*metapb.StoreLabel) bool {
	have := s.Labels()
	for _, w := range want {
		ok := false
		for _, h := range have {
			if h.GetKey() == w.GetKey() && h.GetValue() == w.GetValue() {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// storeCache maps store IDs to stores and resolves them from PD on demand.
type storeCache struct {
	src    RegionSource
	mu     sync.Mutex
	byID   map[uint64]*Store
	probes map[string]*probeCall // health probes in flight, one per address
	clock  func() time.Time
}

// probeCall is one health probe that concurrent callers share.
type probeCall struct {
	done chan struct{}
	err  error
}

func newStoreCache(src RegionSource, clock func() time.Time) *storeCache {
	return &storeCache{src: src, byID: make(map[uint64]*Store), probes: make(map[string]*probeCall), clock: clock}
}

// get returns the store with id, creating an unresolved entry.
func (c *storeCache) get(id uint64) *Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byID[id]
	if !ok {
		s = &Store{id: id}
		c.byID[id] = s
	}
	return s
}

// all returns every cached store.
func (c *storeCache) all() []*Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Store, 0, len(c.byID))
	for _, s := range c.byID {
		out = append(out, s)
	}
	return out
}

// errStoreGone is returned by resolve for tombstone or unknown stores.
var errStoreGone = errors.New("store is a tombstone or unknown to PD")

// resolve makes sure s has an address, asking PD on first use and after needCheck
// (address or label change, tombstone). A changed address or a tombstone bumps the
// store's epoch, which invalidates every cached region with a peer on it. Concurrent
// callers of one store share one PD call (the store mutex).
func (c *storeCache) resolve(ctx context.Context, s *Store) (string, error) {
	if addr, ok, err := s.cached(); ok || err != nil {
		return addr, err
	}
	s.resolving.Lock()
	defer s.resolving.Unlock()
	if addr, ok, err := s.cached(); ok || err != nil {
		return addr, err // resolved by the goroutine we waited for
	}
	m, err := c.src.GetStore(ctx, s.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, pd.ErrStoreNotFound):
		s.tombstone = true
		s.epoch.Add(1)
		return "", fmt.Errorf("region: store %d: %w", s.id, errStoreGone)
	case err != nil:
		if s.meta != nil && ctx.Err() == nil {
			// Keep the old address while PD is away; the background refresh asks
			// again later, so requests do not each call PD during a PD outage.
			s.needCheck.Store(false)
			return s.meta.GetAddress(), nil
		}
		return "", err
	case m.GetAddress() == "":
		return "", fmt.Errorf("region: store %d has no address: %w", s.id, kv.ErrStoreUnavailable)
	}
	if s.meta != nil && s.meta.GetAddress() != m.GetAddress() {
		s.epoch.Add(1)
		s.unreachableUntil.Store(0)
	}
	s.meta = m
	s.needCheck.Store(false)
	s.resolvedAt.Store(c.clock().UnixNano())
	return m.GetAddress(), nil
}

// cached returns the resolved address when no PD lookup is needed (ok), or the error of
// a tombstone store.
func (s *Store) cached() (addr string, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tombstone {
		return "", false, fmt.Errorf("region: store %d: %w", s.id, errStoreGone)
	}
	if s.meta != nil && !s.needCheck.Load() {
		return s.meta.GetAddress(), true, nil
	}
	return "", false, nil
}

// refresh re-reads every resolved store from PD; a changed address or a tombstone bumps
// the store's epoch (see resolve). PD errors are ignored: the next round tries again.
func (c *storeCache) refresh(ctx context.Context) {
	for _, s := range c.all() {
		if _, ok, _ := s.cached(); !ok {
			continue // unresolved or tombstone: resolved on demand
		}
		s.needCheck.Store(true)
		c.resolve(ctx, s)
		if ctx.Err() != nil {
			return
		}
	}
}

// markUnreachable records that s did not answer; it stays unreachable for d or until a
// probe succeeds. Its epoch is bumped the first time, so regions on it get reloaded. The
// store is re-read from PD (it may have moved) on the first failure and then at most once
// per d, so that a dead store under load does not turn every failure into a PD call.
func (c *storeCache) markUnreachable(s *Store, d time.Duration) {
	now := c.clock()
	first := s.unreachableUntil.Swap(now.Add(d).UnixNano()) == 0
	if first {
		s.epoch.Add(1)
	}
	if first || now.UnixNano()-s.resolvedAt.Load() >= int64(d) {
		s.needCheck.Store(true)
	}
	s.slow.markSlow(now)
}

// markReachable clears the unreachable mark.
func (c *storeCache) markReachable(s *Store) { s.unreachableUntil.Store(0) }

// setEstimatedWait records ServerIsBusy.EstimatedWaitMs (RC-12).
func (c *storeCache) setEstimatedWait(s *Store, wait time.Duration) {
	s.busyUntil.Store(c.clock().Add(wait).UnixNano())
}

// probeUnreachable probes every store currently marked unreachable and clears the mark
// of those that answer (RC-9).
func (c *storeCache) probeUnreachable(ctx context.Context, p Prober, timeout time.Duration) {
	for _, s := range c.all() {
		if s.unreachableUntil.Load() == 0 {
			continue
		}
		addr, err := c.resolve(ctx, s)
		if err != nil {
			continue
		}
		if c.probe(ctx, p, addr, timeout) == nil {
			c.markReachable(s)
		}
	}
}

// probe checks addr with p within timeout (and ctx). Concurrent probes of one address
// share one call (RC-9), so many requests failing on one store cost one probe.
func (c *storeCache) probe(ctx context.Context, p Prober, addr string, timeout time.Duration) error {
	c.mu.Lock()
	call, ok := c.probes[addr]
	if !ok {
		call = &probeCall{done: make(chan struct{})}
		c.probes[addr] = call
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	call.err = p.Probe(pctx, addr)
	cancel()
	c.mu.Lock()
	delete(c.probes, addr)
	c.mu.Unlock()
	close(call.done)
	return call.err
}
