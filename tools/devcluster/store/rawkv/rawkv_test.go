package rawkv

import (
	"bytes"
	"fmt"
	"hash/crc64"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// fakeClock is a settable clock for TTL tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func whole() Bounds { return Bounds{Region: &metapb.Region{Id: 1}} }

func span(start, end string) Bounds {
	return Bounds{Region: &metapb.Region{Id: 2, StartKey: []byte(start), EndKey: []byte(end)}}
}

func put(t *testing.T, s *Store, b Bounds, k, v string, ttl uint64) {
	t.Helper()
	resp := s.Put(b, &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte(v), Ttl: ttl})
	if resp.RegionError != nil || resp.Error != "" {
		t.Fatalf("put %q: %v %s", k, resp.RegionError, resp.Error)
	}
}

func keysOf(pairs []*kvrpcpb.KvPair) string {
	var buf bytes.Buffer
	for _, p := range pairs {
		buf.Write(p.Key)
		buf.WriteByte(' ')
	}
	return buf.String()
}

func TestTTLExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s := New(clk.now)
	put(t, s, whole(), "a", "1", 10)
	put(t, s, whole(), "b", "2", 0)

	ttl := s.GetKeyTTL(whole(), &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("a")})
	if ttl.NotFound || ttl.Ttl != 10 {
		t.Fatalf("ttl of a = %d (notFound %v), want 10", ttl.Ttl, ttl.NotFound)
	}
	clk.advance(4*time.Second + time.Millisecond)
	if got := s.GetKeyTTL(whole(), &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("a")}).Ttl; got != 6 {
		t.Fatalf("ttl after 4s = %d, want 6 (rounded up)", got)
	}
	if got := s.GetKeyTTL(whole(), &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("b")}); got.NotFound || got.Ttl != 0 {
		t.Fatalf("key without TTL: %+v", got)
	}
	clk.advance(6 * time.Second)
	if !s.Get(whole(), &kvrpcpb.RawGetRequest{Key: []byte("a")}).NotFound {
		t.Fatal("a visible after its TTL")
	}
	if !s.GetKeyTTL(whole(), &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("a")}).NotFound {
		t.Fatal("TTL of an expired key reported")
	}
	scan := s.Scan(whole(), &kvrpcpb.RawScanRequest{Limit: 10})
	if got := keysOf(scan.Kvs); got != "b " {
		t.Fatalf("scan after expiry = %q", got)
	}
	if n := s.Purge(); n != 1 || s.Len() != 1 {
		t.Fatalf("purge removed %d, %d left", n, s.Len())
	}
}

func TestBatchPutTTLs(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s := New(clk.now)
	req := &kvrpcpb.RawBatchPutRequest{
		Pairs: []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}},
		Ttls:  []uint64{1, 100},
	}
	if r := s.BatchPut(whole(), req); r.Error != "" {
		t.Fatal(r.Error)
	}
	clk.advance(2 * time.Second)
	got := s.BatchGet(whole(), &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("a"), []byte("b")}})
	if keysOf(got.Pairs) != "b " {
		t.Fatalf("batch get = %q, want only b", keysOf(got.Pairs))
	}
	bad := &kvrpcpb.RawBatchPutRequest{Pairs: req.Pairs, Ttls: []uint64{1, 2, 3}}
	if s.BatchPut(whole(), bad).Error == "" {
		t.Fatal("mismatched TTL count accepted")
	}
}

func TestCompareAndSwap(t *testing.T) {
	s := New(nil)
	cas := func(prevNotExist bool, prev, val string) *kvrpcpb.RawCASResponse {
		return s.CompareAndSwap(whole(), &kvrpcpb.RawCASRequest{
			Key: []byte("k"), Value: []byte(val), PreviousNotExist: prevNotExist, PreviousValue: []byte(prev),
		})
	}
	if r := cas(true, "", "v1"); !r.Succeed || !r.PreviousNotExist {
		t.Fatalf("create: %+v", r)
	}
	if r := cas(true, "", "v2"); r.Succeed || r.PreviousNotExist || string(r.PreviousValue) != "v1" {
		t.Fatalf("create over existing: %+v", r)
	}
	if r := cas(false, "wrong", "v2"); r.Succeed || string(r.PreviousValue) != "v1" {
		t.Fatalf("swap with wrong previous: %+v", r)
	}
	if r := cas(false, "v1", "v2"); !r.Succeed || string(r.PreviousValue) != "v1" {
		t.Fatalf("swap: %+v", r)
	}
	if v := s.Get(whole(), &kvrpcpb.RawGetRequest{Key: []byte("k")}).Value; string(v) != "v2" {
		t.Fatalf("value after swap = %q", v)
	}
	s.Delete(whole(), &kvrpcpb.RawDeleteRequest{Key: []byte("k")})
	if r := cas(false, "v2", "v3"); r.Succeed || !r.PreviousNotExist {
		t.Fatalf("swap on deleted key: %+v", r)
	}
}

func TestCASConcurrentIncrements(t *testing.T) {
	s := New(nil)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				cur := s.Get(whole(), &kvrpcpb.RawGetRequest{Key: []byte("n")})
				n := 0
				if !cur.NotFound {
					_, _ = fmt.Sscan(string(cur.Value), &n)
				}
				r := s.CompareAndSwap(whole(), &kvrpcpb.RawCASRequest{
					Key: []byte("n"), Value: []byte(fmt.Sprint(n + 1)),
					PreviousNotExist: cur.NotFound, PreviousValue: cur.Value,
				})
				if r.Succeed {
					i++
				}
			}
		}()
	}
	wg.Wait()
	if v := string(s.Get(whole(), &kvrpcpb.RawGetRequest{Key: []byte("n")}).Value); v != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d", v, workers*each)
	}
}

func TestChecksum(t *testing.T) {
	s := New(nil)
	pairs := map[string]string{"a": "1", "b": "22", "c": "333", "d": ""}
	for k, v := range pairs {
		put(t, s, whole(), k, v, 0)
	}
	var want, bytesWant uint64
	for _, k := range []string{"b", "c"} {
		d := crc64.New(crc64.MakeTable(crc64.ECMA))
		d.Write([]byte(k))
		d.Write([]byte(pairs[k]))
		want ^= d.Sum64()
		bytesWant += uint64(len(k) + len(pairs[k]))
	}
	r := s.Checksum(whole(), &kvrpcpb.RawChecksumRequest{
		Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("b"), EndKey: []byte("d")}},
	})
	if r.Error != "" || r.Checksum != want || r.TotalKvs != 2 || r.TotalBytes != bytesWant {
		t.Fatalf("checksum = %+v, want %d/2/%d", r, want, bytesWant)
	}
	// Clipped to the region even when the range is wider.
	r = s.Checksum(span("c", ""), &kvrpcpb.RawChecksumRequest{Ranges: []*kvrpcpb.KeyRange{{}}})
	if r.TotalKvs != 2 {
		t.Fatalf("checksum over region [c,) counted %d pairs, want 2", r.TotalKvs)
	}
}

func TestRegionBoundaries(t *testing.T) {
	s := New(nil)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		put(t, s, whole(), k, "v", 0)
	}
	b := span("b", "d")
	if r := s.Get(b, &kvrpcpb.RawGetRequest{Key: []byte("d")}); r.RegionError.GetKeyNotInRegion() == nil {
		t.Fatalf("get of end key: %+v", r)
	}
	if r := s.Put(b, &kvrpcpb.RawPutRequest{Key: []byte("a")}); r.RegionError.GetKeyNotInRegion() == nil {
		t.Fatalf("put before start: %+v", r)
	}
	if r := s.BatchGet(b, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("b"), []byte("e")}}); r.RegionError == nil {
		t.Fatal("batch get with a key outside the region accepted")
	}
	if got := keysOf(s.Scan(b, &kvrpcpb.RawScanRequest{Limit: 10}).Kvs); got != "b c " {
		t.Fatalf("forward scan = %q", got)
	}
	if got := keysOf(s.Scan(b, &kvrpcpb.RawScanRequest{Limit: 10, Reverse: true}).Kvs); got != "c b " {
		t.Fatalf("reverse scan = %q", got)
	}
	rev := &kvrpcpb.RawScanRequest{StartKey: []byte("c"), EndKey: []byte("a"), Limit: 10, Reverse: true}
	if got := keysOf(s.Scan(b, rev).Kvs); got != "b " {
		t.Fatalf("reverse scan [a,c) in [b,d) = %q", got)
	}
	if got := keysOf(s.Scan(whole(), &kvrpcpb.RawScanRequest{StartKey: []byte("b"), Limit: 2}).Kvs); got != "b c " {
		t.Fatalf("limited scan = %q", got)
	}
	bs := s.BatchScan(whole(), &kvrpcpb.RawBatchScanRequest{EachLimit: 1, Ranges: []*kvrpcpb.KeyRange{
		{StartKey: []byte("a"), EndKey: []byte("c")}, {StartKey: []byte("d")},
	}})
	if got := keysOf(bs.Kvs); got != "a d " {
		t.Fatalf("batch scan = %q", got)
	}
	s.DeleteRange(b, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("b"), EndKey: []byte("z")})
	if got := keysOf(s.Scan(whole(), &kvrpcpb.RawScanRequest{Limit: 10}).Kvs); got != "a d e " {
		t.Fatalf("after delete range clipped to [b,d): %q", got)
	}
}

func TestAPIV2Boundaries(t *testing.T) {
	s := New(nil)
	keys := []string{"r\x00\x00\x01a", "r\x00\x00\x01b", "r\x00\x00\x02a"}
	for _, k := range keys {
		put(t, s, whole(), k, "v", 0)
	}
	// Region of keyspace 1 in the memcomparable region key space.
	b := Bounds{V2: true, Region: &metapb.Region{
		Id: 3, StartKey: EncodeBytes([]byte("r\x00\x00\x01")), EndKey: EncodeBytes([]byte("r\x00\x00\x02")),
	}}
	if got := keysOf(s.Scan(b, &kvrpcpb.RawScanRequest{Limit: 10}).Kvs); got != keys[0]+" "+keys[1]+" " {
		t.Fatalf("v2 scan = %q", got)
	}
	if r := s.Get(b, &kvrpcpb.RawGetRequest{Key: []byte(keys[2])}); r.RegionError == nil {
		t.Fatal("v2 key of another keyspace accepted")
	}
}

func TestEncodeDecodeBytes(t *testing.T) {
	for _, k := range []string{"", "a", "12345678", "123456789", "\x00\xff\x00"} {
		enc := EncodeBytes([]byte(k))
		if len(enc)%9 != 0 {
			t.Fatalf("encoding of %q has length %d", k, len(enc))
		}
		dec, ok := DecodeBytes(enc)
		if !ok || string(dec) != k {
			t.Fatalf("round trip of %q = %q, %v", k, dec, ok)
		}
	}
	if bytes.Compare(EncodeBytes([]byte("a")), EncodeBytes([]byte("a\x00"))) >= 0 {
		t.Fatal("encoding does not preserve order")
	}
	if _, ok := DecodeBytes([]byte("short")); ok {
		t.Fatal("decoded a truncated key")
	}
}
