package pd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/kv"
)

// Adaptive low-resolution refresh (PD-4, client-go oracle/oracles/pd.go). A stale read
// whose staleness is shorter than the refresh interval would find the last TS too old to
// validate against and have to ask PD; so such reads shrink the interval.
const (
	// minAdaptiveInterval is the floor of the shrunk interval.
	minAdaptiveInterval = 500 * time.Millisecond
	// shrinkMargin is subtracted from the requested staleness when shrinking.
	shrinkMargin = 100 * time.Millisecond
	// blockRecoverThreshold: a read whose staleness is within this much of the interval
	// counts as "recent short-staleness read" and holds the shrunk interval.
	blockRecoverThreshold = 200 * time.Millisecond
	// recoverPerSecond is how fast the interval grows back once recovering.
	recoverPerSecond = 20 * time.Millisecond
	// recoverDelay is how long without short-staleness reads before recovering starts.
	recoverDelay = 5 * time.Minute
)

// lowResolution is the state of the adaptive refresh interval.
type lowResolution struct {
	configured atomic.Int64 // configured interval (ns)
	adaptive   atomic.Int64 // effective interval (ns)
	lastShort  atomic.Int64 // unix ms of the last short-staleness read
	shrink     chan time.Duration

	mu       sync.Mutex // serialises interval transitions with SetLowResolutionInterval
	lastTick time.Time  // time of the last refresh, guarded by mu
}

// init sets the configured interval.
func (o *oracleState) init(cfg Config) {
	o.configured.Store(int64(cfg.LowResolutionInterval))
	o.adaptive.Store(int64(cfg.LowResolutionInterval))
	o.shrink = make(chan time.Duration, 1)
	o.lastTick = cfg.Clock.Now()
}

// LowResolutionInterval returns the configured and the effective refresh interval of the
// low-resolution timestamp. Safe for concurrent use.
func (c *Client) LowResolutionInterval() (configured, effective time.Duration) {
	return time.Duration(c.oracle.configured.Load()), time.Duration(c.oracle.adaptive.Load())
}

// SetLowResolutionInterval changes the configured refresh interval. The change takes effect
// at the next refresh; a shorter value also replaces a longer adaptive interval at once.
//
// Errors: a non-positive d.
func (c *Client) SetLowResolutionInterval(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("pd: low-resolution interval must be positive, got %v", d)
	}
	o := &c.oracle.lowResolution
	o.mu.Lock()
	defer o.mu.Unlock()
	prev := time.Duration(o.configured.Swap(int64(d)))
	cur := time.Duration(o.adaptive.Load())
	if cur == prev || d < cur {
		o.adaptive.Store(int64(d))
	}
	return nil
}

// nextInterval computes the refresh interval after a tick (required == 0) or after a stale
// read asked for a staleness of required (> 0).
func (o *lowResolution) nextInterval(now time.Time, required time.Duration) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	configured := time.Duration(o.configured.Load())
	cur := time.Duration(o.adaptive.Load())
	next := cur
	recent := now.Sub(time.UnixMilli(o.lastShort.Load())) < recoverDelay
	switch {
	case configured <= minAdaptiveInterval:
		// Too short to adapt: follow the configuration.
		next = configured
	case required > 0:
		if required < cur && cur > minAdaptiveInterval {
			next = max(required-shrinkMargin, minAdaptiveInterval)
		}
	case cur == configured || recent:
		// Normal, or shrunk and held by a recent short-staleness read.
	default:
		// Recovering: grow by recoverPerSecond for each second since the last tick.
		grow := time.Duration(now.Sub(o.lastTick).Seconds() * float64(recoverPerSecond))
		next = min(cur+grow, configured)
	}
	o.adaptive.Store(int64(next))
	return next
}

// adjustForStaleness records a stale read at readTS when the current timestamp is
// currentTS, and asks the refresher to shrink its interval when the read needs a fresher
// last TS than the interval provides.
func (c *Client) adjustForStaleness(readTS, currentTS uint64, now time.Time) {
	o := &c.oracle.lowResolution
	required := kv.TSDiff(readTS, currentTS)
	cur := time.Duration(o.adaptive.Load())
	if required <= cur+blockRecoverThreshold {
		ms := now.UnixMilli()
		if prev := o.lastShort.Load(); prev < ms {
			o.lastShort.CompareAndSwap(prev, ms)
		}
	}
	if required <= cur && cur > minAdaptiveInterval {
		select {
		case o.shrink <- max(required, time.Millisecond):
		default: // a shrink request is already pending
		}
	}
}

// runLowResolution refreshes the last TS at the adaptive interval until the client closes.
func (c *Client) runLowResolution() {
	o := &c.oracle.lowResolution
	interval := time.Duration(o.adaptive.Load())
	timer := c.cfg.Clock.After(interval)
	for {
		select {
		case <-c.root.Done():
			return
		case now := <-timer:
			// The next interval depends on the previous tick, so compute it first.
			interval = o.nextInterval(now, 0)
			c.refreshLastTS(now)
			timer = c.cfg.Clock.After(interval)
		case required := <-o.shrink:
			now := c.cfg.Clock.Now()
			next := o.nextInterval(now, required)
			if next == interval {
				continue
			}
			interval = next
			o.mu.Lock()
			due := now.Sub(o.lastTick) >= interval
			o.mu.Unlock()
			if due {
				c.refreshLastTS(now)
			}
			timer = c.cfg.Clock.After(interval)
		}
	}
}

// refreshLastTS fetches one timestamp (a single attempt bounded by the PD server timeout)
// and records the tick time.
func (c *Client) refreshLastTS(now time.Time) {
	ctx, cancel := context.WithTimeout(c.root, c.cfg.PDServerTimeout)
	p, l, err := c.b.GetTS(ctx)
	cancel()
	if err != nil {
		if c.root.Err() == nil {
			c.cfg.Logger.Warn("pd: refresh low-resolution timestamp", zap.Error(sanitize(err)))
		}
	} else {
		c.setLastTS(kv.ComposeTS(p, l))
	}
	o := &c.oracle.lowResolution
	o.mu.Lock()
	o.lastTick = now
	o.mu.Unlock()
}
