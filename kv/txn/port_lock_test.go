package txn

import (
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// Ports of client-go integration_tests/lock_test.go and txnkv/txnlock/lock_resolver_test.go
// cases that had no test of their own (docs/parity.md §2 maps the rest).

// client-go: txnkv/txnlock/lock_resolver_test.go TestLockResolverCache. Once the
// resolver knows an async-commit transaction's outcome, a lock of that transaction met
// later is resolved from the cached status: no CheckTxnStatus and no secondary-lock
// check are sent, and the read sees the value committed at the cached commit ts.
func TestPortResolverCacheSkipsStatusChecks(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	var checks atomic.Int64
	countRPC(tg, "KvCheckTxnStatus", &checks)
	countRPC(tg, "KvCheckSecondaryLocks", &checks)
	start := ts(t, c)
	rawPrewrite(t, c, start, crashed{primary: p + "a", ttl: 1, async: true}, p+"a", "A", p+"b", "B")
	pastTTL()
	commitTS := ts(t, c)
	c.resolver.remember(start, txnStatus{commitTS: commitTS})
	v, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"b"))
	if err != nil || string(v) != "B" {
		t.Fatalf("read b = %q, %v", v, err)
	}
	if n := checks.Load(); n != 0 {
		t.Fatalf("%d status checks despite the cached status", n)
	}
	waitUnlocked(t, c, p+"b") // the read cleans up in the background (TXN-16)
	if _, err := c.Snapshot(commitTS-1).Get(ctx, []byte(p+"b")); !isNotFound(err) {
		t.Fatalf("b visible below the cached commit ts: %v", err)
	}
}

// client-go: integration_tests/lock_test.go TestDeadlockReportWaitChain (case 2,
// 3->2->0->1->3; case 1 is TestPessimisticDeadlock). Four transactions each hold a key
// and wait for the next one's: the request that closes the cycle fails with
// *kv.DeadlockError whose wait chain lists the four edges (waiter, holder, key); once
// the victim and then each survivor roll back, every other waiter gets its lock.
// (Whichever request closes the cycle is the victim, so no request has to be known to
// wait before the next is sent. Per-request resource group tags are TiDB's.)
func TestPortDeadlockWaitChainOfFour(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		key := func(i int) string { return fmt.Sprintf("%sk%d", p, i) }
		txns := make([]*Txn, 4)
		for i := range txns {
			txns[i] = beginPessimistic(t, c)
			if err := txns[i].LockKeys(ctx, []byte(key(i))); err != nil {
				t.Fatal(err)
			}
		}
		waits := [][2]int{{0, 1}, {2, 0}, {1, 3}, {3, 2}} // i waits for j's key
		type result struct {
			i   int
			err error
		}
		results := make(chan result, len(waits))
		for _, w := range waits {
			go func() {
				results <- result{w[0], lockWith(ctx, txns[w[0]], LockWait{Kind: LockWaitForever}, key(w[1]))}
			}()
		}
		var dl *kv.DeadlockError
		victim := -1
		var done []int
		for range waits {
			r := <-results
			switch {
			case errors.As(r.err, &dl) && victim < 0:
				victim = r.i
			case r.err != nil:
				t.Fatalf("txn %d: %v", r.i, r.err)
			default:
				done = append(done, r.i)
			}
			// Release the locks of whoever finished so that its waiter proceeds.
			if err := txns[r.i].Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if victim < 0 || len(done) != 3 {
			t.Fatalf("victim %d, finished %v", victim, done)
		}
		want := map[[2]uint64]string{}
		for _, w := range waits {
			want[[2]uint64{txns[w[0]].StartTS(), txns[w[1]].StartTS()}] = key(w[1])
		}
		got := map[[2]uint64]string{}
		for _, e := range dl.WaitChain {
			got[[2]uint64{e.TxnTS, e.WaitForTxnTS}] = string(e.Key)
		}
		if len(dl.WaitChain) != 4 || !maps.Equal(got, want) {
			t.Fatalf("wait chain %+v, want edges %v", dl.WaitChain, want)
		}
	})
}
