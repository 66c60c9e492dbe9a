package region

import (
	"context"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Mixed reads (stale or not, with or without the label of store 1) avoid a store TiKV
// reports slow; store 3 leads. Paths as in TestReplicaReadAccessPaths (a mixed read sent
// to the leader stays a replica read, by design).
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAvoidSlowStore
func TestPortReplicaReadAvoidSlowStore(t *testing.T) {
	for _, stale := range []bool{false, true} {
		for _, withLabel := range []bool{false, true} {
			first := "1:replica"
			if stale {
				first = "1:stale"
			}
			// Store 1 slow: without a label another replica serves; with store 1's
			// label the leader is preferred.
			slowFirst := "2:replica"
			if stale {
				slowFirst = "2:stale"
			}
			if withLabel {
				slowFirst = "3:replica" // client-go sends this one as a leader read
				if stale {
					slowFirst = "3:stale"
				}
			}
			// Store 1 busy: a stale read falls back to a leader read; a replica read with
			// the label retries the leader, without it another replica.
			busySecond := "2:replica"
			switch {
			case stale:
				busySecond = "3:leader"
			case withLabel:
				busySecond = "3:replica" // a leader read in client-go
			}
			cases := []struct {
				name string
				slow bool
				errs []*errorpb.Error
				path string
			}{
				{"not-slow", false, nil, first},
				{"slow", true, nil, slowFirst},
				{"busy", false, []*errorpb.Error{errBusy}, first + " " + busySecond},
			}
			for _, tc := range cases {
				t.Run(fmt.Sprintf("stale=%v/label=%v/%s", stale, withLabel, tc.name), func(t *testing.T) {
					f := newFakeCluster(3)
					f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
					f.leaders[1] = 3
					e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
					loc := mustLocate(t, e.cache, "a")
					f.leaders[1] = 0 // answer leader reads anywhere; errors come from errs
					if tc.slow {
						e.cache.ReportHealth(1, 100)
					}
					n := 0
					f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
						defer func() { n++ }()
						if n < len(tc.errs) {
							return tc.errs[n]
						}
						return nil
					}
					opts := Options{ReplicaRead: ReadMixed, StaleRead: stale}
					if withLabel {
						opts.MatchLabels = zone(1)
					}
					if _, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
						&kvrpcpb.RawGetRequest{Key: []byte("a")}, &opts); err != nil {
						t.Fatal(err)
					}
					if got := accessPath(f); got != tc.path {
						t.Errorf("path %q, want %q", got, tc.path)
					}
				})
			}
		}
	}
}
