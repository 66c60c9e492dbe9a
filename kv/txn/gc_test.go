package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
	"github.com/tikvsql/tikvsql/memcluster"
)

// GC moves the safe points of the whole cluster and rolls back every live transaction
// before them, so its tests run on a fresh memcluster only: on a shared local cluster it
// would abort other tests' transactions.
func gcTarget(t *testing.T) (testcluster.Target, *Client) {
	t.Helper()
	tg := testcluster.Memory(t, memclusterOpts())
	return tg, open(t, tg)
}

// locked reports whether the engine holds a lock on the user key.
func locked(tg testcluster.Target, c *Client, key string) bool {
	_, l := tg.Mem.Versions(c.Cluster().Codec().EncodeKey([]byte(key)))
	return l
}

// client-go: integration_tests/gc_test.go (the GC API over crashed writers) and
// tikv/gc.go GC: one GC call resolves the locks of crashed writers in every region (a
// writer whose primary committed has its secondaries committed; one that never committed,
// though its TTL is still running, is rolled back; an async-commit writer whose keys are
// all locked is committed; a pessimistic lock is rolled back), leaves the locks of
// transactions after the safe point alone, advances both safe points, and lets TiKV
// collect the versions hidden below the GC safe point.
func TestGCResolvesCrashedWriters(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	k := func(s string) string { return p + s }
	split(t, c, k("c"), k("e"), k("g"), k("i"))

	put(t, c, k("z"), "old")
	put(t, c, k("z"), "new") // "old" is hidden below the safe point

	committed := ts(t, c) // primary committed, secondaries left locked
	rawPrewrite(t, c, committed, crashed{primary: k("a"), ttl: 600000}, k("a"), "A", k("d"), "D", k("h"), "H")
	rawCommit(t, c, committed, ts(t, c), k("a"))

	alive := ts(t, c) // never committed, TTL far from expired
	rawPrewrite(t, c, alive, crashed{primary: k("b"), ttl: 600000}, k("b"), "B", k("f"), "F", k("j"), "J")

	asyncTS := ts(t, c) // async commit, every key prewritten: committed by definition
	rawPrewrite(t, c, asyncTS, crashed{primary: k("c"), ttl: 600000, async: true}, k("c"), "C", k("g"), "G")

	pess := ts(t, c)
	rawPessimisticLock(t, c, pess, k("e"), 600000)

	safePoint := ts(t, c)
	later := ts(t, c) // after the safe point: left alone
	rawPrewrite(t, c, later, crashed{primary: k("x"), ttl: 600000}, k("x"), "X")

	res, err := c.GC(testCtx(t), safePoint, WithGCConcurrency(2), WithGCRegionsPerTask(2))
	if err != nil {
		t.Fatal(err)
	}
	if res.TxnSafePoint.New != safePoint || res.GCSafePoint.New != safePoint || res.TxnSafePoint.BlockedBy != "" {
		t.Fatalf("advanced %+v / %+v, want both at %d", res.TxnSafePoint, res.GCSafePoint, safePoint)
	}
	if res.Regions.CompletedRegions < 5 {
		t.Errorf("swept %d regions, want all 5 or more", res.Regions.CompletedRegions)
	}
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "j"} {
		if locked(tg, c, k(key)) {
			t.Errorf("%s still locked after GC", key)
		}
	}
	if !locked(tg, c, k("x")) {
		t.Error("the lock after the safe point was resolved")
	}
	want := map[string]string{"a": "A", "d": "D", "h": "H", "b": "", "f": "", "j": "", "c": "C", "g": "G", "e": "", "z": "new"}
	for key, v := range want {
		if got := get(t, c, k(key)); got != v {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
	if n, _ := tg.Mem.Versions(c.Cluster().Codec().EncodeKey([]byte(k("z")))); n != 1 {
		t.Errorf("z keeps %d versions after GC, want 1", n)
	}
	st, err := c.Cluster().PD().GCState(testCtx(t))
	if err != nil || st.TxnSafePoint != safePoint || st.GCSafePoint != safePoint {
		t.Fatalf("PD GC state %+v, %v", st, err)
	}

	// Again at the same safe point: nothing to advance, nothing to resolve.
	res, err = c.GC(testCtx(t), safePoint)
	if err != nil || res.GCSafePoint.Old != safePoint || res.GCSafePoint.New != safePoint {
		t.Fatalf("second GC: %+v, %v", res, err)
	}
	// Behind the txn safe point: PD refuses.
	if _, err := c.GC(testCtx(t), safePoint-1); !errors.Is(err, pd.ErrInvalidArgument) {
		t.Fatalf("GC behind the safe point: %v", err)
	}
}

// A GC barrier holds the txn safe point back: GC resolves only up to it and advances the
// GC safe point only that far.
func TestGCBlockedByBarrier(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	before := ts(t, c)
	rawPrewrite(t, c, before, crashed{primary: p + "a", ttl: 600000}, p+"a", "A")
	barrier := ts(t, c)
	if _, err := c.Cluster().PD().SetGCBarrier(testCtx(t), "test", barrier, time.Hour); err != nil {
		t.Fatal(err)
	}
	between := ts(t, c)
	rawPrewrite(t, c, between, crashed{primary: p + "b", ttl: 600000}, p+"b", "B")
	res, err := c.GC(testCtx(t), ts(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if res.TxnSafePoint.New != barrier || res.TxnSafePoint.BlockedBy == "" || res.GCSafePoint.New != barrier {
		t.Fatalf("advanced %+v / %+v, want both stopped at the barrier %d", res.TxnSafePoint, res.GCSafePoint, barrier)
	}
	if locked(tg, c, p+"a") || !locked(tg, c, p+"b") {
		t.Fatalf("locks after GC: a %v (want false), b %v (want true)", locked(tg, c, p+"a"), locked(tg, c, p+"b"))
	}
}

// client-go: tikv/gc.go ResolveLocksForRange: a region with more locks than one ScanLock
// returns is scanned again from the last lock until none is left.
func TestResolveLocksMoreThanScanLimit(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	start := ts(t, c)
	n := GCScanLockLimit + 100
	kvs := make([]string, 0, 2*n)
	for i := range n {
		kvs = append(kvs, fmt.Sprintf("%sk%05d", p, i), "v")
	}
	rawPrewrite(t, c, start, crashed{primary: kvs[0], ttl: 600000}, kvs...)
	var scans atomic.Int64
	countRPC(tg, "KvScanLock", &scans)
	st, err := c.ResolveLocksInRange(testCtx(t), ts(t, c), []byte(p), []byte(p+"~"))
	if err != nil {
		t.Fatal(err)
	}
	if st.CompletedRegions != 1 || scans.Load() != 2 {
		t.Errorf("stat %+v after %d scans, want 1 region and 2 scans", st, scans.Load())
	}
	for i := 0; i < len(kvs); i += 2 * 97 {
		if locked(tg, c, kvs[i]) {
			t.Fatalf("%s still locked", kvs[i])
		}
	}
	if got := get(t, c, kvs[2*(n-1)]); got != "" {
		t.Fatalf("rolled-back key reads %q", got)
	}
}

// Region errors during the sweep (ScanLock, ResolveLock, PessimisticRollback) make it
// locate and scan the region again; the locks still go.
func TestResolveLocksRegionErrors(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	split(t, c, p+"m")
	start := ts(t, c)
	rawPrewrite(t, c, start, crashed{primary: p + "a", ttl: 600000}, p+"a", "A", p+"z", "Z")
	pess := ts(t, c)
	rawPessimisticLock(t, c, pess, p+"n", 600000)
	var mu sync.Mutex
	injected := map[string]bool{}
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch r.Method {
		case "KvScanLock", "KvResolveLock", "KVPessimisticRollback":
			mu.Lock()
			defer mu.Unlock()
			if !injected[r.Method] { // the first of each kind
				injected[r.Method] = true
				return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected", EpochNotMatch: &errorpb.EpochNotMatch{}}}
			}
		}
		return nil
	})()
	if _, err := c.ResolveLocksInRange(testCtx(t), ts(t, c), []byte(p), nil, WithGCConcurrency(1)); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "z", "n"} {
		if locked(tg, c, p+key) {
			t.Errorf("%s still locked", key)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(injected) != 3 {
		t.Errorf("injected into %v, want all three kinds", injected)
	}
}

// A cancelled sweep fails GC with ctx's error and leaves the GC safe point where it was.
func TestGCCancel(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	rawPrewrite(t, c, ts(t, c), crashed{primary: p + "a", ttl: 600000}, p+"a", "A")
	ctx, cancel := context.WithCancel(testCtx(t))
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvScanLock" {
			cancel()
		}
		return nil
	})()
	sp := ts(t, c)
	_, err := c.GC(ctx, sp)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	st, err := c.Cluster().PD().GCState(testCtx(t))
	if err != nil || st.GCSafePoint >= sp {
		t.Fatalf("GC safe point %d after a cancelled GC (err %v)", st.GCSafePoint, err)
	}
}

// A closed client refuses to run GC.
func TestGCClosed(t *testing.T) {
	_, c := gcTarget(t)
	sp := ts(t, c)
	_ = c.Close(context.Background())
	if _, err := c.GC(context.Background(), sp); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("GC on a closed client: %v", err)
	}
	if _, err := c.ResolveLocksInRange(context.Background(), sp, nil, nil); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("ResolveLocksInRange on a closed client: %v", err)
	}
}

// client-go: txnkv/txnlock/lock_resolver.go BatchResolveLocks (async-commit branch) and
// integration_tests/async_commit_test.go TestCheckSecondaries: GC decides live
// async-commit transactions from their secondaries: a secondary that was never
// prewritten rolls the transaction back, a committed one commits it, and a secondary
// prewritten without async commit falls back to CheckTxnStatus with force_sync_commit,
// which rolls it back.
func TestGCAsyncCommitOutcomes(t *testing.T) {
	tg, c := gcTarget(t)
	p := prefix(t)
	k := func(s string) string { return p + s }
	split(t, c, k("m"))

	missing := ts(t, c)
	rawPrewrite(t, c, missing, crashed{primary: k("a"), ttl: 600000, async: true}, k("a"), "A", k("b"), "B", k("y"), "")
	rawRollback(t, c, missing, k("y"))

	partly := ts(t, c)
	rawPrewrite(t, c, partly, crashed{primary: k("c"), ttl: 600000, async: true}, k("c"), "C", k("x"), "X")
	rawCommit(t, c, partly, ts(t, c), k("x"))

	fallback := ts(t, c)
	rawPrewrite(t, c, fallback, crashed{primary: k("e"), ttl: 600000, async: true, skipAsync: []string{k("f")}},
		k("e"), "E", k("f"), "F")

	if _, err := c.GC(testCtx(t), ts(t, c)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "", "b": "", "c": "C", "x": "X", "e": "", "f": ""}
	for key, v := range want {
		if locked(tg, c, k(key)) {
			t.Errorf("%s still locked", key)
		}
		if got := get(t, c, k(key)); got != v {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
	for _, start := range []uint64{missing, partly, fallback} {
		if _, ok := c.resolver.cached(start); !ok {
			t.Errorf("decision on %d not cached", start)
		}
	}
}

// A shared-lock entry stands for the locks of several transactions on one key; those
// after the sweep's max ts are left out.
func TestExpandSharedLocks(t *testing.T) {
	key := []byte("k")
	infos := []*kvrpcpb.LockInfo{
		{Key: []byte("a"), LockVersion: 5},
		{Key: key, SharedLockInfos: []*kvrpcpb.LockInfo{{LockVersion: 6}, {LockVersion: 9}, {LockVersion: 7}}},
	}
	got := expandLocks(infos, 7)
	if len(got) != 3 || got[0].info.GetLockVersion() != 5 || got[1].info.GetLockVersion() != 6 ||
		got[2].info.GetLockVersion() != 7 || string(got[2].key) != "k" {
		t.Fatalf("expanded %+v", got)
	}
}

// client-go: integration_tests/safepoint_test.go (ErrTxnAbortedByGC after GC): once GC has
// advanced the safe points, a transaction or read started before them is refused (as soon
// as the client's safe point cache has been refreshed), so versions that GC collected can
// never be read as if they were still there; reads after the safe point see the newest
// version.
func TestGCHidesOldVersions(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.PD.SafePointRefresh = 10 * time.Millisecond })
	p := prefix(t)
	put(t, c, p+"k", "v1")
	old := ts(t, c)
	put(t, c, p+"k", "v2")
	if v, err := c.Snapshot(old).Get(testCtx(t), []byte(p+"k")); err != nil || string(v) != "v1" {
		t.Fatalf("before GC: %q %v", v, err)
	}
	sp := ts(t, c)
	if _, err := c.GC(testCtx(t), sp); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Begin(testCtx(t), WithStartTS(old))
		if errors.Is(err, kv.ErrTxnAbortedByGC) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("begin before the safe point after GC: %v, want kv.ErrTxnAbortedByGC", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Snapshot(old).Get(testCtx(t), []byte(p+"k")); !errors.Is(err, kv.ErrTxnAbortedByGC) {
		t.Fatalf("read before the safe point: %v", err)
	}
	if got := get(t, c, p+"k"); got != "v2" {
		t.Fatalf("latest = %q", got)
	}
}

// Under API v2, GC of a keyspace with keyspace-level GC advances that keyspace's safe points
// and sweeps its locks only; a keyspace on the cluster-wide safe points is refused, since
// its client cannot reach the other keyspaces' locks.
func TestGCKeyspace(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	for _, name := range []string{"own", "unified"} {
		if _, err := tg.Mem.CreateKeyspace(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.Mem.SetKeyspaceConfig("own", map[string]string{"gc_management_type": "keyspace_level"}); err != nil {
		t.Fatal(err)
	}
	own, unified := tg, tg
	own.Keyspace, unified.Keyspace = "own", "unified"
	c, u := open(t, own), open(t, unified)

	rawPrewrite(t, c, ts(t, c), crashed{primary: "a", ttl: 600000}, "a", "A", "b", "B")
	rawPrewrite(t, u, ts(t, u), crashed{primary: "a", ttl: 600000}, "a", "A")
	sp := ts(t, c)
	res, err := c.GC(testCtx(t), sp)
	if err != nil {
		t.Fatal(err)
	}
	if res.TxnSafePoint.New != sp || res.GCSafePoint.New != sp {
		t.Fatalf("advanced %+v / %+v", res.TxnSafePoint, res.GCSafePoint)
	}
	if locked(tg, c, "a") || locked(tg, c, "b") || !locked(tg, u, "a") {
		t.Fatalf("locks after GC of keyspace own: own a %v b %v, unified a %v (want false false true)",
			locked(tg, c, "a"), locked(tg, c, "b"), locked(tg, u, "a"))
	}
	if st, err := u.Cluster().PD().GCState(testCtx(t)); err != nil || st.TxnSafePoint >= sp {
		t.Fatalf("the cluster-wide txn safe point moved: %+v %v", st, err)
	}
	if _, err := u.GC(testCtx(t), ts(t, u)); !errors.Is(err, ErrGCScope) {
		t.Fatalf("GC of a unified-GC keyspace: %v", err)
	}
}
