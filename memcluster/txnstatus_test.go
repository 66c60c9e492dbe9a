package memcluster

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// BroadcastTxnStatus is acknowledged, unary and batched, and passes the fault hooks.
func TestBroadcastTxnStatus(t *testing.T) {
	c, err := New(Options{Stores: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := 0
	c.AddHook(func(_ context.Context, r *Request) *Fault {
		if b, ok := r.Body.(*kvrpcpb.BroadcastTxnStatusRequest); ok && b.TxnStatus[0].StartTs == 7 {
			seen++
		}
		return nil
	})
	req := &kvrpcpb.BroadcastTxnStatusRequest{Context: &kvrpcpb.Context{},
		TxnStatus: []*kvrpcpb.TxnStatus{{StartTs: 7, CommitTs: 9}}}
	for _, s := range c.stores {
		srv := &tikvServer{store: s}
		if _, err := srv.BroadcastTxnStatus(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.dispatch(context.Background(), &tikvpb.BatchCommandsRequest_Request{
			Cmd: &tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus{BroadcastTxnStatus: req}})
		if err != nil || resp.GetBroadcastTxnStatus() == nil {
			t.Fatalf("batched: %v, %v", resp, err)
		}
	}
	if seen != 4 {
		t.Fatalf("hooks saw %d broadcasts, want 4", seen)
	}
}
