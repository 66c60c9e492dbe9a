package backoff

import (
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// Jitter is how a kind randomises its exponential delay.
type Jitter uint8

// Jitter policies (see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
const (
	// NoJitter sleeps exactly min(cap, base·2^n).
	NoJitter Jitter = iota + 1
	// FullJitter sleeps a random duration in [0, min(cap, base·2^n)).
	FullJitter
	// EqualJitter sleeps half of min(cap, base·2^n) plus a random part of the other half.
	EqualJitter
	// DecorrJitter sleeps min(cap, base + random in [0, 3·last − base)).
	DecorrJitter
)

// Kind is one kind of trouble worth waiting for. Kinds are immutable; compare them by
// pointer.
type Kind struct {
	name     string
	base     time.Duration
	cap      time.Duration
	jitter   Jitter
	err      error
	excluded bool
}

// Name is the kind's name as client-go spells it (used in errors, traces and metrics).
func (k *Kind) Name() string { return k.name }

// Base is the first delay before jitter.
func (k *Kind) Base() time.Duration { return k.base }

// Cap is the largest delay.
func (k *Kind) Cap() time.Duration { return k.cap }

// Jitter is the kind's randomisation policy.
func (k *Kind) Jitter() Jitter { return k.jitter }

// Err is the kv sentinel returned (inside a *kv.BackoffError) when this kind dominates an
// exhausted budget.
func (k *Kind) Err() error { return k.err }

// ExcludedFromBudget reports whether sleeps of this kind do not count against the budget.
func (k *Kind) ExcludedFromBudget() bool { return k.excluded }

// String returns Name.
func (k *Kind) String() string { return k.name }

func newKind(name string, baseMs, capMs int, j Jitter, err error) *Kind {
	return &Kind{name: name, base: time.Duration(baseMs) * time.Millisecond,
		cap: time.Duration(capMs) * time.Millisecond, jitter: j, err: err}
}

// The kinds of inventory §1.D. Base and cap are client-go's; so are the names.
var (
	// TiKVRPC: a request to a store failed in transport (BO-1).
	TiKVRPC = newKind("tikvRPC", 100, 2000, EqualJitter, kv.ErrStoreUnavailable)
	// TxnLock: waiting for a lock's TTL before resolving it on the write path (BO-3).
	TxnLock = newKind("txnLock", 100, 3000, EqualJitter, kv.ErrResolveLockTimeout)
	// TxnLockFast: waiting for a lock met by a read (BO-4); callers cap each sleep by the
	// lock's remaining TTL with BackoffAtMost.
	TxnLockFast = newKind("txnLockFast", 10, 3000, EqualJitter, kv.ErrResolveLockTimeout)
	// PDRPC: PD or TSO failed (BO-5).
	PDRPC = newKind("pdRPC", 500, 3000, EqualJitter, kv.ErrPDUnavailable)
	// RegionMiss: the region moved or the cache was stale (BO-6).
	RegionMiss = newKind("regionMiss", 2, 500, NoJitter, kv.ErrRegionUnavailable)
	// RegionScheduling: no leader, read index not ready, proposal in merging mode (BO-7).
	RegionScheduling = newKind("regionScheduling", 2, 500, NoJitter, kv.ErrRegionUnavailable)
	// ServerBusy: TiKV answered ServerIsBusy (BO-8). Excluded from the budget.
	ServerBusy = &Kind{name: "tikvServerBusy", base: 2 * time.Second, cap: 10 * time.Second,
		jitter: EqualJitter, err: kv.ErrServerBusy, excluded: true}
	// DiskFull: the region's stores are out of disk (BO-10).
	DiskFull = newKind("tikvDiskFull", 500, 5000, NoJitter, kv.ErrDiskFull)
	// RegionRecoveryInProgress: online unsafe recovery is running (BO-11).
	RegionRecoveryInProgress = newKind("regionRecoveryInProgress", 100, 10000, EqualJitter, kv.ErrRegionRecoveryInProgress)
	// TxnNotFound: CheckTxnStatus found no transaction yet (BO-12).
	TxnNotFound = newKind("txnNotFound", 2, 500, NoJitter, kv.ErrResolveLockTimeout)
	// StaleCommand: TiKV dropped the request as stale (BO-13).
	StaleCommand = newKind("staleCommand", 2, 1000, NoJitter, kv.ErrStaleCommand)
	// MaxTSNotSynced: the new leader has not synced max-ts (BO-14).
	MaxTSNotSynced = newKind("maxTsNotSynced", 2, 500, NoJitter, kv.ErrMaxTimestampNotSynced)
	// RegionNotInitialized: the peer is not initialized (BO-15).
	RegionNotInitialized = newKind("regionNotInitialized", 2, 1000, NoJitter, kv.ErrRegionNotInitialized)
	// IsWitness: the request reached a witness peer (BO-16).
	IsWitness = newKind("isWitness", 1000, 10000, EqualJitter, kv.ErrIsWitness)
	// CommitTSLag: waiting for the TSO to pass a commit-wait timestamp (BO-17).
	CommitTSLag = newKind("commitTSLag", 2, 500, NoJitter, kv.ErrCommitTSLag)
)

// Kinds lists every kind, in the order of the table.
func Kinds() []*Kind {
	return []*Kind{TiKVRPC, TxnLock, TxnLockFast, PDRPC, RegionMiss, RegionScheduling, ServerBusy,
		DiskFull, RegionRecoveryInProgress, TxnNotFound, StaleCommand, MaxTSNotSynced,
		RegionNotInitialized, IsWitness, CommitTSLag}
}

// maxExcluded is how long excluded sleeps may run before they count after all.
const maxExcluded = 10 * time.Minute

// Operation budgets (BO-23): how long one operation may spend sleeping between retries.
// They are client-go's values; client-go doubles most transactional ones with its default
// backoff weight, which callers express with Weighted.
const (
	BudgetTSO                 = 15 * time.Second
	BudgetPrewrite            = 40 * time.Second
	BudgetCommitPrimary       = 40 * time.Second
	BudgetCommitSecondary     = 41 * time.Second
	BudgetCleanup             = 20 * time.Second
	BudgetPessimisticLock     = 20 * time.Second
	BudgetPessimisticRollback = 20 * time.Second
	BudgetHeartbeat           = 20 * time.Second
	BudgetBroadcast           = 10 * time.Second
	BudgetSnapshotRead        = 20 * time.Second
	BudgetCheckTxnStatus      = 20 * time.Second
	BudgetAsyncResolve        = 40 * time.Second
	BudgetGCResolve           = 100 * time.Second
	BudgetDeleteRange         = 100 * time.Second
	BudgetLocate              = 20 * time.Second
	BudgetRaw                 = 20 * time.Second
	BudgetSplit               = 20 * time.Second
	BudgetSplitMax            = 120 * time.Second
	BudgetWaitScatter         = 120 * time.Second
	BudgetPipelinedFlush      = 20 * time.Second
)

// DefaultWeight is client-go's default backoff weight for transactional operations.
const DefaultWeight = 2

// Weighted returns budget multiplied by DefaultWeight.
func Weighted(budget time.Duration) time.Duration { return budget * DefaultWeight }
