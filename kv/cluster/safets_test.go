package cluster_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	pdhttp "github.com/tikv/pd/client/http"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/memcluster"
)

// openSafeTS opens a txn-mode cluster on tg whose updater runs only when asked
// (Interval < 0), after mutate has adjusted the config.
func openSafeTS(t *testing.T, tg testcluster.Target, mutate func(*cluster.Config)) *cluster.Cluster {
	t.Helper()
	cfg := tg.Config(cluster.Txn)
	cfg.SafeTS = cluster.SafeTSConfig{Interval: -1, Timeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rewriteSafeTS is an RPC interceptor that, while its value function is set, answers
// GetStoreSafeTS with the value it gives for the store's address instead of asking it.
type rewriteSafeTS struct {
	mu    sync.Mutex
	fn    func(addr string) uint64
	calls atomic.Int32 // GetStoreSafeTS calls seen
}

func (r *rewriteSafeTS) set(fn func(addr string) uint64) {
	r.mu.Lock()
	r.fn = fn
	r.mu.Unlock()
}

func (r *rewriteSafeTS) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "rewrite-safe-ts", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			r.mu.Lock()
			fn := r.fn
			r.mu.Unlock()
			if inv.Method == "GetStoreSafeTS" {
				r.calls.Add(1)
			}
			if inv.Method != "GetStoreSafeTS" || fn == nil {
				return next(ctx, inv)
			}
			return &kvrpcpb.StoreSafeTSResponse{SafeTs: fn(inv.Addr)}, nil
		}
	}}
}

// On every target: rounds succeed, per-store values never go back, and the minimum is
// never beyond a fresh TSO. (A unistore-based local cluster answers 0 everywhere, so
// its minimum is 0.)
func TestSafeTSRounds(t *testing.T) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx := testCtx(t)
		c := openSafeTS(t, tg, nil)
		stores, err := c.PD().GetAllStores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		prev := map[uint64]uint64{}
		for range 3 {
			minTS, err := c.UpdateSafeTS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			now, err := c.PD().Timestamp(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if minTS > now {
				t.Fatalf("min safe ts %d beyond the TSO %d", minTS, now)
			}
			for _, s := range stores {
				ts, ok := c.StoreSafeTS(s.GetId())
				if !ok || ts < prev[s.GetId()] {
					t.Fatalf("store %d: %d %v after %d", s.GetId(), ts, ok, prev[s.GetId()])
				}
				prev[s.GetId()] = ts
			}
		}
	})
}

// The minimum advances with the TSO and stays below a live lock's start ts until the
// lock is gone.
func TestMinSafeTSFollowsTSOAndLocks(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	ctx := testCtx(t)
	c := openSafeTS(t, tg, nil)
	before := tg.Mem.Now()
	first, err := c.UpdateSafeTS(ctx)
	if err != nil || first <= before {
		t.Fatalf("first round: %d (TSO before %d) %v", first, before, err)
	}
	if c.MinSafeTS() != first {
		t.Fatalf("MinSafeTS %d, UpdateSafeTS %d", c.MinSafeTS(), first)
	}
	second, err := c.UpdateSafeTS(ctx)
	if err != nil || second <= first {
		t.Fatalf("second round: %d after %d %v", second, first, err)
	}

	key := []byte("safe-ts-lock")
	start := tg.Mem.Now()
	wkey := c.Codec().EncodeKey(key)
	pw, err := region.Send[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse](ctx, c.Sender(), key,
		&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: wkey, Value: []byte("v")}},
			PrimaryLock: wkey, StartVersion: start, LockTtl: 20000}, nil)
	if err != nil || len(pw.Errors) > 0 {
		t.Fatalf("prewrite: %v %v", pw, err)
	}
	for range 2 {
		got, err := c.UpdateSafeTS(ctx)
		if err != nil || got != start-1 {
			t.Fatalf("with a lock at %d: min safe ts %d %v, want %d", start, got, err, start-1)
		}
	}
	commitTS := tg.Mem.Now()
	if _, err := region.Send[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse](ctx, c.Sender(), key,
		&kvrpcpb.CommitRequest{Keys: [][]byte{wkey}, StartVersion: start, CommitVersion: commitTS}, nil); err != nil {
		t.Fatal(err)
	}
	after, err := c.UpdateSafeTS(ctx)
	if err != nil || after <= commitTS {
		t.Fatalf("after the commit at %d: %d %v", commitTS, after, err)
	}

	// A stale read at the minimum, sent to a follower, is served there.
	loc, err := c.Cache().Locate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	leader := tg.Mem.RegionAt(memcluster.RegionKey(wkey)).LeaderStore
	var follower uint64
	for _, id := range tg.Mem.StoreIDs() {
		if id != leader {
			follower = id
		}
	}
	var served atomic.Uint64
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvGet" && r.Context.GetStaleRead() {
			served.Store(r.StoreID)
		}
		return nil
	})()
	g, err := region.SendToRegion[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, c.Sender(), c.Sender().NewBackoffer(nil), loc,
		&kvrpcpb.GetRequest{Key: wkey, Version: c.MinSafeTS()},
		&region.Options{StaleRead: true, MatchStores: []uint64{follower}})
	if err != nil || g.Error != nil || string(g.Value) != "v" {
		t.Fatalf("stale read at the min safe ts: %v %v", g, err)
	}
	if served.Load() != follower {
		t.Fatalf("stale read served by store %d, want follower %d (leader %d)", served.Load(), follower, leader)
	}
}

// A store that never answered keeps the minimum at 0; once it answers the minimum is
// set. A store that stops answering keeps its last value, which then bounds the minimum.
func TestMinSafeTSUnknownStore(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	ctx := testCtx(t)
	c := openSafeTS(t, tg, nil)
	if err := tg.Mem.StopStore(3); err != nil {
		t.Fatal(err)
	}
	got, err := c.UpdateSafeTS(ctx)
	if !errors.Is(err, cluster.ErrSafeTS) || !errors.Is(err, kv.ErrStoreUnavailable) || got != 0 {
		t.Fatalf("with store 3 down: %d %v", got, err)
	}
	if _, ok := c.StoreSafeTS(3); ok {
		t.Fatal("store 3 has a value")
	}
	if ts, ok := c.StoreSafeTS(1); !ok || ts == 0 {
		t.Fatalf("store 1: %d %v", ts, ok)
	}
	if err := tg.Mem.StartStore(3, false); err != nil {
		t.Fatal(err)
	}
	// The connection to store 3 comes back after gRPC's reconnect backoff; the
	// background updater would simply try again at its next round.
	var up uint64
	waitFor(t, func() bool {
		up, err = c.UpdateSafeTS(ctx)
		return err == nil
	})
	if up == 0 {
		t.Fatal("store 3 back: min safe ts 0")
	}
	last3, _ := c.StoreSafeTS(3)

	// Store 3 fails from now on (Unimplemented, as a store without the RPC would).
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "GetStoreSafeTS" && r.StoreID == 3 {
			return &memcluster.Fault{Err: status.Error(codes.Unimplemented, "no safe ts here")}
		}
		return nil
	})()
	for range 2 {
		got, err := c.UpdateSafeTS(ctx)
		if !errors.Is(err, cluster.ErrSafeTS) {
			t.Fatalf("store 3 failing: %d %v", got, err)
		}
		if got > last3 || got == 0 {
			t.Fatalf("min %d, want within (0, %d] (store 3's last value)", got, last3)
		}
		if ts, ok := c.StoreSafeTS(3); !ok || ts != last3 {
			t.Fatalf("store 3 kept %d %v, want %d", ts, ok, last3)
		}
	}
}

// client-go: tikv/kv_test.go TestMinSafeTsFromStores, TestMinSafeTsFromStoresWithAllZeros,
// TestMinSafeTsFromStoresWithSomeZeros — the stores' answers are made up by an RPC
// interceptor. Plus: a lower answer never moves a store's value back.
func TestMinSafeTSFromStores(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 2})
	rw := &rewriteSafeTS{}
	c := openSafeTS(t, tg, func(cfg *cluster.Config) {
		cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, rw.interceptor())
	})
	ctx := testCtx(t)
	addr1, _ := tg.Mem.StoreAddr(1)
	answers := func(s1, s2 uint64) func(string) uint64 {
		return func(addr string) uint64 {
			if addr == addr1 {
				return s1
			}
			return s2
		}
	}
	for _, tc := range []struct {
		name           string
		s1, s2         uint64
		want           uint64
		store1, store2 uint64
	}{
		{"all zeros", 0, 0, 0, 0, 0},
		{"some zeros", 100, 0, 100, 100, 0},
		{"from stores", 100, 80, 80, 100, 80},
		{"lower answers keep the old values", 90, 10, 80, 100, 80},
		{"higher answers move on", 200, 150, 150, 200, 150},
	} {
		rw.set(answers(tc.s1, tc.s2))
		got, err := c.UpdateSafeTS(ctx)
		if err != nil || got != tc.want {
			t.Fatalf("%s: min %d %v, want %d", tc.name, got, err, tc.want)
		}
		if ts, _ := c.StoreSafeTS(1); ts != tc.store1 {
			t.Fatalf("%s: store 1 = %d, want %d", tc.name, ts, tc.store1)
		}
		if ts, _ := c.StoreSafeTS(2); ts != tc.store2 {
			t.Fatalf("%s: store 2 = %d, want %d", tc.name, ts, tc.store2)
		}
	}
}

// The background updater starts on the first MinSafeTS call (or at Open when Eager),
// fills the value without UpdateSafeTS, and is stopped and joined by Close (the
// package's TestMain checks for leaked goroutines).
func TestSafeTSBackgroundUpdater(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 2})
	for _, eager := range []bool{false, true} {
		c := openSafeTS(t, tg, func(cfg *cluster.Config) {
			cfg.SafeTS = cluster.SafeTSConfig{Interval: 5 * time.Millisecond, Eager: eager}
		})
		if eager {
			waitFor(t, func() bool { _, ok := c.StoreSafeTS(2); return ok })
		}
		waitFor(t, func() bool { return c.MinSafeTS() > 0 })
		first := c.MinSafeTS()
		waitFor(t, func() bool { return c.MinSafeTS() > first })
		ctx := testCtx(t)
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateSafeTS(ctx); !errors.Is(err, kv.ErrClosed) {
			t.Fatalf("after close: %v", err)
		}
		_ = c.MinSafeTS() // does not restart the updater
	}
}

// A round that cannot list the stores changes nothing and says why.
func TestUpdateSafeTSContextEnded(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	c := openSafeTS(t, tg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.UpdateSafeTS(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled round: %v", err)
	}
	if _, ok := c.StoreSafeTS(1); ok {
		t.Fatal("a cancelled round set a value")
	}
	if c.MinSafeTS() != 0 {
		t.Fatal("a disabled updater set the minimum")
	}
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// The official PD HTTP client can be the source.
var _ cluster.MinResolvedTSSource = pdhttp.Client(nil)

// fakePD is a MinResolvedTSSource answering with fn.
type fakePD struct {
	mu sync.Mutex
	fn func(ids []uint64) (uint64, map[uint64]uint64, error)
}

func (f *fakePD) set(fn func(ids []uint64) (uint64, map[uint64]uint64, error)) {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
}

func (f *fakePD) GetMinResolvedTSByStoresIDs(ctx context.Context, ids []uint64) (uint64, map[uint64]uint64, error) {
	f.mu.Lock()
	fn := f.fn
	f.mu.Unlock()
	return fn(ids)
}

// client-go: tikv/kv_test.go TestMinSafeTsFromPD, TestMinSafeTsFromPDByStores,
// TestMinSafeTsFromMixed1 and TestMinSafeTsFromMixed2 (global scope only: zone scopes
// are legacy and not built). Store 1 plays client-go's TiKV store (answers 100), store
// 2 its TiFlash store (answers 80).
func TestMinSafeTSFromPD(t *testing.T) {
	const maxTS = ^uint64(0)
	perStore := func(f func(id uint64) uint64) func([]uint64) (uint64, map[uint64]uint64, error) {
		return func(ids []uint64) (uint64, map[uint64]uint64, error) {
			if len(ids) == 0 {
				return maxTS, nil, nil // no cluster-wide value
			}
			m := map[uint64]uint64{}
			for _, id := range ids {
				m[id] = f(id)
			}
			return maxTS, m, nil
		}
	}
	pdDown := func([]uint64) (uint64, map[uint64]uint64, error) { return 0, nil, errors.New("pd down") }
	for _, tc := range []struct {
		name   string
		rounds []func([]uint64) (uint64, map[uint64]uint64, error) // PD's answers, one per round
		want   uint64
		calls  int32 // GetStoreSafeTS calls of the last round
	}{
		{"from PD", []func([]uint64) (uint64, map[uint64]uint64, error){
			func([]uint64) (uint64, map[uint64]uint64, error) { return 90, nil, nil }}, 90, 0},
		{"a lower cluster value from PD is ignored", []func([]uint64) (uint64, map[uint64]uint64, error){
			func([]uint64) (uint64, map[uint64]uint64, error) { return 90, nil, nil },
			func([]uint64) (uint64, map[uint64]uint64, error) { return 70, nil, nil }}, 90, 0},
		{"from PD by stores", []func([]uint64) (uint64, map[uint64]uint64, error){
			perStore(func(id uint64) uint64 { return 100 + id })}, 101, 0},
		{"mixed 1", []func([]uint64) (uint64, map[uint64]uint64, error){perStore(func(id uint64) uint64 {
			if id == 2 {
				return 0
			}
			return 10
		})}, 10, 1},
		{"mixed 2", []func([]uint64) (uint64, map[uint64]uint64, error){perStore(func(id uint64) uint64 {
			if id == 2 {
				return 10
			}
			return maxTS
		})}, 10, 1},
		{"PD fails", []func([]uint64) (uint64, map[uint64]uint64, error){pdDown}, 80, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := testcluster.Memory(t, memcluster.Options{Stores: 2})
			rw := &rewriteSafeTS{}
			pd := &fakePD{}
			c := openSafeTS(t, tg, func(cfg *cluster.Config) {
				cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, rw.interceptor())
				cfg.SafeTS.PD = pd
			})
			ctx := testCtx(t)
			addr1, _ := tg.Mem.StoreAddr(1)
			rw.set(func(addr string) uint64 {
				if addr == addr1 {
					return 100
				}
				return 80
			})
			var got uint64
			var err error
			before := rw.calls.Load()
			for _, r := range tc.rounds {
				pd.set(r)
				before = rw.calls.Load()
				got, err = c.UpdateSafeTS(ctx)
			}
			if err != nil || got != tc.want {
				t.Fatalf("min %d %v, want %d", got, err, tc.want)
			}
			if n := rw.calls.Load() - before; n != tc.calls {
				t.Fatalf("%d store calls, want %d", n, tc.calls)
			}
			// A store answering MaxUint64 is not taken at its word.
			pd.set(pdDown)
			rw.set(func(string) uint64 { return maxTS })
			if _, err := c.UpdateSafeTS(ctx); !errors.Is(err, cluster.ErrSafeTS) {
				t.Fatalf("MaxUint64 answers: %v", err)
			}
			if ts, _ := c.StoreSafeTS(1); ts == maxTS {
				t.Fatal("store 1 took MaxUint64")
			}
		})
	}
}
