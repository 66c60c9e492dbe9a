package memcluster

import (
	"bytes"
	"context"
	"testing"
	"time"

	pd "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/pkg/caller"
)

// newPDClient drives the cluster's PD with the official client, router stream included.
func newPDClient(t *testing.T, c *Cluster) pd.Client {
	t.Helper()
	// The context given to the PD client bounds its whole life, not just construction.
	cli, err := pd.NewClientWithContext(context.Background(), caller.Component("memcluster-test"), []string{c.PDAddr()}, pd.SecurityOption{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cli.Close)
	return cli
}

func TestPDClientCompatibility(t *testing.T) {
	c, err := New(Options{Stores: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var last int64
	for i := 0; i < 20; i++ {
		p, l, err := cli.GetTS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ts := p<<18 | l
		if ts <= last {
			t.Fatalf("TSO not monotonic: %d after %d", ts, last)
		}
		last = ts
	}
	if p, l, err := cli.GetMinTS(ctx); err != nil || p<<18|l < last {
		t.Fatalf("min ts %d %d %v", p, l, err)
	}

	stores, err := cli.GetAllStores(ctx)
	if err != nil || len(stores) != 3 {
		t.Fatalf("stores %v %v", stores, err)
	}
	s, err := cli.GetStore(ctx, stores[1].Id)
	if addr, _ := c.StoreAddr(stores[1].Id); err != nil || s.Address != addr {
		t.Fatalf("store %v %v", s, err)
	}

	if _, err := cli.SplitRegions(ctx, [][]byte{RegionKey([]byte("m"))}); err != nil {
		t.Fatal(err)
	}
	r, err := cli.GetRegion(ctx, RegionKey([]byte("z")))
	if err != nil || !bytes.Equal(r.Meta.StartKey, RegionKey([]byte("m"))) || r.Leader == nil {
		t.Fatalf("region of z: %+v %v", r, err)
	}
	prev, err := cli.GetPrevRegion(ctx, RegionKey([]byte("z")))
	if err != nil || !bytes.Equal(prev.Meta.EndKey, RegionKey([]byte("m"))) {
		t.Fatalf("prev region: %+v %v", prev, err)
	}
	byID, err := cli.GetRegionByID(ctx, r.Meta.Id)
	if err != nil || byID.Meta.Id != r.Meta.Id {
		t.Fatalf("by id: %+v %v", byID, err)
	}
	//lint:ignore SA1019 the in-process PD serves the older API as well, so it is tested
	if rs, err := cli.ScanRegions(ctx, nil, nil, 10); err != nil || len(rs) != 2 {
		t.Fatalf("scan regions: %d %v", len(rs), err)
	}
	if rs, err := cli.BatchScanRegions(ctx, []router.KeyRange{{StartKey: []byte{}, EndKey: RegionKey([]byte("a"))}, {StartKey: RegionKey([]byte("n")), EndKey: []byte{}}}, 10); err != nil || len(rs) != 2 {
		t.Fatalf("batch scan regions: %d %v", len(rs), err)
	}

	if _, err := c.CreateKeyspace("space1"); err != nil {
		t.Fatal(err)
	}
	ks, err := cli.LoadKeyspace(ctx, "space1")
	if err != nil || ks.GetId() != 1 || ks.State.String() != "ENABLED" {
		t.Fatalf("keyspace %v %v", ks, err)
	}
	if _, err := cli.LoadKeyspace(ctx, "nope"); err == nil {
		t.Fatal("unknown keyspace must fail")
	}
	if n := len(c.Regions()); n != 6 {
		t.Fatalf("keyspace creation splits its ranges off: %d regions", n)
	}
}

func TestPDGCStates(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const null = nullKeyspace
	gcc := cli.GetGCStatesClient(null)
	if _, err := gcc.SetGCBarrier(ctx, "br", 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctl := cli.GetGCInternalController(null)
	res, err := ctl.AdvanceTxnSafePoint(ctx, 200)
	if err != nil || res.NewTxnSafePoint != 100 || res.BlockerDescription == "" {
		t.Fatalf("barrier must hold the txn safe point: %+v %v", res, err)
	}
	if _, err := ctl.AdvanceGCSafePoint(ctx, 150); err == nil {
		t.Fatal("GC safe point may not pass the txn safe point")
	}
	if _, err := ctl.AdvanceGCSafePoint(ctx, 90); err != nil {
		t.Fatal(err)
	}
	st, err := gcc.GetGCState(ctx)
	if err != nil || st.TxnSafePoint != 100 || st.GCSafePoint != 90 {
		t.Fatalf("state %+v %v", st, err)
	}
	if _, err := gcc.SetGCBarrier(ctx, "late", 50, time.Hour); err == nil {
		t.Fatal("a barrier below the txn safe point must fail")
	}
	if info, err := gcc.DeleteGCBarrier(ctx, "br"); err != nil || info == nil {
		t.Fatalf("delete barrier %v %v", info, err)
	}
	if res, err := ctl.AdvanceTxnSafePoint(ctx, 200); err != nil || res.NewTxnSafePoint != 200 {
		t.Fatalf("%+v %v", res, err)
	}
	//lint:ignore SA1019 the in-process PD serves the older API as well, so it is tested
	if sp, err := cli.UpdateServiceGCSafePoint(ctx, "svc", 60, 300); err != nil || sp != 300 {
		t.Fatalf("service safe point %d %v", sp, err)
	}
}
