package main

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// GetHealthFeedback implements tikvpb.TikvServer. unistore has no slow score and
// answers without feedback; the store answers as a healthy TiKV does: its own ID, slow
// score 1 and a sequence number that starts at the store's start time and grows with
// every answer (TiKV's feedback_seq_no is never 0).
func (s *storeServer) GetHealthFeedback(_ context.Context, _ *kvrpcpb.GetHealthFeedbackRequest) (*kvrpcpb.GetHealthFeedbackResponse, error) {
	return &kvrpcpb.GetHealthFeedbackResponse{HealthFeedback: &kvrpcpb.HealthFeedback{
		StoreId: s.view.storeID, FeedbackSeqNo: s.feedbackSeq.Add(1), SlowScore: 1,
	}}, nil
}
