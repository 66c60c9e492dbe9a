package main

import (
	"context"
	"testing"
)

func TestGetHealthFeedback(t *testing.T) {
	s := &storeServer{view: &storeView{storeID: 7}}
	s.feedbackSeq.Store(1000)
	var last uint64
	for range 3 {
		resp, err := s.GetHealthFeedback(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		fb := resp.GetHealthFeedback()
		if fb.GetStoreId() != 7 || fb.GetSlowScore() != 1 || fb.GetFeedbackSeqNo() <= last {
			t.Fatalf("feedback %v after seq %d", fb, last)
		}
		last = fb.GetFeedbackSeqNo()
	}
}
