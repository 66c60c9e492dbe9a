package raw_test

import (
	"errors"
	"fmt"
	"hash/crc64"
	"slices"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// fill writes p+"k000".."k(n-1)" with values "v<i>" over regions split every 25 keys.
func fill(t *testing.T, c *raw.Client, tg testcluster.Target, p string, n int) (keys [][]byte) {
	t.Helper()
	var splits []string
	vals := make([][]byte, n)
	for i := range n {
		keys = append(keys, fmt.Appendf(nil, "%sk%03d", p, i))
		vals[i] = fmt.Appendf(nil, "v%d", i)
		if i > 0 && i%25 == 0 {
			splits = append(splits, string(keys[i]))
		}
	}
	split(t, c, tg, splits...)
	checkClipped(t, tg)
	if tg.Mem != nil && len(tg.Mem.Regions()) <= len(splits) {
		t.Fatalf("%d regions after %d splits", len(tg.Mem.Regions()), len(splits))
	}
	if err := c.BatchPut(testCtx(t), keys, vals); err != nil {
		t.Fatal(err)
	}
	return keys
}

func key(p string, i int) []byte { return fmt.Appendf(nil, "%sk%03d", p, i) }

// checkKVs checks that kvs are keys from..to (step ±1) of p with their values.
func checkKVs(t *testing.T, what string, kvs []kv.KeyValue, p string, from, to int, keyOnly bool) {
	t.Helper()
	step := 1
	if to < from {
		step = -1
	}
	n := (to-from)*step + 1
	if len(kvs) != n {
		t.Fatalf("%s: %d pairs, want %d", what, len(kvs), n)
	}
	for j, i := 0, from; j < n; j, i = j+1, i+step {
		if string(kvs[j].Key) != string(key(p, i)) {
			t.Fatalf("%s: pair %d key %q, want %q", what, j, kvs[j].Key, key(p, i))
		}
		if keyOnly && kvs[j].Value != nil || !keyOnly && string(kvs[j].Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("%s: pair %d value %q", what, j, kvs[j].Value)
		}
	}
}

// ports client-go rawkv_test.go TestScan/TestReverseScan and api_test's scan cases: scans
// in both directions over several regions, with limits, key-only and small RPC batches.
func TestScanMultiRegion(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.ScanBatchSize = 7 })
		fill(t, c, tg, p, 100)
		end := kv.Key(p).PrefixNext()

		kvs, err := c.Scan(ctx, []byte(p), end, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkKVs(t, "scan all", kvs, p, 0, 99, false)
		kvs, _ = c.Scan(ctx, key(p, 20), key(p, 80), 0)
		checkKVs(t, "scan [20,80)", kvs, p, 20, 79, false)
		kvs, _ = c.Scan(ctx, key(p, 20), key(p, 80), 10)
		checkKVs(t, "scan limit", kvs, p, 20, 29, false)
		kvs, _ = c.Scan(ctx, key(p, 20), nil, 33)
		checkKVs(t, "scan open end", kvs, p, 20, 52, false)
		kvs, _ = c.Scan(ctx, key(p, 20), key(p, 80), 0, raw.WithKeyOnly())
		checkKVs(t, "scan key-only", kvs, p, 20, 79, true)

		kvs, err = c.ReverseScan(ctx, []byte(p), end, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkKVs(t, "reverse all", kvs, p, 99, 0, false)
		kvs, _ = c.ReverseScan(ctx, key(p, 20), key(p, 80), 0)
		checkKVs(t, "reverse [20,80)", kvs, p, 79, 20, false)
		kvs, _ = c.ReverseScan(ctx, key(p, 20), key(p, 80), 31)
		checkKVs(t, "reverse limit", kvs, p, 79, 49, false)
		kvs, _ = c.ReverseScan(ctx, key(p, 20), key(p, 80), 0, raw.WithKeyOnly())
		checkKVs(t, "reverse key-only", kvs, p, 79, 20, true)
		kvs, _ = c.ReverseScan(ctx, key(p, 25), key(p, 26), 0) // exactly a region start
		checkKVs(t, "reverse one", kvs, p, 25, 25, false)

		for _, r := range [][2][]byte{{key(p, 50), key(p, 50)}, {end, nil}} {
			if kvs, err := c.Scan(ctx, r[0], r[1], 0); err != nil || len(kvs) != 0 {
				if tg.Mem != nil || len(r[1]) > 0 { // a shared cluster may hold later keys
					t.Fatalf("empty range %q: %v, %v", r, kvs, err)
				}
			}
		}
		if tg.Name == "memory-v2" { // the keyspace holds only this test's keys
			kvs, err = c.ReverseScan(ctx, nil, nil, 3)
			if err != nil {
				t.Fatal(err)
			}
			checkKVs(t, "reverse from the keyspace end", kvs, p, 99, 97, false)
			kvs, _ = c.Scan(ctx, nil, nil, 0)
			checkKVs(t, "whole keyspace", kvs, p, 0, 99, false)
		}
	})
}

// Scans never truncate silently: more than MaxScan pairs is kv.ErrScanLimitExceeded.
func TestScanLimitExceeded(t *testing.T) {
	each(t, memcluster.Options{}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.MaxScan = 50; cfg.ScanBatchSize = 16 })
		fill(t, c, tg, p, 60)
		end := kv.Key(p).PrefixNext()
		for name, f := range map[string]func() error{
			"scan all":    func() error { _, err := c.Scan(ctx, []byte(p), end, 0); return err },
			"reverse all": func() error { _, err := c.ReverseScan(ctx, []byte(p), end, -1); return err },
			"limit above": func() error { _, err := c.Scan(ctx, []byte(p), end, 51); return err },
		} {
			if err := f(); !errors.Is(err, kv.ErrScanLimitExceeded) {
				t.Errorf("%s: %v, want ErrScanLimitExceeded", name, err)
			}
		}
		kvs, err := c.Scan(ctx, []byte(p), end, 50)
		checkKVs(t, "limit = MaxScan", kvs, p, 0, 49, false)
		if err != nil {
			t.Fatal(err)
		}
		kvs, err = c.ReverseScan(ctx, key(p, 10), end, 0) // exactly MaxScan pairs
		if err != nil {
			t.Fatal(err)
		}
		checkKVs(t, "exactly MaxScan", kvs, p, 59, 10, false)
	})
}

func collectIter(t *testing.T, it *raw.Iterator) []kv.KeyValue {
	t.Helper()
	defer it.Close()
	var out []kv.KeyValue
	for it.Next() {
		out = append(out, kv.KeyValue{Key: it.Key(), Value: it.Value()})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if it.Next() || it.Key() != nil || it.Value() != nil {
		t.Fatal("iterator moves after its end")
	}
	return out
}

// The iterator streams across regions in both directions with bounded prefetch, and
// Close stops it early (goleak in TestMain proves no goroutine is left).
func TestIterator(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.ScanBatchSize = 6; cfg.MaxScan = 10 })
		fill(t, c, tg, p, 100)
		end := kv.Key(p).PrefixNext()
		checkKVs(t, "iter", collectIter(t, c.Iter(ctx, []byte(p), end)), p, 0, 99, false)
		checkKVs(t, "iter reverse", collectIter(t, c.Iter(ctx, []byte(p), end, raw.WithReverse())), p, 99, 0, false)
		checkKVs(t, "iter sub-range", collectIter(t, c.Iter(ctx, key(p, 24), key(p, 51))), p, 24, 50, false)
		checkKVs(t, "iter reverse key-only",
			collectIter(t, c.Iter(ctx, key(p, 24), key(p, 51), raw.WithReverse(), raw.WithKeyOnly())), p, 50, 24, true)
		if got := collectIter(t, c.Iter(ctx, key(p, 5), key(p, 5))); len(got) != 0 {
			t.Fatalf("empty range: %v", got)
		}

		it := c.Iter(ctx, []byte(p), end)
		for range 8 {
			if !it.Next() {
				t.Fatal(it.Err())
			}
		}
		if string(it.Key()) != string(key(p, 7)) {
			t.Fatalf("8th key %q", it.Key())
		}
		it.Close()
		it.Close()
		if it.Next() || it.Err() != nil {
			t.Fatal("Next after Close")
		}
	})
}

// ports client-go rawkv_test.go TestDeleteRange (multi-region, and an empty range).
func TestDeleteRange(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, nil)
		fill(t, c, tg, p, 100)
		end := kv.Key(p).PrefixNext()
		if err := c.DeleteRange(ctx, key(p, 40), key(p, 40)); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteRange(ctx, key(p, 10), key(p, 90)); err != nil {
			t.Fatal(err)
		}
		kvs, err := c.Scan(ctx, []byte(p), end, 0)
		if err != nil || len(kvs) != 20 || string(kvs[9].Key) != string(key(p, 9)) || string(kvs[10].Key) != string(key(p, 90)) {
			t.Fatalf("after DeleteRange: %d pairs, %v", len(kvs), err)
		}
		if err := c.DeleteRange(ctx, []byte(p), end); err != nil {
			t.Fatal(err)
		}
		if kvs, err := c.Scan(ctx, []byte(p), end, 0); err != nil || len(kvs) != 0 {
			t.Fatalf("after deleting everything: %v, %v", kvs, err)
		}
		if tg.Mem != nil {
			fill(t, c, tg, p, 30)
			if err := c.DeleteRange(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			if kvs, err := c.Scan(ctx, nil, nil, 0); err != nil || len(kvs) != 0 {
				t.Fatalf("after DeleteRange(nil, nil): %v, %v", kvs, err)
			}
		}
	})
}

// ports client-go rawkv_test.go TestRawChecksum: the merged checksum equals the one
// computed here from the data written, as TiKV computes it: CRC64-ECMA over the wire key
// (keyspace prefix included) followed by the value, XOR-folded.
func TestChecksum(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, nil)
		keys := fill(t, c, tg, p, 100)
		var want raw.Checksum
		table := crc64.MakeTable(crc64.ECMA)
		for i, k := range keys[:90] {
			wire := c.Cluster().Codec().EncodeKey(k)
			v := fmt.Appendf(nil, "v%d", i)
			want.Crc64Xor ^= crc64.Checksum(slices.Concat(wire, v), table)
			want.TotalKVs++
			want.TotalBytes += uint64(len(wire) + len(v))
		}
		got, err := c.Checksum(ctx, []byte(p), key(p, 90))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("checksum = %+v, want %+v", got, want)
		}
		if got, err := c.Checksum(ctx, key(p, 5), key(p, 5)); err != nil || got != (raw.Checksum{}) {
			t.Fatalf("empty range checksum = %+v, %v", got, err)
		}
	})
}
