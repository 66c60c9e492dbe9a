package conformance

import (
	"bytes"
	"fmt"
	"hash/crc64"
	"testing"
	"time"
)

func TestRawBasic(t *testing.T) {
	c, ctx, p := newRaw(t), ctxT(t), prefix(t)
	k := []byte(p + "k")
	must(t, c.Put(ctx, k, []byte("v1")), "put")
	v, err := c.Get(ctx, k)
	must(t, err, "get")
	if string(v) != "v1" {
		t.Fatalf("get = %q", v)
	}
	must(t, c.Delete(ctx, k), "delete")
	v, err = c.Get(ctx, k)
	must(t, err, "get after delete")
	if v != nil {
		t.Fatalf("get after delete = %q", v)
	}
	missing, err := c.Get(ctx, []byte(p+"missing"))
	must(t, err, "get missing")
	if missing != nil {
		t.Fatal("missing key found")
	}
}

// rawKeys writes n keys p+000..p+(n-1) with values v000.. and returns them.
func rawKeys(t *testing.T, n int, p string) (keys, vals [][]byte) {
	for i := 0; i < n; i++ {
		keys = append(keys, []byte(fmt.Sprintf("%s%03d", p, i)))
		vals = append(vals, []byte(fmt.Sprintf("v%03d", i)))
	}
	return keys, vals
}

func TestRawBatchScanDeleteRange(t *testing.T) {
	c, ctx, p := newRaw(t), ctxT(t), prefix(t)
	keys, vals := rawKeys(t, 50, p)
	must(t, c.BatchPut(ctx, keys, vals), "batch put")
	got, err := c.BatchGet(ctx, [][]byte{keys[3], []byte(p + "nope"), keys[40]})
	must(t, err, "batch get")
	if string(got[0]) != "v003" || got[1] != nil || string(got[2]) != "v040" {
		t.Fatalf("batch get = %q", got)
	}
	end := []byte(p + "~")
	ks, vs, err := c.Scan(ctx, keys[10], end, 15)
	must(t, err, "scan")
	if len(ks) != 15 || !bytes.Equal(ks[0], keys[10]) || !bytes.Equal(ks[14], keys[24]) || string(vs[14]) != "v024" {
		t.Fatalf("scan returned %d keys, first %q last %q", len(ks), ks[0], ks[len(ks)-1])
	}
	rks, _, err := c.ReverseScan(ctx, keys[10], []byte(p), 20)
	must(t, err, "reverse scan")
	if len(rks) != 10 || !bytes.Equal(rks[0], keys[9]) || !bytes.Equal(rks[9], keys[0]) {
		t.Fatalf("reverse scan returned %d keys", len(rks))
	}
	must(t, c.DeleteRange(ctx, keys[5], keys[45]), "delete range")
	ks, _, err = c.Scan(ctx, []byte(p), end, 100)
	must(t, err, "scan after delete range")
	if len(ks) != 10 {
		t.Fatalf("after delete range %d keys left, want 10", len(ks))
	}
	must(t, c.BatchDelete(ctx, keys[:5]), "batch delete")
	ks, _, err = c.Scan(ctx, []byte(p), end, 100)
	must(t, err, "scan after batch delete")
	if len(ks) != 5 {
		t.Fatalf("after batch delete %d keys left, want 5", len(ks))
	}
}

func TestRawCAS(t *testing.T) {
	c, ctx, p := newRaw(t), ctxT(t), prefix(t)
	c.SetAtomicForCAS(true)
	k := []byte(p + "cas")
	prev, ok, err := c.CompareAndSwap(ctx, k, nil, []byte("a"))
	must(t, err, "cas create")
	if !ok || prev != nil {
		t.Fatalf("cas create: ok=%v prev=%q", ok, prev)
	}
	prev, ok, err = c.CompareAndSwap(ctx, k, []byte("wrong"), []byte("b"))
	must(t, err, "cas mismatch")
	if ok || string(prev) != "a" {
		t.Fatalf("cas mismatch: ok=%v prev=%q", ok, prev)
	}
	_, ok, err = c.CompareAndSwap(ctx, k, []byte("a"), []byte("b"))
	must(t, err, "cas swap")
	v, _ := c.Get(ctx, k)
	if !ok || string(v) != "b" {
		t.Fatalf("cas swap: ok=%v value=%q", ok, v)
	}
}

func TestRawTTL(t *testing.T) {
	c, ctx, p := newRaw(t), ctxT(t), prefix(t)
	k := []byte(p + "ttl")
	must(t, c.PutWithTTL(ctx, k, []byte("v"), 2), "put with ttl")
	ttl, err := c.GetKeyTTL(ctx, k)
	must(t, err, "get ttl")
	if ttl == nil || *ttl == 0 || *ttl > 2 {
		t.Fatalf("ttl = %v", ttl)
	}
	time.Sleep(2100 * time.Millisecond)
	v, err := c.Get(ctx, k)
	must(t, err, "get after ttl")
	if v != nil {
		t.Fatalf("value visible after TTL: %q", v)
	}
}

func TestRawChecksum(t *testing.T) {
	c, ctx, p := newRaw(t), ctxT(t), prefix(t)
	keys, vals := rawKeys(t, 30, p)
	must(t, c.BatchPut(ctx, keys, vals), "batch put")
	var want, wantBytes uint64
	table := crc64.MakeTable(crc64.ECMA)
	for i := range keys {
		d := crc64.New(table)
		d.Write(keys[i])
		d.Write(vals[i])
		want ^= d.Sum64()
		wantBytes += uint64(len(keys[i]) + len(vals[i]))
	}
	sum, err := c.Checksum(ctx, []byte(p), []byte(p+"~"))
	must(t, err, "checksum")
	if sum.Crc64Xor != want || sum.TotalKvs != 30 || sum.TotalBytes != wantBytes {
		t.Fatalf("checksum = %+v, want crc %d kvs 30 bytes %d", sum, want, wantBytes)
	}
}
