package region

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// With StoreLimit, a request to a store that already has that many in flight fails at
// once with ErrStoreTokenLimit without being sent; the slot comes back when the request
// in flight ends, and other stores are not affected.
// client-go: internal/locate/region_request3_test.go TestStoreTokenLimit and
// region_request_test.go "StoreLimit" (behaviour).
func TestStoreTokenLimit(t *testing.T) {
	f := newFakeCluster(3, "m")
	e := newEnv(t, f, Config{})
	mustGet(t, e, "a", nil)
	e.s.cfg.StoreLimit = 1
	leader := f.regionOf([]byte("a")).GetPeers()[0].GetStoreId()
	f.set(func() { f.blackhole[leader] = true })

	ctx, cancel := context.WithCancel(context.Background())
	hung := make(chan error, 1)
	go func() {
		_, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, e.s, []byte("a"),
			&kvrpcpb.RawGetRequest{Key: []byte("a")}, nil)
		hung <- err
	}()
	st := e.cache.stores.get(leader)
	for st.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	sent := f.sends.Load()
	_, err := e.get(t, "b", nil)
	if !errors.Is(err, ErrStoreTokenLimit) {
		t.Fatalf("second request: %v, want ErrStoreTokenLimit", err)
	}
	if f.sends.Load() != sent {
		t.Fatal("a refused request was sent")
	}
	// A read that may go to another replica is not stopped by the leader's limit only
	// when it is sent elsewhere: with follower reads it goes to a follower.
	if _, err := e.get(t, "b", &Options{ReplicaRead: ReadFollower}); err != nil {
		t.Fatalf("follower read: %v", err)
	}
	cancel()
	<-hung
	if n := st.InFlight(); n != 0 {
		t.Fatalf("%d in flight after the request ended", n)
	}
	f.set(func() { f.blackhole[leader] = false })
	mustGet(t, e, "a", nil)
	e.s.cfg.StoreLimit = 0
	mustGet(t, e, "a", nil)
}
