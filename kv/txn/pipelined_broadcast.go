package txn

import (
	"context"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// broadcast tells every store the status of the pipelined transaction (TiKV keeps it in
// a per-store cache, so that readers meeting the transaction's many locks can skip or
// use them without a CheckTxnStatus on the primary each): the min commit ts pushed by
// the heartbeat while it runs, the commit ts once the primary is committed, rolled back
// after a rollback, and completed once its locks are resolved. It is best effort: every
// store is asked in parallel within BudgetBroadcast and ctx; failures are logged, and
// readers then fall back to CheckTxnStatus.
func (p *pipelined) broadcast(ctx context.Context, st *kvrpcpb.TxnStatus) {
	c := p.tx.c
	ctx, cancel := context.WithTimeout(ctx, backoff.BudgetBroadcast)
	defer cancel()
	stores, err := c.cl.PD().GetAllStores(ctx)
	if err != nil {
		c.log.Debug("txn: pipelined status broadcast: no store list", zap.Error(err))
		return
	}
	st.StartTs = p.tx.startTS
	var wg sync.WaitGroup
	for _, s := range stores {
		if s.GetState() == metapb.StoreState_Tombstone || s.GetAddress() == "" {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			req := &kvrpcpb.BroadcastTxnStatusRequest{Context: requestContext(&p.tx.opts),
				TxnStatus: []*kvrpcpb.TxnStatus{st}}
			if _, err := rpc.Call(ctx, c.cl.RPC(), addr, rpc.BroadcastTxnStatus, req, rpc.CallOptions{}); err != nil {
				c.log.Debug("txn: pipelined status broadcast failed", zap.String("store", addr), zap.Error(err))
				return
			}
			p.mu.Lock()
			p.broadcasts++
			p.mu.Unlock()
		}(s.GetAddress())
	}
	wg.Wait()
}
