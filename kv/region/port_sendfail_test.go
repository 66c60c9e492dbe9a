package region

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// errSendDeadline plays a transport that gave up on an attempt (client-go's
// DeadLineExceededErr): a send failure, not a region error.
var errSendDeadline = fmt.Errorf("fake transport: %w", context.DeadlineExceeded)

// hang is a script step that never answers: the attempt ends with its own deadline.
type hang struct{}

// scriptedTransport answers attempt i with script[i] (a *errorpb.Error as a region error,
// an error as a send failure, nil as success through the fake cluster) and records every
// attempt, failed ones included, as store:kind.
type scriptedTransport struct {
	f      *fakeCluster
	mu     sync.Mutex
	script []any
	path   []string
}

func (s *scriptedTransport) Invoke(ctx context.Context, addr string, req Request) (Response, error) {
	s.f.mu.Lock()
	st := s.f.storeByAddr(addr)
	s.f.mu.Unlock()
	c := req.GetContext()
	kind := "leader"
	switch {
	case c.StaleRead:
		kind = "stale"
	case c.ReplicaRead:
		kind = "replica"
	}
	s.mu.Lock()
	n := len(s.path)
	s.path = append(s.path, fmt.Sprintf("%d:%s", st.Id, kind))
	var step any
	if n < len(s.script) {
		step = s.script[n]
	}
	s.mu.Unlock()
	switch v := step.(type) {
	case hang:
		<-ctx.Done()
		return nil, ctx.Err()
	case *errorpb.Error:
		return &kvrpcpb.RawGetResponse{RegionError: v}, nil
	case error:
		return nil, v
	}
	return s.f.Invoke(ctx, addr, req)
}

func (s *scriptedTransport) Probe(ctx context.Context, addr string) error {
	return s.f.Probe(ctx, addr)
}

// Access paths with send failures, in the style of TestReplicaReadAccessPaths. As there,
// a follower or mixed read that reaches the leader stays a replica read (by design).
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByLeaderCase,
// ...ByFollowerCase and ...ByMixedAndPreferLeaderCase (the DeadLineExceeded cases
// without setup hooks)
func TestPortAccessPathsWithSendFailures(t *testing.T) {
	errNewLeader1 := &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: &metapb.Peer{Id: 101, StoreId: 1}}}
	cases := []struct {
		name     string
		opts     Options
		script   []any
		path     string
		backoffs string
		resplit  bool
	}{
		{"leader/deadline", Options{}, []any{errSendDeadline},
			"1:leader 2:leader", "tikvRPC", false},
		{"leader/deadline,new-leader-1,new-leader-1", Options{}, []any{errSendDeadline, errNewLeader1, errNewLeader1},
			"1:leader 2:leader 3:leader", "tikvRPC", true},
		{"leader/deadline,busy,busy", Options{}, []any{errSendDeadline, errBusy, errBusy},
			"1:leader 2:leader 3:leader", "tikvRPC tikvServerBusy", true},
		{"follower/deadline,busy", Options{ReplicaRead: ReadFollower}, []any{errSendDeadline, errBusy},
			"2:replica 3:replica 1:replica", "tikvRPC", false},
		// With a read timeout the attempt that outlives it moves on without backoff.
		{"follower/read-timeout/deadline,busy", Options{ReplicaRead: ReadFollower, ReadTimeout: 100 * time.Millisecond},
			[]any{hang{}, errBusy}, "2:replica 3:replica 1:replica", "", false},
		{"mixed/deadline,busy", Options{ReplicaRead: ReadMixed}, []any{errSendDeadline, errBusy},
			"1:replica 2:replica 3:replica", "tikvRPC", false},
		{"mixed/read-timeout/deadline,busy", Options{ReplicaRead: ReadMixed, ReadTimeout: 100 * time.Millisecond},
			[]any{hang{}, errBusy}, "1:replica 2:replica 3:replica", "", false},
		{"mixed/label2/deadline,busy", Options{ReplicaRead: ReadMixed, MatchLabels: zone(2)}, []any{errSendDeadline, errBusy},
			"2:replica 1:replica 3:replica", "tikvRPC", false},
		// client-go: ...ByCase and ...ByCase2, the cases with a read timeout.
		{"stale/label2/read-timeout/hang,new-leader-2", Options{ReplicaRead: ReadMixed, StaleRead: true, MatchLabels: zone(2), ReadTimeout: 100 * time.Millisecond},
			[]any{hang{}, errNewLeader2}, "2:stale 1:leader 3:replica", "", false},
		{"leader/read-timeout/new-leader-3,hang", Options{ReadTimeout: 100 * time.Millisecond},
			[]any{errNewLeader3, hang{}}, "1:leader 3:leader 2:replica", "", false},
		// Differs by design from here (readtimeout.go): once the read-timeout round has
		// been over every replica, the read makes one attempt with its normal bound
		// (to the replica that timed out) instead of giving the region up.
		{"leader/read-timeout/no-leader,hang,new-leader-2", Options{ReadTimeout: 100 * time.Millisecond},
			[]any{errNoLeader, hang{}, errNewLeader2}, "1:leader 2:leader 3:leader 1:replica", "regionScheduling", false},
		{"mixed/label2/read-timeout/hang,busy", Options{ReplicaRead: ReadMixed, MatchLabels: zone(2), ReadTimeout: 100 * time.Millisecond},
			[]any{hang{}, errBusy}, "2:replica 1:replica 3:replica", "", false},
		{"mixed/read-timeout/busy,busy,hang", Options{ReplicaRead: ReadMixed, ReadTimeout: 100 * time.Millisecond},
			[]any{errBusy, errBusy, hang{}}, "1:replica 2:replica 3:replica 3:replica", "", false},
		{"stale/read-timeout/hang,busy,busy", Options{ReplicaRead: ReadMixed, StaleRead: true, ReadTimeout: 100 * time.Millisecond},
			[]any{hang{}, errBusy, errBusy}, "1:stale 2:replica 3:replica 1:replica", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(3)
			f.leaders[1] = 0 // the fake answers leader reads anywhere; the script decides
			tr := &scriptedTransport{f: f}
			c := New(f, Config{Prober: tr, Rand: func(int64) int64 { return 1 }})
			defer c.Close()
			s := NewSender(c, tr, SenderConfig{Clock: &fakeClock{now: time.Unix(1000, 0)}})
			loc := mustLocate(t, c, "a")
			tr.script = tc.script
			bo := s.NewBackoffer(nil)
			opts := tc.opts
			_, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, bo, loc,
				&kvrpcpb.RawGetRequest{Key: []byte("a")}, &opts)
			var re *Error
			if tc.resplit != (errors.As(err, &re) && re.Resplit) || !tc.resplit && err != nil {
				t.Errorf("err = %v, want resplit %v", err, tc.resplit)
			}
			if got := strings.Join(tr.path, " "); got != tc.path {
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
