package memcluster

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsql/tikvsql/internal/codec"
)

// nullKeyspace is the keyspace ID of the cluster-wide (API v1 / unscoped) GC state.
const nullKeyspace = uint32(codec.NullspaceID)

// gcState is PD's GC bookkeeping for one keyspace: the txn safe point (transactions that
// started before it can no longer commit), the GC safe point (data below it may be
// collected; never above the txn safe point), barriers that hold the txn safe point back,
// and the legacy service safe points.
type gcState struct {
	txnSafePoint uint64
	gcSafePoint  uint64
	barriers     map[string]barrier
	services     map[string]barrier
}

// barrier is a GC barrier or service safe point with its expiry (zero: never).
type barrier struct {
	ts      uint64
	ttl     int64
	expires time.Time
}

func (b barrier) live(now time.Time) bool { return b.expires.IsZero() || now.Before(b.expires) }

func newBarrier(ts uint64, ttl int64, now time.Time) barrier {
	b := barrier{ts: ts, ttl: ttl}
	if ttl > 0 && ttl < math.MaxInt64/int64(time.Second) {
		b.expires = now.Add(time.Duration(ttl) * time.Second)
	}
	return b
}

func scopeID(s *pdpb.KeyspaceScope) uint32 {
	if s == nil || s.Keyspace == nil {
		return nullKeyspace
	}
	return s.GetKeyspaceId()
}

// state returns the GC state of keyspace id, creating it. Callers hold meta.mu.
func (m *pdMeta) state(id uint32) *gcState {
	st := m.gc[id]
	if st == nil {
		st = &gcState{barriers: map[string]barrier{}, services: map[string]barrier{}}
		m.gc[id] = st
	}
	return st
}

// blocker returns the smallest live barrier or service safe point below target, with a
// description, dropping expired ones.
func (st *gcState) blocker(target uint64, now time.Time) (uint64, string) {
	limit, desc := target, ""
	for kind, set := range map[string]map[string]barrier{"barrier": st.barriers, "service safe point": st.services} {
		for id, b := range set {
			if !b.live(now) {
				delete(set, id)
				continue
			}
			if b.ts < limit {
				limit, desc = b.ts, fmt.Sprintf("%s %q at %d", kind, id, b.ts)
			}
		}
	}
	return limit, desc
}

func (st *gcState) proto(id uint32, withBarriers bool, now time.Time) *pdpb.GCState {
	out := &pdpb.GCState{TxnSafePoint: st.txnSafePoint, GcSafePoint: st.gcSafePoint, IsKeyspaceLevelGc: id != nullKeyspace}
	if id != nullKeyspace {
		out.KeyspaceScope = &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: id}}
	}
	if withBarriers {
		ids := make([]string, 0, len(st.barriers))
		for bid, b := range st.barriers {
			if b.live(now) {
				ids = append(ids, bid)
			}
		}
		sort.Strings(ids)
		for _, bid := range ids {
			b := st.barriers[bid]
			out.GcBarriers = append(out.GcBarriers, &pdpb.GCBarrierInfo{BarrierId: bid, BarrierTs: b.ts, TtlSeconds: b.ttl})
		}
	}
	return out
}

// collect runs MVCC garbage collection below safePoint over a keyspace's transactional
// range (everything for the null keyspace), as TiKV's compaction filter would.
func (c *Cluster) collect(id uint32, safePoint uint64) {
	var start, end []byte
	if id != nullKeyspace {
		cd, err := codec.NewV2(codec.ModeTxn, codec.KeyspaceID(id))
		if err != nil {
			return
		}
		start, end = cd.EncodeRange(nil, nil)
	}
	c.mvcc.GC(start, end, safePoint)
}

// AdvanceTxnSafePoint moves the txn safe point towards target, stopping at the lowest
// live barrier or service safe point.
func (p *pdServer) AdvanceTxnSafePoint(_ context.Context, req *pdpb.AdvanceTxnSafePointRequest) (*pdpb.AdvanceTxnSafePointResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(scopeID(req.KeyspaceScope))
	if req.Target < st.txnSafePoint {
		return &pdpb.AdvanceTxnSafePointResponse{Header: p.errHeader(pdpb.ErrorType_INVALID_VALUE,
			fmt.Sprintf("txn safe point cannot move backward from %d to %d", st.txnSafePoint, req.Target))}, nil
	}
	old := st.txnSafePoint
	next, desc := st.blocker(req.Target, p.c.clock())
	st.txnSafePoint = max(old, next)
	return &pdpb.AdvanceTxnSafePointResponse{Header: p.header(), OldTxnSafePoint: old, NewTxnSafePoint: st.txnSafePoint, BlockerDescription: desc}, nil
}

// AdvanceGCSafePoint moves the GC safe point up to target, which may not pass the txn
// safe point, and collects the versions below it.
func (p *pdServer) AdvanceGCSafePoint(_ context.Context, req *pdpb.AdvanceGCSafePointRequest) (*pdpb.AdvanceGCSafePointResponse, error) {
	m := p.meta
	id := scopeID(req.KeyspaceScope)
	m.mu.Lock()
	st := m.state(id)
	if req.Target < st.gcSafePoint || req.Target > st.txnSafePoint {
		msg := fmt.Sprintf("GC safe point %d must lie in [%d, txn safe point %d]", req.Target, st.gcSafePoint, st.txnSafePoint)
		m.mu.Unlock()
		return &pdpb.AdvanceGCSafePointResponse{Header: p.errHeader(pdpb.ErrorType_INVALID_VALUE, msg)}, nil
	}
	old := st.gcSafePoint
	st.gcSafePoint = req.Target
	m.mu.Unlock()
	p.c.collect(id, req.Target)
	return &pdpb.AdvanceGCSafePointResponse{Header: p.header(), OldGcSafePoint: old, NewGcSafePoint: req.Target}, nil
}

// SetGCBarrier sets or replaces a barrier, which may not lie below the txn safe point.
func (p *pdServer) SetGCBarrier(_ context.Context, req *pdpb.SetGCBarrierRequest) (*pdpb.SetGCBarrierResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(scopeID(req.KeyspaceScope))
	if req.BarrierTs < st.txnSafePoint {
		return &pdpb.SetGCBarrierResponse{Header: p.errHeader(pdpb.ErrorType_INVALID_VALUE,
			fmt.Sprintf("barrier ts %d is below the txn safe point %d", req.BarrierTs, st.txnSafePoint))}, nil
	}
	st.barriers[req.BarrierId] = newBarrier(req.BarrierTs, req.TtlSeconds, p.c.clock())
	return &pdpb.SetGCBarrierResponse{Header: p.header(), NewBarrierInfo: &pdpb.GCBarrierInfo{BarrierId: req.BarrierId, BarrierTs: req.BarrierTs, TtlSeconds: req.TtlSeconds}}, nil
}

// DeleteGCBarrier removes a barrier and returns it (nil when there was none).
func (p *pdServer) DeleteGCBarrier(_ context.Context, req *pdpb.DeleteGCBarrierRequest) (*pdpb.DeleteGCBarrierResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(scopeID(req.KeyspaceScope))
	resp := &pdpb.DeleteGCBarrierResponse{Header: p.header()}
	if b, ok := st.barriers[req.BarrierId]; ok {
		delete(st.barriers, req.BarrierId)
		resp.DeletedBarrierInfo = &pdpb.GCBarrierInfo{BarrierId: req.BarrierId, BarrierTs: b.ts, TtlSeconds: b.ttl}
	}
	return resp, nil
}

// GetGCState returns a keyspace's GC state.
func (p *pdServer) GetGCState(_ context.Context, req *pdpb.GetGCStateRequest) (*pdpb.GetGCStateResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	id := scopeID(req.KeyspaceScope)
	return &pdpb.GetGCStateResponse{Header: p.header(), GcState: m.state(id).proto(id, !req.ExcludeGcBarriers, p.c.clock())}, nil
}

// GetAllKeyspacesGCStates returns every GC state PD tracks.
func (p *pdServer) GetAllKeyspacesGCStates(_ context.Context, req *pdpb.GetAllKeyspacesGCStatesRequest) (*pdpb.GetAllKeyspacesGCStatesResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state(nullKeyspace)
	ids := make([]uint32, 0, len(m.gc))
	for id := range m.gc {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	resp := &pdpb.GetAllKeyspacesGCStatesResponse{Header: p.header()}
	for _, id := range ids {
		resp.GcStates = append(resp.GcStates, m.gc[id].proto(id, !req.ExcludeGcBarriers, p.c.clock()))
	}
	return resp, nil
}

// GetGCSafePoint is the legacy read of the cluster-wide GC safe point.
func (p *pdServer) GetGCSafePoint(context.Context, *pdpb.GetGCSafePointRequest) (*pdpb.GetGCSafePointResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	return &pdpb.GetGCSafePointResponse{Header: p.header(), SafePoint: m.state(nullKeyspace).gcSafePoint}, nil
}

// UpdateGCSafePoint is the legacy advance of the cluster-wide safe point: it moves the txn
// and GC safe points forward (never back) and collects below it.
func (p *pdServer) UpdateGCSafePoint(_ context.Context, req *pdpb.UpdateGCSafePointRequest) (*pdpb.UpdateGCSafePointResponse, error) {
	m := p.meta
	m.mu.Lock()
	st := m.state(nullKeyspace)
	if req.SafePoint > st.gcSafePoint {
		st.gcSafePoint = req.SafePoint
		st.txnSafePoint = max(st.txnSafePoint, req.SafePoint)
	}
	sp := st.gcSafePoint
	m.mu.Unlock()
	p.c.collect(nullKeyspace, sp)
	return &pdpb.UpdateGCSafePointResponse{Header: p.header(), NewSafePoint: sp}, nil
}

// UpdateServiceGCSafePoint registers (TTL > 0) or removes (TTL <= 0) a service safe point
// and returns the smallest one, which bounds the txn safe point like a barrier.
func (p *pdServer) UpdateServiceGCSafePoint(_ context.Context, req *pdpb.UpdateServiceGCSafePointRequest) (*pdpb.UpdateServiceGCSafePointResponse, error) {
	m := p.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(nullKeyspace)
	id := string(req.ServiceId)
	if req.TTL <= 0 {
		delete(st.services, id)
	} else if req.SafePoint >= st.gcSafePoint {
		st.services[id] = newBarrier(req.SafePoint, req.TTL, p.c.clock())
	}
	minSP, _ := st.blocker(math.MaxUint64, p.c.clock())
	if minSP == math.MaxUint64 {
		minSP = st.gcSafePoint
	}
	return &pdpb.UpdateServiceGCSafePointResponse{Header: p.header(), ServiceId: req.ServiceId, TTL: req.TTL, MinSafePoint: minSP}, nil
}
