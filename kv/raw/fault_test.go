package raw_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"go.uber.org/goleak"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// failFirst returns a hook that answers the first n requests of method with the fault
// made by mk, and a counter of the requests of method seen.
func failFirst(method string, n int32, mk func() *memcluster.Fault) (memcluster.Hook, *atomic.Int32) {
	var seen atomic.Int32
	return func(_ context.Context, req *memcluster.Request) *memcluster.Fault {
		if req.Method != method {
			return nil
		}
		if seen.Add(1) <= n {
			return mk()
		}
		return nil
	}, &seen
}

func epochNotMatch() *memcluster.Fault {
	return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected", EpochNotMatch: &errorpb.EpochNotMatch{}}}
}

func notLeader() *memcluster.Fault {
	return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected", NotLeader: &errorpb.NotLeader{}}}
}

// Every operation survives region errors by relocating and retrying.
func TestRetriesOnFaults(t *testing.T) {
	memTargets(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.Atomic = true; cfg.MaxBatchKeys = 4 })
		keys := fill(t, c, tg, p, 60)
		end := kv.Key(p).PrefixNext()
		for _, fault := range []struct {
			name string
			mk   func() *memcluster.Fault
		}{{"EpochNotMatch", epochNotMatch}, {"NotLeader", notLeader}} {
			for _, op := range []struct {
				method string
				run    func() error
			}{
				{"RawGet", func() error { _, err := c.Get(ctx, keys[3]); return err }},
				{"RawPut", func() error { return c.Put(ctx, keys[3], []byte("v3")) }},
				{"RawDelete", func() error { return c.Delete(ctx, []byte(p+"x")) }},
				{"RawGetKeyTTL", func() error { _, err := c.TTL(ctx, keys[3]); return err }},
				{"RawBatchGet", func() error {
					vs, err := c.BatchGet(ctx, keys)
					if err == nil && string(vs[59]) != "v59" {
						err = fmt.Errorf("BatchGet[59] = %q", vs[59])
					}
					return err
				}},
				{"RawBatchPut", func() error { return c.BatchPut(ctx, keys[:10], make([][]byte, 10)) }},
				{"RawBatchDelete", func() error { return c.BatchDelete(ctx, [][]byte{[]byte(p + "y")}) }},
				{"RawScan", func() error {
					kvs, err := c.Scan(ctx, keys[10], end, 0)
					if err == nil && len(kvs) != 50 {
						err = fmt.Errorf("scan: %d pairs", len(kvs))
					}
					return err
				}},
				{"RawScan", func() error {
					kvs, err := c.ReverseScan(ctx, []byte(p), keys[50], 0)
					if err == nil && len(kvs) != 50 {
						err = fmt.Errorf("reverse scan: %d pairs", len(kvs))
					}
					return err
				}},
				{"RawChecksum", func() error {
					sum, err := c.Checksum(ctx, []byte(p), end)
					if err == nil && sum.TotalKVs != 60 {
						err = fmt.Errorf("checksum: %+v", sum)
					}
					return err
				}},
				{"RawDeleteRange", func() error { return c.DeleteRange(ctx, []byte(p+"z"), nil) }},
			} {
				hook, seen := failFirst(op.method, 2, fault.mk)
				remove := tg.Mem.AddHook(hook)
				err := op.run()
				remove()
				if err != nil {
					t.Errorf("%s with %s: %v", op.method, fault.name, err)
				}
				if seen.Load() < 3 {
					t.Errorf("%s with %s: %d requests, want retries", op.method, fault.name, seen.Load())
				}
			}
		}
		// CAS is retried after region errors (TiKV did not run it)...
		hook, seen := failFirst("RawCompareAndSwap", 2, epochNotMatch)
		remove := tg.Mem.AddHook(hook)
		res, err := c.CompareAndSwap(ctx, []byte(p+"cas"), nil, []byte("v"))
		remove()
		if err != nil || !res.Swapped || seen.Load() != 3 {
			t.Fatalf("CAS after region errors: %+v, %v, %d requests", res, err, seen.Load())
		}
		// ...but never resent once it may have run: a lost answer is undetermined.
		hook, seen = failFirst("RawCompareAndSwap", 1, func() *memcluster.Fault { return &memcluster.Fault{DropResponse: true} })
		remove = tg.Mem.AddHook(hook)
		short, cancel := context.WithTimeout(ctx, 2*time.Second) // generous: a loaded CI box may take a while to route the request
		_, err = c.CompareAndSwap(short, []byte(p+"cas"), []byte("v"), []byte("w"))
		cancel()
		remove()
		if !errors.Is(err, kv.ErrUndetermined) || seen.Load() != 1 {
			t.Fatalf("CAS with a lost answer: %v, %d requests", err, seen.Load())
		}
		if v, _ := c.Get(ctx, []byte(p+"cas")); string(v) != "w" {
			t.Fatalf("the dropped CAS ran on the server, value %q", v)
		}
	})
}

// A store that stops answering (an RPC failure) is skipped: once its region has a new
// leader, reads and writes that first went to the dead store succeed on retry.
func TestRetriesOnStoreOutage(t *testing.T) {
	memTargets(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, nil)
		keys := fill(t, c, tg, p, 60)
		if _, err := c.BatchGet(ctx, keys); err != nil { // warm the region cache
			t.Fatal(err)
		}
		w := c.Cluster().Codec().EncodeKey(keys[30])
		if tg.Keyspace != "" {
			w = memcluster.RegionKey(w)
		}
		r := tg.Mem.RegionAt(w)
		if err := tg.Mem.StopStore(r.LeaderStore); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tg.Mem.StartStore(r.LeaderStore, false) }()
		for _, ri := range tg.Mem.Regions() { // elect new leaders for the dead store's regions
			if ri.LeaderStore != r.LeaderStore {
				continue
			}
			for _, peer := range ri.Meta.Peers {
				if peer.StoreId != r.LeaderStore {
					if err := tg.Mem.TransferLeader(ri.Meta.Id, peer.StoreId); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
		}
		if v, err := c.Get(ctx, keys[30]); err != nil || string(v) != "v30" {
			t.Fatalf("Get after the leader's store stopped: %q, %v", v, err)
		}
		if err := c.BatchPut(ctx, keys[25:35], make([][]byte, 10)); err != nil {
			t.Fatalf("BatchPut after the outage: %v", err)
		}
		if kvs, err := c.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0); err != nil || len(kvs) != 60 {
			t.Fatalf("Scan after the outage: %d, %v", len(kvs), err)
		}
	})
}

// A region split in the middle of a scan, an iteration and a batch is absorbed.
func TestSplitDuringOperations(t *testing.T) {
	memTargets(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.ScanBatchSize = 5 })
		fill(t, c, tg, p, 100)
		regionKey := func(k []byte) []byte {
			w := c.Cluster().Codec().EncodeKey(k)
			if tg.Keyspace != "" {
				return memcluster.RegionKey(w)
			}
			return w
		}
		it := c.Iter(ctx, []byte(p), kv.Key(p).PrefixNext())
		defer it.Close()
		n := 0
		for it.Next() {
			if n == 12 {
				for i := 13; i < 100; i += 7 {
					if _, err := tg.Mem.Split(regionKey(key(p, i))); err != nil {
						t.Fatal(err)
					}
				}
			}
			if string(it.Key()) != string(key(p, n)) {
				t.Fatalf("key %d = %q", n, it.Key())
			}
			n++
		}
		if it.Err() != nil || n != 100 {
			t.Fatalf("iterated %d keys, err %v", n, it.Err())
		}
		for i := 3; i < 100; i += 11 {
			if _, err := tg.Mem.Split(regionKey(key(p, i))); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := c.BatchGet(ctx, fill(t, c, tg, p, 100))
		if err != nil || string(vs[98]) != "v98" {
			t.Fatalf("BatchGet after splits: %v", err)
		}
		kvs, err := c.ReverseScan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
		if err != nil || len(kvs) != 100 {
			t.Fatalf("reverse scan after splits: %d, %v", len(kvs), err)
		}
	})
}

// The caller's ctx bounds every call, retries included.
func TestContextCancellation(t *testing.T) {
	memTargets(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		p := prefix(t)
		c := open(t, tg, nil)
		fill(t, c, tg, p, 30)
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Get(cancelled, key(p, 1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get on a cancelled ctx: %v", err)
		}
		if err := c.BatchPut(cancelled, [][]byte{key(p, 1)}, [][]byte{nil}); !errors.Is(err, context.Canceled) {
			t.Fatalf("BatchPut on a cancelled ctx: %v", err)
		}

		// A hung store: the deadline ends the call promptly.
		defer tg.Mem.AddHook(func(context.Context, *memcluster.Request) *memcluster.Fault {
			return &memcluster.Fault{Delay: time.Minute}
		})()
		for name, run := range map[string]func(ctx context.Context) error{
			"Get": func(ctx context.Context) error { _, err := c.Get(ctx, key(p, 1)); return err },
			"BatchGet": func(ctx context.Context) error {
				_, err := c.BatchGet(ctx, [][]byte{key(p, 1), key(p, 29)})
				return err
			},
			"Scan":     func(ctx context.Context) error { _, err := c.Scan(ctx, []byte(p), nil, 10); return err },
			"Checksum": func(ctx context.Context) error { _, err := c.Checksum(ctx, []byte(p), nil); return err },
			"Iter": func(ctx context.Context) error {
				it := c.Iter(ctx, []byte(p), kv.Key(p).PrefixNext())
				defer it.Close()
				for it.Next() {
				}
				return it.Err()
			},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			start := time.Now()
			err := run(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Errorf("%s: %v after %v, want a prompt DeadlineExceeded", name, err, time.Since(start))
			}
		}
	})
}

// An iterator's prefetch goroutine stops when its ctx ends, and Next reports why.
func TestIteratorCancel(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	p := prefix(t)
	c := open(t, tg, func(cfg *raw.Config) { cfg.ScanBatchSize = 2 })
	fill(t, c, tg, p, 10)
	ctx, cancel := context.WithCancel(context.Background())
	it := c.Iter(ctx, []byte(p), kv.Key(p).PrefixNext())
	defer it.Close()
	if !it.Next() {
		t.Fatal(it.Err())
	}
	cancel()
	for it.Next() {
	}
	if !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", it.Err())
	}
}

// An iterator that is dropped without Close leaves no goroutine behind once its last
// fetch completes: fetch goroutines deliver into a buffered channel and exit.
func TestIteratorAbandoned(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	p := prefix(t)
	c := open(t, tg, func(cfg *raw.Config) { cfg.ScanBatchSize = 2 })
	fill(t, c, tg, p, 10)
	if _, err := c.Scan(testCtx(t), []byte(p), nil, 3); err != nil { // warm connections
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	it := c.Iter(context.Background(), []byte(p), kv.Key(p).PrefixNext())
	for range 3 { // the third pair starts the third fetch
		if !it.Next() {
			t.Fatal(it.Err())
		}
	}
	goleak.VerifyNone(t, ignore)
}
