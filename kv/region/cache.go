package region

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// Cache is the region and store cache of one client. It answers "which region holds this
// key, and where are its replicas" from memory, loading from its RegionSource (PD) on a
// miss. Safe for concurrent use. It owns one background goroutine (TTL GC and liveness
// probes) that Close stops and joins.
type Cache struct {
	cfg    Config
	src    RegionSource
	codec  codec.Codec
	prober Prober
	stores *storeCache
	tracer kv.RegionTracer

	mu     sync.RWMutex
	idx    *index
	byVer  map[VerID]*entry
	latest map[uint64]VerID // newest version seen per region ID (RC-3)
	gcFrom []byte           // where the next GC round resumes

	flightMu sync.Mutex
	flights  map[string]*flight

	stats counters
	pdSem chan struct{} // bounds concurrent region loads from PD (Config.MaxPDLoads)

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

// flight is one region load in progress; others missing on the same key wait for it.
type flight struct {
	done chan struct{}
	err  error
}

// New returns a cache over src and starts its background loop. Close it when done.
func New(src RegionSource, cfg Config) *Cache {
	cfg = cfg.withDefaults()
	c := &Cache{
		cfg: cfg, src: src, codec: cfg.Codec, prober: cfg.Prober,
		stores: newStoreCache(src, cfg.Now),
		idx:    newIndex(), byVer: make(map[VerID]*entry), latest: make(map[uint64]VerID),
		flights: make(map[string]*flight),
		pdSem:   make(chan struct{}, cfg.MaxPDLoads),
	}
	if t, ok := cfg.Tracer.(kv.RegionTracer); ok {
		c.tracer = t
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go c.background(ctx)
	return c
}

// Close stops the background loop and waits for it. Idempotent. Lookups after Close
// fail with kv.ErrClosed.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

// Len returns the number of cached regions.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.idx.len()
}

// background runs TTL GC every GCInterval, probes unreachable stores every
// UnreachableRetry, re-reads stores from PD every StoreRefreshInterval, updates slow
// scores (and asks stores with a stale TiKV slow score for feedback) every
// HealthTickInterval and reloads Config.RefreshRanges every RefreshInterval.
func (c *Cache) background(ctx context.Context) {
	defer c.wg.Done()
	gc := time.NewTicker(c.cfg.GCInterval)
	defer gc.Stop()
	probe := time.NewTicker(c.cfg.UnreachableRetry)
	defer probe.Stop()
	refresh := time.NewTicker(c.cfg.StoreRefreshInterval)
	defer refresh.Stop()
	health := time.NewTicker(c.cfg.HealthTickInterval)
	defer health.Stop()
	var ranges <-chan time.Time
	if len(c.cfg.RefreshRanges) > 0 {
		t := time.NewTicker(c.cfg.RefreshInterval)
		defer t.Stop()
		ranges = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-gc.C:
			c.gcRound()
		case <-refresh.C:
			c.stores.refresh(ctx)
			c.stores.learnStores(ctx) // storelist.go
		case <-ranges:
			c.LoadRanges(ctx, c.cfg.RefreshRanges) // errors: the next round tries again
		case <-probe.C:
			if c.prober != nil {
				c.stores.probeUnreachable(ctx, c.prober, c.cfg.StoreLivenessTimeout)
			}
		case <-health.C:
			c.stores.tickSlowScores()
			if c.cfg.RequestHealthFeedback != nil {
				c.stores.refreshFeedback(ctx, c.cfg.RequestHealthFeedback, c.cfg.HealthFeedbackInterval, c.cfg.StoreLivenessTimeout)
			}
		}
	}
}

// gcRound removes up to GCBatch expired or invalid regions, resuming where the last round
// stopped (RC-4).
func (c *Cache) gcRound() {
	now := c.cfg.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	var dead []*entry
	var last []byte
	seen := 0
	c.idx.ascend(c.gcFrom, func(r *entry) bool {
		seen++
		last = r.meta.StartKey
		if now > r.ttl.Load() || r.reason() != ReasonNone {
			dead = append(dead, r)
		}
		return seen < c.cfg.GCBatch
	})
	if seen < c.cfg.GCBatch {
		c.gcFrom = nil // wrapped around
	} else {
		c.gcFrom = kv.Key(last).Next()
	}
	for _, r := range dead {
		c.removeLocked(r)
	}
}

// removeLocked drops r from the index and the version map.
func (c *Cache) removeLocked(r *entry) {
	c.idx.remove(r)
	if c.byVer[r.VerID()] == r {
		delete(c.byVer, r.VerID())
	}
}

func (c *Cache) nextTTL(now time.Time) int64 {
	return now.Add(c.cfg.TTL + time.Duration(c.cfg.Rand(int64(c.cfg.TTLJitter)))).UnixNano()
}

func (c *Cache) trace(ctx context.Context, kind kv.RegionEventKind, id uint64, reason string) {
	if c.tracer != nil {
		c.tracer.TraceRegion(ctx, kv.RegionEvent{Kind: kind, RegionID: id, Reason: reason})
	}
}

// Locate returns the location of the region containing key (RC-1), loading it from PD
// on a miss. Concurrent misses share PD calls (see the package doc).
//
// Errors: an error wrapping kv.ErrRegionUnavailable when PD knows no region for key,
// PD's errors (kv.ErrPDUnavailable backoff errors), ctx's error, kv.ErrClosed.
func (c *Cache) Locate(ctx context.Context, key []byte) (*Location, error) {
	r, err := c.findRegion(ctx, key, false)
	if err != nil {
		return nil, err
	}
	return r.location(), nil
}

// LocateEnd returns the location of the region with start < key <= end, the region a
// reverse scan whose exclusive upper bound is key reads first (SB-18). key must not be
// empty. On a miss it asks PD for the region of key and, when that region starts at key,
// for the previous one.
//
// Errors: as Locate; kv.ErrInvalidRange for an empty key.
func (c *Cache) LocateEnd(ctx context.Context, key []byte) (*Location, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("region: locate end of an empty key: %w", kv.ErrInvalidRange)
	}
	r, err := c.findRegion(ctx, key, true)
	if err != nil {
		return nil, err
	}
	return r.location(), nil
}

// TryLocate returns the cached location of key without asking PD, or nil.
func (c *Cache) TryLocate(key []byte) *Location {
	if r := c.lookup(key, false); r != nil {
		return r.location()
	}
	return nil
}

// LocateByID returns the location of the region with the given ID, from the cache when
// it holds a valid entry, else from PD.
//
// Errors: as Locate.
func (c *Cache) LocateByID(ctx context.Context, id uint64) (*Location, error) {
	c.mu.RLock()
	r := c.byVer[c.latest[id]]
	c.mu.RUnlock()
	if r != nil && r.usable(c.cfg.Now(), c.nextTTL) {
		return r.location(), nil
	}
	return c.LocateByIDFromPD(ctx, id)
}

// LocateByIDFromPD asks PD for the region with the given ID whatever the cache holds,
// caches the answer (unless the cache knows a newer version) and returns its location:
// for callers that know their cached copy is stale.
//
// Errors: as Locate.
func (c *Cache) LocateByIDFromPD(ctx context.Context, id uint64) (*Location, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if err := c.acquirePD(ctx); err != nil {
		return nil, err
	}
	c.stats.pdCalls.Add(1)
	pr, err := c.src.GetRegionByID(ctx, id, c.pdOpts()...)
	<-c.pdSem
	if err != nil {
		return nil, err
	}
	r, err := c.newRegion(ctx, pr, nil)
	if err != nil {
		return nil, err
	}
	c.insert(ctx, r)
	return r.location(), nil
}

func (c *Cache) checkOpen() error {
	if c.closed.Load() {
		return fmt.Errorf("region: cache: %w", kv.ErrClosed)
	}
	return nil
}

func (c *Cache) pdOpts() []pd.RegionOption {
	if c.cfg.Buckets {
		return []pd.RegionOption{pd.WithBuckets()}
	}
	return nil
}

// lookup returns the usable cached region for key, or nil.
func (c *Cache) lookup(key []byte, isEnd bool) *entry {
	c.mu.RLock()
	r := c.idx.search(key, isEnd)
	c.mu.RUnlock()
	if r != nil && r.usable(c.cfg.Now(), c.nextTTL) {
		return r
	}
	return nil
}

// region returns the cached region of version v, or nil when it was replaced or removed.
func (c *Cache) region(v VerID) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byVer[v]
}

func (c *Cache) findRegion(ctx context.Context, key []byte, isEnd bool) (*entry, error) {
	if r := c.lookup(key, isEnd); r != nil {
		c.stats.hits.Add(1)
		return r, nil
	}
	c.stats.misses.Add(1)
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	return c.load(ctx, key, isEnd)
}

// load loads the region of key from PD without stampeding it: a miss on a key already
// being loaded waits for that load (and shares its error), and a miss while other loads
// are in flight first waits up to Config.JoinWait for those (they often bring the region
// it needs), then loads itself.
func (c *Cache) load(ctx context.Context, key []byte, isEnd bool) (*entry, error) {
	fk := string(key)
	if isEnd {
		fk = "\xffend:" + fk
	}
	joined := false
	for round := 0; ; round++ {
		c.flightMu.Lock()
		same, ok := c.flights[fk]
		var others []*flight
		if !ok && !joined {
			for _, f := range c.flights {
				others = append(others, f)
			}
		}
		joined = true
		if (!ok || round >= 4) && len(others) == 0 {
			// A load may have finished between our lookup and taking flightMu; loads
			// insert before they leave the flight map, so a lookup here sees it.
			if r := c.lookup(key, isEnd); r != nil {
				c.flightMu.Unlock()
				return r, nil
			}
			return c.fly(ctx, fk, key, isEnd)
		}
		c.flightMu.Unlock()
		if ok {
			select {
			case <-same.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("region: waiting for region load: %w", ctx.Err())
			}
			if err := same.err; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
		} else if err := c.joinWait(ctx, others); err != nil {
			return nil, err
		}
		if r := c.lookup(key, isEnd); r != nil {
			return r, nil
		}
	}
}

// fly registers a load of key (flightMu held on entry, released here), runs it and
// wakes its waiters.
func (c *Cache) fly(ctx context.Context, fk string, key []byte, isEnd bool) (*entry, error) {
	f := &flight{done: make(chan struct{})}
	c.flights[fk] = f
	c.flightMu.Unlock()
	var r *entry
	err := c.acquirePD(ctx)
	if err == nil {
		r, err = c.loadFromPD(ctx, key, isEnd)
		<-c.pdSem
	}
	f.err = err
	c.flightMu.Lock()
	if c.flights[fk] == f {
		delete(c.flights, fk)
	}
	c.flightMu.Unlock()
	close(f.done)
	return r, err
}

// joinWait waits for the given loads, at most Config.JoinWait, so that one slow load
// never holds up misses on other keys for long.
func (c *Cache) joinWait(ctx context.Context, fs []*flight) error {
	t := time.NewTimer(c.cfg.JoinWait)
	defer t.Stop()
	for _, f := range fs {
		select {
		case <-f.done:
		case <-t.C:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("region: waiting for region loads: %w", ctx.Err())
		}
	}
	return nil
}

// loadFromPD asks PD for the region of key (RC-2) and caches it. An insert refused as
// stale (PD lagging behind what the cache already knows) is retried once.
func (c *Cache) loadFromPD(ctx context.Context, key []byte, isEnd bool) (*entry, error) {
	for attempt := 0; attempt < 2; attempt++ {
		c.stats.pdCalls.Add(1)
		pr, err := c.src.GetRegion(ctx, key, c.pdOpts()...)
		if err == nil && isEnd && bytes.Equal(pr.Meta.GetStartKey(), key) {
			c.stats.pdCalls.Add(1)
			pr, err = c.src.GetPrevRegion(ctx, key, c.pdOpts()...)
		}
		if err != nil {
			return nil, err
		}
		r, err := c.newRegion(ctx, pr, nil)
		if err != nil {
			return nil, err
		}
		if isEnd && !r.containsEnd(key) || !isEnd && !r.contains(key) {
			return nil, fmt.Errorf("region: PD returned region %d [%v, %v) for key %v: %w",
				r.meta.GetId(), kv.Key(r.meta.StartKey), kv.Key(r.meta.EndKey), kv.Key(key), kv.ErrRegionUnavailable)
		}
		if c.insert(ctx, r) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("region: PD keeps returning a stale region for key %v: %w", kv.Key(key), kv.ErrRegionUnavailable)
}

// errNoPeers is wrapped when none of a region's peers is usable.
var errNoPeers = errors.New("region has no available peers")

// newRegion builds a cache entry from PD's answer, resolving the stores of its peers and
// dropping peers that PD reports down, peers on tombstone stores and witness followers
// (RC-6). A region with down peers does not slide its TTL, so it is reloaded and a peer
// that came back is used again. leaderStore, when not nil, overrides PD's leader
// (EpochNotMatch: the store that answered).
func (c *Cache) newRegion(ctx context.Context, pr *pd.Region, leaderStore *uint64) (*entry, error) {
	r := &entry{meta: pr.Meta}
	if pr.Buckets != nil {
		r.buckets.Store(pr.Buckets)
	}
	leaderID := pr.Leader.GetStoreId()
	if leaderStore != nil {
		leaderID = *leaderStore
	}
	if len(pr.DownPeers) > 0 {
		r.downPeers = make(map[uint64]bool, len(pr.DownPeers))
		for _, p := range pr.DownPeers {
			r.downPeers[p.GetId()] = true
		}
		r.expireOnTTL.Store(true)
	}
	for _, p := range pr.Meta.GetPeers() {
		if p.GetIsWitness() && p.GetStoreId() != leaderID || r.downPeers[p.GetId()] {
			continue
		}
		s := c.stores.get(p.GetStoreId())
		if _, err := c.stores.resolve(ctx, s); err != nil {
			if errors.Is(err, errStoreGone) {
				continue
			}
			return nil, err
		}
		r.peers = append(r.peers, p)
		r.stores = append(r.stores, s)
		r.storeEpochs = append(r.storeEpochs, s.epoch.Load())
	}
	if len(r.peers) == 0 {
		return nil, fmt.Errorf("region: region %d: %w: %w", pr.Meta.GetId(), errNoPeers, kv.ErrRegionUnavailable)
	}
	if i := r.peerIndexByStore(leaderID); i >= 0 {
		r.leader.Store(int32(i))
	}
	r.ttl.Store(c.nextTTL(c.cfg.Now()))
	return r, nil
}

// insert adds r unless it is older than what the cache knows (RC-3): its version or
// conf version is behind the newest seen for its ID, or an overlapping region has a
// newer version. Overlapping regions are removed. A region replacing one invalidated for
// NoLeader starts at the peer after the old leader; newer buckets are inherited.
func (c *Cache) insert(ctx context.Context, r *entry) bool {
	v := r.VerID()
	c.mu.Lock()
	if lv, ok := c.latest[v.ID]; ok && (v.Ver < lv.Ver || v.ConfVer < lv.ConfVer) {
		c.mu.Unlock()
		return false
	}
	over := c.idx.overlapping(r.meta.StartKey, r.meta.EndKey)
	for _, o := range over {
		if o.meta.GetId() != v.ID && o.meta.GetRegionEpoch().GetVersion() > v.Ver {
			c.mu.Unlock()
			return false
		}
	}
	if old := c.byVer[c.latest[v.ID]]; old != nil {
		c.inherit(r, old)
		c.removeLocked(old)
	}
	for _, o := range over {
		if o.reason() == ReasonNone {
			o.invalidate(ReasonEpochNotMatch)
		}
		c.removeLocked(o)
	}
	c.idx.put(r)
	c.byVer[v] = r
	c.latest[v.ID] = v
	c.mu.Unlock()
	c.trace(ctx, kv.RegionLoaded, v.ID, "")
	return true
}

// inherit carries the working leader (or the peer after it, after NoLeader) and newer
// buckets from old to its replacement r.
func (c *Cache) inherit(r, old *entry) {
	if old.reason() == ReasonNoLeader {
		_, s := old.leaderPeer()
		if i := r.peerIndexByStore(s.id); i >= 0 {
			r.leader.Store(int32((i + 1) % len(r.peers)))
		}
	}
	if ob, nb := old.buckets.Load(), r.buckets.Load(); ob != nil && (nb == nil || ob.GetVersion() > nb.GetVersion()) {
		r.buckets.Store(ob)
	}
}

// Invalidate marks the region version v stale for reason; the next lookup of its keys
// reloads it from PD. Unknown versions are ignored.
func (c *Cache) Invalidate(ctx context.Context, v VerID, reason Reason) {
	if r := c.region(v); r != nil && r.invalidate(reason) {
		c.trace(ctx, kv.RegionInvalidated, v.ID, reason.String())
	}
}

// UpdateLeader records that the peer on storeID leads region version v. When no peer of
// the cached region is on that store the cached region is stale: it is invalidated and
// false is returned.
func (c *Cache) UpdateLeader(ctx context.Context, v VerID, storeID uint64) bool {
	r := c.region(v)
	if r == nil {
		return false
	}
	i := r.peerIndexByStore(storeID)
	if i < 0 {
		c.Invalidate(ctx, v, ReasonOther)
		return false
	}
	if r.leader.Swap(int32(i)) != int32(i) {
		c.trace(ctx, kv.RegionLeaderChange, v.ID, "")
	}
	return true
}

// ReportHealth records TiKV's slow score for a store (HealthFeedback, RC-10).
func (c *Cache) ReportHealth(storeID uint64, slowScore int) {
	c.stores.get(storeID).slow.feedback(slowScore, c.cfg.Now())
}

// Store returns the cached store with the given ID, resolving it from PD if needed.
//
// Errors: PD's errors, an error for tombstone stores, ctx's error.
func (c *Cache) Store(ctx context.Context, id uint64) (*Store, error) {
	s := c.stores.get(id)
	if _, err := c.stores.resolve(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}
