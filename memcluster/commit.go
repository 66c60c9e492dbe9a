package memcluster

import (
	"bytes"
	"strconv"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// writeKindOf maps a lock's operation to the commit record it becomes.
func writeKindOf(op kvrpcpb.Op) writeKind {
	switch op {
	case kvrpcpb.Op_Put:
		return writePut
	case kvrpcpb.Op_Del:
		return writeDelete
	}
	return writeLock
}

// putCommit writes the commit record of l at commitTS. When a rollback of another
// transaction already sits at commitTS, the commit takes its place and carries the
// overlapped-rollback mark so the rollback stays visible.
func (m *mvcc) putCommit(e *entry, l *lock, commitTS uint64) {
	w := &write{kind: writeKindOf(l.op), startTS: l.startTS, commitTS: commitTS, value: l.value}
	if old := e.newestWrite(commitTS); old != nil && old.commitTS == commitTS && old.kind == writeRollback {
		w.overlappedRollback = true
	}
	e.putWrite(w)
}

// commitKey commits one key of transaction startTS at commitTS. (TiKV: actions/commit.rs)
func (m *mvcc) commitKey(key []byte, startTS, commitTS uint64) *kvrpcpb.KeyError {
	e := m.entryFor(key, false)
	if h := e.holder(startTS); h != nil {
		return m.commitShared(key, e, h, commitTS)
	}
	if e != nil && e.lock != nil && e.lock.startTS == startTS {
		l := e.lock
		if l.op == kvrpcpb.Op_PessimisticLock {
			return &kvrpcpb.KeyError{Abort: "LockTypeNotMatch: a pessimistic lock cannot be committed, key " + string(key)}
		}
		if commitTS < l.minCommitTS {
			return &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{
				StartTs: startTS, AttemptedCommitTs: commitTS, Key: key, MinCommitTs: l.minCommitTS,
			}}
		}
		e.lock = nil
		m.putCommit(e, l, commitTS)
		m.waits.release(key, startTS, commitTS)
		return nil
	}
	if e != nil {
		if rec := e.txnRecord(startTS); rec.committed() {
			return nil // a retried commit
		}
	}
	return &kvrpcpb.KeyError{
		Abort:           "TxnLockNotFound: txn " + u64(startTS) + " has no lock on key " + string(key),
		TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: key},
	}
}

// Commit commits keys of transaction startTS at commitTS and stops at the first error.
func (m *mvcc) Commit(keys [][]byte, startTS, commitTS uint64) *kvrpcpb.KeyError {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if kerr := m.commitKey(k, startTS, commitTS); kerr != nil {
			return kerr
		}
	}
	return nil
}

// rollbackLock removes transaction startTS's lock from key (if any) and writes a rollback
// record unless a commit record of another transaction already sits at startTS (then the
// record is marked overlapped when protected). Only the primary of a pessimistic
// transaction, or an explicitly protected rollback, is protected.
func (m *mvcc) rollbackLock(key []byte, e *entry, startTS uint64, protect bool) {
	if e.holder(startTS) != nil {
		m.removeHolder(key, e, startTS, 0)
	}
	if l := e.lock; l != nil && l.startTS == startTS {
		if l.forUpdateTS > 0 && bytes.Equal(key, l.primary) {
			protect = true
		}
		e.lock = nil
		m.waits.release(key, startTS, 0)
	}
	rec := e.txnRecord(startTS)
	if rec.own != nil {
		return
	}
	if rec.overlapped != nil {
		if protect {
			rec.overlapped.overlappedRollback = true
		}
		return
	}
	if !protect {
		// Unprotected rollbacks collapse: the previous unprotected rollback goes.
		if w := e.newestWrite(startTS); w != nil && w.kind == writeRollback && !w.protected {
			e.deleteWrite(w.commitTS)
		}
	}
	e.putWrite(&write{kind: writeRollback, startTS: startTS, commitTS: startTS, protected: protect})
}

// committedErr is TiKV's answer to rolling back a committed transaction.
func committedErr(key []byte, commitTS uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Abort: "Committed: txn already committed at " + u64(commitTS) + " on key " + string(key)}
}

// Cleanup rolls back the lock of transaction startTS on key (the primary, usually). With a
// non-zero currentTS an unexpired lock is reported as locked instead. It returns the
// commit timestamp when the transaction was already committed. (TiKV: actions/cleanup.rs)
func (m *mvcc) Cleanup(key []byte, startTS, currentTS uint64) (uint64, *kvrpcpb.KeyError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entryFor(key, true)
	if h := e.holder(startTS); h != nil {
		return 0, m.cleanupShared(key, e, h, currentTS)
	}
	if l := e.lock; l != nil && l.startTS == startTS {
		if currentTS > 0 && !l.expired(currentTS) {
			return 0, &kvrpcpb.KeyError{Locked: l.info(key)}
		}
		m.rollbackLock(key, e, startTS, false)
		return 0, nil
	}
	if rec := e.txnRecord(startTS); rec.committed() {
		return rec.own.commitTS, committedErr(key, rec.own.commitTS)
	}
	m.rollbackLock(key, e, startTS, true)
	return 0, nil
}

// BatchRollback rolls back transaction startTS on keys; it fails on a committed key.
func (m *mvcc) BatchRollback(keys [][]byte, startTS uint64) *kvrpcpb.KeyError {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		e := m.entryFor(k, true)
		if rec := e.txnRecord(startTS); rec.committed() {
			return committedErr(k, rec.own.commitTS)
		}
	}
	for _, k := range keys {
		m.rollbackLock(k, m.entryFor(k, true), startTS, false)
	}
	return nil
}

// PessimisticRollback removes pessimistic locks of transaction startTS whose for-update
// timestamp is not above forUpdateTS; it writes no records.
func (m *mvcc) PessimisticRollback(keys [][]byte, startTS, forUpdateTS uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		e := m.entryFor(k, false)
		if e == nil || e.lock == nil {
			continue
		}
		if h := e.holder(startTS); h != nil && h.op == kvrpcpb.Op_PessimisticLock && h.forUpdateTS <= forUpdateTS {
			m.removeHolder(k, e, startTS, 0)
			continue
		}
		if l := e.lock; l.startTS == startTS && l.op == kvrpcpb.Op_PessimisticLock && l.forUpdateTS <= forUpdateTS {
			e.lock = nil
			m.waits.release(k, startTS, 0)
		}
	}
}

// TxnHeartBeat extends the TTL of transaction startTS's primary lock to adviseTTL if that
// is longer, and returns the resulting TTL.
func (m *mvcc) TxnHeartBeat(primary []byte, startTS, adviseTTL uint64) (uint64, *kvrpcpb.KeyError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entryFor(primary, false)
	if e == nil || e.lock == nil || e.lock.startTS != startTS {
		return 0, txnNotFound(primary, startTS)
	}
	if e.lock.ttl < adviseTTL {
		e.lock.ttl = adviseTTL
	}
	return e.lock.ttl, nil
}

func txnNotFound(primary []byte, startTS uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{StartTs: startTS, PrimaryKey: primary}}
}
