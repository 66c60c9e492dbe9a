package memcluster

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// CheckTxnStatus flags, one row each. (TiKV: actions/check_txn_status.rs)
func TestCheckTxnStatusFlags(t *testing.T) {
	const start = 10 << 18
	expired := uint64(100000 << 18) // far beyond start + the 3000 ms TTL
	asyncLock := func(m *mvcc) {
		r := prewriteReq("p", start, put("p", "v"))
		r.UseAsyncCommit = true
		m.Prewrite(r)
	}
	cases := []struct {
		name  string
		setup func(m *mvcc)
		req   kvrpcpb.CheckTxnStatusRequest
		check func(st txnStatus, kerr *kvrpcpb.KeyError) bool
	}{
		{
			name:  "async lock is reported, not rolled back",
			setup: asyncLock,
			req:   kvrpcpb.CheckTxnStatusRequest{CurrentTs: expired},
			check: func(st txnStatus, _ *kvrpcpb.KeyError) bool {
				return st.lock != nil && st.action == kvrpcpb.Action_NoAction
			},
		},
		{
			name:  "force sync commit treats an expired async lock as ordinary",
			setup: asyncLock,
			req:   kvrpcpb.CheckTxnStatusRequest{CurrentTs: expired, ForceSyncCommit: true},
			check: func(st txnStatus, _ *kvrpcpb.KeyError) bool { return st.action == kvrpcpb.Action_TTLExpireRollback },
		},
		{
			name:  "expired pessimistic primary while resolving a pessimistic lock",
			setup: func(m *mvcc) { mustPessimisticLockM(m, "p", start) },
			req:   kvrpcpb.CheckTxnStatusRequest{CurrentTs: expired, ResolvingPessimisticLock: true},
			check: func(st txnStatus, _ *kvrpcpb.KeyError) bool {
				return st.action == kvrpcpb.Action_TTLExpirePessimisticRollback
			},
		},
		{
			name:  "missing lock while resolving a pessimistic lock: nothing done",
			setup: func(*mvcc) {},
			req:   kvrpcpb.CheckTxnStatusRequest{RollbackIfNotExist: true, ResolvingPessimisticLock: true},
			check: func(st txnStatus, _ *kvrpcpb.KeyError) bool { return st.action == kvrpcpb.Action_LockNotExistDoNothing },
		},
		{
			name:  "verify is primary on a secondary",
			setup: func(m *mvcc) { m.Prewrite(prewriteReq("q", start, put("p", "v"))) },
			req:   kvrpcpb.CheckTxnStatusRequest{VerifyIsPrimary: true},
			check: func(_ txnStatus, kerr *kvrpcpb.KeyError) bool { return kerr.GetPrimaryMismatch() != nil },
		},
		{
			name:  "caller ts below min commit ts: bypassable, not pushed",
			setup: func(m *mvcc) { m.Prewrite(prewriteReq("p", start, put("p", "v"))) },
			req:   kvrpcpb.CheckTxnStatusRequest{CallerStartTs: start - 5, CurrentTs: start},
			check: func(st txnStatus, _ *kvrpcpb.KeyError) bool {
				return st.ttl > 0 && st.action == kvrpcpb.Action_MinCommitTSPushed
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMVCC()
			c.setup(m)
			req := c.req
			req.PrimaryKey, req.LockTs = []byte("p"), start
			st, kerr := m.CheckTxnStatus(&req)
			if !c.check(st, kerr) {
				t.Fatalf("got %+v, %v", st, kerr)
			}
		})
	}
	// After a pessimistic rollback by CheckTxnStatus the key holds no record at all.
	m := newMVCC()
	mustPessimisticLockM(m, "p", start)
	m.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("p"), LockTs: start, CurrentTs: expired, ResolvingPessimisticLock: true})
	if e, _ := m.data.Get([]byte("p")); e.lock != nil || len(e.writes) != 0 {
		t.Fatalf("%+v", e)
	}
}

func mustPessimisticLockM(m *mvcc, k string, ts uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.tryPessimisticLock(lockReq(k, ts, -1), false)
	if out.kerr != nil {
		panic(out.kerr.String())
	}
}
