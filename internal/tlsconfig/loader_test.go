package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcert"
)

// handshake runs a TLS handshake between a server presenting serverCert (and requiring
// a client certificate signed by clientCA when clientCA is not nil) and a client using
// cfg. It returns the client's error and the client leaf the server saw.
//
//lint:ignore ST1008 the error is the result under test, the certificate a detail beside it
func handshake(t *testing.T, cfg *tls.Config, serverCert tls.Certificate, clientCA *x509.CertPool) (error, *x509.Certificate) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	a, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{serverCert}}
	if clientCA != nil {
		srvCfg.ClientAuth, srvCfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA
	}
	srv := tls.Server(b, srvCfg)
	var wg sync.WaitGroup
	var peer *x509.Certificate
	wg.Go(func() {
		if srv.Handshake() == nil {
			if pc := srv.ConnectionState().PeerCertificates; len(pc) > 0 {
				peer = pc[0]
			}
		}
		srv.Close()
	})
	cli := tls.Client(a, cfg)
	err = cli.Handshake()
	cli.Close()
	wg.Wait()
	return err, peer
}

func TestNewLoaderValidation(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "ca")
	f := testcert.Write(t, dir, ca, ca.Issue(t, "client"))
	for _, p := range []Paths{
		{},
		{CA: f.CA, Cert: f.Cert},
		{CA: filepath.Join(dir, "missing.pem")},
		{CA: f.Key}, // not a certificate
		{CA: f.CA, Cert: f.Cert, Key: f.CA},
	} {
		if _, err := NewLoader(p); err == nil {
			t.Errorf("NewLoader(%+v) accepted", p)
		}
	}
	l, err := NewLoader(Paths{CA: f.CA})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := l.Certificate(); c != nil || err != nil {
		t.Fatalf("Certificate without files = %v, %v", c, err)
	}
}

func TestVerifyAndReload(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := testcert.NewCA(t, "ca1"), testcert.NewCA(t, "ca2")
	srv1, srv2 := ca1.Issue(t, "tikv-0"), ca2.Issue(t, "tikv-0")
	cli1, cli2 := ca1.Issue(t, "client1"), ca2.Issue(t, "client2")
	files := testcert.Write(t, dir, ca1, cli1)
	l, err := NewLoader(Paths(files))
	if err != nil {
		t.Fatal(err)
	}
	pool1 := x509.NewCertPool()
	pool1.AddCert(ca1.Cert)
	pool2 := x509.NewCertPool()
	pool2.AddCert(ca2.Cert)

	// Trusted server, right name, client certificate presented.
	err, peer := handshake(t, l.ClientConfig("tikv-0"), srv1.TLS, pool1)
	if err != nil || peer == nil || peer.Subject.CommonName != "client1" {
		t.Fatalf("handshake: %v, peer %v", err, peer)
	}
	// Wrong name.
	if err, _ := handshake(t, l.ClientConfig("other"), srv1.TLS, nil); err == nil {
		t.Fatal("wrong server name accepted")
	}
	// Name taken from SNI when none is configured.
	cfg := l.ClientConfig("")
	cfg.ServerName = "tikv-0"
	if err, _ := handshake(t, cfg, srv1.TLS, nil); err != nil {
		t.Fatalf("SNI name: %v", err)
	}
	// A server of an unknown CA is refused.
	if err, _ := handshake(t, l.ClientConfig("tikv-0"), srv2.TLS, nil); err == nil || !strings.Contains(err.Error(), "verify") {
		t.Fatalf("untrusted server: %v", err)
	}
	// Rotate every file: the same Config now trusts CA2 and presents client2.
	before := l.Reloads()
	testcert.Write(t, dir, ca2, cli2)
	err, peer = handshake(t, l.ClientConfig("tikv-0"), srv2.TLS, pool2)
	if err != nil || peer == nil || peer.Subject.CommonName != "client2" {
		t.Fatalf("after rotation: %v, peer %v", err, peer)
	}
	if l.Reloads() != before+2 {
		t.Fatalf("reloads %d -> %d, want +2", before, l.Reloads())
	}
	if err, _ := handshake(t, l.ClientConfig("tikv-0"), srv1.TLS, nil); err == nil {
		t.Fatal("old CA still trusted after rotation")
	}
}

func TestBrokenRotationKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "ca")
	cli := ca.Issue(t, "client")
	files := testcert.Write(t, dir, ca, cli)
	l, err := NewLoader(Paths(files))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{files.CA, files.Cert} {
		if err := os.WriteFile(p, []byte("garbage, longer than before to change the size ......................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if pool, err := l.CAPool(); err != nil || pool == nil {
		t.Fatalf("CAPool after broken write: %v", err)
	}
	if c, err := l.Certificate(); err != nil || c == nil {
		t.Fatalf("Certificate after broken write: %v", err)
	}
	// A handshake without any peer certificate is refused.
	if err := l.verify(tls.ConnectionState{}, "x"); err == nil {
		t.Fatal("empty chain accepted")
	}
	// Without a last good version, the error is reported.
	l2 := &Loader{paths: Paths(files)}
	if _, err := l2.CAPool(); err == nil {
		t.Fatal("broken CA accepted")
	}
	if _, err := l2.Certificate(); err == nil {
		t.Fatal("broken certificate accepted")
	}
	if err := l2.verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{ca.Cert}}, "x"); err == nil {
		t.Fatal("verify without a CA succeeded")
	}
	if _, err := NewLoader(Paths(files)); err == nil || !errors.Is(err, err) {
		t.Fatal("NewLoader on broken files succeeded")
	}
}
