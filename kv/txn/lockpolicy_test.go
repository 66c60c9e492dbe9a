package txn

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// statusChecks counts CheckTxnStatus requests: how often a client tried to resolve a lock.
func statusChecks(n *atomic.Int64) func(*Config) {
	return func(cfg *Config) {
		cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, rpc.Interceptor{Name: "checks",
			Wrap: func(next rpc.Invoker) rpc.Invoker {
				return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
					if _, ok := inv.Request.(*kvrpcpb.CheckTxnStatusRequest); ok {
						n.Add(1)
					}
					return next(ctx, inv)
				}
			}})
	}
}

// lockedBy begins a pessimistic transaction that locks key and rolls it back when the
// test ends.
func lockedBy(t *testing.T, c *Client, key string) *Txn {
	t.Helper()
	holder, err := c.Begin(testCtx(t), WithPessimistic())
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.LockKeys(testCtx(t), []byte(key)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback(context.Background()) })
	return holder
}

// PrewriteNoResolve turns a live lock met by the prewrite into a write conflict naming
// its owner, without trying to resolve it; the default policy waits for the owner.
// client-go: 2pc.go / prewrite.go PrewriteEncounterLockPolicy (no test of its own).
func TestPrewriteLockPolicy(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		var checks atomic.Int64
		c := open(t, tg, twoPhase, statusChecks(&checks))
		key := prefix(t) + "k"
		// The holder begins first: a younger holder would be a conflict under any policy.
		holder := lockedBy(t, c, key)
		writer, err := c.Begin(testCtx(t), WithPrewriteLockPolicy(PrewriteNoResolve))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, writer, key, "w")
		err = writer.Commit(testCtx(t))
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) || wc.ConflictStartTS != holder.StartTS() || string(wc.Key) != key || !kv.IsRetryable(err) {
			t.Fatalf("commit: %v, want a retryable write conflict with txn %d", err, holder.StartTS())
		}
		if n := checks.Load(); n != 0 {
			t.Fatalf("%d CheckTxnStatus requests under PrewriteNoResolve", n)
		}

		// The default policy waits: the commit succeeds once the holder rolls back.
		key2 := prefix(t) + "k2"
		holder2 := lockedBy(t, c, key2)
		waiter, err := c.Begin(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, waiter, key2, "w")
		done := make(chan error, 1)
		go func() { done <- waiter.Commit(testCtx(t)) }()
		time.Sleep(50 * time.Millisecond)
		if err := holder2.Rollback(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("default policy: %v", err)
		}
		if got := get(t, c, key2); got != "w" {
			t.Fatalf("read %q", got)
		}
	})
}

// An optimistic transaction whose prewrite meets the lock of a younger transaction fails
// at once with a write conflict (that owner would commit above our start ts anyway); a
// pessimistic one resolves as usual.
// client-go: prewrite.go extractKeyErrs (lock.TxnID > startTS in an optimistic txn).
func TestPrewriteMeetsYoungerLock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		var checks atomic.Int64
		c := open(t, tg, twoPhase, statusChecks(&checks))
		key := prefix(t) + "k"
		writer, err := c.Begin(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		holder := lockedBy(t, c, key)
		mustSet(t, writer, key, "w")
		err = writer.Commit(testCtx(t))
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) || wc.ConflictStartTS != holder.StartTS() || wc.Reason != kv.ConflictOptimistic {
			t.Fatalf("commit: %v, want a write conflict with the younger txn %d", err, holder.StartTS())
		}
		if n := checks.Load(); n != 0 {
			t.Fatalf("%d CheckTxnStatus requests for a younger lock", n)
		}
	})
}
