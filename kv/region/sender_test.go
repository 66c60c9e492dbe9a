package region

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

func mustGet(t *testing.T, e *env, key string, opts *Options) {
	t.Helper()
	if _, err := e.get(t, key, opts); err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
}

func leaderOf(t *testing.T, e *env, key string) uint64 {
	t.Helper()
	loc := mustLocate(t, e.cache, key)
	_, s := e.cache.region(loc.Region).leaderPeer()
	return s.id
}

// Leader change mid-request: NotLeader with a hint is followed at once, without sleeping.
func TestLeaderChangeMidRequest(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	f.setLeader("a", 3)
	f.resetSent()
	mustGet(t, e, "a", nil)
	if got := fmt.Sprint(f.sent()); got != "[1 3]" {
		t.Errorf("sent to %s, want [1 3]", got)
	}
	if e.clock.slept != 0 {
		t.Errorf("slept %v on a leader hint", e.clock.slept)
	}
	if c := f.contexts(); c[0].IsRetryRequest || !c[1].IsRetryRequest {
		t.Errorf("IsRetryRequest not stamped: %v %v", c[0].IsRetryRequest, c[1].IsRetryRequest)
	}
	if l := leaderOf(t, e, "a"); l != 3 {
		t.Errorf("cached leader %d, want 3", l)
	}
	f.resetSent()
	mustGet(t, e, "a", nil)
	if got := fmt.Sprint(f.sent()); got != "[3]" {
		t.Errorf("after learning the leader: sent to %s", got)
	}
}

// Leader loss: a leader read that the cached leader cannot serve goes to followers; one
// that serves it becomes the cached leader (RS-1).
func TestLeaderReadFindsNewLeaderThroughFollowers(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	f.set(func() { f.leaders[1] = 2; f.down[1] = true })
	mustGet(t, e, "a", nil)
	if l := leaderOf(t, e, "a"); l != 2 {
		t.Errorf("cached leader %d, want 2", l)
	}
}

// Epoch change after a split: EpochNotMatch refreshes the cache from the error and the
// request is re-split without sleeping and without asking PD (SB-1, SB-2).
func TestEpochChangeAfterSplit(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	f.split("c")
	calls := f.pdRegion.Load()
	mustGet(t, e, "d", nil)
	if e.clock.slept != 0 {
		t.Errorf("slept %v after a real EpochNotMatch", e.clock.slept)
	}
	if f.pdRegion.Load() != calls {
		t.Errorf("asked PD after EpochNotMatch carried the new regions")
	}
	if loc := mustLocate(t, e.cache, "d"); string(loc.StartKey) != "c" {
		t.Errorf("location after split %v", loc.Range())
	}
	if loc := mustLocate(t, e.cache, "a"); string(loc.EndKey) != "c" {
		t.Errorf("left half %v", loc.Range())
	}
}

// Merge: the old left region is gone; TiKV says RegionNotFound; the caller relocates.
func TestMergeRecovers(t *testing.T) {
	f := newFakeCluster(3, "c", "m")
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	mustGet(t, e, "d", nil)
	f.merge("a")
	mustGet(t, e, "a", nil)
	mustGet(t, e, "d", nil)
	if loc := mustLocate(t, e.cache, "a"); string(loc.EndKey) != "m" {
		t.Errorf("after merge: %v", loc.Range())
	}
}

// Store down then up: with one replica the request fails with a typed error while the
// store is down, and the same Sender succeeds again once it is back.
// client-go: internal/locate/region_request_test.go TestOnSendFailedWithStoreRestart
func TestStoreDownThenUp(t *testing.T) {
	f := newFakeCluster(1, "m")
	e := newEnv(t, f, Config{UnreachableRetry: 10 * time.Millisecond})
	mustGet(t, e, "a", nil)
	f.set(func() { f.down[1] = true })
	_, err := e.get(t, "a", nil)
	var be *kv.BackoffError
	if !errors.As(err, &be) || !errors.Is(err, kv.ErrStoreUnavailable) && !errors.Is(err, kv.ErrRegionUnavailable) {
		t.Fatalf("store down: %v", err)
	}
	if !kv.IsRetryable(err) {
		t.Errorf("store-down error not retryable: %v", err)
	}
	f.set(func() { f.down[1] = false })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = e.get(t, "a", nil); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after the store came back: %v", err)
	}
}

// With three replicas a dead leader store is skipped: followers serve the leader read
// once one of them leads, and the old leader store is used again after it is back.
// client-go: internal/locate/region_request_test.go TestOnSendFailedWithCloseKnownStoreThenUseNewOne
func TestStoreDownFailoverAndBack(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{UnreachableRetry: 10 * time.Millisecond})
	mustGet(t, e, "a", nil)
	f.set(func() { f.down[1] = true; f.leaders[1] = 3 })
	mustGet(t, e, "a", nil)
	if e.clock.Now().Sub(time.Unix(1000, 0)) == 0 {
		t.Errorf("no TiKVRPC backoff after a send failure")
	}
	f.set(func() { f.down[1] = false; f.leaders[1] = 1 })
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, _ := e.cache.Store(context.Background(), 1)
		if s.Reachable(time.Now()) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mustGet(t, e, "a", nil)
	if l := leaderOf(t, e, "a"); l != 1 {
		t.Errorf("leader %d after store 1 came back", l)
	}
}

// Store address change: the old address fails, PD has the new one, the same Sender uses
// it (RC-8).
func TestStoreAddressChange(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	f.set(func() { f.stores[1].Address = "store1-new" })
	mustGet(t, e, "a", nil)
	s, _ := e.cache.Store(context.Background(), 1)
	if s.Addr() != "store1-new" {
		t.Errorf("store address %q", s.Addr())
	}
	f.resetSent()
	mustGet(t, e, "a", nil)
	if got := fmt.Sprint(f.sent()); got != "[1]" {
		t.Errorf("after the move: sent to %s", got)
	}
}

// ServerIsBusy storms (RS-9, SB-17). The access paths follow client-go
// internal/locate/replica_selector_test.go TestReplicaReadAccessPathByCase.
func TestServerIsBusyStorm(t *testing.T) {
	busy := func(stores ...uint64) func(uint64, *kvrpcpb.Context) *errorpb.Error {
		return func(id uint64, _ *kvrpcpb.Context) *errorpb.Error {
			for _, s := range stores {
				if s == id {
					return &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "storm", EstimatedWaitMs: 50}}
				}
			}
			return nil
		}
	}
	t.Run("replica read fast-retries other replicas", func(t *testing.T) {
		f := newFakeCluster(3)
		e := newEnv(t, f, Config{})
		mustLocate(t, e.cache, "a")
		f.inject = busy(1, 2)
		for i := 0; i < 20; i++ {
			mustGet(t, e, "a", &Options{ReplicaRead: ReadMixed})
		}
		if e.clock.slept != 0 {
			t.Errorf("slept %v although an idle replica was available", e.clock.slept)
		}
	})
	t.Run("all busy backs off, excluded from budget", func(t *testing.T) {
		f := newFakeCluster(3)
		e := newEnv(t, f, Config{})
		n := 0
		f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
			n++
			if n <= 12 {
				return &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 10}}
			}
			return nil
		}
		// A one-second budget: the ServerBusy sleeps do not count against it.
		_, err := e.get(t, "a", &Options{ReplicaRead: ReadMixed, Budget: time.Second})
		if err != nil {
			t.Fatalf("busy storm: %v", err)
		}
		if e.clock.slept < 4*time.Second {
			t.Errorf("slept %v, want ServerBusy backoffs once per round of busy replicas", e.clock.slept)
		}
		if e.cache.TryLocate([]byte("a")) == nil {
			t.Errorf("busy replicas invalidated the region")
		}
	})
	t.Run("leader busy without wait probes a follower", func(t *testing.T) {
		// client-go#2028: the cached leader lost leadership but keeps saying busy.
		f := newFakeCluster(3)
		e := newEnv(t, f, Config{})
		mustLocate(t, e.cache, "a")
		f.set(func() { f.leaders[1] = 2 })
		f.inject = func(id uint64, c *kvrpcpb.Context) *errorpb.Error {
			if id == 1 {
				return &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}
			}
			return nil
		}
		mustGet(t, e, "a", nil)
		if l := leaderOf(t, e, "a"); l != 2 {
			t.Errorf("leader %d, want 2 (found by probing a follower)", l)
		}
		s, _ := e.cache.Store(context.Background(), 1)
		if !s.Slow(time.Now()) {
			t.Errorf("busy store without estimated wait not marked slow")
		}
	})
}

// Stale read with DataIsNotReady, and request-source patching (RS-7, RS-10).
// client-go: internal/locate/region_request3_test.go TestRetryRequestSource (our labels
// are leader/follower/stale_read), replica_selector_test.go TestReplicaReadAccessPathByCase
func TestStaleReadDataIsNotReady(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	f.safeTS[3] = true
	opts := &Options{StaleRead: true, MatchLabels: []*metapb.StoreLabel{{Key: "zone", Value: "z3"}}, RequestSource: "app"}
	mustGet(t, e, "a", opts)
	c := f.contexts()
	if len(c) != 1 || !c[0].StaleRead || f.sent()[0] != 3 || c[0].RequestSource != "stale_read_app" {
		t.Fatalf("local stale read: sent %v ctx %+v", f.sent(), c)
	}
	f.set(func() { f.safeTS[3] = false })
	f.resetSent()
	mustGet(t, e, "a", opts)
	c = f.contexts()
	if len(c) != 2 || f.sent()[1] != 1 || c[1].StaleRead || c[1].ReplicaRead {
		t.Fatalf("fallback: sent %v ctx %+v", f.sent(), c)
	}
	if c[1].RequestSource != "retry_stale_read_leader_app" {
		t.Errorf("retry request source %q", c[1].RequestSource)
	}
	if e.clock.slept != 0 {
		t.Errorf("DataIsNotReady slept %v", e.clock.slept)
	}
	// Leader unavailable too: later attempts are replica reads.
	f.set(func() { f.down[1] = true })
	f.resetSent()
	mustGet(t, e, "a", opts)
	c = f.contexts()
	if last := c[len(c)-1]; !last.ReplicaRead || last.StaleRead {
		t.Errorf("third stage not a replica read: %+v (sent %v)", last, f.sent())
	}
}

// Replica selection modes (RS-2..RS-6, RS-8).
// client-go: internal/locate/region_request3_test.go TestLoadBasedReplicaRead (last case);
// the score order is that of replica_selector.go calculateScore.
func TestReplicaReadModes(t *testing.T) {
	f := newFakeCluster(3)
	f.regions[1].Peers[2].Role = metapb.PeerRole_Learner
	e := newEnv(t, f, Config{})
	first := func(opts *Options) (uint64, *kvrpcpb.Context) {
		t.Helper()
		f.resetSent()
		mustGet(t, e, "a", opts)
		return f.sent()[0], f.contexts()[0]
	}
	if s, c := first(&Options{ReplicaRead: ReadFollower}); s != 2 || !c.ReplicaRead {
		t.Errorf("follower read went to %d (replica read %v)", s, c.ReplicaRead)
	}
	if s, c := first(&Options{ReplicaRead: ReadLearner}); s != 3 || !c.ReplicaRead {
		t.Errorf("learner read went to %d", s)
	}
	if s, c := first(&Options{ReplicaRead: ReadPreferLeader}); s != 1 || !c.ReplicaRead {
		t.Errorf("prefer-leader went to %d", s)
	}
	if s, _ := first(&Options{ReplicaRead: ReadMixed, MatchStores: []uint64{3}}); s != 3 {
		t.Errorf("store match went to %d", s)
	}
	if s, _ := first(&Options{ReplicaRead: ReadMixed, MatchLabels: []*metapb.StoreLabel{{Key: "zone", Value: "z2"}}}); s != 2 {
		t.Errorf("label match went to %d", s)
	}
	e.cache.ReportHealth(1, 100) // TiKV says store 1 is slow
	slowTarget, _ := first(&Options{ReplicaRead: ReadPreferLeader})
	if slowTarget == 1 {
		t.Errorf("prefer-leader used a slow leader")
	}
	e.cache.ReportHealth(1, 1)
	// Replica flows (RC-15): one prefer-leader read reached the leader's store as the
	// leader, one went to a follower's store; other modes are not counted.
	s1flows, _ := e.cache.Store(context.Background(), 1)
	sfFlows, _ := e.cache.Store(context.Background(), slowTarget)
	if l, f := s1flows.ReplicaFlows(); l != 1 || f != 0 {
		t.Errorf("leader store flows: %d to leader, %d to follower", l, f)
	}
	if l, f := sfFlows.ReplicaFlows(); l != 0 || f != 1 {
		t.Errorf("store %d flows: %d to leader, %d to follower", slowTarget, l, f)
	}
	// Load-based replica read: the leader reports a long queue.
	if _, c := first(&Options{BusyThreshold: 50 * time.Millisecond}); c.BusyThresholdMs != 50 {
		t.Errorf("busy threshold not stamped: %d", c.BusyThresholdMs)
	}
	s1, _ := e.cache.Store(context.Background(), 1)
	e.cache.stores.setEstimatedWait(s1, time.Hour)
	if s, c := first(&Options{BusyThreshold: 50 * time.Millisecond}); s == 1 || !c.ReplicaRead {
		t.Errorf("load-based read went to %d (replica read %v)", s, c.ReplicaRead)
	}
	if s, c := first(nil); s != 1 || c.ReplicaRead {
		t.Errorf("leader read went to %d", s)
	}
}

// The deadline acceptance test: a blackholed store and a 200 ms deadline.
func TestDeadlineWithBlackholedStore(t *testing.T) {
	f := newFakeCluster(3)
	c := New(f, Config{Prober: f})
	defer c.Close()
	s := NewSender(c, f, SenderConfig{})
	mustLocate(t, c, "a")
	f.set(func() { f.blackhole[1] = true })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, s, []byte("a"), &kvrpcpb.RawGetRequest{Key: []byte("a")}, nil)
	el := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if el > 350*time.Millisecond {
		t.Errorf("returned after %v, want <= 200ms + 150ms margin", el)
	}
}

// RunBatches: groups by region, runs in parallel, re-splits after a split.
func TestRunBatchesResplits(t *testing.T) {
	f := newFakeCluster(3, "g", "p")
	e := newEnv(t, f, Config{})
	var keys [][]byte
	for c := 'a'; c <= 'z'; c++ {
		keys = append(keys, []byte{byte(c)})
		f.data[string(c)] = []byte{byte(c)}
	}
	mustLocate(t, e.cache, "a")
	f.split("c")
	f.split("r")
	var mu sync.Mutex
	var got []string
	err := RunBatches(context.Background(), e.s, keys, func(k []byte) []byte { return k }, nil, 3,
		func(ctx context.Context, bo *backoff.Backoffer, b Batch[[]byte]) error {
			resp, err := SendToRegion[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse](ctx, e.s, bo, b.Location,
				&kvrpcpb.RawBatchGetRequest{Keys: b.Items}, nil)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range resp.Pairs {
				got = append(got, string(p.Value))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if len(got) != 26 || got[0] != "a" || got[25] != "z" {
		t.Errorf("got %v", got)
	}
	boom := errors.New("boom")
	err = RunBatches(context.Background(), e.s, keys, func(k []byte) []byte { return k }, nil, 2,
		func(ctx context.Context, bo *backoff.Backoffer, b Batch[[]byte]) error {
			if b.Location.Contains([]byte("h")) {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) {
		t.Errorf("RunBatches error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = RunBatches(ctx, e.s, keys, func(k []byte) []byte { return k }, nil, 1,
		func(ctx context.Context, bo *backoff.Backoffer, b Batch[[]byte]) error { return nil })
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("canceled RunBatches = %v", err)
	}
}

// Tracer hooks see RPCs, region events and backoffs.
type recTracer struct {
	mu      sync.Mutex
	rpcs    int
	regions map[kv.RegionEventKind]int
	bos     int
	starts  []kv.RPCStart
}

func (r *recTracer) TraceRPCStart(ctx context.Context, ev kv.RPCStart) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, ev)
	return ctx
}
func (r *recTracer) TraceRPCEnd(context.Context, kv.RPCEnd) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rpcs++
}
func (r *recTracer) TraceRegion(_ context.Context, ev kv.RegionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.regions[ev.Kind]++
}
func (r *recTracer) TraceBackoff(context.Context, kv.BackoffEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bos++
}

func TestTracerAndTransportTypeCheck(t *testing.T) {
	f := newFakeCluster(3)
	tr := &recTracer{regions: map[kv.RegionEventKind]int{}}
	c := New(f, Config{Tracer: tr, Prober: f})
	defer c.Close()
	clk := &fakeClock{}
	s := NewSender(c, f, SenderConfig{Tracer: tr, Clock: clk})
	if s.Cache() != c {
		t.Fatal("Cache()")
	}
	mustLocate(t, c, "a")
	f.set(func() { f.leaders[1] = 2 })
	n := 0
	f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
		n++
		if n == 1 {
			return &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}
		}
		return nil
	}
	if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, []byte("a"), &kvrpcpb.RawGetRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	if tr.rpcs < 2 || tr.regions[kv.RegionLoaded] == 0 || tr.regions[kv.RegionLeaderChange] == 0 || tr.bos == 0 {
		t.Errorf("tracer saw rpcs %d regions %v backoffs %d", tr.rpcs, tr.regions, tr.bos)
	}
	// RPC starts carry the replica count and, with labels, the access location (RPC-11).
	if ev := tr.starts[0]; ev.Replicas != 3 || ev.Access != kv.AccessUnknown || ev.Attempt != 1 {
		t.Errorf("first RPC start %+v", ev)
	}
	for zone, want := range map[string]kv.AccessLocation{"z2": kv.AccessLocalZone, "nowhere": kv.AccessCrossZone} {
		tr.starts = nil
		opts := &Options{ReplicaRead: ReadMixed, MatchLabels: []*metapb.StoreLabel{{Key: "zone", Value: zone}}}
		if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, []byte("a"), &kvrpcpb.RawGetRequest{}, opts); err != nil {
			t.Fatal(err)
		}
		if got := tr.starts[0].Access; got != want || got.String() == "" {
			t.Errorf("zone %s: access %v, want %v", zone, got, want)
		}
	}
	// A transport answering with the wrong type is reported, not panicking.
	_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawPutResponse](context.Background(), s, []byte("a"), &kvrpcpb.RawGetRequest{}, nil)
	if err == nil {
		t.Errorf("wrong response type accepted")
	}
	// TransportFunc adapts a function.
	var called bool
	tf := TransportFunc(func(ctx context.Context, addr string, req Request) (Response, error) {
		called = true
		return f.Invoke(ctx, addr, req)
	})
	s2 := NewSender(c, tf, SenderConfig{})
	if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s2, []byte("a"), &kvrpcpb.RawGetRequest{}, nil); err != nil || !called {
		t.Errorf("TransportFunc: %v %v", err, called)
	}
}

// client-go: internal/locate/region_request_test.go TestNoReloadRegionWhenCtxCanceled,
// TestOnSendFailedWithCancelled
func TestStaleLocationAndCtx(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	loc := mustLocate(t, e.cache, "a")
	e.cache.Invalidate(context.Background(), loc.Region, ReasonOther)
	_, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc, &kvrpcpb.RawGetRequest{}, nil)
	var re *Error
	if !errors.As(err, &re) || !re.Resplit || re.Kind != "StaleLocation" {
		t.Errorf("stale location: %v", err)
	}
	loc = mustLocate(t, e.cache, "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, e.bo(), loc, &kvrpcpb.RawGetRequest{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if e.cache.TryLocate([]byte("a")) == nil {
		t.Errorf("a canceled request dropped the cached region")
	}
	if err := RetryRegionError(context.Background(), e.bo(), errors.New("x")); err == nil {
		t.Errorf("RetryRegionError retried an unrelated error")
	}
}

// Recovery under concurrency: requests keep succeeding while regions split and merge and
// leaders move (the recovery invariant of the issue).
func TestConcurrentRequestsDuringChurn(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := string(rune('a' + (w*7+i)%26))
				_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, []byte(key),
					&kvrpcpb.RawGetRequest{Key: []byte(key)}, &Options{ReplicaRead: ReplicaRead(w % 3)})
				if err != nil {
					errs <- fmt.Errorf("worker %d key %q: %w", w, key, err)
					return
				}
			}
		}()
	}
	splits := []string{"c", "f", "p", "t"}
	for round := 0; round < 20; round++ {
		k := splits[round%len(splits)]
		if round%8 < 4 {
			f.split(k)
		} else {
			f.merge(string(rune(k[0] - 1)))
		}
		f.setLeader(k, uint64(round%3+1))
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A request that must not be resent reports an undetermined result after a send failure.
func TestNoResendIsUndetermined(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	f.set(func() { f.down[1] = true })
	f.resetSent()
	_, err := e.get(t, "a", &Options{NoResend: true})
	if !kv.IsUndetermined(err) || !errors.Is(err, kv.ErrStoreUnavailable) || kv.IsRetryable(err) {
		t.Errorf("NoResend after a send failure: %v", err)
	}
}

func TestNoResendDeadlineIsUndetermined(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	f.set(func() { f.blackhole[1] = true })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("a"), &kvrpcpb.RawGetRequest{Key: []byte("a")}, &Options{NoResend: true})
	if !kv.IsUndetermined(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("in-flight deadline with NoResend: %v", err)
	}
}

// RPC-6: an attempt that gets no answer within AttemptTimeout is a send failure of that
// replica, so a read moves on to another replica instead of waiting on the caller's ctx.
func TestAttemptTimeoutMovesOn(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	leader := f.regionOf([]byte("a")).GetPeers()[0].GetStoreId()
	f.set(func() { f.blackhole[leader] = true })
	f.resetSent()
	resp, err := e.get(t, "a", &Options{ReplicaRead: ReadMixed, AttemptTimeout: 20 * time.Millisecond})
	if err != nil || resp.GetRegionError() != nil {
		t.Fatalf("read with a black-holed replica: %v", err)
	}
	// A request that must not be resent is undetermined, with the timeout as cause.
	_, err = e.get(t, "a", &Options{NoResend: true, AttemptTimeout: 20 * time.Millisecond})
	if !kv.IsUndetermined(err) || !errors.Is(err, ErrAttemptTimeout) {
		t.Fatalf("NoResend after an attempt timeout: %v", err)
	}
	// The Sender's default applies when the request sets none; a negative value turns
	// it off (then only ctx bounds the attempt).
	e.s.cfg.AttemptTimeout = 20 * time.Millisecond
	if _, err := e.get(t, "a", &Options{NoResend: true}); !errors.Is(err, ErrAttemptTimeout) {
		t.Fatalf("default attempt timeout: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	_, err = Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("a"),
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, &Options{NoResend: true, AttemptTimeout: -1})
	if errors.Is(err, ErrAttemptTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("attempt timeout off: %v", err)
	}
}

// hangProber never answers before ctx ends.
type hangProber struct{}

func (hangProber) Probe(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }

// A request that must not be resent stays undetermined when ctx ends after its send
// failed, while the Sender is still probing or re-resolving the store: the server may
// have applied it (it may even have seen the deadline before our timer fired).
func TestNoResendUndeterminedWhenCtxEndsAfterSendFailure(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{Prober: hangProber{}})
	mustGet(t, e, "a", nil)
	f.set(func() { f.down[1] = true })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("a"),
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, &Options{NoResend: true})
	if !kv.IsUndetermined(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NoResend, ctx ended while probing: %v", err)
	}
}
