package txn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/memcluster"
)

func TestBatchBySize(t *testing.T) {
	size := func(n int) int { return n }
	for _, tc := range []struct {
		in    []int
		limit int
		want  [][]int
	}{
		{nil, 10, nil},
		{[]int{3, 3, 3}, 10, [][]int{{3, 3, 3}}},
		{[]int{3, 3, 3, 3}, 10, [][]int{{3, 3, 3, 3}}}, // the batch may exceed the limit by one item
		{[]int{5, 5, 1}, 10, [][]int{{5, 5}, {1}}},
		{[]int{20, 1, 20}, 10, [][]int{{20}, {1, 20}}},
	} {
		got := batchBySize(tc.in, tc.limit, size)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("batchBySize(%v, %d) = %v, want %v", tc.in, tc.limit, got, tc.want)
		}
	}
}

// ports client-go integration_tests/lock_test.go TestLockTTL: the TTL grows with the
// square root of the size, is clamped, and includes the time already spent.
func TestLockTTLRule(t *testing.T) {
	base, maxTTL := DefaultLockTTL, DefaultMaxLockTTL
	for _, tc := range []struct {
		size    int
		elapsed time.Duration
		want    uint64
	}{
		{0, 0, 3000},
		{16<<10 - 1, 0, 3000},
		{16 << 10, 0, 3000}, // 6000·sqrt(1/64) = 750, raised to the base
		{1 << 20, 0, 6000},
		{4 << 20, 0, 12000},
		{2048 * 1024, 0, uint64(6000 * math.Sqrt(2))},
		{100 << 20, 0, 20000},
		{0, 50 * time.Millisecond, 3050},
		{1 << 20, -time.Second, 6000},
	} {
		if got := lockTTL(base, maxTTL, tc.size, tc.elapsed); got != tc.want {
			t.Errorf("lockTTL(%d, %v) = %d, want %d", tc.size, tc.elapsed, got, tc.want)
		}
	}
}

// The lock TTL written by a real prewrite follows the rule.
func TestPrewriteLockTTL(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	var ttls []uint64
	var sizes []uint64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if req, ok := r.Body.(*kvrpcpb.PrewriteRequest); ok {
			ttls = append(ttls, req.LockTtl)
			sizes = append(sizes, req.TxnSize)
			if req.MinCommitTs != req.StartVersion+1 {
				t.Errorf("min commit ts %d for start %d", req.MinCommitTs, req.StartVersion)
			}
		}
		return nil
	})
	tx, _ := c.Begin(ctx, WithLockTTL(time.Second))
	mustSet(t, tx, p+"a", "1", p+"b", "2")
	time.Sleep(20 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ttls) != 1 || ttls[0] < 1020 || ttls[0] > 3000 || sizes[0] != 2 {
		t.Fatalf("ttls %v sizes %v", ttls, sizes)
	}
}

// Commit batching: one region's mutations are cut into ~CommitBatchSize prewrite
// batches, sent in parallel; the primary is committed first, alone in its batch's
// region, then the secondaries.
func TestCommitBatches(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.CommitBatchSize = 100 })
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"k50")
	var prewrites, commits atomic.Int64
	var firstCommit atomic.Pointer[kvrpcpb.CommitRequest]
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch req := r.Body.(type) {
		case *kvrpcpb.PrewriteRequest:
			prewrites.Add(1)
		case *kvrpcpb.CommitRequest:
			if commits.Add(1) == 1 {
				firstCommit.Store(req)
			}
		}
		return nil
	})
	tx, _ := c.Begin(ctx)
	for i := range 100 {
		mustSet(t, tx, fmt.Sprintf("%sk%02d", p, i), "0123456789")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// 50 keys of ~50 bytes per region: a batch closes every 2 mutations.
	if prewrites.Load() < 40 {
		t.Fatalf("prewrites = %d", prewrites.Load())
	}
	fc := firstCommit.Load()
	if string(c.decodeKey(fc.Keys[0])) != p+"k00" || string(c.decodeKey(fc.PrimaryKey)) != p+"k00" || len(fc.Keys) > 3 {
		t.Fatalf("first commit keys %d, first %s", len(fc.Keys), c.decodeKey(fc.Keys[0]))
	}
	got, err := c.Snapshot(kv.MaxTS).Scan(ctx, []byte(p), nil, 0)
	if err != nil || len(got) != 100 {
		t.Fatalf("scan %d %v", len(got), err)
	}
}

// ports client-go integration_tests/2pc_test.go TestCommitRollback/TestPrewriteRollback:
// a failed prewrite rolls back the batches that succeeded, leaving no lock.
func TestPrewriteFailureCleansUp(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		loser, _ := c.Begin(ctx)
		put(t, c, p+"z", "winner")
		mustSet(t, loser, p+"a", "1", p+"b", "2", p+"z", "loser")
		var wc *kv.WriteConflictError
		if err := loser.Commit(ctx); !errors.As(err, &wc) {
			t.Fatalf("commit: %v", err)
		}
		for _, k := range []string{"a", "b"} {
			if rawLocked(t, c, p+k) {
				t.Fatalf("%s left locked", k)
			}
		}
		if get(t, c, p+"z") != "winner" || get(t, c, p+"a") != "" {
			t.Fatal("data")
		}
	})
}

// Region errors during prewrite and commit are retried by the Sender or after a
// relocation.
func TestCommitRetriesRegionErrors(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	var pre, com atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch r.Method {
		case "KvPrewrite":
			if pre.Add(1) == 1 {
				return &memcluster.Fault{RegionError: &errorpb.Error{Message: "sync", MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}}
			}
		case "KvCommit":
			if com.Add(1) == 1 {
				return &memcluster.Fault{RegionError: &errorpb.Error{Message: "stale", StaleCommand: &errorpb.StaleCommand{}}}
			}
		}
		return nil
	})
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"a", "1")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if pre.Load() < 2 || com.Load() < 2 || get(t, c, p+"a") != "1" {
		t.Fatalf("prewrites %d commits %d", pre.Load(), com.Load())
	}
	// A split between prewrite and commit: the primary batch is relocated.
	tx, _ = c.Begin(ctx)
	mustSet(t, tx, p+"b", "2", p+"c", "3", p+"d", "4")
	cm := newCommitter(tx)
	cm.muts, cm.size = mutationsOf(tx.mem)
	cm.primary, cm.hasLocks, cm.ttl = cm.muts[0].key, true, 3000
	if err := cm.prewrite(ctx); err != nil {
		t.Fatal(err)
	}
	split(t, c, p+"c")
	done, err := cm.commitPrimary(ctx)
	if err != nil || len(done) == 0 {
		t.Fatal(done, err)
	}
	cm.commitSecondaries(ctx, done)
	for _, k := range []string{"b", "c", "d"} {
		if rawLocked(t, c, p+k) {
			t.Fatalf("%s locked", k)
		}
	}
}

// ports client-go integration_tests/2pc_test.go TestContextCancelCausingUndetermined:
// the primary commit's answer is lost, so Commit reports kv.ErrUndetermined, leaves
// the locks alone, and Transact does not retry. Here the commit did happen.
func TestUndeterminedPrimaryCommit(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	var drop atomic.Bool
	var commits atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvCommit" && drop.Load() {
			commits.Add(1)
			return &memcluster.Fault{DropResponse: true}
		}
		return nil
	})
	drop.Store(true)
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"a", "1", p+"b", "2")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := tx.Commit(short)
	if !errors.Is(err, kv.ErrUndetermined) || !kv.IsUndetermined(err) || kv.IsRetryable(err) {
		t.Fatalf("commit: %v", err)
	}
	if commits.Load() != 1 {
		t.Fatalf("primary commit sent %d times", commits.Load())
	}
	if err := tx.Rollback(ctx); !errors.Is(err, kv.ErrTxnDone) {
		t.Fatalf("rollback of an undetermined commit: %v", err)
	}
	drop.Store(false)
	if get(t, c, p+"a") != "1" || get(t, c, p+"b") != "2" {
		t.Fatal("the dropped commit was applied; readers must see it")
	}
	// A transport failure of the primary commit is undetermined too, and Transact stops.
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvCommit" {
			return &memcluster.Fault{Err: status.Error(codes.Unavailable, "connection reset")}
		}
		return nil
	})
	runs := 0
	tctx, tcancel := context.WithTimeout(ctx, time.Second)
	defer tcancel()
	err = c.Transact(tctx, func(ctx context.Context, tx *Txn) error {
		runs++
		return tx.Set([]byte(p+"c"), []byte("3"))
	})
	if !kv.IsUndetermined(err) || runs != 1 {
		t.Fatalf("transact: runs %d, %v", runs, err)
	}
}

// ports client-go integration_tests/2pc_test.go TestCommitTsExpired-style retry: a reader
// pushed the primary's min commit ts past our commit ts; the commit retries above it.
func TestCommitTSExpired(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "old")
		tx, _ := c.Begin(ctx, WithLockTTL(20*time.Second))
		mustSet(t, tx, p+"k", "new")
		cm := newCommitter(tx)
		cm.muts, cm.size = mutationsOf(tx.mem)
		cm.primary, cm.hasLocks, cm.ttl = cm.muts[0].key, true, 20000
		if err := cm.prewrite(ctx); err != nil {
			t.Fatal(err)
		}
		stale := ts(t, c)
		reader := c.Snapshot(ts(t, c))
		if v, err := reader.Get(ctx, []byte(p+"k")); err != nil || string(v) != "old" {
			t.Fatalf("reader: %q %v", v, err) // the live lock was pushed, not waited for
		}
		if _, err := cm.commitPrimaryAt(ctx, stale); err != nil {
			t.Fatal(err)
		}
		if cm.commitTS <= reader.TS() {
			t.Fatalf("commit ts %d not above the reader's %d", cm.commitTS, reader.TS())
		}
		if v, _ := reader.Get(ctx, []byte(p+"k")); string(v) != "old" {
			t.Fatal("repeatable read broken")
		}
		if get(t, c, p+"k") != "new" {
			t.Fatal("commit lost")
		}
	})
}

// A lock resolver rolled the transaction back before its primary commit: the commit
// fails with a retryable *TxnAbortedError.
func TestCommitAfterRollbackByResolver(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"k", "v")
		cm := newCommitter(tx)
		cm.muts, cm.size = mutationsOf(tx.mem)
		cm.primary, cm.hasLocks, cm.ttl = cm.muts[0].key, true, 1
		if err := cm.prewrite(ctx); err != nil {
			t.Fatal(err)
		}
		pastTTL()
		if _, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"k")); !isNotFound(err) {
			t.Fatal(err)
		}
		_, err := cm.commitPrimary(ctx)
		// TiKV answers TxnLockNotFound (*TxnAbortedError); unistore a generic retryable
		// key error. Either way: retryable, and nothing committed.
		var ab *TxnAbortedError
		if !kv.IsRetryable(err) || (tg.Mem != nil && !errors.As(err, &ab)) || (ab != nil && ab.StartTS != tx.StartTS()) {
			t.Fatalf("commit after rollback: %v", err)
		}
		if get(t, c, p+"k") != "" {
			t.Fatal("committed after rollback")
		}
	})
}

// ports client-go integration_tests/lock_test.go TestTxnHeartBeat: a commit above
// HeartbeatSize keeps its primary alive while it runs; the goroutine ends with Commit.
func TestHeartbeat(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase, func(cfg *Config) { cfg.HeartbeatSize = 1; cfg.HeartbeatInterval = 20 * time.Millisecond })
	ctx := testCtx(t)
	p := prefix(t)
	var beats atomic.Int64
	var advised atomic.Uint64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch req := r.Body.(type) {
		case *kvrpcpb.TxnHeartBeatRequest:
			beats.Add(1)
			advised.Store(req.AdviseLockTtl)
		case *kvrpcpb.CommitRequest:
			return &memcluster.Fault{Delay: 200 * time.Millisecond}
		}
		return nil
	})
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"a", "1", p+"b", "2")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	n := beats.Load()
	if n < 2 || advised.Load() < uint64(DefaultMaxLockTTL.Milliseconds()) {
		t.Fatalf("heartbeats %d, advised ttl %d", n, advised.Load())
	}
	time.Sleep(50 * time.Millisecond) // a beat sent just before the stop may still arrive
	n = beats.Load()
	time.Sleep(100 * time.Millisecond)
	if beats.Load() != n {
		t.Fatal("heartbeat outlived the commit")
	}
	// The heartbeat stops when the lock is gone.
	tx, _ = c.Begin(ctx)
	mustSet(t, tx, p+"c", "1")
	cm := newCommitter(tx)
	cm.muts, cm.size = mutationsOf(tx.mem)
	cm.primary, cm.hasLocks, cm.ttl = cm.muts[0].key, true, 3000
	cm.startHeartbeat(ctx)
	cm.startHeartbeat(ctx) // once only
	done := make(chan struct{})
	go func() { cm.hbMu.Lock(); d := cm.hbDone; cm.hbMu.Unlock(); <-d; close(done) }()
	select {
	case <-done: // no lock: TiKV answers TxnNotFound and the heartbeat ends by itself
	case <-time.After(5 * time.Second):
		t.Fatal("heartbeat kept running without a lock")
	}
	cm.stopHeartbeat()
}

// ports client-go integration_tests/ticlient_test.go TestLargeRequest / 2pc_test.go
// TestTxnSize-style: a 100k-key transaction across regions commits and reads back.
func TestLargeTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("large transaction")
	}
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	const n = 100_000
	split(t, c, fmt.Sprintf("%s%06d", p, n/4), fmt.Sprintf("%s%06d", p, n/2), fmt.Sprintf("%s%06d", p, 3*n/4))
	tx, _ := c.Begin(ctx)
	for i := range n {
		if err := tx.Set(fmt.Appendf(nil, "%s%06d", p, i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	snap := c.Snapshot(ts(t, c))
	it := snap.Iter(ctx, []byte(p), nil, BatchSize(1024))
	defer it.Close()
	i := 0
	for it.Next() {
		if string(it.Key()) != fmt.Sprintf("%s%06d", p, i) {
			t.Fatalf("key %d = %s", i, it.Key())
		}
		i++
	}
	if it.Err() != nil || i != n {
		t.Fatalf("read %d keys: %v", i, it.Err())
	}
	var keys [][]byte
	for i := 0; i < n; i += 97 {
		keys = append(keys, fmt.Appendf(nil, "%s%06d", p, i))
	}
	m, err := snap.BatchGet(ctx, keys)
	if err != nil || len(m) != len(keys) {
		t.Fatalf("batch get %d/%d %v", len(m), len(keys), err)
	}
}

// The commit of secondaries is best effort: with its ctx ended after the primary
// commit, Commit still succeeds and readers finish the secondaries.
func TestSecondaryCommitCutShort(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"m")
	cctx, cancel := context.WithCancel(ctx)
	var n atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvCommit" && n.Add(1) == 1 {
			cancel() // the primary commit is executed; everything after sees a dead ctx
		}
		return nil
	})
	tx, _ := c.Begin(ctx, WithLockTTL(20*time.Second))
	mustSet(t, tx, p+"a", "1", p+"z", "2")
	if err := tx.Commit(cctx); err != nil && !kv.IsUndetermined(err) {
		t.Fatal(err)
	}
	if got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), nil, 0); err != nil || !slices.Equal(keysOf(got), []string{p + "a", p + "z"}) {
		t.Fatalf("scan %v %v", keysOf(got), err)
	}
}

// ports client-go integration_tests/2pc_test.go TestContextCancel and TestPrewriteCancel:
// a ctx cancelled during prewrite fails the commit with ctx's error (not undetermined)
// and the batches already prewritten are rolled back.
func TestCommitCancelledDuringPrewrite(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"m")
	cctx, cancel := context.WithCancel(ctx)
	var rollbacks atomic.Int64
	tg.Mem.AddHook(func(hctx context.Context, r *memcluster.Request) *memcluster.Fault {
		switch req := r.Body.(type) {
		case *kvrpcpb.PrewriteRequest:
			if string(c.decodeKey(req.Mutations[0].Key)) == p+"z" {
				cancel()
				return &memcluster.Fault{Delay: time.Second}
			}
		case *kvrpcpb.BatchRollbackRequest:
			rollbacks.Add(1)
		}
		return nil
	})
	tx, _ := c.Begin(ctx, WithLockTTL(20*time.Second))
	mustSet(t, tx, p+"a", "1", p+"z", "2")
	err := tx.Commit(cctx)
	if !errors.Is(err, context.Canceled) || kv.IsUndetermined(err) || kv.IsRetryable(err) {
		t.Fatalf("commit: %v", err)
	}
	if rollbacks.Load() == 0 || rawLocked(t, c, p+"a") {
		t.Fatalf("rollbacks %d; a locked %v", rollbacks.Load(), rawLocked(t, c, p+"a"))
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}
