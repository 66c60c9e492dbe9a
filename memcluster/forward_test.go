package memcluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// seen records which store served requests and who relayed them.
type seen struct {
	mu   sync.Mutex
	reqs []Request
}

func (s *seen) hook(_ context.Context, r *Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, Request{StoreID: r.StoreID, Method: r.Method, ProxyStoreID: r.ProxyStoreID})
	return nil
}

func (s *seen) last() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return Request{}
	}
	return s.reqs[len(s.reqs)-1]
}

// forwardEnv is a 3-store cluster whose key "k" is led by leader; proxy is another
// store.
func forwardEnv(t *testing.T) (e *testEnv, rc *kvrpcpb.Context, leader, proxy uint64, leaderAddr string, s *seen) {
	t.Helper()
	e = newTestEnv(t, Options{Stores: 3})
	rc, _ = e.route([]byte("k"), false)
	leader = rc.Peer.StoreId
	for _, id := range e.c.StoreIDs() {
		if id != leader {
			proxy = id
			break
		}
	}
	leaderAddr, _ = e.c.StoreAddr(leader)
	s = &seen{}
	t.Cleanup(e.c.AddHook(s.hook))
	return e, rc, leader, proxy, leaderAddr, s
}

func forwardTo(ctx context.Context, host string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardedHostKey, host)
}

// An isolated store refuses the client (calls and health checks) but serves a request
// a follower's store relays to it; the answer comes back through the proxy.
func TestForwardUnaryToIsolatedStore(t *testing.T) {
	e, rc, leader, proxy, leaderAddr, s := forwardEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.c.IsolateStore(leader, true); err != nil {
		t.Fatal(err)
	}
	_, err := e.clients[leader].RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rc, Key: []byte("k"), Value: []byte("v")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("direct call to an isolated store: %v", err)
	}
	addr, _ := e.c.StoreAddr(leader)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("health check of an isolated store: %v", err)
	}

	put, err := e.clients[proxy].RawPut(forwardTo(ctx, leaderAddr), &kvrpcpb.RawPutRequest{Context: rc, Key: []byte("k"), Value: []byte("v")})
	if err != nil || put.RegionError != nil {
		t.Fatalf("forwarded put: %v %v", put, err)
	}
	if got := s.last(); got.StoreID != leader || got.ProxyStoreID != proxy || got.Method != "RawPut" {
		t.Fatalf("served %+v, want store %d via %d", got, leader, proxy)
	}
	get, err := e.clients[proxy].RawGet(forwardTo(ctx, leaderAddr), &kvrpcpb.RawGetRequest{Context: rc, Key: []byte("k")})
	if err != nil || string(get.Value) != "v" {
		t.Fatalf("forwarded get: %v %v", get, err)
	}

	// Reconnected: direct calls work again and are not marked as relayed.
	if err := e.c.IsolateStore(leader, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.clients[leader].RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rc, Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if got := s.last(); got.StoreID != leader || got.ProxyStoreID != 0 {
		t.Fatalf("served %+v, want a direct call", got)
	}
	if err := e.c.IsolateStore(99, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("isolate unknown store: %v", err)
	}
}

// A forwarded BatchCommands stream is bridged to the target store.
func TestForwardBatchCommands(t *testing.T) {
	e, rc, leader, proxy, leaderAddr, s := forwardEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.c.IsolateStore(leader, true); err != nil {
		t.Fatal(err)
	}
	stream, err := e.clients[proxy].BatchCommands(forwardTo(ctx, leaderAddr))
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(&tikvpb.BatchCommandsRequest{RequestIds: []uint64{1}, Requests: []*tikvpb.BatchCommandsRequest_Request{
		{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: &kvrpcpb.RawPutRequest{Context: rc, Key: []byte("b"), Value: []byte("1")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || len(resp.Responses) != 1 || resp.Responses[0].GetRawPut().GetRegionError() != nil {
		t.Fatalf("forwarded batch: %v %v", resp, err)
	}
	if fb := resp.GetHealthFeedback(); fb.GetStoreId() != leader {
		t.Fatalf("health feedback from store %d, want the target %d", fb.GetStoreId(), leader)
	}
	if got := s.last(); got.StoreID != leader || got.ProxyStoreID != proxy {
		t.Fatalf("served %+v", got)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}

	// A client stream opened directly to the isolated store is refused.
	direct, err := e.clients[leader].BatchCommands(ctx)
	if err == nil {
		_, err = direct.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("direct stream to an isolated store: %v", err)
	}
}

// A client stream that was open before the isolation ends at its next message.
func TestIsolateEndsOpenStreams(t *testing.T) {
	e, rc, leader, _, _, _ := forwardEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := e.clients[leader].BatchCommands(ctx)
	if err != nil {
		t.Fatal(err)
	}
	get := &tikvpb.BatchCommandsRequest{RequestIds: []uint64{1}, Requests: []*tikvpb.BatchCommandsRequest_Request{
		{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{Context: rc, Key: []byte("k")}}},
	}}
	if err := stream.Send(get); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := e.c.IsolateStore(leader, true); err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(get)
	if _, err := stream.Recv(); err == nil {
		t.Fatal("open stream still answers after isolation")
	}
}

// Forwarding to a store that is down fails with Unavailable; a header naming the
// receiving store itself is served locally.
func TestForwardToDownStoreAndSelf(t *testing.T) {
	e, rc, leader, proxy, leaderAddr, s := forwardEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.clients[leader].RawGet(forwardTo(ctx, leaderAddr), &kvrpcpb.RawGetRequest{Context: rc, Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if got := s.last(); got.StoreID != leader || got.ProxyStoreID != 0 {
		t.Fatalf("self-forward served %+v, want local", got)
	}
	if err := e.c.StopStore(leader); err != nil {
		t.Fatal(err)
	}
	_, err := e.clients[proxy].RawGet(forwardTo(ctx, leaderAddr), &kvrpcpb.RawGetRequest{Context: rc, Key: []byte("k")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("forward to a stopped store: %v", err)
	}
	stream, err := e.clients[proxy].BatchCommands(forwardTo(ctx, leaderAddr))
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("forwarded stream to a stopped store: %v", err)
	}
	// Health checks of non-TiKV services are never forwarded.
	addr, _ := e.c.StoreAddr(proxy)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(forwardTo(ctx, leaderAddr), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check with a forwarding header: %v", err)
	}
}
