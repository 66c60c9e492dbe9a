package memcluster

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func dialPD(t *testing.T, c *Cluster) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(c.PDAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// The unary PD calls a client uses when the router stream is off, and PD's housekeeping.
func TestPDUnaryCalls(t *testing.T) {
	c, err := New(Options{Stores: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	pd := pdpb.NewPDClient(dialPD(t, c))
	if r, err := pd.IsBootstrapped(ctx, &pdpb.IsBootstrappedRequest{}); err != nil || !r.Bootstrapped {
		t.Fatal(r, err)
	}
	if r, _ := pd.Bootstrap(ctx, &pdpb.BootstrapRequest{}); r.Header.Error.GetType() != pdpb.ErrorType_ALREADY_BOOTSTRAPPED {
		t.Fatal(r)
	}
	a, _ := pd.AllocID(ctx, &pdpb.AllocIDRequest{})
	b, _ := pd.AllocID(ctx, &pdpb.AllocIDRequest{})
	if b.Id <= a.Id {
		t.Fatal("ids must grow")
	}
	if _, err := pd.StoreHeartbeat(ctx, &pdpb.StoreHeartbeatRequest{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := pd.GetMinTS(ctx, &pdpb.GetMinTSRequest{}); r.Timestamp.GetPhysical() == 0 {
		t.Fatal(r)
	}
	if r, _ := pd.GetStore(ctx, &pdpb.GetStoreRequest{StoreId: 77}); r.Header.Error == nil {
		t.Fatal("unknown store must fail")
	}
	sr, _ := pd.SplitAndScatterRegions(ctx, &pdpb.SplitAndScatterRegionsRequest{SplitKeys: [][]byte{RegionKey([]byte("g")), RegionKey([]byte("p"))}})
	if len(sr.RegionsId) != 2 {
		t.Fatal(sr)
	}
	if r, _ := pd.ScatterRegion(ctx, &pdpb.ScatterRegionRequest{RegionsId: sr.RegionsId}); r.FinishedPercentage != 100 {
		t.Fatal(r)
	}
	if r, _ := pd.GetOperator(ctx, &pdpb.GetOperatorRequest{RegionId: sr.RegionsId[0]}); r.Status != pdpb.OperatorStatus_SUCCESS {
		t.Fatal(r)
	}
	mid, _ := pd.GetRegion(ctx, &pdpb.GetRegionRequest{RegionKey: RegionKey([]byte("h"))})
	if string(mid.Region.StartKey) != string(RegionKey([]byte("g"))) || mid.Leader == nil {
		t.Fatal(mid)
	}
	if r, _ := pd.GetPrevRegion(ctx, &pdpb.GetRegionRequest{RegionKey: RegionKey([]byte("h"))}); len(r.Region.StartKey) != 0 {
		t.Fatal(r)
	}
	if r, _ := pd.GetPrevRegion(ctx, &pdpb.GetRegionRequest{RegionKey: nil}); r.Region != nil {
		t.Fatal("the first region has no previous one")
	}
	if r, _ := pd.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{RegionId: mid.Region.Id}); r.Region.GetId() != mid.Region.Id {
		t.Fatal(r)
	}
	if r, _ := pd.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{RegionId: 4242}); r.Region != nil {
		t.Fatal("unknown region")
	}
	//lint:ignore SA1019 the in-process PD serves the older API as well, so it is tested
	if r, _ := pd.ScanRegions(ctx, &pdpb.ScanRegionsRequest{Limit: 2}); len(r.Regions) != 2 {
		t.Fatal(r)
	}
	// Legacy GC calls.
	if r, _ := pd.UpdateGCSafePoint(ctx, &pdpb.UpdateGCSafePointRequest{SafePoint: 50}); r.NewSafePoint != 50 {
		t.Fatal(r)
	}
	if r, _ := pd.GetGCSafePoint(ctx, &pdpb.GetGCSafePointRequest{}); r.SafePoint != 50 {
		t.Fatal(r)
	}
	if r, _ := pd.UpdateServiceGCSafePoint(ctx, &pdpb.UpdateServiceGCSafePointRequest{ServiceId: []byte("s"), TTL: 0}); r.MinSafePoint != 50 {
		t.Fatal(r)
	}
	ks := &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: 1}}
	if r, _ := pd.SetGCBarrier(ctx, &pdpb.SetGCBarrierRequest{KeyspaceScope: ks, BarrierId: "b", BarrierTs: 10, TtlSeconds: 60}); r.NewBarrierInfo == nil {
		t.Fatal(r)
	}
	if r, _ := pd.AdvanceTxnSafePoint(ctx, &pdpb.AdvanceTxnSafePointRequest{KeyspaceScope: ks, Target: 5}); r.NewTxnSafePoint != 5 {
		t.Fatal(r)
	}
	if r, _ := pd.AdvanceTxnSafePoint(ctx, &pdpb.AdvanceTxnSafePointRequest{KeyspaceScope: ks, Target: 1}); r.Header.Error == nil {
		t.Fatal("the txn safe point never moves back")
	}
	if _, err := pd.AdvanceGCSafePoint(ctx, &pdpb.AdvanceGCSafePointRequest{KeyspaceScope: ks, Target: 5}); err != nil {
		t.Fatal(err)
	}
	all, _ := pd.GetAllKeyspacesGCStates(ctx, &pdpb.GetAllKeyspacesGCStatesRequest{})
	if len(all.GcStates) != 2 || len(all.GcStates[0].GcBarriers) != 1 || all.GcStates[0].GcSafePoint != 5 {
		t.Fatalf("%+v", all.GcStates)
	}
	if r, _ := pd.DeleteGCBarrier(ctx, &pdpb.DeleteGCBarrierRequest{KeyspaceScope: ks, BarrierId: "none"}); r.DeletedBarrierInfo != nil {
		t.Fatal(r)
	}
	ms := meta_storagepb.NewMetaStorageClient(dialPD(t, c))
	if r, err := ms.Get(ctx, &meta_storagepb.GetRequest{Key: []byte("/ms")}); err != nil || len(r.Kvs) != 0 {
		t.Fatal(r, err)
	}
}

func TestKeyspaceService(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ksc := keyspacepb.NewKeyspaceClient(dialPD(t, c))
	watch, err := ksc.WatchKeyspaces(ctx, &keyspacepb.WatchKeyspacesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || len(first.Keyspaces) != 1 || first.Keyspaces[0].Name != "DEFAULT" {
		t.Fatal(first, err)
	}
	id, err := c.CreateKeyspace("a")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.CreateKeyspace("a"); again != id {
		t.Fatal("creating twice returns the same ID")
	}
	if next, err := watch.Recv(); err != nil || len(next.Keyspaces) != 2 {
		t.Fatal(next, err)
	}
	if r, _ := ksc.LoadKeyspaceByID(ctx, &keyspacepb.LoadKeyspaceByIDRequest{Keyspace: &keyspacepb.LoadKeyspaceByIDRequest_Id{Id: id}}); r.Keyspace.GetName() != "a" {
		t.Fatal(r)
	}
	if r, _ := ksc.LoadKeyspace(ctx, &keyspacepb.LoadKeyspaceRequest{}); r.Keyspace.GetName() != "DEFAULT" {
		t.Fatal(r)
	}
	if r, _ := ksc.GetAllKeyspaces(ctx, &keyspacepb.GetAllKeyspacesRequest{StartKeyspace: &keyspacepb.GetAllKeyspacesRequest_StartId{StartId: 1}}); len(r.Keyspaces) != 1 {
		t.Fatal(r)
	}
	r, _ := ksc.UpdateKeyspaceState(ctx, &keyspacepb.UpdateKeyspaceStateRequest{Keyspace: &keyspacepb.UpdateKeyspaceStateRequest_Id{Id: id}, State: keyspacepb.KeyspaceState_DISABLED})
	if r.Keyspace.GetState() != keyspacepb.KeyspaceState_DISABLED {
		t.Fatal(r)
	}
	if r, _ := ksc.UpdateKeyspaceState(ctx, &keyspacepb.UpdateKeyspaceStateRequest{Keyspace: &keyspacepb.UpdateKeyspaceStateRequest_Id{Id: 99}}); r.Header.Error == nil {
		t.Fatal("unknown keyspace")
	}
	if err := c.SetKeyspaceState("zz", keyspacepb.KeyspaceState_ENABLED); err == nil {
		t.Fatal("unknown keyspace")
	}
}

// API v2 raw requests route by the memcomparable form of their prefixed keys.
func TestRawAPIV2AndSplitRPC(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	id, err := e.c.CreateKeyspace("v2")
	if err != nil {
		t.Fatal(err)
	}
	key := []byte{'r', 0, 0, byte(id), 'k'}
	rc, cli := e.route(key, true)
	rc.ApiVersion = kvrpcpb.APIVersion_V2
	if _, err := cli.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rc, Key: key, Value: []byte("v"), Ttl: 30}); err != nil {
		t.Fatal(err)
	}
	if r, _ := cli.RawGetKeyTTL(ctx, &kvrpcpb.RawGetKeyTTLRequest{Context: rc, Key: key}); r.RegionError != nil || r.Ttl != 30 {
		t.Fatal(r)
	}
	if r, _ := cli.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Context: rc, Key: key, PreviousValue: []byte("v"), Value: []byte("w")}); !r.Succeed {
		t.Fatal(r)
	}
	end := []byte{'r', 0, 0, byte(id) + 1}
	if r, _ := cli.RawChecksum(ctx, &kvrpcpb.RawChecksumRequest{Context: rc, Ranges: []*kvrpcpb.KeyRange{{StartKey: key[:4], EndKey: end}}}); r.TotalKvs != 1 {
		t.Fatal(r)
	}
	// Split through TiKV's SplitRegion RPC.
	tk := []byte{'x', 0, 0, byte(id), 'm'}
	trc, tcli := e.route(tk, true)
	sr, err := tcli.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: trc, SplitKeys: [][]byte{tk}})
	if err != nil || len(sr.Regions) != 2 {
		t.Fatal(sr, err)
	}
}

// client-go 8.5 reads TiDB's saved safe point through etcd's KV.Range on PD.
func TestEtcdRangeAnswersEmpty(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp := new(etcdRangeResponse)
	err = dialPD(t, c).Invoke(context.Background(), "/etcdserverpb.KV/Range", &etcdRangeRequest{Key: []byte("/tidb/store/gcworker/saved_safe_point")}, resp)
	if err != nil || resp.Header.GetClusterId() != 1 || resp.Count != 0 {
		t.Fatalf("%+v %v", resp, err)
	}
}
