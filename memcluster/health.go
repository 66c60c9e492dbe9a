package memcluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// healthState is what a store says about its own health (TiKV's HealthFeedback): a slow score
// from 1 (healthy) to 100, and a sequence number that changes with it.
type healthState struct {
	score atomic.Int64 // 0 means the default, 1
	seq   atomic.Uint64
}

// current returns the current sequence number. Like TiKV, the sequence
// starts at the store's start time in milliseconds, never at zero, so that a client can
// tell a real answer from an unset field.
func (h *healthState) current() uint64 {
	h.seq.CompareAndSwap(0, uint64(time.Now().UnixMilli()))
	return h.seq.Load()
}

// SetSlowScore makes store id report score (clamped to 1..100) as its TiKV slow score:
// attached to every BatchCommands response and returned by GetHealthFeedback, as TiKV
// does, so that clients steer prefer-leader and replica reads away from a "slow" store.
func (c *Cluster) SetSlowScore(id uint64, score int) error {
	c.mu.RLock()
	s, ok := c.stores[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: store %d", ErrNotFound, id)
	}
	s.health.score.Store(int64(min(max(score, 1), 100)))
	s.health.current()
	s.health.seq.Add(1)
	return nil
}

// feedback returns the store's current health feedback.
func (s *store) feedback() *kvrpcpb.HealthFeedback {
	return &kvrpcpb.HealthFeedback{StoreId: s.id, FeedbackSeqNo: s.health.current(),
		SlowScore: int32(max(s.health.score.Load(), 1))}
}

// GetHealthFeedback implements tikvpb.TikvServer.
func (t *tikvServer) GetHealthFeedback(ctx context.Context, req *kvrpcpb.GetHealthFeedbackRequest) (*kvrpcpb.GetHealthFeedbackResponse, error) {
	return serve(t, ctx, "GetHealthFeedback", req, func(context.Context, *kvrpcpb.GetHealthFeedbackRequest) (*kvrpcpb.GetHealthFeedbackResponse, error) {
		return &kvrpcpb.GetHealthFeedbackResponse{HealthFeedback: t.store.feedback()}, nil
	})
}
