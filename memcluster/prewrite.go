package memcluster

import (
	"bytes"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// prewriteResult is the outcome of one Prewrite request.
type prewriteResult struct {
	errs          []*kvrpcpb.KeyError
	minCommitTS   uint64 // async commit: the commit timestamp floor; 0 = fall back to 2PC
	onePCCommitTS uint64 // 1PC: the commit timestamp; 0 = not committed in one phase
}

// Prewrite locks every mutation of req for the transaction, or reports the errors that
// prevent it; when any mutation fails nothing is written (TiKV applies a prewrite
// atomically per region). It implements optimistic and pessimistic prewrite, async
// commit (min commit timestamp above every read seen), 1PC, assertions and
// insert/check-not-exists. (TiKV: src/storage/txn/actions/prewrite.rs)
func (m *mvcc) Prewrite(req *kvrpcpb.PrewriteRequest) prewriteResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	var res prewriteResult
	pessimistic := req.ForUpdateTs > 0
	// A shared lock keeps no commit-ts bookkeeping of its own: a prewrite carrying one
	// falls back to two-phase commit (clients never ask; see docs/txn.md, TXN-9).
	asyncOrOnePC := (req.UseAsyncCommit || req.TryOnePc) && !hasSharedMutation(req)
	minCommit := req.MinCommitTs
	if asyncOrOnePC {
		minCommit = max(minCommit, m.maxReadTS+1, req.StartVersion+1, req.ForUpdateTs+1)
	}
	locks := make([]*lock, len(req.Mutations))
	for i, mu := range req.Mutations {
		action := kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
		if i < len(req.PessimisticActions) {
			action = req.PessimisticActions[i]
		}
		l, kerr := m.prewriteKey(req, i, mu, action, pessimistic)
		if kerr != nil {
			res.errs = append(res.errs, kerr)
			continue
		}
		if l != nil {
			l.minCommitTS = max(l.minCommitTS, minCommit)
		}
		locks[i] = l
	}
	if len(res.errs) > 0 {
		return res
	}
	if asyncOrOnePC && req.MaxCommitTs > 0 && minCommit > req.MaxCommitTs {
		// The commit timestamp would exceed the caller's limit: keep ordinary locks and
		// let the client fall back to two-phase commit.
		asyncOrOnePC = false
		for _, l := range locks {
			if l != nil {
				l.useAsyncCommit = false
				l.secondaries = nil
			}
		}
	}
	if asyncOrOnePC && req.TryOnePc {
		m.commitOnePC(req, locks, minCommit)
		res.onePCCommitTS = minCommit
		return res
	}
	for i, l := range locks {
		if l != nil {
			if !asyncOrOnePC {
				l.useAsyncCommit, l.secondaries = false, nil
			}
			m.putLock(req.Mutations[i].Key, l)
		}
	}
	if asyncOrOnePC && req.UseAsyncCommit {
		res.minCommitTS = minCommit
	}
	return res
}

// commitOnePC writes commit records for every prepared lock at commitTS.
func (m *mvcc) commitOnePC(req *kvrpcpb.PrewriteRequest, locks []*lock, commitTS uint64) {
	for i, l := range locks {
		key := req.Mutations[i].Key
		e := m.entryFor(key, true)
		if l == nil {
			continue
		}
		if e.lock != nil && e.lock.startTS == req.StartVersion {
			e.lock = nil // a pessimistic lock turned into the commit
		}
		m.putCommit(e, l, commitTS)
		m.waits.release(key, l.startTS, commitTS)
	}
}

// prewriteKey checks one mutation and returns the lock to write (nil when nothing is to
// be written, as for CheckNotExists or a repeated prewrite).
func (m *mvcc) prewriteKey(req *kvrpcpb.PrewriteRequest, i int, mu *kvrpcpb.Mutation,
	action kvrpcpb.PrewriteRequest_PessimisticAction, pessimistic bool) (*lock, *kvrpcpb.KeyError) {
	key, startTS := mu.Key, req.StartVersion
	e := m.entryFor(key, false)
	if mu.Op == kvrpcpb.Op_SharedLock || (e != nil && e.lock != nil && e.lock.shared != nil) {
		if l, kerr, done := m.prewriteShared(req, i, mu, e, action, pessimistic); done {
			return l, kerr
		}
	}
	var held *lock
	if e != nil && e.lock != nil {
		if e.lock.startTS != startTS {
			if action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
				return nil, pessimisticLockNotFoundErr(key, startTS)
			}
			return nil, &kvrpcpb.KeyError{Locked: e.lock.info(key)}
		}
		held = e.lock
		if held.op != kvrpcpb.Op_PessimisticLock {
			return nil, nil // already prewritten: the request is a retry
		}
	}
	if action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
		if held == nil {
			return nil, m.pessimisticLockNotFound(key, e, startTS)
		}
		for _, c := range req.ForUpdateTsConstraints {
			if int(c.Index) == i && held.forUpdateTS != c.ExpectedForUpdateTs {
				return nil, pessimisticLockNotFoundErr(key, startTS)
			}
		}
	} else if !req.SkipConstraintCheck || action == kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK {
		if kerr := m.checkNewerVersion(key, req.PrimaryLock, e, startTS, action, pessimistic); kerr != nil {
			return nil, kerr
		}
	}
	if kerr := checkMutationConstraints(req, mu, e); kerr != nil {
		return nil, kerr
	}
	if mu.Op == kvrpcpb.Op_CheckNotExists {
		return nil, nil
	}
	l := &lock{
		op:             mu.Op,
		primary:        req.PrimaryLock,
		startTS:        startTS,
		ttl:            req.LockTtl,
		forUpdateTS:    req.ForUpdateTs,
		txnSize:        req.TxnSize,
		minCommitTS:    req.MinCommitTs,
		useAsyncCommit: req.UseAsyncCommit,
	}
	if mu.Op == kvrpcpb.Op_Insert {
		l.op = kvrpcpb.Op_Put
	}
	if l.op == kvrpcpb.Op_Put {
		l.value = mu.Value
	}
	if req.UseAsyncCommit && bytes.Equal(key, req.PrimaryLock) {
		l.secondaries = req.Secondaries
	}
	return l, nil
}

// checkNewerVersion reports a write conflict when a record newer than startTS exists, and
// a self-rollback when the transaction's own rollback sits at startTS.
func (m *mvcc) checkNewerVersion(key, primary []byte, e *entry, startTS uint64,
	action kvrpcpb.PrewriteRequest_PessimisticAction, pessimistic bool) *kvrpcpb.KeyError {
	if e == nil || len(e.writes) == 0 {
		return nil
	}
	w := e.writes[0]
	if w.commitTS > startTS {
		reason := kvrpcpb.WriteConflict_Optimistic
		if pessimistic {
			reason = kvrpcpb.WriteConflict_NotLockedKeyConflict
			if action == kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK {
				reason = kvrpcpb.WriteConflict_LazyUniquenessCheck
			}
		}
		return writeConflict(key, primary, startTS, w, reason)
	}
	if rec := e.txnRecord(startTS); rec.rolledBack() {
		return writeConflict(key, primary, startTS, &write{startTS: startTS, commitTS: startTS}, kvrpcpb.WriteConflict_SelfRolledBack)
	}
	return nil
}

// checkMutationConstraints applies insert/check-not-exists and assertions.
func checkMutationConstraints(req *kvrpcpb.PrewriteRequest, mu *kvrpcpb.Mutation, e *entry) *kvrpcpb.KeyError {
	existing, exists := e.alreadyExists()
	if (mu.Op == kvrpcpb.Op_Insert || mu.Op == kvrpcpb.Op_CheckNotExists) && exists {
		return &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: mu.Key}}
	}
	if req.AssertionLevel == kvrpcpb.AssertionLevel_Off || mu.Assertion == kvrpcpb.Assertion_None {
		return nil
	}
	if (mu.Assertion == kvrpcpb.Assertion_Exist) == exists {
		return nil
	}
	af := &kvrpcpb.AssertionFailed{StartTs: req.StartVersion, Key: mu.Key, Assertion: mu.Assertion}
	if existing != nil {
		af.ExistingStartTs, af.ExistingCommitTs = existing.startTS, existing.commitTS
	}
	return &kvrpcpb.KeyError{AssertionFailed: af}
}

// pessimisticLockNotFound explains a missing pessimistic lock: when the transaction was
// rolled back the client must see a self-rollback conflict, otherwise the lock is gone.
func (m *mvcc) pessimisticLockNotFound(key []byte, e *entry, startTS uint64) *kvrpcpb.KeyError {
	if e != nil {
		if rec := e.txnRecord(startTS); rec.committed() {
			return nil
		}
	}
	return pessimisticLockNotFoundErr(key, startTS)
}

func pessimisticLockNotFoundErr(key []byte, startTS uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Retryable: "PessimisticLockNotFound: start_ts " + u64(startTS) + " key " + string(key)}
}
