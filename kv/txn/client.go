package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Client is a transactional client of one TiKV cluster. It is safe for concurrent use;
// the transactions and snapshots it creates are not shared between clients.
type Client struct {
	cfg      Config
	cl       *cluster.Cluster
	owned    bool
	resolver *resolver
	log      *zap.Logger
	tracer   kv.TxnTracer
	bg       *background // async commits and pessimistic heartbeats (issue #8)
	latches  *latches    // nil unless Config.LocalLatches > 0

	mu     sync.Mutex
	closed bool
	err    error
}

// New opens a connection to the cluster described by cfg and returns a Client that owns
// it. ctx bounds the connection to PD only.
//
// Errors: those of cluster.Open (an invalid config, keyspace and API version errors, PD
// unavailable, ctx's error).
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg.Mode = cluster.Txn
	cl, err := cluster.Open(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	c, err := NewWithCluster(cl, cfg)
	if err != nil {
		_ = cl.Close(ctx)
		return nil, err
	}
	c.owned = true
	return c, nil
}

// NewWithCluster returns a Client over an open cluster.Txn Cluster shared with other
// users. The connection fields of cfg.Config are ignored; Close does not close cl.
//
// Errors: an error wrapping cluster.ErrInvalidConfig when cl addresses raw data.
func NewWithCluster(cl *cluster.Cluster, cfg Config) (*Client, error) {
	if cl == nil || cl.Mode() != cluster.Txn {
		return nil, fmt.Errorf("%w: kv/txn needs a cluster opened in mode txn", cluster.ErrInvalidConfig)
	}
	cfg.setDefaults()
	c := &Client{cfg: cfg, cl: cl, log: cfg.Logger, bg: newBackground(), latches: newLatches(cfg.LocalLatches)}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if t, ok := cfg.Tracer.(kv.TxnTracer); ok {
		c.tracer = t
	}
	c.resolver = newResolver(c)
	return c, nil
}

// Close closes the client, and the cluster connection when New opened it. The client
// owns two kinds of goroutines: the commit phase of async-commit transactions, which
// Close lets finish within ctx, and the lock heartbeats of pessimistic transactions
// left open, which Close stops; it joins both. Every other commit and heartbeat is
// joined before Commit returns. Idempotent; later calls return the first call's result.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.err
	}
	c.closed = true
	c.bg.close(ctx)
	if c.owned {
		c.err = c.cl.Close(ctx)
	}
	return c.err
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Cluster returns the cluster connection the client uses.
func (c *Client) Cluster() *cluster.Cluster { return c.cl }

// CurrentTS returns a fresh timestamp from PD.
//
// Errors: those of pd.Client.Timestamp.
func (c *Client) CurrentTS(ctx context.Context) (uint64, error) {
	if c.isClosed() {
		return 0, kv.ErrClosed
	}
	return c.cl.PD().Timestamp(ctx)
}

// Snapshot returns a read-only view of the data committed at or before ts; kv.MaxTS
// reads the latest committed data. Creating it costs nothing; reads validate ts.
func (c *Client) Snapshot(ts uint64, opts ...SnapshotOption) *Snapshot {
	var o txnOptions
	for _, f := range opts {
		f(&o)
	}
	s := newSnapshot(c, ts, o)
	s.stale = o.reads.stale // stale reads are for read-only snapshots (readopts.go)
	return s
}

// Begin starts a transaction at a fresh timestamp from PD (or WithStartTS's).
//
// Errors: kv.ErrClosed, those of pd.Client.Timestamp, kv.ErrTxnAbortedByGC for a start
// ts behind the GC safe point; for a WithStartTS ts PD cannot have handed out,
// kv.ErrInvalidReadTS (kv.MaxTS and the reserved range above MaxInt64) or
// kv.ErrFutureTSRead (a ts after PD's current one).
func (c *Client) Begin(ctx context.Context, opts ...TxnOption) (*Txn, error) {
	if c.isClosed() {
		return nil, kv.ErrClosed
	}
	var o txnOptions
	for _, f := range opts {
		f(&o)
	}
	if err := o.proto.check(); err != nil {
		return nil, err
	}
	if err := c.checkPipelined(&o); err != nil {
		return nil, err
	}
	ts := o.startTS
	if ts == 0 {
		var err error
		if ts, err = c.cl.PD().Timestamp(ctx); err != nil {
			return nil, fmt.Errorf("txn: begin: %w", err)
		}
	} else {
		// A start ts PD cannot have handed out would let the transaction prewrite and
		// then wait forever for a commit ts above it.
		if ts == kv.MaxTS {
			return nil, fmt.Errorf("txn: begin at %d: not a start timestamp: %w", ts, kv.ErrInvalidReadTS)
		}
		if err := c.cl.PD().ValidateReadTS(ctx, ts, false); err != nil {
			return nil, fmt.Errorf("txn: begin at %d: %w", ts, err)
		}
		if err := c.checkVisibility(ctx, ts); err != nil {
			return nil, fmt.Errorf("txn: begin at %d: %w", ts, err)
		}
	}
	return newTxn(ctx, c, ts, o), nil
}

// requestContext builds the kvrpcpb.Context of a request with the options of o.
func requestContext(o *txnOptions) *kvrpcpb.Context {
	rc := &kvrpcpb.Context{Priority: o.priority.pb(), NotFillCache: o.notFillCache,
		IsolationLevel: o.proto.isolation.pb()}
	o.proto.misc.apply(rc)
	if o.resourceGroup != "" {
		rc.ResourceControlContext = &kvrpcpb.ResourceControlContext{ResourceGroupName: o.resourceGroup}
	}
	return rc
}

// routeOptions builds the Sender options of o.
func routeOptions(o *txnOptions, budget time.Duration) *region.Options {
	return &region.Options{ReplicaRead: o.replicaRead, RequestSource: o.requestSource, Budget: budget}
}

// newBackoffer returns a retry loop's state with budget.
func (c *Client) newBackoffer(budget time.Duration) *backoff.Backoffer {
	return c.cl.Sender().NewBackoffer(&region.Options{Budget: budget})
}

// sendKey sends req to the region holding the user key key, locating it again after
// the region moved, within bo's budget and ctx.
func sendKey[Req region.Request, Resp region.Response](ctx context.Context, c *Client, bo *backoff.Backoffer,
	key []byte, req Req, opts *region.Options) (Resp, error) {
	for {
		loc, err := c.cl.Cache().Locate(ctx, key)
		if err != nil {
			var zero Resp
			return zero, err
		}
		resp, err := region.SendToRegion[Req, Resp](ctx, c.cl.Sender(), bo, loc, req, opts)
		if err == nil {
			return resp, nil
		}
		if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
			return resp, rerr
		}
	}
}

// sendLoc is sendKey for requests that must reach the region at loc as it was (a
// region-wide request); a moved region is located again by key.
func sendLoc[Req region.Request, Resp region.Response](ctx context.Context, c *Client, bo *backoff.Backoffer,
	key []byte, loc *region.Location, req Req, opts *region.Options) (Resp, *region.Location, error) {
	for {
		if loc == nil {
			var err error
			if loc, err = c.cl.Cache().Locate(ctx, key); err != nil {
				var zero Resp
				return zero, nil, err
			}
		}
		resp, err := region.SendToRegion[Req, Resp](ctx, c.cl.Sender(), bo, loc, req, opts)
		if err == nil {
			return resp, loc, nil
		}
		if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
			return resp, loc, rerr
		}
		loc = nil
	}
}

// encodeKeys turns user keys into wire keys.
func (c *Client) encodeKeys(keys [][]byte) [][]byte {
	cd := c.cl.Codec()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = cd.EncodeKey(k)
	}
	return out
}

// checkVisibility reports whether data at ts is still guaranteed to be intact (the GC
// safe point has not passed it, SB-16). When the safe point cache could not be loaded
// yet (PD unavailable, typically just after start) it waits for PD's refresher within
// the TSO budget and ctx, since the condition is transient.
func (c *Client) checkVisibility(ctx context.Context, ts uint64) error {
	var bo *backoff.Backoffer
	for {
		err := c.cl.PD().CheckVisibility(ts)
		if err == nil || !errors.Is(err, kv.ErrPDUnavailable) {
			return err
		}
		if bo == nil {
			bo = c.newBackoffer(backoff.BudgetTSO)
		}
		if berr := bo.Backoff(ctx, backoff.PDRPC, err); berr != nil {
			return berr
		}
	}
}
