package txn

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/memcluster"
)

// Reads with commit timestamps return the commit ts of each version read (client-go:
// integration_tests/snapshot_test.go and txnkv/txnsnapshot tests of WithReturnCommitTS);
// cached values are reused only when their commit ts is known.
func TestReadWithCommitTS(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		tap := &readTap{}
		c := openTap(t, tg, tap)
		ctx := testCtx(t)
		p := prefix(t)
		a, b, none := p+"a", p+"b", p+"none"
		ctsA := put(t, c, a, "1")
		ctsB := put(t, c, b, "2")
		snap := c.Snapshot(ts(t, c))
		// A plain Get caches the value without its commit ts: the commit-ts read reads again.
		if _, err := snap.Get(ctx, []byte(a)); err != nil {
			t.Fatal(err)
		}
		tap.reset()
		e, err := snap.GetWithCommitTS(ctx, []byte(a))
		if err != nil || string(e.Value) != "1" || e.CommitTS != ctsA {
			t.Fatalf("GetWithCommitTS = %+v, %v; want commit ts %d", e, err, ctsA)
		}
		if n := len(tap.contexts()); n != 1 {
			t.Errorf("%d reads for a cached value without commit ts, want 1", n)
		}
		tap.reset()
		if e2, err := snap.GetWithCommitTS(ctx, []byte(a)); err != nil || string(e2.Value) != "1" || e2.CommitTS != ctsA {
			t.Fatalf("cached GetWithCommitTS = %+v, %v", e2, err)
		}
		if _, err := snap.GetWithCommitTS(ctx, []byte(none)); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("absent key: %v", err)
		}
		if n := len(tap.contexts()); n != 1 {
			t.Errorf("%d reads after caching, want 1 (the absent key)", n)
		}
		if _, err := snap.GetWithCommitTS(ctx, nil); !errors.Is(err, ErrEmptyKey) {
			t.Errorf("empty key: %v", err)
		}
		m, err := snap.BatchGetWithCommitTS(ctx, [][]byte{[]byte(a), []byte(b), []byte(none), []byte(b)})
		if err != nil || len(m) != 2 || m[a].CommitTS != ctsA || m[b].CommitTS != ctsB || string(m[b].Value) != "2" {
			t.Fatalf("BatchGetWithCommitTS = %+v, %v", m, err)
		}
		// A fresh snapshot: BatchGet fills the cache with commit ts, Get reuses it.
		snap2 := c.Snapshot(ts(t, c))
		if _, err := snap2.BatchGetWithCommitTS(ctx, [][]byte{[]byte(b)}); err != nil {
			t.Fatal(err)
		}
		tap.reset()
		if e, err := snap2.GetWithCommitTS(ctx, []byte(b)); err != nil || e.CommitTS != ctsB {
			t.Fatalf("GetWithCommitTS after BatchGetWithCommitTS = %+v, %v", e, err)
		}
		if n := len(tap.contexts()); n != 0 {
			t.Errorf("%d reads for a cached commit ts", n)
		}
		if v, err := snap2.Get(ctx, []byte(b)); err != nil || string(v) != "2" {
			t.Errorf("Get = %q, %v", v, err)
		}
	})
}

// A server that sends values without their commit ts makes commit-ts reads fail
// (client-go: "commit ts is required but not returned").
func TestReadWithCommitTSMissing(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		tap := &readTap{zeroTS: true}
		c := openTap(t, tg, tap)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "1")
		snap := c.Snapshot(ts(t, c))
		if _, err := snap.GetWithCommitTS(ctx, []byte(p+"a")); !errors.Is(err, ErrCommitTSMissing) {
			t.Errorf("GetWithCommitTS without commit ts: %v", err)
		}
		if _, err := snap.BatchGetWithCommitTS(ctx, [][]byte{[]byte(p + "a")}); !errors.Is(err, ErrCommitTSMissing) {
			t.Errorf("BatchGetWithCommitTS without commit ts: %v", err)
		}
		if _, err := snap.BatchGetWithCommitTS(ctx, [][]byte{nil}); !errors.Is(err, ErrEmptyKey) {
			t.Errorf("empty key: %v", err)
		}
		if v, err := snap.Get(ctx, []byte(p+"a")); err != nil || string(v) != "1" {
			t.Errorf("plain Get = %q, %v", v, err)
		}
	})
}

// delayLeaderReads makes the memcluster hold point reads sent to a region's leader (not
// replica reads) for d while the request's MaxExecutionDurationMs is ms (0: any).
func delayLeaderReads(tg testcluster.Target, ms uint64, d time.Duration, n *atomic.Int64) {
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if (r.Method != "KvGet" && r.Method != "KvBatchGet") || r.Context.GetReplicaRead() || r.Context.GetStaleRead() {
			return nil
		}
		if ms != 0 && r.Context.GetMaxExecutionDurationMs() != ms {
			return nil
		}
		if n != nil && n.Add(1) > 1 {
			return nil
		}
		return &memcluster.Fault{Delay: d}
	})
}

// WithKVReadTimeout: a leader that does not answer a point read within the timeout is
// left, and a follower serves the read at once as a replica read (client-go:
// internal/locate/region_request3_test.go TestSendReqFirstTimeout, through the snapshot).
func TestKVReadTimeout(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs memcluster fault hooks")
		}
		tap := &readTap{}
		c := openTap(t, tg, tap)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "1", p+"b", "2")
		delayLeaderReads(tg, 50, 5*time.Second, nil)
		snap := c.Snapshot(ts(t, c), WithKVReadTimeout(50*time.Millisecond))
		start := time.Now()
		if v, err := snap.Get(ctx, []byte(p+"a")); err != nil || string(v) != "1" {
			t.Fatalf("get = %q, %v", v, err)
		}
		if m, err := snap.BatchGet(ctx, [][]byte{[]byte(p + "b")}); err != nil || string(m[p+"b"]) != "2" {
			t.Fatalf("batch get = %v, %v", m, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("reads took %v: the slow leader was waited for", d)
		}
		cs := tap.contexts()
		if len(cs) != 4 || cs[0].MaxExecutionDurationMs != 50 || cs[0].ReplicaRead || !cs[1].ReplicaRead ||
			cs[2].ReplicaRead || !cs[3].ReplicaRead {
			t.Fatalf("read attempts %+v", cs)
		}
		// A transaction's reads use it too.
		tx, err := c.Begin(ctx, WithKVReadTimeout(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := tx.Get(ctx, []byte(p+"a")); err != nil || string(v) != "1" {
			t.Fatalf("txn get = %q, %v", v, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("reads took %v", d)
		}
	})
}

// The default attempt bound of transactional reads (Config.Sender.ReadAttemptTimeout,
// default cluster.DefaultReadAttemptTimeout): a leader that does not answer is left and
// the read completes elsewhere, without the caller's ctx having to end.
func TestDefaultReadAttemptBound(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs memcluster fault hooks")
		}
		c := open(t, tg, func(cfg *Config) {
			cfg.Sender.ReadAttemptTimeout = 100 * time.Millisecond
			cfg.Sender.BatchReadAttemptTimeout = 100 * time.Millisecond
		})
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "1")
		var n atomic.Int64
		delayLeaderReads(tg, 0, 10*time.Second, &n)
		start := time.Now()
		if v, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"a")); err != nil || string(v) != "1" {
			t.Fatalf("get = %q, %v", v, err)
		}
		if d := time.Since(start); d > 5*time.Second || n.Load() == 0 {
			t.Fatalf("read took %v (%d delayed)", d, n.Load())
		}
	})
}

// The option plumbing: non-positive timeouts mean none; the read-timeout round is for
// the first request of a read only; a stale read becomes a leader read after a lock.
func TestReadRouteOptions(t *testing.T) {
	var o txnOptions
	WithKVReadTimeout(-time.Second)(&o)
	if o.reads.timeout != 0 {
		t.Errorf("negative timeout kept: %v", o.reads.timeout)
	}
	WithKVReadTimeout(time.Second)(&o)
	WithStaleRead()(&o)
	s := &Snapshot{opts: o, stale: true}
	r := s.pointRoute()
	if r.ReadTimeout != time.Second || !r.StaleRead {
		t.Fatalf("point route %+v", r)
	}
	if r2 := afterFirstSend(r); r2.ReadTimeout != 0 || r.ReadTimeout != time.Second || afterFirstSend(r2) != r2 {
		t.Errorf("afterFirstSend %+v (original %+v)", r2, r)
	}
	r.BusyThreshold = time.Second
	if r3 := afterLock(r); r3.StaleRead || r3.BusyThreshold != 0 || !r.StaleRead || afterLock(r3) != r3 {
		t.Errorf("afterLock %+v (original %+v)", r3, r)
	}
}
