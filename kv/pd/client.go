package pd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
)

// Client is the PD access layer of tikvsql: timestamps, region and store metadata,
// keyspace metadata, GC safe points and barriers, split and scatter. It is safe for
// concurrent use. It owns two background goroutines (the low-resolution timestamp refresher
// and the txn safe point refresher) and the PD client's own; Close stops and joins them.
type Client struct {
	cfg   Config
	b     Backend
	codec codec.Codec
	ks    *Keyspace // nil under API v1

	root    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool

	oracle oracleState
	gc     gcCache

	batchScanUnsupported atomic.Bool
	breaker              *breaker // region metadata calls (breaker.go)
}

// New connects to PD with cfg and returns a ready Client: the keyspace (API v2) is loaded
// and validated, a first timestamp is fetched and the background refreshers run. ctx bounds
// construction only; on failure everything started is torn down.
//
// Errors: kv.ErrKeyspaceNotFound, kv.ErrKeyspaceDisabled, kv.ErrAPIVersionMismatch, an
// error wrapping kv.ErrPDUnavailable when no endpoint answers (or a *kv.BackoffError
// wrapping it when PD fails later in construction), or ctx's error.
func New(ctx context.Context, cfg Config) (*Client, error) {
	quietPDClientLog()
	cfg = cfg.withDefaults()
	if err := checkVersion(cfg); err != nil {
		return nil, err
	}
	root, cancel := context.WithCancel(context.Background())
	b, err := dialBackend(ctx, root, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	return start(ctx, cfg, b, root, cancel)
}

// NewWithBackend is New over an existing Backend (a fake in tests, or a PD client the
// caller built). The Client takes ownership of b and closes it in Close (and on failure).
func NewWithBackend(ctx context.Context, cfg Config, b Backend) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := checkVersion(cfg); err != nil {
		b.Close()
		return nil, err
	}
	root, cancel := context.WithCancel(context.Background())
	return start(ctx, cfg, b, root, cancel)
}

// checkVersion rejects a configuration whose API version and keyspace cannot go together.
func checkVersion(cfg Config) error {
	switch cfg.APIVersion {
	case codec.V1:
		if cfg.Keyspace != "" {
			return fmt.Errorf("pd: keyspace %q needs API v2, the client speaks %v: %w",
				cfg.Keyspace, cfg.APIVersion, kv.ErrAPIVersionMismatch)
		}
	case codec.V2:
	default:
		return fmt.Errorf("pd: API version %v is not supported: %w", cfg.APIVersion, kv.ErrAPIVersionMismatch)
	}
	return nil
}

// start finishes construction over a backend.
func start(ctx context.Context, cfg Config, b Backend, root context.Context, cancel context.CancelFunc) (*Client, error) {
	c := &Client{cfg: cfg, b: b, root: root, cancel: cancel,
		breaker: newBreaker(cfg.RegionMetaBreaker, cfg.Clock.Now)}
	c.oracle.init(cfg)
	if err := c.init(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.spawn(c.runLowResolution)
	c.spawn(c.runSafePointUpdater)
	return c, nil
}

// init loads the keyspace, builds the codec, fetches the first timestamp and loads the
// txn safe point.
func (c *Client) init(ctx context.Context) error {
	var err error
	if c.cfg.APIVersion == codec.V2 {
		if c.ks, err = c.LoadKeyspace(ctx, c.cfg.Keyspace); err != nil {
			return err
		}
		if c.codec, err = codec.NewV2(c.cfg.Mode, c.ks.ID); err != nil {
			return fmt.Errorf("pd: keyspace %q: %w", c.ks.Name, err)
		}
	} else if c.codec, err = codec.NewV1(c.cfg.Mode); err != nil {
		return fmt.Errorf("pd: %w", err)
	}
	if _, err := c.Timestamp(ctx); err != nil {
		return err
	}
	// A failed first load is not fatal: the refresher retries, and CheckVisibility
	// reports the cache as stale until a load succeeds.
	if err := c.loadSafePoint(ctx); err != nil && ctx.Err() != nil {
		return fmt.Errorf("pd: load txn safe point: %w", ctx.Err())
	}
	return nil
}

// Codec returns the key codec of the client's API version, mode and keyspace: the only
// codec that may encode keys for this client's requests. Safe for concurrent use.
func (c *Client) Codec() codec.Codec { return c.codec }

// Keyspace returns the loaded keyspace under API v2, or nil under API v1.
func (c *Client) Keyspace() *Keyspace { return c.ks }

// Backend returns the PD client the Client is built on, for the few PD operations this
// package does not wrap. The Client keeps ownership; do not Close it.
func (c *Client) Backend() Backend { return c.b }

// Close stops the background goroutines, closes the PD client and waits for all of them.
// It is idempotent and safe to call concurrently; calls in flight fail with kv.ErrClosed.
func (c *Client) Close() error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil
	}
	c.closed = true
	c.closeMu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.b.Close()
	return nil
}

// checkOpen returns kv.ErrClosed after Close.
func (c *Client) checkOpen(op string) error {
	if c.root.Err() != nil {
		return fmt.Errorf("pd: %s: %w", op, kv.ErrClosed)
	}
	return nil
}

// spawn runs f in a goroutine owned by the client (joined by Close). It returns false,
// without running f, once Close has begun.
func (c *Client) spawn(f func()) bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}
