package memcluster

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

func put(k, v string) *kvrpcpb.Mutation {
	return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(v)}
}

func del(k string) *kvrpcpb.Mutation { return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte(k)} }

func keys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

func prewriteReq(primary string, startTS uint64, muts ...*kvrpcpb.Mutation) *kvrpcpb.PrewriteRequest {
	return &kvrpcpb.PrewriteRequest{Mutations: muts, PrimaryLock: []byte(primary), StartVersion: startTS, LockTtl: 3000, MinCommitTs: startTS + 1}
}

func mustPrewrite(t *testing.T, m *mvcc, primary string, startTS uint64, muts ...*kvrpcpb.Mutation) {
	t.Helper()
	if res := m.Prewrite(prewriteReq(primary, startTS, muts...)); len(res.errs) > 0 {
		t.Fatalf("prewrite at %d: %v", startTS, res.errs)
	}
}

func mustCommit(t *testing.T, m *mvcc, startTS, commitTS uint64, ks ...string) {
	t.Helper()
	if kerr := m.Commit(keys(ks...), startTS, commitTS); kerr != nil {
		t.Fatalf("commit %d@%d: %v", startTS, commitTS, kerr)
	}
}

// mustPut writes k=v in a whole transaction.
func mustPut(t *testing.T, m *mvcc, k, v string, startTS, commitTS uint64) {
	t.Helper()
	mustPrewrite(t, m, k, startTS, put(k, v))
	mustCommit(t, m, startTS, commitTS, k)
}

func mustGet(t *testing.T, m *mvcc, k string, ts uint64, want string) {
	t.Helper()
	v, _, found, kerr := m.Get([]byte(k), ts, readOpts{})
	if kerr != nil {
		t.Fatalf("get %q@%d: %v", k, ts, kerr)
	}
	if want == "" && found || want != "" && string(v) != want {
		t.Fatalf("get %q@%d = %q (found %v), want %q", k, ts, v, found, want)
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestGet, TestDelete
func TestGetVersions(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "k", "v1", 5, 10)
	mustPrewrite(t, m, "k", 15, del("k"))
	mustCommit(t, m, 15, 20, "k")
	mustPut(t, m, "k", "v3", 25, 30)
	for _, c := range []struct {
		ts   uint64
		want string
	}{{9, ""}, {10, "v1"}, {19, "v1"}, {20, ""}, {29, ""}, {30, "v3"}, {maxTS, "v3"}} {
		mustGet(t, m, "k", c.ts, c.want)
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestGetWithLock
func TestLockVisibility(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "k", "v1", 5, 10)
	mustPrewrite(t, m, "k", 20, put("k", "v2"))
	cases := []struct {
		name    string
		ts      uint64
		opts    readOpts
		locked  bool
		want    string
		comment string
	}{
		{name: "below lock", ts: 19, want: "v1"},
		{name: "at lock below min commit ts", ts: 20, want: "v1"},
		{name: "at min commit ts", ts: 21, locked: true},
		{name: "above lock", ts: 25, locked: true},
		{name: "max ts on primary", ts: maxTS, want: "v1"},
		{name: "resolved", ts: 25, opts: readOpts{resolved: map[uint64]bool{20: true}}, want: "v1"},
		{name: "committed", ts: 25, opts: readOpts{committed: map[uint64]bool{20: true}}, want: "v2"},
		{name: "read committed", ts: 25, opts: readOpts{rcRead: true}, want: "v1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, _, _, kerr := m.Get([]byte("k"), c.ts, c.opts)
			if c.locked {
				if kerr.GetLocked().GetLockVersion() != 20 {
					t.Fatalf("want lock of 20, got %v", kerr)
				}
				return
			}
			if kerr != nil || string(v) != c.want {
				t.Fatalf("got %q, %v; want %q", v, kerr, c.want)
			}
		})
	}
	// A pessimistic lock or a Lock-type lock never blocks reads.
	mustPessimisticLock(t, m, "p", 30, 30)
	mustGet(t, m, "p", 40, "")
	// A pushed min commit ts lets older readers through.
	if _, kerr := m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 20, CallerStartTs: 50, CurrentTs: 50}); kerr != nil {
		t.Fatal(kerr)
	}
	mustGet(t, m, "k", 50, "v1")
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestRollbackAndWriteConflict
func TestRollbackAndWriteConflict(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "test", "test", 1, 3)
	res := m.Prewrite(prewriteReq("test", 2, put("lock", "lock"), put("test", "test1")))
	if len(res.errs) != 1 || res.errs[0].GetConflict().GetConflictCommitTs() != 3 || res.errs[0].GetConflict().GetConflictTs() != 1 {
		t.Fatalf("want a conflict with commit 3, got %v", res.errs)
	}
	if _, ok := m.data.Get([]byte("lock")); ok {
		t.Fatal("a failed prewrite must write nothing")
	}
	mustPut(t, m, "test", "test2", 5, 8)
	if _, kerr := m.Cleanup([]byte("test"), 2, 0); kerr != nil {
		t.Fatal(kerr)
	}
	res = m.Prewrite(prewriteReq("test", 6, put("test", "test3")))
	if len(res.errs) != 1 || res.errs[0].GetConflict().GetReason() != kvrpcpb.WriteConflict_Optimistic {
		t.Fatalf("want an optimistic conflict, got %v", res.errs)
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestCommitConflict
func TestCommitConflict(t *testing.T) {
	m := newMVCC()
	mustPrewrite(t, m, "x", 5, put("x", "A"))
	if res := m.Prewrite(prewriteReq("x", 10, put("x", "B"))); res.errs[0].GetLocked() == nil {
		t.Fatalf("want locked, got %v", res.errs)
	}
	if kerr := m.BatchRollback(keys("x"), 5); kerr != nil {
		t.Fatal(kerr)
	}
	if kerr := m.Commit(keys("x"), 5, 10); kerr.GetTxnLockNotFound() == nil {
		t.Fatalf("commit after rollback: %v", kerr)
	}
	mustPrewrite(t, m, "x", 10, put("x", "B"))
	if kerr := m.Commit(keys("x"), 5, 20); kerr == nil {
		t.Fatal("commit of a replaced lock must fail")
	}
	mustCommit(t, m, 10, 20, "x")
	mustCommit(t, m, 10, 20, "x") // idempotent
	if kerr := m.BatchRollback(keys("x"), 10); kerr.GetAbort() == "" {
		t.Fatal("rollback of a committed txn must fail")
	}
}

// Rollback protection: a prewrite arriving after its transaction was rolled back fails.
func TestRollbackProtection(t *testing.T) {
	m := newMVCC()
	if st, kerr := m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 10, RollbackIfNotExist: true}); kerr != nil || st.action != kvrpcpb.Action_LockNotExistRollback {
		t.Fatalf("got %+v %v", st, kerr)
	}
	res := m.Prewrite(prewriteReq("k", 10, put("k", "late")))
	if res.errs[0].GetConflict().GetReason() != kvrpcpb.WriteConflict_SelfRolledBack {
		t.Fatalf("want self-rolled-back conflict, got %v", res.errs)
	}
	// An overlapped rollback: txn 20 commits at 30; then txn 30 is rolled back with
	// protection. The commit record carries the mark and txn 30 cannot prewrite.
	mustPut(t, m, "o", "v", 20, 30)
	if st, _ := m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("o"), LockTs: 30, RollbackIfNotExist: true}); st.commitTS != 0 {
		t.Fatalf("txn 30 is not committed: %+v", st)
	}
	e, _ := m.data.Get([]byte("o"))
	if !e.writes[0].overlappedRollback || len(e.writes) != 1 {
		t.Fatalf("want one overlapped commit record, got %+v", e.writes)
	}
	mustGet(t, m, "o", 40, "v")
	if st, _ := m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("o"), LockTs: 30}); st.commitTS != 0 || st.ttl != 0 {
		t.Fatalf("txn 30 must read as rolled back: %+v", st)
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestCheckTxnStatus, TestRejectCommitTS
func TestCheckTxnStatus(t *testing.T) {
	m := newMVCC()
	startTS := uint64(5 << 18)
	req := prewriteReq("pk", startTS, put("pk", "val"))
	req.LockTtl = 666
	if res := m.Prewrite(req); len(res.errs) > 0 {
		t.Fatal(res.errs)
	}
	check := func(key string, caller, current uint64, rollback bool) (txnStatus, *kvrpcpb.KeyError) {
		return m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte(key), LockTs: startTS, CallerStartTs: caller, CurrentTs: current, RollbackIfNotExist: rollback})
	}
	st, _ := check("pk", startTS+100, 666, false)
	if st.ttl != 666 || st.action != kvrpcpb.Action_MinCommitTSPushed {
		t.Fatalf("%+v", st)
	}
	st, _ = check("pk", maxTS, 666, false)
	if st.ttl != 666 || st.action != kvrpcpb.Action_MinCommitTSPushed {
		t.Fatalf("%+v", st)
	}
	if kerr := m.Commit(keys("pk"), startTS, startTS+100); kerr.GetCommitTsExpired().GetMinCommitTs() != startTS+101 {
		t.Fatalf("want commit ts expired at %d, got %v", startTS+101, kerr)
	}
	mustCommit(t, m, startTS, startTS+101, "pk")
	if st, _ = check("pk", 0, 666, false); st.commitTS != startTS+101 {
		t.Fatalf("%+v", st)
	}
	req = prewriteReq("pk2", startTS, put("pk2", "val"))
	req.LockTtl = 666
	m.Prewrite(req)
	if st, _ = check("pk2", 0, 777<<18, false); st.action != kvrpcpb.Action_TTLExpireRollback {
		t.Fatalf("%+v", st)
	}
	if _, kerr := check("none", 0, 666, false); kerr.GetTxnNotFound().GetStartTs() != startTS {
		t.Fatalf("want txn not found, got %v", kerr)
	}
	if st, _ = check("none", 0, 666, true); st.action != kvrpcpb.Action_LockNotExistRollback {
		t.Fatalf("%+v", st)
	}
}

func mustPessimisticLock(t *testing.T, m *mvcc, k string, startTS, forUpdateTS uint64) {
	t.Helper()
	resp, err := m.PessimisticLock(context.Background(), &kvrpcpb.PessimisticLockRequest{
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}}, PrimaryLock: []byte(k),
		StartVersion: startTS, ForUpdateTs: forUpdateTS, LockTtl: 3000, WaitTimeout: -1,
	})
	if err != nil || len(resp.Errors) > 0 {
		t.Fatalf("lock %q: %v %v", k, err, resp.GetErrors())
	}
}

func TestPessimisticTxn(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "k", "v1", 5, 10)
	resp, _ := m.PessimisticLock(context.Background(), &kvrpcpb.PessimisticLockRequest{
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("k")}}, PrimaryLock: []byte("k"),
		StartVersion: 8, ForUpdateTs: 8, WaitTimeout: -1,
	})
	if resp.Errors[0].GetConflict().GetReason() != kvrpcpb.WriteConflict_PessimisticRetry {
		t.Fatalf("want pessimistic retry, got %v", resp.Errors)
	}
	mustPessimisticLock(t, m, "k", 8, 12)
	// Prewrite without the lock's pessimistic check of another key fails.
	req := prewriteReq("k", 8, put("k", "v2"), put("x", "v"))
	req.ForUpdateTs = 12
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	if res := m.Prewrite(req); len(res.errs) != 1 || res.errs[0].GetRetryable() == "" {
		t.Fatalf("want lock not found for x, got %v", res.errs)
	}
	req.Mutations, req.PessimisticActions = req.Mutations[:1], req.PessimisticActions[:1]
	if res := m.Prewrite(req); len(res.errs) > 0 {
		t.Fatal(res.errs)
	}
	mustCommit(t, m, 8, 14, "k")
	mustGet(t, m, "k", 15, "v2")
	// Pessimistic rollback removes only a pessimistic lock.
	mustPessimisticLock(t, m, "r", 20, 20)
	m.PessimisticRollback(keys("r"), 20, 20)
	mustPessimisticLock(t, m, "r", 21, 21)
}

func TestPrewriteConstraints(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "e", "v", 1, 2)
	cases := []struct {
		name  string
		mu    *kvrpcpb.Mutation
		check func(*kvrpcpb.KeyError) bool
	}{
		{"insert existing", &kvrpcpb.Mutation{Op: kvrpcpb.Op_Insert, Key: []byte("e"), Value: []byte("x")}, func(e *kvrpcpb.KeyError) bool { return e.GetAlreadyExist() != nil }},
		{"check not exists", &kvrpcpb.Mutation{Op: kvrpcpb.Op_CheckNotExists, Key: []byte("e")}, func(e *kvrpcpb.KeyError) bool { return e.GetAlreadyExist() != nil }},
		{"assert not exist", &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte("e"), Value: []byte("x"), Assertion: kvrpcpb.Assertion_NotExist}, func(e *kvrpcpb.KeyError) bool {
			return e.GetAssertionFailed().GetExistingCommitTs() == 2
		}},
		{"assert exist", &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte("n"), Value: []byte("x"), Assertion: kvrpcpb.Assertion_Exist}, func(e *kvrpcpb.KeyError) bool { return e.GetAssertionFailed() != nil }},
		{"insert new", &kvrpcpb.Mutation{Op: kvrpcpb.Op_Insert, Key: []byte("n"), Value: []byte("x")}, func(e *kvrpcpb.KeyError) bool { return e == nil }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := prewriteReq(string(c.mu.Key), uint64(10+i), c.mu)
			req.AssertionLevel = kvrpcpb.AssertionLevel_Strict
			res := m.Prewrite(req)
			var kerr *kvrpcpb.KeyError
			if len(res.errs) > 0 {
				kerr = res.errs[0]
			}
			if !c.check(kerr) {
				t.Fatalf("unexpected result %v", kerr)
			}
		})
	}
}

// client-go: integration_tests/async_commit_test.go TestCheckSecondaries (server side)
func TestAsyncCommitAndSecondaries(t *testing.T) {
	m := newMVCC()
	m.Get([]byte("a"), 100, readOpts{}) // a reader at 100 forces the commit ts above it
	req := prewriteReq("a", 50, put("a", "1"), put("b", "2"))
	req.UseAsyncCommit, req.Secondaries = true, keys("b")
	res := m.Prewrite(req)
	if len(res.errs) > 0 || res.minCommitTS != 101 {
		t.Fatalf("want min commit 101, got %+v", res)
	}
	st, _ := m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("a"), LockTs: 50, CurrentTs: maxTS >> 1})
	if st.lock == nil || !st.lock.UseAsyncCommit || len(st.lock.Secondaries) != 1 {
		t.Fatalf("async lock must be reported, not rolled back: %+v", st)
	}
	if s := m.CheckSecondaryLocks(keys("b"), 50); len(s.locks) != 1 || s.commitTS != 0 {
		t.Fatalf("%+v", s)
	}
	mustCommit(t, m, 50, 101, "b")
	if s := m.CheckSecondaryLocks(keys("a", "b"), 50); s.commitTS != 101 {
		t.Fatalf("want committed at 101: %+v", s)
	}
	// A secondary never prewritten is rolled back with protection; the txn cannot commit.
	req = prewriteReq("c", 200, put("c", "1"))
	req.UseAsyncCommit, req.Secondaries = true, keys("d")
	m.Prewrite(req)
	if s := m.CheckSecondaryLocks(keys("d"), 200); len(s.locks) != 0 || s.commitTS != 0 {
		t.Fatalf("want rolled back: %+v", s)
	}
	if r := m.Prewrite(prewriteReq("c", 200, put("d", "1"))); r.errs[0].GetConflict().GetReason() != kvrpcpb.WriteConflict_SelfRolledBack {
		t.Fatalf("late secondary prewrite must fail: %v", r.errs)
	}
}

func TestOnePC(t *testing.T) {
	m := newMVCC()
	req := prewriteReq("a", 10, put("a", "1"), put("b", "2"))
	req.TryOnePc = true
	res := m.Prewrite(req)
	if res.onePCCommitTS != 11 {
		t.Fatalf("%+v", res)
	}
	mustGet(t, m, "b", 11, "2")
	if ls := m.ScanLock(nil, nil, maxTS, 0); len(ls) != 0 {
		t.Fatalf("1PC must leave no locks: %v", ls)
	}
	req = prewriteReq("c", 20, put("c", "1"))
	req.TryOnePc, req.MaxCommitTs = true, 15
	if res = m.Prewrite(req); res.onePCCommitTS != 0 || len(m.ScanLock(nil, nil, maxTS, 0)) != 1 {
		t.Fatalf("a too-large commit ts must fall back to locks: %+v", res)
	}
}

func TestScanBothDirections(t *testing.T) {
	m := newMVCC()
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		mustPut(t, m, k, k+"v", uint64(10+2*i), uint64(11+2*i))
	}
	mustPrewrite(t, m, "c", 30, del("c"))
	str := func(ps []*kvrpcpb.KvPair) string {
		s := ""
		for _, p := range ps {
			if p.Error != nil {
				s += "!"
			}
			s += string(p.Key)
		}
		return s
	}
	cases := []struct {
		start, end string
		limit      int
		reverse    bool
		ts         uint64
		want       string
	}{
		{"", "", 100, false, 25, "abcde"},
		{"b", "d", 100, false, 25, "bc"},
		{"a", "", 2, false, 25, "ab"},
		{"", "", 100, true, 25, "edcba"},
		{"b", "e", 100, true, 25, "dcb"}, // reverse: [b, e) from the top
		{"", "", 2, true, 25, "ed"},
		{"", "", 100, false, 40, "ab!cde"},
		{"", "", 100, false, 14, "ab"},
		{"", "", 0, false, 25, ""}, // limit 0 reads nothing
	}
	for _, c := range cases {
		got := str(m.Scan([]byte(c.start), []byte(c.end), c.limit, c.ts, false, c.reverse, readOpts{}))
		if got != c.want {
			t.Errorf("scan %+v = %q, want %q", c, got, c.want)
		}
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestResolveLock, TestBatchResolveLock, TestScanLock
func TestResolveAndScanLock(t *testing.T) {
	m := newMVCC()
	mustPrewrite(t, m, "p1", 5, put("p1", "v5"), put("s1", "v5"))
	mustPrewrite(t, m, "p2", 10, put("p2", "v10"), put("s2", "v10"))
	if ls := m.ScanLock(nil, nil, 7, 0); len(ls) != 2 {
		t.Fatalf("want 2 locks at or below 7, got %d", len(ls))
	}
	if ls := m.ScanLock(nil, nil, 10, 3); len(ls) != 3 {
		t.Fatalf("limit: got %d", len(ls))
	}
	if kerr := m.ResolveLock(nil, nil, nil, map[uint64]uint64{5: 0, 10: 20}); kerr != nil {
		t.Fatal(kerr)
	}
	mustGet(t, m, "p1", 30, "")
	mustGet(t, m, "s2", 30, "v10")
	if ls := m.ScanLock(nil, nil, maxTS, 0); len(ls) != 0 {
		t.Fatalf("locks left: %v", ls)
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestGC, TestDeleteRange
func TestGCAndDeleteRange(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "k", "v1", 1, 2)
	mustPut(t, m, "k", "v2", 3, 4)
	mustPut(t, m, "k", "v3", 5, 6)
	mustPut(t, m, "d", "v1", 1, 2)
	mustPrewrite(t, m, "d", 3, del("d"))
	mustCommit(t, m, 3, 4, "d")
	m.GC(nil, nil, 5)
	mustGet(t, m, "k", 5, "v2")
	mustGet(t, m, "k", 7, "v3")
	mustGet(t, m, "k", 3, "") // collected
	if _, ok := m.data.Get([]byte("d")); ok {
		t.Fatal("a key deleted below the safe point must disappear")
	}
	m.DeleteRange([]byte("a"), []byte("z"))
	mustGet(t, m, "k", 7, "")
}

func TestHeartBeatAndCleanup(t *testing.T) {
	m := newMVCC()
	mustPrewrite(t, m, "p", 5<<18, put("p", "v"))
	if ttl, kerr := m.TxnHeartBeat([]byte("p"), 5<<18, 9000); kerr != nil || ttl != 9000 {
		t.Fatal(ttl, kerr)
	}
	if ttl, _ := m.TxnHeartBeat([]byte("p"), 5<<18, 10); ttl != 9000 {
		t.Fatal("the TTL never shrinks")
	}
	if _, kerr := m.TxnHeartBeat([]byte("q"), 5<<18, 10); kerr.GetTxnNotFound() == nil {
		t.Fatal(kerr)
	}
	if _, kerr := m.Cleanup([]byte("p"), 5<<18, 6<<18); kerr.GetLocked() == nil {
		t.Fatal("an unexpired lock must not be cleaned up")
	}
	if _, kerr := m.Cleanup([]byte("p"), 5<<18, 0); kerr != nil {
		t.Fatal(kerr)
	}
	mustPut(t, m, "c", "v", 7, 8)
	if cts, kerr := m.Cleanup([]byte("c"), 7, 0); cts != 8 || kerr == nil {
		t.Fatal("cleanup of a committed txn reports its commit ts")
	}
}

func lockReq(k string, startTS uint64, wait int64) *kvrpcpb.PessimisticLockRequest {
	return &kvrpcpb.PessimisticLockRequest{
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}}, PrimaryLock: []byte(k),
		StartVersion: startTS, ForUpdateTs: startTS, LockTtl: 3000, WaitTimeout: wait,
	}
}

func TestLockWaitWakeUpTimeoutAndNoWait(t *testing.T) {
	m := newMVCC()
	mustPessimisticLock(t, m, "k", 10, 10)
	ctx := context.Background()
	if resp, _ := m.PessimisticLock(ctx, lockReq("k", 20, -1)); resp.Errors[0].GetLocked() == nil {
		t.Fatal("no-wait must return the lock at once")
	}
	start := time.Now()
	if resp, _ := m.PessimisticLock(ctx, lockReq("k", 20, 50)); resp.Errors[0].GetLocked() == nil || time.Since(start) < 50*time.Millisecond {
		t.Fatal("a timed-out wait returns the lock after the timeout")
	}
	done := make(chan *kvrpcpb.PessimisticLockResponse)
	go func() {
		resp, _ := m.PessimisticLock(ctx, lockReq("k", 30, 5000))
		done <- resp
	}()
	waitFor(t, func() bool { return m.waits.waiting() == 1 })
	req := prewriteReq("k", 10, put("k", "v"))
	req.ForUpdateTs = 10
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	m.Prewrite(req)
	mustCommit(t, m, 10, 40, "k")
	resp := <-done
	if c := resp.Errors[0].GetConflict(); c.GetConflictCommitTs() != 40 || c.GetReason() != kvrpcpb.WriteConflict_PessimisticRetry {
		t.Fatalf("want a wake-up conflict at 40, got %v", resp.Errors)
	}
	// Force-lock mode resumes after wake-up and locks with conflict.
	mustPessimisticLock(t, m, "k", 50, 50)
	go func() {
		r := lockReq("k", 35, 5000)
		r.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		resp, _ := m.PessimisticLock(ctx, r)
		done <- resp
	}()
	waitFor(t, func() bool { return m.waits.waiting() == 1 })
	m.PessimisticRollback(keys("k"), 50, 50)
	resp = <-done
	if len(resp.Errors) > 0 || resp.Results[0].GetLockedWithConflictTs() != 40 {
		t.Fatalf("want locked with conflict at 40: %v", resp)
	}
	// A cancelled wait returns ctx.Err().
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		waitFor(t, func() bool { return m.waits.waiting() == 1 })
		cancel()
	}()
	if _, err := m.PessimisticLock(cctx, lockReq("k", 60, 5000)); err != context.Canceled {
		t.Fatalf("want cancellation, got %v", err)
	}
}

func TestDeadlockDetection(t *testing.T) {
	m := newMVCC()
	mustPessimisticLock(t, m, "a", 10, 10)
	mustPessimisticLock(t, m, "b", 20, 20)
	done := make(chan *kvrpcpb.PessimisticLockResponse)
	go func() { // 10 waits for 20
		resp, _ := m.PessimisticLock(context.Background(), lockReq("b", 10, 5000))
		done <- resp
	}()
	waitFor(t, func() bool { return m.waits.waiting() == 1 })
	resp, _ := m.PessimisticLock(context.Background(), lockReq("a", 20, 5000)) // 20 waits for 10: cycle
	dl := resp.Errors[0].GetDeadlock()
	if dl == nil || dl.LockTs != 10 || string(dl.LockKey) != "a" || len(dl.WaitChain) != 2 {
		t.Fatalf("want a deadlock with a two-edge chain, got %v", resp.Errors)
	}
	m.PessimisticRollback(keys("b"), 20, 20)
	if resp := <-done; resp.Errors[0].GetConflict() == nil {
		t.Fatalf("the waiter wakes when the victim rolls back: %v", resp.Errors)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestCleanupRollback
func TestCleanupRollback(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "secondary", "s-0", 1, 2)
	mustPrewrite(t, m, "primary", 5, put("primary", "p-5"), put("secondary", "s-5"))
	for _, ts := range []uint64{8, 12} {
		if _, _, _, kerr := m.Get([]byte("secondary"), ts, readOpts{}); kerr.GetLocked() == nil {
			t.Fatalf("read at %d must meet the lock", ts)
		}
	}
	mustCommit(t, m, 5, 10, "primary")
	if kerr := m.BatchRollback(keys("primary"), 5); kerr == nil {
		t.Fatal("rolling back a committed primary must fail")
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestBatchGet
func TestBatchGetVersions(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "k1", "v1", 1, 2)
	mustPut(t, m, "k2", "v2", 1, 2)
	mustPut(t, m, "k2", "v2", 3, 4)
	mustPut(t, m, "k3", "v3", 1, 2)
	got := m.BatchGet(keys("k1", "k2", "k3", "k4"), 5, readOpts{}, true)
	if len(got) != 3 || string(got[1].Value) != "v2" || got[1].CommitTs != 4 || got[2].Error != nil {
		t.Fatalf("%v", got)
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestScanWithResolvedLock
func TestScanWithResolvedLock(t *testing.T) {
	m := newMVCC()
	mustPrewrite(t, m, "p1", 5, put("p1", "v5"), put("s1", "v5"))
	mustPrewrite(t, m, "p1", 5, put("p2", "v10"), put("s2", "v10"))
	pairs := m.Scan([]byte("p1"), nil, 3, 10, false, false, readOpts{})
	if len(pairs) != 3 || pairs[0].Error.GetLocked() == nil || pairs[1].Error.GetLocked() == nil {
		t.Fatalf("%v", pairs)
	}
	pairs = m.Scan([]byte("p1"), nil, 3, 10, false, false, readOpts{resolved: map[uint64]bool{5: true}})
	for _, p := range pairs {
		if p.Error != nil {
			t.Fatalf("a resolved lock must not block: %v", p)
		}
	}
}

// client-go: internal/mockstore/mocktikv/mock_tikv_test.go TestRC (RC reads ignore locks)
func TestReadCommittedIgnoresLocks(t *testing.T) {
	m := newMVCC()
	mustPut(t, m, "key", "v1", 5, 10)
	mustPrewrite(t, m, "key", 15, put("key", "v2"))
	if _, _, _, kerr := m.Get([]byte("key"), 20, readOpts{}); kerr == nil {
		t.Fatal("SI read must meet the lock")
	}
	for _, ts := range []uint64{12, 20} {
		if v, _, _, kerr := m.Get([]byte("key"), ts, readOptsOf(&kvrpcpb.Context{IsolationLevel: kvrpcpb.IsolationLevel_RC})); kerr != nil || string(v) != "v1" {
			t.Fatalf("RC read at %d: %q %v", ts, v, kerr)
		}
	}
	o := readOptsOf(&kvrpcpb.Context{ResolvedLocks: []uint64{15}, CommittedLocks: []uint64{16}})
	if !o.resolved[15] || !o.committed[16] {
		t.Fatalf("%+v", o)
	}
}
