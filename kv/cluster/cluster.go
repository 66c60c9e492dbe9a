package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// Mode is the key space a Cluster addresses: RawKV or transactional data. Under API v2
// the two live under different key prefixes; under API v1 they are separate column
// families of one store.
type Mode uint8

const (
	// Txn addresses transactional (MVCC) data. It is the zero value.
	Txn Mode = iota
	// Raw addresses RawKV data.
	Raw
)

// String returns "txn" or "raw".
func (m Mode) String() string {
	if m == Raw {
		return "raw"
	}
	return "txn"
}

// Config says how to reach a cluster. Endpoints is required; the zero value of every
// other field is a working default. The top-level fields are the ones most programs set;
// PD, RPC, Region and Sender expose every knob of the layers and are used as given,
// except that the top-level fields, when set, override their counterparts there.
type Config struct {
	// Endpoints are the PD addresses ("host:port"); unreachable ones are skipped.
	Endpoints []string
	// Mode is the key space the client addresses (Txn by default).
	Mode Mode
	// APIVersion is TiKV's API version: 1 (the default when 0) or 2. A non-empty
	// Keyspace implies 2.
	APIVersion int
	// Keyspace is the API v2 keyspace name; empty means none under API v1 and the
	// "DEFAULT" keyspace under API v2.
	Keyspace string
	// TLS secures the PD and the TiKV connections when not nil.
	TLS *tls.Config
	// Dialer opens every PD and TiKV connection when not nil (proxies, custom DNS).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// Logger receives events that cannot be returned to a caller. Default: no-op.
	Logger *zap.Logger
	// Tracer observes RPCs, backoffs and region events (see kv.Tracer).
	Tracer kv.Tracer
	// EnableForwarding lets a leader request whose leader store the client cannot reach
	// go through a follower's store, which relays it to the leader (RPC-7; client-go's
	// EnableForwarding). It turns on RPC.EnableForwarding and Sender.EnableForwarding
	// (setting Sender.EnableForwarding alone does the same). Off by default.
	EnableForwarding bool

	// PD, RPC, Region and Sender are the full configurations of the layers.
	PD     pd.Config
	RPC    rpc.Config
	Region region.Config
	Sender region.SenderConfig

	// SafeTS tunes the min-safe-ts updater behind MinSafeTS (safets.go).
	SafeTS SafeTSConfig
}

// DefaultRawAttemptTimeout bounds one attempt of a raw request (Sender.AttemptTimeout)
// unless Config.Sender sets another value (negative: none). Transactional writes have
// no default bound: pessimistic lock requests wait on the server by design.
const DefaultRawAttemptTimeout = 30 * time.Second

// Default bounds of one attempt of a transactional read, which never waits on the
// server (client-go's ReadTimeoutShort for point reads, ReadTimeoutMedium for batch
// reads and scans), unless Config.Sender sets ReadAttemptTimeout or
// BatchReadAttemptTimeout (negative: none). An attempt that outlives it is a send
// failure of that replica: the read moves on to another one.
const (
	DefaultReadAttemptTimeout      = 30 * time.Second // KvGet
	DefaultBatchReadAttemptTimeout = 60 * time.Second // KvBatchGet, KvScan
)

// Errors of Open for an invalid Config. They wrap ErrInvalidConfig.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// pdConfig merges the top-level fields into a copy of c.PD.
func (c *Config) pdConfig() (pd.Config, error) {
	p := c.PD
	if len(c.Endpoints) > 0 {
		p.Endpoints = append([]string(nil), c.Endpoints...)
	}
	if len(p.Endpoints) == 0 {
		return p, fmt.Errorf("%w: no PD endpoint", ErrInvalidConfig)
	}
	switch c.APIVersion {
	case 0:
		if c.Keyspace != "" {
			p.APIVersion = codec.V2
		}
	case 1:
		if c.Keyspace != "" {
			return p, fmt.Errorf("%w: keyspace %q needs API version 2", ErrInvalidConfig, c.Keyspace)
		}
		p.APIVersion = codec.V1
	case 2:
		p.APIVersion = codec.V2
	default:
		return p, fmt.Errorf("%w: API version %d (want 1 or 2)", ErrInvalidConfig, c.APIVersion)
	}
	if c.Keyspace != "" {
		p.Keyspace = c.Keyspace
	}
	switch c.Mode {
	case Txn:
		p.Mode = codec.ModeTxn
	case Raw:
		p.Mode = codec.ModeRaw
	default:
		return p, fmt.Errorf("%w: mode %d", ErrInvalidConfig, c.Mode)
	}
	if c.TLS != nil {
		p.TLS = c.TLS
	}
	if c.Dialer != nil {
		p.Dialer = pd.Dialer(c.Dialer)
	}
	if c.Logger != nil {
		p.Logger = c.Logger
	}
	return p, nil
}

// Cluster is an open connection to one TiKV cluster. It is safe for concurrent use.
type Cluster struct {
	pd     *pd.Client
	rpc    *rpc.Client
	cache  *region.Cache
	sender *region.Sender
	mux    *region.Mux
	mode   Mode
	safeTS *safeTSUpdater

	closeOnce sync.Once
	closeErr  error
}

// Open connects to the cluster described by cfg. ctx bounds the connection to PD;
// the returned Cluster is not bound by it.
//
// Errors: an error wrapping ErrInvalidConfig; and those of pd.New
// (kv.ErrKeyspaceNotFound, kv.ErrKeyspaceDisabled, kv.ErrAPIVersionMismatch,
// kv.ErrPDUnavailable, ctx's error).
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	pcfg, err := cfg.pdConfig()
	if err != nil {
		return nil, err
	}
	rcfg := cfg.RPC
	if cfg.TLS != nil {
		rcfg.TLS = cfg.TLS
	}
	if cfg.Dialer != nil {
		rcfg.Dialer = cfg.Dialer
	}
	if cfg.Tracer != nil {
		rcfg.Tracer = cfg.Tracer
	}
	forwarding := cfg.EnableForwarding || cfg.Sender.EnableForwarding
	if forwarding {
		rcfg.EnableForwarding = true // the Sender's forwarded attempts need it
	}
	// TiKV's health feedback arrives on batch streams before the cache exists.
	var cacheRef atomic.Pointer[region.Cache]
	userFeedback := rcfg.OnHealthFeedback
	rcfg.OnHealthFeedback = func(addr string, fb *kvrpcpb.HealthFeedback) {
		if c := cacheRef.Load(); c != nil {
			c.ReportHealth(fb.GetStoreId(), int(fb.GetSlowScore()))
		}
		if userFeedback != nil {
			userFeedback(addr, fb)
		}
	}
	pdc, err := pd.New(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	if pcfg.APIVersion == codec.V2 {
		// Every request of an API v2 cluster says so, with its keyspace: TiKV accepts
		// API v1 transactional requests only for TiDB's own keys, and scopes resource
		// control and GC by the keyspace ID (client-go's codec does the same).
		rcfg.Context.APIVersion = kvrpcpb.APIVersion_V2
		if ks := pdc.Keyspace(); ks != nil {
			rcfg.Context.KeyspaceID = uint32(ks.ID)
		}
	}
	rc, err := rpc.New(rcfg)
	if err != nil {
		_ = pdc.Close()
		return nil, err
	}
	m := &region.Mux{
		ProbeFunc: rc.CheckHealth,
		CloseFunc: rc.CloseStore,
	}
	registerAll(m, rc)
	gcfg := cfg.Region
	gcfg.Codec = pdc.Codec()
	gcfg.Prober = m
	if gcfg.RequestHealthFeedback == nil {
		gcfg.RequestHealthFeedback = healthFeedback(rc)
	}
	if cfg.Tracer != nil {
		gcfg.Tracer = cfg.Tracer
	}
	scfg := cfg.Sender
	scfg.EnableForwarding = forwarding
	if scfg.AttemptTimeout == 0 && cfg.Mode == Raw {
		// Raw requests never wait on the server, so an attempt that takes this long
		// is a store that stopped answering (client-go's ReadTimeoutShort).
		scfg.AttemptTimeout = DefaultRawAttemptTimeout
	}
	if scfg.ReadAttemptTimeout == 0 {
		scfg.ReadAttemptTimeout = DefaultReadAttemptTimeout
	}
	if scfg.BatchReadAttemptTimeout == 0 {
		scfg.BatchReadAttemptTimeout = DefaultBatchReadAttemptTimeout
	}
	if cfg.Tracer != nil {
		scfg.Tracer = cfg.Tracer
	}
	cache := region.New(pdc, gcfg)
	cacheRef.Store(cache)
	c := &Cluster{
		pd:     pdc,
		rpc:    rc,
		cache:  cache,
		sender: region.NewSender(cache, m, scfg),
		mux:    m,
		mode:   cfg.Mode,
	}
	c.safeTS = newSafeTSUpdater(c, cfg.SafeTS, cfg.Logger)
	if cfg.SafeTS.Eager {
		c.safeTS.start()
	}
	return c, nil
}

// PD returns the PD client.
func (c *Cluster) PD() *pd.Client { return c.pd }

// RPC returns the RPC client, for calls that are not routed by region (store-wide
// requests such as GetStoreSafeTS).
func (c *Cluster) RPC() *rpc.Client { return c.rpc }

// Cache returns the region cache.
func (c *Cluster) Cache() *region.Cache { return c.cache }

// Sender returns the Sender that routes typed requests to regions (see region.Send,
// region.SendToRegion and region.RunBatches).
func (c *Cluster) Sender() *region.Sender { return c.sender }

// Codec returns the key codec of the cluster's API version, keyspace and Mode.
func (c *Cluster) Codec() codec.Codec { return c.pd.Codec() }

// Mode returns the key space the Cluster addresses.
func (c *Cluster) Mode() Mode { return c.mode }

// Close releases everything: the min-safe-ts updater, the region cache's loop, every store connection (waiting
// within ctx for calls in flight) and the PD client. It is idempotent; later calls
// return the first call's result.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.safeTS.close()
		err1 := c.cache.Close()
		err2 := c.rpc.Close(ctx)
		err3 := c.pd.Close()
		c.closeErr = errors.Join(err1, err2, err3)
	})
	return c.closeErr
}
