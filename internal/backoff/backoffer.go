package backoff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// historyLen bounds the attempts a Backoffer remembers for its error.
const historyLen = 16

// Option configures a Backoffer.
type Option func(*Backoffer)

// WithClock makes the Backoffer read time and sleep through c.
func WithClock(c Clock) Option { return func(b *Backoffer) { b.clock = c } }

// WithRand makes the Backoffer draw jitter from r, which must return a value in [0, n)
// for n > 0.
func WithRand(r func(n int64) int64) Option { return func(b *Backoffer) { b.rand = r } }

// WithTracer reports every sleep to t before it happens.
func WithTracer(t kv.BackoffTracer) Option { return func(b *Backoffer) { b.tracer = t } }

// kindState is the per-kind state of one retry loop.
type kindState struct {
	attempts  int           // sleeps of this kind so far (drives the exponent)
	lastSleep time.Duration // the previous sleep (drives decorrelated jitter)
	slept     time.Duration // total sleep of this kind
}

// Backoffer is the state of one retry loop. See the package documentation.
// The zero value is not usable; create one with New.
type Backoffer struct {
	budget   time.Duration
	clock    Clock
	rand     func(int64) int64
	tracer   kv.BackoffTracer
	total    time.Duration // all sleeps
	excluded time.Duration // sleeps of excluded kinds
	attempts int
	kinds    map[*Kind]*kindState
	history  []kv.BackoffAttempt // ring buffer, see record
	next     int                 // ring write position once history is full
}

// New returns a Backoffer with the given budget: the total sleep (excluding ServerBusy)
// after which Backoff gives up. A budget of zero or less means "no budget": the loop is
// bounded by ctx alone.
func New(budget time.Duration, opts ...Option) *Backoffer {
	b := &Backoffer{budget: budget, clock: SystemClock{}, rand: rand.Int64N}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Backoff waits before the next attempt of a loop that failed with cause, which is of
// kind k. It returns nil after sleeping, or the error that ends the loop (see the package
// documentation).
func (b *Backoffer) Backoff(ctx context.Context, k *Kind, cause error) error {
	return b.BackoffAtMost(ctx, k, -1, cause)
}

// BackoffAtMost is Backoff with one sleep capped at maxSleep (for example, by the
// remaining TTL of a lock being waited for). A negative maxSleep means no cap.
func (b *Backoffer) BackoffAtMost(ctx context.Context, k *Kind, maxSleep time.Duration, cause error) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err, k, cause)
	}
	if b.exhausted(k) {
		return b.budgetError(k, cause)
	}
	st := b.state(k)
	sleep := b.nextSleep(k, st)
	if maxSleep >= 0 && sleep > maxSleep {
		sleep = maxSleep
	}
	if b.tracer != nil {
		b.tracer.TraceBackoff(ctx, kv.BackoffEvent{Kind: k.name, Sleep: sleep, Attempt: st.attempts, Total: b.total, Cause: cause})
	}
	if err := b.clock.Sleep(ctx, sleep); err != nil {
		return ctxError(err, k, cause)
	}
	st.attempts++
	st.lastSleep = sleep
	st.slept += sleep
	b.total += sleep
	if k.excluded {
		b.excluded += sleep
	}
	b.attempts++
	b.record(kv.BackoffAttempt{Kind: k.name, Sleep: sleep, Cause: cause})
	return nil
}

// exhausted reports whether the budget is spent, checked before sleeping on kind k.
func (b *Backoffer) exhausted(k *Kind) bool {
	if b.budget <= 0 {
		return false
	}
	if b.total-b.excluded >= b.budget {
		return true
	}
	// Excluded sleeps count once they pass both the exclusion limit and the budget.
	return k.excluded && b.excluded >= maxExcluded && b.excluded >= b.budget
}

// budgetError builds the error for an exhausted budget: the kind that slept longest
// (budgeted kinds first) names the failure.
func (b *Backoffer) budgetError(current *Kind, cause error) error {
	dominant := b.longest(false)
	if dominant == nil {
		dominant = b.longest(true)
	}
	if dominant == nil {
		dominant = current
	}
	return &kv.BackoffError{
		Err:      dominant.err,
		Kind:     dominant.name,
		Cause:    cause,
		Total:    b.total,
		Budget:   b.budget,
		Attempts: b.attempts,
		History:  b.History(),
	}
}

// longest returns the kind with the longest total sleep, considering excluded kinds only
// when withExcluded is set. Ties go to the kind listed first in Kinds.
func (b *Backoffer) longest(withExcluded bool) *Kind {
	var best *Kind
	var bestSlept time.Duration
	for _, k := range Kinds() {
		st, ok := b.kinds[k]
		if !ok || (k.excluded && !withExcluded) || st.slept <= bestSlept {
			continue
		}
		best, bestSlept = k, st.slept
	}
	return best
}

// ctxError wraps the ctx error so errors.Is(err, context.DeadlineExceeded) holds, keeping
// the cause for the message and for errors.Is.
func ctxError(ctxErr error, k *Kind, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w (backing off %s)", ctxErr, k.name)
	}
	return fmt.Errorf("%w (backing off %s after: %w)", ctxErr, k.name, cause)
}

func (b *Backoffer) state(k *Kind) *kindState {
	if b.kinds == nil {
		b.kinds = make(map[*Kind]*kindState)
	}
	st, ok := b.kinds[k]
	if !ok {
		st = &kindState{}
		b.kinds[k] = st
	}
	return st
}

// nextSleep computes the next delay of kind k in whole milliseconds, as client-go does,
// so the sequence matches its table exactly.
func (b *Backoffer) nextSleep(k *Kind, st *kindState) time.Duration {
	base, capMs := k.base.Milliseconds(), k.cap.Milliseconds()
	if base < 2 {
		base = 2
	}
	var ms int64
	switch k.jitter {
	case FullJitter:
		ms = b.rand(expo(base, capMs, st.attempts))
	case EqualJitter:
		v := expo(base, capMs, st.attempts)
		ms = v/2 + b.rand(v/2)
	case DecorrJitter:
		last := st.lastSleep.Milliseconds()
		if st.attempts == 0 || last < base {
			last = base
		}
		ms = min(capMs, base+b.rand(3*last-base))
	default:
		ms = expo(base, capMs, st.attempts)
	}
	return time.Duration(ms) * time.Millisecond
}

// expo returns min(cap, base·2^n), guarding against overflow.
func expo(base, capMs int64, n int) int64 {
	v := base
	for i := 0; i < n && v < capMs; i++ {
		v *= 2
	}
	return min(v, capMs)
}

func (b *Backoffer) record(a kv.BackoffAttempt) {
	if len(b.history) < historyLen {
		b.history = append(b.history, a)
		return
	}
	b.history[b.next] = a
	b.next = (b.next + 1) % historyLen
}

// History returns the most recent attempts, oldest first (at most 16).
func (b *Backoffer) History() []kv.BackoffAttempt {
	out := make([]kv.BackoffAttempt, 0, len(b.history))
	out = append(out, b.history[b.next:]...)
	return append(out, b.history[:b.next]...)
}

// Total returns the time slept so far, excluded kinds included.
func (b *Backoffer) Total() time.Duration { return b.total }

// Attempts returns the number of sleeps so far.
func (b *Backoffer) Attempts() int { return b.attempts }

// Slept returns the time slept so far on kind k.
func (b *Backoffer) Slept(k *Kind) time.Duration {
	if st, ok := b.kinds[k]; ok {
		return st.slept
	}
	return 0
}

// Budget returns the budget the Backoffer was created with.
func (b *Backoffer) Budget() time.Duration { return b.budget }

// Reset forgets the sleeps and exponents so far, keeping the budget and the history. Use
// it when a loop moves to a new stage that deserves a fresh budget.
func (b *Backoffer) Reset() {
	b.total, b.excluded = 0, 0
	b.kinds = nil
}

// Fork returns a Backoffer for a parallel sub-task. It shares the clock, random source,
// tracer and budget, starts with a copy of the accounting so far (total sleep, per-kind
// totals, history), and has its own exponential state. Forks are independent values: use
// each from one goroutine.
func (b *Backoffer) Fork() *Backoffer {
	f := &Backoffer{budget: b.budget, clock: b.clock, rand: b.rand, tracer: b.tracer,
		total: b.total, excluded: b.excluded, attempts: b.attempts}
	if len(b.kinds) > 0 {
		f.kinds = make(map[*Kind]*kindState, len(b.kinds))
		for k, st := range b.kinds {
			f.kinds[k] = &kindState{slept: st.slept}
		}
	}
	f.history = b.History() // oldest first, so the ring's write position starts at 0
	return f
}

// MergeFork folds a finished fork back into b when the fork slept longer than b has:
// parallel sub-tasks sleep at the same time, so the slowest one is the loop's cost.
// Exponential state is kept from b.
func (b *Backoffer) MergeFork(f *Backoffer) {
	if f.total <= b.total {
		return
	}
	b.total, b.excluded, b.attempts = f.total, f.excluded, f.attempts
	kinds := make(map[*Kind]*kindState, len(f.kinds))
	for k, st := range f.kinds {
		ns := &kindState{slept: st.slept}
		if old, ok := b.kinds[k]; ok {
			ns.attempts, ns.lastSleep = old.attempts, old.lastSleep
		}
		kinds[k] = ns
	}
	b.kinds = kinds
	b.history, b.next = f.History(), 0
}
