package pd

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of BreakerSettings (client-go's region-metadata circuit breaker).
const (
	DefaultBreakerWindow            = 30 * time.Second
	DefaultBreakerMinQPS            = 10
	DefaultBreakerCoolDown          = 10 * time.Second
	DefaultBreakerHalfOpenSuccesses = 1
)

// ErrCircuitOpen is the error of a region metadata call refused by the circuit breaker:
// PD looked overloaded, so the call was not sent (PD-16). It is not retried inside the
// Client; callers' own backoff (the region cache's) decides when to come back.
var ErrCircuitOpen = errors.New("pd: region metadata circuit breaker is open")

// BreakerSettings configure the circuit breaker in front of the region metadata calls
// (GetRegion, GetPrevRegion, GetRegionByID, ScanRegions, BatchScanRegions), which a
// cluster-wide burst of cache misses can turn into a PD overload. The breaker counts
// calls over Window; when they average at least MinQPS per second and at least
// ErrorRatePercent of them failed with an overload error (gRPC DeadlineExceeded,
// Unavailable or ResourceExhausted), it opens: calls fail at once with ErrCircuitOpen for
// CoolDown. Then it lets HalfOpenSuccesses calls through; if they all succeed it closes,
// an overload error opens it again.
//
// ErrorRatePercent 0 (the default, as in client-go) disables the breaker; the other
// zero fields take the defaults above.
type BreakerSettings struct {
	ErrorRatePercent  int
	Window            time.Duration
	MinQPS            int
	CoolDown          time.Duration
	HalfOpenSuccesses int
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if s.Window <= 0 {
		s.Window = DefaultBreakerWindow
	}
	if s.MinQPS <= 0 {
		s.MinQPS = DefaultBreakerMinQPS
	}
	if s.CoolDown <= 0 {
		s.CoolDown = DefaultBreakerCoolDown
	}
	if s.HalfOpenSuccesses <= 0 {
		s.HalfOpenSuccesses = DefaultBreakerHalfOpenSuccesses
	}
	return s
}

type breakerState uint8

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// breaker is the circuit breaker of region metadata calls. Safe for concurrent use.
type breaker struct {
	now func() time.Time

	mu          sync.Mutex
	s           BreakerSettings
	state       breakerState
	windowStart time.Time
	calls       int
	overloads   int
	openUntil   time.Time
	probes      int // half-open calls in flight
	successes   int // half-open calls that succeeded
}

func newBreaker(s BreakerSettings, now func() time.Time) *breaker {
	return &breaker{s: s.withDefaults(), now: now, windowStart: now()}
}

// set replaces the settings; the breaker starts over closed.
func (b *breaker) set(s BreakerSettings) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s = s.withDefaults()
	b.reset(breakerClosed, b.now())
}

func (b *breaker) reset(st breakerState, now time.Time) {
	b.state, b.windowStart, b.calls, b.overloads, b.probes, b.successes = st, now, 0, 0, 0, 0
	if st == breakerOpen {
		b.openUntil = now.Add(b.s.CoolDown)
	}
}

// do runs call unless the breaker is open, and learns from its error. A refusal is
// permanent for the Client's retry loop.
func (b *breaker) do(call func() error) error {
	probe, err := b.allow()
	if err != nil {
		return permanent(err)
	}
	err = call()
	b.record(probe, isOverload(err))
	return err
}

func (b *breaker) allow() (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.s.ErrorRatePercent <= 0 {
		return false, nil
	}
	now := b.now()
	switch b.state {
	case breakerOpen:
		if now.Before(b.openUntil) {
			return false, fmt.Errorf("%w (for %v more)", ErrCircuitOpen, b.openUntil.Sub(now).Round(time.Millisecond))
		}
		b.reset(breakerHalfOpen, now)
		fallthrough
	case breakerHalfOpen:
		if b.probes+b.successes >= b.s.HalfOpenSuccesses {
			return false, fmt.Errorf("%w (half-open, probing)", ErrCircuitOpen)
		}
		b.probes++
		return true, nil
	}
	return false, nil
}

func (b *breaker) record(probe, overloaded bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.s.ErrorRatePercent <= 0 {
		return
	}
	now := b.now()
	if probe {
		if b.state != breakerHalfOpen {
			return // the settings changed meanwhile
		}
		b.probes--
		switch {
		case overloaded:
			b.reset(breakerOpen, now)
		case b.successes+1 >= b.s.HalfOpenSuccesses:
			b.reset(breakerClosed, now)
		default:
			b.successes++
		}
		return
	}
	if b.state != breakerClosed {
		return
	}
	if elapsed := now.Sub(b.windowStart); elapsed >= b.s.Window {
		trip := float64(b.calls) >= float64(b.s.MinQPS)*elapsed.Seconds() &&
			b.calls > 0 && b.overloads*100 >= b.s.ErrorRatePercent*b.calls
		if trip {
			b.reset(breakerOpen, now)
			return
		}
		b.reset(breakerClosed, now)
	}
	b.calls++
	if overloaded {
		b.overloads++
	}
}

// isOverload reports the errors that suggest PD is overloaded.
func isOverload(err error) bool {
	if err == nil {
		return false
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Unavailable, codes.ResourceExhausted:
		return true
	}
	return false
}

// SetRegionMetaBreaker replaces the settings of the region metadata circuit breaker
// (Config.RegionMetaBreaker) at run time, as client-go's
// ChangePDRegionMetaCircuitBreakerSettings does; the breaker starts over closed.
func (c *Client) SetRegionMetaBreaker(s BreakerSettings) { c.breaker.set(s) }
