package memcluster

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// sharedLockReq is a shared pessimistic lock request of txn startTS (primary p) on k.
func sharedLockReq(k, p string, startTS, forUpdateTS uint64, wait int64) *kvrpcpb.PessimisticLockRequest {
	return &kvrpcpb.PessimisticLockRequest{
		Mutations:    []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_SharedPessimisticLock, Key: []byte(k)}},
		PrimaryLock:  []byte(p),
		StartVersion: startTS, ForUpdateTs: forUpdateTS, LockTtl: 3000, WaitTimeout: wait,
	}
}

func mustSharedLock(t *testing.T, m *mvcc, k, p string, startTS, forUpdateTS uint64) {
	t.Helper()
	resp, err := m.PessimisticLock(context.Background(), sharedLockReq(k, p, startTS, forUpdateTS, -1))
	if err != nil || len(resp.Errors) > 0 {
		t.Fatalf("shared lock %q by %d: %v %v", k, startTS, err, resp.GetErrors())
	}
}

// sharedPrewriteReq prewrites k as Op_SharedLock for pessimistic txn startTS.
func sharedPrewriteReq(k, p string, startTS, forUpdateTS uint64) *kvrpcpb.PrewriteRequest {
	req := prewriteReq(p, startTS, &kvrpcpb.Mutation{Op: kvrpcpb.Op_SharedLock, Key: []byte(k)})
	req.ForUpdateTs = forUpdateTS
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	return req
}

func mustSharedPrewrite(t *testing.T, m *mvcc, k, p string, startTS, forUpdateTS uint64) {
	t.Helper()
	if res := m.Prewrite(sharedPrewriteReq(k, p, startTS, forUpdateTS)); len(res.errs) > 0 {
		t.Fatalf("shared prewrite %q by %d: %v", k, startTS, res.errs)
	}
}

// holdersOf lists the start ts of the shared holders on k, and their lock types, as
// ScanLock reports them.
func holdersOf(t *testing.T, m *mvcc, k string) map[uint64]kvrpcpb.Op {
	t.Helper()
	locks := m.ScanLock([]byte(k), []byte(k+"\x00"), maxTS, 0)
	if len(locks) != 1 {
		t.Fatalf("locks on %q: %v", k, locks)
	}
	li := locks[0]
	if li.GetLockType() != kvrpcpb.Op_SharedLock || li.GetLockVersion() != 0 || len(li.GetPrimaryLock()) != 0 {
		t.Fatalf("want a shared lock's LockInfo, got %v", li)
	}
	out := map[uint64]kvrpcpb.Op{}
	for _, h := range li.GetSharedLockInfos() {
		if string(h.GetKey()) != k {
			t.Fatalf("holder names key %q", h.GetKey())
		}
		out[h.GetLockVersion()] = h.GetLockType()
	}
	return out
}

func TestSharedLocksCoexistAndCommitOneByOne(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "k", "v", 1, 2)
	mustSharedLock(t, m, "k", "p10", 10, 11)
	mustSharedLock(t, m, "k", "p20", 20, 21)
	mustSharedLock(t, m, "k", "p20", 20, 25) // again, at a newer for-update ts
	if h := holdersOf(t, m, "k"); len(h) != 2 || h[10] != kvrpcpb.Op_PessimisticLock || h[20] != kvrpcpb.Op_PessimisticLock {
		t.Fatalf("holders %v", h)
	}
	if h := m.entryFor([]byte("k"), false).holder(20); h.forUpdateTS != 25 {
		t.Fatalf("for-update ts not raised: %d", h.forUpdateTS)
	}
	mustGet(t, m, "k", 100, "v") // reads ignore shared locks
	mustGet(t, m, "k", maxTS, "v")

	// A commit of a shared pessimistic lock that was never prewritten is refused.
	if kerr := m.Commit(keys("k"), 10, 30); kerr == nil || kerr.Abort == "" {
		t.Fatalf("commit of a pessimistic holder: %v", kerr)
	}
	mustSharedPrewrite(t, m, "k", "p10", 10, 11)
	mustSharedPrewrite(t, m, "k", "p10", 10, 11) // a retried prewrite
	mustSharedPrewrite(t, m, "k", "p20", 20, 25)
	if h := holdersOf(t, m, "k"); h[10] != kvrpcpb.Op_Lock || h[20] != kvrpcpb.Op_Lock {
		t.Fatalf("prewritten holders %v", h)
	}
	mustGet(t, m, "k", 100, "v")

	// An exclusive request is answered at once the first time, making the shared lock
	// shrink-only; new shared requests then wait too, holders may still re-lock.
	resp, _ := m.PessimisticLock(context.Background(), lockReq("k", 40, 5000))
	if li := resp.Errors[0].GetLocked(); li.GetLockType() != kvrpcpb.Op_SharedLock || len(li.SharedLockInfos) != 2 {
		t.Fatalf("first exclusive request: %v", resp.Errors)
	}
	if !m.entryFor([]byte("k"), false).lock.shrinkOnly {
		t.Fatal("not shrink-only")
	}
	resp, _ = m.PessimisticLock(context.Background(), sharedLockReq("k", "p", 45, 45, -1))
	if resp.Errors[0].GetLocked() == nil {
		t.Fatalf("a new shared request joined a shrink-only lock: %v", resp.Errors)
	}
	mustSharedLock(t, m, "k", "p20", 20, 26)
	// Then the exclusive request waits for every holder.
	done := make(chan *kvrpcpb.PessimisticLockResponse)
	go func() {
		resp, _ := m.PessimisticLock(context.Background(), lockReq("k", 40, 5000))
		done <- resp
	}()
	waitFor(t, func() bool { return m.waits.waiting() == 1 })
	mustCommit(t, m, 10, 50, "k")
	mustCommit(t, m, 10, 50, "k") // a retried commit
	if h := holdersOf(t, m, "k"); len(h) != 1 || h[20] != kvrpcpb.Op_Lock {
		t.Fatalf("after one commit: %v", h)
	}
	if m.waits.waiting() != 1 {
		t.Fatal("the exclusive waiter woke while a holder remains")
	}
	if kerr := m.Commit(keys("k"), 20, 20); kerr.GetCommitTsExpired() == nil {
		t.Fatalf("commit below min commit ts: %v", kerr)
	}
	mustCommit(t, m, 20, 60, "k")
	resp = <-done
	if c := resp.Errors[0].GetConflict(); c.GetConflictCommitTs() != 60 {
		t.Fatalf("the waiter wakes with the last commit: %v", resp.Errors)
	}
	e := m.entryFor([]byte("k"), false)
	if e.lock != nil {
		t.Fatalf("lock left: %+v", e.lock)
	}
	// Each holder wrote its own Lock record; the data is unchanged.
	for _, c := range []struct{ startTS, commitTS uint64 }{{10, 50}, {20, 60}} {
		if r := e.txnRecord(c.startTS); !r.committed() || r.own.kind != writeLock || r.own.commitTS != c.commitTS {
			t.Fatalf("record of %d: %+v", c.startTS, r.own)
		}
	}
	mustGet(t, m, "k", maxTS, "v")

	// A shared lock at a for-update ts older than a committed shared lock conflicts.
	resp, _ = m.PessimisticLock(context.Background(), sharedLockReq("k", "p", 30, 35, -1))
	if c := resp.Errors[0].GetConflict(); c.GetConflictCommitTs() != 60 || c.GetReason() != kvrpcpb.WriteConflict_PessimisticRetry {
		t.Fatalf("want a conflict with the Lock record at 60: %v", resp.Errors)
	}
}

func TestSharedAndExclusiveLocksConflict(t *testing.T) {
	m := newMVCC()
	ctx := context.Background()
	mustPessimisticLock(t, m, "x", 10, 10)
	// A shared request meets an exclusive lock: the exclusive LockInfo, or a wait.
	resp, _ := m.PessimisticLock(ctx, sharedLockReq("x", "p", 20, 20, -1))
	if li := resp.Errors[0].GetLocked(); li.GetLockVersion() != 10 || li.GetLockType() != kvrpcpb.Op_PessimisticLock {
		t.Fatalf("want txn 10's lock: %v", resp.Errors)
	}
	done := make(chan *kvrpcpb.PessimisticLockResponse)
	go func() {
		resp, _ := m.PessimisticLock(ctx, sharedLockReq("x", "p", 20, 20, 5000))
		done <- resp
	}()
	waitFor(t, func() bool { return m.waits.waiting() == 1 })
	m.PessimisticRollback(keys("x"), 10, 10)
	if resp := <-done; resp.Errors[0].GetConflict() == nil {
		t.Fatalf("the shared waiter wakes on rollback: %v", resp.Errors)
	}
	// The owner of an exclusive lock asking for a shared one keeps its exclusive lock.
	mustPessimisticLock(t, m, "y", 30, 30)
	mustSharedLock(t, m, "y", "y", 30, 31)
	if l := m.entryFor([]byte("y"), false).lock; l.shared != nil || l.startTS != 30 {
		t.Fatalf("own exclusive lock changed: %+v", l)
	}
	// No upgrade: a shared holder asking for an exclusive lock, or prewriting a write.
	mustSharedLock(t, m, "z", "p", 40, 40)
	resp, _ = m.PessimisticLock(ctx, lockReq("z", 40, -1))
	if resp.Errors[0].GetAbort() == "" {
		t.Fatalf("upgrade must be refused: %v", resp.Errors)
	}
	req := prewriteReq("p", 40, put("z", "v"))
	req.ForUpdateTs = 40
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	if res := m.Prewrite(req); len(res.errs) == 0 || res.errs[0].GetAbort() == "" {
		t.Fatalf("a put over the txn's own shared lock: %v", res.errs)
	}
	// Another transaction's writes meet the shared lock.
	if res := m.Prewrite(prewriteReq("z", 50, put("z", "v"))); len(res.errs) == 0 || res.errs[0].GetLocked().GetLockType() != kvrpcpb.Op_SharedLock {
		t.Fatalf("an optimistic put meets the shared lock: %v", res.errs)
	}
	req = prewriteReq("z", 50, put("z", "v"))
	req.ForUpdateTs = 50
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	if res := m.Prewrite(req); len(res.errs) == 0 || res.errs[0].GetRetryable() == "" {
		t.Fatalf("a pessimistic put without its lock: %v", res.errs)
	}
	// A shared prewrite meets another transaction's exclusive lock.
	mustPrewrite(t, m, "w", 60, put("w", "v"))
	if res := m.Prewrite(prewriteReq("p", 70, &kvrpcpb.Mutation{Op: kvrpcpb.Op_SharedLock, Key: []byte("w")})); len(res.errs) == 0 || res.errs[0].GetLocked().GetLockVersion() != 60 {
		t.Fatalf("shared prewrite over an exclusive lock: %v", res.errs)
	}
	if res := m.Prewrite(sharedPrewriteReq("w", "p", 70, 70)); len(res.errs) == 0 || res.errs[0].GetRetryable() == "" {
		t.Fatalf("pessimistic shared prewrite without its lock: %v", res.errs)
	}
	if res := m.Prewrite(prewriteReq("w", 60, &kvrpcpb.Mutation{Op: kvrpcpb.Op_SharedLock, Key: []byte("w")})); len(res.errs) == 0 || res.errs[0].GetAbort() == "" {
		t.Fatalf("shared prewrite over the txn's own exclusive lock: %v", res.errs)
	}
	// A pessimistic shared prewrite whose lock is gone.
	if res := m.Prewrite(sharedPrewriteReq("n", "p", 80, 80)); len(res.errs) == 0 || res.errs[0].GetRetryable() == "" {
		t.Fatalf("shared prewrite without a lock: %v", res.errs)
	}
	// An optimistic shared prewrite checks for newer versions.
	mustPut(t, m, "o", "v", 90, 95)
	if res := m.Prewrite(prewriteReq("p", 91, &kvrpcpb.Mutation{Op: kvrpcpb.Op_SharedLock, Key: []byte("o")})); len(res.errs) == 0 || res.errs[0].GetConflict() == nil {
		t.Fatalf("optimistic shared prewrite under a newer write: %v", res.errs)
	}
	mustPrewrite(t, m, "p", 96, &kvrpcpb.Mutation{Op: kvrpcpb.Op_SharedLock, Key: []byte("o")})
	// The for-update ts constraint applies to shared holders too.
	mustSharedLock(t, m, "c", "p", 100, 100)
	req = sharedPrewriteReq("c", "p", 100, 100)
	req.ForUpdateTsConstraints = []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{{Index: 0, ExpectedForUpdateTs: 99}}
	if res := m.Prewrite(req); len(res.errs) == 0 {
		t.Fatal("for-update ts constraint ignored")
	}
}

func TestSharedLockRollbacks(t *testing.T) {
	m := newMVCC()
	for _, ts := range []uint64{10, 20, 30, 40} {
		mustSharedLock(t, m, "k", "p", ts, ts)
	}
	mustSharedPrewrite(t, m, "k", "p", 30, 30)
	// Pessimistic rollback takes a pessimistic holder out, and only when its for-update
	// ts allows; it leaves a prewritten holder alone.
	m.PessimisticRollback(keys("k"), 10, 5)
	m.PessimisticRollback(keys("k"), 30, 30)
	if h := holdersOf(t, m, "k"); len(h) != 4 {
		t.Fatalf("holders %v", h)
	}
	m.PessimisticRollback(keys("k"), 10, 10)
	// A rollback takes a holder out and writes the transaction's rollback record.
	if kerr := m.BatchRollback(keys("k"), 20); kerr != nil {
		t.Fatal(kerr)
	}
	e := m.entryFor([]byte("k"), false)
	if !e.txnRecord(20).rolledBack() {
		t.Fatal("no rollback record for 20")
	}
	if h := holdersOf(t, m, "k"); len(h) != 2 || h[30] != kvrpcpb.Op_Lock || h[40] != kvrpcpb.Op_PessimisticLock {
		t.Fatalf("holders %v", h)
	}
	// Cleanup reports an unexpired holder as locked, rolls back an expired one.
	if _, kerr := m.Cleanup([]byte("k"), 30, 31); kerr.GetLocked() == nil {
		t.Fatalf("cleanup of a live holder: %v", kerr)
	}
	if _, kerr := m.Cleanup([]byte("k"), 30, 0); kerr != nil {
		t.Fatal(kerr)
	}
	// A rolled-back transaction cannot take the shared lock again.
	resp, _ := m.PessimisticLock(context.Background(), sharedLockReq("k", "p", 30, 50, -1))
	if resp.Errors[0].GetAbort() == "" {
		t.Fatalf("a rolled-back txn locked again: %v", resp.Errors)
	}
	// The last holder's rollback unlocks the key.
	if kerr := m.BatchRollback(keys("k"), 40); kerr != nil {
		t.Fatal(kerr)
	}
	if e.lock != nil {
		t.Fatalf("lock left: %+v", e.lock)
	}
}

func TestSharedLockResolveScanAndStatus(t *testing.T) {
	m := newMVCC()
	mustSharedLock(t, m, "k", "p10", 10, 10)
	mustSharedLock(t, m, "k", "p20", 20, 20)
	mustSharedLock(t, m, "k", "p30", 30, 30)
	mustSharedPrewrite(t, m, "k", "p20", 20, 20)
	mustSharedPrewrite(t, m, "k", "p30", 30, 30)
	for maxVersion, n := range map[uint64]int{9: 0, 10: 1, 20: 2, 30: 3} {
		locks := m.ScanLock(nil, nil, maxVersion, 0)
		if n == 0 {
			if len(locks) != 0 {
				t.Fatalf("scan at %d: %v", maxVersion, locks)
			}
			continue
		}
		if len(locks) != 1 || len(locks[0].SharedLockInfos) != n {
			t.Fatalf("scan at %d: %v", maxVersion, locks)
		}
	}
	// CheckTxnStatus verifying a primary on a key where the txn holds a shared lock.
	st, kerr := m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 10, VerifyIsPrimary: true})
	if kerr.GetPrimaryMismatch() == nil {
		t.Fatalf("want a primary mismatch: %+v %v", st, kerr)
	}
	// CheckSecondaryLocks: a prewritten holder is reported, a pessimistic one rolled back.
	if st := m.CheckSecondaryLocks(keys("k"), 20); len(st.locks) != 1 || st.locks[0].LockVersion != 20 {
		t.Fatalf("secondaries of 20: %+v", st)
	}
	if st := m.CheckSecondaryLocks(keys("k"), 10); st.locks != nil || st.commitTS != 0 {
		t.Fatalf("secondaries of 10: %+v", st)
	}
	// ResolveLock commits one holder and rolls back another, by range and by key.
	if kerr := m.ResolveLock(nil, nil, nil, map[uint64]uint64{20: 40}); kerr != nil {
		t.Fatal(kerr)
	}
	if kerr := m.ResolveLock(nil, nil, keys("k"), map[uint64]uint64{30: 0}); kerr != nil {
		t.Fatal(kerr)
	}
	e := m.entryFor([]byte("k"), false)
	if e.lock != nil || !e.txnRecord(20).committed() || !e.txnRecord(30).rolledBack() || !e.txnRecord(10).rolledBack() {
		t.Fatalf("after resolve: lock %+v", e.lock)
	}
	// A committed transaction's leftover shared pessimistic lock is removed by resolve.
	mustSharedLock(t, m, "j", "p", 50, 50)
	if kerr := m.ResolveLock(nil, nil, nil, map[uint64]uint64{50: 60}); kerr != nil {
		t.Fatal(kerr)
	}
	if l := m.entryFor([]byte("j"), false).lock; l != nil {
		t.Fatalf("lock left: %+v", l)
	}
}

func TestSharedLockDeadlockAndAsyncFallback(t *testing.T) {
	m := newMVCC()
	ctx := context.Background()
	// 10 holds a (exclusive), 20 and 30 share b; 10 waits for b's holders; then 20
	// asking for a closes a cycle through the shared lock.
	mustPessimisticLock(t, m, "a", 10, 10)
	mustSharedLock(t, m, "b", "p", 20, 20)
	mustSharedLock(t, m, "b", "p", 30, 30)
	if resp, _ := m.PessimisticLock(ctx, lockReq("b", 10, 5000)); resp.Errors[0].GetLocked() == nil { // shrink-only now
		t.Fatalf("first exclusive request: %v", resp.Errors)
	}
	done := make(chan *kvrpcpb.PessimisticLockResponse)
	go func() {
		resp, _ := m.PessimisticLock(ctx, lockReq("b", 10, 5000))
		done <- resp
	}()
	waitFor(t, func() bool { return m.waits.waiting() == 1 })
	// 30 leaves: 10 no longer waits for it, so 30 waiting for a is no deadlock.
	m.PessimisticRollback(keys("b"), 30, 30)
	resp, _ := m.PessimisticLock(ctx, lockReq("a", 30, -1))
	if resp.Errors[0].GetLocked() == nil {
		t.Fatalf("30 must just find a locked: %v", resp.Errors)
	}
	resp, _ = m.PessimisticLock(ctx, lockReq("a", 20, 5000))
	if dl := resp.Errors[0].GetDeadlock(); dl == nil || dl.LockTs != 10 {
		t.Fatalf("want a deadlock: %v", resp.Errors)
	}
	m.PessimisticRollback(keys("b"), 20, 20)
	if resp := <-done; resp.Errors[0].GetConflict() == nil {
		t.Fatalf("10 wakes when b is free: %v", resp.Errors)
	}
	// A prewrite with a shared lock falls back from async commit and 1PC.
	mustSharedLock(t, m, "s", "a", 10, 10)
	req := prewriteReq("a", 10, put("a", "v"), &kvrpcpb.Mutation{Op: kvrpcpb.Op_SharedLock, Key: []byte("s")})
	req.ForUpdateTs = 10
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	req.UseAsyncCommit, req.TryOnePc, req.Secondaries = true, true, [][]byte{[]byte("s")}
	res := m.Prewrite(req)
	if len(res.errs) > 0 || res.minCommitTS != 0 || res.onePCCommitTS != 0 {
		t.Fatalf("want a 2PC prewrite: %+v", res)
	}
	if l := m.entryFor([]byte("a"), false).lock; l.useAsyncCommit || l.secondaries != nil {
		t.Fatalf("primary still async: %+v", l)
	}
	// The primary's heartbeat is unaffected; a shared key is no primary.
	if _, kerr := m.TxnHeartBeat([]byte("s"), 10, 5000); kerr.GetTxnNotFound() == nil {
		t.Fatalf("heartbeat on a shared lock: %v", kerr)
	}
}

// A shared request locks even with LockOnlyIfExists on an absent key (TiKV's
// acquire_pessimistic_lock puts the shared lock unconditionally).
func TestSharedLockIgnoresLockOnlyIfExists(t *testing.T) {
	m := newMVCC()
	req := sharedLockReq("absent", "p", 10, 10, -1)
	req.LockOnlyIfExists, req.ReturnValues = true, true
	resp, _ := m.PessimisticLock(context.Background(), req)
	if len(resp.Errors) > 0 || len(resp.NotFounds) != 1 || !resp.NotFounds[0] {
		t.Fatalf("resp %v", resp)
	}
	if h := holdersOf(t, m, "absent"); h[10] != kvrpcpb.Op_PessimisticLock {
		t.Fatalf("holders %v", h)
	}
}
