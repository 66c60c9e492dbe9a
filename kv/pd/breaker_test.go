package pd

import (
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type manualNow struct {
	mu sync.Mutex
	t  time.Time
}

func (m *manualNow) now() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.t }
func (m *manualNow) add(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t = m.t.Add(d)
}

var errOverload = status.Error(codes.Unavailable, "pd is overloaded")

// The breaker's states: closed while the error rate or the rate of calls is low, open
// after a window of enough overload errors, half-open after the cool-down, closed again
// after the probes succeed, open again when a probe fails.
// client-go: tikv/pd client/pkg/circuitbreaker/circuit_breaker_test.go (behaviour of the
// settings client-go uses for region metadata calls).
func TestBreakerStates(t *testing.T) {
	clk := &manualNow{t: time.Unix(1000, 0)}
	b := newBreaker(BreakerSettings{ErrorRatePercent: 50, Window: 10 * time.Second, MinQPS: 1,
		CoolDown: 5 * time.Second, HalfOpenSuccesses: 2}, clk.now)
	calls := 0
	run := func(err error) error { return b.do(func() error { calls++; return err }) }

	// Too few calls in the window: stays closed although all fail.
	for range 5 {
		_ = run(errOverload)
	}
	clk.add(10 * time.Second)
	if err := run(nil); err != nil {
		t.Fatalf("closed breaker refused: %v", err)
	}
	// Enough calls, mostly overloads: trips at the end of the window.
	for range 25 {
		_ = run(errOverload)
		clk.add(400 * time.Millisecond)
	}
	_ = run(nil) // the window is over: evaluated by this call
	before := calls
	err := run(nil)
	if !errors.Is(err, ErrCircuitOpen) || calls != before {
		t.Fatalf("open breaker: err %v, calls %d -> %d", err, before, calls)
	}
	var p *permanentError
	if !errors.As(err, &p) {
		t.Fatal("refusal is not permanent for the retry loop")
	}
	// Cool-down over: two probes, the third waits; both succeed: closed.
	clk.add(5 * time.Second)
	probe1, _ := b.allow()
	probe2, _ := b.allow()
	if _, err := b.allow(); !probe1 || !probe2 || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("half-open admitted %v %v, third: %v", probe1, probe2, err)
	}
	b.record(true, false)
	b.record(true, false)
	if b.state != breakerClosed {
		t.Fatalf("state %d after successful probes, want closed", b.state)
	}
	// Trip again, then a failing probe reopens it.
	for range 20 {
		_ = run(errOverload)
		clk.add(600 * time.Millisecond)
	}
	_ = run(nil)
	clk.add(5 * time.Second)
	if err := run(errOverload); err == nil || errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("probe: %v", err)
	}
	if err := run(nil); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after a failed probe: %v, want open", err)
	}
	// Non-overload errors never trip it.
	b.set(BreakerSettings{ErrorRatePercent: 1, Window: time.Second, MinQPS: 1})
	for range 50 {
		_ = run(status.Error(codes.NotFound, "no"))
		clk.add(100 * time.Millisecond)
	}
	if err := run(nil); err != nil {
		t.Fatalf("tripped by non-overload errors: %v", err)
	}
	// Disabled (the default): never refuses.
	b.set(BreakerSettings{})
	for range 100 {
		_ = run(errOverload)
		clk.add(time.Second)
	}
	if err := run(nil); err != nil {
		t.Fatalf("disabled breaker refused: %v", err)
	}
}

// Through the Client: overloaded region lookups open the breaker, after which lookups
// fail at once with ErrCircuitOpen without reaching PD; SetRegionMetaBreaker resets it.
func TestRegionMetaBreaker(t *testing.T) {
	f := newFakePD()
	settings := BreakerSettings{ErrorRatePercent: 50, Window: 20 * time.Millisecond, MinQPS: 1, CoolDown: time.Hour}
	c := newTestClient(t, Config{RPCBudget: time.Millisecond, RegionMetaBreaker: settings}, f)
	f.mu.Lock()
	f.regionErr = errOverload
	f.mu.Unlock()
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for !errors.Is(err, ErrCircuitOpen) {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never opened; last error %v", err)
		}
		_, err = c.GetRegion(t.Context(), []byte("k"))
		time.Sleep(2 * time.Millisecond)
	}
	sent := f.getRegion.Load()
	for range 10 {
		if _, err := c.GetRegion(t.Context(), []byte("k")); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("open breaker let a call through: %v", err)
		}
	}
	if f.getRegion.Load() != sent {
		t.Fatal("calls reached PD while the breaker was open")
	}
	f.mu.Lock()
	f.regionErr = nil
	f.mu.Unlock()
	c.SetRegionMetaBreaker(settings)
	if _, err := c.GetRegion(t.Context(), []byte("k")); errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after reset: %v", err)
	}
}
