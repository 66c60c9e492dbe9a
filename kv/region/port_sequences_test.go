package region

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Access paths of requests that follow one another on one cache: what one request
// learns (the leader moved, a store is busy and so slow) steers the next. Paths as in
// TestReplicaReadAccessPaths.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByLeaderCase
// and TestReplicaReadAccessPathByMixedAndPreferLeaderCase (the multi-request cases run
// with runMultiCaseAndCompare)
func TestPortAccessPathSequences(t *testing.T) {
	type step struct {
		errs     []*errorpb.Error
		path     string
		backoffs string
	}
	seqs := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"leader", Options{}, []step{
			{[]*errorpb.Error{errNoLeader}, "1:leader 2:leader", "regionScheduling"},
			{[]*errorpb.Error{errNewLeader3}, "2:leader 3:leader", ""}, // the new leader first
			{[]*errorpb.Error{errBusy}, "3:leader 3:leader", "tikvServerBusy"},
		}},
		// A mixed read on the leader stays a replica read (by design); when every
		// replica is busy the region stays cached (by design; client-go drops it).
		{"prefer-leader/leader-busy", Options{ReplicaRead: ReadPreferLeader}, []step{
			{[]*errorpb.Error{errBusy}, "1:replica 2:replica", ""}, // store 1 now counts as slow
			{[]*errorpb.Error{errBusy, errBusy, errBusy}, "2:replica 3:replica 1:replica", "tikvServerBusy"},
		}},
		{"prefer-leader/two-busy", Options{ReplicaRead: ReadPreferLeader}, []step{
			{[]*errorpb.Error{errBusy, errBusy}, "1:replica 2:replica 3:replica", ""}, // stores 1, 2 slow
			{[]*errorpb.Error{errBusy, errBusy, errBusy}, "3:replica 1:replica 2:replica", "tikvServerBusy"},
		}},
	}
	for _, sq := range seqs {
		t.Run(sq.name, func(t *testing.T) {
			f := newFakeCluster(3)
			e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
			mustLocate(t, e.cache, "a")
			f.leaders[1] = 0 // answer leader reads anywhere; errors come from the steps
			for i, st := range sq.steps {
				f.resetSent()
				n := 0
				f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
					defer func() { n++ }()
					if n < len(st.errs) {
						return st.errs[n]
					}
					return nil
				}
				loc := mustLocate(t, e.cache, "a")
				bo := e.bo()
				opts := sq.opts
				if _, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, bo, loc,
					&kvrpcpb.RawGetRequest{Key: []byte("a")}, &opts); err != nil {
					var re *Error
					if !strings.Contains(st.backoffs, "tikvServerBusy") || !asResplit(err, &re) {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				if got := accessPath(f); got != st.path {
					t.Errorf("step %d: path %q, want %q", i, got, st.path)
				}
				var kinds []string
				for _, h := range bo.History() {
					kinds = append(kinds, h.Kind)
				}
				if got := strings.Join(kinds, " "); got != st.backoffs {
					t.Errorf("step %d: backoffs %q, want %q", i, got, st.backoffs)
				}
			}
		})
	}
}

func asResplit(err error, re **Error) bool {
	return errors.As(err, re) && (*re).Resplit
}
