package driver

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// RunInTxMaxAttempts bounds how many times RunInTx runs its function.
const RunInTxMaxAttempts = 10

// RunInTx runs fn in a transaction begun with opts and commits it. When fn or the
// commit fails with a retryable error (kv.IsRetryable: write conflicts, deadlocks
// TiKV marks retryable), the transaction is rolled back and fn runs again in a new
// one, after a jittered backoff, up to RunInTxMaxAttempts times and within ctx. An
// undetermined commit (kv.ErrUndetermined) is never retried: the transaction may have
// committed. fn must not commit or roll back tx itself. The last error is returned.
func RunInTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) error) error {
	var err error
	for attempt := range RunInTxMaxAttempts {
		if attempt > 0 {
			if werr := sleep(ctx, attempt); werr != nil {
				return errors.Join(err, werr)
			}
		}
		var tx *sql.Tx
		tx, err = db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		if err = fn(ctx, tx); err != nil {
			_ = tx.Rollback()
			if kv.IsRetryable(err) && !kv.IsUndetermined(err) {
				continue
			}
			return err
		}
		err = tx.Commit()
		if err == nil || kv.IsUndetermined(err) || !kv.IsRetryable(err) {
			return err
		}
	}
	return err
}

// sleep waits a jittered exponential backoff (2 ms doubling, at most 500 ms) or until
// ctx ends.
func sleep(ctx context.Context, attempt int) error {
	d := min(2*time.Millisecond<<attempt, 500*time.Millisecond)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
