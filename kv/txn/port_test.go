package txn

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// client-go: integration_tests/1pc_test.go Test1PCIsolation and
// integration_tests/async_commit_test.go TestRepeatableRead: a transaction that began
// before a 1PC / async commit does not see it, one that begins after does.
func TestOnePCAndAsyncCommitIsolation(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		for _, tc := range []struct {
			name string
			opts []TxnOption
		}{
			{"1pc", []TxnOption{WithOnePC(true)}},
			{"async", []TxnOption{WithAsyncCommit(true)}},
			{"async-pessimistic", []TxnOption{WithAsyncCommit(true), WithPessimistic()}},
		} {
			p := prefix(t) + tc.name
			if err := commitPairs(t, c, tc.opts, p+"k", "v1"); err != nil {
				t.Fatal(err)
			}
			tx1, _ := c.Begin(ctx, tc.opts...)
			if v, err := tx1.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
				t.Fatalf("%s: tx1 read %q %v", tc.name, v, err)
			}
			mustSet(t, tx1, p+"k", "v2")
			for i := 0; i < 10; i++ { // move the TSO on, as the client-go test does
				ts(t, c)
			}
			tx2, _ := c.Begin(ctx, tc.opts...)
			if v, err := tx2.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
				t.Fatalf("%s: tx2 read %q %v", tc.name, v, err)
			}
			if err := tx1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if v, err := tx2.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
				t.Fatalf("%s: tx2 read after commit %q %v", tc.name, v, err)
			}
			_ = tx2.Rollback(ctx)
			if get(t, c, p+"k") != "v2" {
				t.Fatalf("%s: tx3 does not see the commit", tc.name)
			}
			if v, err := c.Snapshot(tx1.CommitTS()-1).Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
				t.Fatalf("%s: below commit ts %q %v", tc.name, v, err)
			}
		}
	})
}

// client-go: integration_tests/1pc_test.go Test1PCLinearizability and
// integration_tests/async_commit_test.go TestAsyncCommitLinearizability: of two
// transactions, the one that commits first gets the smaller commit ts, even though TiKV
// chooses it (the min commit ts is a fresh timestamp).
func TestOnePCAndAsyncCommitLinearizability(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		for _, opt := range []TxnOption{WithOnePC(true), WithAsyncCommit(true)} {
			p := prefix(t)
			t1, _ := c.Begin(ctx, opt)
			t2, _ := c.Begin(ctx, opt)
			mustSet(t, t1, p+"a", "a1")
			mustSet(t, t2, p+"b", "b1")
			if err := t2.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := t1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if t2.CommitTS() >= t1.CommitTS() {
				t.Fatalf("commit ts %d (first) >= %d (second)", t2.CommitTS(), t1.CommitTS())
			}
		}
	})
}

// client-go: integration_tests/async_commit_test.go TestPessimisticTxnResolveAsyncCommitLock:
// a pessimistic transaction's prewrite meets a crashed writer's async-commit lock on a
// key it did not lock; it waits for the lock to expire, resolves it through the
// secondaries check and commits.
func TestPessimisticResolvesAsyncCommitLock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		rawPrewrite(t, c, ts(t, c), crashed{primary: p + "k", ttl: 300, async: true}, p+"k", "crashed")
		tx := beginPessimistic(t, c)
		if err := tx.LockKeys(ctx, []byte(p+"k1")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"k", "mine")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"k") != "mine" {
			t.Fatal("value")
		}
	})
}

// client-go: integration_tests/lock_test.go TestStartHeartBeatAfterLockingPrimary: the
// heartbeat starts once the primary is locked; when the call that chose the primary
// fails, the primary is given up (its lock rolled back) and the next call picks a new
// one whose TTL is kept alive.
func TestPessimisticPrimaryReset(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg, func(cfg *Config) { cfg.PessimisticLockTTL = time.Second })
		ctx := testCtx(t)
		p := prefix(t)
		blocker := beginPessimistic(t, c)
		if err := blocker.LockKeys(ctx, []byte(p+"b")); err != nil {
			t.Fatal(err)
		}
		tx := beginPessimistic(t, c, WithLockWait(LockWait{Kind: LockWaitNoWait}))
		if err := tx.LockKeys(ctx, []byte(p+"a"), []byte(p+"b")); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("lock a, b: %v", err)
		}
		if tx.pess.primary != nil || tx.pess.keeper != nil {
			t.Fatal("primary kept after the failed first lock")
		}
		o := beginPessimistic(t, c)
		if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, p+"a"); err != nil {
			t.Fatalf("a still locked: %v", err)
		}
		if err := o.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeys(ctx, []byte(p+"d"), []byte(p+"c")); err != nil {
			t.Fatal(err)
		}
		if string(tx.pess.primary) != p+"c" {
			t.Fatalf("primary %q", tx.pess.primary)
		}
		time.Sleep(2500 * time.Millisecond)
		o2 := beginPessimistic(t, c)
		if err := lockWith(ctx, o2, LockWait{Kind: LockWaitNoWait}, p+"c"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("new primary not kept alive: %v", err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// client-go: integration_tests/2pc_test.go TestPessimisticPrewriteRequest: a pessimistic
// prewrite carries the for-update ts and a pessimistic action for every mutation:
// DO_PESSIMISTIC_CHECK for locked keys, SKIP_PESSIMISTIC_CHECK for the others.
func TestPessimisticPrewriteRequest(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c)
		if err := tx.LockKeys(ctx, []byte(p+"locked")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"locked", "1", p+"unlocked", "2")
		fu := tx.pess.forUpdateTS
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		pw, _, _ := w.snapshot()
		if len(pw) != 1 || pw[0].ForUpdateTs != fu || fu <= tx.StartTS() || len(pw[0].PessimisticActions) != 2 ||
			pw[0].PessimisticActions[0] != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK ||
			pw[0].PessimisticActions[1] != kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK ||
			pw[0].MinCommitTs <= fu {
			t.Fatalf("prewrite %+v", pw)
		}
	})
}

// client-go: integration_tests/2pc_test.go TestUnsetPrimaryKey: a failed first lock
// (an inserted key exists) leaves no primary, and the transaction commits other keys.
// client-go also drops the insert's not-exists mark, as TiDB's statement rollback does;
// we leave the buffer alone and the caller rolls the statement back with RollbackTo.
func TestPessimisticUnsetPrimaryKey(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"key", "key")
		tx := beginPessimistic(t, c)
		cp := tx.Checkpoint()
		if err := tx.Insert([]byte(p+"key"), []byte("key")); err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeys(ctx, []byte(p+"key")); !isKeyExists(err) {
			t.Fatalf("lock of an existing inserted key: %v", err)
		}
		if tx.pess.primary != nil {
			t.Fatal("primary kept")
		}
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"key2", "key2")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"key") != "key" || get(t, c, p+"key2") != "key2" {
			t.Fatal("values")
		}
	})
}

// client-go: integration_tests/assertion_test.go TestPrewriteAssertion and
// TestFastAssertion (testAssertionImpl): in optimistic, pessimistic-unlocked and
// pessimistic-locked-with-existence transactions, true assertions commit and false ones
// fail with the key, the assertion and, when TiKV found it, the existing version.
func TestAssertionMatrix(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		for _, mode := range []struct {
			name                   string
			pessimistic, lockKeys  bool
			level                  AssertionLevel
			existingFromPrewriteTS bool
		}{
			{"optimistic-strict", false, false, AssertionStrict, true},
			{"pessimistic-strict", true, false, AssertionStrict, true},
			{"pessimistic-locked-strict", true, true, AssertionStrict, false},
			{"pessimistic-locked-fast", true, true, AssertionFast, false},
		} {
			p := prefix(t) + mode.name + "/"
			k := func(i int) string { return fmt.Sprintf("%sk%02d", p, i) }
			tx, _ := c.Begin(ctx)
			mustSet(t, tx, k(1), "v1", k(3), "v3", k(7), "v7")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			prepStart, prepCommit := tx.StartTS(), tx.CommitTS()
			do := func(last kv.Assertion, keys ...string) (uint64, error) {
				opts := []TxnOption{WithAssertionLevel(mode.level)}
				if mode.pessimistic {
					opts = append(opts, WithPessimistic())
				}
				tx, _ := c.Begin(ctx, opts...)
				var bs [][]byte
				for _, key := range keys {
					bs = append(bs, []byte(key))
				}
				if mode.lockKeys {
					if err := tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, bs...); err != nil {
						t.Fatal(err)
					}
				} else if mode.pessimistic {
					if err := tx.LockKeys(ctx, []byte(p+"primary")); err != nil {
						t.Fatal(err)
					}
				}
				for _, key := range keys {
					mustSet(t, tx, key, "v"+key)
				}
				if err := tx.Assert([]byte(keys[len(keys)-1]), last); err != nil {
					t.Fatal(err)
				}
				return tx.StartTS(), tx.Commit(ctx)
			}
			check := func(err error, startTS uint64, key string, a kv.Assertion, found bool) {
				t.Helper()
				var af *kv.AssertionFailedError
				if !errors.As(err, &af) || string(af.Key) != key || af.Assertion != a || af.StartTS != startTS {
					t.Fatalf("%s: %v", mode.name, err)
				}
				wantStart, wantCommit := uint64(0), uint64(0)
				if found && mode.existingFromPrewriteTS {
					wantStart, wantCommit = prepStart, prepCommit
				}
				if af.ExistingStartTS != wantStart || af.ExistingCommitTS != wantCommit {
					t.Fatalf("%s: existing %d/%d, want %d/%d", mode.name, af.ExistingStartTS, af.ExistingCommitTS, wantStart, wantCommit)
				}
			}
			if _, err := do(kv.AssertExist, k(1)); err != nil {
				t.Fatalf("%s: %v", mode.name, err)
			}
			if _, err := do(kv.AssertNotExist, k(2)); err != nil {
				t.Fatalf("%s: %v", mode.name, err)
			}
			st, err := do(kv.AssertNotExist, k(3))
			check(err, st, k(3), kv.AssertNotExist, true)
			st, err = do(kv.AssertExist, k(4))
			check(err, st, k(4), kv.AssertExist, false)
			st, err = do(kv.AssertNotExist, k(5), k(6), k(7))
			check(err, st, k(7), kv.AssertNotExist, true)
			st, err = do(kv.AssertExist, k(8), k(9), k(10))
			check(err, st, k(10), kv.AssertExist, false)
		}
	})
}

// client-go: integration_tests/assertion_test.go TestAssertionErrorLessPriorToOtherError:
// when a transaction's pessimistic lock was resolved by another transaction, its commit
// fails with that error rather than with the assertion failure the same prewrite found.
func TestAssertionLosesToOtherErrors(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg, func(cfg *Config) { cfg.PessimisticLockTTL = 200 * time.Millisecond })
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c, WithAssertionLevel(AssertionStrict))
		if err := tx.LockKeys(ctx, []byte(p+"kr")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"kr", "rv1", p+"ki", "iv1")
		_ = tx.Assert([]byte(p+"kr"), kv.AssertNotExist)
		_ = tx.Assert([]byte(p+"ki"), kv.AssertNotExist)
		tx.mu.Lock()
		tx.stopKeeper() // as client-go's CloseTTLManager: let the lock expire
		tx.mu.Unlock()
		time.Sleep(400 * time.Millisecond)
		tx2 := beginPessimistic(t, c, WithAssertionLevel(AssertionStrict), WithLockWait(LockWait{Kind: LockWaitForever}))
		if err := tx2.LockKeys(ctx, []byte(p+"kr")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx2, p+"kr", "rv2", p+"ki", "iv2")
		_ = tx2.Assert([]byte(p+"kr"), kv.AssertNotExist)
		_ = tx2.Assert([]byte(p+"ki"), kv.AssertNotExist)
		if err := tx2.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		err := tx.Commit(ctx)
		var af *kv.AssertionFailedError
		if err == nil || errors.As(err, &af) {
			t.Fatalf("commit after losing the lock: %v", err)
		}
	})
}

// An assertion failure in one region's prewrite loses to a write conflict in another's
// (client-go: integration_tests/assertion_test.go TestAssertionErrorLessPriorToOtherError,
// noBatch cases); alone, it fails the commit and nothing is written.
func TestAssertionLosesAcrossRegions(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		put(t, c, p+"a", "exists")
		for _, conflict := range []bool{true, false} {
			tx, _ := c.Begin(ctx, WithAssertionLevel(AssertionStrict))
			mustSet(t, tx, p+"a", "x", p+"z", "y")
			_ = tx.Assert([]byte(p+"a"), kv.AssertNotExist)
			if conflict {
				put(t, c, p+"z", "winner")
			}
			err := tx.Commit(ctx)
			var wc *kv.WriteConflictError
			var af *kv.AssertionFailedError
			if conflict && !errors.As(err, &wc) || !conflict && !errors.As(err, &af) {
				t.Fatalf("conflict %v: %v", conflict, err)
			}
		}
		if get(t, c, p+"a") != "exists" || get(t, c, p+"z") != "winner" {
			t.Fatal("a failed commit wrote data")
		}
	})
}

// A client-side assertion failure (from pessimistic lock results) turns async commit
// off, lets the prewrite run and fails the commit with it afterwards, writing nothing
// (client-go: 2pc.go checkAssertionByPessimisticLockResults, stashed error).
func TestAssertionByLockResultsStashed(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c, WithAsyncCommit(true), WithOnePC(true))
		if err := tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(p+"absent")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"absent", "v")
		_ = tx.Assert([]byte(p+"absent"), kv.AssertExist)
		var af *kv.AssertionFailedError
		if err := tx.Commit(ctx); !errors.As(err, &af) {
			t.Fatalf("commit: %v", err)
		}
		pw, commits, _ := w.snapshot()
		for _, r := range pw {
			if r.UseAsyncCommit || r.TryOnePc {
				t.Fatal("fast path despite a known assertion failure")
			}
		}
		if len(pw) == 0 || commits != 0 || get(t, c, p+"absent") != "" {
			t.Fatalf("%d prewrites, %d commits", len(pw), commits)
		}
	})
}

// A pessimistic transaction's Insert of a key it did not lock is checked in prewrite
// with DO_CONSTRAINT_CHECK (client-go's NeedConstraintCheckInPrewrite, TXN-25): a key
// inserted by another transaction meanwhile fails the commit.
func TestPessimisticLazyUniqueness(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		for _, taken := range []bool{false, true} {
			tx := beginPessimistic(t, c)
			if err := tx.LockKeys(ctx, []byte(p+"row")); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("%sunique%v", p, taken)
			if err := tx.Insert([]byte(key), []byte("mine")); err != nil {
				t.Fatal(err)
			}
			mustSet(t, tx, p+"row", "r")
			if taken {
				put(t, c, key, "theirs")
			}
			w.reset()
			err := tx.Commit(ctx)
			var wc *kv.WriteConflictError
			if taken && !(isKeyExists(err) || errors.As(err, &wc)) || !taken && err != nil {
				t.Fatalf("taken %v: %v", taken, err)
			}
			pw, _, _ := w.snapshot()
			found := false
			for _, r := range pw {
				for i, m := range r.Mutations {
					if string(c.decodeKey(m.Key)) == key {
						found = r.PessimisticActions[i] == kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK
					}
				}
			}
			if !found {
				t.Fatalf("taken %v: no constraint check in prewrite", taken)
			}
		}
	})
}
