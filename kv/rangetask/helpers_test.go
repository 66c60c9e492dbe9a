package rangetask_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

var seq atomic.Int64

// prefix is a key prefix unique to the test (the local cluster is shared).
func prefix(t testing.TB) string {
	return fmt.Sprintf("rangetask/%s/%d/%d/", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), seq.Add(1))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func each(t *testing.T, fn func(t *testing.T, tg testcluster.Target)) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, fn)
}

// env is a txn-mode cluster with a transactional client over it.
type env struct {
	cl  *cluster.Cluster
	txn *txn.Client
	p   string
}

func newEnv(t *testing.T, tg testcluster.Target) *env {
	t.Helper()
	cl := tg.Open(t, cluster.Txn)
	// Async commit off: its background commit RPCs could land after a DeleteRange that
	// follows put, bringing keys back (see DeleteRange's documentation).
	c, err := txn.NewWithCluster(cl, txn.Config{ProtocolConfig: txn.ProtocolConfig{DisableAsyncCommit: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &env{cl: cl, txn: c, p: prefix(t)}
}

func (e *env) key(s string) []byte { return []byte(e.p + s) }

// splitAt splits the regions at the prefixed keys.
func (e *env) splitAt(t *testing.T, keys ...string) {
	t.Helper()
	ks := make([][]byte, len(keys))
	for i, k := range keys {
		ks[i] = e.key(k)
	}
	if _, err := e.cl.PD().SplitRegions(testCtx(t), ks); err != nil {
		t.Fatalf("split: %v", err)
	}
}

// put commits the prefixed keys, each with its own name as value.
func (e *env) put(t *testing.T, keys ...string) {
	t.Helper()
	ctx := testCtx(t)
	tx, err := e.txn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := tx.Set(e.key(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// present lists which of the prefixed keys can be read now.
func (e *env) present(t *testing.T, keys ...string) []string {
	t.Helper()
	var out []string
	snap := e.txn.Snapshot(kv.MaxTS)
	for _, k := range keys {
		_, err := snap.Get(testCtx(t), e.key(k))
		switch {
		case err == nil:
			out = append(out, k)
		case errors.Is(err, kv.ErrNotFound):
		default:
			t.Fatalf("get %s: %v", k, err)
		}
	}
	return out
}

// letters returns "a".."z".
func letters() []string {
	var out []string
	for c := 'a'; c <= 'z'; c++ {
		out = append(out, string(c))
	}
	return out
}

func memclusterOpts() memcluster.Options { return memcluster.Options{Stores: 3} }
