package txn

import (
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
)

// ErrEmptyKey: a transactional read or write of the empty key. TiKV keys are never empty.
var ErrEmptyKey = errors.New("txn: empty key")

// TxnAbortedError reports that TiKV no longer holds this transaction's locks and has not
// committed it: another client resolved (rolled back) the transaction, usually because
// its locks outlived their TTL, or TiKV aborted it. Nothing was committed; running the
// transaction again may succeed, so it is retryable.
type TxnAbortedError struct {
	StartTS uint64
	Key     kv.Key // the key whose lock was missing, if known
	Reason  string
}

// Error implements error.
func (e *TxnAbortedError) Error() string {
	return fmt.Sprintf("txn: transaction %d aborted (key %s): %s", e.StartTS, e.Key, e.Reason)
}

// Retryable reports true: a new transaction does not depend on the aborted one.
func (e *TxnAbortedError) Retryable() bool { return true }

// retryableKeyError is TiKV's free-form "retryable" key error.
type retryableKeyError struct{ msg string }

func (e *retryableKeyError) Error() string   { return "txn: TiKV asked to retry: " + e.msg }
func (e *retryableKeyError) Retryable() bool { return true }

// txnNotFoundError is CheckTxnStatus finding neither a lock nor a record of the
// transaction; the lock resolver handles it and it never reaches a caller as such.
type txnNotFoundError struct{ startTS uint64 }

func (e *txnNotFoundError) Error() string {
	return fmt.Sprintf("txn: transaction %d not found", e.startTS)
}

// commitTSExpiredError is TiKV refusing a commit ts below the lock's min commit ts (a
// reader pushed it); the committer retries with a newer commit ts.
type commitTSExpiredError struct{ minCommitTS uint64 }

func (e *commitTSExpiredError) Error() string {
	return fmt.Sprintf("txn: commit ts expired, min commit ts %d", e.minCommitTS)
}

// primaryMismatchError is CheckTxnStatus finding that the key named as primary is locked
// as a secondary: the lock that pointed at it is a stale pessimistic lock.
type primaryMismatchError struct{}

func (primaryMismatchError) Error() string { return "txn: primary mismatch" }

// lockedError carries a lock met by a request; callers resolve it (locks) and retry.
// holders are the holders of a shared lock (TXN-9), each resolved on its own.
type lockedError struct {
	lock    kv.Lock
	holders []kv.Lock
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("txn: key %s locked by transaction %d", e.lock.Key, e.lock.StartTS)
}

// decodeKey turns a wire key of a response into a user key.
func (c *Client) decodeKey(wire []byte) kv.Key {
	if len(wire) == 0 {
		return nil
	}
	k, err := c.cl.Codec().DecodeKey(wire)
	if err != nil {
		// A key outside our keyspace cannot come from our own requests; keep the wire
		// form so that the error still names something.
		return kv.Key(wire).Clone()
	}
	return kv.Key(k).Clone()
}

// lockFromInfo converts TiKV's lock description into user-key form.
func (c *Client) lockFromInfo(li *kvrpcpb.LockInfo) kv.Lock {
	l := kv.Lock{
		Key:            c.decodeKey(li.GetKey()),
		Primary:        c.decodeKey(li.GetPrimaryLock()),
		StartTS:        li.GetLockVersion(),
		TTL:            li.GetLockTtl(),
		TxnSize:        li.GetTxnSize(),
		ForUpdateTS:    li.GetLockForUpdateTs(),
		MinCommitTS:    li.GetMinCommitTs(),
		UseAsyncCommit: li.GetUseAsyncCommit(),
	}
	switch li.GetLockType() {
	case kvrpcpb.Op_Put:
		l.Type = kv.LockPut
	case kvrpcpb.Op_Del:
		l.Type = kv.LockDelete
	case kvrpcpb.Op_Lock:
		l.Type = kv.LockLock
	case kvrpcpb.Op_PessimisticLock:
		l.Type = kv.LockPessimistic
	case kvrpcpb.Op_SharedLock, kvrpcpb.Op_SharedPessimisticLock:
		l.Type = holderType(li)
	}
	for _, s := range li.GetSecondaries() {
		l.Secondaries = append(l.Secondaries, c.decodeKey(s))
	}
	return l
}

// keyError converts a TiKV key error into the error a caller sees. A lock comes back as
// a *lockedError for the caller to resolve.
func (c *Client) keyError(ke *kvrpcpb.KeyError) error {
	switch {
	case ke.GetLocked() != nil:
		return &lockedError{lock: c.lockFromInfo(ke.GetLocked()), holders: c.sharedHolders(ke.GetLocked())}
	case ke.GetConflict() != nil:
		w := ke.GetConflict()
		return &kv.WriteConflictError{
			Key:              c.decodeKey(w.GetKey()),
			Primary:          c.decodeKey(w.GetPrimary()),
			StartTS:          w.GetStartTs(),
			ConflictStartTS:  w.GetConflictTs(),
			ConflictCommitTS: w.GetConflictCommitTs(),
			Reason:           kv.ConflictReason(w.GetReason()),
		}
	case ke.GetAlreadyExist() != nil:
		return &kv.KeyExistsError{Key: c.decodeKey(ke.GetAlreadyExist().GetKey())}
	case ke.GetAssertionFailed() != nil:
		a := ke.GetAssertionFailed()
		as := kv.AssertNone
		switch a.GetAssertion() {
		case kvrpcpb.Assertion_Exist:
			as = kv.AssertExist
		case kvrpcpb.Assertion_NotExist:
			as = kv.AssertNotExist
		}
		return &kv.AssertionFailedError{Key: c.decodeKey(a.GetKey()), StartTS: a.GetStartTs(), Assertion: as,
			ExistingStartTS: a.GetExistingStartTs(), ExistingCommitTS: a.GetExistingCommitTs()}
	case ke.GetTxnNotFound() != nil:
		return &txnNotFoundError{startTS: ke.GetTxnNotFound().GetStartTs()}
	case ke.GetCommitTsExpired() != nil:
		return &commitTSExpiredError{minCommitTS: ke.GetCommitTsExpired().GetMinCommitTs()}
	case ke.GetPrimaryMismatch() != nil:
		return primaryMismatchError{}
	case ke.GetTxnLockNotFound() != nil:
		t := ke.GetTxnLockNotFound()
		return &TxnAbortedError{Key: c.decodeKey(t.GetKey()), Reason: "lock not found"}
	case ke.GetDeadlock() != nil:
		d := ke.GetDeadlock()
		de := &kv.DeadlockError{Key: c.decodeKey(d.GetDeadlockKey()), LockTS: d.GetLockTs(), LockKey: c.decodeKey(d.GetLockKey()),
			KeyHash: d.GetDeadlockKeyHash()}
		for _, e := range d.GetWaitChain() {
			de.WaitChain = append(de.WaitChain, kv.WaitForEdge{TxnTS: e.GetTxn(), WaitForTxnTS: e.GetWaitForTxn(),
				Key: c.decodeKey(e.GetKey()), KeyHash: e.GetKeyHash()})
		}
		return de
	case ke.GetCommitTsTooLarge() != nil:
		return fmt.Errorf("txn: commit ts too large (%d)", ke.GetCommitTsTooLarge().GetCommitTs())
	case ke.GetRetryable() != "":
		return &retryableKeyError{msg: ke.GetRetryable()}
	case ke.GetAbort() != "":
		return &TxnAbortedError{Reason: ke.GetAbort()}
	}
	return errors.New("txn: unknown key error from TiKV")
}
