package txn

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// client-go: txnkv/transaction/txn_test.go TestLockKeys (OptimisticExclusive,
// PessimisticExclusive; the shared-lock cases are TestSharedLockRules). An optimistic
// LockKeys sends nothing and only marks the keys, which prewrite then locks with
// Op_Lock; a pessimistic one sends one PessimisticLock request with Op_PessimisticLock
// mutations and marks the keys locked.
func TestPortLockKeysRequests(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	key := []byte(p + "k")
	wkey := c.Cluster().Codec().EncodeKey(key)
	var mu sync.Mutex
	var methods []string
	var lockOps, prewriteOps []kvrpcpb.Op
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		mu.Lock()
		defer mu.Unlock()
		methods = append(methods, r.Method)
		switch req := r.Body.(type) {
		case *kvrpcpb.PessimisticLockRequest:
			for _, m := range req.Mutations {
				lockOps = append(lockOps, m.Op)
			}
		case *kvrpcpb.PrewriteRequest:
			for _, m := range req.Mutations {
				if bytes.Equal(m.Key, wkey) {
					prewriteOps = append(prewriteOps, m.Op)
				}
			}
		}
		return nil
	})
	reset := func() []string {
		mu.Lock()
		defer mu.Unlock()
		m := methods
		methods = nil
		return m
	}

	opt, _ := c.Begin(ctx)
	reset()
	if err := opt.LockKeys(ctx, key); err != nil {
		t.Fatal(err)
	}
	if m := reset(); len(m) != 0 {
		t.Fatalf("optimistic LockKeys sent %v", m)
	}
	if f := opt.mem.Flags(key); !f.Has(memdb.FlagNeedLocked) || f.Has(memdb.FlagKeyLockedShared) {
		t.Fatalf("optimistic flags %b", f)
	}
	if err := opt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(prewriteOps) != 1 || prewriteOps[0] != kvrpcpb.Op_Lock {
		t.Fatalf("prewrite ops %v", prewriteOps)
	}
	mu.Unlock()

	pess := beginPessimistic(t, c)
	reset()
	if err := pess.LockKeys(ctx, key); err != nil {
		t.Fatal(err)
	}
	if m := reset(); len(m) != 1 || m[0] != "KvPessimisticLock" {
		t.Fatalf("pessimistic LockKeys sent %v", m)
	}
	mu.Lock()
	if len(lockOps) != 1 || lockOps[0] != kvrpcpb.Op_PessimisticLock {
		t.Fatalf("lock ops %v", lockOps)
	}
	mu.Unlock()
	if f := pess.mem.Flags(key); !f.Has(memdb.FlagKeyLocked) || f.Has(memdb.FlagKeyLockedShared) {
		t.Fatalf("pessimistic flags %b", f)
	}
	if !locked(tg, c, p+"k") {
		t.Fatal("no lock in TiKV")
	}
}
