package pd

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
)

// clusterConfig returns a Config for the real cluster named by TIKV_PD_ADDRS
// (comma-separated PD addresses), or skips the test when it is unset.
func clusterConfig(t *testing.T) Config {
	t.Helper()
	addrs := os.Getenv("TIKV_PD_ADDRS")
	if addrs == "" {
		t.Skip("TIKV_PD_ADDRS not set; skipping tests against a real cluster")
	}
	return Config{Endpoints: strings.Split(addrs, ",")}
}

func TestClusterTimestampsRegionsStores(t *testing.T) {
	cfg := clusterConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	var prev uint64
	for range 100 {
		ts, err := c.Timestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ts <= prev {
			t.Fatalf("timestamp %d after %d", ts, prev)
		}
		prev = ts
	}
	if err := c.ValidateReadTS(ctx, prev, false); err != nil {
		t.Fatal(err)
	}
	r, err := c.GetRegion(ctx, []byte("tikvsql-pd-test"))
	if err != nil || r.Meta.GetId() == 0 || len(r.Meta.GetPeers()) == 0 {
		t.Fatalf("GetRegion = %+v, %v", r, err)
	}
	if byID, err := c.GetRegionByID(ctx, r.Meta.GetId()); err != nil || byID.Meta.GetId() != r.Meta.GetId() {
		t.Fatalf("GetRegionByID = %+v, %v", byID, err)
	}
	regions, err := c.BatchScanRegions(ctx, nil, 0)
	if err != nil || regions != nil {
		t.Fatalf("empty batch scan = %v, %v", regions, err)
	}
	if all, err := c.ScanRegions(ctx, nil, nil, 10); err != nil || len(all) == 0 {
		t.Fatalf("ScanRegions = %d, %v", len(all), err)
	}
	// PD servers before 2025 lack BatchScanRegions: this exercises the fallback there.
	ranges := []kv.KeyRange{{Start: []byte("a"), End: []byte("b")}, {Start: []byte("x"), End: nil}}
	if got, err := c.BatchScanRegions(ctx, ranges, 10); err != nil || len(got) == 0 {
		t.Fatalf("BatchScanRegions = %d, %v", len(got), err)
	}
	if ts, err := c.MinTS(ctx); err != nil && !errors.Is(err, ErrUnsupported) || err == nil && ts == 0 {
		t.Fatalf("MinTS = %d, %v", ts, err)
	}
	if _, err := c.StaleTimestamp(ctx, time.Second); err != nil {
		t.Fatalf("StaleTimestamp: %v", err)
	}
	if _, err := c.ExternalTimestamp(ctx); err != nil {
		t.Fatalf("ExternalTimestamp: %v", err)
	}
	stores, err := c.GetAllStores(ctx)
	if err != nil || len(stores) == 0 {
		t.Fatalf("GetAllStores = %v, %v", stores, err)
	}
	if s, err := c.GetStore(ctx, stores[0].GetId()); err != nil || s.GetAddress() == "" {
		t.Fatalf("GetStore = %v, %v", s, err)
	}
}

func TestClusterKeyspaceAndGC(t *testing.T) {
	cfg := clusterConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg.APIVersion = codec.V2 // the DEFAULT keyspace always exists
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if ks := c.Keyspace(); ks == nil || ks.Name != codec.DefaultKeyspaceName {
		t.Fatalf("keyspace = %+v", ks)
	}
	if _, err := c.GetRegion(ctx, []byte("k")); err != nil {
		t.Fatalf("GetRegion in the keyspace: %v", err)
	}
	st, err := c.GCState(ctx)
	switch {
	case errors.Is(err, ErrUnsupported):
		t.Logf("PD has no GC states API: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		t.Logf("GC state: %+v", st)
		if err := c.CheckVisibility(st.TxnSafePoint); err != nil {
			t.Fatalf("CheckVisibility at the safe point: %v", err)
		}
	}
}
