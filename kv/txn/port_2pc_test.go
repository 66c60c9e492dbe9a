package txn

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
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
