package pd

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/internal/codec"
)

// Defaults of the Config knobs. They follow client-go where a client-go equivalent exists.
const (
	// DefaultLowResolutionInterval is how often the low-resolution timestamp is refreshed
	// (client-go oracle/oracles/pd.go, 2 s).
	DefaultLowResolutionInterval = 2 * time.Second
	// DefaultSafePointRefresh is how often the txn safe point cache is reloaded
	// (client-go tikv/kv.go, 10 s).
	DefaultSafePointRefresh = 10 * time.Second
	// DefaultSafePointRetry is the reload delay after a failed load (1 s).
	DefaultSafePointRetry = time.Second
	// DefaultSafePointMaxAge is the age beyond which the cached txn safe point is no longer
	// trusted: 100 s GC lifetime minus a 10 s margin (client-go tikv/safepoint.go).
	DefaultSafePointMaxAge = 90 * time.Second
	// DefaultPDServerTimeout is the per-attempt timeout the PD client uses for one RPC.
	DefaultPDServerTimeout = 3 * time.Second
	// DefaultComponent names this client to PD (caller component in PD's metrics).
	DefaultComponent = "tikvsql"
)

// Dialer opens a network connection to a PD address ("host:port"). It is the hook for
// proxies, custom DNS and fault injection.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// Config configures a Client. The zero value of every field except Endpoints is a useful
// default. New copies the Config; changing it afterwards has no effect.
type Config struct {
	// Endpoints are PD addresses ("host:port", "http://host:port" or "https://host:port"),
	// in any order; unreachable ones are skipped.
	Endpoints []string
	// TLS, when set, secures every PD connection with a clone of this config (its
	// ServerName defaults to the host dialled; callbacks such as GetClientCertificate are
	// kept, so a reloading config works).
	TLS *tls.Config
	// Dialer, when set, opens the TCP connections (TLS, when configured, runs on top).
	Dialer Dialer
	// Logger receives events that cannot be returned to a caller (background refresh
	// failures). Default: no-op.
	Logger *zap.Logger
	// Component names this client in PD's caller-component metrics. Default "tikvsql".
	Component string

	// APIVersion is the TiKV API version the caller speaks. Default codec.V1.
	APIVersion codec.Version
	// Mode is the key space (raw or txn) the codec addresses. Default codec.ModeTxn.
	Mode codec.Mode
	// Keyspace is the keyspace name under API v2 (empty means "DEFAULT"). It must be empty
	// under API v1.
	Keyspace string

	// KeepAliveTime and KeepAliveTimeout, when positive, make the PD connections send
	// HTTP/2 keepalive pings after KeepAliveTime of inactivity and drop the connection when
	// no answer comes within KeepAliveTimeout (client-go: TiKVClient.GrpcKeepAlive*).
	KeepAliveTime    time.Duration
	KeepAliveTimeout time.Duration
	// EnableForwarding lets a PD follower forward requests to the leader when this client
	// cannot reach the leader directly (network partitions).
	EnableForwarding bool
	// ConnectAttempts bounds how many times construction tries the endpoints (one second
	// apart) before failing with kv.ErrPDUnavailable. Default: the PD client's (100); ctx
	// bounds construction as well.
	ConnectAttempts int
	// PDServerTimeout bounds one PD RPC attempt. Default 3 s.
	PDServerTimeout time.Duration
	// EnableRouterClient routes region lookups through PD's router stream (QueryRegion).
	// PD servers older than 2025 do not implement it, so it is off by default.
	EnableRouterClient bool
	// TSOBudget is the retry budget of a timestamp request within the caller's deadline.
	// Default: backoff.Weighted(backoff.BudgetTSO).
	TSOBudget time.Duration
	// RPCBudget is the retry budget of every other PD call. Default:
	// backoff.Weighted(backoff.BudgetLocate).
	RPCBudget time.Duration

	// LowResolutionInterval is the configured refresh interval of the low-resolution
	// timestamp. Default 2 s. Stale reads may shrink the effective interval (see doc.go).
	LowResolutionInterval time.Duration
	// SafePointRefresh, SafePointRetry and SafePointMaxAge tune the txn safe point cache.
	SafePointRefresh time.Duration
	SafePointRetry   time.Duration
	SafePointMaxAge  time.Duration

	// RegionMetaBreaker configures the circuit breaker of region metadata calls (see
	// BreakerSettings). Default: disabled.
	RegionMetaBreaker BreakerSettings

	// Clock is the time source of every timer of the client. Default: the system clock.
	Clock Clock
}

// withDefaults returns a copy of cfg with defaults filled in.
func (cfg Config) withDefaults() Config {
	cfg.Endpoints = append([]string(nil), cfg.Endpoints...)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Component == "" {
		cfg.Component = DefaultComponent
	}
	if cfg.APIVersion == 0 {
		cfg.APIVersion = codec.V1
	}
	if cfg.Mode == 0 {
		cfg.Mode = codec.ModeTxn
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setDur(&cfg.PDServerTimeout, DefaultPDServerTimeout)
	setDur(&cfg.TSOBudget, backoff.Weighted(backoff.BudgetTSO))
	setDur(&cfg.RPCBudget, backoff.Weighted(backoff.BudgetLocate))
	setDur(&cfg.LowResolutionInterval, DefaultLowResolutionInterval)
	setDur(&cfg.SafePointRefresh, DefaultSafePointRefresh)
	setDur(&cfg.SafePointRetry, DefaultSafePointRetry)
	setDur(&cfg.SafePointMaxAge, DefaultSafePointMaxAge)
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	return cfg
}

// Clock is the time source of a Client. Tests substitute a manual clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the Clock of the time package.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// backoffClock adapts a Clock to backoff.Clock.
type backoffClock struct{ c Clock }

func (b backoffClock) Now() time.Time { return b.c.Now() }

func (b backoffClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	select {
	case <-b.c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
