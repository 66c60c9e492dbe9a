package pd

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/clients/tso"
	"github.com/tikv/pd/client/opt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errUnimplemented is what an older PD answers for an RPC it lacks.
var errUnimplemented = status.Error(codes.Unimplemented, "unknown method")

// fakePD is a scripted Backend. Region keys are stored as PD sees them (encoded).
type fakePD struct {
	mu        sync.Mutex
	physical  int64
	logical   int64
	tsErrs    []error // returned (and consumed) before timestamps succeed
	tsGate    chan struct{}
	tsCalls   atomic.Int64
	minTSErr  error
	external  uint64
	regions   []*router.Region
	lastKey   []byte
	batchErr  error
	stores    []*metapb.Store
	keyspaces map[string]*keyspacepb.KeyspaceMeta
	ksErr     error
	gcState   gc.GCState
	gcErr     error
	gcCalls   atomic.Int64
	barriers  map[string]*gc.GCBarrierInfo
	splitKeys [][]byte
	scattered []uint64
	opDesc    string
	closed    atomic.Int64
	regionErr error // returned by GetRegion when set
	getRegion atomic.Int64
}

func newFakePD() *fakePD {
	return &fakePD{physical: 1_700_000_000_000, keyspaces: map[string]*keyspacepb.KeyspaceMeta{},
		barriers: map[string]*gc.GCBarrierInfo{}}
}

func (f *fakePD) GetTS(ctx context.Context) (int64, int64, error) {
	f.tsCalls.Add(1)
	if f.tsGate != nil {
		select {
		case <-f.tsGate:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tsErrs) > 0 {
		err := f.tsErrs[0]
		f.tsErrs = f.tsErrs[1:]
		return 0, 0, err
	}
	f.logical++
	if f.logical >= 1<<18 {
		f.physical++
		f.logical = 0
	}
	return f.physical, f.logical, nil
}

// advance moves the fake TSO's physical clock forward.
func (f *fakePD) advance(d time.Duration) {
	f.mu.Lock()
	f.physical += d.Milliseconds()
	f.logical = 0
	f.mu.Unlock()
}

type tsFuture struct {
	p, l int64
	err  error
}

func (t tsFuture) Wait() (int64, int64, error) { return t.p, t.l, t.err }

func (f *fakePD) GetTSAsync(ctx context.Context) tso.TSFuture {
	p, l, err := f.GetTS(ctx)
	return tsFuture{p, l, err}
}

func (f *fakePD) GetMinTS(ctx context.Context) (int64, int64, error) {
	if f.minTSErr != nil {
		f.tsCalls.Add(1)
		return 0, 0, f.minTSErr
	}
	return f.GetTS(ctx)
}

func (f *fakePD) GetExternalTimestamp(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.external, nil
}

func (f *fakePD) SetExternalTimestamp(_ context.Context, ts uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ts < f.external {
		return errors.New(`header:<error:<type:INVALID_VALUE message:"external ts less than current" > >`)
	}
	f.external = ts
	return nil
}

// addRegion registers a region with PD-form (encoded) boundaries.
func (f *fakePD) addRegion(id uint64, start, end []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	peer := &metapb.Peer{Id: id * 10, StoreId: 1}
	f.regions = append(f.regions, &router.Region{
		Meta:    &metapb.Region{Id: id, StartKey: start, EndKey: end, RegionEpoch: &metapb.RegionEpoch{Version: 1, ConfVer: 1}, Peers: []*metapb.Peer{peer}},
		Leader:  peer,
		Buckets: &metapb.Buckets{RegionId: id, Keys: [][]byte{start, end}},
	})
	sort.Slice(f.regions, func(i, j int) bool { return bytes.Compare(f.regions[i].Meta.StartKey, f.regions[j].Meta.StartKey) < 0 })
}

func contains(r *router.Region, key []byte) bool {
	return bytes.Compare(r.Meta.StartKey, key) <= 0 && (len(r.Meta.EndKey) == 0 || bytes.Compare(key, r.Meta.EndKey) < 0)
}

func (f *fakePD) GetRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	f.getRegion.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.regionErr != nil {
		return nil, f.regionErr
	}
	f.lastKey = key
	for _, r := range f.regions {
		if contains(r, key) {
			return r, nil
		}
	}
	return nil, nil
}

func (f *fakePD) GetPrevRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.regions {
		if contains(r, key) && i > 0 {
			return f.regions[i-1], nil
		}
	}
	return nil, nil
}

func (f *fakePD) GetRegionByID(_ context.Context, id uint64, _ ...opt.GetRegionOption) (*router.Region, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.regions {
		if r.Meta.Id == id {
			return r, nil
		}
	}
	return nil, nil
}

func (f *fakePD) ScanRegions(_ context.Context, key, end []byte, limit int, _ ...opt.GetRegionOption) ([]*router.Region, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*router.Region
	for _, r := range f.regions {
		if len(r.Meta.EndKey) > 0 && bytes.Compare(r.Meta.EndKey, key) <= 0 {
			continue
		}
		if len(end) > 0 && bytes.Compare(r.Meta.StartKey, end) >= 0 {
			break
		}
		out = append(out, r)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (f *fakePD) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	if f.batchErr != nil {
		return nil, f.batchErr
	}
	var out []*router.Region
	for _, r := range ranges {
		got, _ := f.ScanRegions(ctx, r.StartKey, r.EndKey, 0)
		out = append(out, got...)
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakePD) GetStore(_ context.Context, id uint64, _ ...opt.GetStoreOption) (*metapb.Store, error) {
	for _, s := range f.stores {
		if s.Id == id {
			return s, nil
		}
	}
	return nil, nil
}

func (f *fakePD) GetAllStores(context.Context, ...opt.GetStoreOption) ([]*metapb.Store, error) {
	return f.stores, nil
}

func (f *fakePD) LoadKeyspace(_ context.Context, name string) (*keyspacepb.KeyspaceMeta, error) {
	if f.ksErr != nil {
		return nil, f.ksErr
	}
	m, ok := f.keyspaces[name]
	if !ok {
		return nil, errors.New(`Load keyspace ` + name + ` failed: type:ENTRY_NOT_FOUND message:"keyspace does not exist"`)
	}
	return m, nil
}

func (f *fakePD) addKeyspace(id uint32, name string, state keyspacepb.KeyspaceState, cfg map[string]string) {
	f.keyspaces[name] = &keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: id}, Name: name, State: state, Config: cfg}
}

func (f *fakePD) GetGCStatesClient(ks uint32) gc.GCStatesClient           { return fakeGC{f, ks} }
func (f *fakePD) GetGCInternalController(ks uint32) gc.InternalController { return fakeGC{f, ks} }

func (f *fakePD) SplitRegions(_ context.Context, keys [][]byte, _ ...opt.RegionsOption) (*pdpb.SplitRegionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.splitKeys = keys
	return &pdpb.SplitRegionsResponse{FinishedPercentage: 100, RegionsId: []uint64{7, 8}}, nil
}

func (f *fakePD) ScatterRegions(_ context.Context, ids []uint64, _ ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scattered = ids
	return &pdpb.ScatterRegionResponse{FinishedPercentage: 100}, nil
}

func (f *fakePD) GetOperator(context.Context, uint64) (*pdpb.GetOperatorResponse, error) {
	return &pdpb.GetOperatorResponse{Desc: []byte(f.opDesc), Status: pdpb.OperatorStatus_RUNNING}, nil
}

func (f *fakePD) Close() { f.closed.Add(1) }

// fakeGC is the GC states API of fakePD for one keyspace.
type fakeGC struct {
	f  *fakePD
	ks uint32
}

func (g fakeGC) GetGCState(_ context.Context, opts ...gc.GCStatesAPIOption) (gc.GCState, error) {
	g.f.gcCalls.Add(1)
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	if g.f.gcErr != nil {
		return gc.GCState{}, g.f.gcErr
	}
	o := gc.DefaultGCStatesAPIOptions()
	for _, f := range opts {
		f(&o)
	}
	st := g.f.gcState
	if o.ExcludeGCBarriers {
		return gc.NewGCStateWithoutGCBarriers(g.ks, st.TxnSafePoint, st.GCSafePoint), nil
	}
	var bs []*gc.GCBarrierInfo
	for _, b := range g.f.barriers {
		bs = append(bs, b)
	}
	return gc.NewGCStateWithGCBarriers(g.ks, st.TxnSafePoint, st.GCSafePoint, bs), nil
}

func (g fakeGC) SetGCBarrier(_ context.Context, id string, ts uint64, ttl time.Duration) (*gc.GCBarrierInfo, error) {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	if g.f.gcErr != nil {
		return nil, g.f.gcErr
	}
	if ts < g.f.gcState.TxnSafePoint {
		return nil, errors.New(`type:INVALID_VALUE message:"barrier ts behind txn safe point"`)
	}
	b := gc.NewGCBarrierInfo(id, ts, ttl, time.Now())
	g.f.barriers[id] = b
	return b, nil
}

func (g fakeGC) DeleteGCBarrier(_ context.Context, id string) (*gc.GCBarrierInfo, error) {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	b := g.f.barriers[id]
	delete(g.f.barriers, id)
	return b, nil
}

func (g fakeGC) SetGlobalGCBarrier(context.Context, string, uint64, time.Duration) (*gc.GlobalGCBarrierInfo, error) {
	return nil, errUnimplemented
}

func (g fakeGC) DeleteGlobalGCBarrier(context.Context, string) (*gc.GlobalGCBarrierInfo, error) {
	return nil, errUnimplemented
}

func (g fakeGC) GetAllKeyspacesGCStates(context.Context, ...gc.GCStatesAPIOption) (gc.ClusterGCStates, error) {
	return gc.ClusterGCStates{}, errUnimplemented
}

func (g fakeGC) AdvanceTxnSafePoint(_ context.Context, target uint64) (gc.AdvanceTxnSafePointResult, error) {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	if g.f.gcErr != nil {
		return gc.AdvanceTxnSafePointResult{}, g.f.gcErr
	}
	old := g.f.gcState.TxnSafePoint
	next, blocker := target, ""
	for _, b := range g.f.barriers {
		if b.BarrierTS < next {
			next, blocker = b.BarrierTS, "barrier "+b.BarrierID
		}
	}
	g.f.gcState.TxnSafePoint = max(old, next)
	return gc.AdvanceTxnSafePointResult{OldTxnSafePoint: old, Target: target, NewTxnSafePoint: g.f.gcState.TxnSafePoint, BlockerDescription: blocker}, nil
}

func (g fakeGC) AdvanceGCSafePoint(_ context.Context, target uint64) (gc.AdvanceGCSafePointResult, error) {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	if target > g.f.gcState.TxnSafePoint {
		return gc.AdvanceGCSafePointResult{}, errors.New(`type:INVALID_VALUE message:"beyond txn safe point"`)
	}
	old := g.f.gcState.GCSafePoint
	g.f.gcState.GCSafePoint = target
	return gc.AdvanceGCSafePointResult{OldGCSafePoint: old, Target: target, NewGCSafePoint: target}, nil
}

// fakeClock is a manual Clock: timers fire only when Advance passes their deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// Advance moves time forward and fires due timers.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Waiters returns how many timers are pending.
func (c *fakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// skipClock fires short timers (backoff sleeps) at once and never fires long ones
// (background refresh), so retry loops run instantly and refreshers stay idle.
type skipClock struct{}

func (skipClock) Now() time.Time { return time.Now() }

func (skipClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if d < time.Minute {
		ch <- time.Now()
	}
	return ch
}

// idleConfig is a Config whose background loops stay idle and whose backoffs are instant.
func idleConfig() Config {
	return Config{Clock: skipClock{}, LowResolutionInterval: time.Hour, SafePointRefresh: time.Hour, SafePointRetry: time.Hour}
}

// newTestClient builds a Client over f and closes it at the end of the test.
func newTestClient(t *testing.T, cfg Config, f *fakePD) *Client {
	t.Helper()
	c, err := NewWithBackend(context.Background(), cfg, f)
	if err != nil {
		t.Fatalf("NewWithBackend: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds or the test times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
