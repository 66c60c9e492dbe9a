package txn

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// batchResolve resolves the locks one ScanLock found in the region at loc, as GC must
// (GC-3, client-go's BatchResolveLocks): whatever their TTL, every transaction is decided
// now. Pessimistic locks are rolled back (committing them means nothing, and their primary
// need not be the transaction's real one); every other transaction is asked for its status
// with current_ts = MaxTS and rollback_if_not_exist, which rolls it back unless it
// committed; an async-commit transaction, whose primary TiKV will not roll back that way,
// is decided from its secondaries. Then one ResolveLock carrying every decision
// (TxnInfos) cleans the region. It reports false when the region moved meanwhile, after
// backing off: the caller scans it again.
func (c *Client) batchResolve(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, locks []gcLock) (bool, error) {
	if len(locks) == 0 {
		return true, nil
	}
	decided := make(map[uint64]uint64)       // start ts -> commit ts (0: rolled back)
	pessimistic := make(map[uint64][][]byte) // start ts -> wire keys
	var order []uint64                       // start ts of decided, in the order met
	for _, gl := range locks {
		li := gl.info
		ts := li.GetLockVersion()
		if t := li.GetLockType(); t == kvrpcpb.Op_PessimisticLock || t == kvrpcpb.Op_SharedPessimisticLock {
			pessimistic[ts] = append(pessimistic[ts], gl.key)
			continue
		}
		if _, ok := decided[ts]; ok {
			continue
		}
		l := c.lockFromInfo(li)
		l.Key = c.decodeKey(gl.key)
		commitTS, err := c.resolver.gcDecide(ctx, bo, l)
		if err != nil {
			return false, err
		}
		decided[ts] = commitTS
		order = append(order, ts)
	}
	for ts, keys := range pessimistic {
		req := &kvrpcpb.PessimisticRollbackRequest{Context: &kvrpcpb.Context{}, StartVersion: ts, ForUpdateTs: kv.MaxTS, Keys: keys}
		resp, err := region.SendToRegion[*kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackResponse](ctx,
			c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			return false, regionMoved(ctx, bo, loc, err)
		}
		if errs := resp.GetErrors(); len(errs) > 0 {
			return false, fmt.Errorf("txn: GC pessimistic rollback of %d: %w", ts, c.keyError(errs[0]))
		}
	}
	if len(order) == 0 {
		return true, nil
	}
	infos := make([]*kvrpcpb.TxnInfo, len(order))
	for i, ts := range order {
		infos[i] = &kvrpcpb.TxnInfo{Txn: ts, Status: decided[ts]}
	}
	req := &kvrpcpb.ResolveLockRequest{Context: &kvrpcpb.Context{}, TxnInfos: infos}
	resp, err := region.SendToRegion[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
	if err != nil {
		return false, regionMoved(ctx, bo, loc, err)
	}
	if ke := resp.GetError(); ke != nil {
		return false, fmt.Errorf("txn: GC resolve locks in region %d: %w", loc.Region.ID, c.keyError(ke))
	}
	return true, nil
}

// regionMoved turns a SendToRegion error into nil when the caller should scan the region
// again (after RetryRegionError's backoff), or the error to return.
func regionMoved(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, err error) error {
	if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
		return fmt.Errorf("txn: GC resolve locks in region %d: %w", loc.Region.ID, rerr)
	}
	return nil
}

// gcDecide decides the transaction of the non-pessimistic lock l for GC and returns its
// commit ts, 0 when it is rolled back. The decision is cached like the resolver's others.
func (r *resolver) gcDecide(ctx context.Context, bo *backoff.Backoffer, l kv.Lock) (uint64, error) {
	if st, ok := r.cached(l.StartTS); ok {
		return st.commitTS, nil
	}
	st, err := r.checkTxnStatus(ctx, bo, l, 0, kv.MaxTS, true, false)
	if err != nil {
		return 0, err
	}
	if !st.decided() && !st.mismatch && st.primary != nil && st.primary.GetUseAsyncCommit() {
		if st, err = r.gcDecideAsync(ctx, bo, l, st); err != nil {
			return 0, err
		}
	}
	if st.mismatch || !st.decided() {
		return 0, fmt.Errorf("%w: transaction %d (lock on %s) still alive after a forced rollback (ttl %d, primary mismatch %v)",
			ErrLockNotResolved, l.StartTS, l.Key, st.ttl, st.mismatch)
	}
	r.remember(l.StartTS, st)
	return st.commitTS, nil
}

// gcDecideAsync decides an async-commit transaction from CheckSecondaryLocks over all its
// keys: committed if any key is, rolled back if any lock is missing (TiKV then protects
// the key against a late prewrite), committed at the largest min commit ts if every key is
// still locked. A key prewritten without async commit sends it back to CheckTxnStatus
// with force_sync_commit.
func (r *resolver) gcDecideAsync(ctx context.Context, bo *backoff.Backoffer, l kv.Lock, st txnStatus) (txnStatus, error) {
	pl := r.c.lockFromInfo(st.primary)
	keys := make([][]byte, 0, 1+len(pl.Secondaries))
	keys = append(keys, pl.Key)
	for _, s := range pl.Secondaries {
		keys = append(keys, s)
	}
	v, err := r.checkSecondaries(ctx, l.StartTS, keys)
	if err != nil {
		return txnStatus{}, err
	}
	switch {
	case v.commitTS > 0:
		return txnStatus{commitTS: v.commitTS}, nil
	case v.missing:
		return txnStatus{action: kvrpcpb.Action_NoAction}, nil
	case v.fallback:
		return r.checkTxnStatus(ctx, bo, l, 0, kv.MaxTS, true, true)
	default:
		return txnStatus{commitTS: max(v.minCommitTS, pl.MinCommitTS)}, nil
	}
}
