package region

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

func mustLocate(t *testing.T, c *Cache, key string) *Location {
	t.Helper()
	loc, err := c.Locate(context.Background(), []byte(key))
	if err != nil {
		t.Fatalf("Locate(%q): %v", key, err)
	}
	return loc
}

// client-go: internal/locate/region_cache_test.go TestSimple; LocateEndKey per SB-18
func TestLocateAndLocateEnd(t *testing.T) {
	f := newFakeCluster(3, "b", "d")
	e := newEnv(t, f, Config{})
	ctx := context.Background()
	cases := []struct {
		key    string
		end    bool
		region uint64
	}{
		{"a", false, 1}, {"b", false, 2}, {"c", false, 2}, {"d", false, 3}, {"zz", false, 3},
		{"a", true, 1}, {"b", true, 1}, {"c", true, 2}, {"d", true, 2}, {"e", true, 3},
	}
	for _, tc := range cases {
		var loc *Location
		var err error
		if tc.end {
			loc, err = e.cache.LocateEnd(ctx, []byte(tc.key))
		} else {
			loc, err = e.cache.Locate(ctx, []byte(tc.key))
		}
		if err != nil || loc.Region.ID != tc.region {
			t.Errorf("locate(%q, end=%v) = %v, %v; want region %d", tc.key, tc.end, loc, err, tc.region)
			continue
		}
		if tc.end && !loc.ContainsEnd([]byte(tc.key)) || !tc.end && !loc.Contains([]byte(tc.key)) {
			t.Errorf("location %v does not contain %q", loc.Range(), tc.key)
		}
	}
	calls := f.pdRegion.Load()
	mustLocate(t, e.cache, "c")
	if _, err := e.cache.LocateEnd(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	if f.pdRegion.Load() != calls {
		t.Errorf("cached lookups asked PD")
	}
	if _, err := e.cache.LocateEnd(ctx, nil); !errors.Is(err, kv.ErrInvalidRange) {
		t.Errorf("LocateEnd(empty) = %v", err)
	}
	if got := e.cache.TryLocate([]byte("c")); got == nil || got.Region.ID != 2 {
		t.Errorf("TryLocate = %v", got)
	}
	if e.cache.Len() != 3 || e.cache.Stats().PDCalls == 0 {
		t.Errorf("Len %d PDCalls %d", e.cache.Len(), e.cache.Stats().PDCalls)
	}
}

// client-go: internal/locate/region_cache_test.go TestBatchLoadRegions
func TestLocateRangeAndGroupKeys(t *testing.T) {
	f := newFakeCluster(3, "b", "d", "f", "h")
	e := newEnv(t, f, Config{BatchLimit: 2})
	ctx := context.Background()
	locs, err := e.cache.LocateRange(ctx, []byte("a"), []byte("g"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, l := range locs {
		ids = append(ids, l.Region.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3 4]" {
		t.Fatalf("LocateRange regions %v", ids)
	}
	if e.cache.Len() < 4 {
		t.Errorf("batch load cached %d regions", e.cache.Len())
	}
	calls := f.pdRegion.Load()
	if calls > 3 {
		t.Errorf("LocateRange made %d PD calls, want batched", calls)
	}
	locs, err = e.cache.LocateRange(ctx, []byte("c"), nil)
	if err != nil || len(locs) != 4 {
		t.Fatalf("unbounded LocateRange = %d, %v", len(locs), err)
	}
	groups, err := e.cache.GroupKeysByRegion(ctx, [][]byte{[]byte("a"), []byte("c"), []byte("a1"), []byte("i")})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 || len(groups[0].Keys) != 2 || groups[2].Location.Region.ID != 5 {
		t.Errorf("groups %+v", groups)
	}
	if err := e.cache.LoadRanges(ctx, nil); err != nil {
		t.Error(err)
	}
}

// The PD-stampede acceptance test: 1000 concurrent cold lookups of one region make one
// PD region call (user-asks §7, client-go#730).
func TestConcurrentColdLookupsMakeOnePDCall(t *testing.T) {
	for _, sameKey := range []bool{true, false} {
		f := newFakeCluster(3, "m")
		f.pdDelay = 50 * time.Millisecond
		e := newEnv(t, f, Config{JoinWait: 10 * time.Second}) // no timing luck needed on a loaded machine
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := 0; i < 1000; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := "a"
				if !sameKey {
					key = fmt.Sprintf("a%d", i)
				}
				if loc, err := e.cache.Locate(context.Background(), []byte(key)); err != nil || loc.Region.ID != 1 {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d lookups failed", failed.Load())
		}
		if n := f.pdRegion.Load(); n != 1 {
			t.Errorf("sameKey=%v: %d PD region calls, want 1", sameKey, n)
		}
	}
}

func TestLoadWaitHonoursCtx(t *testing.T) {
	f := newFakeCluster(1)
	f.pdDelay = time.Second
	e := newEnv(t, f, Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.cache.Locate(context.Background(), []byte("a"))
	}()
	for f.pdRegion.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.cache.Locate(ctx, []byte("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting lookup = %v", err)
	}
	<-done
}

// Stale-insert protection (RC-3, SB-2); related: client-go
// internal/locate/region_cache_test.go TestRegionEpochAheadOfTiKV.
func TestStaleInsertDropped(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	ctx := context.Background()
	old := f.pdAnswer(cloneRegion(f.regions[1]))
	f.split("f") // the left half [, f) gets a new ID; region 1 keeps [f, m), version 2
	mustLocate(t, e.cache, "a")
	mustLocate(t, e.cache, "g")
	// A lagging PD answers with region 2's old epoch: the insert must be dropped.
	r, err := e.cache.newRegion(ctx, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.cache.insert(ctx, r) {
		t.Fatalf("stale region inserted")
	}
	if loc := mustLocate(t, e.cache, "g"); loc.Region.Ver != 2 {
		t.Errorf("location after stale insert: %+v", loc.Region)
	}
	// A newer region replaces the overlapping older ones.
	f.merge("a")
	nr, err := e.cache.newRegion(ctx, f.pdAnswer(f.regionOf([]byte("a"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !e.cache.insert(ctx, nr) {
		t.Fatal("merged region refused")
	}
	if e.cache.Len() != 1 {
		t.Errorf("after merge insert: %d regions cached, want 1", e.cache.Len())
	}
	if loc := e.cache.TryLocate([]byte("a")); loc == nil || loc.Region.ID != 1 || loc.Region.Ver != 3 {
		t.Errorf("merged region: %+v", loc)
	}
}

// TTL sliding and GC (RC-4); no single client-go test covers both.
func TestTTLAndGC(t *testing.T) {
	f := newFakeCluster(3, "m")
	var now atomic.Int64
	now.Store(time.Unix(100, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e := newEnv(t, f, Config{Now: clock, Rand: func(int64) int64 { return 0 }, GCInterval: time.Hour})
	mustLocate(t, e.cache, "a")
	now.Add(int64(500 * time.Second))
	mustLocate(t, e.cache, "a") // slides the TTL
	now.Add(int64(500 * time.Second))
	calls := f.pdRegion.Load()
	mustLocate(t, e.cache, "a")
	if f.pdRegion.Load() != calls {
		t.Errorf("TTL did not slide on access")
	}
	mustLocate(t, e.cache, "z")
	now.Add(int64(601 * time.Second))
	e.cache.gcRound()
	if e.cache.Len() != 0 {
		t.Errorf("GC left %d expired regions", e.cache.Len())
	}
	mustLocate(t, e.cache, "a")
	if f.pdRegion.Load() == calls {
		t.Errorf("expired region not reloaded")
	}
}

func TestBackgroundGCRemovesInvalidRegions(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{GCInterval: 5 * time.Millisecond, GCBatch: 1})
	loc := mustLocate(t, e.cache, "a")
	mustLocate(t, e.cache, "z")
	e.cache.Invalidate(context.Background(), loc.Region, ReasonOther)
	deadline := time.Now().Add(5 * time.Second)
	for e.cache.Len() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.cache.Len() != 1 {
		t.Errorf("background GC: %d regions", e.cache.Len())
	}
}

// Regions with down peers expire after their TTL even when used (RC-4).
func TestDownPeersDoNotSlideTTL(t *testing.T) {
	f := newFakeCluster(3)
	src := &downPeerSource{fakeCluster: f}
	var now atomic.Int64
	now.Store(time.Unix(100, 0).UnixNano())
	c := New(src, Config{Now: func() time.Time { return time.Unix(0, now.Load()) }, Rand: func(int64) int64 { return 0 }})
	defer c.Close()
	mustLocate(t, c, "a")
	now.Add(int64(599 * time.Second))
	mustLocate(t, c, "a")
	now.Add(int64(2 * time.Second))
	calls := f.pdRegion.Load()
	mustLocate(t, c, "a")
	if f.pdRegion.Load() == calls {
		t.Errorf("region with down peers slid its TTL")
	}
}

type downPeerSource struct{ *fakeCluster }

func (d *downPeerSource) GetRegion(ctx context.Context, key []byte, opts ...pd.RegionOption) (*pd.Region, error) {
	r, err := d.fakeCluster.GetRegion(ctx, key, opts...)
	if err == nil {
		r.DownPeers = []*metapb.Peer{r.Meta.Peers[2]}
	}
	return r, err
}

// client-go: internal/locate/region_cache_test.go TestUpdateLeader3 (leader updates, a
// leader on an unknown store invalidates) and TestSwitchPeerWhenNoLeader (after NoLeader
// the reload starts at the next peer, RC-3).
func TestNoLeaderReloadStartsAtNextPeer(t *testing.T) {
	f := newFakeCluster(3)
	f.pdLeader = false
	e := newEnv(t, f, Config{})
	ctx := context.Background()
	loc := mustLocate(t, e.cache, "a")
	if _, s := e.cache.region(loc.Region).leaderPeer(); s.id != 1 {
		t.Fatalf("leader store %d", s.id)
	}
	e.cache.Invalidate(ctx, loc.Region, ReasonNoLeader)
	loc = mustLocate(t, e.cache, "a")
	if _, s := e.cache.region(loc.Region).leaderPeer(); s.id != 2 {
		t.Errorf("after NoLeader reload leader store %d, want 2", s.id)
	}
	if !e.cache.UpdateLeader(ctx, loc.Region, 3) {
		t.Fatal("UpdateLeader failed")
	}
	if _, s := e.cache.region(loc.Region).leaderPeer(); s.id != 3 {
		t.Errorf("leader store %d, want 3", s.id)
	}
	if e.cache.UpdateLeader(ctx, loc.Region, 9) {
		t.Errorf("UpdateLeader to a store without a peer succeeded")
	}
	if e.cache.TryLocate([]byte("a")) != nil {
		t.Errorf("region not invalidated after leader on unknown store")
	}
	if e.cache.UpdateLeader(ctx, VerID{ID: 77}, 1) {
		t.Errorf("UpdateLeader of unknown region succeeded")
	}
}

// Peer filtering (RC-6): tombstone stores and witness followers are dropped.
func TestTombstoneStorePeersDropped(t *testing.T) {
	f := newFakeCluster(3)
	f.stores[3].State = metapb.StoreState_Tombstone
	f.regions[1].Peers[1].IsWitness = true
	e := newEnv(t, f, Config{})
	loc := mustLocate(t, e.cache, "a")
	if n := len(e.cache.region(loc.Region).peers); n != 1 {
		t.Errorf("%d peers kept, want 1 (tombstone and witness dropped)", n)
	}
	f.stores[1].State = metapb.StoreState_Tombstone
	e.cache.Invalidate(context.Background(), loc.Region, ReasonOther)
	e2 := newEnv(t, f, Config{})
	if _, err := e2.cache.Locate(context.Background(), []byte("a")); !errors.Is(err, kv.ErrRegionUnavailable) {
		t.Errorf("region without peers: %v", err)
	}
	if _, err := e2.cache.Store(context.Background(), 1); err == nil {
		t.Errorf("Store(tombstone) succeeded")
	}
	if s, err := e2.cache.Store(context.Background(), 2); err != nil || s.ID() != 2 || s.Addr() != "store2" {
		t.Errorf("Store(2) = %v, %v", s, err)
	}
}

func TestLocateByIDAndClose(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	ctx := context.Background()
	loc, err := e.cache.LocateByID(ctx, 2)
	if err != nil || string(loc.StartKey) != "m" {
		t.Fatalf("LocateByID = %v, %v", loc, err)
	}
	calls := f.pdRegion.Load()
	if _, err := e.cache.LocateByID(ctx, 2); err != nil || f.pdRegion.Load() != calls {
		t.Errorf("cached LocateByID asked PD (%v)", err)
	}
	if _, err := e.cache.LocateByID(ctx, 42); !errors.Is(err, kv.ErrRegionUnavailable) {
		t.Errorf("LocateByID(unknown) = %v", err)
	}
	// FromPD bypasses the cache (client-go's LocateRegionByIDFromPD).
	if l, err := e.cache.LocateByIDFromPD(ctx, 2); err != nil || f.pdRegion.Load() != calls+2 || string(l.StartKey) != "m" {
		t.Errorf("LocateByIDFromPD = %v, %v (PD calls %d, want %d)", l, err, f.pdRegion.Load(), calls+2)
	}
	// client-go: TestListRegionIDsInCache (ListRegionIDsInKeyRange).
	if ids, err := e.cache.RegionIDsInRange(ctx, []byte("a"), nil); err != nil || len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("RegionIDsInRange = %v, %v", ids, err)
	}
	if ids, err := e.cache.RegionIDsInRange(ctx, []byte("a"), []byte("b")); err != nil || len(ids) != 1 || ids[0] != 1 {
		t.Errorf("RegionIDsInRange(a, b) = %v, %v", ids, err)
	}
	e.cache.Close()
	e.cache.Close()
	if _, err := e.cache.Locate(ctx, []byte("zz")); err != nil {
		t.Errorf("cached lookup after Close: %v", err)
	}
	e.cache.Invalidate(ctx, loc.Region, ReasonOther)
	if _, err := e.cache.Locate(ctx, []byte("zz")); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Locate after Close = %v", err)
	}
	if _, err := e.cache.LocateByID(ctx, 2); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("LocateByID after Close = %v", err)
	}
	if err := e.cache.LoadRanges(ctx, []kv.KeyRange{{}}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("LoadRanges after Close = %v", err)
	}
}

// client-go: internal/locate/region_cache_test.go TestLocateBucket (RC-7)
func TestLocationBucket(t *testing.T) {
	loc := &Location{StartKey: kv.Key("b"), EndKey: kv.Key("x"),
		Buckets: &metapb.Buckets{Version: 1, Keys: [][]byte{[]byte("a"), []byte("c"), []byte("m"), nil}}}
	cases := map[string]string{"b": `["b", "c")`, "d": `["c", "m")`, "w": `["m", "x")`}
	for k, want := range cases {
		if got := loc.Bucket([]byte(k)).String(); got != want {
			t.Errorf("Bucket(%q) = %s, want %s", k, got, want)
		}
	}
	plain := &Location{StartKey: kv.Key("b")}
	if got := plain.Bucket([]byte("c")).String(); got != `["b", +inf)` {
		t.Errorf("no buckets: %s", got)
	}
}

func TestReasonAndModeNames(t *testing.T) {
	for r := ReasonNone; r <= ReasonOther; r++ {
		if r.String() == "" {
			t.Errorf("reason %d has no name", r)
		}
	}
	if ReadLearner.String() != "learner" || ReadLeader.String() != "leader" {
		t.Errorf("mode names")
	}
	if (VerID{1, 2, 3}).String() != "1:2:3" {
		t.Errorf("VerID string")
	}
}

// A slow load of one key does not hold up misses on other keys longer than JoinWait, and
// waiters on the same key share the loader's PD error.
func TestLoadCoalescingBounds(t *testing.T) {
	f := newFakeCluster(1, "m")
	src := &slowKeySource{fakeCluster: f, slow: "a", release: make(chan struct{})}
	c := New(src, Config{JoinWait: 10 * time.Millisecond})
	defer c.Close()
	done := make(chan error, 2)
	go func() {
		_, err := c.Locate(context.Background(), []byte("a"))
		done <- err
	}()
	for f.pdRegion.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		_, err := c.Locate(context.Background(), []byte("a")) // waits for the first
		done <- err
	}()
	start := time.Now()
	if _, err := c.Locate(context.Background(), []byte("z")); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("an unrelated miss waited %v for a stuck load", time.Since(start))
	}
	close(src.release)
	for i := 0; i < 2; i++ {
		if err := <-done; !errors.Is(err, kv.ErrPDUnavailable) {
			t.Errorf("load of the stuck key: %v", err)
		}
	}
	if n := f.pdRegion.Load(); n != 2 {
		t.Errorf("%d PD calls, want 2 (one per key)", n)
	}
}

// slowKeySource blocks lookups of one key until released, then fails them.
type slowKeySource struct {
	*fakeCluster
	slow    string
	release chan struct{}
}

func (s *slowKeySource) GetRegion(ctx context.Context, key []byte, opts ...pd.RegionOption) (*pd.Region, error) {
	if string(key) == s.slow {
		s.fakeCluster.pdRegion.Add(1)
		<-s.release
		return nil, &kv.BackoffError{Err: kv.ErrPDUnavailable, Kind: "pdRPC"}
	}
	return s.fakeCluster.GetRegion(ctx, key, opts...)
}

// PD load cap, stats and periodic range refresh (user-asks §7: rate-limited loads,
// metrics, periodic refresh).
func TestPDLoadCapStatsAndRefresh(t *testing.T) {
	f := newFakeCluster(1, "b", "c", "d", "e", "f", "g", "h")
	src := &countingSource{fakeCluster: f}
	f.pdDelay = 20 * time.Millisecond
	c := New(src, Config{MaxPDLoads: 2, JoinWait: time.Millisecond,
		RefreshRanges: []kv.KeyRange{{Start: []byte("a"), End: []byte("z")}}, RefreshInterval: 10 * time.Millisecond})
	defer c.Close()
	var wg sync.WaitGroup
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Locate(context.Background(), []byte(k)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := src.max.Load(); m > 2 {
		t.Errorf("%d concurrent PD loads, cap 2", m)
	}
	mustLocate(t, c, "a")
	st := c.Stats()
	if st.Hits == 0 || st.Misses == 0 || st.PDCalls == 0 || st.Regions == 0 || st.Loading != 0 {
		t.Errorf("stats %+v", st)
	}
	before := f.pdRegion.Load()
	deadline := time.Now().Add(5 * time.Second)
	for f.pdRegion.Load() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.pdRegion.Load() == before {
		t.Errorf("refresh ranges never reloaded")
	}
}

// countingSource records the largest number of concurrent GetRegion calls.
type countingSource struct {
	*fakeCluster
	cur, max atomic.Int64
}

func (s *countingSource) GetRegion(ctx context.Context, key []byte, opts ...pd.RegionOption) (*pd.Region, error) {
	n := s.cur.Add(1)
	defer s.cur.Add(-1)
	for {
		m := s.max.Load()
		if n <= m || s.max.CompareAndSwap(m, n) {
			break
		}
	}
	return s.fakeCluster.GetRegion(ctx, key, opts...)
}

// Keys TiKV reports (EpochNotMatch regions, bucket boundaries) are decoded into user keys
// with the keyspace codec and clamped to the keyspace.
func TestDecodeTiKVKeys(t *testing.T) {
	cdc, err := codec.NewV2(codec.ModeRaw, 7)
	if err != nil {
		t.Fatal(err)
	}
	c := New(newFakeCluster(1), Config{Codec: cdc})
	defer c.Close()
	got := c.decodeBucketKeys([][]byte{{0x01}, cdc.EncodeRegionKey([]byte("k")), cdc.EncodeRegionKey([]byte("k")), other8Key()})
	if len(got) != 3 || len(got[0]) != 0 || string(got[1]) != "k" || got[2] != nil {
		t.Errorf("bucket keys %q", got)
	}
	s, e := cdc.EncodeRegionRange([]byte("b"), []byte("d"))
	m, ok, err := c.decodeMeta(&metapb.Region{Id: 9, StartKey: s, EndKey: e})
	if err != nil || !ok || string(m.StartKey) != "b" || string(m.EndKey) != "d" {
		t.Errorf("decodeMeta = %v %v %v", m, ok, err)
	}
	other, _ := codec.NewV2(codec.ModeRaw, 8)
	os, oe := other.EncodeRegionRange([]byte("a"), []byte("b"))
	if _, ok, err := c.decodeMeta(&metapb.Region{Id: 9, StartKey: os, EndKey: oe}); ok || err != nil {
		t.Errorf("region outside the keyspace: ok %v err %v", ok, err)
	}
}

func other8Key() []byte {
	o, _ := codec.NewV2(codec.ModeRaw, 8)
	return o.EncodeRegionKey([]byte("a"))
}

// Peers PD reports down are not used: a follower read never goes to the down peer's
// store (RC-6).
// client-go: internal/locate/region_cache_test.go
// TestFilterDownPeersOrPeersOnTombstoneOrDroppedStores (the down-peer part).
func TestDownPeersAreNotUsed(t *testing.T) {
	f := newFakeCluster(3)
	src := &downPeerSource{fakeCluster: f}
	c := New(src, Config{Prober: f})
	defer c.Close()
	loc := mustLocate(t, c, "a")
	r := c.region(loc.Region)
	down := f.regionOf([]byte("a")).Peers[2]
	if len(r.peers) != 2 || r.peerIndexByStore(down.GetStoreId()) >= 0 {
		t.Fatalf("peers %v still hold the down peer %v", r.peers, down)
	}
	s := NewSender(c, f, SenderConfig{})
	for range 20 {
		f.resetSent()
		if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, []byte("a"),
			&kvrpcpb.RawGetRequest{Key: []byte("a")}, &Options{ReplicaRead: ReadFollower}); err != nil {
			t.Fatal(err)
		}
		for _, st := range f.sent() {
			if st == down.GetStoreId() {
				t.Fatalf("a follower read went to the down peer's store %d", st)
			}
		}
	}
}

// A region with a store found unreachable stops sliding its TTL, so it is reloaded from
// PD on schedule even while used (client-go: region_cache.go gcRoundFunc marking
// needExpireAfterTTL; RC-4).
func TestUnreachableStoreStopsTTLSliding(t *testing.T) {
	f := newFakeCluster(3)
	var now atomic.Int64
	now.Store(time.Unix(100, 0).UnixNano())
	c := New(f, Config{Now: func() time.Time { return time.Unix(0, now.Load()) }, Rand: func(int64) int64 { return 0 },
		UnreachableRetry: time.Hour, Prober: f})
	defer c.Close()
	loc := mustLocate(t, c, "a")
	now.Add(int64(599 * time.Second))
	mustLocate(t, c, "a") // slides: reachable stores
	st, err := c.Store(context.Background(), c.region(loc.Region).stores[1].id)
	if err != nil {
		t.Fatal(err)
	}
	c.stores.markUnreachable(st, time.Hour)
	mustLocate(t, c, "a") // reloaded (the store's epoch moved); stops sliding from here
	now.Add(int64(599 * time.Second))
	mustLocate(t, c, "a")
	calls := f.pdRegion.Load()
	now.Add(int64(2 * time.Second))
	mustLocate(t, c, "a")
	if f.pdRegion.Load() == calls {
		t.Error("a region with an unreachable store slid its TTL")
	}
}
