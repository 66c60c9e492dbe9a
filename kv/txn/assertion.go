package txn

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// AssertionLevel says how TiKV checks the assertions a transaction made about its keys
// (TXN-24).
type AssertionLevel uint8

const (
	// AssertionFast (the default) has TiKV check an assertion when the check is cheap:
	// when prewrite already reads the key's latest version. Assertions are made only by
	// Assert, so a transaction that makes none pays nothing.
	AssertionFast AssertionLevel = iota
	// AssertionStrict has TiKV check every assertion, reading the key if it must.
	AssertionStrict
	// AssertionOff drops the assertions.
	AssertionOff
)

func (l AssertionLevel) pb() kvrpcpb.AssertionLevel {
	switch l {
	case AssertionStrict:
		return kvrpcpb.AssertionLevel_Strict
	case AssertionOff:
		return kvrpcpb.AssertionLevel_Off
	}
	return kvrpcpb.AssertionLevel_Fast
}

// WithAssertionLevel sets how the transaction's assertions are checked (default
// AssertionFast).
func WithAssertionLevel(l AssertionLevel) TxnOption {
	return func(o *txnOptions) { o.proto.assertion = l }
}

// Assert records that key must exist (kv.AssertExist) or must not exist
// (kv.AssertNotExist) when the transaction commits; kv.AssertNone removes the
// assertion. An assertion guards a write of the key (Set, Delete, Insert, or a lock):
// Commit fails with a *kv.AssertionFailedError, writing nothing, when TiKV (or, for a
// key whose existence a pessimistic lock already reported, the client) finds the key
// otherwise. Assertions catch bugs in a caller's data model; they are not a
// concurrency-control tool.
//
// Errors: ErrEmptyKey, kv.ErrTxnDone, a *kv.SizeLimitError.
func (tx *Txn) Assert(key []byte, a kv.Assertion) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	const both = memdb.FlagAssertExist | memdb.FlagAssertNotExist
	var set memdb.KeyFlags
	switch a {
	case kv.AssertExist:
		set = memdb.FlagAssertExist
	case kv.AssertNotExist:
		set = memdb.FlagAssertNotExist
	}
	if err := tx.checkEntries(key); err != nil {
		return err
	}
	return tx.mem.UpdateFlags(key, set, both&^set)
}

// assertionOf is the wire assertion of a key's flags.
func assertionOf(f memdb.KeyFlags) kvrpcpb.Assertion {
	switch {
	case f.Has(memdb.FlagAssertExist) && f.Has(memdb.FlagAssertNotExist):
		return kvrpcpb.Assertion_None // "unknown"
	case f.Has(memdb.FlagAssertExist):
		return kvrpcpb.Assertion_Exist
	case f.Has(memdb.FlagAssertNotExist):
		return kvrpcpb.Assertion_NotExist
	}
	return kvrpcpb.Assertion_None
}

// checkAssertionsByLocks compares the assertions with what pessimistic locks reported
// about the keys' existence (client-go's checkAssertionByPessimisticLockResults). A
// contradiction is recorded like a prewrite's assertion failure: the prewrite still runs
// (without async commit or 1PC, whose success would be a commit) so that any other error
// it meets is reported instead, and the commit then fails with the assertion error.
func (cm *committer) checkAssertionsByLocks() error {
	if err := cm.assertionsByLocks(); err != nil {
		return cm.deferAssertion(err)
	}
	return nil
}

func (cm *committer) assertionsByLocks() error {
	if cm.tx.opts.proto.assertion == AssertionOff {
		return nil
	}
	for _, m := range cm.muts {
		exists, known := cm.tx.pess.known[string(m.key)]
		if !known || !m.flags.Has(memdb.FlagKeyLocked) {
			continue
		}
		switch assertionOf(m.flags) {
		case kvrpcpb.Assertion_Exist:
			if !exists {
				return &kv.AssertionFailedError{Key: kv.Key(m.key).Clone(), StartTS: cm.startTS, Assertion: kv.AssertExist}
			}
		case kvrpcpb.Assertion_NotExist:
			if exists {
				return &kv.AssertionFailedError{Key: kv.Key(m.key).Clone(), StartTS: cm.startTS, Assertion: kv.AssertNotExist}
			}
		}
	}
	return nil
}

// deferAssertion records an assertion failure of one prewrite batch (which TiKV did not
// apply) and lets the other batches go on, so that any other error of the prewrite is
// the one reported (client-go: an assertion failure loses to every other batch error).
// prewriteAll returns it once every batch is done.
func (cm *committer) deferAssertion(err error) error {
	cm.p.mu.Lock()
	defer cm.p.mu.Unlock()
	if cm.p.assertion == nil {
		cm.p.assertion = err
	}
	return nil
}

// deferredAssertion returns the assertion failure recorded by deferAssertion.
func (cm *committer) deferredAssertion() error {
	cm.p.mu.Lock()
	defer cm.p.mu.Unlock()
	return cm.p.assertion
}
