package dsn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Reserved values of the tls parameter; they cannot be registered as names.
const (
	TLSTrue       = "true"
	TLSFalse      = "false"
	TLSSkipVerify = "skip-verify"
)

// ErrTLSConfigNotFound is returned by TLSRegistry.Resolve for a tls=name that no config
// was registered under.
var ErrTLSConfigNotFound = errors.New("tikv dsn: tls config not registered")

// TLSRegistry maps the names a DSN's tls parameter may use to *tls.Config values, in the
// style of go-sql-driver/mysql's RegisterTLSConfig, but owned by a value so that two
// drivers in one process can keep separate registries. A TLSRegistry is safe for
// concurrent use; its zero value is empty and ready to use.
type TLSRegistry struct {
	mu      sync.RWMutex
	configs map[string]*tls.Config
}

// DefaultTLSRegistry is the registry the package-level RegisterTLSConfig,
// DeregisterTLSConfig and the "tikv" driver use. It is the one package-level variable of
// the module: a DSN string can only name a TLS config, so the name must be resolvable
// where the driver opens the DSN. Use a TLSRegistry of your own (or Config.TLS) to keep
// configurations private.
var DefaultTLSRegistry = &TLSRegistry{}

// Register stores a clone of cfg under name. The name must be made of
// [A-Za-z0-9_.-] and must not be one of true, false or skip-verify. Registering an
// existing name replaces it.
func (r *TLSRegistry) Register(name string, cfg *tls.Config) error {
	if !isMemName(name) || name == TLSTrue || name == TLSFalse || name == TLSSkipVerify {
		return &Error{Param: "tls", Value: name, Reason: "a registered name must be of [A-Za-z0-9_.-] and not true, false or skip-verify"}
	}
	if cfg == nil {
		return &Error{Param: "tls", Value: name, Reason: "nil *tls.Config"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.configs == nil {
		r.configs = make(map[string]*tls.Config)
	}
	r.configs[name] = cfg.Clone()
	return nil
}

// Deregister removes the config registered under name, if any.
func (r *TLSRegistry) Deregister(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.configs, name)
}

// Lookup returns a clone of the config registered under name.
func (r *TLSRegistry) Lookup(name string) (*tls.Config, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	cfg, ok := r.configs[name]
	if !ok {
		return nil, false
	}
	return cfg.Clone(), true
}

// RegisterTLSConfig registers cfg under name in DefaultTLSRegistry.
func RegisterTLSConfig(name string, cfg *tls.Config) error {
	return DefaultTLSRegistry.Register(name, cfg)
}

// DeregisterTLSConfig removes name from DefaultTLSRegistry.
func DeregisterTLSConfig(name string) { DefaultTLSRegistry.Deregister(name) }

// Resolve returns the *tls.Config c asks for, or nil for plaintext: c.TLS if set; a
// clone of the registered config for tls=name (an error wrapping ErrTLSConfigNotFound if
// absent); otherwise a config built from tls=true|skip-verify and the tlsCA, tlsCert,
// tlsKey and tlsServerName files, which Resolve reads. Errors never contain key material
// or the key path.
func (r *TLSRegistry) Resolve(c *Config) (*tls.Config, error) {
	if c.TLS != nil {
		return c.TLS.Clone(), nil
	}
	switch c.TLSConfig {
	case "", TLSFalse:
		return nil, nil
	case TLSTrue, TLSSkipVerify:
		return buildTLS(c)
	}
	cfg, ok := r.Lookup(c.TLSConfig)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrTLSConfigNotFound, c.TLSConfig)
	}
	return cfg, nil
}

func buildTLS(c *Config) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLSServerName,
		InsecureSkipVerify: c.TLSConfig == TLSSkipVerify, //nolint:gosec // the user asked for skip-verify
	}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, &Error{Param: "tlsCA", Value: c.TLSCA, Reason: "cannot read", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &Error{Param: "tlsCA", Value: c.TLSCA, Reason: "no PEM certificate found"}
		}
		cfg.RootCAs = pool
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			// The stdlib error may name the key file; keep only the certificate path.
			return nil, &Error{Param: "tlsCert", Value: c.TLSCert, Reason: "cannot load the certificate and key pair (tlsKey " + redacted + ")"}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
