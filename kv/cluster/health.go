package cluster

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// healthFeedback asks a store for its health feedback with GetHealthFeedback (RC-10).
// TiKV also attaches the answer to the batch stream, which reports it to the cache too.
func healthFeedback(rc *rpc.Client) region.HealthFeedbackRequester {
	return func(ctx context.Context, addr string) (int, error) {
		resp, err := rpc.Call(ctx, rc, addr, rpc.GetHealthFeedback, &kvrpcpb.GetHealthFeedbackRequest{}, rpc.CallOptions{})
		if err != nil {
			return 0, err
		}
		if re := resp.GetRegionError(); re != nil {
			return 0, fmt.Errorf("cluster: health feedback from %s: %s", addr, re.GetMessage())
		}
		fb := resp.GetHealthFeedback()
		if fb == nil {
			return 0, fmt.Errorf("cluster: store %s sent no health feedback", addr)
		}
		return int(fb.GetSlowScore()), nil
	}
}
