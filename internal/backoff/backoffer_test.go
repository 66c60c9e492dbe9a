package backoff

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// fakeClock advances instantly; Sleep records the requested durations and honours ctx.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	// cancelAt, when > 0, makes the n-th Sleep observe a cancelled ctx.
	onSleep func(n int)
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	n := len(c.sleeps)
	c.now = c.now.Add(d)
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return ctx.Err()
}

// maxRand returns the top of the jitter range; zeroRand the bottom.
func maxRand(n int64) int64  { return n - 1 }
func zeroRand(n int64) int64 { return 0 }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestKindTable(t *testing.T) {
	// Inventory §1.D: name, base, cap, jitter, error.
	want := []struct {
		k      *Kind
		name   string
		base   time.Duration
		cap    time.Duration
		jitter Jitter
		err    error
	}{
		{TiKVRPC, "tikvRPC", ms(100), ms(2000), EqualJitter, kv.ErrStoreUnavailable},
		{TxnLock, "txnLock", ms(100), ms(3000), EqualJitter, kv.ErrResolveLockTimeout},
		{TxnLockFast, "txnLockFast", ms(10), ms(3000), EqualJitter, kv.ErrResolveLockTimeout},
		{PDRPC, "pdRPC", ms(500), ms(3000), EqualJitter, kv.ErrPDUnavailable},
		{RegionMiss, "regionMiss", ms(2), ms(500), NoJitter, kv.ErrRegionUnavailable},
		{RegionScheduling, "regionScheduling", ms(2), ms(500), NoJitter, kv.ErrRegionUnavailable},
		{ServerBusy, "tikvServerBusy", ms(2000), ms(10000), EqualJitter, kv.ErrServerBusy},
		{DiskFull, "tikvDiskFull", ms(500), ms(5000), NoJitter, kv.ErrDiskFull},
		{RegionRecoveryInProgress, "regionRecoveryInProgress", ms(100), ms(10000), EqualJitter, kv.ErrRegionRecoveryInProgress},
		{TxnNotFound, "txnNotFound", ms(2), ms(500), NoJitter, kv.ErrResolveLockTimeout},
		{StaleCommand, "staleCommand", ms(2), ms(1000), NoJitter, kv.ErrStaleCommand},
		{MaxTSNotSynced, "maxTsNotSynced", ms(2), ms(500), NoJitter, kv.ErrMaxTimestampNotSynced},
		{RegionNotInitialized, "regionNotInitialized", ms(2), ms(1000), NoJitter, kv.ErrRegionNotInitialized},
		{IsWitness, "isWitness", ms(1000), ms(10000), EqualJitter, kv.ErrIsWitness},
		{CommitTSLag, "commitTSLag", ms(2), ms(500), NoJitter, kv.ErrCommitTSLag},
	}
	if len(want) != len(Kinds()) {
		t.Fatalf("table has %d kinds, Kinds() %d", len(want), len(Kinds()))
	}
	for i, w := range want {
		k := w.k
		if Kinds()[i] != k || k.Name() != w.name || k.String() != w.name || k.Base() != w.base || k.Cap() != w.cap ||
			k.Jitter() != w.jitter || k.Err() != w.err || k.ExcludedFromBudget() != (k == ServerBusy) {
			t.Errorf("kind %d (%s) does not match the table", i, w.name)
		}
	}
	if Weighted(BudgetPrewrite) != 80*time.Second {
		t.Error("Weighted")
	}
}

func TestNoJitterSequence(t *testing.T) {
	clk := &fakeClock{}
	b := New(0, WithClock(clk))
	for i := 0; i < 10; i++ {
		if err := b.Backoff(context.Background(), RegionMiss, errors.New("miss")); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{ms(2), ms(4), ms(8), ms(16), ms(32), ms(64), ms(128), ms(256), ms(500), ms(500)}
	for i, w := range want {
		if clk.sleeps[i] != w {
			t.Fatalf("sleep %d = %v, want %v (all %v)", i, clk.sleeps[i], w, clk.sleeps)
		}
	}
	if b.Attempts() != 10 || b.Slept(RegionMiss) != b.Total() || b.Slept(TiKVRPC) != 0 {
		t.Fatal("accounting")
	}
}

func TestJitterBounds(t *testing.T) {
	cases := []struct {
		name   string
		kind   *Kind
		rand   func(int64) int64
		first  time.Duration
		second time.Duration
	}{
		{"equal low", TiKVRPC, zeroRand, ms(50), ms(100)},
		{"equal high", TiKVRPC, maxRand, ms(99), ms(199)},
		{"full low", &Kind{name: "f", base: ms(100), cap: ms(1000), jitter: FullJitter}, zeroRand, 0, 0},
		{"full high", &Kind{name: "f", base: ms(100), cap: ms(1000), jitter: FullJitter}, maxRand, ms(99), ms(199)},
		{"decorr low", &Kind{name: "d", base: ms(100), cap: ms(1000), jitter: DecorrJitter}, zeroRand, ms(100), ms(100)},
		{"decorr high", &Kind{name: "d", base: ms(100), cap: ms(1000), jitter: DecorrJitter}, maxRand, ms(299), ms(896)},
		{"base below 2ms", &Kind{name: "z", base: 0, cap: ms(10), jitter: NoJitter}, zeroRand, ms(2), ms(4)},
	}
	for _, c := range cases {
		clk := &fakeClock{}
		b := New(0, WithClock(clk), WithRand(c.rand))
		_ = b.Backoff(context.Background(), c.kind, nil)
		_ = b.Backoff(context.Background(), c.kind, nil)
		if clk.sleeps[0] != c.first || clk.sleeps[1] != c.second {
			t.Errorf("%s: sleeps %v, want %v %v", c.name, clk.sleeps, c.first, c.second)
		}
	}
	// With the real random source every sleep stays within [expo/2, expo).
	clk := &fakeClock{}
	b := New(0, WithClock(clk))
	for i := 0; i < 50; i++ {
		_ = b.Backoff(context.Background(), PDRPC, nil)
	}
	for i, s := range clk.sleeps {
		e := min(ms(500)<<min(i, 10), ms(3000))
		if s < e/2 || s >= e {
			t.Fatalf("sleep %d = %v outside [%v, %v)", i, s, e/2, e)
		}
	}
}

func TestBackoffAtMostCapsOneSleep(t *testing.T) {
	clk := &fakeClock{}
	b := New(0, WithClock(clk), WithRand(maxRand))
	_ = b.BackoffAtMost(context.Background(), TxnLock, ms(7), nil)
	_ = b.BackoffAtMost(context.Background(), TxnLock, 0, nil)
	_ = b.Backoff(context.Background(), TxnLock, nil)
	if clk.sleeps[0] != ms(7) || clk.sleeps[1] != 0 || clk.sleeps[2] != ms(399) {
		t.Fatalf("sleeps = %v", clk.sleeps)
	}
}

// client-go: config/retry/backoff_test.go TestBackoffWithMax, TestBackoffErrorType
func TestBudgetReturnsLongestKind(t *testing.T) {
	clk := &fakeClock{}
	b := New(ms(1000), WithClock(clk), WithRand(zeroRand))
	ctx := context.Background()
	last := errors.New("last cause")
	// tikvRPC: 50+100 = 150ms (zero jitter), then regionMiss: 2+4+...+256+500 = 1010ms.
	// The budget is checked before each sleep, so the last regionMiss sleep overruns it.
	for i := 0; i < 2; i++ {
		if err := b.Backoff(ctx, TiKVRPC, errors.New("rpc")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 9; i++ {
		if err := b.Backoff(ctx, RegionMiss, errors.New("miss")); err != nil {
			t.Fatal(err)
		}
	}
	err := b.Backoff(ctx, TiKVRPC, last)
	var be *kv.BackoffError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *kv.BackoffError", err)
	}
	if be.Err != kv.ErrRegionUnavailable || be.Kind != "regionMiss" || !errors.Is(err, last) ||
		be.Attempts != 11 || be.Budget != ms(1000) || be.Total != ms(1160) || len(be.History) != 11 {
		t.Fatalf("BackoffError = %+v", be)
	}
	if !kv.IsRetryable(err) {
		t.Fatal("an exhausted region budget is retryable")
	}
	if len(clk.sleeps) != 11 {
		t.Fatal("an exhausted backoffer must not sleep")
	}
}

// client-go: config/retry/backoff_test.go TestBackoffDeepCopy / excluded ServerBusy budget
func TestServerBusyExcludedFromBudget(t *testing.T) {
	clk := &fakeClock{}
	b := New(ms(100), WithClock(clk), WithRand(zeroRand))
	ctx := context.Background()
	// Busy sleeps (1s, 2s, 4s, 5s, 5s...) far exceed the 100ms budget yet do not end the loop.
	for i := 0; i < 20; i++ {
		if err := b.Backoff(ctx, ServerBusy, errors.New("busy")); err != nil {
			t.Fatalf("busy sleep %d ended the loop: %v", i, err)
		}
	}
	// A budgeted kind still has its own budget.
	for i := 0; ; i++ {
		err := b.Backoff(ctx, RegionMiss, errors.New("miss"))
		if err == nil {
			continue
		}
		var be *kv.BackoffError
		if !errors.As(err, &be) || be.Err != kv.ErrRegionUnavailable {
			t.Fatalf("err = %v", err)
		}
		break
	}
}

func TestServerBusyExclusionLimit(t *testing.T) {
	clk := &fakeClock{}
	b := New(ms(100), WithClock(clk), WithRand(zeroRand))
	ctx := context.Background()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = b.Backoff(ctx, ServerBusy, errors.New("busy"))
	}
	var be *kv.BackoffError
	if !errors.As(err, &be) || be.Err != kv.ErrServerBusy || be.Kind != "tikvServerBusy" {
		t.Fatalf("err = %v", err)
	}
	if b.Total() < maxExcluded {
		t.Fatalf("gave up after %v, before the exclusion limit", b.Total())
	}
	if len(be.History) != historyLen {
		t.Fatalf("history has %d entries, want the last %d", len(be.History), historyLen)
	}
}

func TestExhaustedWithoutSleeps(t *testing.T) {
	b := New(time.Nanosecond, WithClock(&fakeClock{}))
	b.total = time.Second // pretend an earlier stage spent it
	err := b.Backoff(context.Background(), PDRPC, errors.New("pd"))
	var be *kv.BackoffError
	if !errors.As(err, &be) || be.Err != kv.ErrPDUnavailable {
		t.Fatalf("err = %v", err)
	}
}

func TestContextEndsTheLoop(t *testing.T) {
	cause := errors.New("store down")
	ctx, cancel := context.WithCancel(context.Background())
	clk := &fakeClock{onSleep: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	b := New(time.Hour, WithClock(clk))
	if err := b.Backoff(ctx, TiKVRPC, cause); err != nil {
		t.Fatal(err)
	}
	err := b.Backoff(ctx, TiKVRPC, cause)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || kv.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "tikvRPC") {
		t.Fatalf("message %q", err)
	}
	// A done ctx returns at once, without sleeping.
	n := len(clk.sleeps)
	err = b.Backoff(ctx, TiKVRPC, nil)
	if !errors.Is(err, context.Canceled) || len(clk.sleeps) != n {
		t.Fatalf("err = %v sleeps %d", err, len(clk.sleeps))
	}
}

func TestDeadlineWithSystemClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	b := New(time.Hour)
	var err error
	for err == nil {
		err = b.Backoff(ctx, ServerBusy, nil)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestSystemClock(t *testing.T) {
	var c SystemClock
	if c.Now().IsZero() {
		t.Fatal("Now")
	}
	if err := c.Sleep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(time.Millisecond); cancel2() }()
	if err := c.Sleep(ctx2, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

type recordingTracer struct{ events []kv.BackoffEvent }

func (r *recordingTracer) TraceBackoff(_ context.Context, ev kv.BackoffEvent) {
	r.events = append(r.events, ev)
}

func TestTracer(t *testing.T) {
	tr := &recordingTracer{}
	b := New(0, WithClock(&fakeClock{}), WithTracer(tr))
	cause := errors.New("c")
	_ = b.Backoff(context.Background(), RegionMiss, cause)
	_ = b.Backoff(context.Background(), RegionMiss, cause)
	if len(tr.events) != 2 || tr.events[1].Kind != "regionMiss" || tr.events[1].Sleep != ms(4) ||
		tr.events[1].Attempt != 1 || tr.events[1].Total != ms(2) || tr.events[1].Cause != cause {
		t.Fatalf("events = %+v", tr.events)
	}
}

// client-go: config/retry/backoff_test.go TestBackoffDeepCopy, TestBackoffUpdateUsingForked
func TestForkAndMerge(t *testing.T) {
	clk := &fakeClock{}
	parent := New(time.Hour, WithClock(clk))
	ctx := context.Background()
	_ = parent.Backoff(ctx, RegionMiss, nil) // 2ms
	f1, f2 := parent.Fork(), parent.Fork()
	if f1.Total() != ms(2) || f1.Slept(RegionMiss) != ms(2) || f1.Attempts() != 1 || len(f1.History()) != 1 {
		t.Fatal("fork copies the accounting")
	}
	// The fork has its own exponential state: it starts from the base again.
	_ = f1.Backoff(ctx, RegionMiss, nil)
	if clk.sleeps[1] != ms(2) {
		t.Fatalf("fork sleep = %v", clk.sleeps[1])
	}
	_ = f2.Backoff(ctx, RegionMiss, nil)
	_ = f2.Backoff(ctx, RegionMiss, nil)
	_ = f2.Backoff(ctx, RegionMiss, nil) // 2+4+8 = 14ms on top of 2
	if parent.Total() != ms(2) {
		t.Fatal("forks must not change the parent")
	}
	parent.MergeFork(f1)
	if parent.Total() != ms(4) {
		t.Fatalf("merge f1: total = %v", parent.Total())
	}
	parent.MergeFork(f2)
	if parent.Total() != ms(16) || parent.Slept(RegionMiss) != ms(16) || parent.Attempts() != 4 || len(parent.History()) != 4 {
		t.Fatalf("merge f2: total = %v attempts %d", parent.Total(), parent.Attempts())
	}
	parent.MergeFork(f1) // shorter: ignored
	if parent.Total() != ms(16) {
		t.Fatal("merging a shorter fork changed the parent")
	}
	// The parent keeps its own exponent: its next regionMiss sleep is 4ms.
	_ = parent.Backoff(ctx, RegionMiss, nil)
	if got := clk.sleeps[len(clk.sleeps)-1]; got != ms(4) {
		t.Fatalf("parent exponent after merge: %v", got)
	}
	empty := New(time.Second).Fork()
	if empty.Total() != 0 || empty.Budget() != time.Second {
		t.Fatal("fork of a fresh backoffer")
	}
}

func TestResetAndHistoryRing(t *testing.T) {
	clk := &fakeClock{}
	b := New(ms(50), WithClock(clk))
	for i := 0; i < historyLen+4; i++ {
		_ = b.BackoffAtMost(context.Background(), RegionMiss, ms(1), errors.New(strings.Repeat("x", i+1)))
	}
	h := b.History()
	if len(h) != historyLen || h[0].Cause.Error() != strings.Repeat("x", 5) || h[historyLen-1].Cause.Error() != strings.Repeat("x", historyLen+4) {
		t.Fatalf("history not the most recent, oldest first: first %v last %v", h[0].Cause, h[historyLen-1].Cause)
	}
	f := b.Fork()
	_ = f.Backoff(context.Background(), RegionMiss, errors.New("newest"))
	if fh := f.History(); fh[historyLen-1].Cause.Error() != "newest" || fh[0].Cause.Error() != strings.Repeat("x", 6) {
		t.Fatal("fork history ring")
	}
	b.Reset()
	if b.Total() != 0 || b.Slept(RegionMiss) != 0 {
		t.Fatal("Reset")
	}
	_ = b.Backoff(context.Background(), RegionMiss, nil)
	if clk.sleeps[len(clk.sleeps)-1] != ms(2) {
		t.Fatal("Reset restarts the exponent")
	}
}

func TestExpoOverflow(t *testing.T) {
	if expo(2, 500, 1000) != 500 || expo(2, 500, 0) != 2 || expo(3, 1<<62, 70) != 1<<62 {
		t.Fatal("expo")
	}
}
