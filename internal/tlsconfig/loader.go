package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Paths names the PEM files of a TLS client identity. CA is required; Cert and Key are
// either both set (mutual TLS) or both empty.
type Paths struct {
	CA   string // PEM bundle of the certificate authorities that sign server certificates
	Cert string // PEM client certificate chain
	Key  string // PEM private key of Cert
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}, nil
}

// Loader serves the current CA pool and client certificate of a Paths, reloading them
// when the files change. It is safe for concurrent use. Create it with NewLoader.
type Loader struct {
	paths Paths

	mu       sync.Mutex
	caStamp  fileStamp
	pool     *x509.CertPool
	crtStamp fileStamp
	keyStamp fileStamp
	cert     *tls.Certificate
	reloads  int
}

// NewLoader checks that the files exist and parse, and returns a Loader for them.
// It fails when CA is empty, when only one of Cert and Key is set, or when any file cannot
// be read or parsed.
func NewLoader(p Paths) (*Loader, error) {
	if p.CA == "" {
		return nil, errors.New("tlsconfig: a CA file is required")
	}
	if (p.Cert == "") != (p.Key == "") {
		return nil, errors.New("tlsconfig: certificate and key files must be given together")
	}
	l := &Loader{paths: p}
	if _, err := l.CAPool(); err != nil {
		return nil, err
	}
	if p.Cert != "" {
		if _, err := l.Certificate(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Reloads reports how many times material was (re)loaded from disk, the initial load
// included. Tests and metrics use it.
func (l *Loader) Reloads() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reloads
}

// CAPool returns the current CA pool, re-reading the CA file if it changed. When the file
// changed but cannot be parsed, the previous pool is kept and returned with no error; the
// error is returned only if no pool was ever loaded.
func (l *Loader) CAPool() (*x509.CertPool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := stampOf(l.paths.CA)
	if err == nil && l.pool != nil && st == l.caStamp {
		return l.pool, nil
	}
	if err == nil {
		var pool *x509.CertPool
		if pool, err = readPool(l.paths.CA); err == nil {
			l.pool, l.caStamp = pool, st
			l.reloads++
			return pool, nil
		}
	}
	if l.pool != nil {
		return l.pool, nil
	}
	return nil, fmt.Errorf("tlsconfig: load CA %s: %w", l.paths.CA, err)
}

func readPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate found in PEM data")
	}
	return pool, nil
}

// Certificate returns the current client certificate, re-reading the certificate and key
// when either file changed, with the same keep-last-good rule as CAPool. It returns
// (nil, nil) when the Loader has no client certificate.
func (l *Loader) Certificate() (*tls.Certificate, error) {
	if l.paths.Cert == "" {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cs, err1 := stampOf(l.paths.Cert)
	ks, err2 := stampOf(l.paths.Key)
	err := errors.Join(err1, err2)
	if err == nil && l.cert != nil && cs == l.crtStamp && ks == l.keyStamp {
		return l.cert, nil
	}
	if err == nil {
		var c tls.Certificate
		if c, err = tls.LoadX509KeyPair(l.paths.Cert, l.paths.Key); err == nil {
			l.cert, l.crtStamp, l.keyStamp = &c, cs, ks
			l.reloads++
			return l.cert, nil
		}
	}
	if l.cert != nil {
		return l.cert, nil
	}
	return nil, fmt.Errorf("tlsconfig: load certificate %s / %s: %w", l.paths.Cert, l.paths.Key, err)
}

// ClientConfig returns a client *tls.Config that presents the current client certificate
// and verifies servers against the current CA pool on every handshake (see the package
// documentation). serverName, when not empty, is the name the server certificate must
// carry; when empty, the name the connection dials (SNI) is used, as crypto/tls does.
// The returned Config may be cloned and used by many connections concurrently.
func (l *Loader) ClientConfig(serverName string) *tls.Config {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         serverName,
		InsecureSkipVerify: true, // verified in VerifyConnection against the reloadable pool
		VerifyConnection:   func(cs tls.ConnectionState) error { return l.verify(cs, serverName) },
	}
	if l.paths.Cert != "" {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return l.Certificate()
		}
	}
	return cfg
}

// verify does what crypto/tls does when InsecureSkipVerify is false, with the pool read
// at handshake time.
func (l *Loader) verify(cs tls.ConnectionState, serverName string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsconfig: server presented no certificate")
	}
	pool, err := l.CAPool()
	if err != nil {
		return err
	}
	name := serverName
	if name == "" {
		name = cs.ServerName
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		DNSName:       name,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("tlsconfig: verify server certificate: %w", err)
	}
	return nil
}
