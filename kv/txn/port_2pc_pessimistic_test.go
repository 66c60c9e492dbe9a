package txn

// Ports of client-go integration_tests/2pc_test.go, continued: pessimistic TTL and
// primary rules, commit failures and the later cases (see port_2pc_test.go).

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/memcluster"
)

// client-go: integration_tests/2pc_test.go TestElapsedTTL (and TestRetryPushTTL's rule):
// a pessimistic lock's TTL counts the time the transaction has already lived, so a
// lock taken late (after a long statement or a long wait) does not expire early.
func TestPortPessimisticElapsedTTL(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	var ttl atomic.Uint64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if req, ok := r.Body.(*kvrpcpb.PessimisticLockRequest); ok {
			ttl.Store(req.LockTtl)
		}
		return nil
	})
	tx := beginPessimistic(t, c)
	time.Sleep(100 * time.Millisecond)
	if err := tx.LockKeys(ctx, []byte(p+"key")); err != nil {
		t.Fatal(err)
	}
	base := uint64(c.cfg.PessimisticLockTTL.Milliseconds())
	if got := ttl.Load(); got < base+100 {
		t.Fatalf("lock TTL %d ms, want at least %d + 100", got, base)
	}
}

// client-go: integration_tests/2pc_test.go TestPessimisticLockPrimary. A multi-key lock
// call locks its primary first and the other keys only once the primary is held: while
// the primary waits for another transaction's lock, the other keys are not requested,
// so a third transaction can take them.
func TestPortPessimisticLockPrimaryFirst(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"b")
	cd := c.Cluster().Codec()
	holder := beginPessimistic(t, c)
	if err := holder.LockKeys(ctx, []byte(p+"a")); err != nil {
		t.Fatal(err)
	}
	waiter := beginPessimistic(t, c)
	var sawA, sawB atomic.Bool
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if req, ok := r.Body.(*kvrpcpb.PessimisticLockRequest); ok && req.StartVersion == waiter.StartTS() {
			for _, m := range req.Mutations {
				switch {
				case bytes.Equal(m.Key, cd.EncodeKey([]byte(p+"a"))):
					sawA.Store(true)
				case bytes.Equal(m.Key, cd.EncodeKey([]byte(p+"b"))):
					sawB.Store(true)
				}
			}
		}
		return nil
	})
	done := async(func() error {
		return lockWith(ctx, waiter, LockWait{Kind: LockWaitTimeout, Timeout: 300 * time.Millisecond}, p+"a", p+"b")
	})
	waitFor(t, "the waiter's primary request", sawA.Load)
	other := beginPessimistic(t, c)
	if err := lockWith(ctx, other, LockWait{Kind: LockWaitNoWait}, p+"b"); err != nil {
		t.Fatalf("b taken while the waiter's primary waits: %v", err)
	}
	if err := <-done; !errors.Is(err, kv.ErrLockWaitTimeout) {
		t.Fatalf("waiter: %v", err)
	}
	if sawB.Load() {
		t.Fatal("the secondary was requested before the primary was held")
	}
}

// client-go: integration_tests/2pc_test.go TestAcquireFalseTimeoutLock. A secondary
// pessimistic lock outlives its own TTL while the heartbeat keeps the primary alive:
// another transaction neither resolves it (no-wait fails at once) nor gets it within a
// bounded wait.
func TestPortAcquireFalseTimeoutLock(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.PessimisticLockTTL = 600 * time.Millisecond })
	ctx := testCtx(t)
	p := prefix(t)
	tx := beginPessimistic(t, c)
	if err := tx.LockKeys(ctx, []byte(p+"k1")); err != nil {
		t.Fatal(err)
	}
	if err := tx.LockKeys(ctx, []byte(p+"k2")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * c.cfg.PessimisticLockTTL / 2) // the secondary's own TTL runs out
	o := beginPessimistic(t, c)
	if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, p+"k2"); !errors.Is(err, kv.ErrLockNoWait) {
		t.Fatalf("no-wait: %v", err)
	}
	if err := lockWith(ctx, o, LockWait{Kind: LockWaitTimeout, Timeout: 200 * time.Millisecond}, p+"k2"); !errors.Is(err, kv.ErrLockWaitTimeout) {
		t.Fatalf("bounded wait: %v", err)
	}
	mustSet(t, tx, p+"k2", "v")
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the holder lost its lock: %v", err)
	}
}

// client-go: integration_tests/2pc_test.go TestFailCommitPrimaryRegionError and
// TestFailCommitPrimaryKeyError. A primary commit that TiKV definitely did not apply —
// region errors until the ctx ends, or a key error — fails the commit with an ordinary
// error (not kv.ErrUndetermined), and the transaction's locks are rolled back. (An
// RPC failure is undetermined: TestUndeterminedPrimaryCommit.)
func TestPortCommitPrimaryDefiniteErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		region bool // region errors from memcluster; else a key error from the interceptor
	}{{"region-error", true}, {"key-error", false}} {
		t.Run(tc.name, func(t *testing.T) {
			tg := testcluster.Memory(t, memclusterOpts())
			var on atomic.Bool
			var refused atomic.Int64
			c := open(t, tg, twoPhase, intercept("commit-key-error", func(ctx context.Context, inv *rpc.Invocation, next rpc.Invoker) (any, error) {
				if _, ok := inv.Request.(*kvrpcpb.CommitRequest); ok && on.Load() && !tc.region {
					refused.Add(1)
					return &kvrpcpb.CommitResponse{Error: &kvrpcpb.KeyError{
						TxnLockNotFound: &kvrpcpb.TxnLockNotFound{}}}, nil
				}
				return next(ctx, inv)
			}))
			tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
				if r.Method == "KvCommit" && on.Load() && tc.region {
					refused.Add(1)
					return &memcluster.Fault{RegionError: &errorpb.Error{Message: "not leader",
						NotLeader: &errorpb.NotLeader{RegionId: r.Context.GetRegionId()}}}
				}
				return nil
			})
			p := prefix(t)
			ctx, cancel := context.WithTimeout(testCtx(t), 500*time.Millisecond)
			defer cancel()
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustSet(t, tx, p+"a", "a1")
			on.Store(true)
			err = tx.Commit(ctx)
			on.Store(false)
			if err == nil || kv.IsUndetermined(err) || errors.Is(err, kv.ErrUndetermined) {
				t.Fatalf("commit: %v", err)
			}
			if refused.Load() == 0 {
				t.Fatal("no commit was refused")
			}
			if locked(tg, c, p+"a") || get(t, c, p+"a") != "" {
				t.Fatal("the failed transaction left a lock or a value")
			}
		})
	}
}

// client-go: integration_tests/2pc_test.go TestIllegalTso. A transaction whose start ts
// PD cannot have handed out (kv.MaxTS, the range TiKV reserves above MaxInt64, or a ts
// in the future) is refused when it begins, before it could prewrite and then wait
// for a commit ts above its start ts that would never come.
func TestPortIllegalStartTS(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	p := prefix(t)
	future := kv.ComposeTS(kv.PhysicalMs(ts(t, c))+int64(time.Hour/time.Millisecond), 0)
	for _, start := range []uint64{math.MaxUint64, math.MaxInt64, future} {
		ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
		tx, err := c.Begin(ctx, WithStartTS(start))
		if err == nil {
			mustSet(t, tx, p+"name", "aa", p+"age", "12")
			err = tx.Commit(ctx)
		}
		cancel()
		if !errors.Is(err, kv.ErrInvalidReadTS) && !errors.Is(err, kv.ErrFutureTSRead) {
			t.Fatalf("start ts %d: %v", start, err)
		}
		if locked(tg, c, p+"name") || get(t, c, p+"name") != "" {
			t.Fatalf("start ts %d: the refused transaction wrote", start)
		}
	}
}

// client-go: integration_tests/2pc_test.go TestAggressiveLockingResetTTLManager,
// TestAggressiveLockingKeepAliveAfterMultiLockKeysOperation and
// TestAggressiveLockingResetPrimaryAndTTLManagerAfterExit. A primary chosen inside an
// aggressive locking stage is kept alive by the heartbeat: after Done the stage's locks
// outlive their own TTL (also when a retry moved the primary). Cancel gives the primary
// up and stops its heartbeat; the next lock chooses a new primary, whose heartbeat
// starts.
func TestPortAggressiveLockingHeartbeat(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.PessimisticLockTTL = 600 * time.Millisecond })
	ctx := testCtx(t)
	cd := c.Cluster().Codec()
	var mu sync.Mutex
	beats := map[string]int{}        // heartbeats by primary (wire key)
	primaries := map[string]string{} // lock request primary by wire key locked
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		mu.Lock()
		defer mu.Unlock()
		switch req := r.Body.(type) {
		case *kvrpcpb.TxnHeartBeatRequest:
			beats[string(req.PrimaryLock)]++
		case *kvrpcpb.PessimisticLockRequest:
			for _, m := range req.Mutations {
				primaries[string(m.Key)] = string(req.PrimaryLock)
			}
		}
		return nil
	})
	beatsOf := func(k string) int {
		mu.Lock()
		defer mu.Unlock()
		return beats[string(cd.EncodeKey([]byte(k)))]
	}
	primaryOf := func(k string) string {
		mu.Lock()
		defer mu.Unlock()
		pk, _ := cd.DecodeKey([]byte(primaries[string(cd.EncodeKey([]byte(k)))]))
		return string(pk)
	}
	outlivesTTL := func(t *testing.T, keys ...string) {
		t.Helper()
		time.Sleep(5 * c.cfg.PessimisticLockTTL / 2)
		o := beginPessimistic(t, c)
		for _, k := range keys {
			if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, k); !errors.Is(err, kv.ErrLockNoWait) {
				t.Fatalf("%s expired: %v", k, err)
			}
		}
		_ = o.Rollback(ctx)
	}

	for _, tc := range []struct {
		name           string
		retried, moved bool
	}{{"first-attempt", false, false}, {"retried", true, false}, {"retried-primary-moved", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := prefix(t)
			tx := beginPessimistic(t, c)
			if err := tx.StartAggressiveLocking(); err != nil {
				t.Fatal(err)
			}
			if tc.retried {
				last := p + "k1"
				if tc.moved {
					last = p + "k0"
				}
				if err := tx.LockKeys(ctx, []byte(last)); err != nil {
					t.Fatal(err)
				}
				if err := tx.RetryAggressiveLocking(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range []string{"k1", "k2"} {
				if err := tx.LockKeys(ctx, []byte(p+k)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.DoneAggressiveLocking(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.moved && locked(tg, c, p+"k0") {
				t.Fatal("the previous attempt's primary is still locked")
			}
			if got := primaryOf(p + "k2"); got != p+"k1" {
				t.Fatalf("k2 locked with primary %q", got)
			}
			outlivesTTL(t, p+"k1", p+"k2")
			if beatsOf(p+"k1") == 0 {
				t.Fatal("no heartbeat for the primary")
			}
			mustSet(t, tx, p+"k1", "v")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("cancel", func(t *testing.T) {
		p := prefix(t)
		tx := beginPessimistic(t, c)
		if err := tx.StartAggressiveLocking(); err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeys(ctx, []byte(p+"k1")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a heartbeat of the stage's primary", func() bool { return beatsOf(p+"k1") > 0 })
		if err := tx.CancelAggressiveLocking(ctx); err != nil {
			t.Fatal(err)
		}
		after := beatsOf(p + "k1")
		if locked(tg, c, p+"k1") {
			t.Fatal("cancelled stage left its lock")
		}
		if err := tx.LockKeys(ctx, []byte(p+"k3")); err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeys(ctx, []byte(p+"k4")); err != nil {
			t.Fatal(err)
		}
		if got := primaryOf(p + "k4"); got != p+"k3" {
			t.Fatalf("after cancel, k4 locked with primary %q", got)
		}
		outlivesTTL(t, p+"k3", p+"k4")
		if beatsOf(p+"k1") != after {
			t.Fatal("the given-up primary is still kept alive")
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// client-go: integration_tests/2pc_test.go TestAggressiveLockingInsert (the kept-lock
// case is TestAggressiveLockingInsertKeptKey). In a stage, the lock of an inserted key
// (with CheckExistence, as for an insert statement) checks that the key does not exist:
// it fails with *kv.KeyExistsError for a key that exists, whether the transaction locked it before the stage or not, or a newer
// transaction wrote it just before the request; a key a newer transaction deleted is
// locked with conflict; after a retry at a newer for-update ts, the written key fails as
// existing and the deleted one is locked.
func TestPortAggressiveLockingInsert(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, other := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k1", "v1", p+"k3", "v3", p+"k6", "v6", p+"k8", "v8")
		tx := beginPessimistic(t, c)
		if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true}, []byte(p+"k1"), []byte(p+"k2")); err != nil {
			t.Fatal(err)
		}
		insert := func(k string) error {
			if err := tx.Insert([]byte(p+k), []byte("new")); err != nil {
				return err
			}
			// As an insert statement locks: asking for existence, so that a key the
			// transaction already holds is checked too.
			return tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(p+k))
		}
		exists := func(k string) {
			t.Helper()
			var ke *kv.KeyExistsError
			if err := insert(k); !errors.As(err, &ke) {
				t.Fatalf("insert %s: %v, want *kv.KeyExistsError", k, err)
			}
		}
		if err := tx.StartAggressiveLocking(); err != nil {
			t.Fatal(err)
		}
		cp := tx.Checkpoint()
		exists("k1") // locked before the stage
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		if err := insert("k2"); err != nil { // locked before the stage, absent
			t.Fatal(err)
		}
		cp = tx.Checkpoint()
		exists("k3")
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		if err := insert("k4"); err != nil {
			t.Fatal(err)
		}

		// Another transaction deletes k8 just before its lock request: locked with
		// conflict at that commit.
		var conflictTS uint64
		spy.beforeLock(c, p+"k8", func() (err error) {
			conflictTS, err = commitBy(ctx, other, p+"k8", "")
			return err
		})
		// Another transaction writes k7 just before its lock request. client-go gets a
		// write conflict there and TiDB retries the statement, which then finds the key;
		// our LockKeys retries a write conflict itself at a fresh for-update ts, so the
		// caller gets that final answer.
		spy.beforeLock(c, p+"k7", func() error {
			_, err := commitBy(ctx, other, p+"k7", "v7")
			return err
		})
		cp = tx.Checkpoint()
		exists("k7")
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		stmt := tx.Checkpoint() // the statement that inserts k8 (and retries)
		if err := insert("k8"); err != nil {
			t.Fatalf("insert k8 deleted after the for-update ts: %v", err)
		}
		spy.failed(t)
		var got uint64
		for _, l := range tx.AggressiveLockingKeys() {
			if string(l.Key) == p+"k8" {
				got = l.ConflictTS
			}
		}
		if got == 0 || got != conflictTS {
			t.Fatalf("k8 locked with conflict ts %d, want %d", got, conflictTS)
		}

		// The statement runs again at a newer for-update ts, its writes undone first.
		if err := tx.RollbackTo(stmt); err != nil {
			t.Fatal(err)
		}
		if err := tx.RetryAggressiveLocking(ctx); err != nil {
			t.Fatal(err)
		}
		cp = tx.Checkpoint()
		exists("k7")
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		if err := insert("k8"); err != nil {
			t.Fatalf("retried insert of k8: %v", err)
		}
		if err := tx.CancelAggressiveLocking(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// client-go: integration_tests/2pc_test.go TestPushPessimisticLock. While a
// pessimistic transaction's primary is still a pessimistic lock, a secondary already
// prewritten does not block readers: the reader pushes the primary's min commit ts and
// reads the old version. The writer then commits above the pushed ts.
func TestPortReadPushesPessimisticPrimary(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"b")
	cd := c.Cluster().Codec()
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	var prewroteB atomic.Bool
	tg.Mem.AddHook(func(hctx context.Context, r *memcluster.Request) *memcluster.Fault {
		req, ok := r.Body.(*kvrpcpb.PrewriteRequest)
		if !ok {
			return nil
		}
		for _, m := range req.Mutations {
			switch {
			case bytes.Equal(m.Key, cd.EncodeKey([]byte(p+"a"))):
				select { // hold the primary's prewrite
				case <-release:
				case <-hctx.Done():
				}
			case bytes.Equal(m.Key, cd.EncodeKey([]byte(p+"b"))):
				prewroteB.Store(true)
			}
		}
		return nil
	})
	tx := beginPessimistic(t, c)
	if err := tx.LockKeys(ctx, []byte(p+"a"), []byte(p+"b")); err != nil {
		t.Fatal(err)
	}
	mustSet(t, tx, p+"a", "v1", p+"b", "v2")
	done := async(func() error { return tx.Commit(ctx) })
	waitFor(t, "the secondary's prewrite", func() bool {
		_, l := tg.Mem.Versions(cd.EncodeKey([]byte(p + "b")))
		return prewroteB.Load() && l
	})
	readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Snapshot(ts(t, c)).Get(readCtx, []byte(p+"b")); !isNotFound(err) {
		t.Fatalf("read over the prewritten secondary: %v", err)
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if get(t, c, p+"b") != "v2" {
		t.Fatal("commit lost")
	}
}

// client-go: integration_tests/2pc_test.go TestAggressiveLockingLockOnlyIfExists. In a
// stage, a LockOnlyIfExists call over a key another transaction wrote just before the
// request locks it and returns the new value; over a key deleted just before, it locks
// nothing. (client-go returns a write conflict for the deleted key and leaves the retry
// to TiDB; our single-key LockOnlyIfExists call uses the normal wake-up mode and
// retries the conflict at a fresh for-update ts itself, see
// TestAggressiveLockingWakeUpMode.)
func TestPortAggressiveLockingLockOnlyIfExists(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		spy := &lockSpy{}
		c, other := aggTarget(t, tg, spy, nil)
		ctx := testCtx(t)
		p := prefix(t)
		k := p + "k1"
		for _, val := range []string{"v1", ""} { // written, then deleted, just before the lock
			tx := beginPessimistic(t, c)
			if err := tx.LockKeys(ctx, []byte(p+"k0")); err != nil { // the primary
				t.Fatal(err)
			}
			if err := tx.StartAggressiveLocking(); err != nil {
				t.Fatal(err)
			}
			spy.beforeLock(c, k, func() error {
				_, err := commitBy(ctx, other, k, val)
				return err
			})
			vals := map[string][]byte{}
			err := tx.LockKeysWithOptions(ctx, LockOptions{LockOnlyIfExists: true, ReturnValues: true, Values: vals}, []byte(k))
			spy.failed(t)
			if err != nil {
				t.Fatalf("value %q: %v", val, err)
			}
			inStage := tx.IsInAggressiveLockingStage([]byte(k))
			if val != "" && (string(vals[k]) != val || !inStage || (tg.Mem != nil && !locked(tg, c, k))) {
				t.Fatalf("written key: values %q, in stage %v", vals, inStage)
			}
			if val == "" && (len(vals) != 0 || inStage) {
				t.Fatalf("deleted key: values %q, in stage %v", vals, inStage)
			}
			if err := tx.CancelAggressiveLocking(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// client-go: integration_tests/2pc_test.go TestResolveMixed. A large transaction
// crashed leaving optimistic locks and a pessimistic lock in one region, its primary
// gone: resolving one of the optimistic locks rolls the transaction back region-wide,
// which removes the pessimistic lock too, so another transaction locks that key at once.
func TestPortResolveMixed(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	cd := c.Cluster().Codec()
	var regionWide atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if req, ok := r.Body.(*kvrpcpb.ResolveLockRequest); ok && len(req.Keys) == 0 {
			regionWide.Add(1)
		}
		return nil
	})
	start := ts(t, c)
	// The primary "pk" is never written (the crashed owner lost it).
	rawPrewrite(t, c, start, crashed{primary: p + "pk", ttl: 1, txnSize: 1000}, p+"o1", "v1", p+"o2", "v2")
	req := &kvrpcpb.PessimisticLockRequest{Context: &kvrpcpb.Context{},
		Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: cd.EncodeKey([]byte(p + "pess"))}},
		PrimaryLock: cd.EncodeKey([]byte(p + "pk")), StartVersion: start, ForUpdateTs: start, LockTtl: 1, WaitTimeout: -1}
	if resp, err := region.Send[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse](ctx,
		c.Cluster().Sender(), []byte(p+"pess"), req, nil); err != nil || len(resp.GetErrors()) > 0 {
		t.Fatalf("pessimistic lock: %v %v", err, resp.GetErrors())
	}
	pastTTL()
	if _, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"o1")); !isNotFound(err) {
		t.Fatalf("read o1: %v", err)
	}
	// The read leaves the cleanup to the background (TXN-16): wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range []string{"o1", "o2", "pess"} {
		for regionWide.Load() == 0 || locked(tg, c, p+k) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still locked (region-wide resolves: %d)", k, regionWide.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	o := beginPessimistic(t, c)
	if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, p+"pess"); err != nil {
		t.Fatal(err)
	}
}
