package memcluster

import (
	"context"
	"reflect"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// batchCmd builds one batched command for a request context.
type batchCmd struct {
	name  string
	build func(rc *kvrpcpb.Context) *tikvpb.BatchCommandsRequest_Request
}

type breq = tikvpb.BatchCommandsRequest_Request

func everyCommand() []batchCmd {
	k, ks := []byte("k"), [][]byte{[]byte("k")}
	rng := func(rc *kvrpcpb.Context) *kvrpcpb.Context { return rc }
	return []batchCmd{
		{"Get", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Get{Get: &kvrpcpb.GetRequest{Context: rc, Key: k, Version: 100, NeedCommitTs: true}}}
		}},
		{"Scan", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Scan{Scan: &kvrpcpb.ScanRequest{Context: rc, StartKey: k, Limit: 10, Version: 100}}}
		}},
		{"ReverseScan", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Scan{Scan: &kvrpcpb.ScanRequest{Context: rc, StartKey: []byte("z"), Limit: 10, Version: 100, Reverse: true}}}
		}},
		{"BatchGet", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_BatchGet{BatchGet: &kvrpcpb.BatchGetRequest{Context: rc, Keys: ks, Version: 100}}}
		}},
		{"Prewrite", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Prewrite{Prewrite: &kvrpcpb.PrewriteRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{put("k", "v")}, PrimaryLock: k, StartVersion: 10}}}
		}},
		{"Commit", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Commit{Commit: &kvrpcpb.CommitRequest{Context: rc, Keys: ks, StartVersion: 10, CommitVersion: 11}}}
		}},
		{"Cleanup", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Cleanup{Cleanup: &kvrpcpb.CleanupRequest{Context: rc, Key: k, StartVersion: 20}}}
		}},
		{"BatchRollback", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_BatchRollback{BatchRollback: &kvrpcpb.BatchRollbackRequest{Context: rc, Keys: ks, StartVersion: 21}}}
		}},
		{"ScanLock", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_ScanLock{ScanLock: &kvrpcpb.ScanLockRequest{Context: rng(rc), MaxVersion: 100}}}
		}},
		{"ResolveLock", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_ResolveLock{ResolveLock: &kvrpcpb.ResolveLockRequest{Context: rc, StartVersion: 30, TxnInfos: []*kvrpcpb.TxnInfo{{Txn: 31}}}}}
		}},
		{"GC", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_GC{GC: &kvrpcpb.GCRequest{Context: rc, SafePoint: 1}}}
		}},
		{"DeleteRange", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_DeleteRange{DeleteRange: &kvrpcpb.DeleteRangeRequest{Context: rc, StartKey: []byte("x"), EndKey: []byte("y")}}}
		}},
		{"PessimisticLock", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_PessimisticLock{PessimisticLock: &kvrpcpb.PessimisticLockRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("p")}}, PrimaryLock: []byte("p"), StartVersion: 40, ForUpdateTs: 40, WaitTimeout: -1, ReturnValues: true}}}
		}},
		{"PessimisticRollback", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_PessimisticRollback{PessimisticRollback: &kvrpcpb.PessimisticRollbackRequest{Context: rc, StartVersion: 40, ForUpdateTs: 40}}}
		}},
		{"CheckTxnStatus", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_CheckTxnStatus{CheckTxnStatus: &kvrpcpb.CheckTxnStatusRequest{Context: rc, PrimaryKey: k, LockTs: 10}}}
		}},
		{"CheckSecondaryLocks", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks{CheckSecondaryLocks: &kvrpcpb.CheckSecondaryLocksRequest{Context: rc, Keys: ks, StartVersion: 10}}}
		}},
		{"TxnHeartBeat", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_TxnHeartBeat{TxnHeartBeat: &kvrpcpb.TxnHeartBeatRequest{Context: rc, PrimaryLock: k, StartVersion: 50}}}
		}},
		{"RawPut", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: &kvrpcpb.RawPutRequest{Context: rc, Key: k, Value: k, Ttl: 5}}}
		}},
		{"RawBatchPut", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchPut{RawBatchPut: &kvrpcpb.RawBatchPutRequest{Context: rc, Pairs: pairs("k", "v", "l", "w"), Ttl: 5}}}
		}},
		{"RawGet", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{Context: rc, Key: k}}}
		}},
		{"RawBatchGet", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchGet{RawBatchGet: &kvrpcpb.RawBatchGetRequest{Context: rc, Keys: ks}}}
		}},
		{"RawScan", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawScan{RawScan: &kvrpcpb.RawScanRequest{Context: rc, StartKey: k, Limit: 5}}}
		}},
		{"RawReverseScan", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawScan{RawScan: &kvrpcpb.RawScanRequest{Context: rc, StartKey: []byte("z"), Limit: 5, Reverse: true}}}
		}},
		{"RawDelete", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawDelete{RawDelete: &kvrpcpb.RawDeleteRequest{Context: rc, Key: k}}}
		}},
		{"RawBatchDelete", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchDelete{RawBatchDelete: &kvrpcpb.RawBatchDeleteRequest{Context: rc, Keys: ks}}}
		}},
		{"RawDeleteRange", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawDeleteRange{RawDeleteRange: &kvrpcpb.RawDeleteRangeRequest{Context: rc, StartKey: k, EndKey: []byte("z")}}}
		}},
		{"Flush", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Flush{Flush: &kvrpcpb.FlushRequest{Context: rc, Mutations: []*kvrpcpb.Mutation{put("f", "v")}, PrimaryKey: []byte("f"), StartTs: 60, Generation: 1}}}
		}},
		{"BufferBatchGet", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_BufferBatchGet{BufferBatchGet: &kvrpcpb.BufferBatchGetRequest{Context: rc, Keys: [][]byte{[]byte("f")}, Version: 60}}}
		}},
		{"Empty", func(rc *kvrpcpb.Context) *breq {
			return &breq{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 9}}}
		}},
	}
}

// regionErrorOf digs the region error out of a batched response.
func regionErrorOf(resp *tikvpb.BatchCommandsResponse_Response) *errorpb.Error {
	inner := reflect.ValueOf(resp.Cmd).Elem().Field(0)
	m := inner.MethodByName("GetRegionError")
	if !m.IsValid() {
		return nil
	}
	return m.Call(nil)[0].Interface().(*errorpb.Error)
}

// client-go: internal/client/client_batch_test.go (server side of the batch stream)
func TestEveryBatchedCommand(t *testing.T) {
	e := newTestEnv(t, Options{})
	rc, cli := e.route([]byte("k"), true)
	bad := *rc
	bad.RegionId = 12345
	stream, err := cli.BatchCommands(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	for _, cmd := range everyCommand() {
		for i, ctx := range []*kvrpcpb.Context{rc, &bad} {
			if err := stream.Send(&tikvpb.BatchCommandsRequest{Requests: []*breq{cmd.build(ctx)}, RequestIds: []uint64{uint64(i)}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			rerr := regionErrorOf(resp.Responses[0])
			if wantErr := i == 1 && cmd.name != "Empty"; (rerr != nil) != wantErr {
				t.Errorf("%s (bad region %v): region error %v", cmd.name, i == 1, rerr)
			}
		}
	}
}
