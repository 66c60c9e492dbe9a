package memcluster

import (
	"bytes"
	"context"
	"sync"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
)

// Safe timestamps (stale reads).
//
// TiKV keeps a resolved ts per region: the leader's resolver advances it to
// min(a fresh TSO, the smallest start ts of the prewrite locks it tracks), it never goes
// back, and followers learn it through CheckLeader. A replica may serve a stale read at
// ts only when ts <= its region's safe ts; otherwise it answers DataIsNotReady. The
// GetStoreSafeTS RPC returns the smallest non-zero safe ts of the regions of the store
// that overlap the request's key range (every region for an empty range), 0 when there
// is none (components/raftstore/src/store/worker/check_leader.rs get_range_safe_ts).
//
// memcluster advances a region's safe ts on demand instead of in the background, when a
// store is asked for its safe ts and when a stale read finds its timestamp beyond the
// region's last value:
//
//	candidate = min(TSO now, min start ts of the region's locks - 1)
//	safe ts   = max(last safe ts of the region, candidate)
//
// Every lock kind counts (prewrite, pessimistic, shared-lock holders, pipelined flushes);
// TiKV's resolver skips pessimistic locks, so this is more conservative than TiKV, never
// less. "- 1" keeps a read at the safe ts strictly below every live lock, so it never
// meets one that existed when the value was taken (TiKV stops at the start ts itself).
// Before the locks are read, the engine's max read ts is raised to the TSO taken, as
// TiKV's resolver does with the concurrency manager: a later async-commit or 1PC
// prewrite then commits above the safe ts, and a 2PC commit ts comes from the TSO later
// still. Replication is instantaneous here, so followers have the leader's value. Regions
// created by a split or merge start afresh. A store without regions reports 0.

// safeTSState holds the last safe ts of every region, by region ID.
type safeTSState struct {
	mu       sync.Mutex
	byRegion map[uint64]uint64
}

// regionSpan is a region's identity and its bounds in request-key form.
type regionSpan struct {
	id     uint64
	lo, hi []byte
}

// storeSpans lists the regions with a peer on storeID.
func (c *Cluster) storeSpans(storeID uint64) []regionSpan {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []regionSpan
	for _, r := range c.regions {
		if r.peerOn(storeID) == nil {
			continue
		}
		lo, hi := clip(r, nil, nil, true)
		out = append(out, regionSpan{id: r.meta.Id, lo: lo, hi: hi})
	}
	return out
}

// minLockTS returns the smallest start ts of the locks in [start, end) (shared-lock
// holders included) after raising the max read ts to ts; ok is false when there is none.
func (m *mvcc) minLockTS(start, end []byte, ts uint64) (low uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observeRead(ts)
	m.data.Ascend(start, end, func(_ []byte, e *entry) bool {
		if e.lock == nil {
			return true
		}
		consider := func(s uint64) {
			if !ok || s < low {
				low, ok = s, true
			}
		}
		if e.lock.shared != nil {
			for s := range e.lock.shared {
				consider(s)
			}
		} else {
			consider(e.lock.startTS)
		}
		return true
	})
	return low, ok
}

// advanceSafeTS advances the safe ts of the given regions (see the model above) and
// returns their new values, in order.
func (c *Cluster) advanceSafeTS(spans []regionSpan) []uint64 {
	now := c.Now()
	out := make([]uint64, len(spans))
	for i, sp := range spans {
		cand := now
		if l, ok := c.mvcc.minLockTS(sp.lo, sp.hi, now); ok && l-1 < cand {
			cand = l - 1
		}
		out[i] = c.safeTS.raise(sp.id, cand)
	}
	return out
}

// raise moves region id's safe ts up to ts and returns the result.
func (s *safeTSState) raise(id, ts uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byRegion == nil {
		s.byRegion = map[uint64]uint64{}
	}
	if ts > s.byRegion[id] {
		s.byRegion[id] = ts
	}
	return s.byRegion[id]
}

// last returns region id's current safe ts (0 when never advanced).
func (s *safeTSState) last(id uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byRegion[id]
}

// StoreSafeTS advances and returns the safe ts of store id as GetStoreSafeTS reports it
// for an empty key range: the smallest safe ts of the store's regions, 0 when it has
// none. It does not need the store to be up.
func (c *Cluster) StoreSafeTS(id uint64) uint64 {
	return minNonZero(c.advanceSafeTS(c.storeSpans(id)))
}

// minNonZero returns the smallest non-zero value, 0 when there is none (TiKV skips
// uninitialised peers, whose safe ts is 0).
func minNonZero(ts []uint64) uint64 {
	var m uint64
	for _, t := range ts {
		if t != 0 && (m == 0 || t < m) {
			m = t
		}
	}
	return m
}

// GetStoreSafeTS implements the store-wide safe ts query. A non-empty key range narrows
// the answer to the regions that overlap it (request keys, as the store receives them).
// Fault hooks see it with a nil Context; Delay, Err and DropResponse apply, RegionError
// does not (the response has no such field).
func (t *tikvServer) GetStoreSafeTS(ctx context.Context, req *kvrpcpb.StoreSafeTSRequest) (*kvrpcpb.StoreSafeTSResponse, error) {
	f := t.cluster().hooks.fault(ctx, &Request{StoreID: t.store.id, Method: "GetStoreSafeTS", Body: req})
	if f != nil {
		if err := (backoff.SystemClock{}).Sleep(ctx, f.Delay); err != nil {
			return nil, err
		}
		if f.Err != nil {
			return nil, f.Err
		}
	}
	spans := t.cluster().storeSpans(t.store.id)
	if kr := req.GetKeyRange(); len(kr.GetStartKey()) > 0 || len(kr.GetEndKey()) > 0 {
		spans = overlapping(spans, kr.GetStartKey(), kr.GetEndKey())
	}
	resp := &kvrpcpb.StoreSafeTSResponse{SafeTs: minNonZero(t.cluster().advanceSafeTS(spans))}
	if f != nil && f.DropResponse {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return resp, nil
}

// overlapping keeps the spans of the regions that intersect the request-key range
// [start, end) (empty end: unbounded). A region counts whole, as in TiKV.
func overlapping(spans []regionSpan, start, end []byte) []regionSpan {
	var out []regionSpan
	for _, sp := range spans {
		if len(sp.hi) > 0 && bytes.Compare(sp.hi, start) <= 0 {
			continue // ends before the range
		}
		if len(end) > 0 && bytes.Compare(sp.lo, end) >= 0 {
			continue // starts after it
		}
		out = append(out, sp)
	}
	return out
}

// staleReadCheck answers DataIsNotReady when a stale read at ts reaches region r on a
// store before r's safe ts does (TiKV's check in its read path). The region's safe ts is
// advanced once first, as TiKV's resolver would have done in the meantime.
func (t *tikvServer) staleReadCheck(r *region, rc *kvrpcpb.Context, ts uint64) *errorpb.Error {
	if !rc.GetStaleRead() || ts <= t.cluster().safeTS.last(r.meta.Id) {
		return nil
	}
	lo, hi := clip(r, nil, nil, true)
	safe := t.cluster().advanceSafeTS([]regionSpan{{id: r.meta.Id, lo: lo, hi: hi}})[0]
	if ts <= safe {
		return nil
	}
	var peer uint64
	if p := r.peerOn(t.store.id); p != nil {
		peer = p.Id
	}
	return &errorpb.Error{Message: "data is not ready", DataIsNotReady: &errorpb.DataIsNotReady{
		RegionId: r.meta.Id, PeerId: peer, SafeTs: safe,
	}}
}
