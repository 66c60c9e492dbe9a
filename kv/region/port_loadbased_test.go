package region

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Load-based replica read (RS-8): a leader read with a busy threshold whose leader
// reports a long queue goes to followers as replica reads carrying the threshold; when
// every replica is too busy it goes back to the leader without a threshold, and the
// region stays cached. The next read skips the busy leader for the least busy replica.
// client-go: internal/locate/region_request3_test.go TestLoadBasedReplicaRead
func TestPortLoadBasedReplicaRead(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
	loc := mustLocate(t, e.cache, "a")
	wait := func(ms uint32) *errorpb.Error {
		return &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: ms}}
	}
	script := []*errorpb.Error{wait(500), wait(800), wait(150)}
	n := 0
	f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
		defer func() { n++ }()
		if n < len(script) {
			return script[n]
		}
		return nil
	}
	opts := &Options{BusyThreshold: 50 * time.Millisecond}
	if _, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, opts); err != nil {
		t.Fatal(err)
	}
	sent, ctxs := f.sent(), f.contexts()
	if len(sent) != 4 {
		t.Fatalf("path %s, want 4 attempts", accessPath(f))
	}
	if sent[0] != 1 || ctxs[0].ReplicaRead || ctxs[0].BusyThresholdMs != 50 {
		t.Errorf("first attempt: store %d %+v, want the leader with the threshold", sent[0], ctxs[0])
	}
	if sent[1] == 1 || sent[2] == 1 || sent[1] == sent[2] {
		t.Errorf("busy leader: then %d and %d, want the two followers", sent[1], sent[2])
	}
	for _, c := range ctxs[1:3] {
		if !c.ReplicaRead || c.BusyThresholdMs != 50 {
			t.Errorf("follower attempt %+v, want a replica read with the threshold", c)
		}
	}
	if sent[3] != 1 || ctxs[3].ReplicaRead || ctxs[3].BusyThresholdMs != 0 {
		t.Errorf("all busy: last attempt store %d %+v, want the leader without a threshold", sent[3], ctxs[3])
	}
	if e.cache.TryLocate([]byte("a")) == nil {
		t.Error("the region was dropped because every replica was busy")
	}
	lessBusy := sent[2]

	// The next read skips the busy leader (estimated wait 500 ms) for the least busy
	// replica.
	f.resetSent()
	if _, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, opts); err != nil {
		t.Fatal(err)
	}
	if sent := f.sent(); sent[0] != lessBusy || !f.contexts()[0].ReplicaRead {
		t.Errorf("next read: path %s, want a replica read on store %d first", accessPath(f), lessBusy)
	}
}

// Access paths of load-based replica reads (busy threshold 10 ms), in the harness of
// TestReplicaReadAccessPaths.
// client-go: internal/locate/replica_selector_test.go
// TestReplicaReadAccessPathByTryIdleReplicaCase
func TestPortAccessPathsTryIdleReplica(t *testing.T) {
	busyWait := &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 10}}
	cases := []struct {
		name     string
		errs     []*errorpb.Error
		path     string
		backoffs string
		resplit  bool
	}{
		// Differs by design: after two busy answers without an estimated wait we probe
		// a follower as a leader read (client-go#2028); client-go retries the leader.
		{"busy,busy", []*errorpb.Error{errBusy, errBusy},
			"1:leader 1:leader 2:leader", "tikvServerBusy", false},
		{"busy-wait,busy-wait", []*errorpb.Error{busyWait, busyWait},
			"1:leader 2:replica 3:replica", "", false},
		{"busy-wait x3", []*errorpb.Error{busyWait, busyWait, busyWait},
			"1:leader 2:replica 3:replica 1:leader", "tikvServerBusy", false},
		{"no-leader,new-leader-3,busy-wait,no-leader", []*errorpb.Error{errNoLeader, errNewLeader3, busyWait, errNoLeader},
			"1:leader 2:leader 3:leader 3:leader", "regionScheduling tikvServerBusy regionScheduling", true},
		{"no-leader,new-leader-3,busy-wait,busy", []*errorpb.Error{errNoLeader, errNewLeader3, busyWait, errBusy},
			"1:leader 2:leader 3:leader 3:leader 3:leader", "regionScheduling tikvServerBusy tikvServerBusy", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(3)
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
			_, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, bo, loc,
				&kvrpcpb.RawGetRequest{Key: []byte("a")}, &Options{BusyThreshold: 10 * time.Millisecond})
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
