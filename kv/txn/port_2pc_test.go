package txn

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

// Ports of client-go integration_tests/2pc_test.go cases that had no test of their own
// (docs/parity.md §2 maps the rest).

// intercept adds an rpc interceptor to the client's chain: fn sees every call and may
// answer it itself instead of calling next.
func intercept(name string, fn func(ctx context.Context, inv *rpc.Invocation, next rpc.Invoker) (any, error)) func(*Config) {
	return func(cfg *Config) {
		cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, rpc.Interceptor{Name: name,
			Wrap: func(next rpc.Invoker) rpc.Invoker {
				return func(ctx context.Context, inv *rpc.Invocation) (any, error) { return fn(ctx, inv, next) }
			}})
	}
}

// hasKey reports whether wire key k is among keys.
func hasKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client-go: integration_tests/2pc_test.go TestDeleteYourWritesTTL,
// TestDeleteYourWriteCauseGhostPrimary, TestDeleteAllYourWrites and
// TestDeleteAllYourWritesWithSFU. A key inserted and deleted again in the transaction is
// only an existence check (no lock), so it must not become the primary: the primary is
// the first key that leaves a lock (a written key, or a key locked by an optimistic
// LockKeys), the heartbeat keeps that key alive, and a reader or writer that meets a
// secondary left locked resolves it through that primary and sees the commit. A
// transaction made only of such checks commits with nothing to lock.
func TestPortDeleteYourWrites(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	var blockSecondary atomic.Pointer[[]byte] // the wire key whose commit is refused
	c := open(t, tg, twoPhase, func(cfg *Config) {
		cfg.HeartbeatSize, cfg.HeartbeatInterval = 1, 10*time.Millisecond
	}, intercept("refuse-secondary", func(ctx context.Context, inv *rpc.Invocation, next rpc.Invoker) (any, error) {
		if req, ok := inv.Request.(*kvrpcpb.CommitRequest); ok {
			if k := blockSecondary.Load(); k != nil && hasKey(req.Keys, *k) {
				// Not applied: the secondary stays locked for others to resolve.
				return &kvrpcpb.CommitResponse{Error: &kvrpcpb.KeyError{Abort: "refused by the test"}}, nil
			}
		}
		return next(ctx, inv)
	}))
	ctx := testCtx(t)
	p := prefix(t)
	cd := c.Cluster().Codec()
	wk := func(s string) []byte { return cd.EncodeKey([]byte(p + s)) }
	split(t, c, p+"c")

	var mu sync.Mutex
	var primaries, heartbeats, statusChecks [][]byte
	hbSeen := make(chan struct{})
	var hbOnce sync.Once
	tg.Mem.AddHook(func(hctx context.Context, r *memcluster.Request) *memcluster.Fault {
		mu.Lock()
		switch req := r.Body.(type) {
		case *kvrpcpb.PrewriteRequest:
			primaries = append(primaries, req.PrimaryLock)
		case *kvrpcpb.TxnHeartBeatRequest:
			heartbeats = append(heartbeats, req.PrimaryLock)
			hbOnce.Do(func() { close(hbSeen) })
		case *kvrpcpb.CheckTxnStatusRequest:
			statusChecks = append(statusChecks, req.PrimaryKey)
		case *kvrpcpb.CommitRequest:
			mu.Unlock()
			// Hold the primary commit until a heartbeat went out for the primary.
			if hasKey(req.Keys, wk("b")) {
				select {
				case <-hbSeen:
				case <-hctx.Done():
				case <-time.After(10 * time.Second):
				}
			}
			return nil
		}
		mu.Unlock()
		return nil
	})

	// Insert then delete "a" (an existence check), write "b" and "c": "b" is the primary.
	k3 := wk("c")
	blockSecondary.Store(&k3)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Insert([]byte(p+"a"), []byte{0}); err != nil {
		t.Fatal(err)
	}
	mustSet(t, tx, p+"b", "1", p+"c", "2")
	if err := tx.Delete([]byte(p + "a")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, pk := range primaries {
		if !bytes.Equal(pk, wk("b")) {
			t.Errorf("prewrite primary %q, want %q", pk, wk("b"))
		}
	}
	if len(heartbeats) == 0 || !bytes.Equal(heartbeats[0], wk("b")) {
		t.Errorf("heartbeats %q, want the primary %q", heartbeats, wk("b"))
	}
	mu.Unlock()
	if !locked(tg, c, p+"c") {
		t.Fatal("the refused secondary is not locked")
	}
	if locked(tg, c, p+"a") {
		t.Fatal("the existence check left a lock")
	}
	blockSecondary.Store(nil)
	// The reader resolves "c" through "b": committed, not rolled back.
	if got := get(t, c, p+"c"); got != "2" {
		t.Fatalf("c = %q after resolution", got)
	}
	mu.Lock()
	if len(statusChecks) == 0 || !bytes.Equal(statusChecks[len(statusChecks)-1], wk("b")) {
		t.Errorf("status checks %q", statusChecks)
	}
	primaries, statusChecks = nil, nil
	mu.Unlock()

	// Optimistic LockKeys ("select for update"): the locked keys leave Op_Lock locks,
	// so "b" is the primary again, and a writer of the left-locked "c" resolves it
	// through "b" before its own prewrite succeeds.
	blockSecondary.Store(&k3)
	tx, _ = c.Begin(ctx)
	if err := tx.Insert([]byte(p+"a"), []byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete([]byte(p + "a")); err != nil {
		t.Fatal(err)
	}
	if err := tx.LockKeys(ctx, []byte(p+"b"), []byte(p+"c")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !locked(tg, c, p+"c") {
		t.Fatal("the refused secondary lock is not there")
	}
	blockSecondary.Store(nil)
	put(t, c, p+"c", "33")
	if got := get(t, c, p+"c"); got != "33" {
		t.Fatalf("c = %q", got)
	}
	mu.Lock()
	for _, pk := range primaries[:1] {
		if !bytes.Equal(pk, wk("b")) {
			t.Errorf("SFU primary %q, want %q", pk, wk("b"))
		}
	}
	if len(statusChecks) == 0 || !bytes.Equal(statusChecks[0], wk("b")) {
		t.Errorf("the writer checked %q, want the primary %q", statusChecks, wk("b"))
	}
	mu.Unlock()

	// Only existence checks: nothing to lock, the commit succeeds and writes nothing.
	tx, _ = c.Begin(ctx)
	for _, k := range []string{"x", "y", "z"} {
		if err := tx.Insert([]byte(p+k), []byte(k)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Delete([]byte(p + k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x", "y", "z"} {
		if locked(tg, c, p+k) || get(t, c, p+k) != "" {
			t.Fatalf("%s written or locked", k)
		}
	}
}

// client-go: integration_tests/2pc_test.go TestCommitOnTiKVDiskFullOpt. A store whose
// disk is almost full refuses writes (DiskFull region error) unless the request allows
// them: with DiskFullAllowedOnAlmostFull the commit goes through, without it the commit
// keeps backing off until its ctx ends and writes nothing.
func TestPortDiskFullOpt(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	p := prefix(t)
	var refused atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch r.Method {
		case "KvPrewrite", "KvCommit":
			if r.Context.GetDiskFullOpt() == kvrpcpb.DiskFullOpt_NotAllowedOnFull {
				refused.Add(1)
				return &memcluster.Fault{RegionError: &errorpb.Error{Message: "disk almost full",
					DiskFull: &errorpb.DiskFull{StoreId: []uint64{r.StoreID}, Reason: "almost full"}}}
			}
		}
		return nil
	})
	if err := commitPairs(t, c, []TxnOption{WithDiskFullOpt(DiskFullAllowedOnAlmostFull)}, p+"a", "a1"); err != nil {
		t.Fatal(err)
	}
	if get(t, c, p+"a") != "a1" || refused.Load() != 0 {
		t.Fatalf("allowed commit: a=%q, refused %d", get(t, c, p+"a"), refused.Load())
	}

	ctx, cancel := context.WithTimeout(testCtx(t), 500*time.Millisecond)
	defer cancel()
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, tx, p+"c", "c1")
	err = tx.Commit(ctx)
	if err == nil || kv.IsUndetermined(err) {
		t.Fatalf("commit on a full disk: %v", err)
	}
	if refused.Load() == 0 || get(t, c, p+"c") != "" || locked(tg, c, p+"c") {
		t.Fatalf("refused %d, c=%q", refused.Load(), get(t, c, p+"c"))
	}
}

// client-go: integration_tests/2pc_test.go TestContextCancel2. Cancelling the caller's
// ctx after Commit returned leaves no secondary uncommitted: 2PC commits the
// secondaries before Commit returns, and async commit's background commit runs on the
// client's ctx, not the caller's.
func TestPortCancelAfterCommit(t *testing.T) {
	for _, mode := range []struct {
		name string
		mod  func(*Config)
	}{{"2pc", twoPhase}, {"async-commit", func(cfg *Config) { cfg.DisableOnePC = true }}} {
		t.Run(mode.name, func(t *testing.T) {
			tg := testcluster.Memory(t, memclusterOpts())
			c := open(t, tg, mode.mod)
			p := prefix(t)
			split(t, c, p+"b")
			ctx, cancel := context.WithCancel(testCtx(t))
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustSet(t, tx, p+"a", "a", p+"b", "b")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			if mode.name == "2pc" && locked(tg, c, p+"b") {
				t.Fatal("secondary left locked by a 2PC commit")
			}
			waitFor(t, "the secondary to be committed", func() bool { return !locked(tg, c, p+"b") })
			if v, _ := tg.Mem.Versions(c.Cluster().Codec().EncodeKey([]byte(p + "b"))); v == 0 {
				t.Fatal("secondary rolled back")
			}
		})
	}
}

// client-go: integration_tests/2pc_test.go TestPrewriteTxnSize. Every prewrite carries
// as TxnSize the number of the transaction's keys in its region (what the lock
// resolver later uses to choose between lite and region-wide resolution), whatever the
// batching within the region.
func TestPortPrewriteTxnSizePerRegion(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	key := func(i byte) string { return p + string([]byte{i}) }
	split(t, c, key(100))
	split := c.Cluster().Codec().EncodeKey([]byte(key(100)))
	type seen struct {
		first []byte
		size  uint64
		n     int
	}
	var mu sync.Mutex
	var reqs []seen
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if req, ok := r.Body.(*kvrpcpb.PrewriteRequest); ok {
			mu.Lock()
			reqs = append(reqs, seen{req.Mutations[0].Key, req.TxnSize, len(req.Mutations)})
			mu.Unlock()
		}
		return nil
	})
	tx, _ := c.Begin(ctx)
	val := make([]byte, 1024)
	for i := byte(50); i < 120; i++ {
		if err := tx.Set([]byte(key(i)), val); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	total := map[uint64]int{}
	for _, r := range reqs {
		want := uint64(50)
		if bytes.Compare(r.first, split) >= 0 {
			want = 20
		}
		if r.size != want {
			t.Errorf("prewrite from %q: TxnSize %d, want %d", r.first, r.size, want)
		}
		total[want] += r.n
	}
	if total[50] != 50 || total[20] != 20 || len(reqs) <= 2 {
		t.Fatalf("%d prewrites, keys per region %v", len(reqs), total)
	}
}

// client-go: integration_tests/2pc_test.go TestPessimisticLockAllowLockWithConflictError.
// In an aggressive locking stage, a lock call that times out waiting fails with
// kv.ErrLockWaitTimeout and leaves nothing in the stage; a region error on the lock
// request is retried by the Sender and the key ends in the stage. For every combination
// of ReturnValues and CheckExistence.
func TestPortAggressiveLockingLockErrors(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	var notLeader atomic.Int64 // region errors still to inject into lock requests
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvPessimisticLock" && notLeader.Add(-1) >= 0 {
			return &memcluster.Fault{RegionError: &errorpb.Error{Message: "not leader",
				NotLeader: &errorpb.NotLeader{RegionId: r.Context.GetRegionId()}}}
		}
		return nil
	})
	for _, returnValues := range []bool{false, true} {
		for _, checkExistence := range []bool{false, true} {
			p := prefix(t)
			k := []byte(p + "key")
			holder := beginPessimistic(t, c)
			if err := holder.LockKeys(ctx, k); err != nil {
				t.Fatal(err)
			}
			tx := beginPessimistic(t, c)
			if err := tx.StartAggressiveLocking(); err != nil {
				t.Fatal(err)
			}
			o := LockOptions{Wait: LockWait{Kind: LockWaitTimeout, Timeout: 10 * time.Millisecond},
				ReturnValues: returnValues, CheckExistence: checkExistence}
			if err := tx.LockKeysWithOptions(ctx, o, k); !errors.Is(err, kv.ErrLockWaitTimeout) {
				t.Fatalf("locked key: %v", err)
			}
			if got := tx.AggressiveLockingKeys(); len(got) != 0 {
				t.Fatalf("failed call left %v in the stage", got)
			}
			if err := holder.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			notLeader.Store(1)
			if err := tx.LockKeysWithOptions(ctx, o, k); err != nil {
				t.Fatalf("after a region error: %v", err)
			}
			if notLeader.Load() >= 0 {
				t.Fatal("no region error was injected")
			}
			got := tx.AggressiveLockingKeys()
			if len(got) != 1 || !bytes.Equal(got[0].Key, k) {
				t.Fatalf("stage keys %v", got)
			}
			if err := tx.CancelAggressiveLocking(ctx); err != nil {
				t.Fatal(err)
			}
			if locked(tg, c, p+"key") {
				t.Fatal("cancelled stage left its lock")
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

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
