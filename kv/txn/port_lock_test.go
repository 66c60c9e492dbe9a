package txn

import (
	"sync/atomic"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
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
	if locked(tg, c, p+"b") {
		t.Fatal("b still locked")
	}
	if _, err := c.Snapshot(commitTS-1).Get(ctx, []byte(p+"b")); !isNotFound(err) {
		t.Fatalf("b visible below the cached commit ts: %v", err)
	}
}
