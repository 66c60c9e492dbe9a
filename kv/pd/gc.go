package pd

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tikv/pd/client/clients/gc"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/kv"
)

// GCBarrierNeverExpires is the TTL of a GC barrier that stays until deleted.
const GCBarrierNeverExpires = gc.TTLNeverExpire

// GCBarrier is a GC barrier: while it lives, PD does not advance the txn safe point past
// TS. Barriers are named per service (ID) and keyspace.
type GCBarrier struct {
	ID  string
	TS  uint64
	TTL time.Duration // GCBarrierNeverExpires for a barrier without expiry
}

// GCState is the GC state of the client's keyspace (or of the cluster, for API v1 and
// keyspaces without keyspace-level GC).
type GCState struct {
	KeyspaceID uint32
	// TxnSafePoint: transactions that started before it may no longer read or commit.
	TxnSafePoint uint64
	// GCSafePoint: versions needed only by readers before it may have been collected.
	GCSafePoint uint64
	Barriers    []GCBarrier
}

// AdvanceResult is the outcome of advancing a safe point.
type AdvanceResult struct {
	Old, Target, New uint64
	// BlockedBy describes what held the txn safe point below Target (empty if nothing).
	BlockedBy string
}

// safePoint is one successful load of the txn safe point.
type safePoint struct {
	txnSafePoint uint64
	loadedAt     time.Time // when the request that returned it started
}

// gcCache is the txn safe point cache of a Client (PD-12).
type gcCache struct {
	sp          atomic.Pointer[safePoint]
	unsupported atomic.Bool // the PD server has no GC states API
}

// loadSafePoint loads the txn safe point once (one attempt bounded by the PD server
// timeout) into the cache.
func (c *Client) loadSafePoint(ctx context.Context) error {
	start := c.cfg.Clock.Now()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PDServerTimeout)
	defer cancel()
	st, err := c.b.GetGCStatesClient(c.gcKeyspaceID()).GetGCState(ctx, gc.ExcludeGCBarriers(true))
	if err != nil {
		if classify(err) == classUnsupported {
			if !c.gc.unsupported.Swap(true) {
				c.cfg.Logger.Warn("pd: the PD server has no GC states API; read visibility checks are disabled",
					zap.Error(sanitize(err)))
			}
		}
		return sanitize(err)
	}
	c.gc.unsupported.Store(false)
	c.gc.sp.Store(&safePoint{txnSafePoint: st.TxnSafePoint, loadedAt: start})
	return nil
}

// runSafePointUpdater reloads the txn safe point every SafePointRefresh, or SafePointRetry
// after a failure, until the client closes.
func (c *Client) runSafePointUpdater() {
	wait := c.cfg.SafePointRefresh
	if c.gc.sp.Load() == nil && !c.gc.unsupported.Load() {
		wait = c.cfg.SafePointRetry
	}
	for {
		select {
		case <-c.root.Done():
			return
		case <-c.cfg.Clock.After(wait):
		}
		wait = c.cfg.SafePointRefresh
		if err := c.loadSafePoint(c.root); err != nil && !c.gc.unsupported.Load() {
			if c.root.Err() != nil {
				return
			}
			c.cfg.Logger.Warn("pd: refresh txn safe point", zap.Error(err))
			wait = c.cfg.SafePointRetry
		}
	}
}

// TxnSafePoint returns the cached txn safe point and when it was loaded (zero time if it
// never was). Safe for concurrent use.
func (c *Client) TxnSafePoint() (uint64, time.Time) {
	if sp := c.gc.sp.Load(); sp != nil {
		return sp.txnSafePoint, sp.loadedAt
	}
	return 0, time.Time{}
}

// CheckVisibility reports whether data read at startTS is still guaranteed to be intact:
// call it after every snapshot read (SB-16). It uses the cached txn safe point, so it costs
// no round trip. Against a PD server without the GC states API it always succeeds (no
// etcd fallback is built), and a warning is logged once.
//
// Errors: kv.ErrTxnAbortedByGC when startTS is behind the txn safe point; an error wrapping
// kv.ErrPDUnavailable when the cache is older than SafePointMaxAge (90 s) or was never
// loaded.
func (c *Client) CheckVisibility(startTS uint64) error {
	if c.gc.unsupported.Load() {
		return nil
	}
	sp := c.gc.sp.Load()
	if sp == nil {
		return fmt.Errorf("pd: txn safe point not loaded yet: %w", kv.ErrPDUnavailable)
	}
	if age := c.cfg.Clock.Now().Sub(sp.loadedAt); age > c.cfg.SafePointMaxAge {
		return fmt.Errorf("pd: txn safe point cache is %v old (limit %v): %w", age, c.cfg.SafePointMaxAge, kv.ErrPDUnavailable)
	}
	if startTS < sp.txnSafePoint {
		return fmt.Errorf("pd: start timestamp %d is before txn safe point %d: %w", startTS, sp.txnSafePoint, kv.ErrTxnAbortedByGC)
	}
	return nil
}

// GCState returns the current GC state, including the GC barriers (PD-19).
//
// Errors: ErrUnsupported (PD older than the 2025 GC API), a *kv.BackoffError wrapping
// kv.ErrPDUnavailable, ctx's error.
func (c *Client) GCState(ctx context.Context) (GCState, error) {
	if err := c.checkOpen("get GC state"); err != nil {
		return GCState{}, err
	}
	var st gc.GCState
	err := c.retry(ctx, "get GC state", c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		// The API leaves barriers out unless asked.
		st, err = c.b.GetGCStatesClient(c.gcKeyspaceID()).GetGCState(ctx, gc.ExcludeGCBarriers(false))
		return err
	})
	if err != nil {
		return GCState{}, err
	}
	out := GCState{KeyspaceID: st.KeyspaceID, TxnSafePoint: st.TxnSafePoint, GCSafePoint: st.GCSafePoint}
	if st.HasGCBarriers() {
		bs, _ := st.GetGCBarriers() // cannot fail when HasGCBarriers
		for _, b := range bs {
			out.Barriers = append(out.Barriers, GCBarrier{ID: b.BarrierID, TS: b.BarrierTS, TTL: b.TTL})
		}
	}
	return out, nil
}

// SetGCBarrier sets, or renews, the GC barrier id at ts for ttl: calling it again on the
// same id moves its TS and restarts its TTL. ts must not be behind the txn safe point;
// ttl must be positive (GCBarrierNeverExpires for no expiry). Idempotent, so retried.
//
// Errors: ErrInvalidArgument (behind the safe point, reserved or empty id, bad ttl),
// ErrUnsupported, a *kv.BackoffError wrapping kv.ErrPDUnavailable, ctx's error.
func (c *Client) SetGCBarrier(ctx context.Context, id string, ts uint64, ttl time.Duration) (GCBarrier, error) {
	op := fmt.Sprintf("set GC barrier %q", id)
	if err := c.checkOpen(op); err != nil {
		return GCBarrier{}, err
	}
	if id == "" || ttl <= 0 {
		return GCBarrier{}, fmt.Errorf("pd: %s: id must be set and ttl positive: %w", op, ErrInvalidArgument)
	}
	var info *gc.GCBarrierInfo
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		info, err = c.b.GetGCStatesClient(c.gcKeyspaceID()).SetGCBarrier(ctx, id, ts, ttl)
		return err
	})
	if err != nil {
		return GCBarrier{}, err
	}
	return GCBarrier{ID: info.BarrierID, TS: info.BarrierTS, TTL: info.TTL}, nil
}

// DeleteGCBarrier removes the GC barrier id and returns it, or nil if there was none.
// Idempotent, so retried.
//
// Errors: as SetGCBarrier.
func (c *Client) DeleteGCBarrier(ctx context.Context, id string) (*GCBarrier, error) {
	op := fmt.Sprintf("delete GC barrier %q", id)
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	var info *gc.GCBarrierInfo
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		info, err = c.b.GetGCStatesClient(c.gcKeyspaceID()).DeleteGCBarrier(ctx, id)
		return err
	})
	if err != nil || info == nil {
		return nil, err
	}
	return &GCBarrier{ID: info.BarrierID, TS: info.BarrierTS, TTL: info.TTL}, nil
}

// AdvanceTxnSafePoint asks PD to move the txn safe point to target (GC-1). PD stops short
// at the oldest GC barrier; the result says where it got and why. Only the component that
// drives GC should call it. Retried (advancing to the same target is idempotent).
//
// Errors: ErrInvalidArgument (target behind the current value), ErrUnsupported, a
// *kv.BackoffError wrapping kv.ErrPDUnavailable, ctx's error.
func (c *Client) AdvanceTxnSafePoint(ctx context.Context, target uint64) (AdvanceResult, error) {
	if err := c.checkOpen("advance txn safe point"); err != nil {
		return AdvanceResult{}, err
	}
	var r gc.AdvanceTxnSafePointResult
	err := c.retry(ctx, "advance txn safe point", c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		r, err = c.b.GetGCInternalController(c.gcControllerKeyspaceID()).AdvanceTxnSafePoint(ctx, target)
		return err
	})
	if err != nil {
		return AdvanceResult{}, err
	}
	return AdvanceResult{Old: r.OldTxnSafePoint, Target: r.Target, New: r.NewTxnSafePoint, BlockedBy: r.BlockerDescription}, nil
}

// AdvanceGCSafePoint asks PD to move the GC safe point to target, which must not pass the
// txn safe point. Only the component that drives GC should call it.
//
// Errors: as AdvanceTxnSafePoint.
func (c *Client) AdvanceGCSafePoint(ctx context.Context, target uint64) (AdvanceResult, error) {
	if err := c.checkOpen("advance GC safe point"); err != nil {
		return AdvanceResult{}, err
	}
	var r gc.AdvanceGCSafePointResult
	err := c.retry(ctx, "advance GC safe point", c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		r, err = c.b.GetGCInternalController(c.gcControllerKeyspaceID()).AdvanceGCSafePoint(ctx, target)
		return err
	})
	if err != nil {
		return AdvanceResult{}, err
	}
	return AdvanceResult{Old: r.OldGCSafePoint, Target: r.Target, New: r.NewGCSafePoint}, nil
}
