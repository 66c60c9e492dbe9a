package region

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

var (
	errDataNotReady = &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}
	errBusy         = &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}
	errNoLeader     = &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1}}
	errNewLeader2   = &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: &metapb.Peer{Id: 102, StoreId: 2}}}
)

// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByCase and
// TestReplicaReadAccessPathByCase2 — the cases without a configurable read timeout,
// which is not built here. Stores 1..3, store 1 leads; the label zone=zN selects store N.
// Each attempt gets the next error of errs, then success.
func TestReplicaReadAccessPaths(t *testing.T) {
	cases := []struct {
		name     string
		opts     Options
		errs     []*errorpb.Error
		path     string
		backoffs string // kinds slept, in order
		resplit  bool
	}{
		{"stale/no-label/not-ready,busy", Options{ReplicaRead: ReadMixed, StaleRead: true},
			[]*errorpb.Error{errDataNotReady, errBusy},
			"1:stale 2:replica 3:replica", "", false},
		{"stale/label2/not-ready", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(2)},
			[]*errorpb.Error{errDataNotReady},
			"2:stale 1:leader", "", false},
		{"stale/label2/not-ready,busy", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(2)},
			[]*errorpb.Error{errDataNotReady, errBusy},
			"2:stale 1:leader 2:replica", "", false},
		{"stale/label2/not-ready,new-leader-2", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(2)},
			[]*errorpb.Error{errDataNotReady, errNewLeader2},
			"2:stale 1:leader 2:leader", "", false},
		{"stale/label3/busy,busy", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(3)},
			[]*errorpb.Error{errBusy, errBusy},
			"3:stale 1:leader 2:replica", "", false},
		{"stale/label3/not-ready,no-leader", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(3)},
			[]*errorpb.Error{errDataNotReady, errNoLeader},
			"3:stale 1:leader 3:replica", "regionScheduling", false},
		{"stale/label2/not-ready,busy x3", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(2)},
			[]*errorpb.Error{errDataNotReady, errBusy, errBusy, errBusy},
			"2:stale 1:leader 2:replica 3:replica", "tikvServerBusy", true},
		{"mixed/busy x3", Options{ReplicaRead: ReadMixed},
			[]*errorpb.Error{errBusy, errBusy, errBusy},
			"1:replica 2:replica 3:replica", "tikvServerBusy", true},
		{"leader/no-leader,new-leader-2", Options{},
			[]*errorpb.Error{errNoLeader, errNewLeader2},
			"1:leader 2:leader 2:leader", "regionScheduling", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(3)
			f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
			f.leaders[1] = 0                                                // the fake answers leader reads anywhere; errors come from errs
			e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }}) // ties: first replica
			loc := mustLocate(t, e.cache, "a")
			n := 0
			f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
				defer func() { n++ }()
				if n < len(tc.errs) {
					return tc.errs[n]
				}
				return nil
			}
			bo := e.bo()
			opts := tc.opts
			_, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, bo, loc,
				&kvrpcpb.RawGetRequest{Key: []byte("a")}, &opts)
			var re *Error
			if tc.resplit != (errors.As(err, &re) && re.Resplit) || !tc.resplit && err != nil {
				t.Errorf("err = %v, want resplit %v", err, tc.resplit)
			}
			if got := accessPath(f); got != tc.path {
				t.Errorf("path %q, want %q", got, tc.path)
			}
			var kinds []string
			for _, h := range bo.History() {
				kinds = append(kinds, h.Kind)
			}
			if got := strings.Join(kinds, " "); got != tc.backoffs {
				t.Errorf("backoffs %q, want %q", got, tc.backoffs)
			}
		})
	}
}

func zone(n int) []*metapb.StoreLabel {
	return []*metapb.StoreLabel{{Key: "zone", Value: fmt.Sprintf("z%d", n)}}
}

// accessPath renders where each attempt went: store:stale|replica|leader.
func accessPath(f *fakeCluster) string {
	var parts []string
	for i, c := range f.contexts() {
		kind := "leader"
		switch {
		case c.StaleRead:
			kind = "stale"
		case c.ReplicaRead:
			kind = "replica"
		}
		parts = append(parts, fmt.Sprintf("%d:%s", f.sent()[i], kind))
	}
	return strings.Join(parts, " ")
}
