package txn

import (
	"context"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// client-go: integration_tests/snapshot_test.go TestPointGetSkipTxnLock and
// snapshot_fail_test.go TestRetryPointGetResolveTS: a read at kv.MaxTS over the locks
// of a live two-phase writer returns the data committed before it at once (primary or
// secondary), without pushing the writer's min commit ts: the writer then commits at
// a timestamp taken before the reads, and the next MaxTS read returns its values.
func TestPortMaxTSPointGetSkipsTxnLock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		x, y := p+"x", p+"y"
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: x, ttl: 20000}, x, "x", y, "y")
		commitTS := ts(t, c)
		ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
		defer cancel()
		for _, k := range []string{y, x} {
			if v, err := c.Snapshot(kv.MaxTS).Get(ctx, []byte(k)); !isNotFound(err) {
				t.Fatalf("MaxTS get %s over a live lock: %q %v", k, v, err)
			}
			if m, err := c.Snapshot(kv.MaxTS).BatchGet(ctx, [][]byte{[]byte(k)}); err != nil || len(m) != 0 {
				t.Fatalf("MaxTS batch get %s over a live lock: %v %v", k, m, err)
			}
		}
		rawCommit(t, c, start, commitTS, x) // fails if a read pushed the min commit ts
		if v, err := c.Snapshot(kv.MaxTS).Get(ctx, []byte(y)); err != nil || string(v) != "y" {
			t.Fatalf("MaxTS get of the secondary after the commit: %q %v", v, err)
		}
		if v, err := c.Snapshot(commitTS).Get(ctx, []byte(y)); err != nil || string(v) != "y" {
			t.Fatalf("get at the commit ts: %q %v", v, err)
		}
	})
}

// client-go: integration_tests/async_commit_fail_test.go TestPointGetWithAsyncCommit:
// an async-commit writer whose every key was prewritten is committed, although no
// commit RPC was sent; a MaxTS read cannot skip its locks and returns its values, and
// so does a later transaction.
func TestPortPointGetWithAsyncCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		a, b := p+"a", p+"b"
		put(t, c, a, "a", b, "b")
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: a, ttl: 1, async: true}, a, "v1", b, "v2")
		pastTTL()
		for k, want := range map[string]string{a: "v1", b: "v2"} {
			if v, err := c.Snapshot(kv.MaxTS).Get(ctx, []byte(k)); err != nil || string(v) != want {
				t.Fatalf("MaxTS get %s: %q %v, want %s", k, v, err, want)
			}
			if got := get(t, c, k); got != want {
				t.Fatalf("get %s: %q, want %s", k, got, want)
			}
		}
	})
}

// client-go: integration_tests/async_commit_test.go TestResolveTxnFallbackFromAsyncCommit:
// a writer crashed after an async-commit prewrite in which the primary, a secondary or
// both fell back to ordinary 2PC locks; once its locks expired, readers of either key,
// in either order, roll it back and read the previous values.
func TestPortResolveTxnFallbackFromAsyncCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		for i, tc := range []struct {
			fallback []string // keys prewritten without async commit
			first    int      // key read first
		}{
			{[]string{"k0"}, 0}, {[]string{"k0"}, 1},
			{[]string{"k1"}, 0}, {[]string{"k1"}, 1},
			{[]string{"k0", "k1"}, 0}, {[]string{"k0", "k1"}, 1},
		} {
			keys := []string{p + "k0", p + "k1"}
			put(t, c, keys[0], "v00", keys[1], "v10")
			var skip []string
			for _, f := range tc.fallback {
				skip = append(skip, p+f)
			}
			start := ts(t, c)
			rawPrewrite(t, c, start, crashed{primary: keys[0], ttl: 1, async: true, skipAsync: skip},
				keys[0], "v01", keys[1], "v11")
			pastTTL()
			want := []string{"v00", "v10"}
			for _, j := range []int{tc.first, 1 - tc.first} {
				if got := get(t, c, keys[j]); got != want[j] {
					t.Fatalf("case %d: %s = %q, want %q", i, keys[j], got, want[j])
				}
			}
		}
	})
}

// client-go: integration_tests/shared_lock_test.go TestForceLockRetryOnSharedLock: a
// single-key lock in fair (force-lock) mode waits for a shared lock held by another
// transaction and gets the key once the holder rolled back.
func TestPortForceLockWaitsForSharedLock(t *testing.T) {
	eachShared(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		holder := sharedHolder(t, c, p+"pk1", p+"k")
		x := beginPessimistic(t, c, WithFairLocking())
		if err := x.LockKeys(ctx, []byte(p+"pk2")); err != nil {
			t.Fatal(err)
		}
		done := async(func() error { return lockWith(ctx, x, LockWait{Kind: LockWaitForever}, p+"k") })
		select {
		case err := <-done:
			t.Fatalf("force lock did not wait for the shared holder: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := holder.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("force lock after the holder left: %v", err)
		}
		// x holds k exclusively now: another locker cannot take it.
		y := beginPessimistic(t, c)
		if err := y.LockKeys(ctx, []byte(p+"pk3")); err != nil {
			t.Fatal(err)
		}
		if err := lockWith(ctx, y, LockWait{Kind: LockWaitNoWait}, p+"k"); err == nil {
			t.Fatal("k not held by the force lock")
		}
	})
}
