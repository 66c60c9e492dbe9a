package memcluster

import (
	"context"
	"sync"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BatchCommands serves TiKV's multiplexed stream: every request of a batch runs on its
// own goroutine (so a waiting pessimistic lock does not hold up the others) and answers
// travel back tagged with their request IDs. The handler joins its goroutines before it
// returns, which happens when the client closes the stream or the store stops.
func (t *tikvServer) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	ctx := stream.Context()
	var (
		wg     sync.WaitGroup
		sendMu sync.Mutex
	)
	defer wg.Wait()
	for {
		batch, err := stream.Recv()
		if err != nil {
			return nil // client closed the stream or the server stopped
		}
		for i, req := range batch.Requests {
			if i >= len(batch.RequestIds) {
				break
			}
			id := batch.RequestIds[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := t.dispatch(ctx, req)
				if err != nil || resp == nil {
					return // a dropped or failed command: the client times it out
				}
				sendMu.Lock()
				defer sendMu.Unlock()
				_ = stream.Send(&tikvpb.BatchCommandsResponse{
					Responses: []*tikvpb.BatchCommandsResponse_Response{resp}, RequestIds: []uint64{id},
					HealthFeedback: t.store.feedback(),
				})
			}()
		}
	}
}

// dispatch runs one batched command through the same handler as its unary method.
func (t *tikvServer) dispatch(ctx context.Context, req *tikvpb.BatchCommandsRequest_Request) (*tikvpb.BatchCommandsResponse_Response, error) {
	type R = tikvpb.BatchCommandsResponse_Response
	switch c := req.Cmd.(type) {
	case *tikvpb.BatchCommandsRequest_Request_Get:
		r, err := t.KvGet(ctx, c.Get)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Get{Get: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_Scan:
		r, err := t.KvScan(ctx, c.Scan)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Scan{Scan: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_BatchGet:
		r, err := t.KvBatchGet(ctx, c.BatchGet)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_BatchGet{BatchGet: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_Prewrite:
		r, err := t.KvPrewrite(ctx, c.Prewrite)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Prewrite{Prewrite: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_Commit:
		r, err := t.KvCommit(ctx, c.Commit)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Commit{Commit: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_Cleanup:
		r, err := t.KvCleanup(ctx, c.Cleanup)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Cleanup{Cleanup: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_BatchRollback:
		r, err := t.KvBatchRollback(ctx, c.BatchRollback)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_BatchRollback{BatchRollback: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_ScanLock:
		r, err := t.KvScanLock(ctx, c.ScanLock)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_ScanLock{ScanLock: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_ResolveLock:
		r, err := t.KvResolveLock(ctx, c.ResolveLock)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_ResolveLock{ResolveLock: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_GC:
		r, err := t.KvGC(ctx, c.GC)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_GC{GC: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_DeleteRange:
		r, err := t.KvDeleteRange(ctx, c.DeleteRange)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_DeleteRange{DeleteRange: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_PessimisticLock:
		r, err := t.KvPessimisticLock(ctx, c.PessimisticLock)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_PessimisticLock{PessimisticLock: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_PessimisticRollback:
		r, err := t.KVPessimisticRollback(ctx, c.PessimisticRollback)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_PessimisticRollback{PessimisticRollback: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_CheckTxnStatus:
		r, err := t.KvCheckTxnStatus(ctx, c.CheckTxnStatus)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_CheckTxnStatus{CheckTxnStatus: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks:
		r, err := t.KvCheckSecondaryLocks(ctx, c.CheckSecondaryLocks)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_CheckSecondaryLocks{CheckSecondaryLocks: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_TxnHeartBeat:
		r, err := t.KvTxnHeartBeat(ctx, c.TxnHeartBeat)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_TxnHeartBeat{TxnHeartBeat: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_Flush:
		r, err := t.KvFlush(ctx, c.Flush)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Flush{Flush: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_BufferBatchGet:
		r, err := t.KvBufferBatchGet(ctx, c.BufferBatchGet)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_BufferBatchGet{BufferBatchGet: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus:
		r, err := t.BroadcastTxnStatus(ctx, c.BroadcastTxnStatus)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_BroadcastTxnStatus{BroadcastTxnStatus: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_Empty:
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{Empty: &tikvpb.BatchCommandsEmptyResponse{TestId: c.Empty.TestId}}}, nil
	case *tikvpb.BatchCommandsRequest_Request_GetHealthFeedback:
		r, err := t.GetHealthFeedback(ctx, c.GetHealthFeedback)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_GetHealthFeedback{GetHealthFeedback: r}}, err
	}
	return t.dispatchRaw(ctx, req)
}

// dispatchRaw covers the RawKV commands of a batch.
func (t *tikvServer) dispatchRaw(ctx context.Context, req *tikvpb.BatchCommandsRequest_Request) (*tikvpb.BatchCommandsResponse_Response, error) {
	type R = tikvpb.BatchCommandsResponse_Response
	switch c := req.Cmd.(type) {
	case *tikvpb.BatchCommandsRequest_Request_RawGet:
		r, err := t.RawGet(ctx, c.RawGet)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawBatchGet:
		r, err := t.RawBatchGet(ctx, c.RawBatchGet)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawPut:
		r, err := t.RawPut(ctx, c.RawPut)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawBatchPut:
		r, err := t.RawBatchPut(ctx, c.RawBatchPut)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawDelete:
		r, err := t.RawDelete(ctx, c.RawDelete)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawBatchDelete:
		r, err := t.RawBatchDelete(ctx, c.RawBatchDelete)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawScan:
		r, err := t.RawScan(ctx, c.RawScan)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: r}}, err
	case *tikvpb.BatchCommandsRequest_Request_RawDeleteRange:
		r, err := t.RawDeleteRange(ctx, c.RawDeleteRange)
		return &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: r}}, err
	}
	return nil, status.Errorf(codes.Unimplemented, "memcluster: batched command %T not supported", req.Cmd)
}
