package region

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// Slow score (RC-10, RC-11); our scoring is simpler than client-go slow_score.go.
func TestSlowScore(t *testing.T) {
	var s slowScore
	now := time.Unix(100, 0)
	if s.isSlow(now) || s.score(now) != 1 {
		t.Fatalf("new store: score %d", s.score(now))
	}
	// A steady load at a steady latency stays healthy.
	interval := func(n int, latency time.Duration) {
		for range n {
			s.observe(latency)
		}
		s.tick()
	}
	for range 12 {
		interval(100, 5*time.Millisecond)
	}
	if got := s.score(now); got != 1 {
		t.Fatalf("steady load: score %d", got)
	}
	// Fewer requests getting through, each much slower: the store is getting slow, and
	// the score grows by the ratio of the changes each interval until it is slow.
	var rises []int
	for range 4 {
		interval(50, 50*time.Millisecond)
		rises = append(rises, s.score(now))
	}
	if !s.isSlow(now) || rises[0] <= 1 || rises[1] <= rises[0] {
		t.Fatalf("a store slowing down: scores %v", rises)
	}
	// More requests at a higher latency is load, not slowness: the score falls.
	before := s.score(now)
	interval(400, 60*time.Millisecond)
	if got := s.score(now); got >= before {
		t.Fatalf("more load: score %d after %d", got, before)
	}
	// Quiet intervals bring it back down to 1.
	for range 60 {
		s.tick()
	}
	if got := s.score(now); got != 1 {
		t.Fatalf("after quiet intervals: score %d", got)
	}
	// A 30 s request or markSlow: slow at once.
	s.observe(31 * time.Second)
	if s.score(now) != maxSlowScore {
		t.Errorf("a 30 s request: score %d", s.score(now))
	}
	var m slowScore
	m.markSlow(now)
	if !m.isSlow(now) {
		t.Error("markSlow did not make the store slow")
	}
	// TiKV's score decays linearly, 20 points a minute.
	var fb slowScore
	fb.feedback(100, now)
	if got := fb.score(now.Add(30 * time.Second)); got != 90 {
		t.Errorf("TiKV score after 30 s: %d, want 90", got)
	}
	if !fb.isSlow(now) || fb.isSlow(now.Add(70*time.Second)) {
		t.Errorf("TiKV feedback decay: %d then %d", fb.score(now), fb.score(now.Add(70*time.Second)))
	}
}

// Liveness (RC-9): a store found unreachable is probed by the cache's background loop and
// comes back as soon as the probe succeeds.
func TestUnreachableStoreProbedBack(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{UnreachableRetry: 5 * time.Millisecond})
	s, err := e.cache.Store(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	f.set(func() { f.probeFail[2] = true })
	e.cache.stores.markUnreachable(s, time.Hour)
	time.Sleep(30 * time.Millisecond)
	if s.Reachable(time.Now()) {
		t.Fatalf("store reachable while its probe fails")
	}
	f.set(func() { f.probeFail[2] = false })
	deadline := time.Now().Add(5 * time.Second)
	for !s.Reachable(time.Now()) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !s.Reachable(time.Now()) {
		t.Errorf("store not probed back")
	}
	if len(s.Labels()) != 1 || !s.matchLabels([]*metapb.StoreLabel{{Key: "zone", Value: "z2"}}) ||
		s.matchLabels([]*metapb.StoreLabel{{Key: "zone", Value: "z1"}}) {
		t.Errorf("labels %v", s.Labels())
	}
	if s.EstimatedWait(time.Now()) != 0 {
		t.Errorf("estimated wait of an idle store")
	}
}

// Leader hints that point back and forth end after the attempt bound (SB-17) instead of
// looping, with the region invalidated and returned to the caller.
func TestNotLeaderPingPongIsBounded(t *testing.T) {
	f := newFakeCluster(2)
	e := newEnv(t, f, Config{})
	loc := mustLocate(t, e.cache, "a")
	f.inject = func(id uint64, _ *kvrpcpb.Context) *errorpb.Error {
		other := uint64(3 - id)
		return &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: &metapb.Peer{Id: 100 + other, StoreId: other}}}
	}
	_, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc, &kvrpcpb.RawGetRequest{}, nil)
	if err == nil {
		t.Fatal("ping-pong succeeded")
	}
	if n := len(f.sent()); n > 2*maxReplicaAttempts {
		t.Errorf("%d attempts, want <= %d", n, 2*maxReplicaAttempts)
	}
}

// An EpochNotMatch that lists unchanged neighbours keeps their cached leaders.
func TestEpochNotMatchKeepsUnchangedNeighbours(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	f.setLeader("z", 2)
	mustGet(t, e, "z", nil) // region 2 cached, led by store 2
	mustGet(t, e, "a", nil)
	f.split("c")
	mustGet(t, e, "d", nil)
	if l := leaderOf(t, e, "z"); l != 2 {
		t.Errorf("neighbour leader reset to %d", l)
	}
}

// The background loop notices store moves and tombstones without a failed request (RC-8).
func TestStoreRefreshNoticesChanges(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{StoreRefreshInterval: 5 * time.Millisecond})
	mustGet(t, e, "a", nil)
	s2, _ := e.cache.Store(context.Background(), 2)
	epoch := s2.epoch.Load()
	f.set(func() { f.stores[2].Address = "store2-moved"; f.stores[3].State = metapb.StoreState_Tombstone })
	deadline := time.Now().Add(5 * time.Second)
	for s2.Addr() != "store2-moved" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s2.Addr() != "store2-moved" || s2.epoch.Load() == epoch {
		t.Fatalf("store 2 not refreshed: %q", s2.Addr())
	}
	// The region cached with the old store epochs is reloaded and drops the tombstone.
	for time.Now().Before(deadline) {
		if _, err := e.cache.Store(context.Background(), 3); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	loc := mustLocate(t, e.cache, "a")
	if n := len(e.cache.region(loc.Region).peers); n != 2 {
		t.Errorf("%d peers after store 3 became a tombstone", n)
	}
	mustGet(t, e, "a", nil)
}

// While PD is down, requests keep using the known store address instead of each asking
// PD; a dead store is re-read from PD at most once per UnreachableRetry.
func TestStoreResolveDuringPDOutage(t *testing.T) {
	f := newFakeCluster(1)
	src := &failingStoreSource{fakeCluster: f}
	c := New(src, Config{UnreachableRetry: time.Hour})
	defer c.Close()
	s, err := c.Store(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	src.fail = true
	s.needCheck.Store(true)
	for i := 0; i < 5; i++ {
		if addr, err := c.stores.resolve(context.Background(), s); err != nil || addr != "store1" {
			t.Fatalf("resolve during PD outage: %q %v", addr, err)
		}
	}
	if n := f.pdStore.Load(); n != 2 {
		t.Errorf("%d store lookups, want 2 (initial + one retry)", n)
	}
	src.fail = false
	c.stores.markUnreachable(s, time.Hour)
	if !s.needCheck.Load() {
		t.Errorf("the first failure does not re-read the store")
	}
	c.stores.resolve(context.Background(), s)
	c.stores.markUnreachable(s, time.Hour)
	if s.needCheck.Load() {
		t.Errorf("a store resolved just now is re-read from PD on every failure")
	}
}

type failingStoreSource struct {
	*fakeCluster
	fail bool
}

func (f *failingStoreSource) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	if f.fail {
		f.fakeCluster.pdStore.Add(1)
		return nil, context.DeadlineExceeded
	}
	return f.fakeCluster.GetStore(ctx, id)
}

// A replica tried for 50 s is not tried again by the same request (SB-17).
func TestReplicaTimeLimit(t *testing.T) {
	f := newFakeCluster(1)
	now := time.Unix(100, 0)
	e := newEnv(t, f, Config{Now: func() time.Time { return now }})
	loc := mustLocate(t, e.cache, "a")
	sel := newSelector(e.cache.region(loc.Region), &Options{}, func() time.Time { return now }, func(int64) int64 { return 0 })
	if sel.next() == nil {
		t.Fatal("no first attempt")
	}
	now = now.Add(51 * time.Second)
	if tg := sel.next(); tg != nil && tg.r.attempts > 1 {
		t.Errorf("replica retried after 50 s")
	}
}

// Concurrent probes of one address share one call (RC-9).
func TestProbeSingleFlight(t *testing.T) {
	f := newFakeCluster(1)
	p := &slowProber{release: make(chan struct{})}
	sc := newStoreCache(f, time.Now)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sc.probe(context.Background(), p, "store1", time.Second); err != nil {
				t.Error(err)
			}
		}()
	}
	for p.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(p.release)
	wg.Wait()
	if n := p.calls.Load(); n != 1 {
		t.Errorf("%d probes, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p2 := &slowProber{release: make(chan struct{})}
	go func() { time.Sleep(10 * time.Millisecond); close(p2.release) }()
	done := make(chan error)
	go func() { done <- sc.probe(context.Background(), p2, "store2", time.Second) }()
	for p2.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := sc.probe(ctx, p2, "store2", time.Second); err == nil {
		t.Errorf("a waiter with a canceled ctx got a result")
	}
	<-done
}

type slowProber struct {
	calls   atomic.Int64
	release chan struct{}
}

func (p *slowProber) Probe(ctx context.Context, addr string) error {
	p.calls.Add(1)
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
