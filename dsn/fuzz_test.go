package dsn

import (
	"reflect"
	"testing"
)

// FuzzDSN checks that FormatDSN∘ParseDSN is a fixed point and that a formatted DSN
// parses back to the same Config.
func FuzzDSN(f *testing.F) {
	for _, s := range []string{
		"tikv://pd1:2379,pd2:2379/ks?txnMode=pessimistic&asyncCommit=true",
		"tikv://[::1]:2379,[fe80::1%25eth0]:2379",
		"memory://m/ks?mode=raw&atomic=true&lockWaitTimeout=1s",
		"tikv://pd?tlsCA=ca&tlsCert=c&tlsKey=k&tls=skip-verify&table=t&maxScan=7",
		"tikv://pd?requestSource=a%20b&resourceGroup=%2F&staleRead=1h&timeout=1ns&dialTimeout=2s",
		"tikv://a:1?apiVersion=v2&replicaRead=mixed&isolation=repeatableRead&tls=name",
		"tikv://user:pw@pd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseDSN(s)
		if err != nil {
			return
		}
		f1 := c.FormatDSN()
		c2, err := ParseDSN(f1)
		if err != nil {
			t.Fatalf("ParseDSN(FormatDSN(ParseDSN(%q))) = %q: %v", s, f1, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip of %q via %q:\n got %#v\nwant %#v", s, f1, c2, c)
		}
		if f2 := c2.FormatDSN(); f2 != f1 {
			t.Fatalf("not a fixed point: %q -> %q", f1, f2)
		}
		_ = c.Redacted()
	})
}
