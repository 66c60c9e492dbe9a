package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/memcluster"
)

// GetHealthFeedback: every TiKV store answers with its own ID, a sequence number that is
// not zero and, when healthy, slow score 1; and the cache takes the answer: a store the
// cache believes slow is healthy again once the background loop has asked it.
// client-go: integration_tests/health_feedback_test.go TestGetHealthFeedback
func TestPortGetHealthFeedback(t *testing.T) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		cfg := tg.Config(cluster.Raw)
		cfg.Region.HealthFeedbackInterval = 50 * time.Millisecond
		cfg.Region.HealthTickInterval = 10 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := cluster.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		stores, err := c.PD().GetAllStores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, s := range stores {
			if engineTiFlash(s.GetLabels()) {
				continue
			}
			for range 3 {
				resp, err := rpc.Call(ctx, c.RPC(), s.GetAddress(), rpc.GetHealthFeedback, &kvrpcpb.GetHealthFeedbackRequest{}, rpc.CallOptions{})
				if err != nil {
					t.Fatalf("store %d: %v", s.GetId(), err)
				}
				fb := resp.GetHealthFeedback()
				if fb.GetStoreId() != s.GetId() || fb.GetFeedbackSeqNo() == 0 || fb.GetSlowScore() != 1 {
					t.Fatalf("store %d answered %v", s.GetId(), fb)
				}
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("no TiKV store")
		}
		id := stores[0].GetId()
		c.Cache().ReportHealth(id, 90)
		st, err := c.Cache().Store(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Slow(time.Now()) {
			t.Fatal("slow score 90 does not make the store slow")
		}
		deadline := time.Now().Add(10 * time.Second)
		for st.Slow(time.Now()) {
			if time.Now().After(deadline) {
				t.Fatal("the store's own feedback never reached the cache")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func engineTiFlash(labels []*metapb.StoreLabel) bool {
	for _, l := range labels {
		if l.GetKey() == "engine" && (l.GetValue() == "tiflash" || l.GetValue() == "tiflash_compute") {
			return true
		}
	}
	return false
}
