package txn

import (
	"errors"
	"fmt"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// Commit-timestamp constraints (TXN-27) and causal consistency (TXN-28).

const (
	// DefaultCommitWaitTimeout bounds how long a commit waits for PD's TSO to reach
	// WithCommitWaitUntilTSO's timestamp (client-go's default, 1 s).
	DefaultCommitWaitTimeout = time.Second
	// maxTxnTimeUse is how long a transaction may run before Commit refuses it (24 h,
	// client-go's MaxTxnTimeUse): older snapshots may already be garbage-collected.
	maxTxnTimeUse = 24 * time.Hour
)

var (
	// ErrCommitTSUpperBound: the commit timestamp failed the WithCommitTSUpperBound check;
	// nothing was committed.
	ErrCommitTSUpperBound = errors.New("txn: commit timestamp above the allowed upper bound")
	// ErrTxnTooOld: the transaction ran longer than 24 h; nothing was committed.
	ErrTxnTooOld = errors.New("txn: transaction ran longer than 24 h")
)

// WithCausalConsistency gives up linearizability for async commit and 1PC: their min
// commit ts is derived from the start (or for-update) ts instead of a fresh timestamp,
// saving a PD round trip. Transactions stay serializable, and causally related ones
// (one read what the other wrote) stay ordered, but a transaction that starts after
// this one committed, without touching its keys, may get a smaller commit ts.
func WithCausalConsistency() TxnOption { return func(o *txnOptions) { o.proto.causal = true } }

// WithCommitTSUpperBound makes Commit check the commit timestamp with check before
// committing the primary key; when check returns false the commit fails with
// ErrCommitTSUpperBound and nothing is committed. Async commit and 1PC, whose commit
// timestamp TiKV chooses, are not used.
func WithCommitTSUpperBound(check func(commitTS uint64) bool) TxnOption {
	return func(o *txnOptions) { o.proto.upperBound = check }
}

// WithCommitWaitUntilTSO makes the commit timestamp (and the min commit ts of async
// commit and 1PC) at least ts, waiting up to timeout (DefaultCommitWaitTimeout when
// not positive) for PD's TSO to reach it; beyond that Commit fails with an error
// wrapping kv.ErrCommitTSLag and nothing is committed.
func WithCommitWaitUntilTSO(ts uint64, timeout time.Duration) TxnOption {
	return func(o *txnOptions) {
		o.proto.waitUntilTSO = ts
		o.proto.waitTimeout = timeout
	}
}

// acceptCommitTS decides about a timestamp fetched for the commit: ok means use it; no
// error and not ok means fetch another (the TSO has not passed floor or the wait-until
// ts yet).
func (cm *committer) acceptCommitTS(ts, floor uint64, started time.Time) (bool, error) {
	if ts <= cm.startTS || ts <= floor {
		return false, nil
	}
	o := &cm.tx.opts.proto
	if ts < o.waitUntilTSO {
		wait := o.waitTimeout
		if wait <= 0 {
			wait = DefaultCommitWaitTimeout
		}
		if time.Since(started) > wait {
			return false, fmt.Errorf("txn: TSO %d still below %d after %v: %w", ts, o.waitUntilTSO, wait, kv.ErrCommitTSLag)
		}
		return false, nil
	}
	if o.upperBound != nil && !o.upperBound(ts) {
		return false, fmt.Errorf("%w (commit ts %d)", ErrCommitTSUpperBound, ts)
	}
	return true, nil
}

// checkTxnAge refuses to commit a transaction older than maxTxnTimeUse.
func (cm *committer) checkTxnAge() error {
	if time.Since(cm.tx.begun) > maxTxnTimeUse {
		return ErrTxnTooOld
	}
	return nil
}
