package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// TiKV's health feedback reaches the region cache (RC-10): the slow score a store
// attaches to batch responses marks it slow, and when it stops being slow while nobody
// uses it, the background loop asks it (GetHealthFeedback) once the score is stale.
// client-go: internal/locate/region_cache_test.go TestTiKVSideSlowScore and
// internal/client/client_test.go TestBatchClientReceiveHealthFeedback (behaviour).
func TestHealthFeedbackReachesTheCache(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 1})
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
	const storeID = 1
	if err := tg.Mem.SetSlowScore(storeID, 90); err != nil {
		t.Fatal(err)
	}
	get := func() {
		key := []byte("health-key")
		if _, err := region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, c.Sender(), key,
			&kvrpcpb.RawGetRequest{Key: c.Codec().EncodeKey(key)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	get()
	st, err := c.Cache().Store(ctx, storeID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Slow(time.Now()) {
		t.Fatal("a store reporting slow score 90 is not slow in the cache")
	}
	// Healthy again, with no request to carry the news: the background loop asks.
	if err := tg.Mem.SetSlowScore(storeID, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Slow(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the store stayed slow: its feedback was never refreshed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tg.Mem.SetSlowScore(99, 1); err == nil {
		t.Fatal("SetSlowScore of an unknown store succeeded")
	}
}
