// Package backoff decides how long a retry loop waits and when it gives up.
//
// Every kind of trouble the client retries (a store that cannot be reached, a region that
// moved, a busy server, a lock that has not expired, ...) is a [Kind] with a base delay, a
// cap and a jitter policy; the table is inventory §1.D of client-go (BO-1..BO-17), minus
// the TiFlash kinds, which serve only TiDB. Within one retry loop each kind's delay grows
// exponentially from its base to its cap, independently of the other kinds.
//
// A [Backoffer] is the state of one retry loop: it is created where the loop starts, with
// the loop's time budget, and never passed through public APIs. [Backoffer.Backoff]
// sleeps (honouring ctx) and returns nil to say "try again", or returns an error that
// ends the loop:
//
//   - the ctx is done: the error wraps ctx.Err() (so errors.Is(err,
//     context.DeadlineExceeded) works) and the last cause;
//   - the budget is spent: a *kv.BackoffError whose Err is the sentinel of the kind that
//     slept longest in total (not the last one), with the recent attempts.
//
// The budget is checked before each sleep against the time slept so far, so a loop may
// overrun its budget by at most one sleep. Sleeps of [ServerBusy] do not count against
// the budget (TiKV asked us to wait; waiting is the right thing) until they themselves
// exceed ten minutes and the budget; the caller's ctx still bounds them.
//
// Parallel sub-tasks (one per region, say) take a [Backoffer.Fork] each: the fork starts
// with the parent's accounting but its own exponential state, and
// [Backoffer.MergeFork] folds the longest-sleeping fork back, because parallel sleeps
// overlap in time.
//
// A Backoffer is not safe for concurrent use. Kinds are immutable and shared. Time and
// randomness come from an injectable [Clock] and random source, so tests run on a fake
// clock without sleeping.
package backoff
