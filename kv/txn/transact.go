package txn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

// Transact runs fn in a new transaction and commits it, retrying the whole attempt (a
// new transaction with a new start ts) when fn or Commit fails with an error for which
// kv.IsRetryable holds: write conflicts, locks that did not settle in time, a
// transaction aborted by a lock resolver, transient region and store trouble. Between
// attempts it sleeps a jittered, growing delay (1 ms doubling to 256 ms, full jitter).
// fn must not keep tx after returning and should be free of side effects other than
// tx, since it may run several times.
//
// fn's error rolls the transaction back and, unless retryable, is returned as is. An
// undetermined commit (kv.IsUndetermined) is never retried. Attempts are bounded by
// WithMaxAttempts (default Config.MaxAttempts) and by ctx.
//
// Errors: fn's error; Commit's errors; after the last attempt an error wrapping the
// last attempt's error; when ctx ends between attempts an error wrapping both ctx's
// error and the last attempt's error.
func (c *Client) Transact(ctx context.Context, fn func(ctx context.Context, tx *Txn) error, opts ...TxnOption) error {
	var o txnOptions
	for _, f := range opts {
		f(&o)
	}
	attempts := c.cfg.MaxAttempts
	if o.maxAttempts > 0 {
		attempts = o.maxAttempts
	}
	retryOpts := append(slices.Clip(opts), WithStartTS(0)) // a retry needs a fresh snapshot
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			opts = retryOpts
			if err := sleepJitter(ctx, i); err != nil {
				return fmt.Errorf("txn: transact: %w (last attempt: %w)", err, last)
			}
		}
		last = c.attempt(ctx, fn, opts)
		if last == nil {
			return nil
		}
		if kv.IsUndetermined(last) || !kv.IsRetryable(last) {
			return last
		}
	}
	return fmt.Errorf("txn: transact gave up after %d attempts: %w", attempts, last)
}

// attempt runs fn once in a new transaction and commits it.
func (c *Client) attempt(ctx context.Context, fn func(ctx context.Context, tx *Txn) error, opts []TxnOption) error {
	tx, err := c.Begin(ctx, opts...)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// sleepJitter waits a random duration in [0, min(256ms, 1ms·2^attempt)).
func sleepJitter(ctx context.Context, attempt int) error {
	ceil := time.Millisecond << min(attempt, 8)
	return (backoff.SystemClock{}).Sleep(ctx, time.Duration(rand.Int64N(int64(ceil))+1))
}
