package region

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

var (
	errBusyWait   = &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 10}}
	errNewLeader3 = &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: &metapb.Peer{Id: 103, StoreId: 3}}}
)

// times repeats e n times.
func times(n int, e *errorpb.Error) []*errorpb.Error {
	out := make([]*errorpb.Error, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// More access paths, in the harness of TestReplicaReadAccessPaths: leader reads and
// follower reads meeting NotLeader and ServerIsBusy. Paths are store:kind per attempt;
// backoffs the kinds slept; resplit means the region was given up (client-go's fake
// EpochNotMatch with the region invalidated).
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByLeaderCase
// and TestReplicaReadAccessPathByFollowerCase (the cases that inject region errors only;
// send failures are covered by sender_test.go and readtimeout_test.go)
func TestPortAccessPathsLeaderFollower(t *testing.T) {
	cases := []struct {
		name     string
		opts     Options
		errs     []*errorpb.Error
		path     string
		backoffs string
		resplit  bool
	}{
		{"leader/ok", Options{}, nil, "1:leader", "", false},
		{"leader/busy-wait,busy", Options{}, []*errorpb.Error{errBusyWait, errBusy},
			"1:leader 1:leader 1:leader", "tikvServerBusy tikvServerBusy", false},
		// Differs by design: after the leader said busy (no estimated wait) twice we probe
		// a follower once (sender_test.go TestServerIsBusyStorm, client-go #2028) before
		// going back to it; client-go's case tries the leader ten times first.
		{"leader/busy x11", Options{}, times(11, errBusy),
			"1:leader 1:leader 2:leader 1:leader 1:leader 1:leader 1:leader 1:leader 1:leader 1:leader 1:leader 3:leader",
			strings.TrimSpace(strings.Repeat("tikvServerBusy ", 9)), false},
		{"leader/no-leader", Options{}, []*errorpb.Error{errNoLeader},
			"1:leader 2:leader", "regionScheduling", false},
		{"leader/no-leader x2", Options{}, times(2, errNoLeader),
			"1:leader 2:leader 3:leader", "regionScheduling regionScheduling", false},
		{"leader/no-leader x3", Options{}, times(3, errNoLeader),
			"1:leader 2:leader 3:leader", "regionScheduling regionScheduling regionScheduling", true},
		{"leader/new-leader-3", Options{}, []*errorpb.Error{errNewLeader3},
			"1:leader 3:leader", "", false},
		{"leader/new-leader-3,busy", Options{}, []*errorpb.Error{errNewLeader3, errBusy},
			"1:leader 3:leader 3:leader", "tikvServerBusy", false},
		{"leader/no-leader,new-leader-3,busy-wait,no-leader", Options{},
			[]*errorpb.Error{errNoLeader, errNewLeader3, errBusyWait, errNoLeader},
			"1:leader 2:leader 3:leader 3:leader", "regionScheduling tikvServerBusy regionScheduling", true},
		{"leader/no-leader,new-leader-3,busy-wait,busy", Options{},
			[]*errorpb.Error{errNoLeader, errNewLeader3, errBusyWait, errBusy},
			"1:leader 2:leader 3:leader 3:leader 3:leader", "regionScheduling tikvServerBusy tikvServerBusy", false},
		{"follower/ok", Options{ReplicaRead: ReadFollower}, nil, "2:replica", "", false},
		// Differs by design: a follower read that falls back to the leader stays a replica
		// read (client-go clears replica_read for the leader); and when every replica is
		// busy the region stays cached (client-go invalidates it), see valid below.
		{"follower/busy-wait,busy", Options{ReplicaRead: ReadFollower}, []*errorpb.Error{errBusyWait, errBusy},
			"2:replica 3:replica 1:replica", "", false},
		{"follower/busy,busy-wait,busy", Options{ReplicaRead: ReadFollower}, []*errorpb.Error{errBusy, errBusyWait, errBusy},
			"2:replica 3:replica 1:replica", "tikvServerBusy", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(3)
			f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
			f.leaders[1] = 0
			e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
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
			wantValid := !tc.resplit || strings.HasPrefix(tc.name, "follower/busy")
			if valid := e.cache.TryLocate([]byte("a")) != nil; valid != wantValid {
				t.Errorf("region valid %v after the request, want %v", valid, wantValid)
			}
		})
	}
}

var (
	errStaleCommand   = &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}
	errRegionNotFound = &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: 1}}
)

// Access paths of stale reads and mixed reads meeting region errors, in the harness of
// TestReplicaReadAccessPaths.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByStaleReadCase
// and TestReplicaReadAccessPathByMixedAndPreferLeaderCase (the cases that inject region
// errors only and need no setup)
func TestPortAccessPathsStaleMixed(t *testing.T) {
	stale := func(labels ...int) Options {
		o := Options{ReplicaRead: ReadMixed, StaleRead: true}
		if len(labels) > 0 {
			o.MatchLabels = zone(labels[0])
		}
		return o
	}
	cases := []struct {
		name     string
		opts     Options
		errs     []*errorpb.Error
		path     string
		backoffs string
		resplit  bool
		valid    bool
	}{
		{"stale/ok", stale(), nil, "1:stale", "", false, true},
		{"stale/not-ready", stale(), []*errorpb.Error{errDataNotReady}, "1:stale 2:replica", "", false, true},
		{"stale/label2/not-ready,new-leader-3", stale(2), []*errorpb.Error{errDataNotReady, errNewLeader3},
			"2:stale 1:leader 3:leader", "", false, true},
		{"stale/label2/not-ready,region-not-found", stale(2), []*errorpb.Error{errDataNotReady, errRegionNotFound},
			"2:stale 1:leader", "", true, false},
		// client-go: internal/locate/region_request3_test.go
		// TestReplicaReadFallbackToLeaderRegionError: the leader's MismatchPeerId is
		// returned and the region dropped.
		{"stale/label2/not-ready,mismatch-peer", stale(2),
			[]*errorpb.Error{errDataNotReady, {MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: 1, StorePeerId: 2}}},
			"2:stale 1:leader", "", true, false},
		// Differs by design from here: a replica that refused a stale read
		// (DataIsNotReady) or a leader read (NotLeader) is still asked as a replica read
		// before the request gives up, so these succeed where client-go's give the
		// region up after one ServerIsBusy backoff.
		{"stale/not-ready,busy,busy", stale(), []*errorpb.Error{errDataNotReady, errBusy, errBusy},
			"1:stale 2:replica 3:replica 1:replica", "", false, true},
		{"stale/label2/not-ready,no-leader,busy,busy", stale(2), []*errorpb.Error{errDataNotReady, errNoLeader, errBusy, errBusy},
			"2:stale 1:leader 2:replica 1:replica 3:replica", "regionScheduling", false, true},
		// StaleCommand is retried on another replica (client-go gives the region up).
		{"mixed/busy-wait,stale-command,busy", Options{ReplicaRead: ReadMixed},
			[]*errorpb.Error{errBusyWait, errStaleCommand, errBusy},
			"1:replica 2:replica 3:replica 2:replica", "", false, true},
		// RegionNotFound from a follower drops the cached region but the leader still
		// serves this read (client-go returns the error to the caller).
		{"mixed/busy,region-not-found", Options{ReplicaRead: ReadMixed}, []*errorpb.Error{errBusy, errRegionNotFound},
			"1:replica 2:replica 1:leader", "tikvServerBusy", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(3)
			f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
			f.leaders[1] = 0
			e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
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
			if valid := e.cache.TryLocate([]byte("a")) != nil; valid != tc.valid {
				t.Errorf("region valid %v after the request, want %v", valid, tc.valid)
			}
		})
	}
}
