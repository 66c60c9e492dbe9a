package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"time"

	"github.com/tikvsql/tikvsql/internal/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // registers the optional "gzip" compressor
	"google.golang.org/grpc/keepalive"
)

// tlsSource returns the TLS config builder of cfg: nil for plaintext.
//
// The configs carry no ServerName: gRPC checks the server against the connection's
// authority, which is the store's advertised address (see dialOptions).
func tlsSource(cfg *Config) (func() *tls.Config, error) {
	if cfg.TLS != nil {
		base := cfg.TLS.Clone()
		return base.Clone, nil
	}
	if cfg.TLSFiles.CA == "" && cfg.TLSFiles.Cert == "" && cfg.TLSFiles.Key == "" {
		return nil, nil
	}
	l, err := tlsconfig.NewLoader(tlsconfig.Paths(cfg.TLSFiles))
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	return func() *tls.Config { return l.ClientConfig("") }, nil
}

// dialOptions returns the gRPC options of one connection to a store advertised as
// advertised.
func (c *Client) dialOptions(advertised string) []grpc.DialOption {
	cfg := &c.cfg
	opts := []grpc.DialOption{
		grpc.WithInitialWindowSize(cfg.InitialWindowSize),
		grpc.WithInitialConnWindowSize(cfg.InitialConnWindowSize),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: cfg.KeepAliveTime, Timeout: cfg.KeepAliveTimeout,
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second,
			},
			MinConnectTimeout: cfg.DialTimeout,
		}),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodecV2(c.codec),
			grpc.MaxCallRecvMsgSize(math.MaxInt-1),
		),
	}
	if cfg.TLS == nil || cfg.TLS.ServerName == "" {
		// The advertised name, not the translated one, is what the store's certificate
		// names. A TLS config with its own ServerName sets the authority instead.
		opts = append(opts, grpc.WithAuthority(advertised))
	}
	if cfg.Compression != "" {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(cfg.Compression)))
	}
	if c.tls != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(c.tls())))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Dialer != nil {
		opts = append(opts, grpc.WithContextDialer(cfg.Dialer))
	}
	return append(opts, cfg.DialOptions...)
}

// dialStore translates the address and creates the store's connections. gRPC connects
// lazily: nothing here waits for the network except TranslateAddr.
func (c *Client) dialStore(ctx context.Context, addr string) (*store, error) {
	target := addr
	if c.cfg.TranslateAddr != nil {
		t, err := c.cfg.TranslateAddr(ctx, addr)
		if err != nil {
			return nil, &StoreError{Addr: addr, Code: codes.Unavailable, Reason: "translate address: " + err.Error()}
		}
		target = t
	}
	st := &store{addr: addr, target: target}
	opts := c.dialOptions(addr)
	for range c.cfg.ConnectionCount {
		cc, err := grpc.NewClient("passthrough:///"+target, opts...)
		if err != nil {
			st.closeConns()
			return nil, &StoreError{Addr: addr, Code: codes.Unavailable, Reason: "dial: " + err.Error()}
		}
		st.conns = append(st.conns, cc)
	}
	return st, nil
}
