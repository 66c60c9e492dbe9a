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

// client-go: oracle/oracles/pd_test.go TestPdOracle_SetLowResolutionTimestampUpdateInterval
// (the running refresher follows a changed interval from its next tick on). On a fake
// clock, so the cadence is checked exactly instead of within loose time bounds.
func TestPortSetLowResolutionIntervalCadence(t *testing.T) {
	f := newFakePD()
	clk := newFakeClock()
	c := newTestClient(t, Config{Clock: clk, SafePointRefresh: time.Hour, SafePointRetry: time.Hour}, f)
	timersSet := func() { eventually(t, "refresh timer", func() bool { return clk.Waiters() == 2 }) }
	// step advances the clock by d and reports whether the low-resolution TS was refreshed.
	step := func(d time.Duration, wantRefresh bool) {
		t.Helper()
		timersSet()
		before := f.tsCalls.Load()
		f.advance(d)
		clk.Advance(d)
		if wantRefresh {
			eventually(t, "refresh", func() bool { return f.tsCalls.Load() > before })
		} else if clk.Waiters() != 2 || f.tsCalls.Load() != before {
			// A timer that fired is removed by Advance itself, so this is not racy.
			t.Fatalf("refresh timer fired after %v", d)
		}
	}
	if err := c.SetLowResolutionInterval(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	step(2*time.Second, true) // the timer armed before the change still runs out
	for range 3 {
		step(499*time.Millisecond, false)
		step(time.Millisecond, true)
	}
	if err := c.SetLowResolutionInterval(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	step(500*time.Millisecond, true)
	for range 2 {
		step(1499*time.Millisecond, false)
		step(time.Millisecond, true)
	}
	if conf, eff := c.LowResolutionInterval(); conf != 1500*time.Millisecond || eff != conf {
		t.Fatalf("interval %v / %v", conf, eff)
	}
}
