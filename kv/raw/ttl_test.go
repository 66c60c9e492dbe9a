package raw_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// fakeClock is a settable wall clock for memcluster's TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// memTargets runs fn on memclusters with opts under API v1 and with an API v2 keyspace.
func memTargets(t *testing.T, opts memcluster.Options, fn func(t *testing.T, tg testcluster.Target)) {
	t.Run("memory", func(t *testing.T) { fn(t, testcluster.Memory(t, opts)) })
	t.Run("memory-v2", func(t *testing.T) {
		tg := testcluster.Memory(t, opts)
		if _, err := tg.Mem.CreateKeyspace("ks1"); err != nil {
			t.Fatal(err)
		}
		tg.Keyspace = "ks1"
		fn(t, tg)
	})
}

// ports the TTL cases of client-go's rawkv API tests (put with TTL, GetKeyTTL, expiry),
// made deterministic with an injected cluster clock.
func TestTTL(t *testing.T) {
	clk := &fakeClock{now: time.Now()}
	memTargets(t, memcluster.Options{Stores: 3, Clock: clk.Now}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.Atomic = true })
		k := []byte(p + "k")
		if err := c.Put(ctx, k, []byte("v"), raw.WithTTL(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ttl, err := c.TTL(ctx, k); err != nil || ttl != 10*time.Second {
			t.Fatalf("TTL = %v, %v", ttl, err)
		}
		clk.Advance(4 * time.Second)
		if ttl, err := c.TTL(ctx, k); err != nil || ttl != 6*time.Second {
			t.Fatalf("TTL after 4s = %v, %v", ttl, err)
		}
		clk.Advance(7 * time.Second)
		if _, err := c.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("expired Get: %v", err)
		}
		if _, err := c.TTL(ctx, k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("expired TTL: %v", err)
		}

		// Per-key TTLs; 0 means none.
		keys := [][]byte{[]byte(p + "a"), []byte(p + "b"), []byte(p + "c")}
		vals := [][]byte{[]byte("1"), []byte("2"), []byte("3")}
		if err := c.BatchPut(ctx, keys, vals, raw.WithTTLs([]time.Duration{5 * time.Second, 0, 20 * time.Second})); err != nil {
			t.Fatal(err)
		}
		clk.Advance(6 * time.Second)
		got, err := c.BatchGet(ctx, keys)
		if err != nil || got[0] != nil || string(got[1]) != "2" || string(got[2]) != "3" {
			t.Fatalf("after 6s: %q, %v", got, err)
		}
		if ttl, _ := c.TTL(ctx, keys[2]); ttl != 14*time.Second {
			t.Fatalf("TTL of c = %v", ttl)
		}
		if kvs, err := c.Scan(ctx, []byte(p), nil, 10); err != nil || len(kvs) < 2 || string(kvs[0].Key) != string(keys[1]) {
			t.Fatalf("scan hides expired keys: %v, %v", kvs, err)
		}
		// One TTL for the whole batch.
		if err := c.BatchPut(ctx, keys[:2], vals[:2], raw.WithTTL(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ttl, _ := c.TTL(ctx, keys[1]); ttl != 3*time.Second {
			t.Fatalf("batch TTL = %v", ttl)
		}
		// A write without TTL clears the TTL (TiKV replaces the entry).
		if err := c.Put(ctx, keys[2], []byte("again")); err != nil {
			t.Fatal(err)
		}
		if ttl, err := c.TTL(ctx, keys[2]); err != nil || ttl != 0 {
			t.Fatalf("TTL after plain put = %v, %v", ttl, err)
		}
		// CAS can create with a TTL (put-if-absent with expiry, user-asks 17).
		lock := []byte(p + "lock")
		res, err := c.CompareAndSwap(ctx, lock, nil, []byte("owner"), raw.WithTTL(2*time.Second))
		if err != nil || !res.Swapped {
			t.Fatalf("CAS create = %+v, %v", res, err)
		}
		if ttl, _ := c.TTL(ctx, lock); ttl != 2*time.Second {
			t.Fatalf("CAS TTL = %v", ttl)
		}
		clk.Advance(3 * time.Second)
		if res, err := c.CompareAndSwap(ctx, lock, nil, []byte("next")); err != nil || !res.Swapped {
			t.Fatalf("CAS after expiry = %+v, %v", res, err)
		}
	})
}
