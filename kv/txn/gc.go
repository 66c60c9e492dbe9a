package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
	"github.com/tikvsql/tikvsql/kv/rangetask"
	"github.com/tikvsql/tikvsql/kv/region"
)

// GCScanLockLimit is how many locks one ScanLock of the GC lock sweep asks a region for
// (client-go's value: half the resolver's status cache).
const GCScanLockLimit = 1024

// DefaultGCConcurrency is how many range tasks the GC lock sweep runs at once.
const DefaultGCConcurrency = 8

// ErrLockNotResolved: a lock the GC sweep must remove survived a forced resolution (TiKV
// kept the transaction alive after a rollback at current_ts = MaxTS, or the lock's primary
// does not name it). GC stops rather than collect under a live lock.
var ErrLockNotResolved = errors.New("txn: GC could not resolve a lock")

// ErrGCScope: GC was asked of a client whose API v2 keyspace shares the cluster-wide GC
// safe points (unified GC). Advancing them needs every keyspace's locks resolved, and this
// client can address only its own keyspace, so it refuses. Drive GC from a client of a
// keyspace with keyspace-level GC, or of the whole cluster (API v1).
var ErrGCScope = errors.New("txn: GC of a keyspace that uses the cluster-wide safe points")

// GCResult is what GC advanced.
type GCResult struct {
	// TxnSafePoint is PD's answer to advancing the txn safe point (New may stop short of
	// the target at a GC barrier; BlockedBy says which).
	TxnSafePoint pd.AdvanceResult
	// GCSafePoint is PD's answer to advancing the GC safe point to TxnSafePoint.New
	// (Old == New when it already was there).
	GCSafePoint pd.AdvanceResult
	// Regions counts the regions swept for locks.
	Regions rangetask.Stat
}

// GCOption tunes GC and ResolveLocksInRange.
type GCOption func(*gcOptions)

type gcOptions struct {
	concurrency    int
	regionsPerTask int
}

// WithGCConcurrency sets how many range tasks of the lock sweep run at once
// (DefaultGCConcurrency).
func WithGCConcurrency(n int) GCOption { return func(o *gcOptions) { o.concurrency = max(n, 1) } }

// WithGCRegionsPerTask sets how many regions one task of the lock sweep covers
// (rangetask.DefaultRegionsPerTask).
func WithGCRegionsPerTask(n int) GCOption { return func(o *gcOptions) { o.regionsPerTask = max(n, 1) } }

// GC garbage-collects the client's keyspace up to safePoint (GC-1): it asks PD to advance
// the txn safe point to safePoint (PD stops at the oldest GC barrier), resolves every lock
// whose transaction started at or before the new txn safe point over the whole keyspace
// (ResolveLocksInRange), then advances the GC safe point to the same value, after which
// TiKV may drop the versions no reader at or after it can see. Transactions that started
// before the new txn safe point can no longer read or commit (kv.ErrTxnAbortedByGC); live
// ones among them are rolled back. Only the single component that drives GC should call it.
//
// It returns what was advanced, also on failure (the steps that ran). ctx bounds the whole
// run; no goroutine outlives the call.
//
// Under API v2 the keyspace must run keyspace-level GC: GC then advances and sweeps that
// keyspace alone.
//
// Errors: kv.ErrClosed; ErrGCScope; those of pd.Client.AdvanceTxnSafePoint
// (pd.ErrInvalidArgument when safePoint is behind the current txn safe point,
// pd.ErrUnsupported), GCState and AdvanceGCSafePoint; those of ResolveLocksInRange. A failed
// sweep leaves the GC safe point where it was.
func (c *Client) GC(ctx context.Context, safePoint uint64, opts ...GCOption) (GCResult, error) {
	var res GCResult
	if c.isClosed() {
		return res, kv.ErrClosed
	}
	p := c.cl.PD()
	if ks := p.Keyspace(); ks != nil && !ks.KeyspaceLevelGC {
		return res, fmt.Errorf("%w: keyspace %q", ErrGCScope, ks.Name)
	}
	adv, err := p.AdvanceTxnSafePoint(ctx, safePoint)
	if err != nil {
		return res, fmt.Errorf("txn: GC: %w", err)
	}
	res.TxnSafePoint = adv
	if adv.New < safePoint {
		c.log.Info("txn: GC: txn safe point is blocked", zap.Uint64("target", safePoint),
			zap.Uint64("old", adv.Old), zap.Uint64("new", adv.New), zap.String("blocker", adv.BlockedBy))
	}
	res.Regions, err = c.ResolveLocksInRange(ctx, adv.New, nil, nil, opts...)
	if err != nil {
		return res, fmt.Errorf("txn: GC: %w", err)
	}
	st, err := p.GCState(ctx)
	if err != nil {
		return res, fmt.Errorf("txn: GC: %w", err)
	}
	if st.GCSafePoint >= adv.New { // PD refuses to move it backwards; nothing to do
		res.GCSafePoint = pd.AdvanceResult{Old: st.GCSafePoint, Target: adv.New, New: st.GCSafePoint}
		return res, nil
	}
	if res.GCSafePoint, err = p.AdvanceGCSafePoint(ctx, adv.New); err != nil {
		return res, fmt.Errorf("txn: GC: %w", err)
	}
	return res, nil
}

// ResolveLocksInRange removes every lock in the user-key range [start, end) (an empty end
// is the end of the keyspace) whose transaction started at or before maxTS (GC-2): region
// by region it scans up to GCScanLockLimit locks (scanning again from the last lock when
// there are more) and resolves them as GC does (GC-3, see batchResolve), whether or not
// their TTL has expired. Regions that move are located and scanned again. It runs on a
// rangetask.Runner (WithGCConcurrency, WithGCRegionsPerTask) and returns the regions swept.
//
// Errors: kv.ErrClosed; ErrLockNotResolved; key errors of CheckTxnStatus,
// CheckSecondaryLocks or ResolveLock; a *kv.BackoffError when a region's budget (100 s) runs
// out; an error wrapping ctx's error.
func (c *Client) ResolveLocksInRange(ctx context.Context, maxTS uint64, start, end []byte, opts ...GCOption) (rangetask.Stat, error) {
	if c.isClosed() {
		return rangetask.Stat{}, kv.ErrClosed
	}
	o := gcOptions{concurrency: DefaultGCConcurrency, regionsPerTask: rangetask.DefaultRegionsPerTask}
	for _, f := range opts {
		f(&o)
	}
	run := rangetask.NewRunner(c.cl.Cache(), o.concurrency, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		return c.sweepLocks(ctx, maxTS, r)
	})
	run.SetRegionsPerTask(o.regionsPerTask)
	run.SetStatLog(c.log, "gc-resolve-locks", 0)
	err := run.Run(ctx, start, end)
	return rangetask.Stat{CompletedRegions: run.CompletedRegions(), FailedRegions: run.FailedRegions()}, err
}

// sweepLocks scans and resolves the locks of one task, region by region. Each step (one
// scan and its resolution, with the rescans a moving region causes) has its own GC budget.
func (c *Client) sweepLocks(ctx context.Context, maxTS uint64, r kv.KeyRange) (rangetask.Stat, error) {
	var st rangetask.Stat
	key := []byte(r.Start)
	bo := c.newBackoffer(backoff.BudgetGCResolve)
	for {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("txn: resolve locks: %w", err)
		}
		loc, infos, err := c.scanLocks(ctx, bo, key, r.End, maxTS)
		if err != nil {
			return st, err
		}
		done, err := c.batchResolve(ctx, bo, loc, expandLocks(infos, maxTS))
		if err != nil {
			return st, err
		}
		if !done { // the region moved: scan it again
			continue
		}
		if len(infos) < GCScanLockLimit {
			st.CompletedRegions++
			key = loc.EndKey
		} else { // more locks in this region: go on from the last one (now resolved)
			key = c.decodeKey(infos[len(infos)-1].GetKey())
		}
		if len(key) == 0 || (len(r.End) > 0 && bytes.Compare(key, r.End) >= 0) {
			return st, nil
		}
		bo = c.newBackoffer(backoff.BudgetGCResolve) // progress made: a fresh budget
	}
}

// scanLocks sends ScanLock for [key, end) clipped to the region holding key.
func (c *Client) scanLocks(ctx context.Context, bo *backoff.Backoffer, key, end []byte, maxTS uint64) (*region.Location, []*kvrpcpb.LockInfo, error) {
	for {
		loc, err := c.cl.Cache().Locate(ctx, key)
		if err != nil {
			return nil, nil, fmt.Errorf("txn: scan locks: %w", err)
		}
		reqEnd := loc.EndKey
		if len(end) > 0 && (len(reqEnd) == 0 || bytes.Compare(end, reqEnd) < 0) {
			reqEnd = end
		}
		ws, we := c.cl.Codec().EncodeRange(key, reqEnd)
		req := &kvrpcpb.ScanLockRequest{Context: &kvrpcpb.Context{}, MaxVersion: maxTS, Limit: GCScanLockLimit,
			StartKey: ws, EndKey: we}
		resp, err := region.SendToRegion[*kvrpcpb.ScanLockRequest, *kvrpcpb.ScanLockResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
				return nil, nil, fmt.Errorf("txn: scan locks in region %d: %w", loc.Region.ID, rerr)
			}
			continue
		}
		if ke := resp.GetError(); ke != nil {
			return nil, nil, fmt.Errorf("txn: scan locks in region %d: %w", loc.Region.ID, c.keyError(ke))
		}
		return loc, resp.GetLocks(), nil
	}
}

// gcLock is one lock found by the sweep: the scanned key (wire form) and what TiKV
// said about the lock on it.
type gcLock struct {
	key  []byte
	info *kvrpcpb.LockInfo
}

// expandLocks replaces a shared-lock entry (one key locked by several transactions) by
// the locks it holds, keeping those at or before maxTS (TXN-9).
func expandLocks(infos []*kvrpcpb.LockInfo, maxTS uint64) []gcLock {
	out := make([]gcLock, 0, len(infos))
	for _, li := range infos {
		shared := li.GetSharedLockInfos()
		if len(shared) == 0 {
			out = append(out, gcLock{key: li.GetKey(), info: li})
			continue
		}
		for _, s := range shared {
			if s.GetLockVersion() <= maxTS {
				out = append(out, gcLock{key: li.GetKey(), info: s})
			}
		}
	}
	return out
}
