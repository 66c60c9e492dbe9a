package txn

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// beginPessimistic begins a pessimistic transaction that is rolled back when the test
// ends unless it finished before.
func beginPessimistic(t testing.TB, c *Client, opts ...TxnOption) *Txn {
	t.Helper()
	tx, err := c.Begin(testCtx(t), append([]TxnOption{WithPessimistic()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

func lockWith(ctx context.Context, tx *Txn, w LockWait, keys ...string) error {
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	return tx.LockKeysWithOptions(ctx, LockOptions{Wait: w}, bs...)
}

// result of a call run in the background.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// A waiter (policy forever) blocks while the holder runs and gets the lock, with the
// holder's value, once the holder commits. TiKV wakes it with a PessimisticRetry write
// conflict; client-go returns that conflict to its caller (lock_test.go
// TestDeadlockReportWaitChain, makeWaitFor: "returns a WriteConflict error
// unconditionally"), our LockKeys answers it with a fresh for-update ts instead.
func TestPessimisticLockWaitForever(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "v0")
		holder := beginPessimistic(t, c)
		if err := holder.LockKeys(ctx, []byte(p+"k")); err != nil {
			t.Fatal(err)
		}
		if !holder.IsPessimistic() {
			t.Fatal("IsPessimistic false")
		}
		waiter := beginPessimistic(t, c, WithLockWait(LockWait{Kind: LockWaitForever}))
		vals := map[string][]byte{}
		done := async(func() error {
			return waiter.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(p+"k"))
		})
		select {
		case err := <-done:
			t.Fatalf("waiter returned while the lock is held: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		mustSet(t, holder, p+"k", "v1")
		if err := holder.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("waiter: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("waiter not woken by the commit")
		}
		if string(vals[p+"k"]) != "v1" {
			t.Fatalf("returned value %q, want v1", vals[p+"k"])
		}
		// The read under the lock wins over the start-ts snapshot (which saw v0).
		if v, err := waiter.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
			t.Fatalf("get after lock = %q %v", v, err)
		}
		mustSet(t, waiter, p+"k", "v2")
		if err := waiter.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"k") != "v2" {
			t.Fatal("waiter's write lost")
		}
	})
}

// client-go: integration_tests/lock_test.go TestLockWaitTimeLimit (no-wait fails at
// once, a 200 ms wait after 200..800 ms), plus the default policy (one TiKV default
// wait) and the clean-up of a failed multi-key call.
func TestPessimisticNoWaitAndTimeout(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		holder := beginPessimistic(t, c)
		if err := holder.LockKeys(ctx, []byte(p+"k")); err != nil {
			t.Fatal(err)
		}
		other := beginPessimistic(t, c)
		start := time.Now()
		if err := lockWith(ctx, other, LockWait{Kind: LockWaitNoWait}, p+"k"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("no-wait: %v", err)
		}
		if d := time.Since(start); d > 900*time.Millisecond { // TiKV's default wait is 1 s
			t.Fatalf("no-wait took %v", d)
		}
		start = time.Now()
		err := lockWith(ctx, other, LockWait{Kind: LockWaitTimeout, Timeout: 200 * time.Millisecond}, p+"k", p+"j")
		if !errors.Is(err, kv.ErrLockWaitTimeout) || kv.IsUndetermined(err) {
			t.Fatalf("timeout: %v", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 1500*time.Millisecond { // client-go: 800 ms; slack for loaded CI
			t.Fatalf("timeout after %v", d)
		}
		// The failed multi-key call left no lock on the key it could take.
		third := beginPessimistic(t, c)
		if err := lockWith(ctx, third, LockWait{Kind: LockWaitNoWait}, p+"j"); err != nil {
			t.Fatalf("j still locked after the failed call: %v", err)
		}
		if err := third.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		// The default policy waits once, TiKV's default wait.
		start = time.Now()
		if err := other.LockKeys(ctx, []byte(p+"k")); !errors.Is(err, kv.ErrLockWaitTimeout) {
			t.Fatalf("default wait: %v", err)
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Fatalf("default wait returned after %v", d)
		}
		if err := holder.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := lockWith(ctx, other, LockWait{Kind: LockWaitNoWait}, p+"k"); err != nil {
			t.Fatalf("after holder's rollback: %v", err)
		}
	})
}

// client-go: integration_tests/lock_test.go TestDeadlockReportWaitChain (case 1,
// 1->0->1): TiKV's detector refuses one request with *kv.DeadlockError carrying the wait
// chain; after that transaction rolls back the other gets its lock. (memcluster lists
// the refused request's edge first, TiKV last, so only the edges are checked.)
func TestPessimisticDeadlock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		forever := LockWait{Kind: LockWaitForever}
		t1 := beginPessimistic(t, c)
		t2 := beginPessimistic(t, c)
		if err := lockWith(ctx, t1, forever, p+"a"); err != nil {
			t.Fatal(err)
		}
		if err := lockWith(ctx, t2, forever, p+"b"); err != nil {
			t.Fatal(err)
		}
		first := async(func() error { return lockWith(ctx, t1, forever, p+"b") })
		time.Sleep(200 * time.Millisecond) // t1 now waits for t2
		second := lockWith(ctx, t2, forever, p+"a")
		var dl *kv.DeadlockError
		var winner <-chan error
		switch {
		case errors.As(second, &dl):
			if err := t2.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			winner = first
		default:
			// The detector may pick the waiting request instead.
			err := <-first
			if !errors.As(err, &dl) {
				t.Fatalf("no deadlock reported: %v / %v", second, err)
			}
			ch := make(chan error, 1)
			ch <- second
			winner = ch
			if err := t1.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if dl.LockTS == 0 || len(dl.LockKey) == 0 {
			t.Fatalf("deadlock error lacks detail: %+v", dl)
		}
		if len(dl.WaitChain) != 2 || (tg.Mem != nil && len(dl.Key) == 0) { // unistore sends no deadlock key
			t.Fatalf("deadlock error lacks detail: %+v", dl)
		}
		// The cycle runs through keys locked by earlier calls: retrying the call alone
		// cannot help.
		if dl.IsRetryable {
			t.Fatal("deadlock over keys of earlier calls marked retryable")
		}
		edges := map[[2]uint64]string{}
		for _, e := range dl.WaitChain {
			edges[[2]uint64{e.TxnTS, e.WaitForTxnTS}] = string(e.Key)
		}
		if edges[[2]uint64{t1.StartTS(), t2.StartTS()}] != p+"b" || edges[[2]uint64{t2.StartTS(), t1.StartTS()}] != p+"a" {
			t.Fatalf("wait chain %+v", dl.WaitChain)
		}
		if dl.IsRetryable != kv.IsRetryable(dl) {
			t.Fatal("IsRetryable and kv.IsRetryable disagree")
		}
		select {
		case err := <-winner:
			if err != nil {
				t.Fatalf("survivor: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("survivor still waiting after the victim rolled back")
		}
	})
}

// Rollback releases every pessimistic lock at once, without waiting for TTLs (checked
// like client-go's lock_test.go checkIsKeyLocked, with a no-wait lock); locking keys
// twice locks them once (client-go: integration_tests/2pc_test.go
// TestPessimisticLockedKeysDedup).
func TestPessimisticRollbackReleasesLocks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		tx := beginPessimistic(t, c)
		if err := tx.LockKeys(ctx, []byte(p+"z"), []byte(p+"a"), []byte(p+"a")); err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeys(ctx, []byte(p+"a"), []byte(p+"z")); err != nil { // already locked: nothing sent
			t.Fatal(err)
		}
		if tx.pess.locked != 2 || string(tx.pess.primary) != p+"a" {
			t.Fatalf("locked %d, primary %q", tx.pess.locked, tx.pess.primary)
		}
		for _, k := range []string{p + "a", p + "z"} {
			o := beginPessimistic(t, c)
			if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, k); !errors.Is(err, kv.ErrLockNoWait) {
				t.Fatalf("%s not locked: %v", k, err)
			}
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		other := beginPessimistic(t, c)
		if err := lockWith(ctx, other, LockWait{Kind: LockWaitNoWait}, p+"a", p+"z"); err != nil {
			t.Fatalf("locks left after rollback: %v", err)
		}
		if err := tx.LockKeys(ctx, []byte(p+"b")); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("lock after rollback: %v", err)
		}
	})
}

// rawPessimisticLock takes a pessimistic lock for an abandoned transaction (no heartbeat).
func rawPessimisticLock(t testing.TB, c *Client, startTS uint64, key string, ttl uint64) {
	t.Helper()
	ctx := testCtx(t)
	enc := c.Cluster().Codec().EncodeKey([]byte(key))
	req := &kvrpcpb.PessimisticLockRequest{Context: &kvrpcpb.Context{},
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: enc}}, PrimaryLock: enc,
		StartVersion: startTS, ForUpdateTs: startTS, LockTtl: ttl, WaitTimeout: -1}
	resp, err := region.Send[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse](ctx, c.Cluster().Sender(),
		[]byte(key), req, nil)
	if err != nil || len(resp.GetErrors()) > 0 {
		t.Fatalf("raw pessimistic lock: %v %v", err, resp.GetErrors())
	}
}

// client-go: integration_tests/2pc_test.go TestPessimisticTTL (the primary's TTL keeps
// growing while the transaction is open): the heartbeat keeps a long-held pessimistic
// primary alive past its TTL; the control shows that a lock with the same TTL and no
// heartbeat is resolved by then.
func TestPessimisticHeartbeat(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg, func(cfg *Config) { cfg.PessimisticLockTTL = time.Second })
		ctx := testCtx(t)
		p := prefix(t)
		tx := beginPessimistic(t, c)
		if err := tx.LockKeys(ctx, []byte(p+"held")); err != nil {
			t.Fatal(err)
		}
		rawPessimisticLock(t, c, ts(t, c), p+"abandoned", 1000)
		time.Sleep(2500 * time.Millisecond)
		o := beginPessimistic(t, c)
		if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, p+"held"); !errors.Is(err, kv.ErrLockNoWait) {
			t.Fatalf("held lock expired despite the heartbeat: %v", err)
		}
		if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, p+"abandoned"); err != nil {
			t.Fatalf("control: abandoned lock should have expired: %v", err)
		}
		tx.mu.Lock()
		sent := tx.pess.keeper.sent.Load()
		tx.mu.Unlock()
		if sent == 0 {
			t.Fatal("no heartbeat acknowledged")
		}
		mustSet(t, tx, p+"held", "v")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"held") != "v" {
			t.Fatal("commit lost")
		}
	})
}

// client-go: integration_tests/2pc_test.go TestPessimisticLockReturnValues,
// TestPessimisticLockCheckExistence, TestPessimisticLockIfExists: values and existence
// come back with the locks; LockOnlyIfExists leaves absent keys unlocked (and an absent
// single key does not become the primary); an Insert of a key that exists fails at lock
// time.
func TestPessimisticLockOptions(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "A")
		tx := beginPessimistic(t, c)
		if err := tx.LockKeysWithOptions(ctx, LockOptions{LockOnlyIfExists: true}, []byte(p+"a")); !errors.Is(err, ErrInvalidLockOptions) {
			t.Fatalf("LockOnlyIfExists without ReturnValues: %v", err)
		}
		if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, LockOnlyIfExists: true}, []byte(p+"a"), []byte(p+"b")); !errors.Is(err, ErrInvalidLockOptions) {
			t.Fatalf("LockOnlyIfExists of two keys without a primary: %v", err)
		}
		if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, LockOnlyIfExists: true}, []byte(p+"absent")); err != nil {
			t.Fatal(err)
		}
		if tx.pess.primary != nil {
			t.Fatal("an absent key became the primary")
		}
		vals := map[string][]byte{}
		if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(p+"a"), []byte(p+"b")); err != nil {
			t.Fatal(err)
		}
		if len(vals) != 1 || string(vals[p+"a"]) != "A" {
			t.Fatalf("values %v", vals)
		}
		if _, err := tx.Get(ctx, []byte(p+"b")); !isNotFound(err) {
			t.Fatalf("get absent locked key: %v", err)
		}
		if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, LockOnlyIfExists: true}, []byte(p+"c"), []byte(p+"a")); err != nil {
			t.Fatal(err)
		}
		cp := tx.Checkpoint()
		if err := tx.Insert([]byte(p+"a"), []byte("again")); err != nil {
			t.Fatal(err) // already locked: checked against what the lock reported
		}
		if err := tx.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(p+"a")); !isKeyExists(err) {
			t.Fatalf("insert of a locked existing key: %v", err)
		}
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"a", "again")
		other := beginPessimistic(t, c)
		if err := other.Insert([]byte(p+"d"), []byte("D")); err != nil {
			t.Fatal(err)
		}
		put(t, c, p+"d", "exists now")
		if err := other.LockKeys(ctx, []byte(p+"d")); !isKeyExists(err) {
			t.Fatalf("insert checked at lock time: %v", err)
		}
		opt, _ := c.Begin(ctx)
		if err := opt.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true}, []byte(p+"a")); !errors.Is(err, ErrNotPessimistic) {
			t.Fatalf("optimistic ReturnValues: %v", err)
		}
		if err := lockWith(ctx, tx, LockWait{Kind: LockWaitTimeout}, p+"x"); !errors.Is(err, ErrInvalidLockWait) {
			t.Fatalf("timeout without duration: %v", err)
		}
		if _, err := c.Begin(ctx, WithPessimistic(), WithLockWait(LockWait{Kind: 9})); !errors.Is(err, ErrInvalidLockWait) {
			t.Fatalf("bad kind: %v", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"a") != "again" || get(t, c, p+"c") != "" {
			t.Fatal("state after commit")
		}
	})
}

func isKeyExists(err error) bool {
	var ke *kv.KeyExistsError
	return errors.As(err, &ke)
}

// A key committed by another transaction after our start is locked at a newer
// for-update ts, and our commit (which only wrote locked keys) succeeds where an
// optimistic one conflicts.
func TestPessimisticNoWriteConflict(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"n", "1")
		pes := beginPessimistic(t, c)
		opt, _ := c.Begin(ctx)
		put(t, c, p+"n", "2")
		vals := map[string][]byte{}
		if err := pes.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(p+"n")); err != nil {
			t.Fatal(err)
		}
		if string(vals[p+"n"]) != "2" {
			t.Fatalf("locked value %q", vals[p+"n"])
		}
		mustSet(t, pes, p+"n", "3")
		if err := pes.Commit(ctx); err != nil {
			t.Fatalf("pessimistic commit: %v", err)
		}
		mustSet(t, opt, p+"n", "x")
		var wc *kv.WriteConflictError
		if err := opt.Commit(ctx); !errors.As(err, &wc) {
			t.Fatalf("optimistic commit: %v", err)
		}
		if get(t, c, p+"n") != "3" {
			t.Fatal("value")
		}
	})
}

// client-go's hashInKeys rule, by key: a deadlock is retryable when a key of the failed
// call is what another transaction of the cycle waits for from us.
func TestDeadlockInKeys(t *testing.T) {
	keys := [][]byte{[]byte("a"), []byte("b")}
	const us, them = 10, 20
	for _, tc := range []struct {
		name string
		dl   kv.DeadlockError
		want bool
	}{
		{"chain through our key", kv.DeadlockError{WaitChain: []kv.WaitForEdge{
			{TxnTS: them, WaitForTxnTS: us, Key: kv.Key("b")}, {TxnTS: us, WaitForTxnTS: them, Key: kv.Key("z")}}}, true},
		{"chain through an older key", kv.DeadlockError{WaitChain: []kv.WaitForEdge{
			{TxnTS: them, WaitForTxnTS: us, Key: kv.Key("old")}, {TxnTS: us, WaitForTxnTS: them, Key: kv.Key("a")}}}, false},
		{"no chain, deadlock key ours", kv.DeadlockError{Key: kv.Key("a")}, true},
		{"no chain, other key", kv.DeadlockError{Key: kv.Key("q")}, false},
		{"nothing", kv.DeadlockError{}, false},
	} {
		if got := deadlockInKeys(&tc.dl, keys, us); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

// lockCount returns how many pessimistic lock requests w recorded.
func (w *wire) lockCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.locks
}

// Fair locking (TXN-8, client-go: integration_tests/2pc_test.go
// TestPessimisticLockAllowLockWithConflict, the conflicting cases): a waiter woken by
// the holder's commit gets the lock in the same request, locked with conflict at the
// holder's commit ts, with the newest value; without it the wake-up costs a second
// request.
func TestFairLocking(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		for _, fair := range []bool{false, true} {
			p := prefix(t)
			holder := beginPessimistic(t, c)
			if err := holder.LockKeys(ctx, []byte(p+"k")); err != nil {
				t.Fatal(err)
			}
			opts := []TxnOption{WithLockWait(LockWait{Kind: LockWaitForever})}
			if fair {
				opts = append(opts, WithFairLocking())
			}
			waiter := beginPessimistic(t, c, opts...)
			before := w.lockCount()
			vals := map[string][]byte{}
			done := async(func() error {
				return waiter.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(p+"k"))
			})
			time.Sleep(500 * time.Millisecond) // let the waiter reach TiKV's wait queue
			mustSet(t, holder, p+"k", "holder")
			if err := holder.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("fair %v: %v", fair, err)
			}
			requests := w.lockCount() - before
			if string(vals[p+"k"]) != "holder" || (fair && requests != 1) || (!fair && requests < 2) {
				t.Fatalf("fair %v: value %q after %d lock requests", fair, vals[p+"k"], requests)
			}
			if fair && waiter.pess.forUpdateTS < holder.CommitTS() {
				t.Fatalf("for-update ts %d below the conflict at %d", waiter.pess.forUpdateTS, holder.CommitTS())
			}
			mustSet(t, waiter, p+"k", "waiter")
			if err := waiter.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if get(t, c, p+"k") != "waiter" {
				t.Fatal("value")
			}
		}
	})
}

// A key locked without ReturnValues and locked again with it returns its value (TiKV
// locks a key the transaction holds again); a key whose value is known is not sent.
func TestPessimisticRelockForValues(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "v")
		tx := beginPessimistic(t, c)
		if err := tx.LockKeys(ctx, []byte(p+"k")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			before := w.lockCount()
			vals := map[string][]byte{}
			if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true, Values: vals}, []byte(p+"k")); err != nil {
				t.Fatal(err)
			}
			sent := w.lockCount() - before
			if string(vals[p+"k"]) != "v" || tx.pess.locked != 1 || sent != 1-i {
				t.Fatalf("round %d: values %v, locked %d, %d requests", i, vals, tx.pess.locked, sent)
			}
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Range reads agree with point reads after a lock returned newer values: changed keys
// show the locked value, deleted ones disappear, inserted ones appear, the buffer still
// wins; in both directions and key-only.
func TestPessimisticScanSeesLockedValues(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "1", p+"b", "2", p+"e", "5")
		tx := beginPessimistic(t, c)
		other, _ := c.Begin(ctx)
		mustSet(t, other, p+"a", "10", p+"c", "30")
		_ = other.Delete([]byte(p + "b"))
		if err := other.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true}, []byte(p+"a"), []byte(p+"b"), []byte(p+"c")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"d", "4")
		end := kv.Key(p).PrefixNext()
		got, err := tx.Scan(ctx, []byte(p), end, 0)
		want := []string{p + "a", p + "c", p + "d", p + "e"}
		if err != nil || !slices.Equal(keysOf(got), want) || string(got[0].Value) != "10" || string(got[1].Value) != "30" ||
			string(got[3].Value) != "5" {
			t.Fatalf("scan %v %v", got, err)
		}
		got, err = tx.Scan(ctx, []byte(p), end, 0, Reverse())
		slices.Reverse(want)
		if err != nil || !slices.Equal(keysOf(got), want) || string(got[2].Value) != "30" {
			t.Fatalf("reverse scan %v %v", got, err)
		}
		mustSet(t, tx, p+"a", "11")
		got, err = tx.Scan(ctx, []byte(p), end, 2, KeyOnly())
		if err != nil || len(got) != 2 || string(got[0].Key) != p+"a" || got[0].Value != nil || string(got[1].Key) != p+"c" {
			t.Fatalf("key-only scan %v %v", got, err)
		}
		if got, err := tx.Scan(ctx, []byte(p+"a"), []byte(p+"b"), 0); err != nil || len(got) != 1 || string(got[0].Value) != "11" {
			t.Fatalf("buffer over lock: %v %v", got, err)
		}
	})
}
