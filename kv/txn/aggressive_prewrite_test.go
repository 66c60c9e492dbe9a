package txn

// Aggressive locking stages: the prewrite side (ForUpdateTsConstraints) and raw helpers.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// client-go: integration_tests/lock_test.go TestPrewriteCheckForUpdateTS, the passing
// case. Locks taken in a stage (with conflict, without, and at a later for-update ts)
// are committed with a prewrite that asks TiKV to check each lock's for-update ts; the
// commit ts is above the conflicting write, which stays visible just below it. Under
// async commit and 1PC too.
func TestAggressiveLockingPrewriteConstraints(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		for _, proto := range []struct {
			name  string
			async bool
			onePC bool
		}{{"2pc", false, false}, {"async", true, false}, {"1pc", true, true}} {
			spy := &lockSpy{}
			w := &wire{}
			c, other := aggTarget(t, tg, spy, w)
			ctx := testCtx(t)
			p := prefix(t)
			k2, k3, k4 := p+"k2", p+"k3", p+"k4"
			tx := beginPessimistic(t, c, WithAsyncCommit(proto.async), WithOnePC(proto.onePC))
			must(t, tx.StartAggressiveLocking())
			var conflictTS uint64
			spy.beforeLock(c, k2, func() (err error) {
				conflictTS, err = commitBy(ctx, other, k2, "theirs")
				return err
			})
			mustLock(t, tx, k2) // with conflict
			spy.failed(t)
			mustLock(t, tx, k3)
			mustLock(t, tx, k4)
			locks := tx.AggressiveLockingKeys()
			if len(locks) != 3 || locks[0].ConflictTS != conflictTS || locks[1].ConflictTS != 0 {
				t.Fatalf("%s: stage locks %+v", proto.name, locks)
			}
			want := map[string]uint64{}
			for _, l := range locks {
				want[string(c.cl.Codec().EncodeKey(l.Key))] = l.ForUpdateTS
			}
			mustSet(t, tx, k2, "mine", k3, "mine")
			must(t, tx.DoneAggressiveLocking(ctx))
			w.reset()
			must(t, tx.Commit(ctx))
			prewrites, _, _ := w.snapshot()
			got := map[string]uint64{}
			for _, pw := range prewrites {
				for _, cn := range pw.GetForUpdateTsConstraints() {
					got[string(pw.GetMutations()[cn.GetIndex()].GetKey())] = cn.GetExpectedForUpdateTs()
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: constraints %v, want %v", proto.name, got, want)
			}
			for key, ts := range want {
				if got[key] != ts {
					t.Fatalf("%s: constraints %v, want %v", proto.name, got, want)
				}
			}
			if tx.CommitTS() <= conflictTS {
				t.Fatalf("%s: commit ts %d not above the conflict at %d", proto.name, tx.CommitTS(), conflictTS)
			}
			if get(t, c, k2) != "mine" || get(t, c, k3) != "mine" {
				t.Fatalf("%s: values", proto.name)
			}
			snap := c.Snapshot(tx.CommitTS() - 1)
			if v, err := snap.Get(ctx, []byte(k2)); err != nil || string(v) != "theirs" {
				t.Fatalf("%s: below the commit: %q %v", proto.name, v, err)
			}
		}
	})
}

// rawLock sends one force-lock request as tx would have sent it at forUpdateTS: a stale
// request that TiKV receives late.
func rawLock(t *testing.T, c *Client, tx *Txn, key string, forUpdateTS uint64) *kvrpcpb.PessimisticLockResponse {
	t.Helper()
	ctx := testCtx(t)
	loc, err := c.cl.Cache().Locate(ctx, []byte(key))
	must(t, err)
	cd := c.cl.Codec()
	req := &kvrpcpb.PessimisticLockRequest{Context: &kvrpcpb.Context{},
		Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: cd.EncodeKey([]byte(key))}},
		PrimaryLock: cd.EncodeKey(tx.pess.primary), StartVersion: tx.startTS, ForUpdateTs: forUpdateTS,
		LockTtl: 20000, WaitTimeout: -1, WakeUpMode: kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock}
	resp, err := region.SendToRegion[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse](ctx,
		c.cl.Sender(), c.newBackoffer(10*time.Second), loc, req, nil)
	must(t, err)
	return resp
}

// client-go: integration_tests/lock_test.go TestPrewriteCheckForUpdateTS, the failing
// case. A stage lock is lost, another transaction writes the key, and a stale lock
// request of ours is granted with conflict: the lock is there again, at another
// for-update ts. Prewrite's constraint makes TiKV refuse it, so the other write is not
// overwritten.
func TestAggressiveLockingPrewriteRefusesReplacedLock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, other := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, p+"k1")
		mustLock(t, tx, p+"k2")
		lockTS := tx.AggressiveLockingKeys()[1].ForUpdateTS
		must(t, tx.DoneAggressiveLocking(ctx))
		mustSet(t, tx, p+"k1", "mine", p+"k2", "mine")

		tx.mu.Lock()
		tx.pessimisticRollback(ctx, [][]byte{[]byte(p + "k2")}) // the lock is lost
		tx.mu.Unlock()
		theirs := put(t, other, p+"k2", "theirs")
		resp := rawLock(t, c, tx, p+"k2", lockTS) // the stale request arrives
		if len(resp.GetErrors()) > 0 || len(resp.GetResults()) != 1 || resp.GetResults()[0].GetLockedWithConflictTs() != theirs {
			t.Fatalf("stale lock request: %v", resp)
		}
		if err := tx.Commit(ctx); err == nil {
			t.Fatal("commit over a replaced lock succeeded")
		}
		if get(t, c, p+"k2") != "theirs" || get(t, c, p+"k1") != "" {
			t.Fatal("values after the refused commit")
		}
	})
}

// In a stage, single-key calls use force-lock, multi-key calls the normal wake-up mode
// (client-go: lockKeys), as does a single-key LockOnlyIfExists call.
func TestAggressiveLockingWakeUpMode(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, _ := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		force := kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		tx := beginPessimistic(t, c)
		mustLock(t, tx, p+"x")
		if spy.last().GetWakeUpMode() == force {
			t.Fatal("force-lock outside a stage")
		}
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, p+"a")
		if spy.last().GetWakeUpMode() != force {
			t.Fatal("single key: not force-lock")
		}
		mustLock(t, tx, p+"b", p+"c")
		if spy.last().GetWakeUpMode() == force {
			t.Fatal("several keys: force-lock")
		}
		must(t, tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, LockOnlyIfExists: true}, []byte(p+"d")))
		if spy.last().GetWakeUpMode() == force {
			t.Fatal("LockOnlyIfExists: force-lock")
		}
		must(t, tx.DoneAggressiveLocking(ctx))
		must(t, tx.Rollback(ctx))

		// WithFairLocking alone: the same choice per call, outside stages.
		fair := beginPessimistic(t, c, WithFairLocking())
		mustLock(t, fair, p+"f1", p+"f2")
		if spy.last().GetWakeUpMode() == force {
			t.Fatal("fair locking, several keys: force-lock")
		}
		mustLock(t, fair, p+"f3")
		if spy.last().GetWakeUpMode() != force {
			t.Fatal("fair locking, single key: not force-lock")
		}
		must(t, fair.Rollback(ctx))
	})
}

// A failed lock call in a stage rolls back the keys of the call that the previous
// attempt had locked (client-go rolls back all keys of the call); Done rolls back the
// rest of the previous attempt.
func TestAggressiveLockingFailedCall(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, other := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		holder := beginPessimistic(t, other)
		mustLock(t, holder, p+"held")
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, p+"a", p+"b")
		must(t, tx.RetryAggressiveLocking(ctx))
		err := lockWith(ctx, tx, LockWait{Kind: LockWaitNoWait}, p+"a", p+"held")
		if !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("lock: %v", err)
		}
		if tx.IsInAggressiveLockingStage([]byte(p + "a")) {
			t.Fatal("a still in the stage")
		}
		checkLocked(t, c, p, map[string]bool{"a": false, "b": true, "held": true})
		must(t, tx.DoneAggressiveLocking(ctx))
		checkLocked(t, c, p, map[string]bool{"a": false, "b": false})
		if tx.pess.primary != nil || tx.pess.locked != 0 {
			t.Fatalf("primary %q, %d locked", tx.pess.primary, tx.pess.locked)
		}
		must(t, holder.Rollback(ctx))
		must(t, tx.Rollback(ctx))
	})
}

// Misuse is reported with typed errors; Commit refuses a stage that holds locks of its
// current attempt, and cancels one that does not; Rollback ends a stage with the rest.
func TestAggressiveLockingMisuse(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		opt, err := c.Begin(ctx)
		must(t, err)
		if err := opt.StartAggressiveLocking(); !errors.Is(err, ErrNotPessimistic) {
			t.Fatalf("optimistic: %v", err)
		}
		tx := beginPessimistic(t, c)
		for name, f := range map[string]func(context.Context) error{
			"retry": tx.RetryAggressiveLocking, "cancel": tx.CancelAggressiveLocking, "done": tx.DoneAggressiveLocking,
		} {
			if err := f(ctx); !errors.Is(err, ErrAggressiveLockingNotStarted) {
				t.Fatalf("%s without a stage: %v", name, err)
			}
		}
		must(t, tx.StartAggressiveLocking())
		if err := tx.StartAggressiveLocking(); !errors.Is(err, ErrAggressiveLockingStarted) {
			t.Fatalf("second start: %v", err)
		}
		mustLock(t, tx, p+"a")
		mustSet(t, tx, p+"a", "1")
		if err := tx.Commit(ctx); !errors.Is(err, ErrAggressiveLockingPending) {
			t.Fatalf("commit with a pending stage: %v", err)
		}
		// After a retry the current attempt holds nothing: Commit cancels the stage,
		// which rolls back a; the write of a is then committed without its lock.
		must(t, tx.RetryAggressiveLocking(ctx))
		must(t, tx.Commit(ctx))
		if tx.IsInAggressiveLockingMode() || get(t, c, p+"a") != "1" {
			t.Fatal("commit after the retry")
		}
		if err := tx.StartAggressiveLocking(); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("start after commit: %v", err)
		}
		if err := tx.DoneAggressiveLocking(ctx); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("done after commit: %v", err)
		}

		tx = beginPessimistic(t, c)
		mustLock(t, tx, p+"b")
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, p+"c")
		must(t, tx.Rollback(ctx))
		if tx.IsInAggressiveLockingMode() {
			t.Fatal("stage open after rollback")
		}
		checkLocked(t, c, p, map[string]bool{"b": false, "c": false})
	})
}

// A key locked in a stage and locked again later (for its value), in a later stage or
// outside one, moves its lock to a newer for-update ts: prewrite checks that one.
func TestAggressiveLockingRelockMovesConstraint(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		w := &wire{}
		c, _ := aggTarget(t, tg, spy, w)
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		mustLock(t, tx, p+"j", p+"k")
		must(t, tx.DoneAggressiveLocking(ctx))
		must(t, tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true}, []byte(p+"j")))
		must(t, tx.StartAggressiveLocking())
		must(t, tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true}, []byte(p+"k")))
		if tx.IsInAggressiveLockingStage([]byte(p + "k")) {
			t.Fatal("a key held before the stage joined it")
		}
		must(t, tx.DoneAggressiveLocking(ctx))
		want := map[string]uint64{}
		for _, l := range locksIn(t, c, p) {
			want[string(l.GetKey())] = l.GetLockForUpdateTs()
		}
		mustSet(t, tx, p+"j", "1", p+"k", "1")
		w.reset()
		must(t, tx.Commit(ctx))
		prewrites, _, _ := w.snapshot()
		got := map[string]uint64{}
		for _, pw := range prewrites {
			for _, cn := range pw.GetForUpdateTsConstraints() {
				got[string(pw.GetMutations()[cn.GetIndex()].GetKey())] = cn.GetExpectedForUpdateTs()
			}
		}
		if len(want) != 2 || len(got) != 2 {
			t.Fatalf("locks %v, constraints %v", want, got)
		}
		for k, ts := range want {
			if got[k] != ts {
				t.Fatalf("locks %v, constraints %v", want, got)
			}
		}
	})
}

// client-go: integration_tests/2pc_test.go TestAggressiveLockingInsert, the kept-lock
// case: a key kept from the previous attempt that is known to exist fails an Insert's
// lock at once, and a primary the call chose is given up.
func TestAggressiveLockingInsertKeptKey(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, other := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, other, p+"k1", "v1")
		tx := beginPessimistic(t, c)
		must(t, tx.StartAggressiveLocking())
		must(t, tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(p+"k1")))
		must(t, tx.RetryAggressiveLocking(ctx))
		tx.mu.Lock()
		must(t, tx.mem.UpdateFlags([]byte(p+"k1"), memdb.FlagPresumeKNE, 0)) // as Insert does
		tx.mu.Unlock()
		before := spy.count()
		err := tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(p+"k1"))
		var ke *kv.KeyExistsError
		if !errors.As(err, &ke) || spy.count() != before {
			t.Fatalf("insert over a kept existing key: %v after %d requests", err, spy.count()-before)
		}
		if tx.pess.primary != nil {
			t.Fatalf("primary %q kept after the failed call", tx.pess.primary)
		}
		must(t, tx.CancelAggressiveLocking(ctx))
		checkLocked(t, c, p, map[string]bool{"k1": false})
	})
}
