package memcluster

import (
	"bytes"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Shared locks (TXN-9). A key locked in share mode carries one lock of op SharedLock
// whose shared map holds every holding transaction's own lock: a PessimisticLock taken
// by an Op_SharedPessimisticLock request, turned into a Lock by the prewrite of an
// Op_SharedLock mutation. Transactions share the key with each other but not with an
// exclusive lock: an exclusive request meets the shared lock as a KeyIsLocked error
// whose LockInfo lists the holders in SharedLockInfos (and waits for all of them), a
// shared request meets another transaction's exclusive lock the same way. Committing or
// rolling back acts on the transaction's holder only; the key is unlocked, and its
// waiters woken, when the last holder leaves. Reads ignore shared locks: they change no
// data. (TiKV: components/txn_types/src/lock.rs, LockType::Shared, put_shared_lock,
// remove_shared_lock, into_lock_info, check_ts_conflict.)

// holderTS returns the transactions holding l: its owner, or every holder of a shared
// lock in start-ts order.
func (l *lock) holderTS() []uint64 {
	if l.shared == nil {
		return []uint64{l.startTS}
	}
	ts := make([]uint64, 0, len(l.shared))
	for t := range l.shared {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// sharedInfo describes a shared lock on key: a LockInfo of type SharedLock, with no
// start ts or primary of its own, listing in SharedLockInfos the holders whose start ts
// is at most maxVersion, each an ordinary LockInfo of type PessimisticLock or Lock
// (TiKV's SharedLocks::into_lock_info). It returns nil when no holder qualifies.
func (l *lock) sharedInfo(key []byte, maxVersion uint64) *kvrpcpb.LockInfo {
	info := &kvrpcpb.LockInfo{Key: key, LockType: kvrpcpb.Op_SharedLock}
	for _, ts := range l.holderTS() {
		if ts > maxVersion {
			continue
		}
		info.SharedLockInfos = append(info.SharedLockInfos, l.shared[ts].info(key))
	}
	if len(info.SharedLockInfos) == 0 {
		return nil
	}
	return info
}

// holder returns transaction startTS's holder of the shared lock on e, or nil.
func (e *entry) holder(startTS uint64) *lock {
	if e == nil || e.lock == nil || e.lock.shared == nil {
		return nil
	}
	return e.lock.shared[startTS]
}

// putLock writes l on key: an exclusive lock replaces the lock column, a holder in share
// mode joins (or replaces its earlier self in) the key's shared lock.
func (m *mvcc) putLock(key []byte, l *lock) {
	e := m.entryFor(key, true)
	if !l.inShareMode {
		e.lock = l
		return
	}
	if e.lock == nil || e.lock.shared == nil {
		e.lock = &lock{op: kvrpcpb.Op_SharedLock, shared: map[uint64]*lock{}}
	}
	e.lock.shared[l.startTS] = l
}

// removeHolder takes transaction startTS out of the shared lock on key. When it was the
// last holder the key is unlocked and its waiters woken with commitTS (0: rolled back);
// otherwise they keep waiting for the other holders.
func (m *mvcc) removeHolder(key []byte, e *entry, startTS, commitTS uint64) {
	delete(e.lock.shared, startTS)
	if len(e.lock.shared) > 0 {
		m.waits.dropHolder(key, startTS)
		return
	}
	e.lock = nil
	m.waits.releaseKey(key, commitTS)
}

// lockTypeNotMatch is TiKV's answer to a request of the wrong lock mode for the lock the
// transaction holds on key (a shared holder asking for an exclusive lock: TiKV does not
// upgrade shared locks).
func lockTypeNotMatch(key []byte, startTS uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Abort: "LockTypeNotMatch: txn " + u64(startTS) + " holds a lock of another mode on key " + string(key)}
}

// lockKeyShared decides a pessimistic lock request where a shared lock is involved: the
// request is shared (Op_SharedPessimisticLock) or the key holds a shared lock. done is
// false when a shared request may join the key's shared lock: the caller then applies
// the write-column checks of any new lock. An exclusive request that meets a shared lock
// makes it shrink-only and is answered KeyIsLocked at once, without waiting; once the
// lock is shrink-only, exclusive and new shared requests wait for its holders.
// (TiKV: txn/commands/acquire_pessimistic_lock.rs, NotInShrinkMode.)
func (m *mvcc) lockKeyShared(req *kvrpcpb.PessimisticLockRequest, mu *kvrpcpb.Mutation, e *entry) (*lock, lockOutcome, bool) {
	key, startTS := mu.Key, req.StartVersion
	shared := mu.Op == kvrpcpb.Op_SharedPessimisticLock
	l := e.lock
	if l.shared == nil { // a shared request meets an exclusive lock
		if l.startTS == startTS {
			return nil, lockOutcome{}, true // the transaction's own exclusive lock covers it
		}
		return nil, lockOutcome{kerr: &kvrpcpb.KeyError{Locked: l.info(key)}, blocker: l, key: key}, true
	}
	h := l.shared[startTS]
	switch {
	case !shared && h != nil:
		return nil, lockOutcome{kerr: lockTypeNotMatch(key, startTS)}, true
	case !shared:
		out := lockOutcome{kerr: &kvrpcpb.KeyError{Locked: l.info(key)}, blocker: l, key: key, immediate: !l.shrinkOnly}
		l.shrinkOnly = true
		return nil, out, true
	case h == nil && l.shrinkOnly:
		return nil, lockOutcome{kerr: &kvrpcpb.KeyError{Locked: l.info(key)}, blocker: l, key: key}, true
	case h == nil:
		return nil, lockOutcome{}, false
	case h.op == kvrpcpb.Op_PessimisticLock && h.forUpdateTS < req.ForUpdateTs:
		nh := *h
		nh.forUpdateTS = req.ForUpdateTs
		return &nh, lockOutcome{}, true
	}
	return nil, lockOutcome{}, true // locked already
}

// prewriteShared decides the prewrite of mutation mu where a shared lock is involved: the
// mutation is Op_SharedLock or the key holds a shared lock. done is false when the
// ordinary prewrite applies.
func (m *mvcc) prewriteShared(req *kvrpcpb.PrewriteRequest, i int, mu *kvrpcpb.Mutation, e *entry,
	action kvrpcpb.PrewriteRequest_PessimisticAction, pessimistic bool) (*lock, *kvrpcpb.KeyError, bool) {
	key, startTS := mu.Key, req.StartVersion
	shared := mu.Op == kvrpcpb.Op_SharedLock
	var l *lock
	if e != nil {
		l = e.lock
	}
	if !shared { // an exclusive mutation meets a shared lock
		switch {
		case l.shared[startTS] != nil:
			return nil, lockTypeNotMatch(key, startTS), true
		case action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK:
			return nil, pessimisticLockNotFoundErr(key, startTS), true
		}
		return nil, &kvrpcpb.KeyError{Locked: l.info(key)}, true
	}
	if l != nil && l.shared == nil {
		switch {
		case l.startTS == startTS:
			return nil, lockTypeNotMatch(key, startTS), true
		case action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK:
			return nil, pessimisticLockNotFoundErr(key, startTS), true
		}
		return nil, &kvrpcpb.KeyError{Locked: l.info(key)}, true
	}
	h := e.holder(startTS)
	switch {
	case h != nil && h.op == kvrpcpb.Op_Lock:
		return nil, nil, true // prewritten already: the request is a retry
	case h != nil:
		for _, c := range req.ForUpdateTsConstraints {
			if int(c.Index) == i && h.forUpdateTS != c.ExpectedForUpdateTs {
				return nil, pessimisticLockNotFoundErr(key, startTS), true
			}
		}
	case action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK:
		return nil, m.pessimisticLockNotFound(key, e, startTS), true
	default:
		if kerr := m.checkNewerVersion(key, req.PrimaryLock, e, startTS, action, pessimistic); kerr != nil {
			return nil, kerr, true
		}
	}
	return &lock{
		op: kvrpcpb.Op_Lock, primary: req.PrimaryLock, startTS: startTS, ttl: req.LockTtl,
		forUpdateTS: req.ForUpdateTs, txnSize: req.TxnSize, minCommitTS: req.MinCommitTs, inShareMode: true,
	}, nil, true
}

// hasSharedMutation reports whether a prewrite carries an Op_SharedLock mutation.
func hasSharedMutation(req *kvrpcpb.PrewriteRequest) bool {
	return slices.ContainsFunc(req.Mutations, func(mu *kvrpcpb.Mutation) bool { return mu.Op == kvrpcpb.Op_SharedLock })
}

// commitShared commits transaction startTS's holder h of the shared lock on key: the
// holder leaves and a Lock record is written for the transaction at commitTS.
func (m *mvcc) commitShared(key []byte, e *entry, h *lock, commitTS uint64) *kvrpcpb.KeyError {
	if h.op == kvrpcpb.Op_PessimisticLock {
		return &kvrpcpb.KeyError{Abort: "LockTypeNotMatch: a pessimistic lock cannot be committed, key " + string(key)}
	}
	if commitTS < h.minCommitTS {
		return &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{
			StartTs: h.startTS, AttemptedCommitTs: commitTS, Key: key, MinCommitTs: h.minCommitTS,
		}}
	}
	m.removeHolder(key, e, h.startTS, commitTS)
	m.putCommit(e, h, commitTS)
	return nil
}

// cleanupShared handles Cleanup of a shared holder h on key: an unexpired one (when
// currentTS is set) is reported as locked, otherwise it is rolled back.
func (m *mvcc) cleanupShared(key []byte, e *entry, h *lock, currentTS uint64) *kvrpcpb.KeyError {
	if currentTS > 0 && !h.expired(currentTS) {
		return &kvrpcpb.KeyError{Locked: e.lock.info(key)}
	}
	m.rollbackLock(key, e, h.startTS, false)
	return nil
}

// sharedPrimaryMismatch reports the PrimaryMismatch a CheckTxnStatus verifying its
// primary gets when key holds only a shared holder of the transaction: a shared lock is
// never a primary.
func sharedPrimaryMismatch(req *kvrpcpb.CheckTxnStatusRequest, e *entry) *kvrpcpb.KeyError {
	h := e.holder(req.LockTs)
	if !req.VerifyIsPrimary || h == nil || bytes.Equal(h.primary, req.PrimaryKey) {
		return nil
	}
	return &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: e.lock.sharedInfo(req.PrimaryKey, maxTS)}}
}
