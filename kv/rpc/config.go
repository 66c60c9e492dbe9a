package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc"

	"github.com/tikvsql/tikvsql/kv"
)

// BatchPolicy says when the send loop waits a little for more requests before sending a
// batch (see the package documentation, "Batching").
type BatchPolicy uint8

// Batch policies.
const (
	// BatchAdaptive (the default) waits up to Config.BatchWait only while requests have been
	// arriving less than Config.BatchWait apart on average.
	BatchAdaptive BatchPolicy = iota
	// BatchNoWait sends whatever is queued at once.
	BatchNoWait
	// BatchAlwaysWait always waits up to Config.BatchWait for a fuller batch.
	BatchAlwaysWait
)

// Defaults and limits of Config. The defaults are client-go's where client-go has the knob.
const (
	DefaultConnectionCount    = 4
	DefaultMaxBatchSize       = 128
	DefaultBatchWait          = 100 * time.Microsecond
	DefaultKeepAliveTime      = 10 * time.Second
	DefaultKeepAliveTimeout   = 3 * time.Second
	DefaultWindowSize         = 128 << 20
	DefaultDialTimeout        = 5 * time.Second
	DefaultSweepInterval      = 100 * time.Millisecond
	DefaultForwardIdleTimeout = 3 * time.Minute
	MinKeepAliveTimeout       = 50 * time.Millisecond
	maxBatchSizeLimit         = 1 << 12
	forwardedHostMetadataKey  = "tikv-forwarded-host"
)

// Config configures a Client. The zero value of every field means its default, so
// Config{} is a working configuration for plaintext connections. New copies the Config;
// changing it afterwards has no effect on the Client.
type Config struct {
	// ConnectionCount is the number of gRPC connections (each with its own BatchCommands
	// stream) per store. Default 4.
	ConnectionCount int
	// MaxBatchSize is the largest number of requests packed into one BatchCommands message.
	// Default 128. A negative value disables the streaming client: every call is unary.
	MaxBatchSize int
	// BatchPolicy decides the short wait for fuller batches. Default BatchAdaptive.
	BatchPolicy BatchPolicy
	// BatchWait is the longest wait for a fuller batch. Default 100µs.
	BatchWait time.Duration
	// MaxInflightRequests bounds the requests of normal priority sent to one store and not
	// yet answered; PriorityHigh requests are not bounded. 0 means unbounded.
	MaxInflightRequests int
	// OverloadThreshold, OverloadWait and OverloadBatchSize batch harder for a store
	// whose reported transport-layer load is above OverloadThreshold: the send loop waits
	// up to OverloadWait for OverloadBatchSize requests (default DefaultOverloadBatchSize)
	// whatever the BatchPolicy. Off unless OverloadThreshold and OverloadWait are set
	// (client-go's OverloadThreshold 200, MaxBatchWaitTime 0, BatchWaitSize 8).
	OverloadThreshold uint64
	OverloadWait      time.Duration
	OverloadBatchSize int

	// KeepAliveTime is the idle time after which a connection is pinged. Default 10s.
	// gRPC does not ping more often than every 10s; smaller values are raised to 10s.
	KeepAliveTime time.Duration
	// KeepAliveTimeout is how long a ping may stay unanswered before the connection is
	// closed. Default 3s; millisecond values are honoured down to 50ms.
	KeepAliveTimeout time.Duration
	// DialTimeout bounds one connection attempt. Default 5s.
	DialTimeout time.Duration
	// InitialWindowSize and InitialConnWindowSize are the HTTP/2 flow-control windows of
	// a stream and of a connection. Default 128 MiB each, so large batches never stall.
	InitialWindowSize     int32
	InitialConnWindowSize int32
	// Compression names a gRPC compressor for requests ("gzip"), or "" for none.
	Compression string

	// TLS, when not nil, secures every connection as given (use its
	// GetClientCertificate for rotation, or TLSFiles below).
	TLS *tls.Config
	// TLSFiles, when CA is set and TLS is nil, loads the CA, certificate and key from
	// these paths and re-reads them whenever the files change.
	TLSFiles TLSFiles

	// Dialer, when not nil, opens the raw connections (a proxy, a custom DNS resolver, an
	// in-memory listener in tests). It receives the translated address.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// TranslateAddr, when not nil, maps the address a store advertises (through PD) to
	// the address to dial: useful behind NAT or in Kubernetes when the advertised names do
	// not resolve for the client. The advertised address stays the TLS server name and
	// the HTTP/2 authority. It is called once per store per Client.
	TranslateAddr func(ctx context.Context, advertised string) (string, error)
	// DialOptions are appended after the options this package sets.
	DialOptions []grpc.DialOption

	// EnableForwarding allows CallOptions.ForwardedHost (RPC-7). When false, calls that
	// ask for forwarding fail.
	EnableForwarding bool
	// ForwardIdleTimeout closes the streams to a forwarded host after this long without
	// calls. Default 3 minutes; negative: never.
	ForwardIdleTimeout time.Duration
	// Interceptors wrap every call, outermost first (see Interceptor).
	Interceptors []Interceptor
	// Tracer, when it implements kv.RPCTracer, observes every call.
	Tracer kv.Tracer
	// Context is stamped into every request's kvrpcpb.Context before the call's own
	// CallOptions.Context (for example ClusterID and RequestSource).
	Context RequestContext
	// SweepInterval is how often abandoned requests are reclaimed from in-flight tables.
	// Default 100ms.
	SweepInterval time.Duration
	// OnHealthFeedback, when not nil, is called with the store address whenever a
	// BatchCommands response carries health feedback with a new sequence number (TiKV
	// attaches its slow score to batch responses, RC-10); kv/cluster passes it to the
	// region cache. It runs on the stream's receive loop and must be quick.
	OnHealthFeedback func(addr string, fb *kvrpcpb.HealthFeedback)
}

// TLSFiles names PEM files for TLS (see internal/tlsconfig).
type TLSFiles struct {
	CA   string
	Cert string
	Key  string
}

// withDefaults returns a normalised copy of c, or an error for invalid values.
func (c Config) withDefaults() (Config, error) {
	if c.ConnectionCount == 0 {
		c.ConnectionCount = DefaultConnectionCount
	}
	if c.MaxBatchSize == 0 {
		c.MaxBatchSize = DefaultMaxBatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.KeepAliveTime == 0 {
		c.KeepAliveTime = DefaultKeepAliveTime
	}
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.InitialWindowSize == 0 {
		c.InitialWindowSize = DefaultWindowSize
	}
	if c.InitialConnWindowSize == 0 {
		c.InitialConnWindowSize = DefaultWindowSize
	}
	if c.ForwardIdleTimeout == 0 {
		c.ForwardIdleTimeout = DefaultForwardIdleTimeout
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	c.Interceptors = dedupInterceptors(c.Interceptors, nil)
	c.DialOptions = append([]grpc.DialOption(nil), c.DialOptions...)
	var errs []error
	if c.ConnectionCount < 0 || c.ConnectionCount > math.MaxUint16 {
		errs = append(errs, fmt.Errorf("ConnectionCount %d out of range", c.ConnectionCount))
	}
	if c.MaxBatchSize > maxBatchSizeLimit {
		errs = append(errs, fmt.Errorf("MaxBatchSize %d above %d", c.MaxBatchSize, maxBatchSizeLimit))
	}
	if c.KeepAliveTimeout < MinKeepAliveTimeout {
		errs = append(errs, fmt.Errorf("KeepAliveTimeout %v below %v", c.KeepAliveTimeout, MinKeepAliveTimeout))
	}
	if c.BatchWait < 0 || c.KeepAliveTime < 0 || c.DialTimeout < 0 || c.SweepInterval < 0 ||
		c.InitialWindowSize < 0 || c.InitialConnWindowSize < 0 || c.MaxInflightRequests < 0 {
		errs = append(errs, errors.New("negative duration, window or limit"))
	}
	if c.BatchPolicy > BatchAlwaysWait {
		errs = append(errs, fmt.Errorf("unknown BatchPolicy %d", c.BatchPolicy))
	}
	if c.Compression != "" && c.Compression != "gzip" {
		errs = append(errs, fmt.Errorf("unknown compression %q", c.Compression))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("rpc: invalid config: %w", err)
	}
	return c, nil
}

// batching reports whether the streaming client is on.
func (c *Config) batching() bool { return c.MaxBatchSize > 0 }
