package memcluster

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// defaultLockWait is TiKV's default wait for a pessimistic lock request whose wait timeout
// is 0 (wait-for-lock-timeout).
const defaultLockWait = time.Second

// lockOutcome is the result of one attempt to take pessimistic locks.
type lockOutcome struct {
	kerr *kvrpcpb.KeyError
	// immediate answers kerr without waiting even when the request may wait: an
	// exclusive request that just made a shared lock shrink-only.
	immediate bool
	blocker   *lock  // set with kerr.Locked: the lock to wait for
	key       []byte // the key of blocker
	resp      *kvrpcpb.PessimisticLockResponse
}

// PessimisticLock takes pessimistic locks on the request's keys for transaction
// StartVersion at ForUpdateTs. All keys are locked or none. A request that meets another
// transaction's lock waits for it (WaitTimeout ms, TiKV's default when 0, not at all when
// negative), unless waiting would close a deadlock cycle, which fails at once with a
// Deadlock error. A waiter woken by the release gets a PessimisticRetry write conflict
// (the legacy wake-up), or in WakeUpModeForceLock retries and may lock with conflict.
// A timeout returns the blocking lock; ctx ends the wait with ctx.Err().
// (TiKV: actions/acquire_pessimistic_lock.rs, lock_manager)
func (m *mvcc) PessimisticLock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
	wait := defaultLockWait
	if req.WaitTimeout > 0 {
		wait = time.Duration(req.WaitTimeout) * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	force := req.WakeUpMode == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
	for {
		m.mu.Lock()
		out := m.tryPessimisticLock(req, force)
		if out.blocker == nil || out.immediate || req.WaitTimeout < 0 {
			m.mu.Unlock()
			return lockResponse(out), nil
		}
		holders := out.blocker.holderTS()
		w, chain := m.waits.add(req.StartVersion, holders, out.key)
		m.mu.Unlock()
		if chain != nil {
			return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{{Deadlock: &kvrpcpb.Deadlock{
				LockTs: chain[0].WaitForTxn, LockKey: out.key, DeadlockKeyHash: keyHash(out.key),
				DeadlockKey: out.key, WaitChain: chain,
			}}}}, nil
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case commitTS := <-w.done:
			timer.Stop()
			if !force {
				return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{writeConflict(
					out.key, req.PrimaryLock, req.StartVersion,
					&write{startTS: holders[0], commitTS: commitTS}, kvrpcpb.WriteConflict_PessimisticRetry)}}, nil
			}
		case <-timer.C:
			m.waits.remove(w)
			return lockResponse(out), nil
		case <-ctx.Done():
			timer.Stop()
			m.waits.remove(w)
			return nil, ctx.Err()
		}
	}
}

func lockResponse(out lockOutcome) *kvrpcpb.PessimisticLockResponse {
	if out.kerr != nil {
		return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{out.kerr}}
	}
	return out.resp
}

// tryPessimisticLock makes one attempt under m.mu.
func (m *mvcc) tryPessimisticLock(req *kvrpcpb.PessimisticLockRequest, force bool) lockOutcome {
	resp := &kvrpcpb.PessimisticLockResponse{}
	locks := make([]*lock, len(req.Mutations))
	for i, mu := range req.Mutations {
		l, res, out := m.lockKey(req, mu, force)
		if out.kerr != nil {
			return out
		}
		locks[i] = l
		if force {
			resp.Results = append(resp.Results, res)
			continue
		}
		if req.ReturnValues {
			resp.Values = append(resp.Values, res.Value)
		}
		if req.ReturnValues || req.CheckExistence {
			resp.NotFounds = append(resp.NotFounds, !res.Existence)
		}
	}
	for i, l := range locks {
		if l != nil {
			m.putLock(req.Mutations[i].Key, l)
		}
	}
	return lockOutcome{resp: resp}
}

// lockKey checks one key and returns the lock to write (nil if none is needed).
func (m *mvcc) lockKey(req *kvrpcpb.PessimisticLockRequest, mu *kvrpcpb.Mutation, force bool) (*lock, *kvrpcpb.PessimisticLockKeyResult, lockOutcome) {
	key, startTS, forUpdateTS := mu.Key, req.StartVersion, req.ForUpdateTs
	e := m.entryFor(key, false)
	res := &kvrpcpb.PessimisticLockKeyResult{}
	if e != nil {
		if w, ok := e.alreadyExists(); ok {
			res.Value, res.Existence = w.value, true
		}
	}
	shared := mu.Op == kvrpcpb.Op_SharedPessimisticLock
	if e != nil && e.lock != nil && (shared || e.lock.shared != nil) {
		if l, out, done := m.lockKeyShared(req, mu, e); done {
			return l, res, out
		}
		// A shared request meeting other transactions' shared lock: it joins them after
		// the write-column checks below.
	} else if e != nil && e.lock != nil {
		if l := e.lock; l.startTS != startTS {
			return nil, nil, lockOutcome{kerr: &kvrpcpb.KeyError{Locked: l.info(key)}, blocker: l, key: key}
		}
		if l := e.lock; l.op == kvrpcpb.Op_PessimisticLock && l.forUpdateTS < forUpdateTS {
			// TiKV overwrites its own lock when the request is newer: primary and TTL too.
			nl := *l
			nl.forUpdateTS, nl.primary, nl.ttl, nl.minCommitTS = forUpdateTS, req.PrimaryLock, req.LockTtl, req.MinCommitTs
			return &nl, res, lockOutcome{}
		} else if force && l.op == kvrpcpb.Op_PessimisticLock && forUpdateTS < l.forUpdateTS {
			// Our lock is newer than the request: granted with conflict at its ts.
			res.Type, res.LockedWithConflictTs = kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, l.forUpdateTS
		}
		return nil, res, lockOutcome{}
	}
	if e != nil {
		rec := e.txnRecord(startTS)
		if rec.rolledBack() {
			return nil, nil, lockOutcome{kerr: &kvrpcpb.KeyError{Abort: "PessimisticLockRolledBack: txn " + u64(startTS) + " was rolled back"}}
		}
		if rec.committed() {
			return nil, nil, lockOutcome{kerr: committedErr(key, rec.own.commitTS)}
		}
		if len(e.writes) > 0 && e.writes[0].commitTS > forUpdateTS {
			if !force {
				return nil, nil, lockOutcome{kerr: writeConflict(key, req.PrimaryLock, startTS, e.writes[0], kvrpcpb.WriteConflict_PessimisticRetry)}
			}
			forUpdateTS = e.writes[0].commitTS
			res.Type, res.LockedWithConflictTs = kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, forUpdateTS
		}
	}
	if mu.Assertion == kvrpcpb.Assertion_NotExist && res.Existence {
		return nil, nil, lockOutcome{kerr: &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: key}}}
	}
	if req.LockOnlyIfExists && !res.Existence && !shared { // a shared request always locks
		return nil, res, lockOutcome{}
	}
	return &lock{
		op: kvrpcpb.Op_PessimisticLock, primary: req.PrimaryLock, startTS: startTS,
		ttl: req.LockTtl, forUpdateTS: forUpdateTS, minCommitTS: req.MinCommitTs, inShareMode: shared,
	}, res, lockOutcome{}
}
