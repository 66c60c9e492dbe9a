package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcert"
	"github.com/tikvsql/tikvsql/kv"
)

// The server's identity and trusted client CA can be swapped under it.
type rotatingServer struct {
	cfg atomic.Pointer[tls.Config]
}

func (r *rotatingServer) set(ca *testcert.CA, p *testcert.Pair) {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	r.cfg.Store(&tls.Config{Certificates: []tls.Certificate{p.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
}

func (r *rotatingServer) config() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.cfg.Load(), nil }}
}

// TLS from files: mutual TLS works, and after the server moves to a new CA the client
// follows as soon as its files are rewritten (certificate, key and CA reloaded).
func TestTLSFilesWithReload(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := testcert.NewCA(t, "ca1"), testcert.NewCA(t, "ca2")
	var rs rotatingServer
	rs.set(ca1, ca1.Issue(t, "tikv-0"))
	f := startFake(t, rs.config())
	files := testcert.Write(t, dir, ca1, ca1.Issue(t, "client"))
	c := newClient(t, Config{ConnectionCount: 1, TLSFiles: TLSFiles(files)})
	ctx := context.Background()
	if v, err := rawGet(ctx, c, f.addr, "tls", CallOptions{}); err != nil || v != "tls" {
		t.Fatalf("TLS call: %q %v", v, err)
	}
	// The server rotates to CA2; new handshakes with the old client files fail.
	rs.set(ca2, ca2.Issue(t, "tikv-0"))
	c.CloseStore(f.addr)
	if _, err := rawGet(ctx, c, f.addr, "old", CallOptions{}); !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("stale client identity accepted: %v", err)
	}
	// The client's files are rotated; the next connection uses them.
	testcert.Write(t, dir, ca2, ca2.Issue(t, "client"))
	c.CloseStore(f.addr)
	if v, err := rawGet(ctx, c, f.addr, "new", CallOptions{}); err != nil || v != "new" {
		t.Fatalf("after rotation: %q %v", v, err)
	}
}

// TLS from a *tls.Config.
func TestTLSConfig(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	var rs rotatingServer
	rs.set(ca, ca.Issue(t, "tikv-0"))
	f := startFake(t, rs.config())
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cli := ca.Issue(t, "client")
	c := newClient(t, Config{TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cli.TLS}}})
	if v, err := rawGet(context.Background(), c, f.addr, "k", CallOptions{}); err != nil || v != "k" {
		t.Fatalf("TLS call: %q %v", v, err)
	}
	// An explicit ServerName is honoured (and must match the certificate).
	named := newClient(t, Config{ConnectionCount: 1, TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cli.TLS}, ServerName: "tikv-0"}})
	if _, err := rawGet(context.Background(), named, f.addr, "k", CallOptions{}); err != nil {
		t.Fatalf("ServerName tikv-0: %v", err)
	}
	wrong := newClient(t, Config{ConnectionCount: 1, TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cli.TLS}, ServerName: "elsewhere"}})
	if _, err := rawGet(context.Background(), wrong, f.addr, "k", CallOptions{}); !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("ServerName elsewhere: %v", err)
	}
	// A plaintext client cannot talk to the TLS server.
	plain := newClient(t, Config{ConnectionCount: 1})
	if _, err := rawGet(context.Background(), plain, f.addr, "k", CallOptions{}); !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("plaintext call: %v", err)
	}
}
