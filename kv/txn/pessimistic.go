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
	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// pessimistic is the lock state of a pessimistic transaction (TXN-5); guarded by Txn.mu.
type pessimistic struct {
	primary     []byte            // the first key locked; nil until then
	forUpdateTS uint64            // the newest for-update ts of any lock request
	locked      int               // keys locked so far
	values      map[string][]byte // values read under locks (nil value: absent)
	known       map[string]bool   // existence reported by lock requests that asked for it
	keeper      *lockKeeper       // heartbeat of the primary lock
	// constraints holds, for keys locked in an aggressive locking stage, the for-update
	// ts their lock carries; prewrite asks TiKV to check it (aggressive.go).
	constraints map[string]uint64
}

// lockResult is what a lock request reports about one key.
type lockResult struct {
	value      []byte
	exists     bool
	conflictTS uint64 // fair locking: locked although a newer version was committed at this ts
}

// IsPessimistic reports whether the transaction was begun with WithPessimistic.
func (tx *Txn) IsPessimistic() bool { return tx.opts.proto.pessimistic }

// LockKeysWithOptions locks keys as o says. In a pessimistic transaction the locks are
// taken in TiKV before it returns (TXN-5, TXN-6, TXN-7): every key is locked at a fresh
// for-update ts, waiting for other transactions' locks as o.Wait (or the transaction's
// WithLockWait policy) allows; a key another transaction committed after that ts makes
// the request retry with a newer for-update ts, so a lock is never refused for a write
// that is already committed. The first key locked (the smallest of the first call)
// becomes the transaction's primary, kept alive by a heartbeat until the transaction
// ends. Keys already locked by the transaction are skipped. When locking fails, the keys
// of the call that may have been locked are rolled back before it returns.
//
// In an optimistic transaction it is LockKeys: the keys are checked for conflicts at
// commit, and the pessimistic-only options fail with ErrNotPessimistic.
//
// Errors: kv.ErrLockNoWait, kv.ErrLockWaitTimeout, *kv.DeadlockError (retryable when the
// deadlock involves a key of this call), *kv.KeyExistsError (a key Insert-ed by this
// transaction exists), *TxnAbortedError (the transaction's locks were resolved by
// another client), ErrEmptyKey, ErrInvalidLockWait, ErrInvalidLockOptions,
// ErrNotPessimistic, kv.ErrTxnDone, a *kv.BackoffError, ctx's error.
func (tx *Txn) LockKeysWithOptions(ctx context.Context, o LockOptions, keys ...[]byte) error {
	if o.Stats != nil {
		*o.Stats = LockStats{} // a call that sends nothing reports nothing
	}
	if !tx.opts.proto.pessimistic {
		if err := tx.refuseSharedLock(&o); err != nil {
			return err
		}
		if o.ReturnValues || o.CheckExistence || o.LockOnlyIfExists {
			return ErrNotPessimistic
		}
		return tx.lockOptimistic(ctx, keys)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if len(k) == 0 {
			return ErrEmptyKey
		}
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	if o.Wait == (LockWait{}) {
		o.Wait = tx.opts.proto.lockWait
	}
	if err := o.validate(tx.pess.primary != nil, len(keys)); err != nil {
		return err
	}
	if err := tx.checkSharedLock(&o, keys); err != nil {
		return err
	}
	todo, err := tx.keysToLock(keys, &o)
	if err != nil || len(todo) == 0 {
		return err
	}
	return tx.lockPessimistic(ctx, &o, todo)
}

// keysToLock sorts and deduplicates keys and drops those already locked; mu held.
func (tx *Txn) keysToLock(keys [][]byte, o *LockOptions) ([][]byte, error) {
	var todo [][]byte
	for _, k := range keys {
		f := tx.mem.Flags(k)
		_, known := tx.pess.values[string(k)]
		if !f.Has(memdb.FlagKeyLocked) || (o.ReturnValues && !known) || tx.agg.fromLastAttempt(k) {
			// Not locked yet, or locked without reading the value: TiKV locks a key the
			// transaction holds again, at the new for-update ts, and returns its value.
			// A lock of an aggressive stage's previous attempt may be kept (stageFilter).
			if err := tx.checkEntries(k); err != nil {
				return nil, err
			}
			todo = append(todo, k)
			continue
		}
		if f.Has(memdb.FlagPresumeKNE) && f.Has(memdb.FlagKeyLockedValExist) && o.CheckExistence {
			return nil, &kv.KeyExistsError{Key: kv.Key(k).Clone()}
		}
		if v, ok := tx.pess.values[string(k)]; ok && o.Values != nil && v != nil {
			o.Values[string(k)] = bytes.Clone(v)
		}
	}
	slices.SortFunc(todo, bytes.Compare)
	return slices.CompactFunc(todo, bytes.Equal), nil
}

// lockPessimistic locks keys (sorted, none locked yet); mu held.
func (tx *Txn) lockPessimistic(ctx context.Context, o *LockOptions, keys [][]byte) error {
	start := time.Now()
	assigned := tx.pess.primary == nil
	if assigned {
		tx.pess.primary = tx.choosePrimary(keys)
	}
	all := keys
	if tx.agg != nil {
		var err error
		if keys, err = tx.stageFilter(o, keys); err != nil || len(keys) == 0 {
			if err != nil && assigned {
				tx.pess.primary = nil
			} else if assigned {
				tx.startKeeper() // the primary's lock was kept from the previous attempt
			}
			return err
		}
	}
	// TiKV's force-lock wake-up mode takes one key (client-go: aggressive locking only).
	o.force = (tx.opts.proto.fairLocking || tx.agg != nil) && len(keys) == 1 && !o.LockOnlyIfExists
	lockFirst := assigned && slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, tx.pess.primary) })
	if assigned && !lockFirst {
		tx.startKeeper()
	}
	first := tx.pess.locked == 0 && len(keys) == 1
	// Insert-ed keys are checked by TiKV at lock time. The flags are read here, under mu,
	// because the lock requests run on RunBatches' goroutines.
	o.inserted = map[string]bool{}
	for _, k := range keys {
		if tx.mem.Flags(k).Has(memdb.FlagPresumeKNE) {
			o.inserted[string(k)] = true
		}
	}
	var res map[string]lockResult
	var err error
	attempt := 0
	if o.Stats != nil {
		o.counters = &lockCounters{}
		defer func() {
			var conflict uint64
			for _, r := range res {
				conflict = max(conflict, r.conflictTS)
			}
			o.counters.fill(o.Stats, len(keys), attempt, conflict, time.Since(start))
		}()
	}
	for ; ; attempt++ {
		var ts uint64
		if ts, err = tx.c.cl.PD().Timestamp(ctx); err != nil {
			err = fmt.Errorf("txn: for-update timestamp: %w", err)
			break
		}
		tx.pess.forUpdateTS = max(tx.pess.forUpdateTS, ts)
		res, err = tx.lockRound(ctx, o, keys, first, lockFirst, start)
		var wc *kv.WriteConflictError
		if err == nil || !errors.As(err, &wc) || attempt >= maxLockRetries {
			break
		}
	}
	if err != nil {
		var dl *kv.DeadlockError
		if errors.As(err, &dl) {
			dl.IsRetryable = deadlockInKeys(dl, keys, tx.startTS)
		}
		// Keys the transaction already held (locked again for their values) stay locked.
		fresh := slices.DeleteFunc(slices.Clone(keys), func(k []byte) bool { return tx.mem.Flags(k).Has(memdb.FlagKeyLocked) })
		tx.lockFailed(ctx, fresh, err, assigned)
		tx.stageLockFailed(ctx, all)
		if dl != nil && dl.IsRetryable {
			// Give the transaction we deadlocked with a moment to take the keys we just
			// released before the caller retries (client-go sleeps 5 ms too).
			_ = backoff.SystemClock{}.Sleep(ctx, 5*time.Millisecond)
		}
		return err
	}
	asked := o.ReturnValues || o.CheckExistence // else TiKV reports no existence
	sent := tx.pess.forUpdateTS                 // the for-update ts of the requests that succeeded
	for _, k := range keys {
		r := res[string(k)]
		// A key locked with conflict holds its lock at the newer version's commit ts;
		// the prewrite's for-update ts and min commit ts must follow (TXN-8).
		tx.pess.forUpdateTS = max(tx.pess.forUpdateTS, r.conflictTS)
		if o.LockOnlyIfExists && !r.exists {
			continue
		}
		set := memdb.FlagKeyLocked | o.sharedFlag(tx.mem.Flags(k))
		if asked && r.exists {
			set |= memdb.FlagKeyLockedValExist
		}
		if asked {
			if tx.pess.known == nil {
				tx.pess.known = make(map[string]bool)
			}
			tx.pess.known[string(k)] = r.exists
		}
		wasLocked := tx.mem.Flags(k).Has(memdb.FlagKeyLocked)
		if !wasLocked {
			tx.pess.locked++
		}
		if err := tx.mem.UpdateFlags(k, set, 0); err != nil {
			return err
		}
		tx.noteLocked(k, wasLocked, sent, r)
		if o.ReturnValues {
			if tx.pess.values == nil {
				tx.pess.values = make(map[string][]byte)
			}
			var v []byte
			if r.exists {
				v = bytes.Clone(r.value)
				if v == nil {
					v = []byte{}
				}
				if o.Values != nil {
					o.Values[string(k)] = bytes.Clone(v)
				}
			}
			tx.pess.values[string(k)] = v
		}
	}
	if assigned && tx.mem.Flags(tx.pess.primary)&memdb.FlagKeyLocked == 0 {
		// LockOnlyIfExists on an absent key: nothing was locked, so no primary (SB-7).
		tx.pess.primary = nil
		tx.stopKeeper()
	}
	return nil
}

// lockRound sends one lock request per region batch at the current for-update ts: the
// primary first, alone and synchronously, when this call chose it (so that its
// heartbeat starts before the other keys are locked), then the rest in parallel.
func (tx *Txn) lockRound(ctx context.Context, o *LockOptions, keys [][]byte, first, assigned bool,
	start time.Time) (map[string]lockResult, error) {
	var mu sync.Mutex
	res := make(map[string]lockResult, len(keys))
	emit := func(k []byte, r lockResult) {
		mu.Lock()
		res[string(k)] = r
		mu.Unlock()
	}
	rest := keys
	if assigned {
		if err := tx.lockKeysOnce(ctx, o, [][]byte{tx.pess.primary}, first, start, emit); err != nil {
			return nil, err
		}
		tx.startKeeper()
		rest = slices.DeleteFunc(slices.Clone(keys), func(k []byte) bool { return bytes.Equal(k, tx.pess.primary) })
	}
	if len(rest) == 0 {
		return res, nil
	}
	return res, tx.lockKeysOnce(ctx, o, rest, first, start, emit)
}

func (tx *Txn) lockKeysOnce(ctx context.Context, o *LockOptions, keys [][]byte, first bool, start time.Time,
	emit func([]byte, lockResult)) error {
	if err := tx.c.preSplitLocks(ctx, tx.startTS, keys); err != nil { // TXN-35, presplit.go
		return err
	}
	route := routeOptions(&tx.opts, backoff.Weighted(backoff.BudgetPessimisticLock))
	return region.RunBatches(ctx, tx.c.cl.Sender(), keys, func(k []byte) []byte { return k }, route,
		tx.c.cfg.CommitConcurrency, func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			for _, part := range batchBySize(b.Items, tx.c.cfg.CommitBatchSize, func(k []byte) int { return len(k) }) {
				if err := tx.lockBatch(ctx, bo, b.Location, o, part, first, start, emit); err != nil {
					return err
				}
			}
			return nil
		})
}

// lockBatch locks the keys of one region. TiKV waits for other transactions' locks
// itself (WaitTimeout); when it returns a lock the lock is resolved without backing off
// (TiKV already waited, SB-13) and the policy decides whether to try again.
func (tx *Txn) lockBatch(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, o *LockOptions,
	batch [][]byte, first bool, start time.Time, emit func([]byte, lockResult)) error {
	var shrink shrinkRound // TiKV's immediate answer when a shared lock becomes shrink-only
	cd := tx.c.cl.Codec()
	muts := make([]*kvrpcpb.Mutation, len(batch))
	for i, k := range batch {
		muts[i] = &kvrpcpb.Mutation{Op: o.lockOp(), Key: cd.EncodeKey(k)}
		if o.inserted[string(k)] {
			muts[i].Assertion = kvrpcpb.Assertion_NotExist // an Insert-ed key: TiKV checks at lock time
		}
	}
	route := routeOptions(&tx.opts, 0)
	force := o.force && len(batch) == 1
	for rounds := 0; ; {
		req := &kvrpcpb.PessimisticLockRequest{Context: requestContext(&tx.opts), Mutations: muts,
			PrimaryLock: cd.EncodeKey(tx.pess.primary), StartVersion: tx.startTS, ForUpdateTs: tx.pess.forUpdateTS,
			IsFirstLock: first, WaitTimeout: o.Wait.waitTimeoutMs(time.Since(start)), ReturnValues: o.ReturnValues,
			CheckExistence: o.CheckExistence, LockOnlyIfExists: o.LockOnlyIfExists,
			MinCommitTs: tx.pess.forUpdateTS + 1, LockTtl: tx.pessimisticTTL()}
		if force {
			req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		}
		o.counters.sent(loc.Region.ID)
		resp, err := region.SendToRegion[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse](ctx,
			tx.c.cl.Sender(), bo, loc, req, route)
		if err != nil {
			return err
		}
		if len(resp.GetErrors()) == 0 {
			if rs := resp.GetResults(); force && len(rs) == 1 && rs[0].GetType() != kvrpcpb.PessimisticLockKeyResultType_LockResultFailed {
				emit(batch[0], lockResult{value: rs[0].GetValue(), exists: rs[0].GetExistence(),
					conflictTS: rs[0].GetLockedWithConflictTs()})
				return nil
			}
			for i, k := range batch {
				r := lockResult{exists: true}
				if i < len(resp.GetNotFounds()) {
					r.exists = !resp.GetNotFounds()[i]
				}
				if i < len(resp.GetValues()) {
					r.value = resp.GetValues()[i]
				}
				emit(k, r)
			}
			return nil
		}
		var locks []kv.Lock
		for _, ke := range resp.GetErrors() {
			kerr := tx.c.keyError(ke)
			var le *lockedError
			if errors.As(kerr, &le) {
				locks = append(locks, le.locks()...)
				shrink.met(o, le)
				continue
			}
			var ab *TxnAbortedError
			if errors.As(kerr, &ab) {
				ab.StartTS = tx.startTS
			}
			return kerr
		}
		resolveStart := time.Now()
		st, err := tx.c.resolver.resolve(ctx, bo, 0, locks, false)
		o.counters.resolved(len(locks), time.Since(resolveStart))
		if err != nil {
			return err
		}
		if st.msBeforeExpired > 0 {
			if !shrink.free() {
				rounds++
			}
			if err := o.Wait.gaveUp(time.Since(start), rounds); err != nil {
				return err
			}
		}
	}
}

// deadlockInKeys reports whether a deadlock runs through a key of this lock call, held
// by us and awaited by another transaction of the cycle: rolling the call's keys back
// then breaks the cycle, and running it again may succeed (client-go's hashInKeys, which
// compares TiKV's farmhash of that key; we compare the keys of the wait chain, or the
// deadlock key when a server sends no chain).
func deadlockInKeys(dl *kv.DeadlockError, keys [][]byte, startTS uint64) bool {
	in := func(k []byte) bool {
		return slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
	}
	if len(dl.WaitChain) == 0 {
		return len(dl.Key) > 0 && in(dl.Key)
	}
	for _, e := range dl.WaitChain {
		if e.WaitForTxnTS == startTS && in(e.Key) {
			return true
		}
	}
	return false
}

// pessimisticTTL is a pessimistic lock's TTL in ms: the transaction's age plus
// PessimisticLockTTL, recomputed for every request (SB-9).
func (tx *Txn) pessimisticTTL() uint64 {
	return uint64((time.Since(tx.begun) + tx.c.cfg.PessimisticLockTTL).Milliseconds())
}

// lockFailed cleans up after a failed lock call (SB-14): the keys that may have been
// locked are rolled back (a single key that met a write conflict or an existing key was
// not locked), and a primary chosen by this call is given up; mu held.
func (tx *Txn) lockFailed(ctx context.Context, keys [][]byte, err error, assigned bool) {
	var wc *kv.WriteConflictError
	var ke *kv.KeyExistsError
	if len(keys) > 1 || !(errors.As(err, &wc) || errors.As(err, &ke)) {
		tx.pessimisticRollback(ctx, keys)
	}
	if assigned {
		tx.pess.primary = nil
		tx.stopKeeper()
	}
}

// lockedKeys lists the keys holding pessimistic locks; mu held.
func (tx *Txn) lockedKeys() [][]byte {
	var keys [][]byte
	it := tx.mem.Iter(kv.KeyRange{}, memdb.IterOptions{WithFlagsOnly: true})
	for ; it.Valid(); it.Next() {
		if it.Flags().Has(memdb.FlagKeyLocked) {
			keys = append(keys, bytes.Clone(it.Key()))
		}
	}
	return keys
}

// pessimisticRollback removes this transaction's pessimistic locks on keys. It runs
// after the caller's ctx may have ended, bounded by Config.CleanupTimeout; locks it
// cannot remove expire and are resolved by others.
func (tx *Txn) pessimisticRollback(ctx context.Context, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tx.c.cfg.CleanupTimeout)
	defer cancel()
	route := routeOptions(&tx.opts, backoff.BudgetPessimisticRollback)
	fu := tx.pess.forUpdateTS
	err := region.RunBatches(ctx, tx.c.cl.Sender(), keys, func(k []byte) []byte { return k }, route,
		tx.c.cfg.CommitConcurrency, func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			req := &kvrpcpb.PessimisticRollbackRequest{Context: requestContext(&tx.opts), StartVersion: tx.startTS,
				ForUpdateTs: fu, Keys: tx.c.encodeKeys(b.Items)}
			resp, err := region.SendToRegion[*kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackResponse](ctx,
				tx.c.cl.Sender(), bo, b.Location, req, routeOptions(&tx.opts, 0))
			if err != nil {
				return err
			}
			if errs := resp.GetErrors(); len(errs) > 0 {
				return tx.c.keyError(errs[0])
			}
			return nil
		})
	if err != nil {
		tx.c.log.Warn("txn: pessimistic rollback incomplete; locks will expire",
			zap.Uint64("startTS", tx.startTS), zap.Error(err))
	}
}

// endPessimistic runs when a pessimistic transaction ends (commit or rollback): the
// heartbeat stops, and unless the commit succeeded or is undetermined every pessimistic
// lock is rolled back; mu held.
func (tx *Txn) endPessimistic(ctx context.Context, cm *committer, err error) {
	if !tx.opts.proto.pessimistic {
		return
	}
	tx.stopKeeper()
	if err == nil && cm != nil || kv.IsUndetermined(err) {
		return
	}
	tx.pessimisticRollback(ctx, tx.lockedKeys())
}

// lockKeeper is the heartbeat of a pessimistic primary lock (TXN-13). Its goroutine is
// owned by the Client (so Close stops it) and stopped when the transaction ends.
type lockKeeper struct {
	stop chan struct{} // closed to stop the goroutine
	done chan struct{} // closed when it returned
	sent atomic.Int64  // heartbeats acknowledged, for tests
}

// startKeeper starts the heartbeat of the primary lock; mu held.
func (tx *Txn) startKeeper() {
	if tx.pess.keeper != nil || tx.pess.primary == nil {
		return
	}
	k := &lockKeeper{stop: make(chan struct{}), done: make(chan struct{})}
	primary := bytes.Clone(tx.pess.primary)
	if tx.goBackground(false, func(ctx context.Context) {
		defer close(k.done)
		tx.keepAlive(ctx, primary, k)
	}) {
		tx.pess.keeper = k
	}
}

// stopKeeper stops the heartbeat and waits for it; mu held.
func (tx *Txn) stopKeeper() {
	if k := tx.pess.keeper; k != nil {
		tx.pess.keeper = nil
		close(k.stop)
		<-k.done
	}
}

// keepAlive advises TiKV, every min(HeartbeatInterval, PessimisticLockTTL/2), a TTL of
// the transaction's age plus PessimisticLockTTL for the primary lock. It stops when
// stopped, when the client closes, after MaxTxnTTL, after more than ten consecutive
// failures, or when TiKV reports the lock gone.
func (tx *Txn) keepAlive(bctx context.Context, primary []byte, k *lockKeeper) {
	ctx, cancel := context.WithCancel(bctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // turns stop into ctx's end, so that a heartbeat in flight is cut short
		defer wg.Done()
		select {
		case <-k.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer wg.Wait()
	defer cancel()
	cfg := tx.c.cfg
	t := time.NewTicker(min(cfg.HeartbeatInterval, cfg.PessimisticLockTTL/2))
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		age := time.Since(tx.begun)
		if age > cfg.MaxTxnTTL {
			return
		}
		req := &kvrpcpb.TxnHeartBeatRequest{Context: requestContext(&tx.opts),
			PrimaryLock: tx.c.cl.Codec().EncodeKey(primary), StartVersion: tx.startTS,
			AdviseLockTtl: uint64((age + cfg.PessimisticLockTTL).Milliseconds())}
		bo := tx.c.newBackoffer(backoff.BudgetHeartbeat)
		resp, err := sendKey[*kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatResponse](ctx, tx.c, bo, primary, req, nil)
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
		k.sent.Add(1)
	}
}
