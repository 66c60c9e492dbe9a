package memcluster

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// BroadcastTxnStatus accepts a client's report of transactions' statuses (pipelined DML
// sends it to every store). TiKV keeps the statuses in a per-store cache that lets reads
// skip those transactions' locks without asking their primary; this package has no such
// cache, so the request only goes through the fault hooks (where tests observe it) and is
// acknowledged. Reads stay correct without it: they resolve locks through CheckTxnStatus.
func (t *tikvServer) BroadcastTxnStatus(ctx context.Context, req *kvrpcpb.BroadcastTxnStatusRequest) (*kvrpcpb.BroadcastTxnStatusResponse, error) {
	return serve(t, ctx, "BroadcastTxnStatus", req, func(context.Context, *kvrpcpb.BroadcastTxnStatusRequest) (*kvrpcpb.BroadcastTxnStatusResponse, error) {
		return &kvrpcpb.BroadcastTxnStatusResponse{}, nil
	})
}
