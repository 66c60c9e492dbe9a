package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// ports client-go integration_tests/scan_test.go TestScan: forward and reverse scans
// across regions with batch sizes around the boundaries, limits and key-only.
func TestScanAcrossRegions(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		const n = 40
		var kvs []string
		var want []string
		for i := range n {
			k := fmt.Sprintf("%s%03d", p, i)
			kvs = append(kvs, k, fmt.Sprintf("v%d", i))
			want = append(want, k)
		}
		put(t, c, kvs...)
		split(t, c, p+"010", p+"011", p+"025")
		snap := c.Snapshot(ts(t, c))
		rev := slices.Clone(want)
		slices.Reverse(rev)
		for _, bs := range []int{2, 3, 10, 11, 39, 40, 41, 256} {
			got, err := snap.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0, BatchSize(bs))
			if err != nil || !slices.Equal(keysOf(got), want) || string(got[17].Value) != "v17" {
				t.Fatalf("batch %d: %v %v", bs, keysOf(got), err)
			}
			got, err = snap.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0, BatchSize(bs), Reverse())
			if err != nil || !slices.Equal(keysOf(got), rev) {
				t.Fatalf("reverse batch %d: %v %v", bs, keysOf(got), err)
			}
		}
		got, err := snap.Scan(ctx, []byte(p+"005"), []byte(p+"030"), 7, KeyOnly(), BatchSize(3))
		if err != nil || !slices.Equal(keysOf(got), want[5:12]) || got[0].Value != nil {
			t.Fatalf("limit/key-only: %v %v", keysOf(got), err)
		}
		got, err = snap.Scan(ctx, []byte(p+"005"), []byte(p+"030"), 4, Reverse(), BatchSize(2))
		if err != nil || !slices.Equal(keysOf(got), rev[10:14]) {
			t.Fatalf("reverse limit: %v %v", keysOf(got), err)
		}
		// Unbounded ends.
		got, err = snap.Scan(ctx, []byte(p+"035"), nil, 5)
		if err != nil || !slices.Equal(keysOf(got), want[35:]) {
			t.Fatalf("open end: %v %v", keysOf(got), err)
		}
		if tg.Keyspace == "" && tg.Mem != nil {
			got, err = snap.Scan(ctx, []byte(p), nil, 3, Reverse())
			if err != nil || !slices.Equal(keysOf(got), rev[:3]) {
				t.Fatalf("reverse open end: %v %v", keysOf(got), err)
			}
		}
		// Empty ranges.
		for _, r := range [][2]string{{p + "010", p + "010"}, {p + "zz", p + "zzz"}} {
			got, err = snap.Scan(ctx, []byte(r[0]), []byte(r[1]), 0)
			if err != nil || len(got) != 0 {
				t.Fatalf("empty range %v: %v %v", r, keysOf(got), err)
			}
		}
	})
}

// ports client-go integration_tests/snapshot_test.go TestBatchGet and TestSnapshotCache:
// BatchGet across regions with small batches, duplicates, and the read cache.
func TestSnapshotBatchGetAndCache(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.BatchGetSize = 2 })
	ctx := testCtx(t)
	p := prefix(t)
	var kvs []string
	var keys [][]byte
	for i := range 20 {
		kvs = append(kvs, fmt.Sprintf("%s%02d", p, i), fmt.Sprint(i))
		keys = append(keys, fmt.Appendf(nil, "%s%02d", p, i))
	}
	put(t, c, kvs...)
	split(t, c, p+"07", p+"15")
	var gets, batchGets atomic.Int64
	countRPC(tg, "KvGet", &gets)
	countRPC(tg, "KvBatchGet", &batchGets)
	snap := c.Snapshot(ts(t, c))
	keys = append(keys, keys[3], []byte(p+"absent"))
	m, err := snap.BatchGet(ctx, keys)
	if err != nil || len(m) != 20 || string(m[p+"13"]) != "13" {
		t.Fatalf("batch get: %d %v", len(m), err)
	}
	if batchGets.Load() < 10 {
		t.Fatalf("batch gets %d, want batches of 2", batchGets.Load())
	}
	n := batchGets.Load()
	if m, err := snap.BatchGet(ctx, keys); err != nil || len(m) != 20 || batchGets.Load() != n {
		t.Fatalf("cached batch get: %v, %d RPCs", err, batchGets.Load()-n)
	}
	for range 2 {
		if v, err := snap.Get(ctx, []byte(p+"05")); err != nil || string(v) != "5" {
			t.Fatal(v, err)
		}
		if _, err := snap.Get(ctx, []byte(p+"absent")); !isNotFound(err) {
			t.Fatal(err)
		}
		if _, err := snap.Get(ctx, []byte(p+"absent2")); !isNotFound(err) {
			t.Fatal(err)
		}
	}
	if gets.Load() != 1 {
		t.Fatalf("gets %d: the cache should answer all but absent2's first read", gets.Load())
	}
	nc := open(t, tg, func(cfg *Config) { cfg.ReadCacheSize = -1 })
	s2 := nc.Snapshot(snap.TS())
	_, _ = s2.Get(ctx, []byte(p+"05"))
	_, _ = s2.Get(ctx, []byte(p+"05"))
	if gets.Load() != 3 {
		t.Fatalf("uncached gets %d", gets.Load())
	}
	if _, err := snap.Get(ctx, nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatal(err)
	}
	if _, err := snap.BatchGet(ctx, [][]byte{nil}); !errors.Is(err, ErrEmptyKey) {
		t.Fatal(err)
	}
	// Concurrent readers of one snapshot (ports snapshot_test.go TestSnapshotThreadSafe).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			k := fmt.Appendf(nil, "%s%02d", p, i)
			if v, err := snap.Get(ctx, k); err != nil || string(v) != fmt.Sprint(i) {
				t.Error(v, err)
			}
			if _, err := snap.BatchGet(ctx, keys[:10]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// Read timestamps are validated and the GC safe point is honoured (ports client-go
// integration_tests/safepoint_test.go TestSafePoint).
func TestReadTimestampChecks(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.PD.SafePointRefresh = 20 * time.Millisecond })
	ctx := testCtx(t)
	p := prefix(t)
	put(t, c, p+"k", "v")
	if _, err := c.Snapshot(kv.MaxTS-1).Get(ctx, []byte(p+"k")); !errors.Is(err, kv.ErrInvalidReadTS) {
		t.Fatalf("invalid ts: %v", err)
	}
	future := kv.TSOf(time.Now().Add(time.Hour))
	if _, err := c.Snapshot(future).Scan(ctx, []byte(p), nil, 0); !errors.Is(err, kv.ErrFutureTSRead) {
		t.Fatalf("future ts: %v", err)
	}
	if v, err := c.Snapshot(kv.MaxTS).Get(ctx, []byte(p+"k")); err != nil || string(v) != "v" {
		t.Fatalf("latest: %q %v", v, err)
	}
	old := ts(t, c)
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"late", "1")
	if _, err := c.Cluster().PD().AdvanceTxnSafePoint(ctx, ts(t, c)); err != nil {
		t.Skip("txn safe point not supported:", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := c.Snapshot(old).Get(ctx, []byte(p+"k"))
		if errors.Is(err, kv.ErrTxnAbortedByGC) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read behind the safe point: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Begin(ctx, WithStartTS(old)); !errors.Is(err, kv.ErrTxnAbortedByGC) {
		t.Fatalf("begin behind the safe point: %v", err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, kv.ErrTxnAbortedByGC) {
		t.Fatalf("commit behind the safe point: %v", err)
	}
}

// Client lifecycle: shared clusters, closed clients, options and the tracer.
func TestClientLifecycle(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	ctx := testCtx(t)
	raw := tg.Open(t, cluster.Raw)
	if _, err := NewWithCluster(raw, Config{}); !errors.Is(err, cluster.ErrInvalidConfig) {
		t.Fatalf("raw cluster: %v", err)
	}
	if _, err := NewWithCluster(nil, Config{}); !errors.Is(err, cluster.ErrInvalidConfig) {
		t.Fatalf("nil cluster: %v", err)
	}
	if _, err := New(ctx, Config{}); err == nil {
		t.Fatal("no endpoints")
	}
	shared := tg.Open(t, cluster.Txn)
	tr := &txnTracer{}
	c, err := NewWithCluster(shared, Config{Config: cluster.Config{Tracer: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster() != shared {
		t.Fatal("cluster")
	}
	p := prefix(t)
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"k", "v")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rb, _ := c.Begin(ctx)
	_ = rb.Rollback(ctx)
	if tr.starts.Load() != 2 || tr.commits.Load() != 1 || tr.ends.Load() != 2 {
		t.Fatalf("tracer: %d starts, %d ends, %d commits", tr.starts.Load(), tr.ends.Load(), tr.commits.Load())
	}
	snap := c.Snapshot(kv.MaxTS, WithReplicaRead(region.ReadFollower), WithPriority(PriorityLow))
	if v, err := snap.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v" {
		t.Fatalf("follower read: %q %v", v, err)
	}
	if err := c.Close(ctx); err != nil || c.Close(ctx) != nil {
		t.Fatal("close", err)
	}
	// The shared cluster stays open.
	c2, _ := NewWithCluster(shared, Config{})
	if get(t, c2, p+"k") != "v" {
		t.Fatal("shared cluster closed")
	}
	if _, err := c.Begin(ctx); !errors.Is(err, kv.ErrClosed) {
		t.Fatal(err)
	}
	if _, err := c.CurrentTS(ctx); !errors.Is(err, kv.ErrClosed) {
		t.Fatal(err)
	}
	if _, err := c.Snapshot(kv.MaxTS).Get(ctx, []byte(p+"x")); !errors.Is(err, kv.ErrClosed) {
		t.Fatal(err)
	}
	// A transaction of a closed client cannot commit.
	tx, _ = c2.Begin(ctx)
	mustSet(t, tx, p+"k2", "v")
	_ = c2.Close(ctx)
	if err := tx.Commit(ctx); !errors.Is(err, kv.ErrClosed) {
		t.Fatal(err)
	}
}

type txnTracer struct{ starts, ends, commits atomic.Int64 }

func (tr *txnTracer) TraceTxnStart(ctx context.Context, ev kv.TxnStart) context.Context {
	tr.starts.Add(1)
	return ctx
}

func (tr *txnTracer) TraceTxnEnd(ctx context.Context, ev kv.TxnEnd) {
	tr.ends.Add(1)
	if ev.Committed {
		tr.commits.Add(1)
	}
}

// The client works inside an API v2 keyspace on memcluster: commits, scans with open
// ends in both directions, and lock resolution all stay inside the keyspace.
func TestKeyspaceV2(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	if _, err := tg.Mem.CreateKeyspace("ks1"); err != nil {
		t.Fatal(err)
	}
	tg.Keyspace = "ks1"
	c := open(t, tg)
	other := open(t, testcluster.Target{Name: "memory", Endpoints: tg.Endpoints, Mem: tg.Mem})
	ctx := testCtx(t)
	put(t, other, "a", "outside", "z", "outside")
	put(t, c, "b", "1", "c", "2", "d", "3")
	split(t, c, "c")
	snap := c.Snapshot(ts(t, c))
	for _, opts := range [][]IterOption{nil, {Reverse()}} {
		got, err := snap.Scan(ctx, nil, nil, 0, opts...)
		if err != nil || len(got) != 3 {
			t.Fatalf("scan %v: %v %v", opts, keysOf(got), err)
		}
	}
	start := ts(t, c)
	rawPrewrite(t, c, start, crashed{primary: "b", ttl: 1}, "b", "B", "d", "D")
	pastTTL()
	if v, err := c.Snapshot(ts(t, c)).Get(ctx, []byte("d")); err != nil || string(v) != "3" {
		t.Fatalf("resolved in keyspace: %q %v", v, err)
	}
	if get(t, other, "b") != "" || get(t, other, "a") != "outside" {
		t.Fatal("keyspaces leak")
	}
	var wc *kv.WriteConflictError
	t1, _ := c.Begin(ctx)
	put(t, c, "b", "x")
	mustSet(t, t1, "b", "y")
	if err := t1.Commit(ctx); !errors.As(err, &wc) || string(wc.Key) != "b" || string(wc.Primary) != "b" {
		t.Fatalf("conflict keys are user keys: %v", err)
	}
}

// ports client-go integration_tests/split_test.go TestSplitBatchGet-style: reads whose
// region answers a region error (the region moved) locate again and succeed.
func TestReadsRetryRegionErrors(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	put(t, c, p+"a", "1", p+"b", "2", p+"c", "3")
	var n atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch r.Method {
		case "KvGet", "KvBatchGet", "KvScan":
			if n.Add(1)%2 == 1 {
				return &memcluster.Fault{RegionError: &errorpb.Error{Message: "moved",
					RegionNotFound: &errorpb.RegionNotFound{RegionId: r.Context.GetRegionId()}}}
			}
		}
		return nil
	})
	snap := c.Snapshot(ts(t, c))
	if v, err := snap.Get(ctx, []byte(p+"a")); err != nil || string(v) != "1" {
		t.Fatal(v, err)
	}
	if m, err := snap.BatchGet(ctx, [][]byte{[]byte(p + "b"), []byte(p + "c")}); err != nil || len(m) != 2 {
		t.Fatal(m, err)
	}
	for _, o := range [][]IterOption{nil, {Reverse()}} {
		if got, err := snap.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0, o...); err != nil || len(got) != 3 {
			t.Fatal(keysOf(got), err)
		}
	}
	if n.Load() < 8 {
		t.Fatalf("region errors injected %d", n.Load())
	}
}
