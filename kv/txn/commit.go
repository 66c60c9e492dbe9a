package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// committer runs optimistic two-phase commit for one transaction (TXN-4).
type committer struct {
	tx       *Txn
	c        *Client
	muts     []mutation
	size     int
	primary  []byte
	hasLocks bool // some mutation leaves a lock (not only existence checks)
	shared   bool // some mutation is a shared lock (sharedlock.go): two-phase commit only
	startTS  uint64
	commitTS uint64
	ttl      uint64
	prewrote atomic.Bool
	p        commitProto // async commit, 1PC, pessimistic prewrite (asynccommit.go)

	hbMu   sync.Mutex
	hbStop context.CancelFunc
	hbDone chan struct{}
	hbSent atomic.Int64 // heartbeats acknowledged, for tests
}

func newCommitter(tx *Txn) *committer {
	return &committer{tx: tx, c: tx.c, startTS: tx.startTS}
}

// execute prewrites every mutation, then commits the primary and the secondaries.
// Whatever fails before the primary commit is rolled back; an undetermined primary
// commit is left alone (its locks will be resolved by whoever meets them).
func (cm *committer) execute(ctx context.Context) error {
	muts, size := mutationsOf(cm.tx.mem)
	var err error
	if cm.muts, cm.size, err = cm.tx.filterMutations(muts, size); err != nil {
		return err
	}
	if len(cm.muts) == 0 {
		return nil
	}
	if cm.c.isClosed() {
		return kv.ErrClosed
	}
	if err := cm.c.checkVisibility(ctx, cm.startTS); err != nil {
		return fmt.Errorf("txn: commit: %w", err)
	}
	pi := primaryOf(cm.muts)
	cm.hasLocks = pi >= 0
	cm.primary = cm.muts[max(pi, 0)].key
	base := cm.c.cfg.LockTTL
	if cm.tx.opts.lockTTL > 0 {
		base = cm.tx.opts.lockTTL
	}
	cm.ttl = lockTTL(base, cm.c.cfg.MaxLockTTL, cm.size, time.Since(cm.tx.begun))
	cm.choosePrimary()
	if err := cm.checkSharedLocks(); err != nil {
		return err
	}
	if err := cm.checkAssertionsByLocks(); err != nil {
		return err
	}
	// Before the protocol choice: it sees the regions as prewrite will (presplit.go).
	if err := cm.preSplit(ctx); err != nil {
		return err
	}
	if err := cm.chooseProtocol(ctx); err != nil {
		return err
	}
	defer cm.stopHeartbeat()
	if err := cm.prewriteAll(ctx); err != nil {
		if !kv.IsUndetermined(err) { // async commit / 1PC: TiKV may have committed (TXN-34)
			cm.cleanup(ctx)
		}
		return err
	}
	if !cm.hasLocks {
		return nil // only existence checks: nothing to commit
	}
	if cm.finishEarly() {
		return nil
	}
	committed, err := cm.commitPrimary(ctx)
	if err != nil {
		if !kv.IsUndetermined(err) {
			cm.cleanup(ctx)
		}
		return err
	}
	cm.commitSecondaries(ctx, committed)
	return nil
}

func (cm *committer) route(budget time.Duration) *region.Options {
	return routeOptions(&cm.tx.opts, budget)
}

// prewrite sends every mutation, grouped by region and cut by size, in parallel.
func (cm *committer) prewrite(ctx context.Context) error { return cm.prewriteBatches(ctx, false) }

// prewriteBatches is prewrite; retried says the mutations were sent before (a 1PC prewrite
// the region refused).
func (cm *committer) prewriteBatches(ctx context.Context, retried bool) error {
	err := region.RunBatches(ctx, cm.c.cl.Sender(), cm.muts, func(m mutation) []byte { return m.key },
		cm.route(backoff.Weighted(backoff.BudgetPrewrite)), cm.c.cfg.CommitConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[mutation]) error {
			size := uint64(len(b.Items)) // TxnSize: the transaction's keys in this region
			for _, part := range batchBySize(b.Items, cm.c.cfg.CommitBatchSize, func(m mutation) int { return len(m.key) + len(m.value) }) {
				if err := cm.prewriteBatch(ctx, bo, b.Location, part, size, b.Retry || retried); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("txn: prewrite: %w", err)
	}
	return nil
}

// prewriteBatch prewrites one batch, resolving locks of other transactions it meets.
// retry says the mutations were sent before (regrouped after a region error); every
// prewrite after the first is flagged a retry too (IsRetryRequest), as in client-go.
func (cm *committer) prewriteBatch(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, batch []mutation,
	txnSize uint64, retry bool) error {
	cd := cm.c.cl.Codec()
	pbm := make([]*kvrpcpb.Mutation, len(batch))
	hasPrimary := false
	resolved := make(map[uint64]bool) // transactions whose locks this batch resolved
	for i, m := range batch {
		pbm[i] = &kvrpcpb.Mutation{Op: m.op, Key: cd.EncodeKey(m.key), Value: m.value}
		hasPrimary = hasPrimary || bytes.Equal(m.key, cm.primary)
	}
	for {
		req := &kvrpcpb.PrewriteRequest{Context: requestContext(&cm.tx.opts), Mutations: pbm,
			PrimaryLock: cd.EncodeKey(cm.primary), StartVersion: cm.startTS, LockTtl: cm.ttl, TxnSize: txnSize,
			MinCommitTs: cm.startTS + 1}
		cm.decorate(req, batch, hasPrimary)
		cm.prewrote.Store(true)
		route := cm.prewriteRoute()
		if retry {
			route.Retry = true
		}
		retry = true
		resp, err := region.SendToRegion[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse](ctx, cm.c.cl.Sender(), bo,
			loc, req, route)
		if err != nil {
			return err
		}
		if len(resp.GetErrors()) == 0 {
			cm.notePrewrite(resp)
			if hasPrimary && cm.size > cm.c.cfg.HeartbeatSize {
				cm.startHeartbeat(ctx)
			}
			return nil
		}
		var locks []kv.Lock
		var first, assertion error
		for _, ke := range resp.GetErrors() {
			err := cm.prewriteLockConflict(cm.c.keyError(ke))
			var le *lockedError
			var ae *kv.AssertionFailedError
			switch {
			case errors.As(err, &le):
				locks = append(locks, le.locks()...)
			case errors.As(err, &ae):
				assertion = err
			case first == nil:
				first = err
			}
		}
		if first != nil {
			return first
		}
		if len(locks) == 0 {
			return cm.deferAssertion(assertion) // it loses to any other error (TXN-24, assertion.go)
		}
		if err := cm.c.resolveWritersLocks(ctx, bo, locks, resolved); err != nil {
			return err
		}
	}
}

// resolveWritersLocks resolves the locks a write request (prewrite, flush) met and, while
// some are still alive, backs off TxnLock until the first would expire. resolved
// records the transactions resolved before by this request: one of them coming back
// means TiKV has not caught up yet, so the writer waits a little instead of spinning.
func (c *Client) resolveWritersLocks(ctx context.Context, bo *backoff.Backoffer, locks []kv.Lock, resolved map[uint64]bool) error {
	res, err := c.resolver.resolve(ctx, bo, 0, locks, false)
	if err != nil {
		return err
	}
	wait := res.msBeforeExpired
	if wait == 0 && slices.ContainsFunc(locks, func(l kv.Lock) bool { return resolved[l.StartTS] }) {
		wait = 10 // a lock resolved before came back: do not spin
	}
	for _, l := range locks {
		resolved[l.StartTS] = true
	}
	if wait > 0 {
		return bo.BackoffAtMost(ctx, backoff.TxnLock, msDuration(wait), &kv.KeyLockedError{Lock: locks[0]})
	}
	return nil
}

// commitTimestamp fetches a commit ts above both the start ts and floor.
func (cm *committer) commitTimestamp(ctx context.Context, floor uint64) (uint64, error) {
	started := time.Now()
	for {
		ts, err := cm.c.cl.PD().Timestamp(ctx)
		if err != nil {
			return 0, fmt.Errorf("txn: commit timestamp: %w", err)
		}
		if ok, err := cm.acceptCommitTS(ts, floor, started); ok || err != nil { // committs.go
			return ts, err
		}
		// Wait until PD's clock should have passed floor (at least 1 ms, at most 500 ms).
		target := max(floor, cm.tx.opts.proto.waitUntilTSO)
		wait := min(max(kv.TSDiff(ts, target), time.Millisecond), 500*time.Millisecond)
		if err := (backoff.SystemClock{}).Sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
}

// commitPrimary commits the batch holding the primary key, synchronously and without
// resending once the request may have reached TiKV (TXN-34): a lost answer is
// kv.ErrUndetermined. It returns the keys it committed.
func (cm *committer) commitPrimary(ctx context.Context) ([][]byte, error) {
	ts, err := cm.commitTimestamp(ctx, 0)
	if err != nil {
		return nil, err
	}
	return cm.commitPrimaryAt(ctx, ts)
}

// commitPrimaryAt is commitPrimary with the first commit ts chosen.
func (cm *committer) commitPrimaryAt(ctx context.Context, ts uint64) ([][]byte, error) {
	cm.commitTS = ts
	bo := cm.c.newBackoffer(backoff.Weighted(backoff.BudgetCommitPrimary))
	route := cm.route(backoff.Weighted(backoff.BudgetCommitPrimary))
	route.NoResend = true
	first := true
	for {
		loc, err := cm.c.cl.Cache().Locate(ctx, cm.primary)
		if err != nil {
			return nil, fmt.Errorf("txn: commit primary: %w", err)
		}
		keys := [][]byte{cm.primary}
		if first {
			keys = cm.primaryBatch(loc)
		}
		req := &kvrpcpb.CommitRequest{Context: requestContext(&cm.tx.opts), StartVersion: cm.startTS,
			Keys: cm.c.encodeKeys(keys), CommitVersion: cm.commitTS, PrimaryKey: cm.c.cl.Codec().EncodeKey(cm.primary)}
		resp, err := region.SendToRegion[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse](ctx, cm.c.cl.Sender(), bo,
			loc, req, route)
		if err != nil {
			if !kv.IsUndetermined(err) && region.RetryRegionError(ctx, bo, err) == nil {
				first = false
				continue
			}
			return nil, fmt.Errorf("txn: commit primary: %w", err)
		}
		if ke := resp.GetError(); ke != nil {
			kerr := cm.c.keyError(ke)
			var exp *commitTSExpiredError
			if errors.As(kerr, &exp) {
				// A reader pushed the primary's min commit ts; commit above it.
				if cm.commitTS, err = cm.commitTimestamp(ctx, exp.minCommitTS); err != nil {
					return nil, err
				}
				continue
			}
			var ab *TxnAbortedError
			if errors.As(kerr, &ab) {
				ab.StartTS = cm.startTS
			}
			return nil, fmt.Errorf("txn: commit primary: %w", kerr)
		}
		return keys, nil
	}
}

// primaryBatch is the primary plus the following keys of its region, up to one batch.
func (cm *committer) primaryBatch(loc *region.Location) [][]byte {
	keys := [][]byte{cm.primary}
	size := len(cm.primary)
	past := false
	for _, m := range cm.muts {
		if !past {
			past = bytes.Equal(m.key, cm.primary)
			continue
		}
		if !m.committed() {
			continue
		}
		if !loc.Contains(m.key) || size >= cm.c.cfg.CommitBatchSize {
			break
		}
		keys = append(keys, m.key)
		size += len(m.key)
	}
	return keys
}

// commitSecondaries commits the remaining keys. The transaction is already committed:
// failures are logged, and keys left locked are committed by whoever meets them. The
// caller's ctx bounds the work; when it ends, the rest is left to lock resolution.
func (cm *committer) commitSecondaries(ctx context.Context, done [][]byte) {
	skip := make(map[string]bool, len(done))
	for _, k := range done {
		skip[string(k)] = true
	}
	var keys [][]byte
	for _, m := range cm.muts {
		if m.committed() && !skip[string(m.key)] {
			keys = append(keys, m.key)
		}
	}
	if len(keys) == 0 {
		return
	}
	err := region.RunBatches(ctx, cm.c.cl.Sender(), keys, func(k []byte) []byte { return k },
		cm.route(backoff.BudgetCommitSecondary), cm.c.cfg.CommitConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			for _, part := range batchBySize(b.Items, cm.c.cfg.CommitBatchSize, func(k []byte) int { return len(k) }) {
				req := &kvrpcpb.CommitRequest{Context: requestContext(&cm.tx.opts), StartVersion: cm.startTS,
					Keys: cm.c.encodeKeys(part), CommitVersion: cm.commitTS, PrimaryKey: cm.c.cl.Codec().EncodeKey(cm.primary)}
				resp, err := region.SendToRegion[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse](ctx, cm.c.cl.Sender(),
					bo, b.Location, req, cm.route(0))
				if err != nil {
					return err
				}
				if ke := resp.GetError(); ke != nil {
					return cm.c.keyError(ke)
				}
			}
			return nil
		})
	if err != nil {
		cm.c.log.Warn("txn: commit of secondary keys incomplete; lock resolution will finish it",
			zap.Uint64("startTS", cm.startTS), zap.Uint64("commitTS", cm.commitTS), zap.Error(err))
	}
}

// cleanup rolls back what prewrite may have written. It runs after the caller's ctx may
// have ended, so it has its own bound (Config.CleanupTimeout); locks it cannot remove
// expire and are resolved by others.
func (cm *committer) cleanup(ctx context.Context) {
	if !cm.prewrote.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cm.c.cfg.CleanupTimeout)
	defer cancel()
	var keys [][]byte
	for _, m := range cm.muts {
		if m.committed() {
			keys = append(keys, m.key)
		}
	}
	err := region.RunBatches(ctx, cm.c.cl.Sender(), keys, func(k []byte) []byte { return k },
		cm.route(backoff.BudgetCleanup), cm.c.cfg.CommitConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			for _, part := range batchBySize(b.Items, cm.c.cfg.CommitBatchSize, func(k []byte) int { return len(k) }) {
				req := &kvrpcpb.BatchRollbackRequest{Context: requestContext(&cm.tx.opts), StartVersion: cm.startTS,
					Keys: cm.c.encodeKeys(part)}
				resp, err := region.SendToRegion[*kvrpcpb.BatchRollbackRequest, *kvrpcpb.BatchRollbackResponse](ctx,
					cm.c.cl.Sender(), bo, b.Location, req, cm.route(0))
				if err != nil {
					return err
				}
				if ke := resp.GetError(); ke != nil {
					return cm.c.keyError(ke)
				}
			}
			return nil
		})
	if err != nil {
		cm.c.log.Warn("txn: rollback after failed commit incomplete; locks will expire",
			zap.Uint64("startTS", cm.startTS), zap.Error(err))
	}
}

// startHeartbeat starts the TTL heartbeat of a large transaction (TXN-13) once its
// primary is prewritten. The goroutine belongs to the committer, which stops and joins
// it before Commit returns.
func (cm *committer) startHeartbeat(ctx context.Context) {
	cm.hbMu.Lock()
	defer cm.hbMu.Unlock()
	if cm.hbStop != nil {
		return
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cm.hbStop, cm.hbDone = cancel, make(chan struct{})
	go func() {
		defer close(cm.hbDone)
		cm.keepAlive(hctx)
	}()
}

func (cm *committer) stopHeartbeat() {
	cm.hbMu.Lock()
	stop, done := cm.hbStop, cm.hbDone
	cm.hbMu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// keepAlive advises TiKV, every HeartbeatInterval, a TTL of the transaction's age plus
// MaxLockTTL for the primary lock; it stops when stopped, after MaxTxnTTL, after more
// than ten consecutive failures, or when TiKV reports the lock gone.
func (cm *committer) keepAlive(ctx context.Context) {
	cfg := cm.c.cfg
	t := time.NewTicker(cfg.HeartbeatInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		age := kv.TSDiff(cm.startTS, cm.c.cl.PD().LowResolutionTimestamp())
		if age > cfg.MaxTxnTTL {
			return
		}
		req := &kvrpcpb.TxnHeartBeatRequest{Context: requestContext(&cm.tx.opts),
			PrimaryLock: cm.c.cl.Codec().EncodeKey(cm.primary), StartVersion: cm.startTS,
			AdviseLockTtl: uint64((max(age, 0) + cfg.MaxLockTTL).Milliseconds())}
		bo := cm.c.newBackoffer(backoff.BudgetHeartbeat)
		resp, err := sendKey[*kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatResponse](ctx, cm.c, bo, cm.primary, req, nil)
		if err != nil {
			if failures++; failures > 10 || ctx.Err() != nil {
				return
			}
			continue
		}
		if resp.GetError() != nil {
			return
		}
		failures = 0
		cm.hbSent.Add(1)
	}
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
