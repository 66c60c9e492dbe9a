package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// txnStatus is what CheckTxnStatus (or the secondary-lock check) says about a
// transaction.
type txnStatus struct {
	ttl      uint64 // non-zero while the transaction may still commit
	commitTS uint64 // non-zero when committed
	action   kvrpcpb.Action
	primary  *kvrpcpb.LockInfo // the primary lock of a live async-commit transaction
	mismatch bool              // the lock's primary is not locked as a primary (stale pessimistic lock)
}

func (s txnStatus) committed() bool { return s.ttl == 0 && s.commitTS > 0 }

// decided reports whether the transaction is committed or rolled back for good.
func (s txnStatus) decided() bool { return s.ttl == 0 && !s.mismatch }

// cacheable: only final statuses are kept (a pessimistic lock found missing may still be
// retried by its owner, so LockNotExistDoNothing is not final).
func (s txnStatus) cacheable() bool {
	if s.committed() {
		return true
	}
	if !s.decided() {
		return false
	}
	switch s.action {
	case kvrpcpb.Action_NoAction, kvrpcpb.Action_LockNotExistRollback, kvrpcpb.Action_TTLExpireRollback:
		return true
	}
	return false
}

// resolveResult is what resolving a set of locks tells the caller.
type resolveResult struct {
	// msBeforeExpired is how long the caller should wait before retrying, 0 when every
	// lock was resolved or may be ignored.
	msBeforeExpired int64
	// ignore lists transactions whose locks a read at the caller's ts may skip (rolled
	// back, pushed, or committed after it): Context.ResolvedLocks.
	ignore []uint64
	// access lists transactions committed at or before the caller's ts whose locked
	// values a read may use: Context.CommittedLocks.
	access []uint64
}

// resolver resolves locks of other transactions (TXN-15, TXN-16). Safe for concurrent
// use; its only state is a bounded cache of decided statuses.
type resolver struct {
	c          *Client
	asyncSlots chan struct{} // read-side cleanups running in the background (asyncresolve.go)
	cleaning   sync.Map      // cleaningKey -> struct{}: locks a read-side cleanup is removing
	mu         sync.Mutex
	cache      map[uint64]txnStatus
	order      []uint64 // FIFO of cached start ts
	next       int
}

func newResolver(c *Client) *resolver {
	return &resolver{c: c, cache: make(map[uint64]txnStatus), order: make([]uint64, 0, c.cfg.StatusCacheSize),
		asyncSlots: make(chan struct{}, DefaultAsyncResolveLimit)}
}

func (r *resolver) cached(startTS uint64) (txnStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.cache[startTS]
	return s, ok
}

func (r *resolver) remember(startTS uint64, s txnStatus) {
	if !s.cacheable() {
		return
	}
	s.primary = nil
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cache[startTS]; ok {
		return
	}
	if len(r.order) < cap(r.order) {
		r.order = append(r.order, startTS)
	} else {
		delete(r.cache, r.order[r.next])
		r.order[r.next] = startTS
		r.next = (r.next + 1) % len(r.order)
	}
	r.cache[startTS] = s
}

// resolve resolves locks met by a request of a transaction (or snapshot) at callerTS.
// forRead means the caller only reads at callerTS: live transactions are pushed past it
// and their locks ignored rather than waited for. Writers pass callerTS 0.
func (r *resolver) resolve(ctx context.Context, bo *backoff.Backoffer, callerTS uint64, locks []kv.Lock,
	forRead bool) (resolveResult, error) {
	var res resolveResult
	cleaned := make(map[cleanedRegion]bool)
	lite := make(liteBatch)
	var later []decidedLock // a read's cleanups, run after it (asyncresolve.go)
	defer func() { r.cleanupForRead(ctx, later) }()
	for _, l := range locks {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		st, err := r.statusFromLock(ctx, bo, l, callerTS, false)
		if err != nil {
			return res, err
		}
		if !st.decided() && st.primary != nil && st.primary.GetUseAsyncCommit() {
			if r.c.cl.PD().UntilExpired(l.StartTS, st.ttl) > 0 {
				res.wait(r.c.cl.PD().UntilExpired(l.StartTS, st.ttl))
				continue
			}
			if st, err = r.resolveAsyncCommit(ctx, bo, l, st); err != nil {
				return res, err
			}
			if !st.decided() { // fell back to 2PC and is still alive
				res.wait(r.c.cl.PD().UntilExpired(l.StartTS, st.ttl))
				continue
			}
			res.note(st, l.StartTS, callerTS)
			continue
		}
		if st.mismatch && l.Type != kv.LockPessimistic {
			// Only a stale pessimistic lock can name a primary that is not one; any other
			// lock is left to its owner and waited for.
			res.wait(r.c.cl.PD().UntilExpired(l.StartTS, l.TTL))
			continue
		}
		if !st.decided() && !st.mismatch {
			if forRead && st.action == kvrpcpb.Action_MinCommitTSPushed {
				res.ignore = append(res.ignore, l.StartTS)
				continue
			}
			res.wait(r.c.cl.PD().UntilExpired(l.StartTS, st.ttl))
			continue
		}
		res.note(st, l.StartTS, callerTS)
		if forRead {
			later = append(later, decidedLock{l, st})
			continue
		}
		if err := r.resolveDecided(ctx, bo, l, st, cleaned, lite); err != nil {
			return res, err
		}
	}
	return res, r.flush(ctx, lite)
}

func (res *resolveResult) wait(ms int64) {
	ms = max(ms, 1)
	if res.msBeforeExpired == 0 || ms < res.msBeforeExpired {
		res.msBeforeExpired = ms
	}
}

// note records a decided transaction for the read path.
func (res *resolveResult) note(st txnStatus, startTS, callerTS uint64) {
	if st.committed() && st.commitTS <= callerTS {
		res.access = append(res.access, startTS)
	} else {
		res.ignore = append(res.ignore, startTS)
	}
}

// statusFromLock asks the lock's primary about the transaction, handling TxnNotFound:
// while the lock's own TTL runs the prewrite of the primary may still be on its way, so
// the resolver backs off; after it, the primary is rolled back if it does not exist.
func (r *resolver) statusFromLock(ctx context.Context, bo *backoff.Backoffer, l kv.Lock, callerTS uint64,
	forceSync bool) (txnStatus, error) {
	if st, ok := r.cached(l.StartTS); ok {
		return st, nil
	}
	currentTS := r.c.cl.PD().LowResolutionTimestamp()
	if l.TTL == 0 {
		currentTS = kv.MaxTS // TiKV: resolve unconditionally
	}
	rollbackIfNotExist := false
	for {
		st, err := r.checkTxnStatus(ctx, bo, l, callerTS, currentTS, rollbackIfNotExist, forceSync)
		if err == nil {
			r.remember(l.StartTS, st)
			return st, nil
		}
		var nf *txnNotFoundError
		if !errors.As(err, &nf) {
			return txnStatus{}, err
		}
		if l.Type == kv.LockPessimistic {
			// The pessimistic lock's owner is alive until its TTL says otherwise.
			return txnStatus{ttl: max(l.TTL, 1)}, nil
		}
		if r.c.cl.PD().UntilExpired(l.StartTS, l.TTL) <= 0 {
			rollbackIfNotExist = true
			continue
		}
		if err := bo.Backoff(ctx, backoff.TxnNotFound, err); err != nil {
			return txnStatus{}, err
		}
	}
}

// checkTxnStatus sends one CheckTxnStatus to the lock's primary.
func (r *resolver) checkTxnStatus(ctx context.Context, bo *backoff.Backoffer, l kv.Lock, callerTS, currentTS uint64,
	rollbackIfNotExist, forceSync bool) (txnStatus, error) {
	c := r.c
	req := &kvrpcpb.CheckTxnStatusRequest{
		Context:                  &kvrpcpb.Context{},
		PrimaryKey:               c.cl.Codec().EncodeKey(l.Primary),
		LockTs:                   l.StartTS,
		CallerStartTs:            callerTS,
		CurrentTs:                currentTS,
		RollbackIfNotExist:       rollbackIfNotExist,
		ForceSyncCommit:          forceSync,
		ResolvingPessimisticLock: l.Type == kv.LockPessimistic,
		VerifyIsPrimary:          true,
	}
	resp, err := sendKey[*kvrpcpb.CheckTxnStatusRequest, *kvrpcpb.CheckTxnStatusResponse](ctx, c, bo, l.Primary, req, nil)
	if err != nil {
		return txnStatus{}, fmt.Errorf("txn: check status of %d: %w", l.StartTS, err)
	}
	if ke := resp.GetError(); ke != nil {
		err := c.keyError(ke)
		if errors.As(err, &primaryMismatchError{}) {
			return txnStatus{mismatch: true}, nil
		}
		return txnStatus{}, err
	}
	return txnStatus{ttl: resp.GetLockTtl(), commitTS: resp.GetCommitVersion(), action: resp.GetAction(),
		primary: resp.GetLockInfo()}, nil
}

// resolveDecided cleans the lock l of a decided transaction: a pessimistic lock (also
// one whose primary mismatched) is rolled back with PessimisticRollback; a lock of a
// small transaction is queued in lite for a ResolveLock with keys (resolve-lock-lite,
// skipping the primary, which CheckTxnStatus already settled); anything else is resolved
// by a region-wide ResolveLock, sent once per region and transaction.
func (r *resolver) resolveDecided(ctx context.Context, bo *backoff.Backoffer, l kv.Lock, st txnStatus,
	cleaned map[cleanedRegion]bool, lite liteBatch) error {
	c := r.c
	enc := c.cl.Codec().EncodeKey(l.Key)
	if l.Type == kv.LockPessimistic {
		fu := l.ForUpdateTS
		if fu == 0 {
			fu = kv.MaxTS
		}
		req := &kvrpcpb.PessimisticRollbackRequest{Context: &kvrpcpb.Context{}, StartVersion: l.StartTS,
			ForUpdateTs: fu, Keys: [][]byte{enc}}
		resp, err := sendKey[*kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackResponse](ctx, c, bo, l.Key, req, nil)
		if err != nil {
			return fmt.Errorf("txn: pessimistic rollback: %w", err)
		}
		if errs := resp.GetErrors(); len(errs) > 0 {
			return c.keyError(errs[0])
		}
		return nil
	}
	if l.TxnSize < c.cfg.ResolveLockLiteThreshold {
		if !bytes.Equal(l.Key, l.Primary) {
			lite.add(l.StartTS, st.commitTS, l.Key)
		}
		return nil
	}
	loc, err := c.cl.Cache().Locate(ctx, l.Key)
	if err != nil {
		return err
	}
	done := cleanedRegion{loc.Region, l.StartTS}
	if cleaned[done] {
		return nil
	}
	req := &kvrpcpb.ResolveLockRequest{Context: &kvrpcpb.Context{}, StartVersion: l.StartTS, CommitVersion: st.commitTS}
	resp, loc, err := sendLoc[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse](ctx, c, bo, l.Key, loc, req, nil)
	if err != nil {
		return fmt.Errorf("txn: resolve region lock: %w", err)
	}
	if ke := resp.GetError(); ke != nil {
		return c.keyError(ke)
	}
	cleaned[cleanedRegion{loc.Region, l.StartTS}] = true
	return nil
}

// cleanedRegion records a region-wide ResolveLock of one transaction.
type cleanedRegion struct {
	region  region.VerID
	startTS uint64
}

// liteBatch collects the keys of resolve-lock-lite per transaction, so that the keys of
// one transaction are resolved with one ResolveLock per region (batched lite).
type liteBatch map[uint64]*liteKeys

type liteKeys struct {
	commitTS uint64
	keys     [][]byte
}

func (b liteBatch) add(startTS, commitTS uint64, key []byte) {
	lk := b[startTS]
	if lk == nil {
		lk = &liteKeys{commitTS: commitTS}
		b[startTS] = lk
	}
	lk.keys = append(lk.keys, key)
}

// flush resolves the collected keys.
func (r *resolver) flush(ctx context.Context, b liteBatch) error {
	for startTS, lk := range b {
		if err := r.resolveKeys(ctx, startTS, lk.commitTS, lk.keys); err != nil {
			return err
		}
	}
	return nil
}

// resolveAsyncCommit decides an async-commit transaction whose primary lock expired:
// CheckSecondaryLocks over every key (TiKV rolls back, with protection, any key whose
// lock is missing), then commit at the largest min commit ts if every key is locked, or
// roll back. A secondary prewritten without async commit sends the resolver back to the
// ordinary path with force_sync_commit. Every key is then resolved.
func (r *resolver) resolveAsyncCommit(ctx context.Context, bo *backoff.Backoffer, l kv.Lock, st txnStatus) (txnStatus, error) {
	pl := r.c.lockFromInfo(st.primary)
	keys := [][]byte{pl.Key}
	for _, s := range pl.Secondaries {
		keys = append(keys, s)
	}
	v, err := r.checkSecondaries(ctx, l.StartTS, keys)
	if err != nil {
		return txnStatus{}, err
	}
	var final txnStatus
	switch {
	case v.commitTS > 0:
		final = txnStatus{commitTS: v.commitTS}
	case v.missing:
		final = txnStatus{action: kvrpcpb.Action_NoAction}
	case v.fallback:
		s, err := r.statusFromLock(ctx, bo, kv.Lock{Key: l.Key, Primary: pl.Key, StartTS: l.StartTS, TTL: l.TTL}, 0, true)
		if err != nil || !s.decided() {
			return s, err
		}
		final = s
	default:
		final = txnStatus{commitTS: max(v.minCommitTS, pl.MinCommitTS)}
	}
	if err := r.resolveKeys(ctx, l.StartTS, final.commitTS, keys); err != nil {
		return txnStatus{}, err
	}
	r.remember(l.StartTS, final)
	return final, nil
}

// secondaryVerdict sums up CheckSecondaryLocks over every key of a transaction.
type secondaryVerdict struct {
	commitTS    uint64 // a key was found committed at this ts
	missing     bool   // a key had no lock (TiKV rolled it back, with protection)
	fallback    bool   // a key was prewritten without async commit
	minCommitTS uint64 // the largest min commit ts of the locks found
}

// checkSecondaries sends CheckSecondaryLocks for keys, per region in parallel.
func (r *resolver) checkSecondaries(ctx context.Context, startTS uint64, keys [][]byte) (secondaryVerdict, error) {
	c := r.c
	var mu sync.Mutex
	var v secondaryVerdict
	err := region.RunBatches(ctx, c.cl.Sender(), keys, func(k []byte) []byte { return k }, nil, c.cfg.CommitConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			req := &kvrpcpb.CheckSecondaryLocksRequest{Context: &kvrpcpb.Context{}, Keys: c.encodeKeys(b.Items),
				StartVersion: startTS}
			resp, err := region.SendToRegion[*kvrpcpb.CheckSecondaryLocksRequest, *kvrpcpb.CheckSecondaryLocksResponse](ctx,
				c.cl.Sender(), bo, b.Location, req, nil)
			if err != nil {
				return err
			}
			if ke := resp.GetError(); ke != nil {
				return c.keyError(ke)
			}
			mu.Lock()
			defer mu.Unlock()
			v.commitTS = max(v.commitTS, resp.GetCommitTs())
			v.missing = v.missing || len(resp.GetLocks()) < len(b.Items)
			for _, li := range resp.GetLocks() {
				v.fallback = v.fallback || !li.GetUseAsyncCommit()
				v.minCommitTS = max(v.minCommitTS, li.GetMinCommitTs())
			}
			return nil
		})
	if err != nil {
		return v, fmt.Errorf("txn: check secondary locks of %d: %w", startTS, err)
	}
	return v, nil
}

// resolveKeys commits (commitTS > 0) or rolls back the locks of transaction startTS on
// keys, per region in parallel.
func (r *resolver) resolveKeys(ctx context.Context, startTS, commitTS uint64, keys [][]byte) error {
	c := r.c
	err := region.RunBatches(ctx, c.cl.Sender(), keys, func(k []byte) []byte { return k }, nil, c.cfg.CommitConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			req := &kvrpcpb.ResolveLockRequest{Context: &kvrpcpb.Context{}, StartVersion: startTS,
				CommitVersion: commitTS, Keys: c.encodeKeys(b.Items)}
			resp, err := region.SendToRegion[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse](ctx,
				c.cl.Sender(), bo, b.Location, req, nil)
			if err != nil {
				return err
			}
			if ke := resp.GetError(); ke != nil {
				return c.keyError(ke)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("txn: resolve locks of %d: %w", startTS, err)
	}
	return nil
}
