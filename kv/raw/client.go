package raw

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
)

// Defaults of the Config fields left zero.
const (
	// DefaultMaxBatchKeys is the default per-RPC key cap of batch operations. It is
	// client-go's raw batch size; it also bounds BatchGet responses, whose size the client
	// cannot know in advance.
	DefaultMaxBatchKeys = 512
	// DefaultMaxBatchBytes is the default per-RPC cap on keys plus values of a BatchPut
	// (and on keys of BatchGet/BatchDelete): 1 MiB, far below TiKV's 8 MiB
	// raft-entry-max-size and the gRPC message limits.
	DefaultMaxBatchBytes = 1 << 20
	// DefaultConcurrency is how many region batches run at once by default.
	DefaultConcurrency = 16
	// DefaultScanBatchSize is the default number of pairs one RawScan RPC asks for.
	DefaultScanBatchSize = 256
	// DefaultMaxScan is the default Config.MaxScan, the most pairs one Scan or
	// ReverseScan returns (client-go's MaxRawKVScanLimit).
	DefaultMaxScan = 10240
)

// Config configures a Client. The embedded cluster.Config says how to reach the cluster
// (Endpoints is required); its Mode is forced to cluster.Raw. The zero value of every
// other field is a working default.
type Config struct {
	cluster.Config

	// ColumnFamily is the column family of every call that does not pass
	// WithColumnFamily: "" (TiKV's "default"), "default", "write" or "lock". API v2 has
	// only the default column family.
	ColumnFamily string
	// Atomic puts the client in atomic mode (RAW-13): every Put, BatchPut, Delete and
	// BatchDelete carries ForCas, so TiKV orders it with CompareAndSwap, which requires
	// this mode. Every client writing the keys a CAS touches must use the same mode,
	// or a CAS may overwrite a concurrent plain write. Fixed at New.
	Atomic bool
	// MaxBatchKeys caps the keys of one batch RPC (DefaultMaxBatchKeys).
	MaxBatchKeys int
	// MaxBatchBytes caps the bytes (keys plus values) of one batch RPC
	// (DefaultMaxBatchBytes). A single pair larger than the cap travels alone; TiKV
	// refuses pairs above its raft-entry-max-size with kv.ErrRaftEntryTooLarge.
	MaxBatchBytes int
	// Concurrency is how many region batches run in parallel (DefaultConcurrency).
	Concurrency int
	// ScanBatchSize is how many pairs one RawScan RPC of a scan or iterator asks for
	// (DefaultScanBatchSize).
	ScanBatchSize int
	// MaxScan caps Scan and ReverseScan: a scan without a limit that finds more pairs, or
	// a limit above MaxScan, fails with kv.ErrScanLimitExceeded (DefaultMaxScan). Use Iter
	// for longer ranges.
	MaxScan int
}

func (cfg *Config) fill() {
	cfg.Mode = cluster.Raw
	if cfg.MaxBatchKeys <= 0 {
		cfg.MaxBatchKeys = DefaultMaxBatchKeys
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ScanBatchSize <= 0 {
		cfg.ScanBatchSize = DefaultScanBatchSize
	}
	if cfg.MaxScan <= 0 {
		cfg.MaxScan = DefaultMaxScan
	}
}

// Client is a RawKV client. It is safe for concurrent use by many goroutines; it owns no
// goroutines of its own beyond those of its Cluster (and of open Iterators).
type Client struct {
	cfg     Config
	cl      *cluster.Cluster
	owns    bool
	codec   codec.Codec
	apiV2   bool
	ksID    codec.KeyspaceID
	closed  atomic.Bool
	closeMu sync.Mutex
	closeEr error
}

// New opens a Cluster in raw mode and returns a client over it. Construction checks, with
// ctx bounding the PD round trips: the configuration (column family, API version,
// keyspace); that the keyspace exists and is enabled and that PD serves the API version
// (through cluster.Open). TiKV's own API version is checked by TiKV on every request and
// reported as a *ServerError wrapping kv.ErrAPIVersionMismatch.
//
// Errors: an error wrapping cluster.ErrInvalidConfig; those of cluster.Open
// (kv.ErrKeyspaceNotFound, kv.ErrKeyspaceDisabled, kv.ErrAPIVersionMismatch,
// kv.ErrPDUnavailable, ctx's error).
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg.fill()
	if err := checkCFName(cfg.ColumnFamily, cfg.APIVersion == 2 || cfg.Keyspace != ""); err != nil {
		return nil, fmt.Errorf("raw: %w: %w", cluster.ErrInvalidConfig, err)
	}
	cl, err := cluster.Open(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	c, err := newClient(cl, cfg, true)
	if err != nil {
		_ = cl.Close(ctx)
		return nil, err
	}
	return c, nil
}

// NewWithCluster returns a client over an open Cluster, which must be in cluster.Raw mode.
// The client shares it: Close leaves it open. cfg.Config (the connection part) is
// ignored; the other fields apply.
//
// Errors: an error wrapping cluster.ErrInvalidConfig for a Cluster in the wrong mode or
// an invalid column family.
func NewWithCluster(c *cluster.Cluster, cfg Config) (*Client, error) {
	if c == nil || c.Mode() != cluster.Raw {
		return nil, fmt.Errorf("raw: %w: the cluster must be opened in cluster.Raw mode", cluster.ErrInvalidConfig)
	}
	cfg.fill()
	return newClient(c, cfg, false)
}

func newClient(cl *cluster.Cluster, cfg Config, owns bool) (*Client, error) {
	cd := cl.Codec()
	c := &Client{cfg: cfg, cl: cl, owns: owns, codec: cd, apiV2: cd.Version() == codec.V2}
	c.ksID, _ = cd.Keyspace()
	if err := c.checkCF(cfg.ColumnFamily); err != nil {
		return nil, fmt.Errorf("raw: %w: %w", cluster.ErrInvalidConfig, err)
	}
	return c, nil
}

// Cluster returns the client's Cluster connection.
func (c *Client) Cluster() *cluster.Cluster { return c.cl }

// Close releases the client: it closes the Cluster when New opened it (bounded by ctx),
// and leaves a Cluster given to NewWithCluster open. Calls after Close fail with
// kv.ErrClosed. Close is idempotent; later calls return the first one's result.
func (c *Client) Close(ctx context.Context) error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed.Swap(true) {
		return c.closeEr
	}
	if c.owns {
		c.closeEr = c.cl.Close(ctx)
	}
	return c.closeEr
}

// check fails once the client is closed.
func (c *Client) check(op string) error {
	if c.closed.Load() {
		return fmt.Errorf("raw: %s: %w", op, kv.ErrClosed)
	}
	return nil
}

// reqCtx returns the Context every request starts with: the API version and keyspace
// (TiKV rejects requests whose API version differs from its own).
func (c *Client) reqCtx() *kvrpcpb.Context {
	if !c.apiV2 {
		return &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion_V1}
	}
	return &kvrpcpb.Context{
		ApiVersion: kvrpcpb.APIVersion_V2,
		Keyspace:   &kvrpcpb.Context_KeyspaceId{KeyspaceId: uint32(c.ksID)},
	}
}

// checkCF validates a column family name for the client's API version.
func (c *Client) checkCF(cf string) error { return checkCFName(cf, c.apiV2) }

func checkCFName(cf string, v2 bool) error {
	switch cf {
	case "", "default":
		return nil
	case "write", "lock":
		if !v2 {
			return nil
		}
		return fmt.Errorf("%w: column family %q: API v2 has only the default column family", ErrInvalidArgument, cf)
	}
	return fmt.Errorf("%w: unknown column family %q (want default, write or lock)", ErrInvalidArgument, cf)
}

// checkKey rejects empty keys of point operations.
func checkKey(op string, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("raw: %s: %w", op, ErrEmptyKey)
	}
	return nil
}
