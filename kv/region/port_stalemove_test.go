package region

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// newZonedCluster has six stores, two per zone (stores 1, 4 in z1; 2, 5 in z2; 3, 6 in
// z3), and one region with a peer on stores 1, 2 and 3, led by store 1.
func newZonedCluster() *fakeCluster {
	f := newFakeCluster(6)
	for id, s := range f.stores {
		s.Labels = []*metapb.StoreLabel{{Key: "zone", Value: fmt.Sprintf("z%d", (id-1)%3+1)}}
	}
	r := f.regions[1]
	r.Peers = r.Peers[:3]
	f.safeTS = map[uint64]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true}
	return f
}

// movePeer moves the region's peer from store `from` to store `to` (a conf change).
func (f *fakeCluster) movePeer(from, to uint64) {
	r := f.regions[1]
	for i, p := range r.Peers {
		if p.StoreId == from {
			r.Peers[i] = &metapb.Peer{Id: p.Id + 1000, StoreId: to}
		}
	}
	r.RegionEpoch.ConfVer++
	if f.leaders[1] == from {
		f.leaders[1] = to
	}
}

// Stale reads from the leader's zone and a follower's zone after a peer moved to the
// other store of its zone, or a store was found down and came back, as in
// TestPortStaleReadScenarios.
// client-go: internal/locate/region_request_state_test.go TestRegionCacheStaleRead (the
// followerMove, leaderMove, leaderDownAndElect, followerDownAndUp and leaderDownAndUp
// scenarios)
func TestPortStaleReadAfterPeerMoves(t *testing.T) {
	type want struct {
		stores []uint64
		kind   string // stale, replica or leader
	}
	// Where the zone's replica moved we differ from client-go by design: TiKV's
	// RegionNotFound / EpochNotMatch refresh the region and the read goes to the new
	// replica in the caller's zone, as a stale read; client-go reads from the leader
	// (followerMove), returns the region error (leaderMove) or reads from a follower
	// (leaderDownAndElect) instead.
	cases := []struct {
		name                   string
		do                     func(f *fakeCluster)
		downAndUp              uint64 // a store found down that came back (its epoch moved)
		fromLeader, fromFollow want
	}{
		// DownAndUp: the cached region is reloaded at once, and the store that came
		// back counts as slow for a while, so a stale read from its zone goes to another
		// replica (not-slow outranks the label match, as in client-go's scores); client-go
		// reads from the leader (followerDownAndUp) or a follower (leaderDownAndUp).
		{"followerDownAndUp", func(*fakeCluster) {}, 2,
			want{[]uint64{1}, "stale"}, want{[]uint64{1, 3}, "stale"}},
		{"leaderDownAndUp", func(*fakeCluster) {}, 1,
			want{[]uint64{2, 3}, "stale"}, want{[]uint64{2}, "stale"}},
		{"followerMove", func(f *fakeCluster) { f.movePeer(2, 5) }, 0,
			want{[]uint64{1}, "stale"}, want{[]uint64{5}, "stale"}},
		{"leaderMove", func(f *fakeCluster) { f.movePeer(1, 4) }, 0,
			want{[]uint64{4}, "stale"}, want{[]uint64{2}, "stale"}},
		{"leaderDownAndElect", func(f *fakeCluster) { f.movePeer(1, 4); f.down[1] = true }, 0,
			want{[]uint64{4}, "stale"}, want{[]uint64{2}, "stale"}},
	}
	for _, tc := range cases {
		for _, local := range []int{1, 2} {
			exp := tc.fromLeader
			if local == 2 {
				exp = tc.fromFollow
			}
			t.Run(fmt.Sprintf("%s/from-z%d", tc.name, local), func(t *testing.T) {
				f := newZonedCluster()
				e := newEnv(t, f, Config{})
				mustGet(t, e, "a", nil)
				f.set(func() { tc.do(f) })
				if tc.downAndUp != 0 {
					st, err := e.cache.Store(context.Background(), tc.downAndUp)
					if err != nil {
						t.Fatal(err)
					}
					e.cache.stores.markUnreachable(st, time.Hour)
					e.cache.stores.markReachable(st)
					calls := f.pdRegion.Load()
					defer func() {
						if f.pdRegion.Load() == calls {
							t.Error("the region was not reloaded after its store came back")
						}
					}()
				}
				f.resetSent()
				_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, []byte("a"),
					&kvrpcpb.RawGetRequest{Key: []byte("a")},
					&Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(local)})
				if err != nil {
					t.Fatalf("stale read failed: %v (path %s)", err, accessPath(f))
				}
				sent, ctxs := f.sent(), f.contexts()
				last, lc := sent[len(sent)-1], ctxs[len(ctxs)-1]
				kind := "leader"
				switch {
				case lc.StaleRead:
					kind = "stale"
				case lc.ReplicaRead:
					kind = "replica"
				}
				if !slices.Contains(exp.stores, last) || kind != exp.kind {
					t.Errorf("served by store %d as %s, want one of %v as %s (path %s)", last, kind, exp.stores, exp.kind, accessPath(f))
				}
			})
		}
	}
}
