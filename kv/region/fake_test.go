package region

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// fakeCluster is a multi-store, multi-region cluster under the test's control. It is
// both the RegionSource (fake PD) and the Transport (fake TiKV) of the tests.
type fakeCluster struct {
	mu        sync.Mutex
	regions   map[uint64]*metapb.Region
	leaders   map[uint64]uint64 // region ID -> leader store ID
	stores    map[uint64]*metapb.Store
	down      map[uint64]bool // store refuses connections
	blackhole map[uint64]bool // store never answers
	data      map[string][]byte
	nextID    uint64

	pdRegion  atomic.Int64 // region calls to PD
	pdStore   atomic.Int64
	sends     atomic.Int64
	pdDelay   time.Duration
	pdLeader  bool // PD reports the leader (else no leader)
	inject    func(storeID uint64, c *kvrpcpb.Context) *errorpb.Error
	safeTS    map[uint64]bool // store serves stale reads
	sentTo    []uint64        // store of every request, in order
	sentCtx   []*kvrpcpb.Context
	probeFail map[uint64]bool
	closed    []string
}

// newFakeCluster builds stores 1..nStores and regions split at splits, each with a peer
// on every store, led by store 1.
func newFakeCluster(nStores int, splits ...string) *fakeCluster {
	f := &fakeCluster{regions: map[uint64]*metapb.Region{}, leaders: map[uint64]uint64{},
		stores: map[uint64]*metapb.Store{}, down: map[uint64]bool{}, blackhole: map[uint64]bool{},
		data: map[string][]byte{}, nextID: 1000, pdLeader: true, safeTS: map[uint64]bool{},
		probeFail: map[uint64]bool{}}
	for i := 1; i <= nStores; i++ {
		f.stores[uint64(i)] = &metapb.Store{Id: uint64(i), Address: fmt.Sprintf("store%d", i),
			Labels: []*metapb.StoreLabel{{Key: "zone", Value: fmt.Sprintf("z%d", i)}}}
	}
	bounds := append([]string{""}, splits...)
	for i, s := range bounds {
		end := ""
		if i+1 < len(bounds) {
			end = bounds[i+1]
		}
		id := uint64(i + 1)
		r := &metapb.Region{Id: id, StartKey: []byte(s), EndKey: []byte(end),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
		for sid := 1; sid <= nStores; sid++ {
			r.Peers = append(r.Peers, &metapb.Peer{Id: id*100 + uint64(sid), StoreId: uint64(sid)})
		}
		f.regions[id] = r
		f.leaders[id] = 1
	}
	return f
}

func cloneRegion(r *metapb.Region) *metapb.Region {
	out := *r
	e := *r.RegionEpoch
	out.RegionEpoch = &e
	out.Peers = append([]*metapb.Peer(nil), r.Peers...)
	return &out
}

func (f *fakeCluster) regionOf(key []byte) *metapb.Region {
	for _, r := range f.regions {
		if bytes.Compare(key, r.StartKey) >= 0 && (len(r.EndKey) == 0 || bytes.Compare(key, r.EndKey) < 0) {
			return r
		}
	}
	return nil
}

func (f *fakeCluster) pdAnswer(r *metapb.Region) *pd.Region {
	out := &pd.Region{Meta: cloneRegion(r)}
	if f.pdLeader {
		for _, p := range r.Peers {
			if p.StoreId == f.leaders[r.Id] {
				out.Leader = p
			}
		}
	}
	return out
}

func (f *fakeCluster) delay(ctx context.Context) error {
	if f.pdDelay == 0 {
		return nil
	}
	select {
	case <-time.After(f.pdDelay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeCluster) GetRegion(ctx context.Context, key []byte, _ ...pd.RegionOption) (*pd.Region, error) {
	f.pdRegion.Add(1)
	if err := f.delay(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.regionOf(key)
	if r == nil {
		return nil, pd.ErrRegionNotFound
	}
	return f.pdAnswer(r), nil
}

func (f *fakeCluster) GetPrevRegion(ctx context.Context, key []byte, _ ...pd.RegionOption) (*pd.Region, error) {
	f.pdRegion.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.regions {
		if len(r.EndKey) > 0 && bytes.Equal(r.EndKey, key) {
			return f.pdAnswer(r), nil
		}
	}
	return nil, pd.ErrRegionNotFound
}

func (f *fakeCluster) GetRegionByID(ctx context.Context, id uint64, _ ...pd.RegionOption) (*pd.Region, error) {
	f.pdRegion.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.regions[id]; ok {
		return f.pdAnswer(r), nil
	}
	return nil, pd.ErrRegionNotFound
}

func (f *fakeCluster) BatchScanRegions(ctx context.Context, ranges []kv.KeyRange, limit int, _ ...pd.RegionOption) ([]*pd.Region, error) {
	f.pdRegion.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*metapb.Region
	for _, r := range f.regions {
		for _, kr := range ranges {
			if _, ok := (kv.KeyRange{Start: r.StartKey, End: r.EndKey}).Intersect(kr); ok {
				all = append(all, r)
				break
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].StartKey, all[j].StartKey) < 0 })
	var out []*pd.Region
	for _, r := range all {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, f.pdAnswer(r))
	}
	return out, nil
}

func (f *fakeCluster) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	f.pdStore.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.stores[id]
	if !ok || s.State == metapb.StoreState_Tombstone {
		return nil, pd.ErrStoreNotFound
	}
	c := *s
	return &c, nil
}

func (f *fakeCluster) storeByAddr(addr string) *metapb.Store {
	for _, s := range f.stores {
		if s.Address == addr {
			return s
		}
	}
	return nil
}

// Invoke is the fake TiKV: it checks routing like TiKV does and serves RawGet/RawPut.
func (f *fakeCluster) Invoke(ctx context.Context, addr string, req Request) (Response, error) {
	f.sends.Add(1)
	f.mu.Lock()
	s := f.storeByAddr(addr)
	if s == nil || f.down[s.Id] {
		f.mu.Unlock()
		return nil, errors.New("connection refused")
	}
	if f.blackhole[s.Id] {
		f.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	c := req.GetContext()
	cc := *c
	f.sentTo = append(f.sentTo, s.Id)
	f.sentCtx = append(f.sentCtx, &cc)
	var re *errorpb.Error
	if f.inject != nil {
		re = f.inject(s.Id, c)
	}
	if re == nil {
		re = f.check(s.Id, c)
	}
	defer f.mu.Unlock()
	switch r := req.(type) {
	case *kvrpcpb.RawGetRequest:
		if re != nil {
			return &kvrpcpb.RawGetResponse{RegionError: re}, nil
		}
		v, ok := f.data[string(r.Key)]
		return &kvrpcpb.RawGetResponse{Value: v, NotFound: !ok}, nil
	case *kvrpcpb.RawPutRequest:
		if re != nil {
			return &kvrpcpb.RawPutResponse{RegionError: re}, nil
		}
		f.data[string(r.Key)] = r.Value
		return &kvrpcpb.RawPutResponse{}, nil
	case *kvrpcpb.RawBatchGetRequest:
		if re != nil {
			return &kvrpcpb.RawBatchGetResponse{RegionError: re}, nil
		}
		reg := f.regions[c.RegionId]
		out := &kvrpcpb.RawBatchGetResponse{}
		for _, k := range r.Keys {
			if bytes.Compare(k, reg.StartKey) < 0 || len(reg.EndKey) > 0 && bytes.Compare(k, reg.EndKey) >= 0 {
				return &kvrpcpb.RawBatchGetResponse{RegionError: &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: k}}}, nil
			}
			out.Pairs = append(out.Pairs, &kvrpcpb.KvPair{Key: k, Value: f.data[string(k)]})
		}
		return out, nil
	}
	return nil, fmt.Errorf("fake: unsupported %T", req)
}

// check does what TiKV does before serving: region known, epoch current, peer here,
// leadership for leader reads, safe ts for stale reads.
func (f *fakeCluster) check(storeID uint64, c *kvrpcpb.Context) *errorpb.Error {
	r, ok := f.regions[c.RegionId]
	if !ok {
		return &errorpb.Error{Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{RegionId: c.RegionId}}
	}
	if c.Peer.GetStoreId() != storeID {
		return &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: c.Peer.GetStoreId(), ActualStoreId: storeID}}
	}
	onStore := false
	for _, p := range r.Peers {
		onStore = onStore || p.StoreId == storeID
	}
	if !onStore {
		return &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: c.RegionId}}
	}
	if e := c.RegionEpoch; e.GetVersion() != r.RegionEpoch.Version || e.GetConfVer() != r.RegionEpoch.ConfVer {
		var cur []*metapb.Region
		for _, o := range f.regions {
			cur = append(cur, cloneRegion(o))
		}
		return &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: cur}}
	}
	if c.StaleRead && !f.safeTS[storeID] {
		return &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{RegionId: r.Id, PeerId: c.Peer.Id}}
	}
	if !c.ReplicaRead && !c.StaleRead && f.leaders[r.Id] != 0 && f.leaders[r.Id] != storeID {
		var leader *metapb.Peer
		for _, p := range r.Peers {
			if p.StoreId == f.leaders[r.Id] {
				leader = p
			}
		}
		return &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: leader}}
	}
	return nil
}

func (f *fakeCluster) Probe(ctx context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.storeByAddr(addr)
	if s == nil || f.down[s.Id] || f.blackhole[s.Id] || f.probeFail[s.Id] {
		return errors.New("unhealthy")
	}
	return nil
}

func (f *fakeCluster) CloseAddr(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, addr)
}

// split splits the region holding key at key; both halves get a new version.
func (f *fakeCluster) split(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.regionOf([]byte(key))
	f.nextID++
	left := cloneRegion(r)
	left.Id = f.nextID
	left.EndKey = []byte(key)
	for i, p := range left.Peers {
		left.Peers[i] = &metapb.Peer{Id: p.Id + 10000*f.nextID, StoreId: p.StoreId}
	}
	r.StartKey = []byte(key)
	r.RegionEpoch.Version++
	left.RegionEpoch.Version = r.RegionEpoch.Version
	f.regions[left.Id] = left
	f.leaders[left.Id] = f.leaders[r.Id]
}

// merge merges the region holding key with the one after it.
func (f *fakeCluster) merge(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.regionOf([]byte(key))
	r := f.regionOf(l.EndKey)
	delete(f.regions, l.Id)
	r.StartKey = l.StartKey
	r.RegionEpoch.Version = max(l.RegionEpoch.Version, r.RegionEpoch.Version) + 1
}

func (f *fakeCluster) setLeader(key string, store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaders[f.regionOf([]byte(key)).Id] = store
}

func (f *fakeCluster) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeCluster) sent() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.sentTo...)
}

func (f *fakeCluster) contexts() []*kvrpcpb.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*kvrpcpb.Context(nil), f.sentCtx...)
}

func (f *fakeCluster) resetSent() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sentTo, f.sentCtx = nil, nil
}

// fakeClock sleeps no real time; it records the sleeps.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}

// env is a cache and sender over a fake cluster.
type env struct {
	f     *fakeCluster
	cache *Cache
	s     *Sender
	clock *fakeClock
}

func newEnv(t *testing.T, f *fakeCluster, cfg Config) *env {
	t.Helper()
	if cfg.Prober == nil {
		cfg.Prober = f
	}
	c := New(f, cfg)
	t.Cleanup(func() { c.Close() })
	clk := &fakeClock{now: time.Unix(1000, 0)}
	return &env{f: f, cache: c, s: NewSender(c, f, SenderConfig{Clock: clk}), clock: clk}
}

func (e *env) bo() *backoff.Backoffer { return e.s.NewBackoffer(nil) }

func (e *env) get(t *testing.T, key string, opts *Options) (*kvrpcpb.RawGetResponse, error) {
	t.Helper()
	return Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, []byte(key),
		&kvrpcpb.RawGetRequest{Key: []byte(key)}, opts)
}
