package memcluster

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func storeSafeTS(t *testing.T, e *testEnv, id uint64, kr *kvrpcpb.KeyRange) uint64 {
	t.Helper()
	resp, err := e.clients[id].GetStoreSafeTS(context.Background(), &kvrpcpb.StoreSafeTSRequest{KeyRange: kr})
	if err != nil {
		t.Fatal(err)
	}
	return resp.SafeTs
}

// The safe ts follows the TSO, stays below a live lock's start ts, never goes back, and
// moves on once the lock is gone. Reading at it on a follower as a stale read works;
// reading beyond it does not (DataIsNotReady).
func TestStoreSafeTSModel(t *testing.T) {
	e := newTestEnv(t, Options{Stores: 3})
	ctx := context.Background()
	whole := &kvrpcpb.KeyRange{}

	before := e.c.Now()
	s1 := storeSafeTS(t, e, 1, whole)
	if s1 <= before || s1 >= e.c.Now() {
		t.Fatalf("safe ts %d not between TSOs around it (%d)", s1, before)
	}

	k := []byte("locked")
	rc, cli := e.route(k, true)
	start := e.c.Now()
	pw, err := cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{put("locked", "v")},
		PrimaryLock: k, StartVersion: start, LockTtl: 3000})
	if err != nil || pw.RegionError != nil || len(pw.Errors) > 0 {
		t.Fatalf("prewrite %v %v", pw, err)
	}
	for _, id := range e.c.StoreIDs() {
		if got := storeSafeTS(t, e, id, whole); got != start-1 {
			t.Fatalf("store %d: safe ts %d with a lock at %d, want %d", id, got, start, start-1)
		}
	}
	// A stale read at the safe ts on a follower is served; one beyond it is not ready.
	var follower uint64
	for _, id := range e.c.StoreIDs() {
		if id != rc.Peer.StoreId {
			follower = id
		}
	}
	fctx := *rc
	fctx.Peer = &metapb.Peer{StoreId: follower}
	fctx.StaleRead = true
	g, err := e.clients[follower].KvGet(ctx, &kvrpcpb.GetRequest{Context: &fctx, Key: k, Version: start - 1})
	if err != nil || g.RegionError != nil || g.Error != nil || !g.NotFound {
		t.Fatalf("stale read at the safe ts: %v %v", g, err)
	}
	g, err = e.clients[follower].KvGet(ctx, &kvrpcpb.GetRequest{Context: &fctx, Key: k, Version: e.c.Now()})
	if err != nil || g.RegionError.GetDataIsNotReady().GetSafeTs() != start-1 {
		t.Fatalf("stale read beyond the safe ts: %v %v", g, err)
	}
	bg, err := e.clients[follower].KvBatchGet(ctx, &kvrpcpb.BatchGetRequest{Context: &fctx, Keys: [][]byte{k}, Version: e.c.Now()})
	if err != nil || bg.RegionError.GetDataIsNotReady() == nil {
		t.Fatalf("stale batch get beyond the safe ts: %v %v", bg, err)
	}
	sc, err := e.clients[follower].KvScan(ctx, &kvrpcpb.ScanRequest{Context: &fctx, StartKey: k, Limit: 1, Version: e.c.Now()})
	if err != nil || sc.RegionError.GetDataIsNotReady() == nil {
		t.Fatalf("stale scan beyond the safe ts: %v %v", sc, err)
	}

	// Commit: the lock goes, the safe ts moves past the commit.
	commit := e.c.Now()
	if cr, err := cli.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: rc, Keys: [][]byte{k}, StartVersion: start, CommitVersion: commit}); err != nil || cr.Error != nil {
		t.Fatalf("commit %v %v", cr, err)
	}
	after := storeSafeTS(t, e, follower, whole)
	if after <= commit {
		t.Fatalf("safe ts %d after the commit at %d", after, commit)
	}
	g, err = e.clients[follower].KvGet(ctx, &kvrpcpb.GetRequest{Context: &fctx, Key: k, Version: after})
	if err != nil || g.RegionError != nil || string(g.Value) != "v" {
		t.Fatalf("stale read after the commit: %v %v", g, err)
	}

	// A lock older than the safe ts (a long-running transaction prewriting late) does
	// not move it back.
	old := start + 1
	pw, err = cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{put("late", "v")},
		PrimaryLock: []byte("late"), StartVersion: old, LockTtl: 3000})
	if err != nil || pw.RegionError != nil || len(pw.Errors) > 0 {
		t.Fatalf("late prewrite %v %v", pw, err)
	}
	if got := storeSafeTS(t, e, follower, whole); got < after {
		t.Fatalf("safe ts went back from %d to %d", after, got)
	}
	if got := e.c.StoreSafeTS(follower); got < after {
		t.Fatalf("Cluster.StoreSafeTS went back from %d to %d", after, got)
	}
}

// A key range narrows the answer to the regions it overlaps (TiKV's
// test_get_range_min_safe_ts, by behaviour): a lock in one region holds back that
// region only.
func TestStoreSafeTSKeyRange(t *testing.T) {
	e := newTestEnv(t, Options{Stores: 1})
	ctx := context.Background()
	if _, err := e.c.Split(RegionKey([]byte("m"))); err != nil {
		t.Fatal(err)
	}
	rc, cli := e.route([]byte("a"), true)
	start := e.c.Now()
	pw, err := cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{put("a", "v")},
		PrimaryLock: []byte("a"), StartVersion: start, LockTtl: 3000})
	if err != nil || pw.RegionError != nil || len(pw.Errors) > 0 {
		t.Fatalf("prewrite %v %v", pw, err)
	}
	if got := storeSafeTS(t, e, 1, &kvrpcpb.KeyRange{}); got != start-1 {
		t.Fatalf("whole store: %d, want %d", got, start-1)
	}
	if got := storeSafeTS(t, e, 1, &kvrpcpb.KeyRange{StartKey: []byte("a"), EndKey: []byte("b")}); got != start-1 {
		t.Fatalf("[a, b): %d, want %d", got, start-1)
	}
	if got := storeSafeTS(t, e, 1, &kvrpcpb.KeyRange{StartKey: []byte("n")}); got <= start {
		t.Fatalf("[n, ∞): %d, want past the lock at %d", got, start)
	}
	if got := storeSafeTS(t, e, 1, &kvrpcpb.KeyRange{EndKey: []byte("b")}); got != start-1 {
		t.Fatalf("[, b): %d, want %d", got, start-1)
	}
	if got := storeSafeTS(t, e, 1, &kvrpcpb.KeyRange{StartKey: []byte("p"), EndKey: []byte("q")}); got <= start {
		t.Fatalf("[p, q): %d", got)
	}
}

// Shared-lock holders and pessimistic locks hold the safe ts back too.
func TestStoreSafeTSLockKinds(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	k := []byte("pk")
	rc, cli := e.route(k, true)
	start := e.c.Now()
	resp, err := cli.KvPessimisticLock(ctx, &kvrpcpb.PessimisticLockRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{
		{Op: kvrpcpb.Op_PessimisticLock, Key: k}}, PrimaryLock: k, StartVersion: start, ForUpdateTs: start, LockTtl: 3000})
	if err != nil || resp.RegionError != nil || len(resp.Errors) > 0 {
		t.Fatalf("pessimistic lock %v %v", resp, err)
	}
	if got := e.c.StoreSafeTS(1); got != start-1 {
		t.Fatalf("pessimistic lock: %d, want %d", got, start-1)
	}
	sk := []byte("shared")
	s1, s2 := e.c.Now(), e.c.Now()
	for _, s := range []uint64{s2, s1} {
		resp, err := cli.KvPessimisticLock(ctx, &kvrpcpb.PessimisticLockRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{
			{Op: kvrpcpb.Op_SharedPessimisticLock, Key: sk}}, PrimaryLock: k, StartVersion: s, ForUpdateTs: s, LockTtl: 3000})
		if err != nil || resp.RegionError != nil || len(resp.Errors) > 0 {
			t.Fatalf("shared lock %v %v", resp, err)
		}
	}
	lo, hi := clip(e.c.regions[0], nil, nil, true)
	if low, ok := e.c.mvcc.minLockTS(lo, hi, 0); !ok || low != start {
		t.Fatalf("min lock ts %d %v, want %d", low, ok, start)
	}
	if low, ok := e.c.mvcc.minLockTS(sk, append(sk, 0), 0); !ok || low != s1 {
		t.Fatalf("shared holders: min lock ts %d %v, want %d", low, ok, s1)
	}
}

// A store without regions reports 0 (TiKV: no initialised peer); fault hooks apply.
func TestStoreSafeTSEmptyStoreAndFaults(t *testing.T) {
	e := newTestEnv(t, Options{Stores: 4})
	// Region 1 has peers on three of the four stores.
	var empty uint64
	for _, id := range e.c.StoreIDs() {
		if e.c.regions[0].peerOn(id) == nil {
			empty = id
		}
	}
	if got := storeSafeTS(t, e, empty, &kvrpcpb.KeyRange{}); got != 0 {
		t.Fatalf("store %d without regions: %d", empty, got)
	}
	remove := e.c.AddHook(func(_ context.Context, r *Request) *Fault {
		if r.Method == "GetStoreSafeTS" && r.StoreID == 1 {
			return &Fault{Err: status.Error(codes.Unavailable, "injected")}
		}
		return nil
	})
	if _, err := e.clients[1].GetStoreSafeTS(context.Background(), &kvrpcpb.StoreSafeTSRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("hook error: %v", err)
	}
	remove()
	remove = e.c.AddHook(func(_ context.Context, r *Request) *Fault {
		if r.Method == "GetStoreSafeTS" {
			return &Fault{DropResponse: true}
		}
		return nil
	})
	defer remove()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.clients[1].GetStoreSafeTS(ctx, &kvrpcpb.StoreSafeTSRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("dropped response: %v", err)
	}
}

func TestMinNonZero(t *testing.T) {
	for _, c := range []struct {
		in   []uint64
		want uint64
	}{{nil, 0}, {[]uint64{0, 0}, 0}, {[]uint64{0, 7, 5}, 5}, {[]uint64{9}, 9}} {
		if got := minNonZero(c.in); got != c.want {
			t.Errorf("minNonZero(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}
