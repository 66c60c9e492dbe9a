package txn

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A read that meets the lock of a committed transaction reads through it at once and
// leaves the lock's cleanup to the background: a cleanup that fails does not fail the
// read, and a later cleanup removes the lock (TXN-16).
// client-go: txnlock/lock_resolver.go (read-side resolution in the background) and
// integration_tests/lock_test.go (a read over a committed lock whose cleanup fails).
func TestReadLeavesLockCleanupToTheBackground(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs memcluster hooks")
		}
		c := open(t, tg)
		p := prefix(t)
		pk, sk := p+"primary", p+"secondary"
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: pk, ttl: 20000, txnSize: 1000}, pk, "p1", sk, "s1")
		commitTS := ts(t, c)
		rawCommit(t, c, start, commitTS, pk) // the writer died before committing the secondary

		var fail atomic.Bool
		var cleanups atomic.Int64
		fail.Store(true)
		defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if rl, ok := r.Body.(*kvrpcpb.ResolveLockRequest); ok && rl.StartVersion == start {
				cleanups.Add(1)
				if fail.Load() {
					// A final region error: the cleanup fails at once.
					return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected: cleanup refused",
						RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}}
				}
			}
			return nil
		})()
		if got := get(t, c, sk); got != "s1" {
			t.Fatalf("read over a committed lock: %q", got)
		}
		if !rawLocked(t, c, sk) {
			t.Fatal("the failed cleanup removed the lock")
		}
		deadline := time.Now().Add(10 * time.Second)
		for cleanups.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no cleanup was attempted")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Once cleanups succeed, a later read's cleanup removes the lock (a read that
		// comes while the failing cleanup still runs leaves the lock to it, so read
		// until one cleans up).
		fail.Store(false)
		for rawLocked(t, c, sk) {
			if time.Now().After(deadline) {
				t.Fatal("the lock was never cleaned up")
			}
			if got := get(t, c, sk); got != "s1" {
				t.Fatalf("later read: %q", got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// waitUnlocked waits until key holds no lock: reads clean locks up in the background.
func waitUnlocked(t testing.TB, c *Client, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rawLocked(t, c, key) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still locked", key)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
