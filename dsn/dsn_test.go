package dsn

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validDSNCase is a row of TestParseValid.
type validDSNCase struct {
	dsn    string
	want   func(c *Config)
	format string // "" means the same as dsn
}

func validDSNCases() []validDSNCase {
	return []validDSNCase{
		{"tikv://pd1:2379", func(c *Config) { c.PDAddrs = []string{"pd1:2379"} }, ""},
		{"tikv://pd1", func(c *Config) { c.PDAddrs = []string{"pd1:2379"} }, "tikv://pd1:2379"},
		{"tikv://pd1:2379,pd2:2380,10.0.0.3", func(c *Config) {
			c.PDAddrs = []string{"pd1:2379", "pd2:2380", "10.0.0.3:2379"}
		}, "tikv://pd1:2379,pd2:2380,10.0.0.3:2379"},
		{"tikv://[::1]:2379,[fe80::1%25eth0]:2379", func(c *Config) {
			c.PDAddrs = []string{"[::1]:2379", "[fe80::1%eth0]:2379"}
		}, ""},
		{"tikv://[::1],[fe80::1%eth0]:1", func(c *Config) {
			c.PDAddrs = []string{"[::1]:2379", "[fe80::1%eth0]:1"}
		}, "tikv://[::1]:2379,[fe80::1%25eth0]:1"},
		{"tikv://[0:0::1]:02379/", func(c *Config) { c.PDAddrs = []string{"[::1]:2379"} }, "tikv://[::1]:2379"},
		{"tikv://pd:2379/myspace", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.Keyspace = "myspace"
			c.APIVersion = APIV2
		}, ""},
		{"tikv://pd:2379?keyspace=ks&apiVersion=v2", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.Keyspace = "ks"
			c.APIVersion = APIV2
		}, "tikv://pd:2379/ks"},
		{"tikv://pd:2379?keyspaceName=ks", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.Keyspace = "ks"
			c.APIVersion = APIV2
		}, "tikv://pd:2379/ks"},
		{"tikv://pd:2379/ks?keyspace=ks", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.Keyspace = "ks"
			c.APIVersion = APIV2
		}, "tikv://pd:2379/ks"},
		{"tikv://pd:2379?apiVersion=v2", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.APIVersion = APIV2
		}, ""},
		{"memory://test", func(c *Config) { c.Backend = BackendMemory; c.MemName = "test" }, ""},
		{"memory://t-1.x/ks?mode=raw&atomic=1", func(c *Config) {
			c.Backend = BackendMemory
			c.MemName = "t-1.x"
			c.Keyspace = "ks"
			c.APIVersion = APIV2
			c.Mode = ModeRaw
			c.Atomic = true
		}, "memory://t-1.x/ks?mode=raw&atomic=true"},
		{"tikv://pd:2379?mode=txn&txnMode=pessimistic&asyncCommit=false&onePC=false&pipelined=true" +
			"&replicaRead=preferLeader&staleRead=5s&lockWaitTimeout=nowait&isolation=readCommitted" +
			"&timeout=1m0s&dialTimeout=1s&table=my_kv&maxScan=5&resourceGroup=rg&requestSource=src%26x",
			func(c *Config) {
				c.PDAddrs = []string{"pd:2379"}
				c.TxnMode = TxnPessimistic
				c.AsyncCommit, c.OnePC, c.Pipelined = false, false, true
				c.ReplicaRead = ReplicaPreferLeader
				c.StaleRead = 5 * time.Second
				c.LockWait = LockWait{Kind: LockWaitNoWait}
				c.Isolation = IsolationReadCommitted
				c.Timeout = time.Minute
				c.DialTimeout = time.Second
				c.Table = "my_kv"
				c.MaxScan = 5
				c.ResourceGroup = "rg"
				c.RequestSource = "src&x"
			}, "tikv://pd:2379?txnMode=pessimistic&asyncCommit=false&onePC=false&pipelined=true" +
				"&replicaRead=preferLeader&staleRead=5s&lockWaitTimeout=nowait&isolation=readCommitted" +
				"&timeout=1m0s&dialTimeout=1s&table=my_kv&maxScan=5&resourceGroup=rg&requestSource=src%26x"},
		// Async commit and 1PC are on by default: true is not written back.
		{"tikv://pd?asyncCommit=true&onePC=1", func(c *Config) { c.PDAddrs = []string{"pd:2379"} }, "tikv://pd:2379"},
		{"tikv://pd?onePC=false", func(c *Config) { c.PDAddrs = []string{"pd:2379"}; c.OnePC = false }, "tikv://pd:2379?onePC=false"},
		{"tikv://pd?lockWaitTimeout=forever&dialTimeout=0&&", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.LockWait = LockWait{Kind: LockWaitForever}
		}, "tikv://pd:2379?lockWaitTimeout=forever"},
		{"tikv://pd?lockWaitTimeout=1500ms", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.LockWait = LockWait{Kind: LockWaitTimeout, Timeout: 1500 * time.Millisecond}
		}, "tikv://pd:2379?lockWaitTimeout=1.5s"},
		{"tikv://pd?tls=custom-1", func(c *Config) { c.PDAddrs = []string{"pd:2379"}; c.TLSConfig = "custom-1" }, "tikv://pd:2379?tls=custom-1"},
		{"tikv://pd?tls=false", func(c *Config) { c.PDAddrs = []string{"pd:2379"} }, "tikv://pd:2379"},
		{"tikv://pd?forwarding=true", func(c *Config) { c.PDAddrs = []string{"pd:2379"}; c.Forwarding = true }, "tikv://pd:2379?forwarding=true"},
		{"tikv://pd?tlsCA=%2Fca.pem&tlsCert=c.pem&tlsKey=k.pem&tlsServerName=pd.local", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.TLSConfig = TLSTrue
			c.TLSCA, c.TLSCert, c.TLSKey, c.TLSServerName = "/ca.pem", "c.pem", "k.pem", "pd.local"
		}, "tikv://pd:2379?tls=true&tlsCA=%2Fca.pem&tlsCert=c.pem&tlsKey=k.pem&tlsServerName=pd.local"},
		{"tikv://pd?tls=skip-verify&tlsCA=ca.pem", func(c *Config) {
			c.PDAddrs = []string{"pd:2379"}
			c.TLSConfig = TLSSkipVerify
			c.TLSCA = "ca.pem"
		}, "tikv://pd:2379?tls=skip-verify&tlsCA=ca.pem"},
	}
}

func TestParseValid(t *testing.T) {
	tests := validDSNCases()
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got, err := ParseDSN(tt.dsn)
			if err != nil {
				t.Fatalf("ParseDSN: %v", err)
			}
			want := NewConfig()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseDSN:\n got %#v\nwant %#v", got, want)
			}
			wantFmt := tt.format
			if wantFmt == "" {
				wantFmt = tt.dsn
			}
			if f := got.FormatDSN(); f != wantFmt {
				t.Fatalf("FormatDSN = %q, want %q", f, wantFmt)
			}
		})
	}
}

// invalidDSNCase is a row of TestParseInvalid.
type invalidDSNCase struct {
	dsn, param string
}

func invalidDSNCases() []invalidDSNCase {
	return []invalidDSNCase{
		{"pd1:2379", "scheme"},
		{"mysql://pd1:2379", "scheme"},
		{"tikv://", "host"},
		{"tikv:///ks", "host"},
		{"tikv://user:secret@pd:2379", "userinfo"},
		{"tikv://pd:2379,,pd2", "host"},
		{"tikv://pd:0", "host"},
		{"tikv://pd:65536", "host"},
		{"tikv://pd:+1", "host"},
		{"tikv://pd:", "host"},
		{"tikv://pd:abc", "host"},
		{"tikv://::1:2379", "host"},
		{"tikv://[::1", "host"},
		{"tikv://[::1]x", "host"},
		{"tikv://[::1]:", "host"},
		{"tikv://[1.2.3.4]:1", "host"},
		{"tikv://[fe80::1%25]:1", "host"},
		{"tikv://[fe80::1%25e$]:1", "host"},
		{"tikv://p#d", "host"},
		{"tikv://pd,pd:2379", "host"},
		{"tikv://pd/bad.space", "keyspace"},
		{"tikv://pd/" + strings.Repeat("a", 65), "keyspace"},
		{"tikv://pd/a/b", "keyspace"},
		{"tikv://pd/ks?apiVersion=v1", "apiVersion"},
		{"tikv://pd/ks?keyspace=other", "keyspace"},
		{"tikv://pd?keyspace=", "keyspace"},
		{"memory://", "memName"},
		{"memory://a,b", "memName"},
		{"memory://x:y@a", "userinfo"},
		{"tikv://pd?foo=1", "foo"},
		{"tikv://pd?TxnMode=pessimistic", "TxnMode"},
		{"tikv://pd?mode", "query"},
		{"tikv://pd?mode=txn&mode=raw", "mode"},
		{"tikv://pd?mode=kv", "mode"},
		{"tikv://pd?txnMode=x", "txnMode"},
		{"tikv://pd?replicaRead=any", "replicaRead"},
		{"tikv://pd?isolation=serializable", "isolation"},
		{"tikv://pd?apiVersion=v3", "apiVersion"},
		{"tikv://pd?asyncCommit=yes", "asyncCommit"},
		{"tikv://pd?staleRead=-1s", "staleRead"},
		{"tikv://pd?timeout=soon", "timeout"},
		{"tikv://pd?lockWaitTimeout=0s", "lockWaitTimeout"},
		{"tikv://pd?lockWaitTimeout=never", "lockWaitTimeout"},
		{"tikv://pd?tls=a%20b", "tls"},
		{"tikv://pd?tls=false&tlsCA=x", "tls"},
		{"tikv://pd?tls=custom&tlsCA=x", "tls"},
		{"tikv://pd?tlsCert=c.pem", "tlsCert"},
		{"tikv://pd?tlsKey=k.pem", "tlsCert"},
		{"tikv://pd?tlsKey=", "tlsKey"},
		{"tikv://pd?table=1kv", "table"},
		{"tikv://pd?table=", "table"},
		{"tikv://pd?maxScan=0", "maxScan"},
		{"tikv://pd?maxScan=x", "maxScan"},
		{"tikv://pd?resourceGroup=%zz", "resourceGroup"},
	}
}

func TestParseInvalid(t *testing.T) {
	tests := invalidDSNCases()
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			_, err := ParseDSN(tt.dsn)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseDSN error = %v, want *Error", err)
			}
			if e.Param != tt.param {
				t.Fatalf("Param = %q, want %q (%v)", e.Param, tt.param, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := ParseDSN("tikv://pd?tlsCert=c.pem&tlsKey=%2Fsecret%2Fkey.pem")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.Redacted(), c.String()} {
		if strings.Contains(s, "secret") || !strings.Contains(s, "tlsKey=xxxxx") {
			t.Fatalf("not redacted: %s", s)
		}
	}
	if !strings.Contains(c.FormatDSN(), "tlsKey=%2Fsecret%2Fkey.pem") {
		t.Fatalf("FormatDSN lost the key: %s", c.FormatDSN())
	}
	_, err = ParseDSN("tikv://admin:secret@pd")
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "admin") {
		t.Fatalf("userinfo error = %v", err)
	}
}

func TestCloneIsDeep(t *testing.T) {
	c, err := ParseDSN("tikv://a,b")
	if err != nil {
		t.Fatal(err)
	}
	c.TLS = testTLSConfig()
	d := c.Clone()
	d.PDAddrs[0] = "z:1"
	d.TLS.ServerName = "changed"
	if c.PDAddrs[0] != "a:2379" || c.TLS.ServerName == "changed" {
		t.Fatal("Clone shares memory with the original")
	}
	var empty Config
	if e := empty.Clone(); e.PDAddrs != nil || e.TLS != nil {
		t.Fatal("Clone of zero Config is not zero")
	}
}

func TestValidateHandBuilt(t *testing.T) {
	base := func() *Config { c := NewConfig(); c.PDAddrs = []string{"pd:2379"}; return c }
	tests := []struct {
		name  string
		edit  func(c *Config)
		param string
	}{
		{"ok", func(c *Config) {}, ""},
		{"zero enums are defaults", func(c *Config) {
			c.Backend, c.Mode, c.TxnMode, c.ReplicaRead, c.Isolation, c.APIVersion = "", "", "", "", "", ""
			c.Table, c.MaxScan, c.DialTimeout = "", 0, 0
		}, ""},
		{"backend", func(c *Config) { c.Backend = "etcd" }, "scheme"},
		{"no pd", func(c *Config) { c.PDAddrs = nil }, "host"},
		{"bad pd", func(c *Config) { c.PDAddrs = []string{"a b:1"} }, "host"},
		{"memname on tikv", func(c *Config) { c.MemName = "x" }, "memName"},
		{"memory without name", func(c *Config) { c.Backend = BackendMemory; c.PDAddrs = nil }, "memName"},
		{"memory with pd", func(c *Config) { c.Backend = BackendMemory; c.MemName = "m" }, "host"},
		{"mode", func(c *Config) { c.Mode = "x" }, "mode"},
		{"keyspace", func(c *Config) { c.Keyspace = "a b"; c.APIVersion = APIV2 }, "keyspace"},
		{"keyspace v1", func(c *Config) { c.Keyspace = "ks" }, "apiVersion"},
		{"table", func(c *Config) { c.Table = "a-b" }, "table"},
		{"maxScan", func(c *Config) { c.MaxScan = -1 }, "maxScan"},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"lock kind", func(c *Config) { c.LockWait.Kind = 9 }, "lockWaitTimeout"},
		{"lock timeout", func(c *Config) { c.LockWait = LockWait{Kind: LockWaitTimeout} }, "lockWaitTimeout"},
		{"lock stray timeout", func(c *Config) { c.LockWait = LockWait{Timeout: 1} }, "lockWaitTimeout"},
		{"tls files without tls", func(c *Config) { c.TLSCA = "ca" }, "tls"},
		{"tls bad name", func(c *Config) { c.TLSConfig = "a b" }, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			err := c.Validate()
			if tt.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Param != tt.param {
				t.Fatalf("Validate = %v, want param %q", err, tt.param)
			}
		})
	}
}

func TestEffectiveDefaults(t *testing.T) {
	var c Config
	if c.EffectiveTable() != "kv" || c.EffectiveMaxScan() != DefaultMaxScan || c.EffectiveDialTimeout() != DefaultDialTimeout {
		t.Fatal("zero Config does not yield defaults")
	}
	c = Config{Table: "t", MaxScan: 3, DialTimeout: time.Second}
	if c.EffectiveTable() != "t" || c.EffectiveMaxScan() != 3 || c.EffectiveDialTimeout() != time.Second {
		t.Fatal("Effective* ignore set values")
	}
}

func TestLockWait(t *testing.T) {
	for _, s := range []string{"", "nowait", "forever", "2s"} {
		w, err := ParseLockWait(s)
		if err != nil || w.String() != s {
			t.Fatalf("ParseLockWait(%q) = %v, %v", s, w, err)
		}
	}
	if _, err := ParseLockWait("-1s"); err == nil {
		t.Fatal("negative lock wait accepted")
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Param: "p", Value: "v", Reason: "r", Err: errors.New("cause")}
	if e.Error() != `tikv dsn: p "v": r: cause` || e.Unwrap().Error() != "cause" {
		t.Fatalf("Error() = %q", e.Error())
	}
	if (&Error{Param: "p", Reason: "r"}).Error() != "tikv dsn: p: r" {
		t.Fatal("Error() without value")
	}
}

func TestFormatHostFallback(t *testing.T) {
	if formatHost("nohostport") != "nohostport" {
		t.Fatal("formatHost should return an unsplittable address as is")
	}
}
