package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/log"
	"github.com/pingcap/tidb/pkg/store/mockstore/unistore/tikv"
	"github.com/tikvsql/tikvsql/tools/devcluster/store/rawkv"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// storeServer is one store's gRPC TiKV service: unistore's transactional
// server with the raw commands served by the rawkv engine, a complete
// BatchCommands dispatcher and a few protocol fixes.
type storeServer struct {
	*tikv.Server
	view  *storeView
	raw   *rawkv.Store
	mem   *memLocks // shared by every store of the process, like the engine
	batch *dispatcher
	safe  *storeSafeTS // GetStoreSafeTS (safets.go); nil: unistore's 0

	feedbackSeq atomic.Uint64 // GetHealthFeedback's sequence (health.go)
}

func newStoreServer(inner *tikv.Server, view *storeView, raw *rawkv.Store, mem *memLocks) *storeServer {
	s := &storeServer{Server: inner, view: view, raw: raw, mem: mem}
	s.feedbackSeq.Store(uint64(time.Now().UnixNano()))
	s.batch = newDispatcher(s)
	return s
}

// bounds resolves the region of a raw request.
func (s *storeServer) bounds(ctx *kvrpcpb.Context) (rawkv.Bounds, *errorpb.Error) {
	r, rerr := s.view.checkRegion(ctx)
	if rerr != nil {
		return rawkv.Bounds{}, rerr
	}
	return rawkv.Bounds{Region: r.meta, V2: ctx.GetApiVersion() == kvrpcpb.APIVersion_V2}, nil
}

// RawGet implements tikvpb.TikvServer.
func (s *storeServer) RawGet(_ context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawGetResponse{RegionError: rerr}, nil
	}
	return s.raw.Get(b, req), nil
}

// RawBatchGet implements tikvpb.TikvServer.
func (s *storeServer) RawBatchGet(_ context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawBatchGetResponse{RegionError: rerr}, nil
	}
	return s.raw.BatchGet(b, req), nil
}

// RawPut implements tikvpb.TikvServer.
func (s *storeServer) RawPut(_ context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawPutResponse{RegionError: rerr}, nil
	}
	return s.raw.Put(b, req), nil
}

// RawBatchPut implements tikvpb.TikvServer.
func (s *storeServer) RawBatchPut(_ context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawBatchPutResponse{RegionError: rerr}, nil
	}
	return s.raw.BatchPut(b, req), nil
}

// RawDelete implements tikvpb.TikvServer.
func (s *storeServer) RawDelete(_ context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawDeleteResponse{RegionError: rerr}, nil
	}
	return s.raw.Delete(b, req), nil
}

// RawBatchDelete implements tikvpb.TikvServer.
func (s *storeServer) RawBatchDelete(_ context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawBatchDeleteResponse{RegionError: rerr}, nil
	}
	return s.raw.BatchDelete(b, req), nil
}

// RawScan implements tikvpb.TikvServer.
func (s *storeServer) RawScan(_ context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawScanResponse{RegionError: rerr}, nil
	}
	return s.raw.Scan(b, req), nil
}

// RawBatchScan implements tikvpb.TikvServer.
func (s *storeServer) RawBatchScan(_ context.Context, req *kvrpcpb.RawBatchScanRequest) (*kvrpcpb.RawBatchScanResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawBatchScanResponse{RegionError: rerr}, nil
	}
	return s.raw.BatchScan(b, req), nil
}

// RawDeleteRange implements tikvpb.TikvServer.
func (s *storeServer) RawDeleteRange(_ context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawDeleteRangeResponse{RegionError: rerr}, nil
	}
	return s.raw.DeleteRange(b, req), nil
}

// RawGetKeyTTL implements tikvpb.TikvServer.
func (s *storeServer) RawGetKeyTTL(_ context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawGetKeyTTLResponse{RegionError: rerr}, nil
	}
	return s.raw.GetKeyTTL(b, req), nil
}

// RawCompareAndSwap implements tikvpb.TikvServer.
func (s *storeServer) RawCompareAndSwap(_ context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawCASResponse{RegionError: rerr}, nil
	}
	return s.raw.CompareAndSwap(b, req), nil
}

// RawChecksum implements tikvpb.TikvServer.
func (s *storeServer) RawChecksum(_ context.Context, req *kvrpcpb.RawChecksumRequest) (*kvrpcpb.RawChecksumResponse, error) {
	b, rerr := s.bounds(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.RawChecksumResponse{RegionError: rerr}, nil
	}
	return s.raw.Checksum(b, req), nil
}

// KvPrewrite implements tikvpb.TikvServer. unistore leaves the primary of a
// write conflict empty; clients decode it (an API v2 client fails on an
// empty key), so it is filled in from the request.
func (s *storeServer) KvPrewrite(ctx context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
	if needsMemLock(req) {
		defer s.mem.lock(req.GetStartVersion(), req.GetMutations())()
	}
	resp, err := s.Server.KvPrewrite(ctx, req)
	if resp != nil {
		fillConflictPrimary(resp.GetErrors(), req.GetPrimaryLock())
	}
	return resp, err
}

// KvGet implements tikvpb.TikvServer: it waits for the async-commit and 1PC
// prewrites of the key first (see memLocks).
func (s *storeServer) KvGet(ctx context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
	if err := s.mem.waitKeys(ctx, req.GetVersion(), req.GetKey()); err != nil {
		return nil, err
	}
	return s.Server.KvGet(ctx, req)
}

// KvBatchGet implements tikvpb.TikvServer (see KvGet).
func (s *storeServer) KvBatchGet(ctx context.Context, req *kvrpcpb.BatchGetRequest) (*kvrpcpb.BatchGetResponse, error) {
	if err := s.mem.waitKeys(ctx, req.GetVersion(), req.GetKeys()...); err != nil {
		return nil, err
	}
	return s.Server.KvBatchGet(ctx, req)
}

// KvScan implements tikvpb.TikvServer (see KvGet). A reverse scan reads
// [EndKey, StartKey).
func (s *storeServer) KvScan(ctx context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
	lo, hi := req.GetStartKey(), req.GetEndKey()
	if req.GetReverse() {
		lo, hi = hi, lo
	}
	if err := s.mem.waitRange(ctx, req.GetVersion(), lo, hi); err != nil {
		return nil, err
	}
	return s.Server.KvScan(ctx, req)
}

// KvPessimisticLock implements tikvpb.TikvServer (see KvPrewrite).
func (s *storeServer) KvPessimisticLock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
	resp, err := s.Server.KvPessimisticLock(ctx, req)
	if resp != nil {
		fillConflictPrimary(resp.GetErrors(), req.GetPrimaryLock())
	}
	return resp, err
}

func fillConflictPrimary(errs []*kvrpcpb.KeyError, primary []byte) {
	for _, e := range errs {
		if c := e.GetConflict(); c != nil && len(c.Primary) == 0 {
			c.Primary = primary
		}
	}
}

// panicError converts a recovered panic (unistore panics on commands it
// does not implement) into a gRPC error instead of killing the process.
func panicError(method string, p any) error {
	log.Warn("recovered panic in store RPC", zap.String("method", method), zap.Any("panic", p),
		zap.ByteString("stack", debug.Stack()))
	return status.Error(codes.Unimplemented, fmt.Sprintf("%s: %v", method, p))
}

// unaryRecover is a unary interceptor turning panics into errors.
func unaryRecover(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, panicError(info.FullMethod, p)
		}
	}()
	return h(ctx, req)
}

// streamRecover is a stream interceptor turning panics into errors.
func streamRecover(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(info.FullMethod, p)
		}
	}()
	return h(srv, ss)
}
