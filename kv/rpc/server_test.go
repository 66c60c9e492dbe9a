package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeTiKV is an in-process tikvpb.TikvServer. RawGet echoes the key as the value, with
// special keys: "block..." waits for release (or the stream's end), "kill" ends the
// whole BatchCommands stream with an error. Everything it sees is counted.
type fakeTiKV struct {
	tikvpb.UnimplementedTikvServer
	addr   string
	srv    *grpc.Server
	health *health.Server

	messages  atomic.Int64 // BatchCommands messages received
	requests  atomic.Int64 // requests in them
	unary     atomic.Int64 // unary calls
	resolves  atomic.Int64 // ResolveLock requests (batched or unary)
	streamSeq atomic.Int64

	release chan struct{} // closed to release blocked requests

	mu        sync.Mutex
	order     []string            // RawGet keys in arrival order
	keyStream map[string]int64    // RawGet key -> stream number
	forwarded []string            // tikv-forwarded-host values seen
	authority []string            // :authority values seen on streams
	blocked   map[string]struct{} // keys waiting for release
}

func startFake(t testing.TB, tlsCfg *tls.Config) *fakeTiKV {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTiKV{addr: lis.Addr().String(), release: make(chan struct{}),
		keyStream: map[string]int64{}, blocked: map[string]struct{}{}, health: health.NewServer()}
	opts := []grpc.ServerOption{grpc.ForceServerCodecV2(newWireCodec(mem.DefaultBufferPool()))}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	f.srv = grpc.NewServer(opts...)
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

func (f *fakeTiKV) releaseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.release:
	default:
		close(f.release)
	}
}

func (f *fakeTiKV) blockedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.blocked)
}

func (f *fakeTiKV) rawGet(ctx context.Context, stream int64, req *kvrpcpb.RawGetRequest) *kvrpcpb.RawGetResponse {
	key := string(req.Key)
	f.mu.Lock()
	f.order = append(f.order, key)
	f.keyStream[key] = stream
	f.mu.Unlock()
	if strings.HasPrefix(key, "block") {
		f.mu.Lock()
		f.blocked[key] = struct{}{}
		f.mu.Unlock()
		select {
		case <-f.release:
		case <-ctx.Done():
		}
		f.mu.Lock()
		delete(f.blocked, key)
		f.mu.Unlock()
	}
	return &kvrpcpb.RawGetResponse{Value: bytes.Clone(req.Key)}
}

// RawGet implements the unary call.
func (f *fakeTiKV) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	f.unary.Add(1)
	f.noteForwarded(ctx)
	return f.rawGet(ctx, 0, req), nil
}

// RawGetKeyTTL is unary only.
func (f *fakeTiKV) RawGetKeyTTL(ctx context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
	f.unary.Add(1)
	return &kvrpcpb.RawGetKeyTTLResponse{Ttl: uint64(len(req.Key))}, nil
}

// KvResolveLock counts and blocks until release.
func (f *fakeTiKV) KvResolveLock(ctx context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
	f.unary.Add(1)
	return f.resolve(ctx), nil
}

func (f *fakeTiKV) resolve(ctx context.Context) *kvrpcpb.ResolveLockResponse {
	f.resolves.Add(1)
	select {
	case <-f.release:
	case <-ctx.Done():
	}
	return &kvrpcpb.ResolveLockResponse{}
}

func (f *fakeTiKV) noteForwarded(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forwarded = append(f.forwarded, md.Get(forwardedHostMetadataKey)...)
	f.authority = append(f.authority, md.Get(":authority")...)
}

// BatchCommands serves the stream: each request is handled on its own goroutine, and
// responses are sent one per message (as TiKV may), under a lock.
func (f *fakeTiKV) BatchCommands(srv tikvpb.Tikv_BatchCommandsServer) error {
	f.noteForwarded(srv.Context())
	num := f.streamSeq.Add(1)
	ctx, cancel := context.WithCancel(srv.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var sendMu sync.Mutex
	for {
		msg, err := srv.Recv()
		if err != nil {
			return err
		}
		f.messages.Add(1)
		f.requests.Add(int64(len(msg.Requests)))
		for i, r := range msg.Requests {
			if g := r.GetRawGet(); g != nil && string(g.Key) == "kill" {
				f.mu.Lock()
				f.keyStream["kill"] = num
				f.mu.Unlock()
				return status.Error(codes.Unavailable, "stream killed by test")
			}
			wg.Add(1)
			go func(id uint64, r *tikvpb.BatchCommandsRequest_Request) {
				defer wg.Done()
				resp := f.handle(ctx, num, r)
				if ctx.Err() != nil {
					return
				}
				sendMu.Lock()
				defer sendMu.Unlock()
				_ = srv.Send(&tikvpb.BatchCommandsResponse{Responses: []*tikvpb.BatchCommandsResponse_Response{resp},
					RequestIds: []uint64{id}, TransportLayerLoad: 42, HealthFeedback: &kvrpcpb.HealthFeedback{StoreId: 7, SlowScore: 1}})
			}(msg.RequestIds[i], r)
		}
	}
}

func (f *fakeTiKV) handle(ctx context.Context, stream int64, r *tikvpb.BatchCommandsRequest_Request) *tikvpb.BatchCommandsResponse_Response {
	switch c := r.Cmd.(type) {
	case *tikvpb.BatchCommandsRequest_Request_RawGet:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: f.rawGet(ctx, stream, c.RawGet)}}
	case *tikvpb.BatchCommandsRequest_Request_ResolveLock:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_ResolveLock{ResolveLock: f.resolve(ctx)}}
	case *tikvpb.BatchCommandsRequest_Request_Get:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Get{Get: &kvrpcpb.GetResponse{
			Value: c.Get.Key, ExecDetailsV2: nil, RegionError: nil}}}
	case *tikvpb.BatchCommandsRequest_Request_Commit:
		// Answer a commit with the wrong command to exercise the client's check.
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Get{Get: &kvrpcpb.GetResponse{}}}
	}
	return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{Empty: &tikvpb.BatchCommandsEmptyResponse{}}}
}
