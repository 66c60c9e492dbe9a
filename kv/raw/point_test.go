package raw_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// ports client-go rawkv_test.go TestSimple (put, get, delete; missing keys).
func TestPointOps(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, c, p := testCtx(t), open(t, tg, nil), prefix(t)
		k := []byte(p + "k")
		if _, err := c.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
		if err := c.Put(ctx, k, []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, k); err != nil || string(v) != "v1" {
			t.Fatalf("get = %q, %v", v, err)
		}
		if err := c.Put(ctx, k, []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, k); err != nil || string(v) != "v2" {
			t.Fatalf("get after overwrite = %q, %v", v, err)
		}
		if err := c.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("get deleted: %v", err)
		}
		if err := c.Delete(ctx, k); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
		// An empty value exists and reads as a non-nil empty slice (SB-20).
		for _, empty := range [][]byte{nil, {}} {
			if err := c.Put(ctx, k, empty); err != nil {
				t.Fatal(err)
			}
			v, err := c.Get(ctx, k)
			if err != nil || v == nil || len(v) != 0 {
				t.Fatalf("get empty value = %#v, %v", v, err)
			}
		}
		if ttl, err := c.TTL(ctx, k); err != nil || ttl != 0 {
			t.Fatalf("TTL without TTL = %v, %v", ttl, err)
		}
		if _, err := c.TTL(ctx, []byte(p+"missing")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("TTL missing: %v", err)
		}
		big := bytes.Repeat([]byte("x"), 64<<10)
		if err := c.Put(ctx, k, big); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, k); err != nil || !bytes.Equal(v, big) {
			t.Fatalf("big value: len %d, %v", len(v), err)
		}
	})
}

func TestInvalidArguments(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	ctx, c := testCtx(t), open(t, tg, nil)
	for name, err := range map[string]error{
		"get empty key":    func() error { _, err := c.Get(ctx, nil); return err }(),
		"put empty key":    c.Put(ctx, []byte{}, []byte("v")),
		"delete empty key": c.Delete(ctx, nil),
		"ttl empty key":    func() error { _, err := c.TTL(ctx, nil); return err }(),
		"batch empty key":  c.BatchPut(ctx, [][]byte{[]byte("a"), nil}, [][]byte{[]byte("1"), []byte("2")}),
		"batchget empty":   func() error { _, err := c.BatchGet(ctx, [][]byte{nil}); return err }(),
		"batchdel empty":   c.BatchDelete(ctx, [][]byte{nil}),
	} {
		if !errors.Is(err, raw.ErrEmptyKey) || !errors.Is(err, raw.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrEmptyKey", name, err)
		}
	}
	for name, err := range map[string]error{
		"negative ttl":   c.Put(ctx, []byte("k"), []byte("v"), raw.WithTTL(-time1)),
		"sub-second ttl": c.Put(ctx, []byte("k"), []byte("v"), raw.WithTTL(time1/2)),
		"batch ttls":     c.BatchPut(ctx, [][]byte{[]byte("k")}, [][]byte{[]byte("v")}, raw.WithTTLs([]timeDuration{time1 + 1})),
	} {
		if !errors.Is(err, raw.ErrInvalidTTL) {
			t.Errorf("%s: %v, want ErrInvalidTTL", name, err)
		}
	}
	for name, err := range map[string]error{
		"lengths":          c.BatchPut(ctx, [][]byte{[]byte("k")}, nil),
		"ttls length":      c.BatchPut(ctx, [][]byte{[]byte("k")}, [][]byte{[]byte("v")}, raw.WithTTLs(nil)),
		"ttl and ttls":     c.BatchPut(ctx, [][]byte{[]byte("k")}, [][]byte{[]byte("v")}, raw.WithTTL(time1), raw.WithTTLs([]timeDuration{time1})),
		"ttl on get":       func() error { _, err := c.Get(ctx, []byte("k"), raw.WithTTL(time1)); return err }(),
		"reverse on scan":  func() error { _, err := c.Scan(ctx, nil, nil, 1, raw.WithReverse()); return err }(),
		"keyonly on del":   c.Delete(ctx, []byte("k"), raw.WithKeyOnly()),
		"bad cf":           c.Put(ctx, []byte("k"), []byte("v"), raw.WithColumnFamily("nope")),
		"checksum cf":      func() error { _, err := c.Checksum(ctx, nil, nil, raw.WithColumnFamily("write")); return err }(),
		"v1 reverse unbnd": func() error { _, err := c.ReverseScan(ctx, []byte("a"), nil, 1); return err }(),
		"iter opts":        c.Iter(ctx, nil, nil, raw.WithTTL(time1)).Err(),
	} {
		if !errors.Is(err, raw.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	for name, err := range map[string]error{
		"scan":        func() error { _, err := c.Scan(ctx, []byte("b"), []byte("a"), 1); return err }(),
		"reverse":     func() error { _, err := c.ReverseScan(ctx, []byte("b"), []byte("a"), 1); return err }(),
		"deleterange": c.DeleteRange(ctx, []byte("b"), []byte("a")),
		"checksum":    func() error { _, err := c.Checksum(ctx, []byte("b"), []byte("a")); return err }(),
		"iter":        c.Iter(ctx, []byte("b"), []byte("a")).Err(),
	} {
		if !errors.Is(err, kv.ErrInvalidRange) {
			t.Errorf("%s: %v, want kv.ErrInvalidRange", name, err)
		}
	}
	if _, err := c.CompareAndSwap(ctx, []byte("k"), nil, []byte("v")); !errors.Is(err, raw.ErrNotAtomic) {
		t.Errorf("CAS on a non-atomic client: %v", err)
	}
}
