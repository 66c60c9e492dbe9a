package dsn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testTLSConfig() *tls.Config {
	return &tls.Config{ServerName: "pd.test", MinVersion: tls.VersionTLS12}
}

func TestTLSRegistry(t *testing.T) {
	var r TLSRegistry
	if _, ok := r.Lookup("x"); ok {
		t.Fatal("empty registry found a config")
	}
	for _, bad := range []string{"", "true", "false", "skip-verify", "a b"} {
		if err := r.Register(bad, testTLSConfig()); err == nil {
			t.Fatalf("Register(%q) accepted", bad)
		}
	}
	if err := r.Register("x", nil); err == nil {
		t.Fatal("Register(nil) accepted")
	}
	if err := r.Register("custom", testTLSConfig()); err != nil {
		t.Fatal(err)
	}
	c, err := ParseDSN("tikv://pd?tls=custom")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(c)
	if err != nil || got.ServerName != "pd.test" {
		t.Fatalf("Resolve = %v, %v", got, err)
	}
	got.ServerName = "mutated"
	if again, _ := r.Lookup("custom"); again.ServerName != "pd.test" {
		t.Fatal("Lookup returned shared memory")
	}
	r.Deregister("custom")
	if _, err := r.Resolve(c); !errors.Is(err, ErrTLSConfigNotFound) {
		t.Fatalf("Resolve after Deregister = %v", err)
	}
}

func TestDefaultTLSRegistry(t *testing.T) {
	if err := RegisterTLSConfig("pkg-default", testTLSConfig()); err != nil {
		t.Fatal(err)
	}
	defer DeregisterTLSConfig("pkg-default")
	if _, ok := DefaultTLSRegistry.Lookup("pkg-default"); !ok {
		t.Fatal("not registered in the default registry")
	}
}

func TestResolveBuilt(t *testing.T) {
	dir := t.TempDir()
	caPath, certPath, keyPath := writeTestCerts(t, dir)
	var r TLSRegistry
	plain := NewConfig()
	if cfg, err := r.Resolve(plain); cfg != nil || err != nil {
		t.Fatalf("plaintext Resolve = %v, %v", cfg, err)
	}
	plain.TLS = testTLSConfig()
	if cfg, err := r.Resolve(plain); err != nil || cfg.ServerName != "pd.test" {
		t.Fatalf("Config.TLS Resolve = %v, %v", cfg, err)
	}
	c, err := ParseDSN("tikv://pd?tls=skip-verify&tlsServerName=n&tlsCA=" + caPath + "&tlsCert=" + certPath + "&tlsKey=" + keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.InsecureSkipVerify || cfg.ServerName != "n" || cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
		t.Fatalf("built config = %+v", cfg)
	}
	bad := []struct {
		name string
		edit func(c *Config)
	}{
		{"missing CA", func(c *Config) { c.TLSCA = filepath.Join(dir, "none.pem") }},
		{"CA not PEM", func(c *Config) { c.TLSCA = keyPath + ".txt" }},
		{"bad key", func(c *Config) { c.TLSKey = filepath.Join(dir, "secret-none.pem") }},
	}
	if err := os.WriteFile(keyPath+".txt", []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		cc := c.Clone()
		b.edit(cc)
		_, err := r.Resolve(cc)
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Fatalf("%s: Resolve = %v", b.name, err)
		}
	}
}

// writeTestCerts writes a self-signed certificate (used as CA and client cert) and its key.
func writeTestCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert = filepath.Join(dir, "cert.pem")
	key = filepath.Join(dir, "key.pem")
	write := func(p, typ string, b []byte) {
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cert, "CERTIFICATE", der)
	write(key, "EC PRIVATE KEY", keyDER)
	return cert, cert, key
}
