package region

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Load-based replica read (RS-8): a leader read with a busy threshold whose leader
// reports a long queue goes to followers as replica reads carrying the threshold; when
// every replica is too busy it goes back to the leader without a threshold, and the
// region stays cached. The next read skips the busy leader for the least busy replica.
// client-go: internal/locate/region_request3_test.go TestLoadBasedReplicaRead
func TestPortLoadBasedReplicaRead(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
	loc := mustLocate(t, e.cache, "a")
	wait := func(ms uint32) *errorpb.Error {
		return &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: ms}}
	}
	script := []*errorpb.Error{wait(500), wait(800), wait(150)}
	n := 0
	f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
		defer func() { n++ }()
		if n < len(script) {
			return script[n]
		}
		return nil
	}
	opts := &Options{BusyThreshold: 50 * time.Millisecond}
	if _, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, opts); err != nil {
		t.Fatal(err)
	}
	sent, ctxs := f.sent(), f.contexts()
	if len(sent) != 4 {
		t.Fatalf("path %s, want 4 attempts", accessPath(f))
	}
	if sent[0] != 1 || ctxs[0].ReplicaRead || ctxs[0].BusyThresholdMs != 50 {
		t.Errorf("first attempt: store %d %+v, want the leader with the threshold", sent[0], ctxs[0])
	}
	if sent[1] == 1 || sent[2] == 1 || sent[1] == sent[2] {
		t.Errorf("busy leader: then %d and %d, want the two followers", sent[1], sent[2])
	}
	for _, c := range ctxs[1:3] {
		if !c.ReplicaRead || c.BusyThresholdMs != 50 {
			t.Errorf("follower attempt %+v, want a replica read with the threshold", c)
		}
	}
	if sent[3] != 1 || ctxs[3].ReplicaRead || ctxs[3].BusyThresholdMs != 0 {
		t.Errorf("all busy: last attempt store %d %+v, want the leader without a threshold", sent[3], ctxs[3])
	}
	if e.cache.TryLocate([]byte("a")) == nil {
		t.Error("the region was dropped because every replica was busy")
	}
	lessBusy := sent[2]

	// The next read skips the busy leader (estimated wait 500 ms) for the least busy
	// replica.
	f.resetSent()
	if _, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, e.bo(), loc,
		&kvrpcpb.RawGetRequest{Key: []byte("a")}, opts); err != nil {
		t.Fatal(err)
	}
	if sent := f.sent(); sent[0] != lessBusy || !f.contexts()[0].ReplicaRead {
		t.Errorf("next read: path %s, want a replica read on store %d first", accessPath(f), lessBusy)
	}
}
