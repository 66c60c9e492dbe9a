package region

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Stale reads from the leader's zone (z1) and from a follower's zone (z2) while
// replicas are down, busy or not ready: which zone serves the read, and how (a stale
// read, a replica read or a leader read). Stores 1..3 are zones z1..z3, store 1 leads.
// client-go: internal/locate/region_request_state_test.go TestRegionCacheStaleRead (the
// scenarios with one replica per zone; the peer-move scenarios need two stores per zone
// and the async-reload expectations are client-go internals)
func TestPortStaleReadScenarios(t *testing.T) {
	type want struct {
		zones []uint64 // any of these stores may serve
		kind  string   // stale, replica, leader
	}
	leaderDown := func(f *fakeCluster) { f.down[1] = true }
	followerDown := func(f *fakeCluster) { f.down[2] = true }
	busy := &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test", BackoffMs: 1}}
	type fault func(store uint64, c *kvrpcpb.Context) *errorpb.Error
	leaderBusy := fault(func(s uint64, _ *kvrpcpb.Context) *errorpb.Error {
		if s == 1 {
			return busy
		}
		return nil
	})
	followerBusy := fault(func(s uint64, _ *kvrpcpb.Context) *errorpb.Error {
		if s == 2 {
			return busy
		}
		return nil
	})
	followerNotReady := fault(func(s uint64, c *kvrpcpb.Context) *errorpb.Error {
		if s == 2 && c.StaleRead {
			return &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{RegionId: 1}}
		}
		return nil
	})
	cases := []struct {
		name         string
		down         []func(*fakeCluster)
		faults       []fault
		fromLeader   want
		fromFollower want
	}{
		{"followerDown", []func(*fakeCluster){followerDown}, nil,
			want{[]uint64{1}, "stale"}, want{[]uint64{1}, "leader"}},
		{"followerDataIsNotReady", nil, []fault{followerNotReady},
			want{[]uint64{1}, "stale"}, want{[]uint64{1}, "leader"}},
		{"followerServerIsBusy", nil, []fault{followerBusy},
			want{[]uint64{1}, "stale"}, want{[]uint64{1}, "leader"}},
		{"leaderDown", []func(*fakeCluster){leaderDown}, nil,
			want{[]uint64{2, 3}, "replica"}, want{[]uint64{2}, "stale"}},
		{"leaderServerIsBusy", nil, []fault{leaderBusy},
			want{[]uint64{2, 3}, "replica"}, want{[]uint64{2}, "stale"}},
		{"leaderServerIsBusy+followerServerIsBusy", nil, []fault{leaderBusy, followerBusy},
			want{[]uint64{3}, "replica"}, want{[]uint64{3}, "replica"}},
		{"leaderServerIsBusy+followerDataIsNotReady", nil, []fault{leaderBusy, followerNotReady},
			want{[]uint64{2, 3}, "replica"}, want{[]uint64{2, 3}, "replica"}},
		{"leaderServerIsBusy+followerDown", []func(*fakeCluster){followerDown}, []fault{leaderBusy},
			want{[]uint64{3}, "replica"}, want{[]uint64{3}, "replica"}},
		{"leaderDown+followerDataIsNotReady", []func(*fakeCluster){leaderDown}, []fault{followerNotReady},
			want{[]uint64{2, 3}, "replica"}, want{[]uint64{2, 3}, "replica"}},
		{"leaderDown+followerServerIsBusy", []func(*fakeCluster){leaderDown}, []fault{followerBusy},
			want{[]uint64{3}, "replica"}, want{[]uint64{3}, "replica"}},
		{"leaderDown+followerDown", []func(*fakeCluster){leaderDown, followerDown}, nil,
			want{[]uint64{3}, "replica"}, want{[]uint64{3}, "replica"}},
		{"evictLeader", []func(*fakeCluster){func(f *fakeCluster) { f.leaders[1] = 2 }}, nil,
			want{[]uint64{1}, "stale"}, want{[]uint64{2}, "stale"}},
	}
	for _, tc := range cases {
		for _, local := range []uint64{1, 2} {
			exp := tc.fromLeader
			if local == 2 {
				exp = tc.fromFollower
			}
			t.Run(fmt.Sprintf("%s/from-z%d", tc.name, local), func(t *testing.T) {
				f := newFakeCluster(3)
				f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
				e := newEnv(t, f, Config{})
				mustGet(t, e, "a", nil) // warm the cache
				f.set(func() {
					for _, d := range tc.down {
						d(f)
					}
					f.inject = func(s uint64, c *kvrpcpb.Context) *errorpb.Error {
						for _, fl := range tc.faults {
							if re := fl(s, c); re != nil {
								return re
							}
						}
						return nil
					}
				})
				f.resetSent()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("a"),
					&kvrpcpb.RawGetRequest{Key: []byte("a")},
					&Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(int(local))})
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
				if !slices.Contains(exp.zones, last) || kind != exp.kind {
					t.Errorf("served by store %d as %s, want one of %v as %s (path %s)", last, kind, exp.zones, exp.kind, accessPath(f))
				}
			})
		}
	}
}
