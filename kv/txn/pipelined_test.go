package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// tiny flushes on every write.
var tiny = PipelinedOptions{MinFlushKeys: 1, MinFlushSize: 1, ForceFlushSize: 1, SyncResolve: true}

// flushCounter counts the Flush requests of startTS (0: any) and their generations on a
// memcluster; on the local cluster it counts nothing.
type flushCounter struct {
	mu   sync.Mutex
	n    int
	gens map[uint64]bool
}

func countFlushes(t *testing.T, tg testcluster.Target) *flushCounter {
	fc := &flushCounter{gens: map[uint64]bool{}}
	if tg.Mem == nil {
		return fc
	}
	remove := tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if f, ok := r.Body.(*kvrpcpb.FlushRequest); ok {
			fc.mu.Lock()
			fc.n++
			fc.gens[f.Generation] = true
			fc.mu.Unlock()
		}
		return nil
	})
	t.Cleanup(remove)
	return fc
}

func (fc *flushCounter) counts() (int, int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.n, len(fc.gens)
}

// scanLocks returns the locks of every transaction in [start, end) (user keys), read
// with ScanLock region by region.
func scanLocks(t *testing.T, c *Client, start, end string) []*kvrpcpb.LockInfo {
	t.Helper()
	ctx := testCtx(t)
	var out []*kvrpcpb.LockInfo
	key := []byte(start)
	for {
		loc, err := c.cl.Cache().Locate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		req := &kvrpcpb.ScanLockRequest{Context: &kvrpcpb.Context{}, MaxVersion: kv.MaxTS,
			StartKey: c.cl.Codec().EncodeKey(key), EndKey: c.cl.Codec().EncodeKey([]byte(end)), Limit: 100000}
		resp, err := region.SendToRegion[*kvrpcpb.ScanLockRequest, *kvrpcpb.ScanLockResponse](ctx, c.cl.Sender(),
			c.newBackoffer(10*time.Second), loc, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetLocks()...)
		if len(loc.EndKey) == 0 || string(loc.EndKey) >= end {
			return out
		}
		key = loc.EndKey
	}
}

// waitBackground waits for the Client's background commits (the pipelined resolution).
func waitBackground(c *Client) { c.bg.commits.Wait() }

func beginPipelined(t *testing.T, c *Client, o PipelinedOptions, opts ...TxnOption) *Txn {
	t.Helper()
	tx, err := c.Begin(testCtx(t), append([]TxnOption{WithPipelined(o)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// A large transaction is committed through several flushes, each with a new generation;
// its locks are resolved in the background and every value is visible afterwards.
// client-go: integration_tests/pipelined_memdb_test.go TestPipelinedAndFlush, TestPipelinedCommit
func TestPipelinedLargeCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		n := 200000
		if testing.Short() {
			n = 20000
		}
		split(t, c, p+"k050000", p+"k120000")
		fc := countFlushes(t, tg)
		ctx := testCtx(t)
		tx := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 10000, MinFlushSize: 64 << 10, ForceFlushSize: 8 << 20})
		for i := range n {
			if err := tx.Set(fmt.Appendf(nil, "%sk%06d", p, i), fmt.Appendf(nil, "v%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if got := tx.Len(); got != n {
			t.Fatalf("Len = %d, want %d", got, n)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		waitBackground(c)
		if tg.Mem != nil {
			reqs, gens := fc.counts()
			// Writes go on while a flush runs, so a flush may carry more than the
			// threshold; the buffer still went out in several generations.
			if gens < 3 || reqs < gens {
				t.Fatalf("%d flush requests over %d generations; want several generations", reqs, gens)
			}
			t.Logf("%d flush requests over %d generations", reqs, gens)
		}
		if ls := scanLocks(t, c, p, p+"\xff"); len(ls) != 0 {
			t.Fatalf("%d locks left after commit", len(ls))
		}
		got, err := c.Snapshot(kv.MaxTS).Scan(ctx, []byte(p), []byte(p+"\xff"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || string(got[n-1].Value) != fmt.Sprintf("v%d", n-1) {
			t.Fatalf("read back %d pairs, want %d", len(got), n)
		}
	})
}

// The transaction reads its own writes whether they are in the buffer, being flushed or
// flushed (BufferBatchGet), including flushed deletions of committed keys.
// client-go: integration_tests/pipelined_memdb_test.go TestPipelinedMemDBBufferGet, TestPipelinedPrefetch
func TestPipelinedReadOwnWrites(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		ctx := testCtx(t)
		put(t, c, p+"old", "committed", p+"keep", "kept")
		other, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx := beginPipelined(t, c, tiny)
		for i := range 100 {
			mustSet(t, tx, fmt.Sprintf("%s%02d", p, i), fmt.Sprint(i))
		}
		if err := tx.Delete([]byte(p + "old")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"50", "again")
		for i := range 100 {
			want := fmt.Sprint(i)
			if i == 50 {
				want = "again"
			}
			v, err := tx.Get(ctx, fmt.Appendf(nil, "%s%02d", p, i))
			if err != nil || string(v) != want {
				t.Fatalf("get %d = %q, %v; want %q", i, v, err, want)
			}
			// another transaction cannot see it
			if _, err := other.Get(ctx, fmt.Appendf(nil, "%s%02d", p, i)); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("other txn reads %d: %v", i, err)
			}
		}
		if _, err := tx.Get(ctx, []byte(p+"old")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("flushed deletion read as %v", err)
		}
		m, err := tx.BatchGet(ctx, [][]byte{[]byte(p + "00"), []byte(p + "old"), []byte(p + "keep"), []byte(p + "none")})
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 2 || string(m[p+"00"]) != "0" || string(m[p+"keep"]) != "kept" {
			t.Fatalf("batch get = %q", m)
		}
		if _, err := tx.Scan(ctx, []byte(p), nil, 0); !errors.Is(err, ErrPipelinedUnsupported) {
			t.Fatalf("scan after flush: %v", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"old") != "" || get(t, c, p+"50") != "again" || get(t, c, p+"99") != "99" {
			t.Fatal("committed data wrong")
		}
	})
}

// Rollback removes every flushed lock and writes nothing.
// client-go: integration_tests/pipelined_memdb_test.go TestPipelinedRollback
func TestPipelinedRollback(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		split(t, c, p+"50")
		ctx := testCtx(t)
		tx := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 10, MinFlushSize: 1, ForceFlushSize: 1 << 20})
		for i := range 100 {
			mustSet(t, tx, fmt.Sprintf("%s%02d", p, i), "v")
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if ls := scanLocks(t, c, p, p+"\xff"); len(ls) != 0 {
			t.Fatalf("%d locks left after rollback", len(ls))
		}
		if got, err := c.Snapshot(kv.MaxTS).Scan(ctx, []byte(p), []byte(p+"\xff"), 0); err != nil || len(got) != 0 {
			t.Fatalf("after rollback: %v, %v", got, err)
		}
		if err := tx.Commit(ctx); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("commit after rollback: %v", err)
		}
	})
}

// A reader that meets a live pipelined lock does not wait: it pushes the transaction's
// commit ts and reads the old value; the writer then commits above the reader. A reader
// that meets a lock left after the primary committed resolves it and sees the new value.
// client-go: integration_tests/pipelined_memdb_test.go TestPipelinedSkipFlushedLock
func TestPipelinedConcurrentReader(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			// The devcluster's storage (TiDB 8.5 unistore) rolls back the live
			// pipelined primary when the reader checks it, so the writer's commit finds
			// no lock; TiKV pushes the lock's min commit ts instead (what this test
			// checks on memcluster). Seen once in CI; see docs/txn.md.
			t.Skip("unistore resolves live pipelined locks differently from TiKV")
		}
		c := open(t, tg)
		p := prefix(t)
		ctx := testCtx(t)
		put(t, c, p+"a", "a0", p+"b", "b0")
		async := tiny
		async.SyncResolve = false
		tx := beginPipelined(t, c, async)
		mustSet(t, tx, p+"a", "a1", p+"b", "b1")
		tx.mu.Lock()
		err := tx.pipe.waitFlush(ctx)
		tx.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		readTS, err := c.CurrentTS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		v, err := c.Snapshot(readTS).Get(rctx, []byte(p+"b"))
		if err != nil || string(v) != "b0" {
			t.Fatalf("reader under a live pipelined lock: %q, %v", v, err)
		}
		if tg.Mem != nil { // keep the secondary lock: hold the background resolution back
			var once atomic.Bool
			remove := tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
				if rl, ok := r.Body.(*kvrpcpb.ResolveLockRequest); ok && rl.StartVersion == tx.StartTS() &&
					once.CompareAndSwap(false, true) {
					return &memcluster.Fault{Delay: 2 * time.Second}
				}
				return nil
			})
			defer remove()
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if tx.CommitTS() <= readTS {
			t.Fatalf("commit ts %d not above the reader's %d", tx.CommitTS(), readTS)
		}
		if got := get(t, c, p+"b"); got != "b1" {
			t.Fatalf("after commit b = %q", got)
		}
		if tg.Mem != nil {
			// The reader cleans the lock up in the background (TXN-16).
			deadline := time.Now().Add(10 * time.Second)
			for len(scanLocks(t, c, p+"b", p+"c")) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the reader did not resolve the secondary lock")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		if got := get(t, c, p+"a"); got != "a1" {
			t.Fatalf("after commit a = %q", got)
		}
		if v, err := c.Snapshot(readTS).Get(rctx, []byte(p+"a")); err != nil || string(v) != "a0" {
			t.Fatalf("old snapshot: %q, %v", v, err)
		}
	})
}

// A write committed by another transaction after the start ts makes the flush fail with
// *kv.WriteConflictError; the transaction then rolls back and leaves no lock.
func TestPipelinedWriteConflict(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		ctx := testCtx(t)
		tx := beginPipelined(t, c, tiny)
		mustSet(t, tx, p+"a", "mine")
		put(t, c, p+"k", "theirs")
		err := tx.Set([]byte(p+"k"), []byte("mine"))
		for i := 0; err == nil && i < 3; i++ { // the flush runs behind the writes
			err = tx.Set(fmt.Appendf(nil, "%sz%d", p, i), []byte("x"))
		}
		if err == nil {
			err = tx.Commit(ctx)
		} else if rerr := tx.Rollback(ctx); rerr != nil {
			t.Fatal(rerr)
		}
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) || !kv.IsRetryable(err) {
			t.Fatalf("want a write conflict, got %v", err)
		}
		if string(wc.Key) != p+"k" {
			t.Fatalf("conflict on %q", wc.Key)
		}
		if ls := scanLocks(t, c, p, p+"\xff"); len(ls) != 0 {
			t.Fatalf("%d locks left", len(ls))
		}
		if get(t, c, p+"k") != "theirs" || get(t, c, p+"a") != "" {
			t.Fatal("the conflicting transaction must not have written")
		}
	})
}

// Commit whose ctx ends during the final flush fails with ctx's error and rolls back
// what earlier flushes wrote.
func TestPipelinedCancelMidFlush(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs fault injection")
		}
		c := open(t, tg)
		p := prefix(t)
		tx := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 10, MinFlushSize: 1, ForceFlushSize: 1 << 20})
		for i := range 25 { // two flushes of 10 keys, 5 keys left in the buffer
			mustSet(t, tx, fmt.Sprintf("%s%02d", p, i), "v")
		}
		remove := tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if f, ok := r.Body.(*kvrpcpb.FlushRequest); ok && f.StartTs == tx.StartTS() {
				for _, m := range f.Mutations {
					if bytes.HasSuffix(m.Key, []byte(p+"24")) { // the final flush
						return &memcluster.Fault{Delay: 10 * time.Second}
					}
				}
			}
			return nil
		})
		defer remove()
		ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
		defer cancel()
		err := tx.Commit(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit: %v", err)
		}
		if ls := scanLocks(t, c, p, p+"\xff"); len(ls) != 0 {
			t.Fatalf("%d locks left", len(ls))
		}
		if err := tx.Rollback(testCtx(t)); err != nil {
			t.Fatalf("rollback after failed commit: %v", err)
		}
	})
}

// Pipelined DML excludes pessimistic locking, async commit, 1PC and latches; LockKeys
// and RollbackTo are refused.
func TestPipelinedIncompatible(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	for _, tc := range []struct {
		with string
		opts []TxnOption
	}{
		{"pessimistic", []TxnOption{WithPessimistic()}},
		{"async commit", []TxnOption{WithAsyncCommit(true)}},
		{"1PC", []TxnOption{WithOnePC(true)}},
	} {
		_, err := c.Begin(ctx, append(tc.opts, WithPipelined(PipelinedOptions{}))...)
		var ie *IncompatibleOptionError
		if !errors.As(err, &ie) || ie.With != tc.with || !errors.Is(err, ErrIncompatibleOptions) || ie.Error() == "" {
			t.Errorf("%s: %v", tc.with, err)
		}
	}
	if _, err := c.Begin(ctx, WithPipelined(PipelinedOptions{WriteThrottleRatio: 1})); !errors.Is(err, ErrIncompatibleOptions) {
		t.Errorf("throttle ratio 1: %v", err)
	}
	lc := open(t, tg, func(cfg *Config) { cfg.LocalLatches = 64 })
	var ie *IncompatibleOptionError
	if _, err := lc.Begin(ctx, WithPipelined(PipelinedOptions{})); !errors.As(err, &ie) || ie.With != "local latches" {
		t.Errorf("latches: %v", err)
	}
	tx := beginPipelined(t, c, PipelinedOptions{}, WithAsyncCommit(false))
	if !tx.IsPipelined() {
		t.Fatal("IsPipelined")
	}
	if err := tx.LockKeys(ctx, []byte("k")); !errors.Is(err, ErrPipelinedUnsupported) {
		t.Errorf("LockKeys: %v", err)
	}
	cp := tx.Checkpoint()
	if err := tx.RollbackTo(cp); !errors.Is(err, ErrPipelinedUnsupported) {
		t.Errorf("RollbackTo: %v", err)
	}
	// Before any flush, range reads work.
	mustSet(t, tx, "pipe-k", "v")
	if got, err := tx.Scan(ctx, []byte("pipe-"), []byte("pipe-\xff"), 0); err != nil || len(got) != 1 {
		t.Fatalf("scan before flush: %v %v", got, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

// The heartbeat keeps the primary lock alive while the transaction runs; when the
// primary lock is rolled back by someone else, the heartbeat stops and the next flush
// and the commit fail.
// client-go: integration_tests/pipelined_memdb_test.go TestPipelinedDMLFailedByPKRollback
func TestPipelinedHeartbeat(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg, func(cfg *Config) { cfg.HeartbeatInterval = 20 * time.Millisecond })
		p := prefix(t)
		ctx := testCtx(t)
		tx := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 1, MinFlushSize: 1, ForceFlushSize: 1, WriteThrottleRatio: 0.5})
		mustSet(t, tx, p+"a", "1", p+"b", "2")
		deadline := time.Now().Add(10 * time.Second)
		for {
			tx.pipe.mu.Lock()
			sent := tx.pipe.hbSent
			tx.pipe.mu.Unlock()
			if sent >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no heartbeat")
			}
			time.Sleep(10 * time.Millisecond)
		}
		deadline = time.Now().Add(10 * time.Second)
		for { // each acknowledged heartbeat pushes the min commit ts and broadcasts it
			tx.pipe.mu.Lock()
			n := tx.pipe.broadcasts
			tx.pipe.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no min-commit-ts broadcast")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if pk := tx.pipe.primaryKey(); string(pk) != p+"a" {
			t.Fatalf("primary %q, want the first flushed key", pk)
		}
		// Roll the primary back behind the transaction's back.
		if err := c.resolver.resolveKeys(ctx, tx.StartTS(), 0, [][]byte{[]byte(p + "a")}); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(10 * time.Second)
		for tx.pipe.failure() == nil {
			if time.Now().After(deadline) {
				t.Fatal("heartbeat did not notice the lost primary")
			}
			time.Sleep(10 * time.Millisecond)
		}
		var ab *TxnAbortedError
		if err := tx.Set([]byte(p+"c"), []byte("3")); !errors.As(err, &ab) {
			t.Fatalf("write after the primary was lost: %v", err)
		}
		if err := tx.Commit(ctx); !errors.As(err, &ab) {
			t.Fatalf("commit after the primary was lost: %v", err)
		}
		if ls := scanLocks(t, c, p, p+"\xff"); len(ls) != 0 {
			t.Fatalf("%d locks left", len(ls))
		}
	})
}

// Close stops the heartbeat of a pipelined transaction left open and lets a background
// resolution finish; goleak (TestMain) checks that nothing is left running.
func TestPipelinedClose(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c, err := New(testCtx(t), Config{Config: tg.Config(0), HeartbeatInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	open := beginPipelined(t, c, tiny)
	mustSet(t, open, "close-a", "1")
	done := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 1, MinFlushSize: 1, ForceFlushSize: 1})
	mustSet(t, done, "close-b", "1", "close-c", "2")
	if err := done.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := open.Set([]byte("close-d"), []byte("x")); !errors.Is(err, kv.ErrClosed) && !errors.Is(err, context.Canceled) {
		t.Fatalf("write after close: %v", err)
	}
	if err := open.Commit(ctx); err == nil {
		t.Fatal("commit after close succeeded")
	}
}

// The transaction's status is broadcast to every store: committed (then completed once
// the locks are resolved) and rolled back.
func TestPipelinedBroadcast(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("observes requests through memcluster hooks")
		}
		tr := &protoTracer{}
		c := open(t, tg, func(cfg *Config) { cfg.Tracer = tr })
		p := prefix(t)
		ctx := testCtx(t)
		var mu sync.Mutex
		got := map[uint64][]*kvrpcpb.TxnStatus{} // start ts -> statuses seen, over all stores
		stores := map[uint64]bool{}
		remove := tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if b, ok := r.Body.(*kvrpcpb.BroadcastTxnStatusRequest); ok {
				mu.Lock()
				for _, st := range b.TxnStatus {
					got[st.StartTs] = append(got[st.StartTs], st)
				}
				stores[r.StoreID] = true
				mu.Unlock()
			}
			return nil
		})
		defer remove()
		committed := beginPipelined(t, c, tiny)
		mustSet(t, committed, p+"a", "1", p+"b", "2")
		if err := committed.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if pr, _ := tr.protocol.Load().(string); pr != "pipelined" {
			t.Errorf("traced protocol %q, want pipelined", pr)
		}
		rolled := beginPipelined(t, c, tiny)
		mustSet(t, rolled, p+"c", "1")
		if err := rolled.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(stores) != 3 {
			t.Fatalf("broadcast reached %d stores, want 3", len(stores))
		}
		count := func(ts uint64, pred func(*kvrpcpb.TxnStatus) bool) int {
			n := 0
			for _, st := range got[ts] {
				if pred(st) {
					n++
				}
			}
			return n
		}
		cts := committed.CommitTS()
		if n := count(committed.StartTS(), func(s *kvrpcpb.TxnStatus) bool { return s.CommitTs == cts && !s.IsCompleted }); n != 3 {
			t.Errorf("%d committed broadcasts, want 3", n)
		}
		if n := count(committed.StartTS(), func(s *kvrpcpb.TxnStatus) bool { return s.CommitTs == cts && s.IsCompleted }); n != 3 {
			t.Errorf("%d completed broadcasts, want 3", n)
		}
		if n := count(rolled.StartTS(), func(s *kvrpcpb.TxnStatus) bool { return s.RolledBack }); n != 6 {
			t.Errorf("%d rolled-back broadcasts, want 6", n)
		}
	})
}

// At the force-flush size a write waits for the running flush; below it the writer goes
// on while the flush runs.
// client-go: integration_tests/pipelined_memdb_test.go TestPipelinedFlushBlock
func TestPipelinedFlushBlock(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	p := prefix(t)
	ctx := testCtx(t)
	release := make(chan struct{})
	var held atomic.Int32
	tx := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 1, MinFlushSize: 1, ForceFlushSize: 1 << 20})
	remove := tg.Mem.AddHook(func(ctx context.Context, r *memcluster.Request) *memcluster.Fault {
		if f, ok := r.Body.(*kvrpcpb.FlushRequest); ok && f.StartTs == tx.StartTS() && f.Generation == 1 {
			held.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	defer remove()
	mustSet(t, tx, p+"k1", "v1") // starts flush 1, which the hook holds
	for held.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	mustSet(t, tx, p+"k2", "v2") // below the force size: does not wait
	big := make([]byte, 1<<20)
	returned := make(chan error, 1)
	go func() { returned <- tx.Set([]byte(p+"k3"), big) }()
	select {
	case err := <-returned:
		t.Fatalf("a write at the force size returned while a flush ran: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if get(t, c, p+"k1") != "v1" || get(t, c, p+"k2") != "v2" || len(get(t, c, p+"k3")) != len(big) {
		t.Fatal("committed data wrong")
	}
}

// A flush that meets the lock of a crashed writer resolves it and goes on; one that meets
// a live lock waits for it.
func TestPipelinedFlushMeetsLocks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		ctx := testCtx(t)
		crashedTS := ts(t, c)
		rawPrewrite(t, c, crashedTS, crashed{primary: p + "a", ttl: 1}, p+"a", "A", p+"b", "B")
		pastTTL()
		liveTS := ts(t, c)
		rawPrewrite(t, c, liveTS, crashed{primary: p + "l", ttl: 200}, p+"l", "L")
		tx := beginPipelined(t, c, tiny)
		mustSet(t, tx, p+"b", "mine", p+"l", "mine")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"b") != "mine" || get(t, c, p+"a") != "" || get(t, c, p+"l") != "mine" {
			t.Fatal("the pipelined transaction did not win over the crashed writers")
		}
	})
}

// The write throttle sleeps ratio/(1-ratio) times the average flush duration (capped),
// and not at all with ratio 0; the average moves by 1/8 per flush.
func TestPipelinedThrottle(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	tx := beginPipelined(t, c, PipelinedOptions{WriteThrottleRatio: 0.5})
	defer func() { _ = tx.Rollback(testCtx(t)) }()
	p := tx.pipe
	p.noteFlushed(80 * time.Millisecond)
	p.noteFlushed(0)
	if p.avgFlush != 70*time.Millisecond {
		t.Fatalf("average %v, want 70ms", p.avgFlush)
	}
	start := time.Now()
	p.throttle()
	if d := time.Since(start); d < 65*time.Millisecond || d > 2*time.Second {
		t.Fatalf("ratio 0.5 slept %v, want about 70ms", d)
	}
	p.opts.WriteThrottleRatio = 0
	start = time.Now()
	p.throttle()
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Fatalf("ratio 0 slept %v", d)
	}
}
