package pd

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/log"
	"go.uber.org/zap/zapcore"

	"github.com/tikvsql/tikvsql/kv"
)

// client-go: oracle/oracles/pd_test.go TestSetLastTSAlwaysPushTS (here with fetches from
// many goroutines)
func TestTimestampMonotonicUnderConcurrency(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	const workers, per = 16, 200
	var wg sync.WaitGroup
	maxSeen := make([]uint64, workers)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev uint64
			for i := range per {
				var ts uint64
				var err error
				if i%2 == 0 {
					ts, err = c.Timestamp(context.Background())
				} else {
					ts, err = c.TimestampAsync(context.Background()).Wait()
				}
				if err != nil {
					errs <- err
					return
				}
				if ts <= prev {
					errs <- errors.New("timestamp went backwards")
					return
				}
				if low := c.LowResolutionTimestamp(); low < ts {
					errs <- errors.New("last TS behind a fetched timestamp")
					return
				}
				prev = ts
			}
			maxSeen[w] = prev
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var top uint64
	for _, m := range maxSeen {
		top = max(top, m)
	}
	if got := c.LowResolutionTimestamp(); got != top {
		t.Fatalf("last TS = %d, want the largest fetched %d", got, top)
	}
}

func TestSetLastTSNeverMovesBack(t *testing.T) {
	c := newTestClient(t, idleConfig(), newFakePD())
	base := c.LowResolutionTimestamp()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.setLastTS(base + uint64(i))
		}()
	}
	wg.Wait()
	if got := c.LowResolutionTimestamp(); got != base+63 {
		t.Fatalf("last TS = %d, want %d", got, base+63)
	}
	c.setLastTS(base)
	if got := c.LowResolutionTimestamp(); got != base+63 {
		t.Fatalf("last TS moved back to %d", got)
	}
}

func TestTimestampRetriesTransientErrors(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	f.mu.Lock()
	f.tsErrs = []error{errors.New("[PD:client:ErrClientGetLeader]get leader failed"), errors.New("not leader")}
	f.mu.Unlock()
	before := f.tsCalls.Load()
	if _, err := c.Timestamp(context.Background()); err != nil {
		t.Fatalf("Timestamp after two leader errors: %v", err)
	}
	if n := f.tsCalls.Load() - before; n != 3 {
		t.Fatalf("GetTS called %d times, want 3", n)
	}
	// The async form falls back to the retrying path.
	f.mu.Lock()
	f.tsErrs = []error{errors.New("stream closed")}
	f.mu.Unlock()
	if _, err := c.TimestampAsync(context.Background()).Wait(); err != nil {
		t.Fatalf("TimestampAsync after a stream error: %v", err)
	}
}

func TestTimestampBudgetExhausted(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	f.mu.Lock()
	for range 1000 {
		f.tsErrs = append(f.tsErrs, errors.New("[PD:client:ErrClientGetTSO]get TSO failed"))
	}
	f.mu.Unlock()
	_, err := c.Timestamp(context.Background())
	var be *kv.BackoffError
	if !errors.As(err, &be) || !errors.Is(err, kv.ErrPDUnavailable) {
		t.Fatalf("err = %v, want *kv.BackoffError wrapping ErrPDUnavailable", err)
	}
	if !kv.IsRetryable(err) {
		t.Fatal("PD unavailability should be retryable")
	}
	var pe *pdError
	if !errors.As(err, &pe) {
		t.Fatalf("cause should be a sanitized pdError, got %T", be.Cause)
	}
}

func TestInternalTimeoutIsNotTheCallersDeadline(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	f.mu.Lock()
	for range 1000 {
		f.tsErrs = append(f.tsErrs, context.DeadlineExceeded) // the PD client's per-attempt timeout
	}
	f.mu.Unlock()
	_, err := c.Timestamp(context.Background())
	if !errors.Is(err, kv.ErrPDUnavailable) || errors.Is(err, context.DeadlineExceeded) || !kv.IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable PD-unavailable error", err)
	}
}

func TestTimestampContextErrors(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, Config{LowResolutionInterval: time.Hour, SafePointRefresh: time.Hour}, f)
	f.mu.Lock()
	for range 1000 {
		f.tsErrs = append(f.tsErrs, errors.New("no leader"))
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Timestamp(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.TimestampAsync(ctx).Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("async err = %v, want Canceled", err)
	}
}

func TestCloseInterruptsAndRefuses(t *testing.T) {
	f := newFakePD()
	c, err := NewWithBackend(context.Background(), Config{LowResolutionInterval: time.Hour, SafePointRefresh: time.Hour}, f)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	for range 1000 {
		f.tsErrs = append(f.tsErrs, errors.New("no leader"))
	}
	f.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := c.Timestamp(context.Background())
		done <- err
	}()
	eventually(t, "a retry in flight", func() bool { return f.tsCalls.Load() > 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("in-flight err = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := f.closed.Load(); n != 1 {
		t.Fatalf("backend closed %d times, want 1", n)
	}
	if _, err := c.Timestamp(context.Background()); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := c.TimestampAsync(context.Background()).Wait(); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("async after Close: %v", err)
	}
	if err := c.ValidateReadTS(context.Background(), kv.ComposeTS(kv.PhysicalMs(c.LowResolutionTimestamp())+10_000, 0), false); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("validate after Close: %v", err)
	}
}

func TestConstructionFailureRollsBack(t *testing.T) {
	f := newFakePD()
	f.tsErrs = []error{errUnimplemented}
	if _, err := NewWithBackend(context.Background(), idleConfig(), f); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if f.closed.Load() != 1 {
		t.Fatal("backend not closed after failed construction")
	}
}

func TestLowResolutionRefreshOnFakeClock(t *testing.T) {
	f := newFakePD()
	clk := newFakeClock()
	c := newTestClient(t, Config{Clock: clk, SafePointRefresh: time.Hour}, f)
	eventually(t, "refresh timers", func() bool { return clk.Waiters() == 2 })
	first := c.LowResolutionTimestamp()
	f.advance(2 * time.Second)
	calls := f.tsCalls.Load()
	clk.Advance(time.Second)
	if f.tsCalls.Load() != calls {
		t.Fatal("refreshed before the 2 s interval")
	}
	clk.Advance(time.Second)
	eventually(t, "low-resolution refresh", func() bool { return c.LowResolutionTimestamp() > first })
	if got := kv.TSDiff(first, c.LowResolutionTimestamp()); got != 2*time.Second {
		t.Fatalf("refreshed TS is %v ahead, want 2s", got)
	}
}

// client-go: oracle/oracles/pd_test.go TestAdaptiveUpdateTSInterval,
// TestPdOracle_SetLowResolutionTimestampUpdateInterval
func TestAdaptiveIntervalStateMachine(t *testing.T) {
	var o oracleState
	now := time.Unix(1_700_000_000, 0)
	o.init(Config{LowResolutionInterval: 2 * time.Second, Clock: newFakeClock()})
	o.lastTick = now
	step := func(d, required time.Duration) time.Duration {
		now = now.Add(d)
		got := o.nextInterval(now, required)
		o.lastTick = now
		return got
	}
	if got := step(2*time.Second, 0); got != 2*time.Second {
		t.Fatalf("normal tick: %v", got)
	}
	// A read needing 1 s staleness shrinks to 1 s - 100 ms.
	o.lastShort.Store(now.UnixMilli())
	if got := o.nextInterval(now, time.Second); got != 900*time.Millisecond {
		t.Fatalf("shrink: %v", got)
	}
	// Never below the 500 ms floor.
	if got := o.nextInterval(now, 300*time.Millisecond); got != 500*time.Millisecond {
		t.Fatalf("floor: %v", got)
	}
	// At the floor, further requests change nothing.
	if got := o.nextInterval(now, 100*time.Millisecond); got != 500*time.Millisecond {
		t.Fatalf("at floor: %v", got)
	}
	// Held while short-staleness reads are recent (< 5 min).
	if got := step(4*time.Minute, 0); got != 500*time.Millisecond {
		t.Fatalf("hold: %v", got)
	}
	// After 5 min without such reads it recovers by 20 ms per second since the last tick.
	now = now.Add(time.Minute + time.Second)
	o.lastTick = now.Add(-10 * time.Second)
	if got := o.nextInterval(now, 0); got != 700*time.Millisecond {
		t.Fatalf("recover: %v", got)
	}
	o.lastTick = now
	if got := step(100*time.Second, 0); got != 2*time.Second {
		t.Fatalf("recovered up to the configured value: %v", got)
	}
	// A configured interval at or below the floor is followed as is.
	o.configured.Store(int64(400 * time.Millisecond))
	if got := o.nextInterval(now, 100*time.Millisecond); got != 400*time.Millisecond {
		t.Fatalf("unadjustable: %v", got)
	}
}

func TestStaleReadShrinksIntervalThroughValidate(t *testing.T) {
	f := newFakePD()
	clk := newFakeClock()
	c := newTestClient(t, Config{Clock: clk, SafePointRefresh: time.Hour}, f)
	eventually(t, "refresh timers", func() bool { return clk.Waiters() == 2 })
	last := c.LowResolutionTimestamp()
	readTS := kv.ComposeTS(kv.PhysicalMs(last)-1000, 0) // 1 s stale
	if err := c.ValidateReadTS(context.Background(), readTS, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "interval shrink", func() bool {
		_, eff := c.LowResolutionInterval()
		return eff == 900*time.Millisecond
	})
	if err := c.SetLowResolutionInterval(0); err == nil {
		t.Fatal("SetLowResolutionInterval(0) accepted")
	}
	if err := c.SetLowResolutionInterval(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if conf, eff := c.LowResolutionInterval(); conf != 300*time.Millisecond || eff != 300*time.Millisecond {
		t.Fatalf("after Set: %v %v", conf, eff)
	}
}

// client-go: oracle/oracles/pd_test.go TestPdOracle_GetStaleTimestamp
func TestStaleTimestamp(t *testing.T) {
	f := newFakePD()
	clk := newFakeClock()
	c := newTestClient(t, Config{Clock: clk, LowResolutionInterval: time.Hour, SafePointRefresh: time.Hour}, f)
	last := c.LowResolutionTimestamp()
	clk.Advance(3 * time.Second)
	ts, err := c.StaleTimestamp(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := kv.TSDiff(last, ts); d != 2*time.Second {
		t.Fatalf("stale TS is %v after last TS, want 2s", d)
	}
	if _, err := c.StaleTimestamp(context.Background(), -time.Second); !errors.Is(err, kv.ErrInvalidReadTS) {
		t.Fatalf("negative: %v", err)
	}
	if _, err := c.StaleTimestamp(context.Background(), 100*365*24*time.Hour); !errors.Is(err, kv.ErrInvalidReadTS) {
		t.Fatalf("before epoch: %v", err)
	}
}

// client-go: oracle/oracles/pd_test.go TestValidateReadTS
func TestValidateReadTS(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	ctx := context.Background()
	for _, ts := range []uint64{math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64 - 1} {
		for _, stale := range []bool{false, true} {
			if err := c.ValidateReadTS(ctx, ts, stale); !errors.Is(err, kv.ErrInvalidReadTS) {
				t.Fatalf("ts %d stale %v: %v", ts, stale, err)
			}
		}
	}
	if err := c.ValidateReadTS(ctx, kv.MaxTS, false); err != nil {
		t.Fatalf("MaxTS read: %v", err)
	}
	if err := c.ValidateReadTS(ctx, kv.MaxTS, true); !errors.Is(err, kv.ErrInvalidReadTS) {
		t.Fatalf("MaxTS stale read: %v", err)
	}
	calls := f.tsCalls.Load()
	if err := c.ValidateReadTS(ctx, c.LowResolutionTimestamp(), false); err != nil || f.tsCalls.Load() != calls {
		t.Fatalf("ts at last TS: err %v, fetches %d", err, f.tsCalls.Load()-calls)
	}
	// Beyond the last TS but not beyond PD: one fetch, accepted.
	f.advance(time.Second)
	ahead := kv.ComposeTS(kv.PhysicalMs(c.LowResolutionTimestamp())+500, 0)
	if err := c.ValidateReadTS(ctx, ahead, false); err != nil {
		t.Fatalf("ts behind PD: %v", err)
	}
	if n := f.tsCalls.Load() - calls; n != 1 {
		t.Fatalf("fetched %d times, want 1", n)
	}
	future := kv.ComposeTS(kv.PhysicalMs(c.LowResolutionTimestamp())+60_000, 0)
	if err := c.ValidateReadTS(ctx, future, true); !errors.Is(err, kv.ErrFutureTSRead) {
		t.Fatalf("future: %v", err)
	}
}

// client-go: oracle/oracles/pd_test.go TestValidateReadTSForNormalReadDoNotAffectUpdateInterval
func TestNormalReadValidationDoesNotShrinkInterval(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	ctx := context.Background()
	last := c.LowResolutionTimestamp()
	for _, ts := range []uint64{last, last + 1, kv.ComposeTS(kv.PhysicalMs(last)-1000, 0)} {
		if err := c.ValidateReadTS(ctx, ts, false); err != nil {
			t.Fatalf("validate %d: %v", ts, err)
		}
		select {
		case d := <-c.oracle.shrink:
			t.Fatalf("a normal read asked to shrink the interval to %v", d)
		default:
		}
	}
	if c.oracle.lastShort.Load() != 0 {
		t.Fatal("a normal read was recorded as a short-staleness read")
	}
}

// client-go: oracle/oracles/pd_test.go TestValidateReadTSForStaleReadReusingGetTSResult
func TestValidateReadTSSingleFlight(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	f.tsGate = make(chan struct{})
	calls := f.tsCalls.Load()
	future := kv.ComposeTS(kv.PhysicalMs(c.LowResolutionTimestamp())+60_000, 0)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.ValidateReadTS(context.Background(), future, false)
		}()
	}
	eventually(t, "every validation to join the shared fetch", func() bool {
		c.oracle.flightMu.Lock()
		defer c.oracle.flightMu.Unlock()
		return c.oracle.flight != nil && c.oracle.flight.joined == n
	})
	// A caller whose ctx ends gives up alone.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.ValidateReadTS(ctx, future, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled validation: %v", err)
	}
	close(f.tsGate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, kv.ErrFutureTSRead) {
			t.Fatalf("err = %v, want ErrFutureTSRead", err)
		}
	}
	if got := f.tsCalls.Load() - calls; got != 1 {
		t.Fatalf("GetTS called %d times for %d concurrent validations", got, n)
	}
}

// client-go: oracle/oracles/pd_test.go TestPDOracle_UntilExpired
func TestLockExpiry(t *testing.T) {
	c := newTestClient(t, idleConfig(), newFakePD())
	last := c.LowResolutionTimestamp()
	lock := kv.ComposeTS(kv.PhysicalMs(last)-3000, 5)
	if c.IsExpired(lock, 5000) || c.UntilExpired(lock, 5000) != 2000 {
		t.Fatalf("lock with 2 s left: expired=%v until=%d", c.IsExpired(lock, 5000), c.UntilExpired(lock, 5000))
	}
	if !c.IsExpired(lock, 3000) || !c.IsExpired(lock, 1000) {
		t.Fatal("lock past its TTL not expired")
	}
}

func TestMinAndExternalTimestamp(t *testing.T) {
	f := newFakePD()
	c := newTestClient(t, idleConfig(), f)
	ctx := context.Background()
	ts, err := c.MinTS(ctx)
	if err != nil || ts <= 0 {
		t.Fatalf("MinTS = %d, %v", ts, err)
	}
	f.minTSErr = errUnimplemented
	calls := f.tsCalls.Load()
	if _, err := c.MinTS(ctx); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unimplemented MinTS: %v", err)
	}
	if f.tsCalls.Load()-calls != 1 {
		t.Fatal("MinTS retried an Unimplemented error")
	}
	if err := c.SetExternalTimestamp(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ExternalTimestamp(ctx); err != nil || got != 100 {
		t.Fatalf("ExternalTimestamp = %d, %v", got, err)
	}
	if err := c.SetExternalTimestamp(ctx, 50); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("moving external TS back: %v", err)
	}
}

func TestQuietPDClientLog(t *testing.T) {
	quietPDClientLog()
	if log.L() == defaultPDLogger && log.GetLevel() < zapcore.WarnLevel {
		t.Fatalf("pingcap/log level = %v, want WARN or above", log.GetLevel())
	}
}
