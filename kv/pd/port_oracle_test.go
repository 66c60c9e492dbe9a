package pd

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// client-go: oracle/oracles/pd_test.go TestNonFutureStaleTSO (a stale timestamp computed
// while the last TS is being replaced is never ahead of the clock: the TS and its arrival
// time are read as one pair). The fake clock and the fake PD advance together, the clock
// first, so every TS is at or behind the clock when it arrives.
func TestPortNonFutureStaleTS(t *testing.T) {
	f := newFakePD()
	clk := newFakeClock()
	c := newTestClient(t, Config{Clock: clk, LowResolutionInterval: time.Hour, SafePointRefresh: time.Hour, SafePointRetry: time.Hour}, f)
	ctx := context.Background()
	if _, err := c.Timestamp(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for range 2000 {
			clk.Advance(time.Millisecond)
			f.advance(time.Millisecond)
			if _, err := c.Timestamp(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	checks, failed := 0, false
	for !failed {
		select {
		case <-done:
			if checks == 0 {
				t.Error("no concurrent check ran")
			}
			return
		default:
		}
		checks++
		ts, err := c.StaleTimestamp(ctx, 0)
		if err != nil {
			t.Error(err)
			failed = true
		} else if now := clk.Now(); kv.TimeOf(ts).After(now) {
			t.Errorf("stale TS at %v is ahead of the clock %v", kv.TimeOf(ts), now)
			failed = true
		}
	}
	wg.Wait()
}
