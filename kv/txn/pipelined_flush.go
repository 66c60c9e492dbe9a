package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// flush sends muts (one generation, in key order) as Flush requests, grouped by region
// and cut by size, FlushConcurrency batches at a time. TiKV writes every mutation as a
// lock of the transaction tagged with gen; a later generation overwrites the
// transaction's own lock on the same key, so a batch can be resent safely (TiKV:
// txn/commands/flush.rs). Locks of other transactions are resolved and the batch is
// resent; any other key error fails the flush, and the transaction.
func (p *pipelined) flush(ctx context.Context, gen uint64, muts []mutation) error {
	started := time.Now()
	tx, c := p.tx, p.tx.c
	if err := p.failure(); err != nil {
		return err
	}
	primary := p.primaryKey()
	if primary == nil {
		primary = muts[0].key // no lock was written yet: any key will do
	}
	ttl := lockTTL(c.cfg.MaxLockTTL, c.cfg.MaxLockTTL, 0, time.Since(tx.begun))
	if _, err := preSplitItems(ctx, c, tx.startTS, muts, mutationKey, mutationSize); err != nil { // TXN-35: ctx ended
		err = fmt.Errorf("txn: pipelined flush %d: %w", gen, err)
		p.fail(err)
		return err
	}
	err := region.RunBatches(ctx, c.cl.Sender(), muts, func(m mutation) []byte { return m.key },
		routeOptions(&tx.opts, backoff.BudgetPipelinedFlush), p.opts.FlushConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[mutation]) error {
			for _, part := range batchBySize(b.Items, c.cfg.CommitBatchSize, func(m mutation) int { return len(m.key) + len(m.value) }) {
				if err := p.flushBatch(ctx, bo, b.Location, part, gen, primary, ttl); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		err = fmt.Errorf("txn: pipelined flush %d: %w", gen, err)
		p.fail(err)
		return err
	}
	p.noteFlushed(time.Since(started))
	if p.primaryKey() != nil {
		p.startHeartbeat()
	}
	return nil
}

// flushBatch flushes one batch of one region.
func (p *pipelined) flushBatch(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, batch []mutation,
	gen uint64, primary []byte, ttl uint64) error {
	tx, c := p.tx, p.tx.c
	cd := c.cl.Codec()
	pbm := make([]*kvrpcpb.Mutation, len(batch))
	level := tx.opts.proto.assertion
	for i, m := range batch {
		pbm[i] = &kvrpcpb.Mutation{Op: m.op, Key: cd.EncodeKey(m.key), Value: m.value}
		if level != AssertionOff {
			pbm[i].Assertion = assertionOf(m.flags)
		}
	}
	resolved := make(map[uint64]bool) // transactions whose locks this batch resolved
	for {
		req := &kvrpcpb.FlushRequest{Context: requestContext(&tx.opts), Mutations: pbm, PrimaryKey: cd.EncodeKey(primary),
			StartTs: tx.startTS, MinCommitTs: tx.startTS + 1, Generation: gen, LockTtl: ttl}
		if level != AssertionOff {
			req.AssertionLevel = level.pb()
		}
		resp, err := region.SendToRegion[*kvrpcpb.FlushRequest, *kvrpcpb.FlushResponse](ctx, c.cl.Sender(), bo, loc, req,
			routeOptions(&tx.opts, 0))
		if err != nil {
			return err
		}
		if len(resp.GetErrors()) == 0 {
			return nil
		}
		var locks []kv.Lock
		for _, ke := range resp.GetErrors() {
			err := c.keyError(ke)
			var le *lockedError
			if !errors.As(err, &le) {
				return err
			}
			locks = append(locks, le.locks()...)
		}
		if err := c.resolveWritersLocks(ctx, bo, locks, resolved); err != nil {
			return err
		}
	}
}

// bufferBatchGet reads the transaction's own flushed writes of keys from TiKV's locks
// (BufferBatchGet). A key flushed as a deletion comes back with an empty value; keys
// not flushed are missing from the map.
func (tx *Txn) bufferBatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	c := tx.c
	keys = slices.Clone(keys)
	slices.SortFunc(keys, bytes.Compare)
	var mu sync.Mutex
	out := make(map[string][]byte, len(keys))
	err := region.RunBatches(ctx, c.cl.Sender(), keys, func(k []byte) []byte { return k },
		routeOptions(&tx.opts, backoff.Weighted(backoff.BudgetSnapshotRead)), c.cfg.CommitConcurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			for part := range slices.Chunk(b.Items, c.cfg.BatchGetSize) {
				req := &kvrpcpb.BufferBatchGetRequest{Context: requestContext(&tx.opts), Keys: c.encodeKeys(part),
					Version: tx.startTS}
				resp, err := region.SendToRegion[*kvrpcpb.BufferBatchGetRequest, *kvrpcpb.BufferBatchGetResponse](ctx,
					c.cl.Sender(), bo, b.Location, req, routeOptions(&tx.opts, 0))
				if err != nil {
					return err
				}
				mu.Lock()
				for _, pr := range resp.GetPairs() {
					if ke := pr.GetError(); ke != nil {
						mu.Unlock()
						return c.keyError(ke)
					}
					out[string(c.decodeKey(pr.GetKey()))] = append([]byte{}, pr.GetValue()...)
				}
				mu.Unlock()
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("txn: read flushed writes: %w", err)
	}
	return out, nil
}

// startHeartbeat starts the heartbeat of the primary lock once, in a goroutine owned
// by the Client (Close stops it; Commit and Rollback stop and join it). Its context
// derives from the Client's, so stopping it also cuts short an RPC in flight.
func (p *pipelined) startHeartbeat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hbStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(p.tx.c.bg.ctx)
	done := make(chan struct{})
	p.hbStop, p.hbDone = cancel, done
	if !p.tx.goBackground(false, func(context.Context) {
		defer close(done)
		p.keepAlive(ctx)
	}) {
		close(done)
	}
}

func (p *pipelined) stopHeartbeat() {
	p.mu.Lock()
	stop, done := p.hbStop, p.hbDone
	p.hbStop = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// keepAlive advises TiKV, every HeartbeatInterval, a TTL of the transaction's age plus
// MaxLockTTL for the primary lock (TXN-13), until stopped, until MaxTxnTTL (24 h by
// default) has passed, after more than ten consecutive failures, or when TiKV reports
// the lock gone (a reader rolled the transaction back: the next flush or the commit
// then fails).
func (p *pipelined) keepAlive(ctx context.Context) {
	tx, c := p.tx, p.tx.c
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	primary := p.primaryKey()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		age := time.Since(tx.begun)
		if age > p.opts.MaxTxnTTL {
			c.log.Warn("txn: pipelined transaction reached its max TTL; its locks may be rolled back",
				zap.Uint64("startTS", tx.startTS))
			return
		}
		// Push the primary's min commit ts to now, so that readers at older timestamps
		// need not push it themselves, and tell every store (TXN-12). A failed TSO call
		// only skips the push.
		minCommitTS, _ := c.cl.PD().Timestamp(ctx)
		req := &kvrpcpb.TxnHeartBeatRequest{Context: requestContext(&tx.opts),
			PrimaryLock: c.cl.Codec().EncodeKey(primary), StartVersion: tx.startTS,
			AdviseLockTtl: uint64((age + c.cfg.MaxLockTTL).Milliseconds()), MinCommitTs: minCommitTS}
		bo := c.newBackoffer(backoff.BudgetHeartbeat)
		resp, err := sendKey[*kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatResponse](ctx, c, bo, primary, req, nil)
		if err != nil {
			if failures++; failures > 10 || ctx.Err() != nil {
				return
			}
			continue
		}
		if resp.GetError() != nil {
			// The primary lock is gone: a reader rolled the transaction back. Later
			// flushes and the commit must fail rather than write orphan locks.
			p.fail(&TxnAbortedError{StartTS: tx.startTS, Key: kv.Key(primary).Clone(),
				Reason: "primary lock lost during pipelined DML"})
			return
		}
		failures = 0
		p.mu.Lock()
		p.hbSent++
		p.mu.Unlock()
		if minCommitTS > 0 {
			p.broadcast(ctx, &kvrpcpb.TxnStatus{MinCommitTs: minCommitTS})
		}
	}
}

// commitPipelined is Commit of a pipelined transaction; tx.mu held. It waits for the
// running flush, flushes the rest under ctx, commits the primary key only (the commit
// point), then resolves the other locks over the flushed range: in a goroutine owned
// by the Client, or before returning with SyncResolve. A failure before the primary
// commit rolls everything back.
func (tx *Txn) commitPipelined(ctx context.Context) error {
	start := time.Now()
	p := tx.pipe
	err := p.startFlush(ctx, false)
	if err == nil && tx.c.isClosed() {
		err = kv.ErrClosed
	}
	var cm *committer
	primary := p.primaryKey()
	if err == nil && primary != nil {
		cm = newCommitter(tx)
		cm.primary = primary
		_, err = cm.commitPrimary(ctx)
	}
	p.stopHeartbeat()
	switch {
	case err == nil:
		tx.state = stateCommitted
		if cm != nil {
			tx.commitTS = cm.commitTS
			p.resolveAfterCommit(ctx, cm.commitTS)
		}
	case kv.IsUndetermined(err):
		tx.state = stateUnknown
	default:
		tx.state = stateRolledBack
		p.rollback(ctx)
	}
	p.cancel()
	tx.tracePipelined(start, err)
	return err
}

// tracePipelined reports the end of a pipelined commit to the tracer.
func (tx *Txn) tracePipelined(start time.Time, err error) {
	if tx.c.tracer == nil && tx.opts.hooks.end == nil {
		return
	}
	n, _ := tx.pipe.flushedCounts()
	ev := kv.TxnEnd{StartTS: tx.startTS, Duration: time.Since(start), Err: err, Keys: n, Protocol: "pipelined"}
	if err == nil {
		ev.CommitTS, ev.Committed = tx.commitTS, true
	}
	tx.traceEnd(ev)
}

// resolveAfterCommit commits the secondary locks.
func (p *pipelined) resolveAfterCommit(ctx context.Context, commitTS uint64) {
	r, _ := p.flushedRange()
	run := func(ctx context.Context) {
		p.broadcast(ctx, &kvrpcpb.TxnStatus{CommitTs: commitTS})
		if err := p.resolveRange(ctx, r, commitTS); err != nil {
			p.tx.c.log.Warn("txn: pipelined commit left locks; lock resolution will finish them",
				zap.Uint64("startTS", p.tx.startTS), zap.Uint64("commitTS", commitTS), zap.Error(err))
			return
		}
		p.broadcast(ctx, &kvrpcpb.TxnStatus{CommitTs: commitTS, IsCompleted: true})
	}
	if p.opts.SyncResolve {
		run(ctx)
		return
	}
	p.tx.goBackground(true, run) // after Close, the locks are left to readers' resolution
}

// rollback stops the flushes and the heartbeat and rolls back every lock the
// transaction may have flushed: the primary first, so that anyone who meets a
// secondary finds the transaction rolled back, then the flushed range. It is bounded
// by ctx or, once ctx ended, Config.CleanupTimeout; locks it cannot remove are rolled
// back by readers once the primary's TTL ran out.
func (p *pipelined) rollback(ctx context.Context) {
	p.cancel()
	if p.flushDone != nil {
		<-p.flushDone
	}
	p.stopHeartbeat()
	r, ok := p.flushedRange()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.tx.c.cfg.CleanupTimeout)
	defer cancel()
	var err error
	if pk := p.primaryKey(); pk != nil {
		err = p.tx.c.resolver.resolveKeys(ctx, p.tx.startTS, 0, [][]byte{pk})
	}
	if err == nil {
		p.broadcast(ctx, &kvrpcpb.TxnStatus{RolledBack: true})
		err = p.resolveRange(ctx, r, 0)
	}
	if err == nil {
		p.broadcast(ctx, &kvrpcpb.TxnStatus{RolledBack: true, IsCompleted: true})
	}
	if err != nil {
		p.tx.c.log.Warn("txn: pipelined rollback incomplete; locks will expire",
			zap.Uint64("startTS", p.tx.startTS), zap.Error(err))
	}
}

// resolveRange sends a region-wide ResolveLock (commitTS 0: roll back) for the
// transaction to every region overlapping r, ResolveLockConcurrency regions at a time.
// TiKV resolves every lock of the transaction in the region (TiKV:
// txn/commands/resolve_lock.rs, which scans the region in batches).
func (p *pipelined) resolveRange(ctx context.Context, r kv.KeyRange, commitTS uint64) error {
	c := p.tx.c
	var parts []kv.KeyRange // the regions as the cache sees them now
	for key := r.Start; ; {
		loc, err := c.cl.Cache().Locate(ctx, key)
		if err != nil {
			return err
		}
		end := loc.EndKey
		if len(end) == 0 || bytes.Compare(end, r.End) >= 0 {
			parts = append(parts, kv.KeyRange{Start: key, End: r.End})
			break
		}
		parts = append(parts, kv.KeyRange{Start: key, End: end})
		key = end
	}
	sem := make(chan struct{}, p.opts.ResolveLockConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, part := range parts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.resolvePart(ctx, part, commitTS); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// resolvePart resolves the regions of one part of the range, following splits.
func (p *pipelined) resolvePart(ctx context.Context, r kv.KeyRange, commitTS uint64) error {
	c := p.tx.c
	bo := c.newBackoffer(backoff.Weighted(backoff.BudgetAsyncResolve))
	for key := r.Start; ; {
		loc, err := c.cl.Cache().Locate(ctx, key)
		if err != nil {
			return err
		}
		req := &kvrpcpb.ResolveLockRequest{Context: &kvrpcpb.Context{}, StartVersion: p.tx.startTS, CommitVersion: commitTS}
		resp, err := region.SendToRegion[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse](ctx, c.cl.Sender(),
			bo, loc, req, nil)
		if err != nil {
			if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
				return fmt.Errorf("txn: resolve pipelined locks of %d: %w", p.tx.startTS, rerr)
			}
			continue
		}
		if ke := resp.GetError(); ke != nil {
			return c.keyError(ke)
		}
		if len(loc.EndKey) == 0 || bytes.Compare(loc.EndKey, r.End) >= 0 {
			return nil
		}
		key = loc.EndKey
	}
}

// rollbackPipelined is Rollback of a pipelined transaction; tx.mu held.
func (tx *Txn) rollbackPipelined(ctx context.Context) {
	tx.pipe.rollback(ctx)
}
