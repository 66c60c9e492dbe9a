package pd

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikv/pd/client/clients/gc"

	"github.com/tikvsql/tikvsql/kv"
)

// client-go: behaviour of tikv/kv.go loadTxnSafePoint/runTxnSafePointUpdater/CheckVisibility
// (no unit test there; integration_tests/safepoint_test.go TestSafepoint covers it end to end)
func TestCheckVisibilityAndRefresh(t *testing.T) {
	f := newFakePD()
	f.gcState = gc.GCState{TxnSafePoint: 1000, GCSafePoint: 900}
	clk := newFakeClock()
	c := newTestClient(t, Config{Clock: clk, LowResolutionInterval: time.Hour}, f)
	eventually(t, "refresh timers", func() bool { return clk.Waiters() == 2 })
	if sp, at := c.TxnSafePoint(); sp != 1000 || !at.Equal(clk.Now()) {
		t.Fatalf("cached safe point = %d at %v", sp, at)
	}
	if err := c.CheckVisibility(1000); err != nil {
		t.Fatalf("start at the safe point: %v", err)
	}
	if err := c.CheckVisibility(999); !errors.Is(err, kv.ErrTxnAbortedByGC) {
		t.Fatalf("start before the safe point: %v", err)
	}
	// The refresher reloads every 10 s.
	f.mu.Lock()
	f.gcState.TxnSafePoint = 2000
	f.mu.Unlock()
	calls := f.gcCalls.Load()
	clk.Advance(10 * time.Second)
	eventually(t, "reload", func() bool { sp, _ := c.TxnSafePoint(); return sp == 2000 })
	// Failures retry after 1 s; a cache older than 90 s is refused.
	f.mu.Lock()
	f.gcErr = errors.New("no leader")
	f.mu.Unlock()
	eventually(t, "next timer", func() bool { return clk.Waiters() == 2 })
	calls = f.gcCalls.Load()
	clk.Advance(10 * time.Second)
	eventually(t, "failed reload", func() bool { return f.gcCalls.Load() == calls+1 && clk.Waiters() == 2 })
	clk.Advance(time.Second)
	eventually(t, "retry after 1 s", func() bool { return f.gcCalls.Load() == calls+2 && clk.Waiters() == 2 })
	if err := c.CheckVisibility(2000); err != nil {
		t.Fatalf("cache 11 s old: %v", err)
	}
	for range 80 {
		clk.Advance(time.Second)
		eventually(t, "retry", func() bool { return clk.Waiters() == 2 })
	}
	if err := c.CheckVisibility(2000); !errors.Is(err, kv.ErrPDUnavailable) {
		t.Fatalf("cache 91 s old: %v", err)
	}
	f.mu.Lock()
	f.gcErr = nil
	f.mu.Unlock()
	clk.Advance(time.Second)
	eventually(t, "recovery", func() bool { return c.CheckVisibility(2000) == nil })
}

func TestGCStatesUnsupported(t *testing.T) {
	f := newFakePD()
	f.gcErr = errUnimplemented
	c := newTestClient(t, idleConfig(), f)
	if err := c.CheckVisibility(1); err != nil {
		t.Fatalf("visibility without GC states API: %v", err)
	}
	if _, err := c.GCState(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("GCState: %v", err)
	}
	if _, err := c.SetGCBarrier(context.Background(), "svc", 5, time.Minute); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("SetGCBarrier: %v", err)
	}
	if _, err := c.AdvanceTxnSafePoint(context.Background(), 5); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("AdvanceTxnSafePoint: %v", err)
	}
}

func TestCheckVisibilityBeforeFirstLoad(t *testing.T) {
	f := newFakePD()
	f.gcErr = errors.New("no leader")
	c := newTestClient(t, idleConfig(), f)
	if err := c.CheckVisibility(1); !errors.Is(err, kv.ErrPDUnavailable) {
		t.Fatalf("never loaded: %v", err)
	}
}

func TestGCBarriersAndAdvance(t *testing.T) {
	f := newFakePD()
	f.gcState = gc.GCState{TxnSafePoint: 100, GCSafePoint: 90}
	c := newTestClient(t, idleConfig(), f)
	ctx := context.Background()
	b, err := c.SetGCBarrier(ctx, "backup", 150, time.Minute)
	if err != nil || b.ID != "backup" || b.TS != 150 || b.TTL != time.Minute {
		t.Fatalf("set barrier = %+v, %v", b, err)
	}
	if b, err = c.SetGCBarrier(ctx, "backup", 160, GCBarrierNeverExpires); err != nil || b.TS != 160 {
		t.Fatalf("renew barrier = %+v, %v", b, err)
	}
	if _, err := c.SetGCBarrier(ctx, "late", 50, time.Minute); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("barrier behind the safe point: %v", err)
	}
	if _, err := c.SetGCBarrier(ctx, "", 150, time.Minute); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty id: %v", err)
	}
	st, err := c.GCState(ctx)
	if err != nil || st.TxnSafePoint != 100 || st.GCSafePoint != 90 || len(st.Barriers) != 1 || st.Barriers[0].TS != 160 {
		t.Fatalf("GC state = %+v, %v", st, err)
	}
	r, err := c.AdvanceTxnSafePoint(ctx, 200)
	if err != nil || r.Old != 100 || r.New != 160 || r.BlockedBy == "" {
		t.Fatalf("advance txn safe point = %+v, %v", r, err)
	}
	g, err := c.AdvanceGCSafePoint(ctx, 150)
	if err != nil || g.Old != 90 || g.New != 150 {
		t.Fatalf("advance GC safe point = %+v, %v", g, err)
	}
	if _, err := c.AdvanceGCSafePoint(ctx, 500); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("GC safe point beyond txn safe point: %v", err)
	}
	del, err := c.DeleteGCBarrier(ctx, "backup")
	if err != nil || del == nil || del.ID != "backup" {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if del, err = c.DeleteGCBarrier(ctx, "backup"); err != nil || del != nil {
		t.Fatalf("delete again = %+v, %v", del, err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errClass
	}{
		{errors.New("rpc error: code = Unavailable desc = connection refused"), classRetry},
		{errors.New("[PD:client:ErrClientGetLeader]get leader failed"), classRetry},
		{errUnimplemented, classUnsupported},
		{errors.New("rpc error: code = Unimplemented desc = unknown service pdpb.PD"), classUnsupported},
		{errors.New("type:STORE_TOMBSTONE message:\"store 2 is tombstone\""), classTombstone},
		{errors.New("type:ENTRY_NOT_FOUND"), classNotFound},
		{errors.New("type:INVALID_VALUE message:\"bad\""), classInvalid},
		{errors.New("type:REGIONS_NOT_CONTAIN_ALL_KEY_RANGE"), classInvalid},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%q) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestClosedClientRefusesEveryCall(t *testing.T) {
	c, err := NewWithBackend(context.Background(), idleConfig(), newFakePD())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["GetRegion"] = c.GetRegion(ctx, []byte("a"))
	_, checks["ScanRegions"] = c.ScanRegions(ctx, nil, nil, 0)
	_, checks["BatchScanRegions"] = c.BatchScanRegions(ctx, []kv.KeyRange{{}}, 0)
	_, checks["GetStore"] = c.GetStore(ctx, 1)
	_, checks["GetAllStores"] = c.GetAllStores(ctx)
	_, checks["LoadKeyspace"] = c.LoadKeyspace(ctx, "")
	_, checks["GCState"] = c.GCState(ctx)
	_, checks["SetGCBarrier"] = c.SetGCBarrier(ctx, "a", 1, time.Second)
	_, checks["DeleteGCBarrier"] = c.DeleteGCBarrier(ctx, "a")
	_, checks["AdvanceTxnSafePoint"] = c.AdvanceTxnSafePoint(ctx, 1)
	_, checks["AdvanceGCSafePoint"] = c.AdvanceGCSafePoint(ctx, 1)
	_, checks["SplitRegions"] = c.SplitRegions(ctx, nil)
	_, checks["ScatterRegions"] = c.ScatterRegions(ctx, nil, "")
	_, checks["ScatterInProgress"] = c.ScatterInProgress(ctx, 1)
	_, checks["MinTS"] = c.MinTS(ctx)
	_, checks["ExternalTimestamp"] = c.ExternalTimestamp(ctx)
	checks["SetExternalTimestamp"] = c.SetExternalTimestamp(ctx, 1)
	for name, err := range checks {
		if !errors.Is(err, kv.ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}
