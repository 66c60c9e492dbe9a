package dsn

import (
	"github.com/tikvsql/tikvsql/internal/testcert"

	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// writeTestCerts writes a CA, a client certificate it issued and the certificate's key.
func writeTestCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	authority := testcert.NewCA(t, "test-ca")
	f := testcert.Write(t, dir, authority, authority.Issue(t, "test"))
	return f.CA, f.Cert, f.Key
}
