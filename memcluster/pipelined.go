package memcluster

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Flush writes a batch of a pipelined-DML transaction's mutations as locks, like an
// optimistic prewrite, except that the transaction's own earlier locks are overwritten by
// a later generation and kept against an older one (an out-of-order flush is ignored).
// A key locked by another transaction is reported in the result list and does not stop
// the others; a write conflict fails the whole request unless the transaction already
// committed the key; an assertion failure is reported after every other key is
// processed. (TiKV: txn/commands/flush.rs)
func (m *mvcc) Flush(req *kvrpcpb.FlushRequest) []*kvrpcpb.KeyError {
	m.mu.Lock()
	defer m.mu.Unlock()
	if req.Generation == 0 {
		return []*kvrpcpb.KeyError{{Abort: "generation should be greater than 0 for Flush requests"}}
	}
	var errs []*kvrpcpb.KeyError
	var assertion *kvrpcpb.KeyError
	for _, mu := range req.Mutations {
		e := m.entryFor(mu.Key, false)
		var own *lock
		if e != nil && e.lock != nil {
			if e.lock.startTS != req.StartTs {
				errs = append(errs, &kvrpcpb.KeyError{Locked: e.lock.info(mu.Key)})
				continue
			}
			own = e.lock
			if own.generation > req.Generation {
				continue // an older flush arriving late
			}
		}
		if kerr := m.flushChecks(req, mu, e, own); kerr != nil {
			if kerr.Conflict != nil {
				if e.txnRecord(req.StartTs).committed() {
					return nil
				}
				return []*kvrpcpb.KeyError{kerr}
			}
			if kerr.AssertionFailed != nil {
				if assertion == nil {
					assertion = kerr
				}
				continue
			}
			return []*kvrpcpb.KeyError{kerr}
		}
		if mu.Op == kvrpcpb.Op_CheckNotExists {
			continue
		}
		l := &lock{op: mu.Op, primary: req.PrimaryKey, startTS: req.StartTs, ttl: req.LockTtl,
			txnSize: ^uint64(0), minCommitTS: max(req.MinCommitTs, req.StartTs+1), generation: req.Generation}
		if mu.Op == kvrpcpb.Op_Insert {
			l.op = kvrpcpb.Op_Put
		}
		if l.op == kvrpcpb.Op_Put {
			l.value = mu.Value
		}
		m.entryFor(mu.Key, true).lock = l
	}
	if assertion != nil && len(errs) == 0 {
		return []*kvrpcpb.KeyError{assertion}
	}
	return errs
}

// flushChecks applies the write-conflict, existence and assertion checks of one flushed
// mutation. The transaction's own flushed Put counts as an existing value.
func (m *mvcc) flushChecks(req *kvrpcpb.FlushRequest, mu *kvrpcpb.Mutation, e *entry, own *lock) *kvrpcpb.KeyError {
	if own == nil {
		if kerr := m.checkNewerVersion(mu.Key, req.PrimaryKey, e, req.StartTs, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK, false); kerr != nil {
			return kerr
		}
	}
	existing, exists := e.alreadyExists()
	if own != nil {
		exists = own.op == kvrpcpb.Op_Put
		existing = &write{startTS: req.StartTs}
	}
	if (mu.Op == kvrpcpb.Op_Insert || mu.Op == kvrpcpb.Op_CheckNotExists) && exists {
		return &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: mu.Key}}
	}
	if req.AssertionLevel == kvrpcpb.AssertionLevel_Off || mu.Assertion == kvrpcpb.Assertion_None ||
		(mu.Assertion == kvrpcpb.Assertion_Exist) == exists {
		return nil
	}
	af := &kvrpcpb.AssertionFailed{StartTs: req.StartTs, Key: mu.Key, Assertion: mu.Assertion}
	if existing != nil {
		af.ExistingStartTs, af.ExistingCommitTs = existing.startTS, existing.commitTS
	}
	return &kvrpcpb.KeyError{AssertionFailed: af}
}

// BufferBatchGet reads the values a pipelined transaction (start ts version) has flushed:
// keys under its own Put lock are returned with the flushed value, keys under its own
// Delete lock with an empty value (TiKV returns deletions, unlike BatchGet, so that the
// client does not fall back to older committed data); other keys are left out.
// (TiKV: storage/mod.rs buffer_batch_get)
func (m *mvcc) BufferBatchGet(keys [][]byte, version uint64) []*kvrpcpb.KvPair {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*kvrpcpb.KvPair
	for _, k := range keys {
		e := m.entryFor(k, false)
		if e == nil || e.lock == nil || e.lock.startTS != version {
			continue
		}
		switch e.lock.op {
		case kvrpcpb.Op_Put:
			out = append(out, &kvrpcpb.KvPair{Key: k, Value: e.lock.value})
		case kvrpcpb.Op_Del:
			out = append(out, &kvrpcpb.KvPair{Key: k})
		}
	}
	return out
}
