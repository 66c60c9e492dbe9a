package memcluster

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// UnsafeDestroyRange drops all transactional data of a range (wire keys; an empty end is
// unbounded) from the engine, as TiKV does bypassing Raft. The stores of this cluster
// share one engine, so the first store that receives it destroys the range for all of
// them, and the others find nothing left, which is what TiKV's replicas end with too.
func (t *tikvServer) UnsafeDestroyRange(ctx context.Context, req *kvrpcpb.UnsafeDestroyRangeRequest) (*kvrpcpb.UnsafeDestroyRangeResponse, error) {
	return serve(t, ctx, "UnsafeDestroyRange", req, func(_ context.Context, req *kvrpcpb.UnsafeDestroyRangeRequest) (*kvrpcpb.UnsafeDestroyRangeResponse, error) {
		t.cluster().mvcc.DeleteRange(req.StartKey, req.EndKey)
		return &kvrpcpb.UnsafeDestroyRangeResponse{}, nil
	})
}

// Versions reports, for a transactional wire key (for API v1 the user key itself), how
// many committed records (puts, deletes, rollbacks, lock records) the engine keeps and
// whether the key is locked. Tests use it to observe garbage collection and range
// deletion, which readers cannot see directly.
func (c *Cluster) Versions(wireKey []byte) (records int, locked bool) {
	m := c.mvcc
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.data.Get(wireKey)
	if !ok {
		return 0, false
	}
	return len(e.writes), e.lock != nil
}
