package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvsql/tikvsql/kv"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestUnaryFallback(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{})
	ctx := context.Background()
	// RawGetKeyTTL is not carried by the stream.
	resp, err := Call(ctx, c, f.addr, RawGetKeyTTL, &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("abc")}, CallOptions{})
	if err != nil || resp.Ttl != 3 {
		t.Fatalf("RawGetKeyTTL = %v, %v", resp, err)
	}
	if RawGetKeyTTL.Batched() || !RawGet.Batched() || RawGet.Name() != "RawGet" {
		t.Fatal("method table")
	}
	// With batching off, batchable methods go unary too.
	c2 := newClient(t, Config{MaxBatchSize: -1})
	if v, err := rawGet(ctx, c2, f.addr, "u", CallOptions{}); err != nil || v != "u" {
		t.Fatalf("unary RawGet = %q, %v", v, err)
	}
	if f.unary.Load() != 2 || f.requests.Load() != 0 {
		t.Fatalf("unary %d, batched %d", f.unary.Load(), f.requests.Load())
	}
	// A method the server does not implement.
	_, err = Call(ctx, c, f.addr, SplitRegion, &kvrpcpb.SplitRegionRequest{}, CallOptions{})
	var se *StoreError
	if !errors.Is(err, ErrUnimplemented) || !errors.As(err, &se) || strings.Contains(err.Error(), "rpc error") {
		t.Fatalf("SplitRegion: %v", err)
	}
}

func TestWrongBatchResponseType(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{})
	_, err := Call(context.Background(), c, f.addr, KvCommit, &kvrpcpb.CommitRequest{}, CallOptions{})
	if err == nil || !strings.Contains(err.Error(), "command 1, want 4") {
		t.Fatalf("err = %v", err)
	}
}

func TestContextStamping(t *testing.T) {
	f := startFake(t, nil)
	var seen *kvrpcpb.Context
	spy := Interceptor{Name: "spy", Wrap: func(next Invoker) Invoker {
		return func(ctx context.Context, inv *Invocation) (any, error) {
			seen = inv.Request.(*kvrpcpb.RawGetRequest).Context
			return next(ctx, inv)
		}
	}}
	c := newClient(t, Config{Context: RequestContext{ClusterID: 9, RequestSource: "test", ResourceGroup: "rg"}, Interceptors: []Interceptor{spy}})
	rc := RequestContext{RegionID: 5, IsRetryRequest: true, TraceID: []byte{1}, TraceControlFlags: 2, BusyThresholdMs: 30,
		ResolvedLocks: []uint64{7}, CommittedLocks: []uint64{8}, RequestSource: "call", KeyspaceID: 3, KeyspaceName: "ks",
		Priority: kvrpcpb.CommandPri_High, APIVersion: kvrpcpb.APIVersion_V2, ReplicaRead: true, StaleRead: true,
		NotFillCache: true, IsolationLevel: kvrpcpb.IsolationLevel_RC, DiskFullOpt: kvrpcpb.DiskFullOpt_AllowedOnAlmostFull,
		MaxExecutionDurationMs: 100, TxnSource: 4, RequestOrigin: 1, ResourceGroupTag: []byte("t")}
	if _, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{Context: rc}); err != nil {
		t.Fatal(err)
	}
	if seen.ClusterId != 9 || seen.RequestSource != "call" || seen.ResourceControlContext.ResourceGroupName != "rg" ||
		seen.RegionId != 5 || !seen.IsRetryRequest || seen.BusyThresholdMs != 30 || seen.ResolvedLocks[0] != 7 ||
		seen.CommittedLocks[0] != 8 || seen.TraceControlFlags != 2 || seen.GetKeyspaceId() != 3 || !seen.StaleRead ||
		seen.IsolationLevel != kvrpcpb.IsolationLevel_RC || seen.MaxExecutionDurationMs != 100 || seen.TxnSource != 4 {
		t.Fatalf("stamped context %+v", seen)
	}
}

func TestInterceptorOrderAndDedup(t *testing.T) {
	f := startFake(t, nil)
	var mu sync.Mutex
	var log []string
	mk := func(name, tag string) Interceptor {
		return Interceptor{Name: name, Wrap: func(next Invoker) Invoker {
			return func(ctx context.Context, inv *Invocation) (any, error) {
				mu.Lock()
				log = append(log, tag+">")
				mu.Unlock()
				resp, err := next(ctx, inv)
				mu.Lock()
				log = append(log, "<"+tag)
				mu.Unlock()
				return resp, err
			}
		}}
	}
	// A later interceptor of a name replaces the earlier one and moves to its place at
	// the end (client-go: tikvrpc/interceptor/interceptor_test.go TestInterceptor, RPCInterceptorChain.Link): client-wide,
	// then ctx-bound, then per-call.
	c := newClient(t, Config{Interceptors: []Interceptor{mk("a", "a"), mk("b", "b"), mk("a", "dup")}})
	ctx := WithInterceptors(context.Background(), mk("x", "x"))
	ctx = WithInterceptors(ctx, mk("y", "y"), mk("b", "ctxb"))
	_, err := rawGet(ctx, c, f.addr, "k", CallOptions{Interceptors: []Interceptor{mk("c", "c"), mk("y", "dup2")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, " "); got != "dup> x> ctxb> c> dup2> <dup2 <c <ctxb <x <dup" {
		t.Fatalf("order %q", got)
	}
	log = nil
	if _, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, " "); got != "b> dup> <dup <b" {
		t.Fatalf("client-wide only: order %q", got)
	}
	// Fault injection: an interceptor answers instead of the server.
	boom := errors.New("injected")
	fault := Interceptor{Name: "fault", Wrap: func(Invoker) Invoker {
		return func(context.Context, *Invocation) (any, error) { return nil, boom }
	}}
	if _, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{Interceptors: []Interceptor{fault}}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	regionErr := Interceptor{Name: "region", Wrap: func(Invoker) Invoker {
		return func(context.Context, *Invocation) (any, error) {
			return &kvrpcpb.RawGetResponse{RegionError: &errorpb.Error{NotLeader: &errorpb.NotLeader{}}}, nil
		}
	}}
	resp, err := Call(context.Background(), c, f.addr, RawGet, &kvrpcpb.RawGetRequest{}, CallOptions{Interceptors: []Interceptor{regionErr}})
	if err != nil || RegionError(resp).GetNotLeader() == nil {
		t.Fatalf("region error passthrough: %v %v", resp, err)
	}
	wrongType := Interceptor{Name: "wrong", Wrap: func(Invoker) Invoker {
		return func(context.Context, *Invocation) (any, error) { return &kvrpcpb.GetResponse{}, nil }
	}}
	if _, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{Interceptors: []Interceptor{wrongType}}); err == nil {
		t.Fatal("wrong response type accepted")
	}
	badReq := Interceptor{Name: "badreq", Wrap: func(next Invoker) Invoker {
		return func(ctx context.Context, inv *Invocation) (any, error) {
			inv.Request = &kvrpcpb.GetRequest{}
			return next(ctx, inv)
		}
	}}
	if _, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{Interceptors: []Interceptor{badReq}}); err == nil {
		t.Fatal("wrong request type accepted")
	}
}

type recordingTracer struct {
	mu   sync.Mutex
	ends []kv.RPCEnd
}

func (r *recordingTracer) TraceRPCStart(ctx context.Context, _ kv.RPCStart) context.Context {
	return ctx
}
func (r *recordingTracer) TraceRPCEnd(_ context.Context, ev kv.RPCEnd) {
	r.mu.Lock()
	r.ends = append(r.ends, ev)
	r.mu.Unlock()
}

func TestTracer(t *testing.T) {
	f := startFake(t, nil)
	tr := &recordingTracer{}
	c := newClient(t, Config{Tracer: tr})
	if _, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{StoreID: 3, Context: RequestContext{RegionID: 11}}); err != nil {
		t.Fatal(err)
	}
	if len(tr.ends) != 1 || tr.ends[0].Method != "RawGet" || tr.ends[0].RegionID != 11 || tr.ends[0].StoreID != 3 || tr.ends[0].Attempt != 1 {
		t.Fatalf("trace %+v", tr.ends)
	}
}

func TestResolveLockCollapsing(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{})
	ctx := context.Background()
	whole := func() error {
		_, err := Call(ctx, c, f.addr, KvResolveLock, &kvrpcpb.ResolveLockRequest{StartVersion: 10},
			CallOptions{Context: RequestContext{RegionID: 1}})
		return err
	}
	const n = 10
	errs := make(chan error, n+1)
	for range n {
		go func() { errs <- whole() }()
	}
	// A ResolveLock with keys is never collapsed.
	go func() {
		_, err := Call(ctx, c, f.addr, KvResolveLock, &kvrpcpb.ResolveLockRequest{StartVersion: 10, Keys: [][]byte{{1}}},
			CallOptions{Context: RequestContext{RegionID: 1}})
		errs <- err
	}()
	waitFor(t, "two ResolveLock RPCs", func() bool { return f.resolves.Load() == 2 })
	time.Sleep(20 * time.Millisecond)
	f.releaseAll()
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := f.resolves.Load(); got != 2 {
		t.Fatalf("%d ResolveLock RPCs reached the server, want 2", got)
	}
}

// A waiter whose leader gave up on its own ctx runs the call itself.
func TestCollapseLeaderCancelled(t *testing.T) {
	var g collapser
	key := collapseKey{regionID: 1}
	started := make(chan struct{})
	leaderCtx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	fn := func(ctx context.Context) (any, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return "ok", nil
	}
	done := make(chan error, 1)
	go func() { _, err := g.do(leaderCtx, key, fn); done <- err }()
	<-started
	res := make(chan any, 1)
	go func() { v, _ := g.do(context.Background(), key, fn); res <- v }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	if v := <-res; v != "ok" {
		t.Fatalf("waiter got %v", v)
	}
	// A waiter whose own ctx ends stops waiting.
	block := make(chan struct{})
	go func() {
		_, _ = g.do(context.Background(), key, func(context.Context) (any, error) { <-block; return nil, nil })
	}()
	waitFor(t, "flight", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.flights[key] != nil })
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := g.do(ctx, key, fn); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	close(block)
	waitFor(t, "flight end", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.flights[key] == nil })
}

func TestForwarding(t *testing.T) {
	f := startFake(t, nil)
	ctx := context.Background()
	off := newClient(t, Config{})
	if _, err := rawGet(ctx, off, f.addr, "k", CallOptions{ForwardedHost: "leader:20160"}); !errors.Is(err, ErrForwardingDisabled) {
		t.Fatalf("err = %v", err)
	}
	c := newClient(t, Config{EnableForwarding: true, ConnectionCount: 1})
	if v, err := rawGet(ctx, c, f.addr, "fwd", CallOptions{ForwardedHost: "leader:20160"}); err != nil || v != "fwd" {
		t.Fatalf("forwarded batch call: %q %v", v, err)
	}
	if _, err := Call(ctx, c, f.addr, RawGetKeyTTL, &kvrpcpb.RawGetKeyTTLRequest{}, CallOptions{ForwardedHost: "leader2:20160"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := fmt.Sprint(f.forwarded); got != "[leader:20160]" {
		// The unary RawGetKeyTTL handler does not record; the stream did.
		t.Fatalf("forwarded hosts seen %s", got)
	}
}

func TestAddressTranslationAndDialer(t *testing.T) {
	f := startFake(t, nil)
	var dials atomic.Int32
	c := newClient(t, Config{
		ConnectionCount: 2,
		TranslateAddr: func(_ context.Context, advertised string) (string, error) {
			if advertised != "tikv-0.tikv-peer.svc:20160" {
				return "", fmt.Errorf("unknown store %s", advertised)
			}
			return f.addr, nil
		},
		Dialer: func(ctx context.Context, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	})
	ctx := context.Background()
	if v, err := rawGet(ctx, c, "tikv-0.tikv-peer.svc:20160", "nat", CallOptions{}); err != nil || v != "nat" {
		t.Fatalf("translated call: %q %v", v, err)
	}
	waitFor(t, "both connections", func() bool { return dials.Load() == 2 })
	f.mu.Lock()
	auth := fmt.Sprint(f.authority)
	f.mu.Unlock()
	if !strings.Contains(auth, "tikv-0.tikv-peer.svc:20160") {
		t.Fatalf("authority %s, want the advertised name", auth)
	}
	_, err := rawGet(ctx, c, "other:1", "k", CallOptions{})
	var se *StoreError
	if !errors.As(err, &se) || !errors.Is(err, kv.ErrStoreUnavailable) || se.MaybeSent {
		t.Fatalf("untranslatable: %v", err)
	}
}

func TestHealthCheck(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{})
	ctx := context.Background()
	if err := c.CheckHealth(ctx, f.addr); err != nil {
		t.Fatal(err)
	}
	f.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := c.CheckHealth(ctx, f.addr); !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("not serving: %v", err)
	}
}

func TestUnreachableStore(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	c := newClient(t, Config{ConnectionCount: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, call := range []func() error{
		func() error { _, err := rawGet(ctx, c, addr, "k", CallOptions{}); return err },
		func() error {
			_, err := Call(ctx, c, addr, RawGetKeyTTL, &kvrpcpb.RawGetKeyTTLRequest{}, CallOptions{})
			return err
		},
		func() error { return c.CheckHealth(ctx, addr) },
	} {
		err := call()
		var se *StoreError
		if !errors.Is(err, kv.ErrStoreUnavailable) || !errors.As(err, &se) || se.Addr != addr || !kv.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	}
}

func TestCloseDrainsAndJoins(t *testing.T) {
	f := startFake(t, nil)
	c, err := New(Config{ConnectionCount: 2, EnableForwarding: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := rawGet(ctx, c, f.addr, "warm", CallOptions{ForwardedHost: "x:1"}); err != nil {
		t.Fatal(err)
	}
	// A call finishing during the drain succeeds.
	quick := make(chan error, 1)
	go func() { _, err := rawGet(ctx, c, f.addr, "block-drain", CallOptions{}); quick <- err }()
	waitFor(t, "blocked", func() bool { return f.blockedCount() == 1 })
	go func() { time.Sleep(20 * time.Millisecond); f.releaseAll() }()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-quick; err != nil {
		t.Fatalf("drained call: %v", err)
	}
	if _, err := rawGet(ctx, c, f.addr, "k", CallOptions{}); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := c.CheckHealth(ctx, f.addr); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseCutsDrainShort(t *testing.T) {
	f := startFake(t, nil)
	c, err := New(Config{ConnectionCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() { _, err := rawGet(ctx, c, f.addr, "block-1", CallOptions{}); errs <- err }()
	go func() {
		_, err := Call(ctx, c, f.addr, KvResolveLock, &kvrpcpb.ResolveLockRequest{Keys: [][]byte{{1}}}, CallOptions{})
		errs <- err
	}()
	waitFor(t, "blocked", func() bool { return f.blockedCount() == 1 && f.resolves.Load() == 1 })
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := c.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, kv.ErrClosed) {
			t.Fatalf("in-flight call: %v", err)
		}
	}
}

func TestCloseStore(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 1})
	ctx := context.Background()
	if _, err := rawGet(ctx, c, f.addr, "a", CallOptions{}); err != nil {
		t.Fatal(err)
	}
	// A request in flight when its store is closed fails retryably, not with ErrClosed.
	inflight := make(chan error, 1)
	go func() { _, err := rawGet(ctx, c, f.addr, "block-cs", CallOptions{}); inflight <- err }()
	waitFor(t, "blocked", func() bool { return f.blockedCount() == 1 })
	old, _ := c.store(ctx, f.addr)
	c.CloseStore(f.addr)
	c.CloseStore("never-dialled:1")
	if _, err := c.batchConn(old, "leader:1"); !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("forwarding through a closed store: %v", err)
	}
	err := <-inflight
	var se *StoreError
	if !errors.As(err, &se) || !se.MaybeSent || errors.Is(err, kv.ErrClosed) || !kv.IsRetryable(err) {
		t.Fatalf("in flight at CloseStore: %v", err)
	}
	if v, err := rawGet(ctx, c, f.addr, "b", CallOptions{}); err != nil || v != "b" {
		t.Fatalf("redial: %q %v", v, err)
	}
	if f.streamSeq.Load() != 2 {
		t.Fatalf("%d streams, want 2", f.streamSeq.Load())
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{ConnectionCount: -1},
		{MaxBatchSize: 1 << 20},
		{KeepAliveTimeout: time.Millisecond},
		{BatchWait: -1},
		{BatchPolicy: 9},
		{Compression: "zstd"},
		{TLSFiles: TLSFiles{CA: "/nonexistent/ca.pem"}},
	}
	for i, cfg := range bad {
		if c, err := New(cfg); err == nil {
			_ = c.Close(context.Background())
			t.Errorf("config %d accepted", i)
		}
	}
	c := newClient(t, Config{Compression: "gzip", KeepAliveTimeout: 50 * time.Millisecond, BatchPolicy: BatchNoWait})
	f := startFake(t, nil)
	if v, err := rawGet(context.Background(), c, f.addr, "gz", CallOptions{}); err != nil || v != "gz" {
		t.Fatalf("gzip: %q %v", v, err)
	}
}

func TestRegionErrorKind(t *testing.T) {
	cases := map[string]*errorpb.Error{
		"":                         nil,
		"not_leader":               {NotLeader: &errorpb.NotLeader{}},
		"epoch_not_match":          {EpochNotMatch: &errorpb.EpochNotMatch{}},
		"server_is_busy":           {ServerIsBusy: &errorpb.ServerIsBusy{}},
		"region_not_found":         {RegionNotFound: &errorpb.RegionNotFound{}},
		"disk_full":                {DiskFull: &errorpb.DiskFull{}},
		"key_not_in_region":        {KeyNotInRegion: &errorpb.KeyNotInRegion{}},
		"stale_command":            {StaleCommand: &errorpb.StaleCommand{}},
		"store_not_match":          {StoreNotMatch: &errorpb.StoreNotMatch{}},
		"raft_entry_too_large":     {RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}},
		"max_timestamp_not_synced": {MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}},
		"read_index_not_ready":     {ReadIndexNotReady: &errorpb.ReadIndexNotReady{}},
		"proposal_in_merging_mode": {ProposalInMergingMode: &errorpb.ProposalInMergingMode{}},
		"data_is_not_ready":        {DataIsNotReady: &errorpb.DataIsNotReady{}},
		"region_not_initialized":   {RegionNotInitialized: &errorpb.RegionNotInitialized{}},
		"recovery_in_progress":     {RecoveryInProgress: &errorpb.RecoveryInProgress{}},
		"flashback_in_progress":    {FlashbackInProgress: &errorpb.FlashbackInProgress{}},
		"flashback_not_prepared":   {FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}},
		"is_witness":               {IsWitness: &errorpb.IsWitness{}},
		"mismatch_peer_id":         {MismatchPeerId: &errorpb.MismatchPeerId{}},
		"bucket_version_not_match": {BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{}},
		"undetermined_result":      {UndeterminedResult: &errorpb.UndeterminedResult{}},
		"unknown":                  {Message: "x"},
	}
	for want, e := range cases {
		if got := regionErrorKind(e); got != want {
			t.Errorf("regionErrorKind = %q, want %q", got, want)
		}
	}
	if RegionError(42) != nil {
		t.Fatal("RegionError of a non-response")
	}
}

// Streams to a forwarded host close after ForwardIdleTimeout; a later call opens new ones.
func TestForwardedIdleReaping(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{EnableForwarding: true, ConnectionCount: 1, ForwardIdleTimeout: 20 * time.Millisecond,
		SweepInterval: 5 * time.Millisecond})
	ctx := context.Background()
	opts := CallOptions{ForwardedHost: "leader:20160"}
	if _, err := rawGet(ctx, c, f.addr, "a", opts); err != nil {
		t.Fatal(err)
	}
	st, _ := c.store(ctx, f.addr)
	waitFor(t, "reaping", func() bool { st.mu.Lock(); defer st.mu.Unlock(); return len(st.forwarded) == 0 })
	if v, err := rawGet(ctx, c, f.addr, "b", opts); err != nil || v != "b" {
		t.Fatalf("after reaping: %q %v", v, err)
	}
	// The store's own batch client is never reaped.
	if _, err := rawGet(ctx, c, f.addr, "c", CallOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	if st.main.reaped.Load() {
		t.Fatal("main batch client reaped")
	}
	if n := f.streamSeq.Load(); n != 3 {
		t.Fatalf("%d streams opened, want 3 (forwarded, forwarded again, main)", n)
	}
}
