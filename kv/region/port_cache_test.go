package region

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// Location bounds: Contains is [start, end), ContainsEnd is (start, end]; an empty end is
// unbounded.
// client-go: internal/locate/region_cache_test.go TestContains, TestContainsByEnd
func TestPortLocationContains(t *testing.T) {
	loc := &Location{StartKey: kv.Key("b"), EndKey: kv.Key("d")}
	open := &Location{StartKey: kv.Key("b")}
	for _, tc := range []struct {
		l           *Location
		key         string
		in, inByEnd bool
	}{
		{loc, "a", false, false},
		{loc, "b", true, false},
		{loc, "c", true, true},
		{loc, "d", false, true},
		{loc, "e", false, false},
		{open, "b", true, false},
		{open, "zzz", true, true},
		{&Location{}, "", true, false},
		{&Location{}, "x", true, true},
	} {
		if got := tc.l.Contains([]byte(tc.key)); got != tc.in {
			t.Errorf("%v.Contains(%q) = %v", tc.l.Range(), tc.key, got)
		}
		if got := tc.l.ContainsEnd([]byte(tc.key)); got != tc.inByEnd {
			t.Errorf("%v.ContainsEnd(%q) = %v", tc.l.Range(), tc.key, got)
		}
	}
}

// A split or merge seen by PD reaches the cache once the old version is invalidated; an
// invalidated region that did not change reloads as the same version.
// client-go: internal/locate/region_cache_test.go TestSplit, TestMerge, TestReconnect
func TestPortSplitMergeReconnect(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	ctx := context.Background()

	// Reconnect: invalidated, reloaded unchanged.
	loc := mustLocate(t, e.cache, "x")
	e.cache.Invalidate(ctx, loc.Region, ReasonOther)
	if e.cache.TryLocate([]byte("x")) != nil {
		t.Fatal("invalidated region still served")
	}
	if again := mustLocate(t, e.cache, "x"); again.Region != loc.Region {
		t.Fatalf("reloaded %v, want %v", again.Region, loc.Region)
	}

	// Split at "m": until invalidated the cache keeps the old range.
	f.split("m")
	if stale := mustLocate(t, e.cache, "x"); stale.Region != loc.Region {
		t.Fatalf("cache changed without an invalidation: %v", stale.Region)
	}
	e.cache.Invalidate(ctx, loc.Region, ReasonEpochNotMatch)
	right := mustLocate(t, e.cache, "x")
	left := mustLocate(t, e.cache, "a")
	if right.Region.ID != loc.Region.ID || string(right.StartKey) != "m" || right.Region.Ver <= loc.Region.Ver {
		t.Fatalf("after split, x in %v %v", right.Region, right.Range())
	}
	if left.Region.ID == right.Region.ID || string(left.EndKey) != "m" {
		t.Fatalf("after split, a in %v %v", left.Region, left.Range())
	}

	// Merge the halves back: the left region's ID is gone.
	f.merge("a")
	e.cache.Invalidate(ctx, left.Region, ReasonRegionNotFound)
	merged := mustLocate(t, e.cache, "a")
	if merged.Region.ID != right.Region.ID || len(merged.StartKey) != 0 || len(merged.EndKey) != 0 {
		t.Fatalf("after merge, a in %v %v", merged.Region, merged.Range())
	}
	// The merged region replaced the cached right half too.
	if got := mustLocate(t, e.cache, "x"); got.Region != merged.Region {
		t.Fatalf("after merge, x in %v, want %v", got.Region, merged.Region)
	}
	if e.cache.Len() != 1 {
		t.Fatalf("%d regions cached after merge, want 1", e.cache.Len())
	}
}

// Store labels come from PD; when a store's labels change (a restart with new labels),
// the refreshed store keeps its identity, so cached regions see the new labels and a
// label-matching read follows them without reloading the region.
// client-go: internal/locate/region_cache_test.go TestStoreLabels,
// TestStoreRestartWithNewLabels, TestIssue1401
func TestPortStoreLabelsFollowRestart(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{StoreRefreshInterval: 5 * time.Millisecond})
	ctx := context.Background()
	mustGet(t, e, "a", nil)
	for id := uint64(1); id <= 3; id++ {
		s, err := e.cache.Store(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if l := s.Labels(); len(l) != 1 || l[0].Key != "zone" || l[0].Value != fmt.Sprintf("z%d", id) {
			t.Fatalf("store %d labels %v", id, l)
		}
	}
	s3, _ := e.cache.Store(ctx, 3)
	f.set(func() {
		f.stores[3].Labels = []*metapb.StoreLabel{{Key: "zone", Value: "z9"}, {Key: "host", Value: "h3"}}
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(s3.Labels()) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("store 3 labels never refreshed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s, _ := e.cache.Store(ctx, 3); s != s3 {
		t.Fatal("refreshing labels replaced the store")
	}
	calls := f.pdRegion.Load()
	want := []*metapb.StoreLabel{{Key: "zone", Value: "z9"}}
	for range 5 {
		f.resetSent()
		mustGet(t, e, "a", &Options{ReplicaRead: ReadFollower, MatchLabels: want})
		if got := f.sent(); len(got) != 1 || got[0] != 3 {
			t.Fatalf("read matching zone=z9 went to %v, want [3]", got)
		}
	}
	if f.pdRegion.Load() != calls {
		t.Error("a label change reloaded the region")
	}
}

// gapSource answers BatchScanRegions without one region, as a PD whose answer has a hole.
type gapSource struct {
	*fakeCluster
	skip uint64
}

func (g *gapSource) BatchScanRegions(ctx context.Context, ranges []kv.KeyRange, limit int, opts ...pd.RegionOption) ([]*pd.Region, error) {
	got, err := g.fakeCluster.BatchScanRegions(ctx, ranges, limit, opts...)
	var out []*pd.Region
	for _, r := range got {
		if r.Meta.GetId() != g.skip {
			out = append(out, r)
		}
	}
	return out, err
}

// A batched load whose answer misses a region in the middle of the range does not leave
// a hole: locating the range fills the gap and returns contiguous regions.
// client-go: internal/locate/region_cache_test.go TestScanRegionsWithGaps,
// TestRangesAreCoveredCheck (we fill gaps by a point lookup instead of rejecting the scan)
func TestPortLocateRangeFillsGaps(t *testing.T) {
	f := newFakeCluster(1, "b", "d", "f")
	c := New(&gapSource{fakeCluster: f, skip: 2}, Config{})
	defer c.Close()
	locs, err := c.LocateRange(context.Background(), []byte("a"), []byte("e"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, l := range locs {
		got = append(got, fmt.Sprintf("%d[%s,%s)", l.Region.ID, string(l.StartKey), string(l.EndKey)))
		if i > 0 && string(locs[i-1].EndKey) != string(l.StartKey) {
			t.Errorf("hole between %v and %v", locs[i-1].Range(), l.Range())
		}
	}
	if fmt.Sprint(got) != "[1[,b) 2[b,d) 3[d,f)]" {
		t.Fatalf("LocateRange = %v", got)
	}
}

// A send failure on a store makes every cached region with a peer on that store reload
// from PD at its next use, not only the region of the failed request.
// client-go: internal/locate/region_cache_test.go TestSendFailInvalidateRegionsInSameStore
func TestPortSendFailReloadsRegionsOnStore(t *testing.T) {
	f := newFakeCluster(1, "m")
	e := newEnv(t, f, Config{UnreachableRetry: time.Hour})
	mustGet(t, e, "a", nil)
	mustGet(t, e, "x", nil)
	f.set(func() { f.down[1] = true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("a"),
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, &Options{Budget: time.Millisecond}); err == nil {
		t.Fatal("read from a down store succeeded")
	}
	calls := f.pdRegion.Load()
	if e.cache.TryLocate([]byte("x")) != nil {
		t.Fatal("region on the failed store still served from the cache")
	}
	mustLocate(t, e.cache, "x")
	if f.pdRegion.Load() == calls {
		t.Error("region on the failed store not reloaded from PD")
	}
}

// PD may answer a batched scan with a region whose leader it does not know (an election
// in progress): the region is still cached and returned, and a read still finds the
// leader through its peers.
// client-go: internal/locate/region_cache_test.go TestReturnRegionWithNoLeader
func TestPortScanRegionWithoutLeader(t *testing.T) {
	f := newFakeCluster(3, "m")
	f.pdLeader = false
	f.setLeader("x", 2)
	e := newEnv(t, f, Config{})
	locs, err := e.cache.LocateRange(context.Background(), nil, nil)
	if err != nil || len(locs) != 2 || locs[1].Region.ID != 2 {
		t.Fatalf("LocateRange = %v, %v", locs, err)
	}
	calls := f.pdRegion.Load()
	mustGet(t, e, "x", nil)
	if f.pdRegion.Load() != calls {
		t.Errorf("a region cached without a leader was reloaded")
	}
	if l := leaderOf(t, e, "x"); l != 2 {
		t.Errorf("leader %d after the read, want 2", l)
	}
}

// LocateByID serves the newest cached version of a region: after a conf change or a
// split is cached, the lookup by ID answers with it, not with the older version.
// client-go: internal/locate/region_request_test.go TestGetRegionByIDFromCache (the
// EpochNotMatch-without-regions part is errtable_test.go's EpochNotMatch/empty row)
func TestPortLocateByIDServesNewestVersion(t *testing.T) {
	f := newFakeCluster(1)
	e := newEnv(t, f, Config{})
	ctx := context.Background()
	first, err := e.cache.LocateByID(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(start string, confVer, ver uint64) {
		t.Helper()
		m := cloneRegion(f.regions[1])
		m.StartKey = []byte(start)
		m.RegionEpoch = &metapb.RegionEpoch{ConfVer: confVer, Version: ver}
		r, err := e.cache.newRegion(ctx, &pd.Region{Meta: m, Leader: m.Peers[0]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !e.cache.insert(ctx, r) {
			t.Fatalf("insert of %d:%d refused", confVer, ver)
		}
	}
	insert("\x01", first.Region.ConfVer+1, first.Region.Ver)
	calls := f.pdRegion.Load()
	if l, err := e.cache.LocateByID(ctx, 1); err != nil || l.Region.ConfVer != first.Region.ConfVer+1 || string(l.StartKey) != "\x01" {
		t.Fatalf("after a conf change LocateByID = %+v, %v", l, err)
	}
	insert("\x02", first.Region.ConfVer+1, first.Region.Ver+1)
	if l, err := e.cache.LocateByID(ctx, 1); err != nil || l.Region.Ver != first.Region.Ver+1 || string(l.StartKey) != "\x02" {
		t.Fatalf("after a split LocateByID = %+v, %v", l, err)
	}
	if f.pdRegion.Load() != calls {
		t.Error("LocateByID asked PD although the cache held the newest version")
	}
}

// A NotLeader naming a peer on a store the cached region does not know drops the region;
// the reload from PD brings the new peer, and once it leads, leader reads go to it and
// follower reads to the others.
// client-go: internal/locate/region_cache_test.go TestUpdateLeader, TestUpdateLeader2
func TestPortUpdateLeaderToNewPeer(t *testing.T) {
	f := newFakeCluster(4)
	f.regions[1].Peers = f.regions[1].Peers[:3] // store 4 holds no peer yet
	e := newEnv(t, f, Config{})
	ctx := context.Background()
	loc := mustLocate(t, e.cache, "a")
	if !e.cache.UpdateLeader(ctx, loc.Region, 2) || leaderOf(t, e, "a") != 2 {
		t.Fatal("leader update to a known peer")
	}
	e.cache.UpdateLeader(ctx, loc.Region, 1)
	// A peer on store 4 is added and TiKV names it leader.
	f.set(func() {
		r := f.regions[1]
		r.Peers = append(r.Peers, &metapb.Peer{Id: 104, StoreId: 4})
		r.RegionEpoch.ConfVer++
	})
	if e.cache.UpdateLeader(ctx, loc.Region, 4) {
		t.Fatal("leader update to an unknown store succeeded")
	}
	if e.cache.TryLocate([]byte("a")) != nil {
		t.Fatal("region with an unknown leader store still cached")
	}
	loc = mustLocate(t, e.cache, "a")
	if leaderOf(t, e, "a") != 1 {
		t.Fatalf("reloaded leader %d, want PD's 1", leaderOf(t, e, "a"))
	}
	f.setLeader("a", 4)
	if !e.cache.UpdateLeader(ctx, loc.Region, 4) || leaderOf(t, e, "a") != 4 {
		t.Fatal("leader update to the new peer")
	}
	f.resetSent()
	mustGet(t, e, "a", nil)
	for range 10 {
		mustGet(t, e, "a", &Options{ReplicaRead: ReadFollower})
	}
	sent := f.sent()
	if sent[0] != 4 {
		t.Errorf("leader read went to store %d, want 4", sent[0])
	}
	for _, s := range sent[1:] {
		if s == 4 {
			t.Errorf("a follower read went to the leader: %v", sent)
			break
		}
	}
}
