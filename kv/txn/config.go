package txn

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Defaults of Config. The protocol constants are client-go's, so that locks written by
// this client look to other clients (and to TiKV's lock-resolution heuristics) like
// locks written by client-go.
const (
	// DefaultScanBatchSize is how many pairs one KvScan request asks for (client-go 256).
	DefaultScanBatchSize = 256
	// DefaultBatchGetSize is the most keys one KvBatchGet request carries (client-go 5120).
	DefaultBatchGetSize = 5120
	// DefaultCommitBatchSize is the size in bytes after which a prewrite or commit batch
	// of one region is cut (client-go's txnCommitBatchSize, 16 KiB). Prewrite counts keys
	// plus values, commit and rollback count keys.
	DefaultCommitBatchSize = 16 << 10
	// DefaultCommitConcurrency bounds the region batches in flight during prewrite,
	// commit of secondaries and rollback (client-go's CommitterConcurrency, 128).
	DefaultCommitConcurrency = 128
	// DefaultLockTTL is the TTL of a small transaction's locks (3 s).
	DefaultLockTTL = 3 * time.Second
	// DefaultMaxLockTTL caps the TTL computed from a transaction's size (client-go's
	// ManagedLockTTL, 20 s); the heartbeat advises elapsed time plus this value.
	DefaultMaxLockTTL = 20 * time.Second
	// DefaultHeartbeatInterval is the period of the TTL heartbeat (ManagedLockTTL/2).
	DefaultHeartbeatInterval = 10 * time.Second
	// DefaultHeartbeatSize is the write-buffer size above which a commit keeps its
	// primary lock alive with heartbeats (client-go's TTLRefreshedTxnSize, 32 MiB).
	DefaultHeartbeatSize = 32 << 20
	// DefaultMaxTxnTTL is how long the heartbeat may keep a transaction alive (1 h).
	DefaultMaxTxnTTL = time.Hour
	// DefaultResolveLockLiteThreshold: locks of transactions that wrote fewer keys than
	// this in the lock's region are resolved key by key rather than region-wide (512).
	DefaultResolveLockLiteThreshold = 512
	// DefaultStatusCacheSize bounds the cache of decided transaction statuses (2048).
	DefaultStatusCacheSize = 2048
	// DefaultReadCacheSize bounds the per-snapshot cache of point reads (4096 keys).
	DefaultReadCacheSize = 4096
	// DefaultMaxAttempts is how many times Transact runs a function at most (10).
	DefaultMaxAttempts = 10
	// DefaultCleanupTimeout bounds the rollback of a failed commit's prewrites when the
	// caller's ctx has already ended (5 s).
	DefaultCleanupTimeout = 5 * time.Second
)

// Config configures a Client. The embedded cluster.Config says how to reach the cluster;
// its Mode is forced to cluster.Txn. The zero value of every other field is the default
// named on it.
type Config struct {
	cluster.Config

	// ScanBatchSize is the default number of pairs per KvScan (DefaultScanBatchSize).
	ScanBatchSize int
	// BatchGetSize is the most keys per KvBatchGet request (DefaultBatchGetSize).
	BatchGetSize int
	// CommitBatchSize is the byte size at which commit batches are cut
	// (DefaultCommitBatchSize).
	CommitBatchSize int
	// CommitConcurrency bounds parallel region batches (DefaultCommitConcurrency).
	CommitConcurrency int
	// Limits bound a transaction's write buffer (memdb defaults: 8 KiB keys, 6 MiB entries,
	// 1 GiB in total).
	Limits memdb.Limits
	// MaxTxnEntries bounds the number of keys one transaction may buffer; 0 means no
	// limit. Beyond it writes fail with a *kv.SizeLimitError wrapping kv.ErrTxnTooLarge.
	MaxTxnEntries int
	// LockTTL is the TTL of a small transaction's locks (DefaultLockTTL); MaxLockTTL caps
	// the TTL grown with the transaction's size (DefaultMaxLockTTL).
	LockTTL    time.Duration
	MaxLockTTL time.Duration
	// HeartbeatSize is the buffer size above which commits send TTL heartbeats
	// (DefaultHeartbeatSize); HeartbeatInterval is their period (DefaultHeartbeatInterval);
	// MaxTxnTTL is how long they may extend a transaction (DefaultMaxTxnTTL).
	HeartbeatSize     int
	HeartbeatInterval time.Duration
	MaxTxnTTL         time.Duration
	// ResolveLockLiteThreshold chooses key-by-key lock resolution for transactions that
	// wrote fewer keys in the lock's region (DefaultResolveLockLiteThreshold).
	ResolveLockLiteThreshold uint64
	// StatusCacheSize bounds the lock resolver's cache of decided transactions
	// (DefaultStatusCacheSize).
	StatusCacheSize int
	// ReadCacheSize bounds each snapshot's point-read cache (DefaultReadCacheSize); a
	// negative value disables the cache.
	ReadCacheSize int
	// MaxAttempts is Transact's default attempt limit (DefaultMaxAttempts).
	MaxAttempts int
	// CleanupTimeout bounds the rollback of a failed commit once the caller's ctx ended
	// (DefaultCleanupTimeout).
	CleanupTimeout time.Duration

	// Commit protocols, pessimistic locking and assertions (issue #8): see protocol.go.
	ProtocolConfig
	// Pre-split of regions a commit writes many keys into (TXN-35): see presplit.go.
	PreSplitConfig
}

func (cfg *Config) setDefaults() {
	cfg.Mode = cluster.Txn
	setInt(&cfg.ScanBatchSize, DefaultScanBatchSize)
	setInt(&cfg.BatchGetSize, DefaultBatchGetSize)
	setInt(&cfg.CommitBatchSize, DefaultCommitBatchSize)
	setInt(&cfg.CommitConcurrency, DefaultCommitConcurrency)
	setInt(&cfg.HeartbeatSize, DefaultHeartbeatSize)
	setInt(&cfg.StatusCacheSize, DefaultStatusCacheSize)
	setInt(&cfg.ReadCacheSize, DefaultReadCacheSize)
	setInt(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDur(&cfg.LockTTL, DefaultLockTTL)
	setDur(&cfg.MaxLockTTL, DefaultMaxLockTTL)
	setDur(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	setDur(&cfg.MaxTxnTTL, DefaultMaxTxnTTL)
	setDur(&cfg.CleanupTimeout, DefaultCleanupTimeout)
	cfg.ProtocolConfig.setDefaults()
	cfg.PreSplitConfig.setDefaults()
	if cfg.ResolveLockLiteThreshold == 0 {
		cfg.ResolveLockLiteThreshold = DefaultResolveLockLiteThreshold
	}
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

func setDur(p *time.Duration, d time.Duration) {
	if *p <= 0 {
		*p = d
	}
}

// Priority is the scheduling priority TiKV gives a transaction's requests.
type Priority uint8

// Priorities.
const (
	PriorityNormal Priority = iota
	PriorityLow
	PriorityHigh
)

func (p Priority) pb() kvrpcpb.CommandPri {
	switch p {
	case PriorityLow:
		return kvrpcpb.CommandPri_Low
	case PriorityHigh:
		return kvrpcpb.CommandPri_High
	}
	return kvrpcpb.CommandPri_Normal
}

// txnOptions are the choices of one transaction or snapshot.
type txnOptions struct {
	startTS       uint64
	priority      Priority
	requestSource string
	resourceGroup string
	maxAttempts   int
	lockTTL       time.Duration
	replicaRead   region.ReplicaRead
	notFillCache  bool
	proto         protoOptions       // issue #8 options, see protocol.go
	pipelined     *PipelinedOptions  // WithPipelined, see pipelined.go
	hooks         hooks              // hooks.go
	prewriteLocks PrewriteLockPolicy // lockpolicy.go
	kvFilter      KVFilter           // kvfilter.go
	reads         readOptions        // readopts.go
}

// TxnOption configures a transaction (Begin, Transact).
type TxnOption func(*txnOptions)

// SnapshotOption configures a snapshot. It is the same type as TxnOption: options that
// only concern writes (WithStartTS, WithMaxAttempts, WithLockTTL) are ignored by Snapshot.
type SnapshotOption = TxnOption

// WithStartTS begins the transaction at ts instead of a fresh timestamp from PD; Begin
// refuses a ts PD cannot have handed out. Transact uses it for the first attempt only (a
// retry needs a newer snapshot).
func WithStartTS(ts uint64) TxnOption { return func(o *txnOptions) { o.startTS = ts } }

// WithPriority sets the priority of every request.
func WithPriority(p Priority) TxnOption { return func(o *txnOptions) { o.priority = p } }

// WithRequestSource labels every request with source (TiKV's request_source).
func WithRequestSource(source string) TxnOption {
	return func(o *txnOptions) { o.requestSource = source }
}

// WithResourceGroup names the resource group TiKV charges the requests to.
func WithResourceGroup(name string) TxnOption {
	return func(o *txnOptions) { o.resourceGroup = name }
}

// WithMaxAttempts bounds how many times Transact runs its function (default
// Config.MaxAttempts). Values below 1 mean 1.
func WithMaxAttempts(n int) TxnOption { return func(o *txnOptions) { o.maxAttempts = max(n, 1) } }

// WithLockTTL sets the base TTL of the transaction's locks instead of Config.LockTTL
// (the TTL still grows with the transaction's size and age, see doc.go).
func WithLockTTL(d time.Duration) TxnOption { return func(o *txnOptions) { o.lockTTL = d } }

// WithReplicaRead serves reads from the chosen replicas (followers use TiKV's read
// index, so reads stay consistent).
func WithReplicaRead(m region.ReplicaRead) TxnOption {
	return func(o *txnOptions) { o.replicaRead = m }
}

// WithNotFillCache asks TiKV not to fill its block cache with the data read (for large
// scans that would evict hot data).
func WithNotFillCache() TxnOption { return func(o *txnOptions) { o.notFillCache = true } }

// iterOptions are the choices of one iterator.
type iterOptions struct {
	reverse   bool
	keyOnly   bool
	batchSize int
}

// IterOption configures an iterator or a scan.
type IterOption func(*iterOptions)

// Reverse iterates from the end of the range towards its start.
func Reverse() IterOption { return func(o *iterOptions) { o.reverse = true } }

// KeyOnly returns keys without values (Value is nil).
func KeyOnly() IterOption { return func(o *iterOptions) { o.keyOnly = true } }

// BatchSize sets how many pairs one KvScan request fetches (default
// Config.ScanBatchSize); values below 2 mean the default.
func BatchSize(n int) IterOption { return func(o *iterOptions) { o.batchSize = n } }
