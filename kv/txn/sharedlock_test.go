package txn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// eachShared runs fn on memcluster only: the devcluster's storage (TiDB 8.5 unistore)
// does not know shared locks (Op_SharedPessimisticLock, Op_SharedLock), which TiKV added
// later; memcluster models TiKV's (see docs/txn.md, TXN-9).
func eachShared(t *testing.T, fn func(t *testing.T, tg testcluster.Target)) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("the devcluster's unistore (TiDB 8.5) does not know shared locks")
		}
		fn(t, tg)
	})
}

func lockShared(ctx context.Context, tx *Txn, w LockWait, keys ...string) error {
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	return tx.LockKeysWithOptions(ctx, LockOptions{Wait: w, Shared: true}, bs...)
}

// sharedHolder begins a pessimistic transaction that locks primary exclusively and then
// key in share mode.
func sharedHolder(t *testing.T, c *Client, primary, key string) *Txn {
	t.Helper()
	ctx := testCtx(t)
	tx := beginPessimistic(t, c)
	if err := tx.LockKeys(ctx, []byte(primary)); err != nil {
		t.Fatal(err)
	}
	if err := lockShared(ctx, tx, LockWait{}, key); err != nil {
		t.Fatalf("shared lock of %s: %v", key, err)
	}
	return tx
}

// rpcLog records the lock operations and prewrites a memcluster target receives.
type rpcLog struct {
	mu        sync.Mutex
	lockOps   map[string][]kvrpcpb.Op // wire key -> ops of PessimisticLock mutations
	prewrites []*kvrpcpb.PrewriteRequest
}

func logRPCs(tg testcluster.Target) *rpcLog {
	l := &rpcLog{lockOps: map[string][]kvrpcpb.Op{}}
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch b := r.Body.(type) {
		case *kvrpcpb.PessimisticLockRequest:
			for _, m := range b.Mutations {
				l.lockOps[string(m.Key)] = append(l.lockOps[string(m.Key)], m.Op)
			}
		case *kvrpcpb.PrewriteRequest:
			l.prewrites = append(l.prewrites, b)
		}
		return nil
	})
	return l
}

// prewriteOf returns the op and pessimistic action of the prewrite of wire key by txn
// startTS, and whether the request asked for async commit or 1PC.
func (l *rpcLog) prewriteOf(key []byte, startTS uint64) (op kvrpcpb.Op, act kvrpcpb.PrewriteRequest_PessimisticAction, fast, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.prewrites {
		if r.StartVersion != startTS {
			continue
		}
		for i, m := range r.Mutations {
			if string(m.Key) == string(key) {
				if i < len(r.PessimisticActions) {
					act = r.PessimisticActions[i]
				}
				return m.Op, act, r.UseAsyncCommit || r.TryOnePc, true
			}
		}
	}
	return 0, 0, false, false
}

// scanHolders returns the start ts of the shared holders ScanLock reports on key.
func scanHolders(t *testing.T, c *Client, key string) []uint64 {
	t.Helper()
	cd := c.Cluster().Codec()
	enc := cd.EncodeKey([]byte(key))
	req := &kvrpcpb.ScanLockRequest{Context: &kvrpcpb.Context{}, MaxVersion: ts(t, c), StartKey: enc,
		EndKey: append(append([]byte{}, enc...), 0)}
	resp, err := region.Send[*kvrpcpb.ScanLockRequest, *kvrpcpb.ScanLockResponse](testCtx(t), c.Cluster().Sender(),
		[]byte(key), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, l := range resp.GetLocks() {
		if l.GetLockType() != kvrpcpb.Op_SharedLock {
			t.Fatalf("not a shared lock: %v", l)
		}
		for _, h := range l.GetSharedLockInfos() {
			out = append(out, h.GetLockVersion())
		}
	}
	return out
}

// rawSharedLock takes a shared pessimistic lock on key for an abandoned transaction
// whose primary is primary (no heartbeat).
func rawSharedLock(t *testing.T, c *Client, startTS uint64, primary, key string, ttl uint64) {
	t.Helper()
	cd := c.Cluster().Codec()
	req := &kvrpcpb.PessimisticLockRequest{Context: &kvrpcpb.Context{},
		Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_SharedPessimisticLock, Key: cd.EncodeKey([]byte(key))}},
		PrimaryLock: cd.EncodeKey([]byte(primary)), StartVersion: startTS, ForUpdateTs: startTS, LockTtl: ttl, WaitTimeout: -1}
	resp, err := region.Send[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse](testCtx(t), c.Cluster().Sender(),
		[]byte(key), req, nil)
	if err != nil || len(resp.GetErrors()) > 0 {
		t.Fatalf("raw shared lock: %v %v", err, resp.GetErrors())
	}
}

// client-go: integration_tests/shared_lock_test.go TestSharedLockCommitAndRollback and
// txn_test.go TestLockKeys (PessimisticShared): two transactions hold a shared lock on
// one key at once and both commit; the lock request is Op_SharedPessimisticLock, the
// prewrite Op_SharedLock with the pessimistic check, and neither uses async commit or
// 1PC although both are enabled (the control transaction, without a shared lock, does).
// Reads are not blocked by the shared locks, and the data is unchanged.
func TestSharedLockHoldersCommit(t *testing.T) {
	eachShared(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg) // async commit and 1PC are on by default
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "v")
		log := logRPCs(tg)
		a := sharedHolder(t, c, p+"a", p+"k")
		b := sharedHolder(t, c, p+"b", p+"k")
		if h := scanHolders(t, c, p+"k"); !slices.Equal(h, []uint64{a.StartTS(), b.StartTS()}) {
			t.Fatalf("holders %v, want %d and %d", h, a.StartTS(), b.StartTS())
		}
		if got := get(t, c, p+"k"); got != "v" {
			t.Fatalf("read under shared locks: %q", got)
		}
		for _, tx := range []*Txn{a, b} {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if locked(tg, c, p+"k") || get(t, c, p+"k") != "v" {
			t.Fatal("shared locks left, or the value changed")
		}
		enc := c.Cluster().Codec().EncodeKey([]byte(p + "k"))
		log.mu.Lock()
		ops := log.lockOps[string(enc)]
		log.mu.Unlock()
		if len(ops) != 2 || ops[0] != kvrpcpb.Op_SharedPessimisticLock || ops[1] != kvrpcpb.Op_SharedPessimisticLock {
			t.Fatalf("lock ops %v", ops)
		}
		for _, tx := range []*Txn{a, b} {
			op, act, fast, ok := log.prewriteOf(enc, tx.StartTS())
			if !ok || op != kvrpcpb.Op_SharedLock || act != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK || fast {
				t.Fatalf("prewrite of txn %d: %v %v fast=%v found=%v", tx.StartTS(), op, act, fast, ok)
			}
		}
		// Control: the same transaction without a shared lock takes the fast path.
		ctl := beginPessimistic(t, c)
		if err := ctl.LockKeys(ctx, []byte(p+"c")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, ctl, p+"c", "x")
		if err := ctl.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, fast, _ := log.prewriteOf(c.Cluster().Codec().EncodeKey([]byte(p+"c")), ctl.StartTS()); !fast {
			t.Fatal("control transaction used neither async commit nor 1PC")
		}
	})
}

// client-go: integration_tests/shared_lock_test.go TestSharedLockBlockExclusiveLock and
// TestExclusiveLockBlockSharedLock: an exclusive lock request waits for every shared
// holder (no-wait fails with kv.ErrLockNoWait) and gets the lock once the last holder has
// left; a shared request waits for an exclusive lock the same way.
func TestSharedLockBlocksExclusive(t *testing.T) {
	eachShared(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		a := sharedHolder(t, c, p+"a", p+"k")
		b := sharedHolder(t, c, p+"b", p+"k")
		x := beginPessimistic(t, c)
		if err := x.LockKeys(ctx, []byte(p+"x")); err != nil {
			t.Fatal(err)
		}
		if err := lockWith(ctx, x, LockWait{Kind: LockWaitNoWait}, p+"k"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("exclusive no-wait over shared locks: %v", err)
		}
		done := async(func() error { return lockWith(ctx, x, LockWait{Kind: LockWaitForever}, p+"k") })
		notYet := func(what string) {
			t.Helper()
			select {
			case err := <-done:
				t.Fatalf("exclusive lock granted %s: %v", what, err)
			case <-time.After(300 * time.Millisecond):
			}
		}
		notYet("while two holders remain")
		if err := a.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		notYet("while one holder remains")
		if err := b.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("exclusive lock after the holders left: %v", err)
		}
		// Now x holds k exclusively: a shared request waits for it.
		y := beginPessimistic(t, c)
		if err := y.LockKeys(ctx, []byte(p+"y")); err != nil {
			t.Fatal(err)
		}
		if err := lockShared(ctx, y, LockWait{Kind: LockWaitNoWait}, p+"k"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("shared no-wait over an exclusive lock: %v", err)
		}
		done = async(func() error { return lockShared(ctx, y, LockWait{Kind: LockWaitForever}, p+"k") })
		notYet("while the exclusive lock is held")
		if err := x.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("shared lock after the exclusive holder left: %v", err)
		}
		if err := y.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// client-go: txn_test.go TestLockKeys (PessimisticShared, ...RejectsAggressiveLocking,
// ...RejectsPipelinedTxn) and TestSharedLockUpgrade (GateOffRejectsLocally): the rules
// checked before any request.
func TestSharedLockRules(t *testing.T) {
	eachShared(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		var locks atomic.Int64
		countRPC(tg, "KvPessimisticLock", &locks)

		opt, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = opt.Rollback(ctx) }()
		if err := lockShared(ctx, opt, LockWait{}, p+"k"); !errors.Is(err, ErrNotPessimistic) {
			t.Fatalf("optimistic: %v", err)
		}
		pipe := beginPipelined(t, c, PipelinedOptions{})
		if err := lockShared(ctx, pipe, LockWait{}, p+"k"); !errors.Is(err, ErrPipelinedUnsupported) {
			t.Fatalf("pipelined: %v", err)
		}
		fair := beginPessimistic(t, c, WithFairLocking())
		if err := fair.LockKeys(ctx, []byte(p+"f")); err != nil {
			t.Fatal(err)
		}
		if err := lockShared(ctx, fair, LockWait{}, p+"k"); !errors.Is(err, ErrSharedLockFairLocking) {
			t.Fatalf("fair locking: %v", err)
		}
		staged := beginPessimistic(t, c)
		if err := staged.LockKeys(ctx, []byte(p+"s")); err != nil {
			t.Fatal(err)
		}
		if err := staged.StartAggressiveLocking(); err != nil {
			t.Fatal(err)
		}
		if err := lockShared(ctx, staged, LockWait{}, p+"k"); !errors.Is(err, ErrSharedLockFairLocking) {
			t.Fatalf("aggressive locking stage: %v", err)
		}
		tx := beginPessimistic(t, c)
		before := locks.Load()
		if err := lockShared(ctx, tx, LockWait{}, p+"k"); !errors.Is(err, ErrSharedLockNeedsPrimary) {
			t.Fatalf("no primary: %v", err)
		}
		if locks.Load() != before {
			t.Fatal("a refused shared lock sent a request")
		}

		// No upgrade: neither an exclusive lock nor a write of a shared-locked key.
		if err := tx.LockKeys(ctx, []byte(p+"a")); err != nil {
			t.Fatal(err)
		}
		if err := lockShared(ctx, tx, LockWait{}, p+"k"); err != nil {
			t.Fatal(err)
		}
		if err := lockShared(ctx, tx, LockWait{}, p+"k"); err != nil { // again: nothing to do
			t.Fatal(err)
		}
		before = locks.Load()
		if err := tx.LockKeys(ctx, []byte(p+"k")); !errors.Is(err, ErrSharedLockUpgrade) {
			t.Fatalf("upgrade by lock: %v", err)
		}
		if locks.Load() != before {
			t.Fatal("a refused upgrade sent a request")
		}
		mustSet(t, tx, p+"k", "v")
		if err := tx.Commit(ctx); !errors.Is(err, ErrSharedLockUpgrade) {
			t.Fatalf("upgrade by write: %v", err)
		}
		if locked(tg, c, p+"k") || locked(tg, c, p+"a") {
			t.Fatal("the refused commit left locks")
		}

		// A shared request for a key the transaction holds exclusively keeps it
		// exclusive (and may read its value); the key can then be written.
		w := beginPessimistic(t, c)
		if err := w.LockKeys(ctx, []byte(p+"a"), []byte(p+"k")); err != nil {
			t.Fatal(err)
		}
		put(t, c, p+"other", "1")
		vals := map[string][]byte{}
		if err := w.LockKeysWithOptions(ctx, LockOptions{Shared: true, ReturnValues: true, Values: vals}, []byte(p+"k")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, w, p+"k", "w")
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"k") != "w" {
			t.Fatal("write lost")
		}
	})
}

// client-go: integration_tests/shared_lock_test.go TestResolveSharedLock and
// TestPrewriteResolveExpiredSharedLock: holders left by dead transactions (a shared
// pessimistic lock and a prewritten shared lock, both expired) are resolved one by one
// by a locker that meets the shared lock, while a live holder stays; a writer resolves
// an expired holder and commits. Reads are never blocked by them.
func TestSharedLockResolvedAfterCrash(t *testing.T) {
	eachShared(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "v")
		dead := ts(t, c)
		rawPessimisticLock(t, c, dead, p+"d", 100)
		rawSharedLock(t, c, dead, p+"d", p+"k", 100)
		crashedTS := ts(t, c)
		rawPrewrite(t, c, crashedTS, crashed{primary: p + "e", ttl: 100}, p+"e", "e")
		rawPrewrite(t, c, crashedTS, crashed{primary: p + "e", ttl: 100, op: kvrpcpb.Op_SharedLock}, p+"k", "")
		live := sharedHolder(t, c, p+"l", p+"k")
		pastTTL()
		if got := get(t, c, p+"k"); got != "v" {
			t.Fatalf("read: %q", got)
		}
		x := beginPessimistic(t, c)
		if err := x.LockKeys(ctx, []byte(p+"x")); err != nil {
			t.Fatal(err)
		}
		if err := lockWith(ctx, x, LockWait{Kind: LockWaitNoWait}, p+"k"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("the live holder must still block: %v", err)
		}
		if h := scanHolders(t, c, p+"k"); !slices.Equal(h, []uint64{live.StartTS()}) {
			t.Fatalf("holders after resolving: %v, want only %d", h, live.StartTS())
		}
		if err := live.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := lockWith(ctx, x, LockWait{Kind: LockWaitNoWait}, p+"k"); err != nil {
			t.Fatal(err)
		}
		if err := x.Rollback(ctx); err != nil {
			t.Fatal(err)
		}

		// A writer (optimistic) meets an expired prewritten shared lock.
		gone := ts(t, c)
		rawPrewrite(t, c, gone, crashed{primary: p + "g", ttl: 100}, p+"g", "g")
		rawPrewrite(t, c, gone, crashed{primary: p + "g", ttl: 100, op: kvrpcpb.Op_SharedLock}, p+"w", "")
		pastTTL()
		put(t, c, p+"w", "new")
		if get(t, c, p+"w") != "new" || locked(tg, c, p+"w") {
			t.Fatal("the writer did not resolve the shared lock")
		}
	})
}

// client-go: integration_tests/shared_lock_test.go TestGCSharedLock and tikv/gc.go
// (SharedLockInfos): the GC sweep resolves every holder of a shared lock: a shared
// pessimistic lock is rolled back, a holder whose primary committed is committed (its
// Lock record written), one whose primary never committed is rolled back.
func TestSharedLockGC(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	put(t, c, p+"k", "v")
	pess := ts(t, c)
	rawPessimisticLock(t, c, pess, p+"a", 600000)
	rawSharedLock(t, c, pess, p+"a", p+"k", 600000)
	committed := ts(t, c)
	rawPrewrite(t, c, committed, crashed{primary: p + "b", ttl: 600000}, p+"b", "b")
	rawPrewrite(t, c, committed, crashed{primary: p + "b", ttl: 600000, op: kvrpcpb.Op_SharedLock}, p+"k", "")
	rawCommit(t, c, committed, ts(t, c), p+"b")
	alive := ts(t, c)
	rawPrewrite(t, c, alive, crashed{primary: p + "c", ttl: 600000}, p+"c", "c")
	rawPrewrite(t, c, alive, crashed{primary: p + "c", ttl: 600000, op: kvrpcpb.Op_SharedLock}, p+"k", "")
	if h := scanHolders(t, c, p+"k"); len(h) != 3 {
		t.Fatalf("holders %v", h)
	}
	if _, err := c.ResolveLocksInRange(testCtx(t), ts(t, c), []byte(p), []byte(p+"~")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c", "k"} {
		if locked(tg, c, p+k) {
			t.Fatalf("%s still locked", k)
		}
	}
	if get(t, c, p+"b") != "b" || get(t, c, p+"c") != "" || get(t, c, p+"k") != "v" {
		t.Fatal("wrong outcome")
	}
}

// The defensive checks that LockKeysWithOptions makes unreachable: a shared-locked
// primary is refused at commit; a holder without a key takes the shared lock's key.
func TestSharedLockDefensiveChecks(t *testing.T) {
	cm := &committer{primary: []byte("k"), muts: []mutation{
		{key: []byte("k"), op: kvrpcpb.Op_SharedLock, flags: memdb.FlagKeyLocked | memdb.FlagKeyLockedShared}}}
	if err := cm.checkSharedLocks(); !errors.Is(err, ErrSharedLockNeedsPrimary) {
		t.Fatalf("shared primary: %v", err)
	}
	c := open(t, testcluster.Memory(t, memclusterOpts()))
	cd := c.Cluster().Codec()
	li := &kvrpcpb.LockInfo{Key: cd.EncodeKey([]byte("k")), LockType: kvrpcpb.Op_SharedLock,
		SharedLockInfos: []*kvrpcpb.LockInfo{{LockVersion: 5, LockType: kvrpcpb.Op_SharedLock, PrimaryLock: cd.EncodeKey([]byte("p"))}}}
	if holderType(li) != kv.LockShared || holderType(li.SharedLockInfos[0]) != kv.LockLock ||
		holderType(&kvrpcpb.LockInfo{LockType: kvrpcpb.Op_SharedPessimisticLock, LockVersion: 5}) != kv.LockPessimistic {
		t.Fatal("holder types (earlier TiKV builds typed holders SharedLock/SharedPessimisticLock)")
	}
	hs := c.sharedHolders(li)
	if len(hs) != 1 || string(hs[0].Key) != "k" || string(hs[0].Primary) != "p" || hs[0].StartTS != 5 || hs[0].Type != kv.LockLock {
		t.Fatalf("holders %+v", hs)
	}
}

// TiKV answers the first exclusive request that meets a shared lock at once, after making
// the lock shrink-only (no new holder may join); that answer is not a wait. An exclusive
// lock with the default wait policy therefore still waits for a holder that leaves within
// TiKV's default wait, and a new shared request meanwhile waits behind the holders.
func TestSharedLockShrinkOnlyWait(t *testing.T) {
	eachShared(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		a := sharedHolder(t, c, p+"a", p+"k")
		x := beginPessimistic(t, c)
		if err := x.LockKeys(ctx, []byte(p+"x")); err != nil {
			t.Fatal(err)
		}
		var xLocks atomic.Int64 // x's lock requests: the second starts after TiKV answered the first
		tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if b, ok := r.Body.(*kvrpcpb.PessimisticLockRequest); ok && b.StartVersion == x.StartTS() {
				xLocks.Add(1)
			}
			return nil
		})
		done := async(func() error { return lockWith(ctx, x, LockWait{}, p+"k") })
		for deadline := time.Now().Add(10 * time.Second); xLocks.Load() < 2; {
			if time.Now().After(deadline) {
				t.Fatal("the exclusive request did not retry after TiKV's immediate answer")
			}
			time.Sleep(5 * time.Millisecond)
		}
		late := beginPessimistic(t, c)
		if err := late.LockKeys(ctx, []byte(p+"l")); err != nil {
			t.Fatal(err)
		}
		if err := lockShared(ctx, late, LockWait{Kind: LockWaitNoWait}, p+"k"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("a new shared lock joined a shrink-only one: %v", err)
		}
		if err := a.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("default wait over a shared lock: %v", err)
		}
		// LockOnlyIfExists is refused with Shared: TiKV locks the key in share mode even
		// when it is absent.
		err := late.LockKeysWithOptions(ctx, LockOptions{Shared: true, ReturnValues: true, LockOnlyIfExists: true}, []byte(p+"absent"))
		if !errors.Is(err, ErrInvalidLockOptions) {
			t.Fatalf("LockOnlyIfExists with Shared: %v", err)
		}
	})
}
