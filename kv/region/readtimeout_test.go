package region

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
)

// slowTransport delays chosen attempts until the attempt's ctx ends (a store that
// accepted the request and did not answer in time) and records every attempt.
type slowTransport struct {
	f    *fakeCluster
	mu   sync.Mutex
	slow func(storeID uint64, c *kvrpcpb.Context) bool
	log  []string // "<store> <kind> <MaxExecutionDurationMs>"
}

func (s *slowTransport) Invoke(ctx context.Context, addr string, req Request) (Response, error) {
	st := s.f.storeByAddr(addr)
	c := req.GetContext()
	kind := "leader"
	switch {
	case c.StaleRead:
		kind = "stale"
	case c.ReplicaRead:
		kind = "replica"
	}
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprintf("%d %s %d", st.Id, kind, c.MaxExecutionDurationMs))
	slow := s.slow != nil && s.slow(st.Id, c)
	s.mu.Unlock()
	if slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.f.Invoke(ctx, addr, req)
}

func (s *slowTransport) attempts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.log)
}

func newSlowEnv(t *testing.T, f *fakeCluster, slow func(uint64, *kvrpcpb.Context) bool) (*env, *slowTransport) {
	t.Helper()
	e := newEnv(t, f, Config{})
	st := &slowTransport{f: f, slow: slow}
	e.s = NewSender(e.cache, st, SenderConfig{Clock: e.clock})
	return e, st
}

// A leader read whose leader outlives the read timeout moves to a follower at once, as a
// replica read, and TiKV is told the bound. Ports the access path of client-go's
// internal/locate/replica_selector_test.go TestTiKVClientReadTimeout.
func TestReadTimeoutMovesToFollower(t *testing.T) {
	f := newFakeCluster(3)
	e, st := newSlowEnv(t, f, func(id uint64, _ *kvrpcpb.Context) bool { return id == 1 })
	mustGet(t, e, "a", &Options{ReadTimeout: 20 * time.Millisecond})
	if got := st.attempts(); got != "[1 leader 20 2 replica 20]" && got != "[1 leader 20 3 replica 20]" {
		t.Fatalf("attempts %s", got)
	}
	if e.clock.slept != 0 {
		t.Errorf("slept %v after a read timeout", e.clock.slept)
	}
	if !e.cache.stores.get(1).Reachable(e.clock.Now()) {
		t.Error("a slow store was marked unreachable")
	}
	if _, err := mustLocateErr(e, "a"); err != nil {
		t.Errorf("region dropped after a read timeout: %v", err)
	}
}

// Every replica timing out ends the round: the read starts again from the leader with
// its normal attempt bound (client-go: internal/locate/region_request3_test.go
// TestSendReqFirstTimeout, three fast retries then one normal attempt).
func TestReadTimeoutRoundThenNormalAttempt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		first string
	}{
		{"leader", Options{}, "1 leader 10"},
		{"follower", Options{ReplicaRead: ReadFollower}, "replica 10"},
		{"stale", Options{StaleRead: true}, "stale 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(3)
			f.safeTS[1], f.safeTS[2], f.safeTS[3] = true, true, true
			e, st := newSlowEnv(t, f, func(_ uint64, c *kvrpcpb.Context) bool { return c.MaxExecutionDurationMs == 10 })
			opts := tc.opts
			opts.ReadTimeout = 10 * time.Millisecond
			opts.AttemptTimeout = time.Second
			opts.RequestSource = "app"
			mustGet(t, e, "a", &opts)
			st.mu.Lock()
			log := append([]string(nil), st.log...)
			st.mu.Unlock()
			if len(log) != 4 {
				t.Fatalf("attempts %v, want 3 timed out and 1 served", log)
			}
			stores := map[byte]bool{}
			for _, a := range log[:3] {
				stores[a[0]] = true
			}
			if len(stores) != 3 || !endsWith(log[0], tc.first) || !endsWith(log[3], " 0") {
				t.Errorf("attempts %v", log)
			}
			if e.clock.slept != 0 {
				t.Errorf("slept %v", e.clock.slept)
			}
		})
	}
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

func mustLocateErr(e *env, key string) (*Location, error) {
	loc, err := e.cache.Locate(context.Background(), []byte(key))
	if err != nil {
		return nil, err
	}
	if r := e.cache.region(loc.Region); r == nil || r.reason() != ReasonNone {
		return nil, errors.New("region invalidated")
	}
	return loc, nil
}

// TiKV refusing the read at its deadline (a region error) is handled like a local
// timeout during the round; after the round it is the table's DeadlineExceeded row.
func TestReadTimeoutDeadlineRegionErrors(t *testing.T) {
	for _, re := range []*errorpb.Error{
		{Message: "Deadline is exceeded"},
		{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "deadline is exceeded"}},
	} {
		f := newFakeCluster(3)
		e := newEnv(t, f, Config{})
		f.inject = func(id uint64, c *kvrpcpb.Context) *errorpb.Error {
			if id == 1 && c.MaxExecutionDurationMs > 0 {
				return re
			}
			return nil
		}
		mustGet(t, e, "a", &Options{ReadTimeout: time.Second})
		if got := fmt.Sprint(f.sent()); got != "[1 2]" && got != "[1 3]" {
			t.Errorf("%v: sent %s", re, got)
		}
		if c := f.contexts(); !c[1].ReplicaRead || c[1].MaxExecutionDurationMs != 1000 {
			t.Errorf("%v: retry context %+v", re, c[1])
		}
		if e.clock.slept != 0 {
			t.Errorf("%v: slept %v", re, e.clock.slept)
		}
	}
}

// Requests that must not be resent, and requests without a read timeout, keep the send
// failure path; the caller's own MaxExecutionDurationMs is kept outside the round.
func TestReadTimeoutNotForNoResend(t *testing.T) {
	f := newFakeCluster(3)
	e, _ := newSlowEnv(t, f, func(id uint64, _ *kvrpcpb.Context) bool { return id == 1 })
	_, err := e.get(t, "a", &Options{ReadTimeout: 10 * time.Millisecond, NoResend: true})
	if !kv.IsUndetermined(err) || !errors.Is(err, ErrAttemptTimeout) {
		t.Fatalf("NoResend with a read timeout: %v", err)
	}
	f2 := newFakeCluster(3)
	e2 := newEnv(t, f2, Config{})
	req := &kvrpcpb.RawGetRequest{Key: []byte("a"), Context: &kvrpcpb.Context{MaxExecutionDurationMs: 7}}
	if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e2.s, []byte("a"), req, nil); err != nil {
		t.Fatal(err)
	}
	if c := f2.contexts(); c[0].MaxExecutionDurationMs != 7 {
		t.Errorf("caller's MaxExecutionDurationMs replaced: %d", c[0].MaxExecutionDurationMs)
	}
}

// The Sender's defaults for transactional reads: KvGet, KvBatchGet and KvScan get their
// own bounds, other requests SenderConfig.AttemptTimeout; Options win.
func TestReadAttemptTimeoutDefaults(t *testing.T) {
	s := &Sender{cfg: SenderConfig{AttemptTimeout: 1, ReadAttemptTimeout: 2, BatchReadAttemptTimeout: 3}}
	for _, tc := range []struct {
		req  Request
		opts Options
		want time.Duration
	}{
		{&kvrpcpb.GetRequest{}, Options{}, 2},
		{&kvrpcpb.BatchGetRequest{}, Options{}, 3},
		{&kvrpcpb.ScanRequest{}, Options{}, 3},
		{&kvrpcpb.PrewriteRequest{}, Options{}, 1},
		{&kvrpcpb.GetRequest{}, Options{AttemptTimeout: 5}, 5},
		{&kvrpcpb.GetRequest{}, Options{ReadTimeout: 4}, 4},
	} {
		a := &attempt{opts: &tc.opts}
		if got := s.attemptTimeout(a, tc.req); got != tc.want {
			t.Errorf("%T %+v: %v, want %v", tc.req, tc.opts, got, tc.want)
		}
	}
	s.cfg.ReadAttemptTimeout = 0
	if got := s.attemptTimeout(&attempt{opts: &Options{}}, &kvrpcpb.GetRequest{}); got != 1 {
		t.Errorf("no read default: %v", got)
	}
}

// With a ReadTimeout the Sender owns MaxExecutionDurationMs: the round's bound, then
// none, also for a request sent again after a Resplit (it still carries the old stamp).
func TestReadTimeoutStamp(t *testing.T) {
	c := &kvrpcpb.Context{MaxExecutionDurationMs: 50}
	a := &attempt{opts: &Options{ReadTimeout: 50 * time.Millisecond}, roundDone: true}
	a.stampDeadline(c)
	if c.MaxExecutionDurationMs != 0 {
		t.Errorf("after the round: %d", c.MaxExecutionDurationMs)
	}
	a = &attempt{opts: &Options{ReadTimeout: time.Microsecond}}
	a.stampDeadline(c)
	if c.MaxExecutionDurationMs != 1 {
		t.Errorf("sub-millisecond round: %d", c.MaxExecutionDurationMs)
	}
	c.MaxExecutionDurationMs = 9
	(&attempt{opts: &Options{}}).stampDeadline(c)
	if c.MaxExecutionDurationMs != 9 {
		t.Errorf("without a read timeout: %d", c.MaxExecutionDurationMs)
	}
}
