package memcluster

import "testing"

func TestRegistrySharesAndReleases(t *testing.T) {
	a, err := Open("reg-test", Options{Stores: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open("reg-test", Options{Stores: 5})
	if err != nil {
		t.Fatal(err)
	}
	if a.Cluster != b.Cluster || len(b.StoreIDs()) != 2 {
		t.Fatal("one name must give one cluster, created with the first options")
	}
	other, err := Open("reg-other", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Cluster == a.Cluster {
		t.Fatal("different names must give different clusters")
	}
	a.raw.Put("", pairs("k", "v"), nil)
	a.Close()
	a.Close() // idempotent: must not drop b's reference
	if v, ok := b.raw.Get("", []byte("k")); !ok || string(v) != "v" {
		t.Fatal("cluster closed while referenced")
	}
	b.Close()
	c, err := Open("reg-test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.raw.Get("", []byte("k")); ok {
		t.Fatal("a reopened name must start empty")
	}
}
