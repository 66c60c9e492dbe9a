package memcluster

import (
	"github.com/tikvsql/tikvsql/internal/backoff"

	"context"
	"reflect"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// newGRPCServer builds a server that tolerates clients' frequent keepalive pings (TiKV
// allows them; a strict server would answer with GOAWAY too_many_pings) and waits for
// its handlers on Stop. opts add to these (the stores' interceptors).
func newGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append([]grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(1 << 30),
		grpc.WaitForHandlers(true),
	}, opts...)...)
}

// registerTikv registers the TiKV services of one store.
func registerTikv(s *grpc.Server, t *tikvServer) {
	tikvpb.RegisterTikvServer(s, t)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
}

// tikvServer implements tikvpb.TikvServer for one store. Methods TiKV serves but this
// package does not model answer codes.Unimplemented.
type tikvServer struct {
	tikvpb.UnimplementedTikvServer
	store *store
}

func (t *tikvServer) cluster() *Cluster { return t.store.cluster }

// withContext is implemented by every kvrpcpb request.
type withContext interface{ GetContext() *kvrpcpb.Context }

// serve runs a request through the fault hooks and then h.
func serve[Req withContext, Resp any](t *tikvServer, ctx context.Context, method string, req Req,
	h func(context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	f := t.cluster().hooks.fault(ctx, &Request{StoreID: t.store.id, Method: method, Context: req.GetContext(), Body: req, ProxyStoreID: relayedBy(ctx)})
	if f != nil {
		if err := (backoff.SystemClock{}).Sleep(ctx, f.Delay); err != nil {
			return zero, err
		}
		if f.Err != nil {
			return zero, f.Err
		}
		if f.RegionError != nil {
			resp := reflect.New(reflect.TypeOf(zero).Elem())
			resp.Elem().FieldByName("RegionError").Set(reflect.ValueOf(f.RegionError))
			return resp.Interface().(Resp), nil
		}
	}
	resp, err := h(ctx, req)
	if f != nil && f.DropResponse {
		<-ctx.Done()
		return zero, ctx.Err()
	}
	return resp, err
}

// txnCheck validates a transactional request's region for keys.
func (t *tikvServer) txnCheck(rc *kvrpcpb.Context, follower bool, keys ...[]byte) (*region, *errorpb.Error) {
	return t.cluster().check(t.store.id, rc, reqCheck{keys: keys, encoded: true, followerRead: follower})
}

func mutationKeys(ms []*kvrpcpb.Mutation) [][]byte {
	ks := make([][]byte, len(ms))
	for i, m := range ms {
		ks[i] = m.Key
	}
	return ks
}

// KvGet implements the transactional point read.
func (t *tikvServer) KvGet(ctx context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
	return serve(t, ctx, "KvGet", req, func(_ context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
		r, rerr := t.txnCheck(req.Context, true, req.Key)
		if rerr == nil {
			rerr = t.staleReadCheck(r, req.Context, req.Version)
		}
		if rerr != nil {
			return &kvrpcpb.GetResponse{RegionError: rerr}, nil
		}
		v, cts, found, kerr := t.cluster().mvcc.Get(req.Key, req.Version, readOptsOf(req.Context))
		resp := &kvrpcpb.GetResponse{Value: v, NotFound: !found && kerr == nil, Error: kerr}
		if req.NeedCommitTs {
			resp.CommitTs = cts
		}
		return resp, nil
	})
}

// KvBatchGet implements the transactional multi-key read.
func (t *tikvServer) KvBatchGet(ctx context.Context, req *kvrpcpb.BatchGetRequest) (*kvrpcpb.BatchGetResponse, error) {
	return serve(t, ctx, "KvBatchGet", req, func(_ context.Context, req *kvrpcpb.BatchGetRequest) (*kvrpcpb.BatchGetResponse, error) {
		r, rerr := t.txnCheck(req.Context, true, req.Keys...)
		if rerr == nil {
			rerr = t.staleReadCheck(r, req.Context, req.Version)
		}
		if rerr != nil {
			return &kvrpcpb.BatchGetResponse{RegionError: rerr}, nil
		}
		return &kvrpcpb.BatchGetResponse{Pairs: t.cluster().mvcc.BatchGet(req.Keys, req.Version, readOptsOf(req.Context), req.NeedCommitTs)}, nil
	})
}

// KvScan implements the transactional range read. With Reverse set, StartKey is the
// exclusive upper bound and EndKey the inclusive lower bound, as in TiKV.
func (t *tikvServer) KvScan(ctx context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
	return serve(t, ctx, "KvScan", req, func(_ context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
		var check [][]byte
		if !req.Reverse {
			check = [][]byte{req.StartKey}
		}
		r, rerr := t.txnCheck(req.Context, true, check...)
		if rerr == nil {
			rerr = t.staleReadCheck(r, req.Context, req.Version)
		}
		if rerr != nil {
			return &kvrpcpb.ScanResponse{RegionError: rerr}, nil
		}
		lo, hi := req.StartKey, req.EndKey
		if req.Reverse {
			lo, hi = req.EndKey, req.StartKey
		}
		lo, hi = clip(r, lo, hi, true)
		pairs := t.cluster().mvcc.Scan(lo, hi, int(req.Limit), req.Version, req.KeyOnly, req.Reverse, readOptsOf(req.Context))
		return &kvrpcpb.ScanResponse{Pairs: pairs}, nil
	})
}

// KvPrewrite implements the first phase of two-phase commit, async commit and 1PC.
func (t *tikvServer) KvPrewrite(ctx context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
	return serve(t, ctx, "KvPrewrite", req, func(_ context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, mutationKeys(req.Mutations)...); rerr != nil {
			return &kvrpcpb.PrewriteResponse{RegionError: rerr}, nil
		}
		res := t.cluster().mvcc.Prewrite(req)
		return &kvrpcpb.PrewriteResponse{Errors: res.errs, MinCommitTs: res.minCommitTS, OnePcCommitTs: res.onePCCommitTS}, nil
	})
}

// KvCommit implements the second phase of two-phase commit.
func (t *tikvServer) KvCommit(ctx context.Context, req *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error) {
	return serve(t, ctx, "KvCommit", req, func(_ context.Context, req *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, req.Keys...); rerr != nil {
			return &kvrpcpb.CommitResponse{RegionError: rerr}, nil
		}
		kerr := t.cluster().mvcc.Commit(req.Keys, req.StartVersion, req.CommitVersion)
		return &kvrpcpb.CommitResponse{Error: kerr, CommitVersion: req.CommitVersion}, nil
	})
}

// KvCleanup rolls back a transaction's lock on one key unless it is alive.
func (t *tikvServer) KvCleanup(ctx context.Context, req *kvrpcpb.CleanupRequest) (*kvrpcpb.CleanupResponse, error) {
	return serve(t, ctx, "KvCleanup", req, func(_ context.Context, req *kvrpcpb.CleanupRequest) (*kvrpcpb.CleanupResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, req.Key); rerr != nil {
			return &kvrpcpb.CleanupResponse{RegionError: rerr}, nil
		}
		cts, kerr := t.cluster().mvcc.Cleanup(req.Key, req.StartVersion, req.CurrentTs)
		return &kvrpcpb.CleanupResponse{Error: kerr, CommitVersion: cts}, nil
	})
}

// KvBatchRollback rolls back a transaction on keys.
func (t *tikvServer) KvBatchRollback(ctx context.Context, req *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error) {
	return serve(t, ctx, "KvBatchRollback", req, func(_ context.Context, req *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, req.Keys...); rerr != nil {
			return &kvrpcpb.BatchRollbackResponse{RegionError: rerr}, nil
		}
		return &kvrpcpb.BatchRollbackResponse{Error: t.cluster().mvcc.BatchRollback(req.Keys, req.StartVersion)}, nil
	})
}

// KvCheckTxnStatus reports (and possibly decides) a transaction's status from its primary.
func (t *tikvServer) KvCheckTxnStatus(ctx context.Context, req *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error) {
	return serve(t, ctx, "KvCheckTxnStatus", req, func(_ context.Context, req *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, req.PrimaryKey); rerr != nil {
			return &kvrpcpb.CheckTxnStatusResponse{RegionError: rerr}, nil
		}
		st, kerr := t.cluster().mvcc.CheckTxnStatus(req)
		return &kvrpcpb.CheckTxnStatusResponse{Error: kerr, LockTtl: st.ttl, CommitVersion: st.commitTS, Action: st.action, LockInfo: st.lock}, nil
	})
}

// KvCheckSecondaryLocks reports on an async-commit transaction's secondaries.
func (t *tikvServer) KvCheckSecondaryLocks(ctx context.Context, req *kvrpcpb.CheckSecondaryLocksRequest) (*kvrpcpb.CheckSecondaryLocksResponse, error) {
	return serve(t, ctx, "KvCheckSecondaryLocks", req, func(_ context.Context, req *kvrpcpb.CheckSecondaryLocksRequest) (*kvrpcpb.CheckSecondaryLocksResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, req.Keys...); rerr != nil {
			return &kvrpcpb.CheckSecondaryLocksResponse{RegionError: rerr}, nil
		}
		st := t.cluster().mvcc.CheckSecondaryLocks(req.Keys, req.StartVersion)
		return &kvrpcpb.CheckSecondaryLocksResponse{Locks: st.locks, CommitTs: st.commitTS}, nil
	})
}

// KvResolveLock commits or rolls back the locks of given transactions in the region.
func (t *tikvServer) KvResolveLock(ctx context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
	return serve(t, ctx, "KvResolveLock", req, func(_ context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
		r, rerr := t.txnCheck(req.Context, false, req.Keys...)
		if rerr != nil {
			return &kvrpcpb.ResolveLockResponse{RegionError: rerr}, nil
		}
		txns := map[uint64]uint64{}
		if req.StartVersion > 0 {
			txns[req.StartVersion] = req.CommitVersion
		}
		for _, ti := range req.TxnInfos {
			txns[ti.Txn] = ti.Status
		}
		lo, hi := clip(r, nil, nil, true)
		return &kvrpcpb.ResolveLockResponse{Error: t.cluster().mvcc.ResolveLock(lo, hi, req.Keys, txns)}, nil
	})
}

// KvTxnHeartBeat extends a transaction's primary lock TTL.
func (t *tikvServer) KvTxnHeartBeat(ctx context.Context, req *kvrpcpb.TxnHeartBeatRequest) (*kvrpcpb.TxnHeartBeatResponse, error) {
	return serve(t, ctx, "KvTxnHeartBeat", req, func(_ context.Context, req *kvrpcpb.TxnHeartBeatRequest) (*kvrpcpb.TxnHeartBeatResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, req.PrimaryLock); rerr != nil {
			return &kvrpcpb.TxnHeartBeatResponse{RegionError: rerr}, nil
		}
		ttl, kerr := t.cluster().mvcc.TxnHeartBeat(req.PrimaryLock, req.StartVersion, req.AdviseLockTtl)
		return &kvrpcpb.TxnHeartBeatResponse{LockTtl: ttl, Error: kerr}, nil
	})
}

// KvPessimisticLock takes pessimistic locks, waiting for conflicting locks as asked.
func (t *tikvServer) KvPessimisticLock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
	return serve(t, ctx, "KvPessimisticLock", req, func(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, mutationKeys(req.Mutations)...); rerr != nil {
			return &kvrpcpb.PessimisticLockResponse{RegionError: rerr}, nil
		}
		return t.cluster().mvcc.PessimisticLock(ctx, req)
	})
}

// KVPessimisticRollback releases pessimistic locks.
func (t *tikvServer) KVPessimisticRollback(ctx context.Context, req *kvrpcpb.PessimisticRollbackRequest) (*kvrpcpb.PessimisticRollbackResponse, error) {
	return serve(t, ctx, "KVPessimisticRollback", req, func(_ context.Context, req *kvrpcpb.PessimisticRollbackRequest) (*kvrpcpb.PessimisticRollbackResponse, error) {
		r, rerr := t.txnCheck(req.Context, false, req.Keys...)
		if rerr != nil {
			return &kvrpcpb.PessimisticRollbackResponse{RegionError: rerr}, nil
		}
		ks := req.Keys
		if len(ks) == 0 { // scan the region for the transaction's pessimistic locks
			lo, hi := clip(r, nil, nil, true)
			for _, l := range t.cluster().mvcc.ScanLock(lo, hi, maxTS, 0) {
				if l.LockVersion == req.StartVersion {
					ks = append(ks, l.Key)
				}
				for _, h := range l.SharedLockInfos {
					if h.LockVersion == req.StartVersion {
						ks = append(ks, l.Key)
					}
				}
			}
		}
		t.cluster().mvcc.PessimisticRollback(ks, req.StartVersion, req.ForUpdateTs)
		return &kvrpcpb.PessimisticRollbackResponse{}, nil
	})
}

// KvScanLock lists locks in the region up to a version.
func (t *tikvServer) KvScanLock(ctx context.Context, req *kvrpcpb.ScanLockRequest) (*kvrpcpb.ScanLockResponse, error) {
	return serve(t, ctx, "KvScanLock", req, func(_ context.Context, req *kvrpcpb.ScanLockRequest) (*kvrpcpb.ScanLockResponse, error) {
		r, rerr := t.txnCheck(req.Context, false)
		if rerr != nil {
			return &kvrpcpb.ScanLockResponse{RegionError: rerr}, nil
		}
		lo, hi := clip(r, req.StartKey, req.EndKey, true)
		return &kvrpcpb.ScanLockResponse{Locks: t.cluster().mvcc.ScanLock(lo, hi, req.MaxVersion, int(req.Limit))}, nil
	})
}

// KvDeleteRange removes all transactional data of a range within the region.
func (t *tikvServer) KvDeleteRange(ctx context.Context, req *kvrpcpb.DeleteRangeRequest) (*kvrpcpb.DeleteRangeResponse, error) {
	return serve(t, ctx, "KvDeleteRange", req, func(_ context.Context, req *kvrpcpb.DeleteRangeRequest) (*kvrpcpb.DeleteRangeResponse, error) {
		r, rerr := t.txnCheck(req.Context, false)
		if rerr != nil {
			return &kvrpcpb.DeleteRangeResponse{RegionError: rerr}, nil
		}
		if !req.NotifyOnly {
			lo, hi := clip(r, req.StartKey, req.EndKey, true)
			t.cluster().mvcc.DeleteRange(lo, hi)
		}
		return &kvrpcpb.DeleteRangeResponse{}, nil
	})
}

// KvGC collects versions below the safe point within the region.
func (t *tikvServer) KvGC(ctx context.Context, req *kvrpcpb.GCRequest) (*kvrpcpb.GCResponse, error) {
	return serve(t, ctx, "KvGC", req, func(_ context.Context, req *kvrpcpb.GCRequest) (*kvrpcpb.GCResponse, error) {
		r, rerr := t.txnCheck(req.Context, false)
		if rerr != nil {
			return &kvrpcpb.GCResponse{RegionError: rerr}, nil
		}
		lo, hi := clip(r, nil, nil, true)
		t.cluster().mvcc.GC(lo, hi, req.SafePoint)
		return &kvrpcpb.GCResponse{}, nil
	})
}

// SplitRegion splits the request's region at the given keys (request keys, not region keys).
func (t *tikvServer) SplitRegion(ctx context.Context, req *kvrpcpb.SplitRegionRequest) (*kvrpcpb.SplitRegionResponse, error) {
	return serve(t, ctx, "SplitRegion", req, func(_ context.Context, req *kvrpcpb.SplitRegionRequest) (*kvrpcpb.SplitRegionResponse, error) {
		ks := req.SplitKeys
		if len(req.SplitKey) > 0 {
			ks = append(ks, req.SplitKey)
		}
		encoded := !req.IsRawKv || req.Context.GetApiVersion() == kvrpcpb.APIVersion_V2
		r, rerr := t.cluster().check(t.store.id, req.Context, reqCheck{keys: ks, encoded: encoded})
		if rerr != nil {
			return &kvrpcpb.SplitRegionResponse{RegionError: rerr}, nil
		}
		rks := make([][]byte, len(ks))
		for i, k := range ks {
			rks[i] = routeKey(k, encoded)
		}
		if _, err := t.cluster().Split(rks...); err != nil {
			return nil, err
		}
		resp := &kvrpcpb.SplitRegionResponse{}
		for _, ri := range t.cluster().Regions() {
			if overlaps(ri.Meta, r.meta.StartKey, r.meta.EndKey) {
				resp.Regions = append(resp.Regions, ri.Meta)
			}
		}
		return resp, nil
	})
}

// KvFlush writes a batch of a pipelined-DML transaction as locks.
func (t *tikvServer) KvFlush(ctx context.Context, req *kvrpcpb.FlushRequest) (*kvrpcpb.FlushResponse, error) {
	return serve(t, ctx, "KvFlush", req, func(_ context.Context, req *kvrpcpb.FlushRequest) (*kvrpcpb.FlushResponse, error) {
		if _, rerr := t.txnCheck(req.Context, false, mutationKeys(req.Mutations)...); rerr != nil {
			return &kvrpcpb.FlushResponse{RegionError: rerr}, nil
		}
		return &kvrpcpb.FlushResponse{Errors: t.cluster().mvcc.Flush(req)}, nil
	})
}

// KvBufferBatchGet reads what a pipelined-DML transaction has flushed.
func (t *tikvServer) KvBufferBatchGet(ctx context.Context, req *kvrpcpb.BufferBatchGetRequest) (*kvrpcpb.BufferBatchGetResponse, error) {
	return serve(t, ctx, "KvBufferBatchGet", req, func(_ context.Context, req *kvrpcpb.BufferBatchGetRequest) (*kvrpcpb.BufferBatchGetResponse, error) {
		if _, rerr := t.txnCheck(req.Context, true, req.Keys...); rerr != nil {
			return &kvrpcpb.BufferBatchGetResponse{RegionError: rerr}, nil
		}
		return &kvrpcpb.BufferBatchGetResponse{Pairs: t.cluster().mvcc.BufferBatchGet(req.Keys, req.Version)}, nil
	})
}
