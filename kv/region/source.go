package region

import (
	"context"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// RegionSource is what the caches need from PD. *pd.Client implements it; tests use a
// fake. Regions are in user-key space (see pd.Region). Implementations must be safe for
// concurrent use, retry transient PD trouble themselves and return ctx's error when ctx
// ends; a missing region is an error wrapping kv.ErrRegionUnavailable and a missing or
// tombstone store one wrapping pd.ErrStoreNotFound.
type RegionSource interface {
	GetRegion(ctx context.Context, key []byte, opts ...pd.RegionOption) (*pd.Region, error)
	GetPrevRegion(ctx context.Context, key []byte, opts ...pd.RegionOption) (*pd.Region, error)
	GetRegionByID(ctx context.Context, id uint64, opts ...pd.RegionOption) (*pd.Region, error)
	BatchScanRegions(ctx context.Context, ranges []kv.KeyRange, limit int, opts ...pd.RegionOption) ([]*pd.Region, error)
	GetStore(ctx context.Context, id uint64) (*metapb.Store, error)
}

var _ RegionSource = (*pd.Client)(nil)

// Request is a typed TiKV request: a kvproto request message with a Context field, such
// as *kvrpcpb.RawGetRequest. The Sender stamps the routing fields of its Context (region,
// epoch, peer, replica/stale read flags, IsRetryRequest, RequestSource, BusyThresholdMs)
// before every attempt; other Context fields set by the caller are kept.
type Request interface {
	GetContext() *kvrpcpb.Context
}

// Response is a typed TiKV response; every kvproto response implements it.
type Response interface {
	GetRegionError() *errorpb.Error
}

// Transport is the seam between the Sender and the RPC layer (kv/rpc): it sends one
// request message to the TiKV store at addr and returns the response message, whose
// dynamic type must be the response type of req's method (for *kvrpcpb.RawGetRequest a
// *kvrpcpb.RawGetResponse). It must be safe for concurrent use, honour ctx (return an
// error satisfying errors.Is(err, ctx.Err()) once ctx is done) and must not keep req after
// returning: the Sender mutates req.Context between attempts. A non-nil error means the
// request may or may not have reached the store (a send failure).
//
// With SenderConfig.EnableForwarding, ForwardedHost(ctx) may name another store's
// address: addr is then a proxy store that must relay the request to that host (kv/rpc's
// CallOptions.ForwardedHost, the tikv-forwarded-host header). A Transport that cannot
// forward must fail such calls rather than serve them at addr.
type Transport interface {
	Invoke(ctx context.Context, addr string, req Request) (Response, error)
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, addr string, req Request) (Response, error)

// Invoke calls f.
func (f TransportFunc) Invoke(ctx context.Context, addr string, req Request) (Response, error) {
	return f(ctx, addr, req)
}

// Prober is an optional interface of a Transport: Probe checks whether the store at addr
// is alive (a grpc.health.v1 check in kv/rpc) and returns nil when it is. The caches
// call it after a send failure and, for stores found unreachable, from their background
// loop until the store answers again. Without it a failed store is considered unreachable
// for Config.UnreachableRetry and then tried again.
type Prober interface {
	Probe(ctx context.Context, addr string) error
}

// AddrCloser is an optional interface of a Transport: CloseAddr drops the connections to
// addr. The Sender calls it when TiKV answers StoreNotMatch (the address now belongs to a
// different store).
type AddrCloser interface {
	CloseAddr(addr string)
}
