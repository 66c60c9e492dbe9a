package raw_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// each runs fn against testcluster.Each's targets (a memcluster under API v1 and, when
// TIKV_PD_ADDRS is set, the local cluster) and against a memcluster with an API v2
// keyspace, so the keyspace encoding is covered without a local cluster.
func each(t *testing.T, opts memcluster.Options, fn func(t *testing.T, tg testcluster.Target)) {
	t.Helper()
	testcluster.Each(t, opts, fn)
	t.Run("memory-v2", func(t *testing.T) {
		tg := testcluster.Memory(t, opts)
		if _, err := tg.Mem.CreateKeyspace("ks1"); err != nil {
			t.Fatal(err)
		}
		tg.Name, tg.Keyspace = "memory-v2", "ks1"
		fn(t, tg)
	})
}

// open returns a raw client for tg, closed when the test ends; edit adjusts its Config.
func open(t testing.TB, tg testcluster.Target, edit func(*raw.Config)) *raw.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := raw.Config{Config: tg.Config(cluster.Raw)}
	if edit != nil {
		edit(&cfg)
	}
	c, err := raw.New(ctx, cfg)
	if err != nil {
		t.Fatalf("raw.New on %s: %v", tg.Name, err)
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

var seq atomic.Int64

// prefix returns a key prefix no other test (or earlier run on a shared cluster) uses.
func prefix(t testing.TB) string {
	return fmt.Sprintf("rawtest/%s/%d-%d/", t.Name(), time.Now().UnixNano(), seq.Add(1))
}

// testCtx returns a ctx bounded for one test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// split splits the target's regions at the user keys; a local cluster that cannot split
// is left as it is.
func split(t testing.TB, c *raw.Client, tg testcluster.Target, keys ...string) {
	t.Helper()
	ks := make([][]byte, len(keys))
	for i, k := range keys {
		ks[i] = []byte(k)
	}
	if _, err := c.Cluster().PD().SplitRegions(testCtx(t), ks); err != nil {
		if tg.Mem == nil {
			t.Logf("split unsupported on %s: %v", tg.Name, err)
			return
		}
		t.Fatalf("split: %v", err)
	}
}

type timeDuration = time.Duration

const time1 = time.Second
