package memcluster

import (
	"hash/crc64"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// fakeClock is an injectable clock for TTL tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func pairs(kv ...string) []*kvrpcpb.KvPair {
	var out []*kvrpcpb.KvPair
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &kvrpcpb.KvPair{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return out
}

func TestRawTTL(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r := newRawStore(clk.Now)
	r.Put("", pairs("a", "1", "b", "2"), []uint64{10})
	r.Put("", pairs("c", "3"), nil)
	if ttl, ok := r.TTL("", []byte("a")); !ok || ttl != 10 {
		t.Fatalf("ttl %d %v", ttl, ok)
	}
	if ttl, ok := r.TTL("", []byte("c")); !ok || ttl != 0 {
		t.Fatalf("no-ttl key: %d %v", ttl, ok)
	}
	clk.Advance(4500 * time.Millisecond)
	if ttl, _ := r.TTL("", []byte("a")); ttl != 6 {
		t.Fatalf("remaining ttl rounds up: %d", ttl)
	}
	clk.Advance(6 * time.Second)
	if _, ok := r.Get("", []byte("a")); ok {
		t.Fatal("expired key is still visible")
	}
	if _, ok := r.TTL("", []byte("b")); ok {
		t.Fatal("expired key has a ttl")
	}
	if got := r.Scan("", nil, nil, 10, false, false); len(got) != 1 || string(got[0].Key) != "c" {
		t.Fatalf("scan must skip expired keys: %v", got)
	}
}

func TestRawOpsAndColumnFamilies(t *testing.T) {
	r := newRawStore(time.Now)
	r.Put("", pairs("a", "1", "b", "2", "c", "3", "d", "4"), nil)
	r.Put("write", pairs("a", "w"), nil)
	if v, _ := r.Get("write", []byte("a")); string(v) != "w" {
		t.Fatal("column families are separate")
	}
	if v, _ := r.Get("default", []byte("a")); string(v) != "1" {
		t.Fatal("empty cf is default")
	}
	if got := r.BatchGet("", keys("a", "x", "c")); len(got) != 2 {
		t.Fatalf("%v", got)
	}
	scan := func(start, end string, limit int, reverse bool) string {
		s := ""
		for _, p := range r.Scan("", []byte(start), []byte(end), limit, true, reverse) {
			s += string(p.Key)
		}
		return s
	}
	for _, c := range []struct {
		start, end string
		limit      int
		reverse    bool
		want       string
	}{{"", "", 10, false, "abcd"}, {"b", "d", 10, false, "bc"}, {"", "", 2, true, "dc"}, {"b", "d", 10, true, "cb"}, {"", "", 0, false, ""}} {
		if got := scan(c.start, c.end, c.limit, c.reverse); got != c.want {
			t.Errorf("%+v: got %q", c, got)
		}
	}
	r.Delete("", keys("a"))
	r.DeleteRange("", []byte("b"), []byte("d"))
	if got := scan("", "", 10, false); got != "d" {
		t.Fatalf("after deletes: %q", got)
	}
}

func TestRawCAS(t *testing.T) {
	r := newRawStore(time.Now)
	cases := []struct {
		req      *kvrpcpb.RawCASRequest
		ok, prev bool
		want     string
	}{
		{&kvrpcpb.RawCASRequest{Key: []byte("k"), Value: []byte("1"), PreviousNotExist: true}, true, true, "1"},
		{&kvrpcpb.RawCASRequest{Key: []byte("k"), Value: []byte("2"), PreviousNotExist: true}, false, false, "1"},
		{&kvrpcpb.RawCASRequest{Key: []byte("k"), Value: []byte("2"), PreviousValue: []byte("x")}, false, false, "1"},
		{&kvrpcpb.RawCASRequest{Key: []byte("k"), Value: []byte("2"), PreviousValue: []byte("1")}, true, false, "2"},
		{&kvrpcpb.RawCASRequest{Key: []byte("k"), Delete: true, PreviousValue: []byte("2")}, true, false, ""},
	}
	for i, c := range cases {
		ok, prevNotExist, _ := r.CompareAndSwap(c.req)
		v, _ := r.Get("", []byte("k"))
		if ok != c.ok || prevNotExist != c.prev || string(v) != c.want {
			t.Fatalf("case %d: ok=%v prevNotExist=%v value=%q", i, ok, prevNotExist, v)
		}
	}
}

// client-go: rawkv/rawkv_test.go TestRawChecksum (the expected value is computed the same way)
func TestRawChecksum(t *testing.T) {
	r := newRawStore(time.Now)
	kv := pairs("db1", "v1", "db2", "value2", "zz", "outside")
	r.Put("", kv, nil)
	var want, n, size uint64
	for _, p := range kv[:2] {
		d := crc64.New(crc64.MakeTable(crc64.ECMA))
		d.Write(p.Key)
		d.Write(p.Value)
		want ^= d.Sum64()
		n++
		size += uint64(len(p.Key) + len(p.Value))
	}
	crc, kvs, bytes := r.Checksum([]*kvrpcpb.KeyRange{{StartKey: []byte("db"), EndKey: []byte("dc")}})
	if crc != want || kvs != n || bytes != size {
		t.Fatalf("got %x %d %d, want %x %d %d", crc, kvs, bytes, want, n, size)
	}
}
