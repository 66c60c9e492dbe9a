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

	"github.com/tikvsql/tikvsql/kv"
)

// relayFake wraps the fake cluster with TiKV's forwarding: a request whose ctx carries
// a forwarded host is relayed by the store at addr to that host. A store in cut is
// partitioned from the client only: it refuses the client's requests and probes but
// serves what other stores relay to it. A store in noRelay answers probes but fails to
// relay.
type relayFake struct {
	*fakeCluster
	mu      sync.Mutex
	cut     map[uint64]bool
	noRelay map[uint64]bool
	slow    map[uint64]bool    // relays never answer (until ctx ends)
	path    []string           // "storeN" for direct sends, "storeP>storeN" for forwarded ones
	onRelay func(proxy uint64) // called under mu when a store relays, after its checks
}

func newRelayFake(f *fakeCluster) *relayFake {
	return &relayFake{fakeCluster: f, cut: map[uint64]bool{}, noRelay: map[uint64]bool{}, slow: map[uint64]bool{}}
}

func addrID(addr string) uint64 {
	var id uint64
	fmt.Sscanf(addr, "store%d", &id)
	return id
}

func (w *relayFake) Invoke(ctx context.Context, addr string, req Request) (Response, error) {
	host := ForwardedHost(ctx)
	id := addrID(addr)
	w.mu.Lock()
	step := addr
	if host != "" {
		step = addr + ">" + host
	}
	w.path = append(w.path, step)
	cut, noRelay, slow := w.cut[id], w.noRelay[id], w.slow[id]
	if host != "" && !cut && w.onRelay != nil {
		w.onRelay(id)
	}
	w.mu.Unlock()
	if cut {
		return nil, errors.New("connection refused (partitioned from the client)")
	}
	if host == "" {
		return w.fakeCluster.Invoke(ctx, addr, req)
	}
	var down bool
	w.set(func() { down = w.down[id] || w.blackhole[id] })
	if down {
		return nil, errors.New("connection refused")
	}
	if noRelay {
		return nil, errors.New("proxy: cannot reach forwarded host")
	}
	if slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return w.fakeCluster.Invoke(ctx, host, req) // the target's own faults apply
}

func (w *relayFake) Probe(ctx context.Context, addr string) error {
	w.mu.Lock()
	cut := w.cut[addrID(addr)]
	w.mu.Unlock()
	if cut {
		return errors.New("unhealthy")
	}
	return w.fakeCluster.Probe(ctx, addr)
}

func (w *relayFake) setCut(id uint64, v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut[id] = v
}

func (w *relayFake) setNoRelay(id uint64, v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.noRelay[id] = v
}

func (w *relayFake) takePath() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.path
	w.path = nil
	return p
}

// newProxyEnv is newEnv over a relaying fake, with forwarding on or off. Unreachable
// marks last an hour, so that only probes (run by the tests) clear them.
func newProxyEnv(t *testing.T, f *fakeCluster, forward bool) (*env, *relayFake) {
	t.Helper()
	w := newRelayFake(f)
	c := New(f, Config{Prober: w, UnreachableRetry: time.Hour})
	t.Cleanup(func() { c.Close() })
	clk := &fakeClock{now: time.Unix(1000, 0)}
	return &env{f: f, cache: c, s: NewSender(c, w, SenderConfig{Clock: clk, EnableForwarding: forward}), clock: clk}, w
}

func (e *env) put(t *testing.T, key, value string, opts *Options) error {
	t.Helper()
	_, err := Send[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](context.Background(), e.s, []byte(key),
		&kvrpcpb.RawPutRequest{Key: []byte(key), Value: []byte(value)}, opts)
	return err
}

func (e *env) proxyOf(t *testing.T, key string) int {
	t.Helper()
	loc, err := e.cache.Locate(context.Background(), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	r := e.cache.region(loc.Region)
	if r == nil {
		t.Fatal("region not cached")
	}
	return r.proxyIndex()
}

func samePath(got []string, want ...string) bool {
	return strings.Join(got, " ") == strings.Join(want, " ")
}

// The leader's store is cut off from the client: the request goes through the first
// follower with the leader's address as forwarded host, its Context still names the
// leader peer, the region stays cached, the proxy is remembered and reused, and after
// the leader recovers requests go direct again.
// client-go: internal/locate/region_request3_test.go TestForwarding;
// internal/locate/replica_selector_test.go TestReplicaReadAccessPathByProxyCase (cases 1, 2).
func TestForwardingThroughProxy(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	if err := e.put(t, "k", "v1", nil); err != nil {
		t.Fatal(err)
	}
	w.takePath()
	pdCalls := f.pdRegion.Load()

	w.setCut(1, true)
	f.resetSent()
	if err := e.put(t, "k", "v2", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store2>store1") {
		t.Fatalf("path = %v", p)
	}
	ctxs := f.contexts()
	if len(ctxs) != 1 || ctxs[0].GetPeer().GetStoreId() != 1 || ctxs[0].ReplicaRead || ctxs[0].StaleRead {
		t.Fatalf("forwarded contexts = %v", ctxs)
	}
	if got := f.sent(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("served by %v, want the leader", got)
	}
	if i := e.proxyOf(t, "k"); i != 1 {
		t.Fatalf("remembered proxy index = %d, want 1 (store 2)", i)
	}
	if f.pdRegion.Load() != pdCalls {
		t.Fatal("the leader's region was reloaded: forwarding must keep it cached")
	}
	st := e.cache.stores.get(1)
	if st.Reachable(time.Now()) {
		t.Fatal("leader store not marked unreachable")
	}

	// Remembered and reused: no direct attempt, no other proxy.
	resp, err := e.get(t, "k", nil)
	if err != nil || string(resp.Value) != "v2" {
		t.Fatal(resp, err)
	}
	if p := w.takePath(); !samePath(p, "store2>store1") {
		t.Fatalf("path = %v", p)
	}

	// The leader comes back: a probe clears the mark, requests go direct and the proxy
	// is forgotten.
	w.setCut(1, false)
	e.cache.stores.probeUnreachable(context.Background(), w, time.Second)
	if !st.Reachable(time.Now()) {
		t.Fatal("leader store still unreachable after a good probe")
	}
	if _, err := e.get(t, "k", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1") {
		t.Fatalf("path = %v", p)
	}
	if i := e.proxyOf(t, "k"); i != -1 {
		t.Fatalf("proxy index = %d after recovery, want -1", i)
	}
}

// A proxy that cannot relay is not used again by the request; the next follower is
// tried and becomes the remembered proxy, which later requests keep using even when
// the first follower works again.
// client-go: internal/locate/region_request3_test.go TestReplicaSelector ("When the
// current proxy node fails, it should try another one", "proxy store is saved").
func TestForwardingRotatesFailingProxy(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	w.setCut(1, true)
	w.setNoRelay(2, true)
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store2>store1", "store3>store1") {
		t.Fatalf("path = %v", p)
	}
	if i := e.proxyOf(t, "k"); i != 2 {
		t.Fatalf("remembered proxy index = %d, want 2 (store 3)", i)
	}
	w.setNoRelay(2, false)
	if _, err := e.get(t, "k", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store3>store1") {
		t.Fatalf("path = %v, want the remembered proxy", p)
	}
}

// When every follower fails to relay, the request ends with a Resplit error after one
// attempt per proxy, without another direct attempt on the unreachable leader, and the
// region is dropped from the cache.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByProxyCase (case 3).
func TestForwardingAllProxiesFail(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	loc, err := e.cache.Locate(context.Background(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	w.setCut(1, true)
	w.setNoRelay(2, true)
	w.setNoRelay(3, true)
	_, err = SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
		&kvrpcpb.RawGetRequest{Key: []byte("k")}, nil)
	var re *Error
	if !errors.As(err, &re) || !re.Resplit || !errors.Is(err, kv.ErrRegionUnavailable) {
		t.Fatalf("err = %v, want a Resplit *Error", err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store2>store1", "store3>store1") {
		t.Fatalf("path = %v", p)
	}
	if r := e.cache.region(loc.Region); r != nil && r.reason() == ReasonNone {
		t.Fatal("region still valid")
	}
	if !e.cache.stores.get(1).needCheck.Load() {
		t.Fatal("leader store not queued for a PD lookup")
	}
}

// NotLeader through the proxy names a reachable new leader: it is asked directly, the
// cache learns it and the proxy is forgotten.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByProxyCase (case 4).
func TestForwardingNotLeaderThroughProxy(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	w.setCut(1, true)
	f.setLeader("k", 2)
	w.takePath()
	if _, err := e.get(t, "k", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store2>store1", "store2") {
		t.Fatalf("path = %v", p)
	}
	loc, _ := e.cache.Locate(context.Background(), []byte("k"))
	if _, st := e.cache.region(loc.Region).leaderPeer(); st.ID() != 2 {
		t.Fatalf("cached leader on store %d, want 2", st.ID())
	}
	if _, err := e.get(t, "k", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store2") {
		t.Fatalf("path = %v", p)
	}
	if i := e.proxyOf(t, "k"); i != -1 {
		t.Fatalf("proxy index = %d, want -1", i)
	}
}

// The new leader named by NotLeader (the proxy's own store) then fails directly too:
// it is reached through a follower that has not been tried yet.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByProxyCase (case 4).
func TestForwardingToHintedLeader(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	w.takePath()
	w.setCut(1, true)
	f.setLeader("k", 2)
	w.onRelay = func(proxy uint64) {
		if proxy == 2 {
			w.cut[2] = true // cut off right after it relayed
		}
	}
	if err := e.put(t, "k", "v2", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store2>store1", "store2", "store3>store2") {
		t.Fatalf("path = %v", p)
	}
}

// Without EnableForwarding (the default) nothing is ever forwarded: the followers are
// asked as before and, as they point back at the unreachable leader, the request fails.
func TestForwardingOffByDefault(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, false)
	w.setCut(1, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("k"),
		&kvrpcpb.RawGetRequest{Key: []byte("k")}, &Options{Budget: time.Second})
	if err == nil {
		t.Fatal("read from a cut-off leader succeeded without forwarding")
	}
	for _, p := range w.takePath() {
		if strings.Contains(p, ">") {
			t.Fatalf("forwarded %s with forwarding off", p)
		}
	}
}

// Replica reads, stale reads and single-replica regions never use a proxy.
func TestForwardingOnlyLeaderRequests(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	w.setCut(1, true)
	if _, err := e.get(t, "k", &Options{ReplicaRead: ReadFollower}); err != nil {
		t.Fatal(err)
	}
	for _, p := range w.takePath() {
		if strings.Contains(p, ">") {
			t.Fatalf("follower read forwarded: %s", p)
		}
	}
	one := newFakeCluster(1)
	e1, w1 := newProxyEnv(t, one, true)
	w1.setCut(1, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e1.s, []byte("k"),
		&kvrpcpb.RawGetRequest{Key: []byte("k")}, &Options{Budget: time.Second}); err == nil {
		t.Fatal("single replica behind a partition answered")
	}
	for _, p := range w1.takePath() {
		if strings.Contains(p, ">") {
			t.Fatalf("single-replica region forwarded: %s", p)
		}
	}
}

// StoreNotMatch through a proxy concerns the leader's address: that one's connections
// are dropped, not the proxy's.
func TestForwardingStoreNotMatchClosesTarget(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	w.setCut(1, true)
	f.set(func() {
		f.inject = func(storeID uint64, c *kvrpcpb.Context) *errorpb.Error {
			if storeID == 1 {
				return &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: 1, ActualStoreId: 9}}
			}
			return nil
		}
	})
	loc, err := e.cache.Locate(context.Background(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
		&kvrpcpb.RawGetRequest{Key: []byte("k")}, nil)
	var re *Error
	if !errors.As(err, &re) || !re.Resplit {
		t.Fatalf("err = %v", err)
	}
	f.set(func() {
		if len(f.closed) != 1 || f.closed[0] != "store1" {
			t.Errorf("closed %v, want [store1]", f.closed)
		}
	})
}

// A proxy whose store does not answer its probe is marked unreachable; the request goes
// on through the next follower.
func TestForwardingProxyDown(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	w.setCut(1, true)
	f.set(func() { f.down[2] = true })
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store2>store1", "store3>store1") {
		t.Fatalf("path = %v", p)
	}
	if e.cache.stores.get(2).Reachable(time.Now()) {
		t.Fatal("dead proxy not marked unreachable")
	}
}

func TestForwardedHostContext(t *testing.T) {
	ctx := context.Background()
	if WithForwardedHost(ctx, "") != ctx || ForwardedHost(ctx) != "" {
		t.Fatal("empty host changed ctx")
	}
	if got := ForwardedHost(WithForwardedHost(ctx, "h:1")); got != "h:1" {
		t.Fatalf("ForwardedHost = %q", got)
	}
}

// With a Prober, a leader store stays cut off (forwarded to) after its unreachable
// mark lapses, until a probe finds it alive; without one, the lapse sends requests
// direct again.
func TestForwardingMarkLapse(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	w.setCut(1, true)
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	w.takePath()
	st := e.cache.stores.get(1)
	st.unreachableUntil.Store(1) // lapsed long ago, never cleared by a probe
	if _, err := e.get(t, "k", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store2>store1") {
		t.Fatalf("path = %v, want the proxy while no probe succeeded", p)
	}

	// No Prober: the mark's lapse is all there is.
	f2 := newFakeCluster(3)
	w2 := newRelayFake(f2)
	c := New(f2, Config{UnreachableRetry: time.Hour})
	t.Cleanup(func() { c.Close() })
	s := NewSender(c, w2, SenderConfig{Clock: &fakeClock{now: time.Unix(1000, 0)}, EnableForwarding: true})
	w2.setCut(1, true)
	if _, err := Send[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](context.Background(), s, []byte("k"),
		&kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if p := w2.takePath(); !samePath(p, "store1", "store2>store1") {
		t.Fatalf("path = %v", p)
	}
	c.stores.get(1).unreachableUntil.Store(1)
	w2.setCut(1, false)
	if _, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, []byte("k"),
		&kvrpcpb.RawGetRequest{Key: []byte("k")}, nil); err != nil {
		t.Fatal(err)
	}
	if p := w2.takePath(); !samePath(p, "store1") {
		t.Fatalf("path = %v, want direct after the lapse", p)
	}
}

// A proxy whose store PD no longer knows is skipped like one that failed.
func TestForwardingProxyTombstone(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	w.takePath()
	w.setCut(1, true)
	f.set(func() { f.stores[2].State = metapb.StoreState_Tombstone })
	e.cache.stores.get(2).needCheck.Store(true) // as after a failure: ask PD on next use
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	if p := w.takePath(); !samePath(p, "store1", "store3>store1") {
		t.Fatalf("path = %v", p)
	}
}

// A forwarded read whose proxy does not answer within the read timeout's round moves to
// the next proxy at once (the round's rules, readtimeout.go, apply to the leader target).
func TestForwardingReadTimeoutRound(t *testing.T) {
	f := newFakeCluster(3)
	e, w := newProxyEnv(t, f, true)
	if err := e.put(t, "k", "v", nil); err != nil {
		t.Fatal(err)
	}
	w.takePath()
	w.setCut(1, true)
	if _, err := e.get(t, "k", nil); err != nil { // marks store 1, remembers store 2
		t.Fatal(err)
	}
	w.takePath()
	w.mu.Lock()
	w.slow[2] = true
	w.mu.Unlock()
	resp, err := e.get(t, "k", &Options{ReadTimeout: 20 * time.Millisecond})
	if err != nil || string(resp.Value) != "v" {
		t.Fatal(resp, err)
	}
	if p := w.takePath(); !samePath(p, "store2>store1", "store3>store1") {
		t.Fatalf("path = %v", p)
	}
}
