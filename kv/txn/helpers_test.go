package txn

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

var prefixSeq atomic.Int64

// prefix returns a key prefix unique to the test run (the local cluster is shared).
func prefix(t testing.TB) string {
	return fmt.Sprintf("txntest/%s/%d/%d/", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), prefixSeq.Add(1))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open returns a client on tg, closed when the test ends.
// twoPhase turns async commit and 1PC off for tests of two-phase commit itself.
func twoPhase(cfg *Config) { cfg.DisableAsyncCommit, cfg.DisableOnePC = true, true }

func open(t testing.TB, tg testcluster.Target, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Config: tg.Config(cluster.Txn)}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", tg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// each runs fn on a 3-store memcluster and, when configured, the local cluster.
func each(t *testing.T, fn func(t *testing.T, tg testcluster.Target)) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, fn)
}

// split splits regions at the user keys (skipped when unsupported).
func split(t testing.TB, c *Client, keys ...string) {
	t.Helper()
	ks := make([][]byte, len(keys))
	for i, k := range keys {
		ks[i] = []byte(k)
	}
	if _, err := c.Cluster().PD().SplitRegions(testCtx(t), ks); err != nil {
		t.Logf("split unsupported here: %v", err)
	}
}

func mustSet(t testing.TB, tx *Txn, kvs ...string) {
	t.Helper()
	for i := 0; i+1 < len(kvs); i += 2 {
		if err := tx.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
}

// put commits the pairs in one transaction.
func put(t testing.TB, c *Client, kvs ...string) uint64 {
	t.Helper()
	ctx := testCtx(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, tx, kvs...)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return tx.CommitTS()
}

// get reads key at the latest ts through a fresh transaction ("" when absent).
func get(t testing.TB, c *Client, key string) string {
	t.Helper()
	ctx := testCtx(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tx.Get(ctx, []byte(key))
	if err != nil {
		if isNotFound(err) {
			return ""
		}
		t.Fatalf("get %s: %v", key, err)
	}
	return string(v)
}

func memclusterOpts() memcluster.Options { return memcluster.Options{Stores: 3} }

// pastTTL waits until locks written with a TTL of a few ms have expired by PD's clock:
// a real PD advances the physical part of its timestamps in steps of up to 50 ms.
func pastTTL() { time.Sleep(120 * time.Millisecond) }
