package region

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// A stale read whose local follower is not ready does not fall back to a leader the cache
// already knows to be unreachable: the retry is a replica read of a reachable peer,
// the local one first.
// client-go: internal/locate/region_request3_test.go TestDoNotTryUnreachableLeader
func TestPortStaleReadSkipsUnreachableLeader(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{UnreachableRetry: time.Hour})
	mustGet(t, e, "a", nil)
	leader, err := e.cache.Store(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	e.cache.stores.markUnreachable(leader, time.Hour)
	f.resetSent()
	opts := &Options{StaleRead: true, MatchLabels: []*metapb.StoreLabel{{Key: "zone", Value: "z2"}}}
	mustGet(t, e, "a", opts) // store 2 has no safe ts: DataIsNotReady
	sent, ctxs := f.sent(), f.contexts()
	if slices.Contains(sent, 1) {
		t.Fatalf("the unreachable leader was tried: sent %v", sent)
	}
	if len(sent) != 2 || sent[0] != 2 || !ctxs[0].StaleRead || sent[1] != 2 || ctxs[1].StaleRead || !ctxs[1].ReplicaRead {
		t.Fatalf("sent %v, contexts %+v; want a stale read then a replica read on store 2", sent, ctxs)
	}
}

// A stale read with a read timeout whose local replica is the leader and does not answer
// in time moves on at once (no backoff) to a follower, which serves it; as in client-go,
// attempts after the first are replica reads.
// client-go: internal/locate/region_request3_test.go TestStaleReadTryFollowerAfterTimeout
func TestPortStaleReadTriesFollowerAfterLeaderFails(t *testing.T) {
	f := newFakeCluster(3)
	e := newEnv(t, f, Config{})
	f.safeTS[2], f.safeTS[3] = true, true
	mustGet(t, e, "a", nil)
	f.set(func() { f.blackhole[1] = true })
	f.resetSent()
	opts := &Options{StaleRead: true, MatchLabels: []*metapb.StoreLabel{{Key: "zone", Value: "z1"}},
		ReadTimeout: 50 * time.Millisecond}
	mustGet(t, e, "a", opts)
	sent := f.sent()
	if len(sent) != 1 || sent[0] == 1 {
		// the blackholed leader records nothing; one answered attempt on a follower
		t.Fatalf("sent %v, want one answered attempt on a follower", sent)
	}
	if c := f.contexts()[0]; c.StaleRead || !c.ReplicaRead {
		t.Errorf("follower attempt is not a replica read: %+v", c)
	}
	if e.clock.slept != 0 {
		t.Errorf("slept %v before trying a follower", e.clock.slept)
	}
}
