package txn

import (
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Defaults of ProtocolConfig (client-go's values, so that our locks and commit-ts
// windows look like client-go's to other clients).
const (
	// DefaultAsyncCommitKeysLimit is the most keys an async-commit transaction may write
	// (client-go's AsyncCommit.KeysLimit, 256): every secondary key is stored in the
	// primary lock.
	DefaultAsyncCommitKeysLimit = 256
	// DefaultAsyncCommitTotalKeySizeLimit bounds the summed key bytes of an async-commit
	// transaction (4 KiB).
	DefaultAsyncCommitTotalKeySizeLimit = 4096
	// DefaultAsyncCommitSafeWindow is added to a transaction's age to bound the commit ts
	// TiKV may choose for async commit and 1PC (client-go's SafeWindow, 2 s).
	DefaultAsyncCommitSafeWindow = 2 * time.Second
	// DefaultPessimisticLockTTL is the TTL a pessimistic lock gets on top of the
	// transaction's age (client-go's ManagedLockTTL, 20 s).
	DefaultPessimisticLockTTL = 20 * time.Second
	// maxLockRetries bounds how often one LockKeys call retries after a write conflict
	// with a fresh for-update ts. Every retry needs a commit by another transaction, so
	// the bound only protects against a pathological hot key.
	maxLockRetries = 1000
)

// ProtocolConfig holds the Config knobs of the commit protocols and pessimistic locking
// (embedded in Config). The zero value of every field is its default.
type ProtocolConfig struct {
	// DisableAsyncCommit stops transactions from trying async commit (TXN-10) unless
	// WithAsyncCommit(true) says otherwise. Async commit is on by default: a
	// transaction of at most AsyncCommitKeysLimit keys then commits after one round
	// of prewrites, its commit RPCs running in the background. A TiKV that does not
	// take it answers with a zero min commit ts and the transaction falls back to
	// two-phase commit. client-go's default is off; see docs/txn.md.
	DisableAsyncCommit bool
	// DisableOnePC stops transactions from trying one-phase commit (TXN-11) unless
	// WithOnePC(true) says otherwise. 1PC is on by default: a transaction whose
	// writes fit one prewrite request to one region is committed by that request
	// alone. A TiKV that declines answers with a zero commit ts and the transaction
	// falls back to the other protocols.
	DisableOnePC bool
	// AsyncCommitKeysLimit and AsyncCommitTotalKeySizeLimit bound the transactions that
	// may use async commit (DefaultAsyncCommitKeysLimit, DefaultAsyncCommitTotalKeySizeLimit);
	// larger ones use two-phase commit.
	AsyncCommitKeysLimit         int
	AsyncCommitTotalKeySizeLimit int
	// AsyncCommitSafeWindow bounds the commit ts of async commit and 1PC
	// (DefaultAsyncCommitSafeWindow).
	AsyncCommitSafeWindow time.Duration
	// PessimisticLockTTL is what a pessimistic lock's TTL adds to the transaction's age
	// (DefaultPessimisticLockTTL). The primary lock is kept alive by a heartbeat every
	// min(HeartbeatInterval, PessimisticLockTTL/2) while the transaction is open.
	PessimisticLockTTL time.Duration
	// LocalLatches is the number of slots of the in-process latch table that serialises
	// this Client's optimistic commits over the same keys and fails early those that
	// would conflict (TXN-31, see latch.go); 0 (the default) disables it. Keys share
	// slots by hash, so a small table gives false conflicts.
	LocalLatches int
}

func (p *ProtocolConfig) setDefaults() {
	setInt(&p.AsyncCommitKeysLimit, DefaultAsyncCommitKeysLimit)
	setInt(&p.AsyncCommitTotalKeySizeLimit, DefaultAsyncCommitTotalKeySizeLimit)
	setDur(&p.AsyncCommitSafeWindow, DefaultAsyncCommitSafeWindow)
	setDur(&p.PessimisticLockTTL, DefaultPessimisticLockTTL)
}

// IsolationLevel is the isolation of a transaction's reads (TXN-18).
type IsolationLevel uint8

const (
	// SnapshotIsolation (the default): every read sees the snapshot at the start ts.
	SnapshotIsolation IsolationLevel = iota
	// ReadCommitted: every read sees the data committed when the read starts (a fresh
	// timestamp per read), ignoring other transactions' locks. Pessimistic
	// transactions only: writes stay safe because they are protected by locks.
	ReadCommitted
	// ReadCommittedCheckTS: like ReadCommitted, but reads use the newest timestamp the
	// transaction already holds (its start or latest for-update ts) instead of asking PD,
	// and TiKV refuses the read when it would miss a newer version; the read is then
	// repeated at a fresh timestamp. Saves a TSO round trip per read when conflicts are
	// rare. Pessimistic transactions only.
	ReadCommittedCheckTS
)

func (l IsolationLevel) pb() kvrpcpb.IsolationLevel {
	switch l {
	case ReadCommitted:
		return kvrpcpb.IsolationLevel_RC
	case ReadCommittedCheckTS:
		return kvrpcpb.IsolationLevel_RCCheckTS
	}
	return kvrpcpb.IsolationLevel_SI
}

// String names the level.
func (l IsolationLevel) String() string {
	switch l {
	case ReadCommitted:
		return "read-committed"
	case ReadCommittedCheckTS:
		return "read-committed-check-ts"
	}
	return "snapshot"
}

// ErrIsolationNeedsPessimistic is Begin's error for a read-committed level in an
// optimistic transaction: without locks, its writes could be based on reads that a
// concurrent commit already made stale, and no check at commit would notice.
var ErrIsolationNeedsPessimistic = errors.New("txn: read-committed isolation needs a pessimistic transaction")

// protoOptions are the issue #8 choices of one transaction.
type protoOptions struct {
	pessimistic bool
	isolation   IsolationLevel
	asyncCommit *bool
	onePC       *bool
	lockWait    LockWait
	assertion   AssertionLevel
	// committs.go
	causal       bool
	upperBound   func(uint64) bool
	waitUntilTSO uint64
	waitTimeout  time.Duration
	misc         miscOptions // options.go
	fairLocking  bool
}

// WithPessimistic makes the transaction pessimistic (TXN-5): LockKeys takes locks in
// TiKV at once, waiting for other transactions' locks as the wait policy says, so that
// Commit cannot fail with a write conflict on a locked key.
func WithPessimistic() TxnOption { return func(o *txnOptions) { o.proto.pessimistic = true } }

// WithIsolation sets the isolation level of the transaction's reads (default
// SnapshotIsolation). ReadCommitted and ReadCommittedCheckTS need WithPessimistic; Begin
// fails with ErrIsolationNeedsPessimistic otherwise.
func WithIsolation(l IsolationLevel) TxnOption { return func(o *txnOptions) { o.proto.isolation = l } }

// WithAsyncCommit turns async commit on or off for the transaction, overriding
// Config.DisableAsyncCommit. Transactions that are too large fall back to two-phase
// commit whatever this says.
func WithAsyncCommit(on bool) TxnOption { return func(o *txnOptions) { o.proto.asyncCommit = &on } }

// WithOnePC turns one-phase commit on or off for the transaction, overriding
// Config.DisableOnePC. Only transactions whose writes fit one prewrite request of one
// region can use it; the others fall back.
func WithOnePC(on bool) TxnOption { return func(o *txnOptions) { o.proto.onePC = &on } }

// WithLockWait sets the default wait policy of LockKeys in a pessimistic transaction
// (default LockWait{Kind: LockWaitDefault}).
func WithLockWait(w LockWait) TxnOption { return func(o *txnOptions) { o.proto.lockWait = w } }

// WithFairLocking makes single-key lock requests of a pessimistic transaction use
// TiKV's force-lock wake-up mode (client-go's aggressive locking, TXN-8): when the
// holder of a lock we wait for commits, TiKV hands the lock to us at once, at the
// holder's commit ts ("locked with conflict"), instead of answering with a write
// conflict that needs a new request; waiters are served in order. The transaction's
// for-update ts moves up to that commit ts. Multi-key requests are unchanged.
func WithFairLocking() TxnOption { return func(o *txnOptions) { o.proto.fairLocking = true } }

// check validates a transaction's options at Begin.
func (o *protoOptions) check() error {
	if o.isolation != SnapshotIsolation && !o.pessimistic {
		return ErrIsolationNeedsPessimistic
	}
	if o.isolation > ReadCommittedCheckTS {
		return errors.New("txn: unknown isolation level")
	}
	return o.lockWait.validate()
}

// asyncCommitOn and onePCOn resolve the per-transaction choice against the Config.
func (c *Client) asyncCommitOn(o *protoOptions) bool {
	if o.asyncCommit != nil {
		return *o.asyncCommit
	}
	return !c.cfg.DisableAsyncCommit
}

func (c *Client) onePCOn(o *protoOptions) bool {
	if o.onePC != nil {
		return *o.onePC
	}
	return !c.cfg.DisableOnePC
}
