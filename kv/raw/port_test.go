package raw_test

import (
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/memcluster"
)

// ports client-go rawkv_test.go TestScan: the same scan expectations hold before and
// after each of two splits (limits, bounded ranges, the "\x00" successor idiom).
func TestScanAcrossSplitsPort(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, nil)
		for _, k := range []string{"k1", "k3", "k5", "k7"} {
			if err := c.Put(ctx, []byte(p+k), []byte("v"+k[1:])); err != nil {
				t.Fatal(err)
			}
		}
		end := kv.Key(p).PrefixNext()
		scan := func(start, stop string, limit int, want ...string) {
			t.Helper()
			e := []byte(p + stop)
			if stop == "" {
				e = end
			}
			kvs, err := c.Scan(ctx, []byte(p+start), e, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(kvs) != len(want) {
				t.Fatalf("Scan(%q, %q, %d) = %d pairs, want %v", start, stop, limit, len(kvs), want)
			}
			for i, w := range want {
				if string(kvs[i].Key) != p+w || string(kvs[i].Value) != "v"+w[1:] {
					t.Fatalf("Scan(%q, %q, %d)[%d] = %q", start, stop, limit, i, kvs[i].Key)
				}
			}
			// ReverseScan of the same range returns the reverse of the full forward scan's tail.
			all, _ := c.Scan(ctx, []byte(p+start), e, 0)
			rev, err := c.ReverseScan(ctx, []byte(p+start), e, limit)
			if err != nil {
				t.Fatal(err)
			}
			for i := range rev {
				if string(rev[i].Key) != string(all[len(all)-1-i].Key) {
					t.Fatalf("ReverseScan(%q, %q, %d)[%d] = %q", start, stop, limit, i, rev[i].Key)
				}
			}
		}
		check := func() {
			scan("", "", 1, "k1")
			scan("k1", "", 2, "k1", "k3")
			scan("", "", 10, "k1", "k3", "k5", "k7")
			scan("k2", "", 2, "k3", "k5")
			scan("k2", "", 3, "k3", "k5", "k7")
			scan("", "k1", 1)
			scan("k1", "k3", 2, "k1")
			scan("k1", "k5", 10, "k1", "k3")
			scan("k1", "k5\x00", 10, "k1", "k3", "k5")
			scan("k5\x00", "k5\x00\x00", 10)
		}
		check()
		split(t, c, tg, p+"k2")
		check()
		split(t, c, tg, p+"k5")
		check()
	})
}

// ports client-go rawkv_test.go TestReplaceAddrWithNewStore: a store restarted on a new
// address is found again through PD, and requests keep working.
func TestStoreNewAddressPort(t *testing.T) {
	memTargets(t, memcluster.Options{Stores: 1}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, nil)
		k := []byte(p + "k")
		if err := c.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		id := tg.Mem.StoreIDs()[0]
		if err := tg.Mem.StopStore(id); err != nil {
			t.Fatal(err)
		}
		if err := tg.Mem.StartStore(id, true); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, k); err != nil || string(v) != "v" {
			t.Fatalf("Get after the store moved: %q, %v", v, err)
		}
		if err := c.Put(ctx, k, []byte("w")); err != nil {
			t.Fatal(err)
		}
	})
}
