package main

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// unistore answers GetStoreSafeTS with 0, so a client's min safe ts against this
// cluster would stay 0. storeSafeTS gives the stores TiKV's meaning instead, over the
// engine all stores share:
//
//	safe ts = max(last answer, min(TSO now, min start ts of the engine's locks and of
//	          the registered async-commit/1PC prewrites (memLocks) - 1))
//
// The TSO is taken before the locks are read: a prewrite registered or locked later
// takes its commit ts from the TSO later still (unistore's min commit ts is a fresh
// TSO), so it commits above the answer. The key range is ignored: the whole engine's
// value is never above a range's, so it is still safe. Stale reads are not checked
// against it (unistore serves them as ordinary reads).
type storeSafeTS struct {
	tso   tsoSource
	locks lockScanner
	mem   *memLocks
	last  atomic.Uint64
}

// tsoSource is the part of unistore's PD client storeSafeTS uses.
type tsoSource interface {
	GetTS(ctx context.Context) (physical, logical int64, err error)
}

// lockScanner is the part of unistore's MVCC store storeSafeTS uses.
type lockScanner interface {
	PhysicalScanLock(startKey []byte, maxTS uint64, limit int) []*kvrpcpb.LockInfo
}

// get computes the safe ts (see storeSafeTS).
func (s *storeSafeTS) get(ctx context.Context) (uint64, error) {
	physical, logical, err := s.tso.GetTS(ctx)
	if err != nil {
		return 0, err
	}
	ts := uint64(physical)<<18 + uint64(logical)
	safe := ts
	for _, l := range s.locks.PhysicalScanLock(nil, ts, math.MaxInt) {
		if v := l.GetLockVersion(); v > 0 && v-1 < safe {
			safe = v - 1
		}
		for _, h := range l.GetSharedLockInfos() {
			if v := h.GetLockVersion(); v > 0 && v-1 < safe {
				safe = v - 1
			}
		}
	}
	if s.mem != nil {
		if v, ok := s.mem.minStartTS(); ok && v > 0 && v-1 < safe {
			safe = v - 1
		}
	}
	for {
		last := s.last.Load()
		if safe <= last {
			return last, nil
		}
		if s.last.CompareAndSwap(last, safe) {
			return safe, nil
		}
	}
}

// minStartTS returns the smallest start ts of the registered prewrites.
func (m *memLocks) minStartTS() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var low uint64
	ok := false
	for g := range m.active {
		if !ok || g.startTS < low {
			low, ok = g.startTS, true
		}
	}
	return low, ok
}

// GetStoreSafeTS implements tikvpb.TikvServer with storeSafeTS when the process set
// one, else unistore's answer (0).
func (s *storeServer) GetStoreSafeTS(ctx context.Context, req *kvrpcpb.StoreSafeTSRequest) (*kvrpcpb.StoreSafeTSResponse, error) {
	if s.safe == nil {
		return s.Server.GetStoreSafeTS(ctx, req)
	}
	ts, err := s.safe.get(ctx)
	if err != nil {
		return nil, err
	}
	return &kvrpcpb.StoreSafeTSResponse{SafeTs: ts}, nil
}
