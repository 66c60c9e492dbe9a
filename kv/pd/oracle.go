package pd

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tikv/pd/client/clients/tso"

	"github.com/tikvsql/tikvsql/kv"
)

// lastTS is the newest timestamp this client has seen and when it arrived.
type lastTS struct {
	ts      uint64
	arrival time.Time
}

// tsFlight is one in-progress timestamp fetch shared by concurrent read-TS validations.
type tsFlight struct {
	done   chan struct{}
	ts     uint64
	err    error
	joined int // callers waiting on it, guarded by oracleState.flightMu
}

// oracleState is the timestamp state of a Client.
type oracleState struct {
	last atomic.Pointer[lastTS]
	lowResolution

	flightMu sync.Mutex
	flight   *tsFlight
}

// Timestamp fetches a fresh timestamp from PD's TSO. Every timestamp this client obtains
// advances its "last TS" (see LowResolutionTimestamp). PD leader changes and transient
// failures are retried within ctx and the TSO budget. Safe for concurrent use.
//
// Errors: a *kv.BackoffError wrapping kv.ErrPDUnavailable, ctx's error, or kv.ErrClosed.
func (c *Client) Timestamp(ctx context.Context) (uint64, error) {
	if err := c.checkOpen("get timestamp"); err != nil {
		return 0, err
	}
	var ts uint64
	err := c.retry(ctx, "get timestamp", c.cfg.TSOBudget, func(ctx context.Context) error {
		p, l, err := c.b.GetTS(ctx)
		if err != nil {
			return err
		}
		ts = kv.ComposeTS(p, l)
		return nil
	})
	if err != nil {
		return 0, err
	}
	c.setLastTS(ts)
	return ts, nil
}

// TSFuture is a timestamp request in flight, returned by TimestampAsync. Wait may be called
// once; a TSFuture must not be shared between goroutines.
type TSFuture struct {
	c   *Client
	ctx context.Context
	f   tso.TSFuture
	err error
}

// TimestampAsync starts a timestamp request and returns at once; the request is batched
// with others by the PD client. ctx bounds the request and any retry Wait performs.
func (c *Client) TimestampAsync(ctx context.Context) *TSFuture {
	if err := c.checkOpen("get timestamp"); err != nil {
		return &TSFuture{err: err}
	}
	return &TSFuture{c: c, ctx: ctx, f: c.b.GetTSAsync(ctx)}
}

// Wait blocks until the timestamp arrives. When the batched request fails with a transient
// error (such as a PD leader change) Wait retries it like Timestamp does.
//
// Errors: those of Timestamp.
func (f *TSFuture) Wait() (uint64, error) {
	if f.err != nil {
		return 0, f.err
	}
	p, l, err := f.f.Wait()
	if err != nil {
		if e := f.c.ctxError(f.ctx, "get timestamp"); e != nil {
			return 0, e
		}
		if e := classified("get timestamp", err); e != nil {
			return 0, e
		}
		return f.c.Timestamp(f.ctx)
	}
	ts := kv.ComposeTS(p, l)
	f.c.setLastTS(ts)
	return ts, nil
}

// setLastTS advances the last TS to ts unless it already is newer. The arrival time never
// moves backwards either. Lock-free (compare-and-swap).
func (c *Client) setLastTS(ts uint64) {
	cur := &lastTS{ts: ts, arrival: c.cfg.Clock.Now()}
	for {
		prev := c.oracle.last.Load()
		if prev != nil {
			if ts <= prev.ts {
				return
			}
			if prev.arrival.After(cur.arrival) {
				cur.arrival = prev.arrival
			}
		}
		if c.oracle.last.CompareAndSwap(prev, cur) {
			return
		}
	}
}

// LowResolutionTimestamp returns the newest timestamp this client has seen, without asking
// PD. It lags the TSO by at most the refresh interval (2 s by default; see doc.go). Use it
// where a slightly old timestamp is safe (lock expiry checks, stale-read bounds). It is 0
// only before the first timestamp, which New fetches. Safe for concurrent use.
func (c *Client) LowResolutionTimestamp() uint64 {
	if l := c.oracle.last.Load(); l != nil {
		return l.ts
	}
	return 0
}

// StaleTimestamp returns a timestamp about ago in the past, estimated from the last TS and
// the local time elapsed since it arrived, so it costs no PD round trip (PD-5). When no
// timestamp is known yet it fetches one.
//
// Errors: kv.ErrInvalidReadTS for a negative ago or one reaching before the Unix epoch;
// those of Timestamp.
func (c *Client) StaleTimestamp(ctx context.Context, ago time.Duration) (uint64, error) {
	l := c.oracle.last.Load()
	if l == nil {
		if _, err := c.Timestamp(ctx); err != nil {
			return 0, err
		}
		l = c.oracle.last.Load()
	}
	return c.staleFrom(l, ago)
}

// staleFrom computes the stale timestamp ago before now, based on l.
func (c *Client) staleFrom(l *lastTS, ago time.Duration) (uint64, error) {
	phys := kv.TimeOf(l.ts)
	if ago < 0 || time.Duration(phys.UnixMilli())*time.Millisecond <= ago {
		return 0, fmt.Errorf("pd: stale timestamp %v ago: %w", ago, kv.ErrInvalidReadTS)
	}
	return kv.TSOf(phys.Add(c.cfg.Clock.Now().Sub(l.arrival) - ago)), nil
}

// ValidateReadTS checks a read timestamp before it is sent to TiKV (PD-6): values in
// [MaxInt64, MaxTS) are never valid, MaxTS ("latest") is invalid for a stale read, and a
// timestamp beyond the last TS is compared with a fresh one (fetched once for all
// concurrent callers) before it is refused as a future read. Stale reads also feed the
// adaptive low-resolution refresh interval. Safe for concurrent use.
//
// Errors: kv.ErrInvalidReadTS, kv.ErrFutureTSRead, or those of Timestamp.
func (c *Client) ValidateReadTS(ctx context.Context, readTS uint64, staleRead bool) error {
	if readTS >= math.MaxInt64 && readTS < math.MaxUint64 {
		return fmt.Errorf("pd: read timestamp %d: %w", readTS, kv.ErrInvalidReadTS)
	}
	if readTS == kv.MaxTS {
		if staleRead {
			return fmt.Errorf("pd: stale read at the latest timestamp: %w", kv.ErrInvalidReadTS)
		}
		return nil
	}
	l := c.oracle.last.Load()
	if l == nil || readTS > l.ts {
		cur, err := c.validationTS(ctx)
		if err != nil {
			return fmt.Errorf("pd: validate read timestamp %d: %w", readTS, err)
		}
		if staleRead {
			c.adjustForStaleness(readTS, cur, c.cfg.Clock.Now())
		}
		if readTS > cur {
			return fmt.Errorf("pd: read timestamp %d is after the current timestamp %d: %w",
				readTS, cur, kv.ErrFutureTSRead)
		}
		return nil
	}
	if staleRead {
		if est, err := c.staleFrom(l, 0); err == nil {
			c.adjustForStaleness(readTS, est, c.cfg.Clock.Now())
		}
	}
	return nil
}

// validationTS returns a fresh timestamp, sharing one fetch among concurrent callers. The
// fetch runs in a goroutine owned by the client, so a caller whose ctx ends does not cancel
// it for the others.
func (c *Client) validationTS(ctx context.Context) (uint64, error) {
	o := &c.oracle
	o.flightMu.Lock()
	f := o.flight
	if f == nil {
		f = &tsFlight{done: make(chan struct{})}
		ok := c.spawn(func() {
			f.ts, f.err = c.Timestamp(c.root)
			o.flightMu.Lock()
			o.flight = nil
			o.flightMu.Unlock()
			close(f.done)
		})
		if !ok {
			o.flightMu.Unlock()
			return 0, fmt.Errorf("pd: get timestamp: %w", kv.ErrClosed)
		}
		o.flight = f
	}
	f.joined++
	o.flightMu.Unlock()
	select {
	case <-f.done:
		return f.ts, f.err
	case <-ctx.Done():
		return 0, fmt.Errorf("pd: get timestamp: %w", ctx.Err())
	}
}

// UntilExpired returns how many milliseconds remain until a lock taken at lockTS with a TTL
// of ttlMs expires, judged against the last TS (so it may say "not yet" for up to one
// refresh interval after the fact). Negative or zero means expired (PD-7).
func (c *Client) UntilExpired(lockTS, ttlMs uint64) int64 {
	last := c.LowResolutionTimestamp()
	return kv.PhysicalMs(lockTS) + int64(ttlMs) - kv.PhysicalMs(last)
}

// IsExpired reports whether a lock taken at lockTS with a TTL of ttlMs has expired, judged
// against the last TS (see UntilExpired).
func (c *Client) IsExpired(lockTS, ttlMs uint64) bool { return c.UntilExpired(lockTS, ttlMs) <= 0 }

// MinTS returns the smallest timestamp across all TSO keyspace groups (PD-8); with a
// single TSO it is the current timestamp. It is not retried when PD does not implement it.
//
// Errors: ErrUnsupported, a *kv.BackoffError wrapping kv.ErrPDUnavailable, ctx's error.
func (c *Client) MinTS(ctx context.Context) (uint64, error) {
	if err := c.checkOpen("get min timestamp"); err != nil {
		return 0, err
	}
	var ts uint64
	err := c.retry(ctx, "get min timestamp", c.cfg.TSOBudget, func(ctx context.Context) error {
		p, l, err := c.b.GetMinTS(ctx)
		ts = kv.ComposeTS(p, l)
		return err
	})
	if err != nil {
		return 0, err
	}
	return ts, nil
}

// ExternalTimestamp returns the external timestamp stored in PD (PD-9), 0 if none was set.
//
// Errors: a *kv.BackoffError wrapping kv.ErrPDUnavailable, ctx's error, kv.ErrClosed.
func (c *Client) ExternalTimestamp(ctx context.Context) (uint64, error) {
	if err := c.checkOpen("get external timestamp"); err != nil {
		return 0, err
	}
	var ts uint64
	err := c.retry(ctx, "get external timestamp", c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		ts, err = c.b.GetExternalTimestamp(ctx)
		return err
	})
	return ts, err
}

// SetExternalTimestamp stores ts as PD's external timestamp (PD-9). PD refuses a value
// below the current external timestamp or above the current TSO.
//
// Errors: ErrInvalidArgument when PD refuses the value, otherwise as ExternalTimestamp.
func (c *Client) SetExternalTimestamp(ctx context.Context, ts uint64) error {
	if err := c.checkOpen("set external timestamp"); err != nil {
		return err
	}
	return c.retry(ctx, "set external timestamp", c.cfg.RPCBudget, func(ctx context.Context) error {
		return c.b.SetExternalTimestamp(ctx, ts)
	})
}
