package pd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	pdclient "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/clients/tso"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/pkg/caller"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tikvsql/tikvsql/kv"
)

// Backend is the part of the official PD client (github.com/tikv/pd/client) this package
// uses. The real implementation is the pd.Client returned by pdclient.NewClientWithContext;
// tests substitute a fake. Implementations must be safe for concurrent use. Keys passed to
// and returned by the region methods are PD region keys (already encoded by the codec).
type Backend interface {
	// GetTS returns a fresh timestamp as (physical ms, logical).
	GetTS(ctx context.Context) (int64, int64, error)
	// GetTSAsync starts a timestamp request and returns its future.
	GetTSAsync(ctx context.Context) tso.TSFuture
	// GetMinTS returns the minimum timestamp across all TSO keyspace groups.
	GetMinTS(ctx context.Context) (int64, int64, error)
	// GetExternalTimestamp returns the external timestamp stored in PD.
	GetExternalTimestamp(ctx context.Context) (uint64, error)
	// SetExternalTimestamp stores an external timestamp in PD.
	SetExternalTimestamp(ctx context.Context, ts uint64) error

	// GetRegion returns the region containing key.
	GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error)
	// GetPrevRegion returns the region before the one containing key.
	GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error)
	// GetRegionByID returns the region with the given ID.
	GetRegionByID(ctx context.Context, id uint64, opts ...opt.GetRegionOption) (*router.Region, error)
	// ScanRegions returns up to limit regions overlapping [key, endKey).
	ScanRegions(ctx context.Context, key, endKey []byte, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error)
	// BatchScanRegions returns up to limit regions overlapping the sorted ranges.
	BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error)

	// GetStore returns one store.
	GetStore(ctx context.Context, id uint64, opts ...opt.GetStoreOption) (*metapb.Store, error)
	// GetAllStores returns every store.
	GetAllStores(ctx context.Context, opts ...opt.GetStoreOption) ([]*metapb.Store, error)

	// LoadKeyspace returns the metadata of the keyspace named name.
	LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error)

	// GetGCStatesClient returns the GC states API bound to a keyspace.
	GetGCStatesClient(keyspaceID uint32) gc.GCStatesClient
	// GetGCInternalController returns the GC controller bound to a keyspace.
	GetGCInternalController(keyspaceID uint32) gc.InternalController

	// SplitRegions asks PD to split regions at the given region keys.
	SplitRegions(ctx context.Context, keys [][]byte, opts ...opt.RegionsOption) (*pdpb.SplitRegionsResponse, error)
	// ScatterRegions asks PD to scatter the given regions.
	ScatterRegions(ctx context.Context, ids []uint64, opts ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error)
	// GetOperator returns the operator PD runs on a region.
	GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error)

	// Close stops the backend and waits for its goroutines.
	Close()
}

// the official client satisfies Backend.
var _ Backend = pdclient.Client(nil)

// dialBackend builds the official PD client for cfg. The PD client keeps its background
// loops under the context it is built with, so that context derives from root (cancelled by
// Client.Close); the caller's ctx cancels it only while construction is in progress.
func dialBackend(ctx, root context.Context, cfg Config) (Backend, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("pd: no endpoints configured")
	}
	opts := []opt.ClientOption{
		opt.WithCustomTimeoutOption(cfg.PDServerTimeout),
		opt.WithEnableRouterClient(cfg.EnableRouterClient),
		opt.WithInitMetricsOption(false),
	}
	if cfg.ConnectAttempts > 0 {
		opts = append(opts, opt.WithMaxErrorRetry(cfg.ConnectAttempts))
	}
	if cfg.EnableForwarding {
		opts = append(opts, opt.WithForwardingOption(true))
	}
	var dial []grpc.DialOption
	if cfg.TLS != nil || cfg.Dialer != nil {
		dial = append(dial, grpc.WithContextDialer(contextDialer(cfg.Dialer, cfg.TLS)))
	}
	if cfg.KeepAliveTime > 0 {
		dial = append(dial, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: cfg.KeepAliveTime, Timeout: cfg.KeepAliveTimeout, PermitWithoutStream: true}))
	}
	if len(dial) > 0 {
		opts = append(opts, opt.WithGRPCDialOptions(dial...))
	}
	life, cancel := context.WithCancel(root)
	stop := context.AfterFunc(ctx, cancel)
	c, err := pdclient.NewClientWithContext(life, caller.Component(cfg.Component), cfg.Endpoints,
		pdclient.SecurityOption{}, opts...)
	detached := stop()
	if err == nil && !detached {
		// ctx ended while the client was being built: its loops are already cancelled.
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pd: connect: %w", ctx.Err())
		}
		return nil, fmt.Errorf("pd: connect to %v: %w: %w", cfg.Endpoints, kv.ErrPDUnavailable, sanitize(err))
	}
	return &officialBackend{Client: c, cancel: cancel}, nil
}

// officialBackend is the official client plus the cancel of the context it lives under.
type officialBackend struct {
	pdclient.Client
	cancel context.CancelFunc
}

// Close closes the PD client and releases its context.
func (b *officialBackend) Close() {
	b.Client.Close()
	b.cancel()
}

// contextDialer dials with d (or net.Dialer) and, when tlsCfg is set, runs a TLS client
// handshake on the connection. The PD client is then given no transport credentials of its
// own: its URLs stay http://, which only selects the host to dial.
func contextDialer(d Dialer, tlsCfg *tls.Config) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var conn net.Conn
		var err error
		if d != nil {
			conn, err = d(ctx, addr)
		} else {
			var nd net.Dialer
			conn, err = nd.DialContext(ctx, "tcp", addr)
		}
		if err != nil || tlsCfg == nil {
			return conn, err
		}
		c := tlsCfg.Clone()
		if c.ServerName == "" {
			host, _, splitErr := net.SplitHostPort(addr)
			if splitErr != nil {
				host = addr
			}
			c.ServerName = host
		}
		if len(c.NextProtos) == 0 {
			// gRPC servers require ALPN "h2" on TLS connections.
			c.NextProtos = []string{"h2"}
		}
		tc := tls.Client(conn, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("pd: TLS handshake with %s: %w", addr, err)
		}
		return tc, nil
	}
}
