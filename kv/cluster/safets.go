package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// Defaults of SafeTSConfig.
const (
	// DefaultSafeTSInterval is how often the updater asks the stores (client-go's
	// safeTSUpdateInterval).
	DefaultSafeTSInterval = 2 * time.Second
	// DefaultSafeTSTimeout bounds one store's answer and the store listing of one round
	// (client-go's ReadTimeoutShort).
	DefaultSafeTSTimeout = 30 * time.Second
)

// SafeTSConfig tunes the min-safe-ts updater (PD-11). The zero value gives the defaults:
// a round every 2 s, started by the first MinSafeTS call.
type SafeTSConfig struct {
	// Interval is the time between rounds (default DefaultSafeTSInterval). Negative
	// disables the background updater: only UpdateSafeTS refreshes the values.
	Interval time.Duration
	// Timeout bounds each store's GetStoreSafeTS call and the store listing of a round
	// (default DefaultSafeTSTimeout).
	Timeout time.Duration
	// Eager starts the updater at Open instead of at the first MinSafeTS call.
	Eager bool
	// PD, when set, is asked first for PD's min resolved ts, which TiKV reports to PD
	// (client-go's WithPDHTTPClient). A *pd/client/http.Client fits; the module does
	// not build one itself. See MinResolvedTSSource.
	PD MinResolvedTSSource
}

// MinResolvedTSSource reports the min resolved ts PD collects from the TiKV stores, as
// PD's HTTP API /pd/api/v1/min-resolved-ts does; the GetMinResolvedTSByStoresIDs
// method of github.com/tikv/pd/client/http's Client has this signature.
//
// With no store IDs it returns the cluster's min resolved ts. With store IDs it returns
// their minimum and each store's value; values of 0 or math.MaxUint64 mean "unknown".
// It must be safe for concurrent use and honour ctx.
type MinResolvedTSSource interface {
	GetMinResolvedTSByStoresIDs(ctx context.Context, storeIDs []uint64) (uint64, map[uint64]uint64, error)
}

// ErrSafeTS is wrapped by the errors of UpdateSafeTS for stores that did not answer.
var ErrSafeTS = errors.New("cluster: store safe ts unavailable")

// safeTSUpdater keeps the safe ts of every TiKV store and their minimum (PD-11).
//
// With SafeTSConfig.PD set, a round first asks PD for the cluster's min resolved ts and,
// when PD knows it, takes it as the minimum (never lowering it) and ends there. Otherwise a
// round lists the stores from PD (tombstones and TiFlash stores left out), asks each
// for its safe ts over the whole key space in parallel (stores whose min resolved ts PD
// reports are not asked), and keeps per store the largest
// value seen: a store that fails or answers less keeps its previous value. The minimum is
// then taken over the listed stores only; it is 0 when any of them has never answered,
// and stores that answered 0 are skipped (TiKV answers 0 when none of its peers is
// initialised; client-go#615), so it is 0 too when every store answered 0.
type safeTSUpdater struct {
	cl  *Cluster
	cfg SafeTSConfig
	log *zap.Logger

	round sync.Mutex // serialises rounds, so a round's minimum uses its own answers

	mu      sync.Mutex // guards stores and the lifecycle fields
	stores  map[uint64]uint64
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	min atomic.Uint64
}

func newSafeTSUpdater(cl *Cluster, cfg SafeTSConfig, log *zap.Logger) *safeTSUpdater {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultSafeTSInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSafeTSTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &safeTSUpdater{cl: cl, cfg: cfg, log: log, stores: map[uint64]uint64{}}
}

// start runs the background loop unless it runs already, is disabled or the updater is
// closed. The first round starts at once.
func (u *safeTSUpdater) start() {
	if u.cfg.Interval < 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.started || u.closed {
		return
	}
	u.started = true
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel, u.done = cancel, make(chan struct{})
	go u.loop(ctx, u.done)
}

// loop runs a round now and then every Interval until ctx ends.
func (u *safeTSUpdater) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(u.cfg.Interval)
	defer t.Stop()
	for {
		if err := u.update(ctx); err != nil && ctx.Err() == nil {
			u.log.Debug("cluster: safe ts round incomplete", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// close stops the loop and waits for it. Idempotent.
func (u *safeTSUpdater) close() {
	u.mu.Lock()
	u.closed = true
	cancel, done := u.cancel, u.done
	u.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// update runs one round (see safeTSUpdater).
func (u *safeTSUpdater) update(ctx context.Context) error {
	u.round.Lock()
	defer u.round.Unlock()
	if u.fromPD(ctx) {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	all, err := u.cl.pd.GetAllStores(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: safe ts: list stores: %w", err)
	}
	stores := all[:0:0]
	for _, s := range all {
		if s.GetState() != metapb.StoreState_Tombstone && !isTiFlash(s) && s.GetAddress() != "" {
			stores = append(stores, s)
		}
	}
	got := make([]uint64, len(stores))
	errs := make([]error, len(stores))
	byPD := u.storesFromPD(ctx, stores)
	var wg sync.WaitGroup
	for i, s := range stores {
		if ts := byPD[s.GetId()]; validSafeTS(ts) {
			got[i] = ts
			continue
		}
		wg.Go(func() { got[i], errs[i] = u.ask(ctx, s) })
	}
	wg.Wait()

	u.mu.Lock()
	defer u.mu.Unlock()
	next := make(map[uint64]uint64, len(stores))
	ids := make([]uint64, len(stores))
	for i, s := range stores {
		id := s.GetId()
		ids[i] = id
		prev, known := u.stores[id]
		switch {
		case errs[i] == nil:
			next[id] = max(prev, got[i]) // per-store values only move forward
		case known:
			next[id] = prev
		}
	}
	u.stores = next
	u.min.Store(minSafeTS(ids, next))
	return errors.Join(errs...)
}

// fromPD sets the minimum from PD's cluster-wide min resolved ts when a source is
// configured and knows it, and reports whether it did. A value below the current
// minimum is ignored (client-go#991) but still counts as done, as in client-go.
func (u *safeTSUpdater) fromPD(ctx context.Context) bool {
	if u.cfg.PD == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	ts, _, err := u.cfg.PD.GetMinResolvedTSByStoresIDs(ctx, nil)
	if err != nil {
		u.log.Debug("cluster: min resolved ts from PD", zap.Error(err))
		return false
	}
	if !validSafeTS(ts) {
		return false
	}
	if ts > u.min.Load() {
		u.min.Store(ts)
	}
	return true
}

// storesFromPD returns PD's per-store min resolved ts of stores, or nil when no source
// is configured or it failed; stores it does not know are asked directly.
func (u *safeTSUpdater) storesFromPD(ctx context.Context, stores []*metapb.Store) map[uint64]uint64 {
	if u.cfg.PD == nil || len(stores) == 0 {
		return nil
	}
	ids := make([]uint64, len(stores))
	for i, s := range stores {
		ids[i] = s.GetId()
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	_, byStore, err := u.cfg.PD.GetMinResolvedTSByStoresIDs(ctx, ids)
	if err != nil {
		u.log.Debug("cluster: stores' min resolved ts from PD", zap.Error(err))
		return nil
	}
	return byStore
}

// validSafeTS reports whether PD's value is known (neither 0 nor math.MaxUint64).
func validSafeTS(ts uint64) bool { return ts != 0 && ts != math.MaxUint64 }

// ask returns store s's safe ts over the whole key space. The empty range is TiKV's
// fast path over every region of the store; under API v2 it covers every keyspace,
// which can only make the value smaller than the keyspace's own, so it is still safe.
func (u *safeTSUpdater) ask(ctx context.Context, s *metapb.Store) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	req := &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}}
	resp, err := rpc.Call(ctx, u.cl.rpc, s.GetAddress(), rpc.GetStoreSafeTS, req, rpc.CallOptions{StoreID: s.GetId()})
	if err != nil {
		return 0, fmt.Errorf("%w: store %d: %w", ErrSafeTS, s.GetId(), err)
	}
	if resp.GetSafeTs() == math.MaxUint64 {
		// Not a timestamp anyone could read at; client-go refuses it too.
		return 0, fmt.Errorf("%w: store %d answered MaxUint64", ErrSafeTS, s.GetId())
	}
	return resp.GetSafeTs(), nil
}

// minSafeTS is the minimum over ids of their known safe ts: 0 when one is unknown,
// skipping zeros, 0 when nothing remains (client-go updateMinSafeTS).
func minSafeTS(ids []uint64, known map[uint64]uint64) uint64 {
	var m uint64
	for _, id := range ids {
		ts, ok := known[id]
		if !ok {
			return 0
		}
		if ts != 0 && (m == 0 || ts < m) {
			m = ts
		}
	}
	return m
}

// isTiFlash reports whether s is a TiFlash store (label engine=tiflash or
// tiflash_compute). Reads of this client never go to TiFlash, so its safe ts does not
// bound them.
func isTiFlash(s *metapb.Store) bool {
	for _, l := range s.GetLabels() {
		if l.GetKey() == "engine" && (l.GetValue() == "tiflash" || l.GetValue() == "tiflash_compute") {
			return true
		}
	}
	return false
}

// MinSafeTS returns the smallest safe ts of the cluster's TiKV stores as last computed
// (PD-11; client-go's GetMinSafeTS for the global scope): every replica of every region
// has applied everything committed at or below it, and no transaction can still commit at
// or below it (TiKV's resolved ts), so a snapshot read at this timestamp can be sent to
// any replica as a stale read
// (kvrpcpb.Context.StaleRead, region.Options.StaleRead) without waiting for the leader.
// It is 0 while any store's safe ts is unknown (before the first round completes, or
// while a store has never answered); callers then read at a fresh timestamp instead.
//
// The first call starts the background updater (unless SafeTSConfig.Eager started it
// at Open, or Interval is negative), which refreshes the value every
// SafeTSConfig.Interval until Close. It never blocks and is safe for concurrent use.
func (c *Cluster) MinSafeTS() uint64 {
	c.safeTS.start()
	return c.safeTS.min.Load()
}

// StoreSafeTS returns the last safe ts known for store id, and whether one is known.
// It does not start the updater. Safe for concurrent use.
func (c *Cluster) StoreSafeTS(id uint64) (uint64, bool) {
	c.safeTS.mu.Lock()
	defer c.safeTS.mu.Unlock()
	ts, ok := c.safeTS.stores[id]
	return ts, ok
}

// UpdateSafeTS runs one round of the updater now, within ctx, and returns the new
// MinSafeTS. It serialises with the background rounds. Stores that fail keep their
// previous value; the minimum is updated even when an error is returned.
//
// Errors: kv.ErrClosed after Close; PD's errors listing the stores (nothing is
// updated then); otherwise the joined errors of the stores that did not answer, each
// wrapping ErrSafeTS and the RPC error (an older store without the RPC answers
// codes.Unimplemented); ctx's error.
func (c *Cluster) UpdateSafeTS(ctx context.Context) (uint64, error) {
	c.safeTS.mu.Lock()
	closed := c.safeTS.closed
	c.safeTS.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("cluster: update safe ts: %w", kv.ErrClosed)
	}
	err := c.safeTS.update(ctx)
	return c.safeTS.min.Load(), err
}
