package memcluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testEnv is a cluster with a gRPC client per store.
type testEnv struct {
	c       *Cluster
	clients map[uint64]tikvpb.TikvClient
}

func newTestEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &testEnv{c: c, clients: map[uint64]tikvpb.TikvClient{}}
	for _, id := range c.StoreIDs() {
		addr, _ := c.StoreAddr(id)
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		e.clients[id] = tikvpb.NewTikvClient(conn)
	}
	return e
}

// route returns the request context and client for the leader of the region of key.
func (e *testEnv) route(key []byte, encoded bool) (*kvrpcpb.Context, tikvpb.TikvClient) {
	ri := e.c.RegionAt(routeKey(key, encoded))
	var peer *metapb.Peer
	for _, p := range ri.Meta.Peers {
		if p.StoreId == ri.LeaderStore {
			peer = p
		}
	}
	return &kvrpcpb.Context{RegionId: ri.Meta.Id, RegionEpoch: ri.Meta.RegionEpoch, Peer: peer}, e.clients[ri.LeaderStore]
}

func TestTxnOverGRPC(t *testing.T) {
	e := newTestEnv(t, Options{Stores: 3})
	ctx := context.Background()
	k := []byte("key")
	rc, cli := e.route(k, true)
	start := e.c.Now()
	pw, err := cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{put("key", "v")}, PrimaryLock: k, StartVersion: start, LockTtl: 3000})
	if err != nil || pw.RegionError != nil || len(pw.Errors) > 0 {
		t.Fatalf("prewrite %v %v", pw, err)
	}
	commit := e.c.Now()
	if cr, err := cli.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: rc, Keys: [][]byte{k}, StartVersion: start, CommitVersion: commit}); err != nil || cr.Error != nil {
		t.Fatalf("commit %v %v", cr, err)
	}
	// The same read through BatchCommands.
	stream, err := cli.BatchCommands(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(&tikvpb.BatchCommandsRequest{RequestIds: []uint64{7, 8}, Requests: []*tikvpb.BatchCommandsRequest_Request{
		{Cmd: &tikvpb.BatchCommandsRequest_Request_Get{Get: &kvrpcpb.GetRequest{Context: rc, Key: k, Version: e.c.Now()}}},
		{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: &kvrpcpb.RawPutRequest{Context: rc, Key: []byte("raw"), Value: []byte("r")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*tikvpb.BatchCommandsResponse_Response{}
	for len(got) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range resp.RequestIds {
			got[id] = resp.Responses[i]
		}
	}
	if v := got[7].GetGet().GetValue(); string(v) != "v" {
		t.Fatalf("batched get = %q", v)
	}
	if got[8].GetRawPut() == nil {
		t.Fatal("batched raw put has no answer")
	}
	stream.CloseSend()
}

func TestRegionErrors(t *testing.T) {
	e := newTestEnv(t, Options{Stores: 3})
	ctx := context.Background()
	k := []byte("k")
	rc, cli := e.route(k, true)
	get := func(cli tikvpb.TikvClient, rc *kvrpcpb.Context, key []byte) *errorpb.Error {
		t.Helper()
		resp, err := cli.KvGet(ctx, &kvrpcpb.GetRequest{Context: rc, Key: key, Version: 10})
		if err != nil {
			t.Fatal(err)
		}
		return resp.RegionError
	}
	if rerr := get(cli, rc, k); rerr != nil {
		t.Fatalf("routed request: %v", rerr)
	}
	var follower uint64
	for id := range e.clients {
		if id != rc.Peer.StoreId {
			follower = id
		}
	}
	fctx := *rc
	fctx.Peer = &metapb.Peer{StoreId: follower}
	if p := get(e.clients[follower], &fctx, k).GetNotLeader().GetLeader(); p.GetStoreId() != rc.Peer.StoreId {
		t.Fatalf("want a leader hint, got %v", p)
	}
	fctx.ReplicaRead = true
	if rerr := get(e.clients[follower], &fctx, k); rerr != nil {
		t.Fatalf("a replica read is served by a follower: %v", rerr)
	}
	if rerr := get(e.clients[follower], rc, k); rerr.GetStoreNotMatch() == nil {
		t.Fatalf("want store not match, got %v", rerr)
	}
	bad := *rc
	bad.RegionId = 999
	if rerr := get(cli, &bad, k); rerr.GetRegionNotFound() == nil {
		t.Fatalf("want region not found, got %v", rerr)
	}
	if _, err := e.c.Split(RegionKey([]byte("m"))); err != nil {
		t.Fatal(err)
	}
	if rerr := get(cli, rc, k); len(rerr.GetEpochNotMatch().GetCurrentRegions()) != 2 {
		t.Fatalf("want epoch not match with both halves, got %v", rerr)
	}
	rc, cli = e.route(k, true)
	if rerr := get(cli, rc, []byte("z")); rerr.GetKeyNotInRegion() == nil {
		t.Fatalf("want key not in region, got %v", rerr)
	}
	// Leader transfer and merge.
	ri := e.c.RegionAt(RegionKey(k))
	if err := e.c.TransferLeader(ri.Meta.Id, follower); err != nil {
		t.Fatal(err)
	}
	if rerr := get(cli, rc, k); rerr.GetNotLeader().GetLeader().GetStoreId() != follower {
		t.Fatalf("after transfer: %v", rerr)
	}
	right := e.c.RegionAt(RegionKey([]byte("z")))
	if err := e.c.Merge(right.Meta.Id, ri.Meta.Id); err != nil {
		t.Fatal(err)
	}
	if n := len(e.c.Regions()); n != 1 {
		t.Fatalf("after merge: %d regions", n)
	}
	if err := e.c.Merge(right.Meta.Id, ri.Meta.Id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("merging a merged region: %v", err)
	}
}

func TestFaultHooks(t *testing.T) {
	e := newTestEnv(t, Options{})
	k := []byte("k")
	rc, cli := e.route(k, false)
	remove := e.c.AddHook(func(_ context.Context, r *Request) *Fault {
		switch r.Method {
		case "RawGet":
			return &Fault{RegionError: &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "injected"}}}
		case "RawPut":
			return &Fault{Err: status.Error(codes.Unavailable, "injected")}
		case "RawDelete":
			return &Fault{Delay: 30 * time.Millisecond}
		case "RawScan":
			return &Fault{DropResponse: true}
		}
		return nil
	})
	ctx := context.Background()
	if resp, err := cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rc, Key: k}); err != nil || resp.RegionError.GetServerIsBusy() == nil {
		t.Fatalf("injected region error: %v %v", resp, err)
	}
	if _, err := cli.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rc, Key: k, Value: k}); status.Code(err) != codes.Unavailable {
		t.Fatalf("injected rpc error: %v", err)
	}
	start := time.Now()
	if _, err := cli.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Context: rc, Key: k}); err != nil || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("injected latency: %v %v", time.Since(start), err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := cli.RawScan(tctx, &kvrpcpb.RawScanRequest{Context: rc, StartKey: k}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("dropped response must time out: %v", err)
	}
	remove()
	if resp, err := cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rc, Key: k}); err != nil || resp.RegionError != nil {
		t.Fatalf("after removing the hook: %v %v", resp, err)
	}
}

func TestStopStartStore(t *testing.T) {
	e := newTestEnv(t, Options{Stores: 2})
	id := e.c.StoreIDs()[0]
	old, _ := e.c.StoreAddr(id)
	if err := e.c.StopStore(id); err != nil {
		t.Fatal(err)
	}
	if e.c.storeUp(id) {
		t.Fatal("store still up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := e.clients[id].RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k")}); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a stopped store must not answer: %v", err)
	}
	if err := e.c.StartStore(id, true); err != nil {
		t.Fatal(err)
	}
	if addr, _ := e.c.StoreAddr(id); addr == old {
		t.Fatal("the store should have a new address")
	}
	if err := e.c.StopStore(99); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	// Restarting on the same address serves the same data to the old connection.
	second := e.c.StoreIDs()[1]
	rc, cli := e.route([]byte("k"), false)
	if rc.Peer.StoreId != second {
		if err := e.c.TransferLeader(rc.RegionId, second); err != nil {
			t.Fatal(err)
		}
		rc, cli = e.route([]byte("k"), false)
	}
	if _, err := cli.RawPut(context.Background(), &kvrpcpb.RawPutRequest{Context: rc, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.c.StopStore(second))
	must(e.c.StartStore(second, false))
	must(e.c.StartStore(second, false)) // no-op when running
	for i := 0; ; i++ {
		resp, err := cli.RawGet(context.Background(), &kvrpcpb.RawGetRequest{Context: rc, Key: []byte("k")})
		if err == nil {
			if string(resp.Value) != "v" {
				t.Fatalf("after restart: %v", resp)
			}
			break
		}
		if i > 100 {
			t.Fatalf("store did not come back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
