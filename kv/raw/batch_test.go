package raw_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// ports client-go rawkv_test.go TestBatchGet/TestBatch (batch put, get, delete across
// regions, results aligned with the input).
func TestBatchOps(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.MaxBatchKeys = 7 })
		split(t, c, tg, p+"k030", p+"k060", p+"k090")
		var keys, values [][]byte
		for i := range 120 {
			keys = append(keys, fmt.Appendf(nil, "%sk%03d", p, i))
			values = append(values, fmt.Appendf(nil, "v%d", i))
		}
		values[5] = []byte{} // an empty value survives the batch path
		if err := c.BatchPut(ctx, keys, values); err != nil {
			t.Fatal(err)
		}
		// Unsorted, with duplicates and missing keys.
		query := [][]byte{keys[100], []byte(p + "missing"), keys[3], keys[100], keys[5], keys[61]}
		got, err := c.BatchGet(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		want := [][]byte{values[100], nil, values[3], values[100], {}, values[61]}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
				t.Fatalf("BatchGet[%d] = %#v, want %#v", i, got[i], want[i])
			}
		}
		all, err := c.BatchGet(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if !bytes.Equal(all[i], values[i]) {
				t.Fatalf("key %s = %q", keys[i], all[i])
			}
		}
		if err := c.BatchDelete(ctx, keys[10:110]); err != nil {
			t.Fatal(err)
		}
		all, err = c.BatchGet(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if deleted := i >= 10 && i < 110; deleted != (all[i] == nil) {
				t.Fatalf("key %s after BatchDelete = %q", keys[i], all[i])
			}
		}
		// Empty inputs are no-ops.
		if got, err := c.BatchGet(ctx, nil); err != nil || len(got) != 0 {
			t.Fatal(got, err)
		}
		if err := c.BatchPut(ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.BatchDelete(ctx, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// A repeated key in one BatchPut ends with its last value.
func TestBatchPutDuplicateLastWins(t *testing.T) {
	each(t, memcluster.Options{}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.MaxBatchKeys = 2 })
		k := []byte(p + "dup")
		keys := [][]byte{k, []byte(p + "a"), k, []byte(p + "b"), k}
		vals := [][]byte{[]byte("1"), []byte("a"), []byte("2"), []byte("b"), []byte("3")}
		if err := c.BatchPut(ctx, keys, vals); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, k); err != nil || string(v) != "3" {
			t.Fatalf("dup = %q, %v", v, err)
		}
	})
}

// ports client-go rawkv_test.go TestColumnFamilyForClient/TestColumnFamilyForOptions: the
// client's default column family and a per-call one are separate spaces.
func TestColumnFamilies(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	ctx, p := testCtx(t), prefix(t)
	cw := open(t, tg, func(cfg *raw.Config) { cfg.ColumnFamily = "write" })
	cd := open(t, tg, nil)
	k := []byte(p + "k")
	if err := cw.Put(ctx, k, []byte("in-write")); err != nil {
		t.Fatal(err)
	}
	if err := cd.Put(ctx, k, []byte("in-default")); err != nil {
		t.Fatal(err)
	}
	if v, _ := cw.Get(ctx, k); string(v) != "in-write" {
		t.Fatalf("write cf = %q", v)
	}
	if v, _ := cd.Get(ctx, k, raw.WithColumnFamily("write")); string(v) != "in-write" {
		t.Fatalf("per-call write cf = %q", v)
	}
	if v, _ := cw.Get(ctx, k, raw.WithColumnFamily("default")); string(v) != "in-default" {
		t.Fatalf("per-call default cf = %q", v)
	}
	if err := cd.BatchPut(ctx, [][]byte{k}, [][]byte{[]byte("lock")}, raw.WithColumnFamily("lock")); err != nil {
		t.Fatal(err)
	}
	if vs, _ := cd.BatchGet(ctx, [][]byte{k}, raw.WithColumnFamily("lock")); string(vs[0]) != "lock" {
		t.Fatalf("lock cf = %q", vs[0])
	}
	kvs, err := cw.Scan(ctx, []byte(p), nil, 10)
	if err != nil || len(kvs) != 1 || string(kvs[0].Value) != "in-write" {
		t.Fatalf("scan write cf = %v, %v", kvs, err)
	}
	if err := cd.BatchDelete(ctx, [][]byte{k}, raw.WithColumnFamily("lock")); err != nil {
		t.Fatal(err)
	}
	if err := cw.DeleteRange(ctx, []byte(p), nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := cd.Get(ctx, k); string(v) != "in-default" {
		t.Fatalf("default cf after deleting the write cf = %q", v)
	}
}

// A 100 MB BatchPut succeeds because it is cut into RPCs below MaxBatchBytes.
func TestBatchPutLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	ctx, p := testCtx(t), prefix(t)
	c := open(t, tg, nil)
	split(t, c, tg, p+"k0250", p+"k0500", p+"k0750")
	var mu sync.Mutex
	rpcs, maxBytes := 0, 0
	defer tg.Mem.AddHook(func(_ context.Context, req *memcluster.Request) *memcluster.Fault {
		if b, ok := req.Body.(*kvrpcpb.RawBatchPutRequest); ok {
			n := 0
			for _, pr := range b.Pairs {
				n += len(pr.Key) + len(pr.Value)
			}
			mu.Lock()
			rpcs++
			maxBytes = max(maxBytes, n)
			mu.Unlock()
		}
		return nil
	})()
	const n, size = 1000, 100 << 10
	value := bytes.Repeat([]byte("v"), size) // shared: the client does not retain values
	keys, values := make([][]byte, n), make([][]byte, n)
	for i := range n {
		keys[i] = fmt.Appendf(nil, "%sk%04d", p, i)
		values[i] = value
	}
	if err := c.BatchPut(ctx, keys, values); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxBytes > raw.DefaultMaxBatchBytes || rpcs < n*size/raw.DefaultMaxBatchBytes {
		t.Fatalf("%d RPCs, largest %d bytes: not split below %d", rpcs, maxBytes, raw.DefaultMaxBatchBytes)
	}
	t.Logf("%d RPCs, largest %d bytes", rpcs, maxBytes)
	sum, err := c.Checksum(ctx, []byte(p), nil)
	if err != nil || sum.TotalKVs != n {
		t.Fatalf("checksum after large put = %+v, %v", sum, err)
	}
}
