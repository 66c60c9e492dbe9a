package txn

import (
	"cmp"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// lockSpy records the pessimistic lock requests of a client and can run a function
// (once) before the first lock request of a key reaches TiKV, for instance a commit by
// another client that makes the request meet a newer version: with force-lock the lock
// is then granted with conflict, on every target, without timing.
type lockSpy struct {
	mu     sync.Mutex
	reqs   []*kvrpcpb.PessimisticLockRequest
	before map[string]func() error // by wire key
	err    error                   // the first error of a before function
}

func (s *lockSpy) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "lockspy", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			if req, ok := inv.Request.(*kvrpcpb.PessimisticLockRequest); ok {
				s.mu.Lock()
				s.reqs = append(s.reqs, req)
				var run []func() error
				for _, m := range req.GetMutations() {
					if f := s.before[string(m.GetKey())]; f != nil {
						run = append(run, f)
						delete(s.before, string(m.GetKey()))
					}
				}
				s.mu.Unlock()
				for _, f := range run {
					if err := f(); err != nil {
						s.mu.Lock()
						s.err = cmp.Or(s.err, err)
						s.mu.Unlock()
					}
				}
			}
			return next(ctx, inv)
		}
	}}
}

// count returns the lock requests recorded so far.
func (s *lockSpy) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// last returns the last lock request.
func (s *lockSpy) last() *kvrpcpb.PessimisticLockRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

// beforeLock runs f before the first lock request of the user key (on the goroutine
// sending it: f reports errors, failed reports them to the test).
func (s *lockSpy) beforeLock(c *Client, key string, f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.before == nil {
		s.before = map[string]func() error{}
	}
	s.before[string(c.cl.Codec().EncodeKey([]byte(key)))] = f
}

// failed fails the test if a before function failed.
func (s *lockSpy) failed(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Fatal(s.err)
	}
}

// commitBy commits the pairs in a transaction of c and returns its commit ts, for use
// off the test goroutine.
func commitBy(ctx context.Context, c *Client, kvs ...string) (uint64, error) {
	tx, err := c.Begin(ctx)
	if err != nil {
		return 0, err
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		if kvs[i+1] == "" {
			err = tx.Delete([]byte(kvs[i]))
		} else {
			err = tx.Set([]byte(kvs[i]), []byte(kvs[i+1]))
		}
		if err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return tx.CommitTS(), nil
}

// aggTarget opens a client recording lock requests with spy, and a plain second client
// for the "other" transactions.
func aggTarget(t *testing.T, tg testcluster.Target, spy *lockSpy, w *wire) (*Client, *Client) {
	mod := func(cfg *Config) { cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, spy.interceptor()) }
	var c *Client
	if w != nil {
		c = openWire(t, tg, w, mod)
	} else {
		c = open(t, tg, mod)
	}
	return c, open(t, tg)
}

// locksIn returns the locks under prefix p by wire key.
func locksIn(t *testing.T, c *Client, p string) map[string]*kvrpcpb.LockInfo {
	t.Helper()
	out := map[string]*kvrpcpb.LockInfo{}
	for _, l := range scanLocks(t, c, p, string(kv.Key(p).PrefixNext())) {
		out[string(l.GetKey())] = l
	}
	return out
}

// checkLocked checks which of the keys (user keys p+name) hold a lock in TiKV.
func checkLocked(t *testing.T, c *Client, p string, want map[string]bool) {
	t.Helper()
	got := locksIn(t, c, p)
	for name, locked := range want {
		if _, ok := got[string(c.cl.Codec().EncodeKey([]byte(p+name)))]; ok != locked {
			t.Errorf("%s: locked %v, want %v", name, ok, locked)
		}
	}
}

// checkPrimary checks that the lock of p+key points to p+primary.
func checkPrimary(t *testing.T, c *Client, p, key, primary string) {
	t.Helper()
	l := locksIn(t, c, p)[string(c.cl.Codec().EncodeKey([]byte(p+key)))]
	if l == nil || l.GetLockType() != kvrpcpb.Op_PessimisticLock ||
		string(l.GetPrimaryLock()) != string(c.cl.Codec().EncodeKey([]byte(p+primary))) {
		t.Errorf("lock of %s: %v, want a pessimistic lock with primary %s", key, l, primary)
	}
}

func mustLock(t *testing.T, tx *Txn, keys ...string) {
	t.Helper()
	if err := lockWith(testCtx(t), tx, LockWait{}, keys...); err != nil {
		t.Fatalf("lock %v: %v", keys, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// client-go: integration_tests/2pc_test.go TestAggressiveLocking. Keys locked before
// the stage are left alone; a retried attempt keeps the previous attempt's locks it
// takes again without a request; locks of an attempt the next one did not take again
// are rolled back at the following retry or at Done; Cancel rolls back the stage's.
func TestAggressiveLocking(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, _ := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		for _, finalIsDone := range []bool{false, true} {
			p := prefix(t)
			k := func(s string) string { return p + s }
			tx := beginPessimistic(t, c)
			if tx.IsInAggressiveLockingMode() {
				t.Fatal("stage open before start")
			}
			mustLock(t, tx, k("k1"), k("k2"))
			must(t, tx.StartAggressiveLocking())
			for _, key := range []string{"k2", "k3", "k4"} {
				mustLock(t, tx, k(key))
			}
			if !tx.IsInAggressiveLockingMode() || tx.IsInAggressiveLockingStage([]byte(k("k2"))) ||
				!tx.IsInAggressiveLockingStage([]byte(k("k3"))) || !tx.IsInAggressiveLockingStage([]byte(k("k4"))) {
				t.Fatal("stage membership")
			}
			checkLocked(t, c, p, map[string]bool{"k1": true, "k2": true, "k3": true, "k4": true})

			must(t, tx.RetryAggressiveLocking(ctx))
			checkLocked(t, c, p, map[string]bool{"k1": true, "k2": true, "k3": true, "k4": true})
			before := spy.count()
			mustLock(t, tx, k("k4")) // kept from the previous attempt: no request
			if n := spy.count() - before; n != 0 {
				t.Fatalf("k4 kept, but %d lock requests", n)
			}
			mustLock(t, tx, k("k5"))
			if n := spy.count() - before; n != 1 {
				t.Fatalf("k5: %d lock requests", n)
			}

			must(t, tx.RetryAggressiveLocking(ctx)) // k3, not taken again, is rolled back
			checkLocked(t, c, p, map[string]bool{"k1": true, "k2": true, "k3": false, "k4": true, "k5": true})
			mustLock(t, tx, k("k2"))
			mustLock(t, tx, k("k5"))
			mustLock(t, tx, k("k6"))
			if got := tx.AggressiveLockingKeys(); len(got) != 2 || string(got[0].Key) != k("k5") ||
				string(got[1].Key) != k("k6") || got[0].ForUpdateTS == 0 || got[1].ConflictTS != 0 {
				t.Fatalf("stage keys %+v", got)
			}
			if finalIsDone {
				must(t, tx.DoneAggressiveLocking(ctx))
				checkLocked(t, c, p, map[string]bool{"k1": true, "k2": true, "k3": false, "k4": false, "k5": true, "k6": true})
			} else {
				must(t, tx.CancelAggressiveLocking(ctx))
				checkLocked(t, c, p, map[string]bool{"k1": true, "k2": true, "k3": false, "k4": false, "k5": false, "k6": false})
			}
			if tx.IsInAggressiveLockingMode() || tx.AggressiveLockingKeys() != nil || tx.IsInAggressiveLockingStage([]byte(k("k5"))) {
				t.Fatal("stage still open")
			}
			must(t, tx.Rollback(ctx))
			checkLocked(t, c, p, map[string]bool{"k1": false, "k2": false, "k5": false, "k6": false})
		}
	})
}

// client-go: integration_tests/2pc_test.go TestAggressiveLockingSwitchPrimary. A
// retried attempt prefers the previous primary; when it chooses another one, the
// previous attempt's locks it takes again are locked again (their primary changes) and
// the others are rolled back. A primary chosen before the stage never changes.
func TestAggressiveLockingSwitchPrimary(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, _ := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		k := func(s string) string { return p + s }
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, k("k1"))
		mustLock(t, tx, k("k2"))
		checkPrimary(t, c, p, "k1", "k1")
		checkPrimary(t, c, p, "k2", "k1")

		// Primary unchanged: k1 is kept, no request.
		must(t, tx.RetryAggressiveLocking(ctx))
		before := spy.count()
		mustLock(t, tx, k("k1"))
		if spy.count() != before {
			t.Fatal("kept primary locked again")
		}
		mustLock(t, tx, k("k3"))
		checkPrimary(t, c, p, "k1", "k1")
		checkPrimary(t, c, p, "k3", "k1")

		// Primary changed, not among the previous locks.
		must(t, tx.RetryAggressiveLocking(ctx))
		mustLock(t, tx, k("k4"))
		mustLock(t, tx, k("k5"))
		checkPrimary(t, c, p, "k4", "k4")
		checkPrimary(t, c, p, "k5", "k4")
		checkLocked(t, c, p, map[string]bool{"k2": false})

		// Primary changed, among the previous locks: k5 is locked again as the primary.
		must(t, tx.RetryAggressiveLocking(ctx))
		before = spy.count()
		mustLock(t, tx, k("k5"))
		if spy.count() != before+1 {
			t.Fatal("k5 not locked again under the new primary")
		}
		mustLock(t, tx, k("k6"))
		checkPrimary(t, c, p, "k5", "k5")
		checkPrimary(t, c, p, "k6", "k5")
		checkLocked(t, c, p, map[string]bool{"k1": false, "k3": false})

		// The wanted primary was locked two attempts ago: those locks are gone by now.
		must(t, tx.RetryAggressiveLocking(ctx))
		mustLock(t, tx, k("k7"))
		must(t, tx.RetryAggressiveLocking(ctx))
		mustLock(t, tx, k("k6"))
		mustLock(t, tx, k("k5"))
		checkPrimary(t, c, p, "k5", "k6")
		checkPrimary(t, c, p, "k6", "k6")

		must(t, tx.CancelAggressiveLocking(ctx))
		if l := locksIn(t, c, p); len(l) != 0 {
			t.Fatalf("locks left after cancel: %v", l)
		}
		must(t, tx.Rollback(ctx))

		// A primary chosen before the stage stays.
		tx = beginPessimistic(t, c)
		mustLock(t, tx, k("k1"), k("k2"))
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, k("k2"))
		mustLock(t, tx, k("k3"))
		checkPrimary(t, c, p, "k3", "k1")
		must(t, tx.RetryAggressiveLocking(ctx))
		before = spy.count()
		mustLock(t, tx, k("k3"))
		mustLock(t, tx, k("k4"))
		if spy.count() != before+1 {
			t.Fatal("k3 should be kept")
		}
		checkPrimary(t, c, p, "k3", "k1")
		checkPrimary(t, c, p, "k4", "k1")
		must(t, tx.CancelAggressiveLocking(ctx))
		checkLocked(t, c, p, map[string]bool{"k1": true, "k2": true, "k3": false, "k4": false})
		must(t, tx.Rollback(ctx))
		checkLocked(t, c, p, map[string]bool{"k1": false, "k2": false})
	})
}

// A lock of the previous attempt that may have expired (the attempt began at least
// PessimisticLockTTL ago) is taken again (client-go: mayAggressiveLockingLastLockedKeysExpire).
func TestAggressiveLockingRelocksNearTTL(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, _ := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, p+"a", p+"b")
		must(t, tx.RetryAggressiveLocking(ctx))
		tx.mu.Lock()
		tx.agg.lastStart = time.Now().Add(-tx.c.cfg.PessimisticLockTTL) // as if the attempt ran that long
		tx.mu.Unlock()
		before := spy.count()
		mustLock(t, tx, p+"a", p+"b")
		if n := spy.count() - before; n == 0 {
			t.Fatal("locks near their TTL were kept")
		}
		must(t, tx.DoneAggressiveLocking(ctx))
		checkLocked(t, c, p, map[string]bool{"a": true, "b": true})
	})
}

// client-go: integration_tests/2pc_test.go TestAggressiveLockingLoadValueOptionChanges.
// A retried call that asks for more than the kept lock read (existence, then the value)
// locks the key again, unless the lock was taken with conflict, which read the newest
// value anyway.
func TestAggressiveLockingLoadValueOptionChanges(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		for _, withConflict := range []bool{false, true} {
			spy := &lockSpy{}
			c, other := aggTarget(t, tg, spy, nil)
			ctx := testCtx(t)
			p := prefix(t)
			k1, k2 := p+"k1", p+"k2"
			put(t, other, k2, "v0")
			tx := beginPessimistic(t, c)
			mustLock(t, tx, p+"k0") // fixes the primary
			must(t, tx.StartAggressiveLocking())
			var conflictTS uint64
			if withConflict {
				spy.beforeLock(c, k1, func() error { // k1 written, then deleted
					if _, err := commitBy(ctx, other, k1, "x"); err != nil {
						return err
					}
					_, err := commitBy(ctx, other, k1, "")
					return err
				})
				spy.beforeLock(c, k2, func() (err error) {
					conflictTS, err = commitBy(ctx, other, k2, "v2")
					return err
				})
			} else {
				put(t, other, k2, "v2")
			}
			mustLock(t, tx, k1)
			mustLock(t, tx, k2)
			spy.failed(t)
			if withConflict {
				got := tx.AggressiveLockingKeys()
				if len(got) != 2 || got[0].ConflictTS == 0 || got[1].ConflictTS != conflictTS ||
					got[1].ForUpdateTS != conflictTS || tx.pess.forUpdateTS < conflictTS {
					t.Fatalf("locks with conflict: %+v (for-update ts %d), want conflict at %d", got, tx.pess.forUpdateTS, conflictTS)
				}
			}

			must(t, tx.RetryAggressiveLocking(ctx))
			before := spy.count()
			for _, key := range []string{k1, k2} {
				must(t, tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(key)))
			}
			sent := spy.count() - before
			if (withConflict && sent != 0) || (!withConflict && sent != 2) {
				t.Fatalf("conflict %v: %d requests for existence", withConflict, sent)
			}
			if e, ok := tx.pess.known[k1]; !ok || e {
				t.Fatalf("k1 existence %v %v", e, ok)
			}
			if e, ok := tx.pess.known[k2]; !ok || !e {
				t.Fatalf("k2 existence %v %v", e, ok)
			}
			for _, l := range tx.AggressiveLockingKeys() {
				if l.ConflictTS != 0 {
					t.Fatalf("a kept lock still reports its conflict: %+v", l)
				}
			}

			must(t, tx.RetryAggressiveLocking(ctx))
			before = spy.count()
			vals := map[string][]byte{}
			for _, key := range []string{k1, k2} {
				must(t, tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(key)))
			}
			if n := spy.count() - before; n != 2 {
				t.Fatalf("conflict %v: %d requests for values", withConflict, n)
			}
			if _, ok := vals[k1]; ok || string(vals[k2]) != "v2" {
				t.Fatalf("values %q", vals)
			}
			// Asking for the same again needs nothing new.
			must(t, tx.RetryAggressiveLocking(ctx))
			before = spy.count()
			vals = map[string][]byte{}
			must(t, tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(k1), []byte(k2)))
			if n := spy.count() - before; n != 0 || string(vals[k2]) != "v2" {
				t.Fatalf("%d requests, values %q", n, vals)
			}
			must(t, tx.CancelAggressiveLocking(ctx))
			must(t, tx.Rollback(ctx))
		}
	})
}

// A lock with conflict kept by the retry answers ReturnValues with the value it read.
func TestAggressiveLockingConflictValueKept(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, other := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		spy.beforeLock(c, p+"k", func() error { _, err := commitBy(ctx, other, p+"k", "new"); return err })
		mustLock(t, tx, p+"k")
		spy.failed(t)
		if v, ok := tx.pess.values[p+"k"]; ok {
			t.Fatalf("value %q recorded without ReturnValues", v)
		}
		must(t, tx.RetryAggressiveLocking(ctx))
		before := spy.count()
		vals := map[string][]byte{}
		must(t, tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(p+"k")))
		if spy.count() != before || string(vals[p+"k"]) != "new" {
			t.Fatalf("values %q after %d requests", vals, spy.count()-before)
		}
		if v, err := tx.Get(ctx, []byte(p+"k")); err != nil || string(v) != "new" {
			t.Fatalf("get %q %v", v, err)
		}
		must(t, tx.DoneAggressiveLocking(ctx))
		mustSet(t, tx, p+"k", "mine")
		must(t, tx.Commit(ctx))
		if get(t, c, p+"k") != "mine" {
			t.Fatal("value")
		}
	})
}
