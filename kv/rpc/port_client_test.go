package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"

	"github.com/tikvsql/tikvsql/kv"
)

// serveFake serves a new fakeTiKV on addr ("127.0.0.1:0" for any port) with extra server
// options, until the test ends. On a fixed address it retries the listen briefly, for an
// address a stopped server has just released.
func serveFake(t *testing.T, addr string, opts ...grpc.ServerOption) *fakeTiKV {
	t.Helper()
	var lis net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for lis, err = net.Listen("tcp", addr); err != nil; lis, err = net.Listen("tcp", addr) {
		if time.Now().After(deadline) {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	f := &fakeTiKV{addr: lis.Addr().String(), release: make(chan struct{}),
		keyStream: map[string]int64{}, blocked: map[string]struct{}{}, health: health.NewServer()}
	f.srv = grpc.NewServer(append([]grpc.ServerOption{grpc.ForceServerCodecV2(newWireCodec(mem.DefaultBufferPool()))}, opts...)...)
	tikvpb.RegisterTikvServer(f.srv, f)
	healthpb.RegisterHealthServer(f.srv, f.health)
	done := make(chan struct{})
	go func() { defer close(done); _ = f.srv.Serve(lis) }()
	t.Cleanup(func() {
		f.releaseAll()
		f.srv.Stop()
		<-done
	})
	return f
}

// client-go: internal/client/client_test.go TestBatchClientRecoverAfterServerRestart
// (requests succeed, fail retryably while the store is down, and succeed again on the same
// client once the store is back at the same address)
func TestPortRecoverAfterServerRestart(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 2})
	ctx := context.Background()
	for i := range 100 {
		if _, err := rawGet(ctx, c, f.addr, "before", CallOptions{}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	f.releaseAll()
	f.srv.Stop()
	for i := range 10 {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := rawGet(short, c, f.addr, "down", CallOptions{})
		cancel()
		if err == nil {
			t.Fatalf("request %d succeeded with the store down", i)
		}
		if !errors.Is(err, kv.ErrStoreUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	f2 := serveFake(t, f.addr)
	deadline := time.Now().Add(20 * time.Second) // reconnect backoff grows to 3 s
	for {
		v, err := rawGet(ctx, c, f.addr, "after", CallOptions{})
		if err == nil {
			if v != "after" {
				t.Fatalf("answer %q", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 100 {
		if _, err := rawGet(ctx, c, f.addr, "again", CallOptions{}); err != nil {
			t.Fatalf("request %d after recovery: %v", i, err)
		}
	}
	if f2.requests.Load()+f2.unary.Load() == 0 {
		t.Fatal("the restarted store saw nothing")
	}
}

// client-go: internal/client/client_test.go TestConcurrentCloseConnPanic (closing the
// client and one of its stores at the same time is safe, and both return)
func TestPortConcurrentCloseAndCloseStore(t *testing.T) {
	f := startFake(t, nil)
	c, err := New(Config{ConnectionCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := rawGet(ctx, c, f.addr, "warm", CallOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		c.CloseStore(f.addr)
	}()
	wg.Wait()
	if _, err := rawGet(ctx, c, f.addr, "k", CallOptions{}); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// client-go: internal/client/client_test.go TestForwardMetadataByUnaryCall (a unary call
// through a proxy store carries the forwarded-host metadata; one without a proxy carries
// none). The batched case is TestForwarding.
func TestPortForwardMetadataByUnaryCall(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{EnableForwarding: true, MaxBatchSize: -1})
	ctx := context.Background()
	if v, err := rawGet(ctx, c, f.addr, "direct", CallOptions{}); err != nil || v != "direct" {
		t.Fatalf("direct unary call: %q %v", v, err)
	}
	if v, err := rawGet(ctx, c, f.addr, "fwd", CallOptions{ForwardedHost: "leader:20160"}); err != nil || v != "fwd" {
		t.Fatalf("forwarded unary call: %q %v", v, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unary.Load() != 2 || len(f.forwarded) != 1 || f.forwarded[0] != "leader:20160" {
		t.Fatalf("%d unary calls, forwarded hosts seen %q", f.unary.Load(), f.forwarded)
	}
}

// client-go: internal/client/client_test.go TestConn (the part that still applies: calls to
// one store rotate over its ConnectionCount connections, and every connection carries its
// own BatchCommands stream). Versioned pools (CloseAddrVer) are not built.
func TestPortConnectionRoundRobin(t *testing.T) {
	var mu sync.Mutex
	unaryPeers, streamPeers := map[string]int{}, map[string]int{}
	note := func(ctx context.Context, m map[string]int) {
		if p, ok := peer.FromContext(ctx); ok {
			mu.Lock()
			m[p.Addr.String()]++
			mu.Unlock()
		}
	}
	f := serveFake(t, "127.0.0.1:0",
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			note(ctx, unaryPeers)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			note(ss.Context(), streamPeers)
			return h(srv, ss)
		}))
	const conns = 4
	ctx := context.Background()
	unary := newClient(t, Config{ConnectionCount: conns, MaxBatchSize: -1})
	for i := range 2 * conns {
		if _, err := rawGet(ctx, unary, f.addr, "u", CallOptions{}); err != nil {
			t.Fatalf("unary call %d: %v", i, err)
		}
	}
	mu.Lock()
	if len(unaryPeers) != conns {
		t.Errorf("unary calls used %d connections, want %d: %v", len(unaryPeers), conns, unaryPeers)
	}
	for addr, n := range unaryPeers {
		if n != 2 {
			t.Errorf("connection %s carried %d of %d calls", addr, n, 2*conns)
		}
	}
	mu.Unlock()

	batched := newClient(t, Config{ConnectionCount: conns})
	if _, err := rawGet(ctx, batched, f.addr, "b", CallOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one stream per connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(streamPeers) == conns
	})
	mu.Lock()
	defer mu.Unlock()
	for addr, n := range streamPeers {
		if n != 1 {
			t.Errorf("connection %s carries %d streams", addr, n)
		}
	}
}
