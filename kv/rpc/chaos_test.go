package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// Calls with random deadlines, cancellations, priorities and forwarding race with
// stream kills and CloseStore. Every call must return, with either the right answer or
// an error of an expected class, and the client must keep working afterwards.
func TestChaos(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 2, EnableForwarding: true, SweepInterval: 2 * time.Millisecond,
		MaxInflightRequests: 16})
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // chaos: kill a stream, close the store, release blocked requests
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			switch i % 4 {
			case 0:
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				_, _ = rawGet(ctx, c, f.addr, "kill", CallOptions{})
				cancel()
			case 1:
				c.CloseStore(f.addr)
			}
		}
	})
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 40 {
				key := fmt.Sprintf("g%d-%d", g, i)
				if r.IntN(4) == 0 {
					key = "block-" + key
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+r.IntN(20))*time.Millisecond)
				opts := CallOptions{Priority: Priority(r.IntN(2))}
				if r.IntN(5) == 0 {
					opts.ForwardedHost = "leader:1"
				}
				v, err := rawGet(ctx, c, f.addr, key, opts)
				cancel()
				switch {
				case err == nil && v == key:
					ok.Add(1)
				case err == nil:
					t.Errorf("%s answered %q", key, v)
				case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kv.ErrStoreUnavailable):
					failed.Add(1)
				default:
					t.Errorf("%s: unexpected error %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	t.Logf("%d ok, %d failed", ok.Load(), failed.Load())
	if ok.Load() == 0 {
		t.Fatal("nothing succeeded")
	}
	f.releaseAll()
	waitFor(t, "recovery", func() bool {
		_, err := rawGet(context.Background(), c, f.addr, "final", CallOptions{})
		return err == nil
	})
}
