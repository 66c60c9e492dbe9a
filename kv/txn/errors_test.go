package txn

import (
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// Every TiKV key error becomes a typed error with user keys; no kvproto value leaks.
func TestKeyErrorConversion(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	enc := func(s string) []byte { return c.Cluster().Codec().EncodeKey([]byte(s)) }
	check := func(ke *kvrpcpb.KeyError, ok func(error) bool) {
		t.Helper()
		err := c.keyError(ke)
		if !ok(err) || err.Error() == "" || strings.Contains(err.Error(), "kvrpcpb") {
			t.Errorf("%v => %T %v", ke, err, err)
		}
	}
	as := func(target any) func(error) bool { return func(err error) bool { return errors.As(err, target) } }
	var le *lockedError
	check(&kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: enc("k"), PrimaryLock: enc("p"), LockVersion: 7,
		LockType: kvrpcpb.Op_Del, UseAsyncCommit: true, Secondaries: [][]byte{enc("s")}}}, as(&le))
	if string(le.lock.Key) != "k" || string(le.lock.Primary) != "p" || le.lock.Type != kv.LockDelete ||
		string(le.lock.Secondaries[0]) != "s" {
		t.Errorf("lock %+v", le.lock)
	}
	for op, want := range map[kvrpcpb.Op]kv.LockType{kvrpcpb.Op_Put: kv.LockPut, kvrpcpb.Op_Lock: kv.LockLock,
		kvrpcpb.Op_PessimisticLock: kv.LockPessimistic, kvrpcpb.Op_SharedLock: kv.LockShared} {
		if l := c.lockFromInfo(&kvrpcpb.LockInfo{LockType: op}); l.Type != want {
			t.Errorf("%v => %v", op, l.Type)
		}
	}
	var wc *kv.WriteConflictError
	check(&kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{Key: enc("k"), Primary: enc("p"), StartTs: 1, ConflictTs: 2,
		ConflictCommitTs: 3, Reason: kvrpcpb.WriteConflict_SelfRolledBack}}, as(&wc))
	if string(wc.Key) != "k" || wc.ConflictCommitTS != 3 || wc.Reason != kv.ConflictSelfRolledBack {
		t.Errorf("conflict %+v", wc)
	}
	var ke *kv.KeyExistsError
	check(&kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: enc("k")}}, as(&ke))
	var af *kv.AssertionFailedError
	for _, a := range []kvrpcpb.Assertion{kvrpcpb.Assertion_Exist, kvrpcpb.Assertion_NotExist} {
		check(&kvrpcpb.KeyError{AssertionFailed: &kvrpcpb.AssertionFailed{Key: enc("k"), Assertion: a, ExistingCommitTs: 9}}, as(&af))
	}
	if af.Assertion != kv.AssertNotExist || af.ExistingCommitTS != 9 {
		t.Errorf("assertion %+v", af)
	}
	var nf *txnNotFoundError
	check(&kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{StartTs: 5}}, as(&nf))
	var exp *commitTSExpiredError
	check(&kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{MinCommitTs: 8}}, as(&exp))
	check(&kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{}}, as(&primaryMismatchError{}))
	var ab *TxnAbortedError
	check(&kvrpcpb.KeyError{TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: enc("k")}}, as(&ab))
	check(&kvrpcpb.KeyError{Abort: "stopped"}, func(err error) bool { return errors.As(err, &ab) && kv.IsRetryable(err) })
	var dl *kv.DeadlockError
	check(&kvrpcpb.KeyError{Deadlock: &kvrpcpb.Deadlock{LockTs: 4, LockKey: enc("l"), DeadlockKey: enc("d")}}, as(&dl))
	if string(dl.Key) != "d" || string(dl.LockKey) != "l" {
		t.Errorf("deadlock %+v", dl)
	}
	check(&kvrpcpb.KeyError{CommitTsTooLarge: &kvrpcpb.CommitTsTooLarge{CommitTs: 1}}, func(err error) bool { return !kv.IsRetryable(err) })
	check(&kvrpcpb.KeyError{Retryable: "try again"}, kv.IsRetryable)
	check(&kvrpcpb.KeyError{}, func(err error) bool { return err != nil })
	// A wire key outside the keyspace is kept as it came.
	if k := c.decodeKey([]byte("raw")); string(k) != "raw" {
		t.Errorf("decode %q", k)
	}
}
