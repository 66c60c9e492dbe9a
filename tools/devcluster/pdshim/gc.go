package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
)

// nullKeyspace is the keyspace ID of unified (cluster-level) GC.
const nullKeyspace = math.MaxUint32

// barrier is one GC barrier; expiry zero means it never expires.
type barrier struct {
	ts     uint64
	expiry time.Time
}

// gcState is the GC state of one keyspace.
type gcState struct {
	txnSafePoint uint64
	gcSafePoint  uint64
	barriers     map[string]barrier
}

// gcStates keeps the 2025 GC API's state in memory. The initial safe
// points are read from PD; advancing the GC safe point of the null keyspace
// is also written to PD so that the stores' GC follows it.
type gcStates struct {
	s   *shim
	mu  sync.Mutex
	all map[uint32]*gcState
	now func() time.Time
}

func keyspaceOf(scope *pdpb.KeyspaceScope) uint32 {
	if scope == nil || scope.GetKeyspace() == nil {
		return nullKeyspace
	}
	return scope.GetKeyspaceId()
}

// state returns the state of a keyspace, loading it from PD on first use.
// The caller holds g.mu.
func (g *gcStates) state(ctx context.Context, ks uint32, hdr *pdpb.RequestHeader) (*gcState, error) {
	if st, ok := g.all[ks]; ok {
		return st, nil
	}
	resp, err := g.s.pd().GetGCSafePoint(ctx, &pdpb.GetGCSafePointRequest{Header: hdr})
	if err != nil {
		return nil, err
	}
	sp := resp.GetSafePoint()
	st := &gcState{txnSafePoint: sp, gcSafePoint: sp, barriers: map[string]barrier{}}
	g.all[ks] = st
	return st, nil
}

func header(req *pdpb.RequestHeader) *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: req.GetClusterId()}
}

func invalid(req *pdpb.RequestHeader, format string, args ...any) *pdpb.ResponseHeader {
	h := header(req)
	h.Error = &pdpb.Error{Type: pdpb.ErrorType_INVALID_VALUE, Message: fmt.Sprintf(format, args...)}
	return h
}

// live drops expired barriers and returns the rest sorted by ID.
func (g *gcStates) live(st *gcState) []*pdpb.GCBarrierInfo {
	now := g.now()
	var out []*pdpb.GCBarrierInfo
	for id, b := range st.barriers {
		if !b.expiry.IsZero() && !now.Before(b.expiry) {
			delete(st.barriers, id)
			continue
		}
		out = append(out, g.info(id, b))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BarrierId < out[j].BarrierId })
	return out
}

func (g *gcStates) info(id string, b barrier) *pdpb.GCBarrierInfo {
	ttl := int64(math.MaxInt64)
	if !b.expiry.IsZero() {
		ttl = int64(math.Ceil(b.expiry.Sub(g.now()).Seconds()))
	}
	return &pdpb.GCBarrierInfo{BarrierId: id, BarrierTs: b.ts, TtlSeconds: ttl}
}

func (g *gcStates) getGCState(ctx context.Context, req *pdpb.GetGCStateRequest) (*pdpb.GetGCStateResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.state(ctx, keyspaceOf(req.GetKeyspaceScope()), req.GetHeader())
	if err != nil {
		return nil, err
	}
	out := &pdpb.GCState{
		KeyspaceScope: req.GetKeyspaceScope(), TxnSafePoint: st.txnSafePoint, GcSafePoint: st.gcSafePoint,
		IsKeyspaceLevelGc: keyspaceOf(req.GetKeyspaceScope()) != nullKeyspace,
	}
	barriers := g.live(st)
	if !req.GetExcludeGcBarriers() {
		out.GcBarriers = barriers
	}
	return &pdpb.GetGCStateResponse{Header: header(req.GetHeader()), GcState: out}, nil
}

// advanceTxnSafePoint moves the txn safe point towards the target, stopping
// at the oldest live barrier; it never moves backwards.
func (g *gcStates) advanceTxnSafePoint(ctx context.Context, req *pdpb.AdvanceTxnSafePointRequest) (*pdpb.AdvanceTxnSafePointResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.state(ctx, keyspaceOf(req.GetKeyspaceScope()), req.GetHeader())
	if err != nil {
		return nil, err
	}
	old := st.txnSafePoint
	if req.GetTarget() < old {
		return &pdpb.AdvanceTxnSafePointResponse{Header: invalid(req.GetHeader(),
			"txn safe point cannot move backwards from %d to %d", old, req.GetTarget())}, nil
	}
	next, blocker := req.GetTarget(), ""
	for _, b := range g.live(st) {
		if b.BarrierTs < next {
			next, blocker = max(b.BarrierTs, old), fmt.Sprintf("GC barrier %q at %d", b.BarrierId, b.BarrierTs)
		}
	}
	st.txnSafePoint = next
	return &pdpb.AdvanceTxnSafePointResponse{
		Header: header(req.GetHeader()), OldTxnSafePoint: old, NewTxnSafePoint: next, BlockerDescription: blocker,
	}, nil
}

// advanceGCSafePoint moves the GC safe point, which may not pass the txn
// safe point nor move backwards.
func (g *gcStates) advanceGCSafePoint(ctx context.Context, req *pdpb.AdvanceGCSafePointRequest) (*pdpb.AdvanceGCSafePointResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ks := keyspaceOf(req.GetKeyspaceScope())
	st, err := g.state(ctx, ks, req.GetHeader())
	if err != nil {
		return nil, err
	}
	old, target := st.gcSafePoint, req.GetTarget()
	switch {
	case target < old:
		return &pdpb.AdvanceGCSafePointResponse{Header: invalid(req.GetHeader(),
			"GC safe point cannot move backwards from %d to %d", old, target)}, nil
	case target > st.txnSafePoint:
		return &pdpb.AdvanceGCSafePointResponse{Header: invalid(req.GetHeader(),
			"GC safe point %d cannot pass the txn safe point %d", target, st.txnSafePoint)}, nil
	}
	if ks == nullKeyspace {
		if _, err := g.s.pd().UpdateGCSafePoint(ctx, &pdpb.UpdateGCSafePointRequest{Header: req.GetHeader(), SafePoint: target}); err != nil {
			return nil, err
		}
	}
	st.gcSafePoint = target
	return &pdpb.AdvanceGCSafePointResponse{Header: header(req.GetHeader()), OldGcSafePoint: old, NewGcSafePoint: target}, nil
}

// setGCBarrier creates or updates a barrier; it may not be set below the
// txn safe point. A TTL of math.MaxInt64 (or <= 0) never expires.
func (g *gcStates) setGCBarrier(ctx context.Context, req *pdpb.SetGCBarrierRequest) (*pdpb.SetGCBarrierResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.state(ctx, keyspaceOf(req.GetKeyspaceScope()), req.GetHeader())
	if err != nil {
		return nil, err
	}
	if req.GetBarrierId() == "" {
		return &pdpb.SetGCBarrierResponse{Header: invalid(req.GetHeader(), "empty barrier ID")}, nil
	}
	if req.GetBarrierTs() < st.txnSafePoint {
		return &pdpb.SetGCBarrierResponse{Header: invalid(req.GetHeader(),
			"barrier ts %d is below the txn safe point %d", req.GetBarrierTs(), st.txnSafePoint)}, nil
	}
	b := barrier{ts: req.GetBarrierTs()}
	if ttl := req.GetTtlSeconds(); ttl > 0 && ttl != math.MaxInt64 {
		b.expiry = g.now().Add(time.Duration(ttl) * time.Second)
	}
	st.barriers[req.GetBarrierId()] = b
	return &pdpb.SetGCBarrierResponse{Header: header(req.GetHeader()), NewBarrierInfo: g.info(req.GetBarrierId(), b)}, nil
}

func (g *gcStates) deleteGCBarrier(ctx context.Context, req *pdpb.DeleteGCBarrierRequest) (*pdpb.DeleteGCBarrierResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.state(ctx, keyspaceOf(req.GetKeyspaceScope()), req.GetHeader())
	if err != nil {
		return nil, err
	}
	resp := &pdpb.DeleteGCBarrierResponse{Header: header(req.GetHeader())}
	if b, ok := st.barriers[req.GetBarrierId()]; ok {
		resp.DeletedBarrierInfo = g.info(req.GetBarrierId(), b)
		delete(st.barriers, req.GetBarrierId())
	}
	return resp, nil
}
