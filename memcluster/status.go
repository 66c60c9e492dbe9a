package memcluster

import (
	"bytes"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// txnStatus is the answer of CheckTxnStatus.
type txnStatus struct {
	ttl      uint64 // non-zero while the transaction is still running
	commitTS uint64 // non-zero when committed
	action   kvrpcpb.Action
	lock     *kvrpcpb.LockInfo // the primary lock, for async-commit transactions
}

// CheckTxnStatus decides the fate of transaction lockTS from its primary lock: a live lock
// reports its TTL (pushing min commit ts for the caller when allowed), an expired one is
// rolled back, and a missing one is looked up in the write column and, when asked,
// rolled back with protection. (TiKV: actions/check_txn_status.rs)
func (m *mvcc) CheckTxnStatus(req *kvrpcpb.CheckTxnStatusRequest) (txnStatus, *kvrpcpb.KeyError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key, startTS := req.PrimaryKey, req.LockTs
	e := m.entryFor(key, true)
	if l := e.lock; l != nil && l.startTS == startTS {
		if req.VerifyIsPrimary && !bytes.Equal(l.primary, key) {
			return txnStatus{}, &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: l.info(key)}}
		}
		return m.checkLiveLock(req, key, e, l), nil
	}
	if kerr := sharedPrimaryMismatch(req, e); kerr != nil {
		return txnStatus{}, kerr
	}
	if req.VerifyIsPrimary && e.lock != nil && !bytes.Equal(e.lock.primary, key) && e.lock.startTS == startTS {
		return txnStatus{}, &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: e.lock.info(key)}}
	}
	rec := e.txnRecord(startTS)
	switch {
	case rec.committed():
		return txnStatus{commitTS: rec.own.commitTS}, nil
	case rec.rolledBack():
		return txnStatus{}, nil
	case !req.RollbackIfNotExist:
		return txnStatus{}, txnNotFound(key, startTS)
	case req.ResolvingPessimisticLock:
		return txnStatus{action: kvrpcpb.Action_LockNotExistDoNothing}, nil
	}
	m.rollbackLock(key, e, startTS, true)
	return txnStatus{action: kvrpcpb.Action_LockNotExistRollback}, nil
}

func (m *mvcc) checkLiveLock(req *kvrpcpb.CheckTxnStatusRequest, key []byte, e *entry, l *lock) txnStatus {
	if l.useAsyncCommit && !req.ForceSyncCommit {
		return txnStatus{ttl: l.ttl, lock: l.info(key)}
	}
	if l.expired(req.CurrentTs) {
		if req.ResolvingPessimisticLock && l.op == kvrpcpb.Op_PessimisticLock {
			e.lock = nil
			m.waits.release(key, l.startTS, 0)
			return txnStatus{action: kvrpcpb.Action_TTLExpirePessimisticRollback}
		}
		m.rollbackLock(key, e, l.startTS, false)
		return txnStatus{action: kvrpcpb.Action_TTLExpireRollback}
	}
	st := txnStatus{ttl: l.ttl}
	if l.minCommitTS > 0 && req.CallerStartTs != maxTS && req.CallerStartTs >= l.minCommitTS {
		l.minCommitTS = max(req.CallerStartTs+1, req.CurrentTs)
	}
	if (req.CallerStartTs != 0 && l.minCommitTS > req.CallerStartTs) || req.CallerStartTs == maxTS {
		st.action = kvrpcpb.Action_MinCommitTSPushed
	}
	return st
}

// secondaryStatus is the answer of CheckSecondaryLocks: the locks found (all keys still
// locked), or the commit timestamp (committed), or neither (rolled back).
type secondaryStatus struct {
	locks    []*kvrpcpb.LockInfo
	commitTS uint64
}

// CheckSecondaryLocks reports on the secondaries of async-commit transaction startTS. A
// key with no lock and no record is rolled back with protection, so the transaction can
// never commit afterwards; a pessimistic lock (prewrite never arrived) is rolled back too.
// (TiKV: actions/check_secondary_locks.rs)
func (m *mvcc) CheckSecondaryLocks(keys [][]byte, startTS uint64) secondaryStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st secondaryStatus
	rolledBack := false
	for _, k := range keys {
		e := m.entryFor(k, true)
		l := e.lock
		if h := e.holder(startTS); h != nil {
			l = h
		}
		if l != nil && l.startTS == startTS {
			if l.op == kvrpcpb.Op_PessimisticLock {
				m.rollbackLock(k, e, startTS, true)
				rolledBack = true
				continue
			}
			st.locks = append(st.locks, l.info(k))
			continue
		}
		rec := e.txnRecord(startTS)
		switch {
		case rec.committed():
			return secondaryStatus{commitTS: rec.own.commitTS}
		case rec.rolledBack():
			rolledBack = true
		default:
			m.rollbackLock(k, e, startTS, true)
			rolledBack = true
		}
	}
	if rolledBack {
		return secondaryStatus{}
	}
	return st
}

// ResolveLock commits (commitTS > 0) or rolls back the locks of the given transactions on
// keys, or on every key of [start, end) when keys is empty. txns maps start ts to commit
// ts (0 = roll back).
func (m *mvcc) ResolveLock(start, end []byte, keys [][]byte, txns map[uint64]uint64) *kvrpcpb.KeyError {
	m.mu.Lock()
	defer m.mu.Unlock()
	type target struct {
		key      []byte
		startTS  uint64
		commitTS uint64
	}
	var todo []target
	pick := func(k []byte, e *entry) bool {
		if e.lock != nil && e.lock.shared != nil {
			for _, ts := range e.lock.holderTS() {
				if cts, ok := txns[ts]; ok {
					todo = append(todo, target{clone(k), ts, cts})
				}
			}
			return true
		}
		if e.lock != nil {
			if cts, ok := txns[e.lock.startTS]; ok {
				todo = append(todo, target{clone(k), e.lock.startTS, cts})
			}
		}
		return true
	}
	if len(keys) > 0 {
		for _, k := range keys {
			if e := m.entryFor(k, false); e != nil {
				pick(k, e)
			}
		}
	} else {
		m.data.Ascend(start, end, pick)
	}
	for _, t := range todo {
		e := m.entryFor(t.key, false)
		if t.commitTS == 0 {
			m.rollbackLock(t.key, e, t.startTS, false)
			continue
		}
		if h := e.holder(t.startTS); h != nil && h.op == kvrpcpb.Op_PessimisticLock {
			m.removeHolder(t.key, e, t.startTS, t.commitTS) // a shared pessimistic lock left behind
			continue
		}
		if e.lock.op == kvrpcpb.Op_PessimisticLock {
			e.lock = nil // a pessimistic lock left behind by a committed transaction
			m.waits.release(t.key, t.startTS, t.commitTS)
			continue
		}
		if kerr := m.commitKey(t.key, t.startTS, t.commitTS); kerr != nil {
			return kerr
		}
	}
	return nil
}

// ScanLock returns up to limit locks in [start, end) whose start ts is at most maxVersion.
func (m *mvcc) ScanLock(start, end []byte, maxVersion uint64, limit int) []*kvrpcpb.LockInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*kvrpcpb.LockInfo
	m.data.Ascend(start, end, func(k []byte, e *entry) bool {
		if limit > 0 && len(out) >= limit {
			return false
		}
		switch {
		case e.lock != nil && e.lock.shared != nil:
			if li := e.lock.sharedInfo(clone(k), maxVersion); li != nil {
				out = append(out, li)
			}
		case e.lock != nil && e.lock.startTS <= maxVersion:
			out = append(out, e.lock.info(clone(k)))
		}
		return true
	})
	return out
}

// DeleteRange removes every lock and version of the keys in [start, end).
func (m *mvcc) DeleteRange(start, end []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys [][]byte
	m.data.Ascend(start, end, func(k []byte, e *entry) bool {
		keys = append(keys, k)
		return true
	})
	for _, k := range keys {
		m.data.Delete(k)
	}
}

// GC drops versions no reader at or above safePoint can see: for each key it keeps the
// newest Put at or below the safe point and everything newer, and drops Rollback and
// Lock records at or below it. Locks are left alone (resolve them first).
func (m *mvcc) GC(start, end []byte, safePoint uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var empty [][]byte
	m.data.Ascend(start, end, func(k []byte, e *entry) bool {
		kept := e.writes[:0:0]
		seenData := false
		for _, w := range e.writes {
			switch {
			case w.commitTS > safePoint:
				kept = append(kept, w)
			case seenData || w.kind == writeRollback || w.kind == writeLock:
			case w.kind == writePut:
				kept = append(kept, w)
				seenData = true
			default: // the newest data record below the safe point is a delete
				seenData = true
			}
		}
		e.writes = kept
		if len(kept) == 0 && e.lock == nil {
			empty = append(empty, k)
		}
		return true
	})
	for _, k := range empty {
		m.data.Delete(k)
	}
}
