package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// startShim runs a shim in front of the cluster's PD (TIKV_PD_ADDRS) and
// returns a typed client of it and the cluster's request header.
func startShim(t *testing.T) (pdpb.PDClient, *pdpb.RequestHeader, context.Context) {
	t.Helper()
	addrs := os.Getenv("TIKV_PD_ADDRS")
	if addrs == "" {
		t.Skip("TIKV_PD_ADDRS is not set; start a cluster with `make cluster`")
	}
	srv, err := Start("127.0.0.1:0", strings.Split(addrs, ",")[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	pd := pdpb.NewPDClient(cc)
	m, err := pd.GetMembers(ctx, &pdpb.GetMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.GetLeader().GetClientUrls(); len(got) != 1 || got[0] != "http://"+srv.Addr() {
		t.Fatalf("leader client URLs = %v, want the shim", got)
	}
	return pd, &pdpb.RequestHeader{ClusterId: m.GetHeader().GetClusterId()}, ctx
}

func TestForwarding(t *testing.T) {
	pd, hdr, ctx := startShim(t)
	stores, err := pd.GetAllStores(ctx, &pdpb.GetAllStoresRequest{Header: hdr})
	if err != nil || len(stores.GetStores()) == 0 {
		t.Fatalf("GetAllStores through the shim: %v, %d stores", err, len(stores.GetStores()))
	}
	tso, err := pd.Tso(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := 0; i < 3; i++ {
		if err := tso.Send(&pdpb.TsoRequest{Header: hdr, Count: 1}); err != nil {
			t.Fatal(err)
		}
		resp, err := tso.Recv()
		if err != nil {
			t.Fatal(err)
		}
		ts := resp.GetTimestamp().GetPhysical()<<18 + resp.GetTimestamp().GetLogical()
		if ts <= last {
			t.Fatalf("TSO not increasing through the shim: %d after %d", ts, last)
		}
		last = ts
	}
	_ = tso.CloseSend()
}

func TestRouterAndBatchScan(t *testing.T) {
	pd, hdr, ctx := startShim(t)
	all, err := pd.BatchScanRegions(ctx, &pdpb.BatchScanRegionsRequest{Header: hdr, Ranges: []*pdpb.KeyRange{{}}})
	if err != nil || len(all.GetRegions()) == 0 {
		t.Fatalf("BatchScanRegions: %v, %d regions", err, len(all.GetRegions()))
	}
	one, err := pd.BatchScanRegions(ctx, &pdpb.BatchScanRegionsRequest{
		Header: hdr, Ranges: []*pdpb.KeyRange{{}, {}}, Limit: 1,
	})
	if err != nil || len(one.GetRegions()) != 1 {
		t.Fatalf("BatchScanRegions with limit 1 and duplicate ranges: %v, %d regions", err, len(one.GetRegions()))
	}
	first := all.GetRegions()[0].GetRegion()

	stream, err := pd.QueryRegion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &pdpb.QueryRegionRequest{Header: hdr, Keys: [][]byte{{}}, Ids: []uint64{first.GetId()}}
	if len(first.GetEndKey()) > 0 {
		req.PrevKeys = [][]byte{first.GetEndKey()}
	}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetKeyIdMap()) != 1 || resp.GetKeyIdMap()[0] != first.GetId() {
		t.Fatalf("key map = %v, want [%d]", resp.GetKeyIdMap(), first.GetId())
	}
	if req.PrevKeys != nil && (len(resp.GetPrevKeyIdMap()) != 1 || resp.GetPrevKeyIdMap()[0] != first.GetId()) {
		t.Fatalf("prev key map = %v, want [%d]", resp.GetPrevKeyIdMap(), first.GetId())
	}
	if r := resp.GetRegionsById()[first.GetId()]; r == nil || r.GetLeader() == nil {
		t.Fatalf("region %d missing or without leader: %v", first.GetId(), r)
	}
	_ = stream.CloseSend()
}

func TestGCAPI(t *testing.T) {
	pd, hdr, ctx := startShim(t)
	st, err := pd.GetGCState(ctx, &pdpb.GetGCStateRequest{Header: hdr})
	if err != nil {
		t.Fatal(err)
	}
	base := st.GetGcState().GetTxnSafePoint()
	tsoStream, err := pd.Tso(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tsoStream.Send(&pdpb.TsoRequest{Header: hdr, Count: 1}); err != nil {
		t.Fatal(err)
	}
	tr, err := tsoStream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = tsoStream.CloseSend()
	now := uint64(tr.GetTimestamp().GetPhysical()-5_000) << 18 // 5 s ago
	if now <= base {
		t.Skip("safe point already recent")
	}
	barrierTS := base + (now-base)/2
	if _, err := pd.SetGCBarrier(ctx, &pdpb.SetGCBarrierRequest{Header: hdr, BarrierId: "b1", BarrierTs: barrierTS, TtlSeconds: 600}); err != nil {
		t.Fatal(err)
	}
	adv, err := pd.AdvanceTxnSafePoint(ctx, &pdpb.AdvanceTxnSafePointRequest{Header: hdr, Target: now})
	if err != nil || adv.GetNewTxnSafePoint() != barrierTS || adv.GetBlockerDescription() == "" {
		t.Fatalf("advance blocked by barrier: %v %+v", err, adv)
	}
	del, err := pd.DeleteGCBarrier(ctx, &pdpb.DeleteGCBarrierRequest{Header: hdr, BarrierId: "b1"})
	if err != nil || del.GetDeletedBarrierInfo().GetBarrierTs() != barrierTS {
		t.Fatalf("delete barrier: %v %+v", err, del)
	}
	adv, err = pd.AdvanceTxnSafePoint(ctx, &pdpb.AdvanceTxnSafePointRequest{Header: hdr, Target: now})
	if err != nil || adv.GetNewTxnSafePoint() != now {
		t.Fatalf("advance without barrier: %v %+v", err, adv)
	}
	bad, err := pd.AdvanceGCSafePoint(ctx, &pdpb.AdvanceGCSafePointRequest{Header: hdr, Target: now + 1})
	if err != nil || bad.GetHeader().GetError() == nil {
		t.Fatalf("GC safe point passed the txn safe point: %v %+v", err, bad)
	}
	gcAdv, err := pd.AdvanceGCSafePoint(ctx, &pdpb.AdvanceGCSafePointRequest{Header: hdr, Target: now})
	if err != nil || gcAdv.GetHeader().GetError() != nil || gcAdv.GetNewGcSafePoint() != now {
		t.Fatalf("advance GC safe point: %v %+v", err, gcAdv)
	}
	sp, err := pd.GetGCSafePoint(ctx, &pdpb.GetGCSafePointRequest{Header: hdr})
	if err != nil || sp.GetSafePoint() != now {
		t.Fatalf("PD's own GC safe point = %d (%v), want %d", sp.GetSafePoint(), err, now)
	}
	old, err := pd.SetGCBarrier(ctx, &pdpb.SetGCBarrierRequest{Header: hdr, BarrierId: "old", BarrierTs: base})
	if err != nil || old.GetHeader().GetError() == nil {
		t.Fatalf("barrier below the txn safe point accepted: %v %+v", err, old)
	}
}
