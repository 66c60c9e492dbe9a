package conn_test

import (
	"bytes"
	"context"
	"database/sql"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/memcluster"
)

// memDB opens a named in-process cluster (for its fault hooks) and a database on it
// with the DSN parameters params ("" or "?a=b&..."); both close when the test ends.
func memDB(t *testing.T, params string) (*memcluster.Shared, *sql.DB) {
	t.Helper()
	name := sqltest.Name(t.Name())
	mc, err := memcluster.Open(name, memcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	db, err := sql.Open("tikv", "memory://"+name+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return mc, db
}

// The DSN's protocol parameters reach the wire: by default a one-region write commits
// in one phase, asyncCommit alone gives an async-commit prewrite plus its background
// commit, and turning both off gives plain two-phase commit.
func TestProtocolParametersOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		params string
		want   string // the protocol seen on the wire
	}{
		{"", "1pc"},
		{"?onePC=false", "async"},
		{"?asyncCommit=false", "1pc"},
		{"?asyncCommit=false&onePC=false", "2pc"},
	} {
		t.Run(tc.want+tc.params, func(t *testing.T) {
			mc, db := memDB(t, tc.params)
			key := []byte("protocol-key")
			var mu sync.Mutex
			var seen []string
			remove := mc.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
				mu.Lock()
				defer mu.Unlock()
				switch b := r.Body.(type) {
				case *kvrpcpb.PrewriteRequest:
					if len(b.Mutations) > 0 && bytes.Contains(b.Mutations[0].Key, key) {
						switch {
						case b.TryOnePc:
							seen = append(seen, "prewrite-1pc")
						case b.UseAsyncCommit:
							seen = append(seen, "prewrite-async")
						default:
							seen = append(seen, "prewrite")
						}
					}
				case *kvrpcpb.CommitRequest:
					if len(b.Keys) > 0 && bytes.Contains(b.Keys[0], key) {
						seen = append(seen, "commit")
					}
				}
				return nil
			})
			defer remove()
			sqltest.Exec(t, db, "PUT ? ?", key, "v")
			// Close joins an async commit's background commit RPC.
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := map[string][]string{
				"1pc":   {"prewrite-1pc"},
				"async": {"prewrite-async", "commit"},
				"2pc":   {"prewrite", "commit"},
			}[tc.want]
			if !slices.Equal(seen, want) {
				t.Fatalf("wire %v, want %v", seen, want)
			}
		})
	}
}

// staleRead=d makes read-only transactions TiKV stale reads (served by any replica from
// its own data), not leader reads of old data.
func TestStaleReadOnTheWire(t *testing.T) {
	mc, db := memDB(t, "?staleRead=1ms")
	key := []byte("stale-key")
	sqltest.Exec(t, db, "PUT ? ?", key, "v")
	var stale atomic.Int64
	defer mc.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if g, ok := r.Body.(*kvrpcpb.GetRequest); ok && bytes.Contains(g.Key, key) && r.Context.GetStaleRead() {
			stale.Add(1)
		}
		return nil
	})()
	time.Sleep(20 * time.Millisecond) // the write is older than the stale read's ts
	ctx := sqltest.Ctx(t)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if got := sqltest.QueryFlat(t, tx, "GET ?", key); got != "stale-key=v" {
		t.Fatalf("stale read: %q", got)
	}
	if stale.Load() == 0 {
		t.Fatal("no Get was sent as a stale read")
	}
}

// In raw mode the DSN's requestSource and resourceGroup label every request (they are
// client-wide there: raw statements have no transaction to carry them).
func TestRawModeRequestLabels(t *testing.T) {
	mc, db := memDB(t, "?mode=raw&requestSource=batch_job&resourceGroup=rg1")
	key := []byte("labelled-key")
	var mu sync.Mutex
	var seen []*kvrpcpb.Context
	defer mc.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if p, ok := r.Body.(*kvrpcpb.RawPutRequest); ok && bytes.Contains(p.Key, key) {
			mu.Lock()
			seen = append(seen, r.Context)
			mu.Unlock()
		}
		return nil
	})()
	sqltest.Exec(t, db, "PUT ? ?", key, "v")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].GetRequestSource() != "batch_job" ||
		seen[0].GetResourceControlContext().GetResourceGroupName() != "rg1" {
		t.Fatalf("raw put contexts %v", seen)
	}
}

// forwarding=true: with the region leader's store cut off from this client (it still
// serves what other stores relay), statements go through a follower's store.
func TestForwardingDSN(t *testing.T) {
	name := sqltest.Name(t.Name())
	mc, err := memcluster.Open(name, memcluster.Options{Stores: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	db, err := sql.Open("tikv", "memory://"+name+"?forwarding=true&dialTimeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	sqltest.Exec(t, db, "PUT ? ?", "fwd-a", "1") // the client knows the region and its leader
	leader := mc.Regions()[0].LeaderStore
	if err := mc.IsolateStore(leader, true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mc.IsolateStore(leader, false) }()
	// A read finds the leader unreachable and moves to a proxy (a write that must not
	// be resent, like this 1PC PUT, would instead be undetermined on its first try).
	if got := sqltest.QueryFlat(t, db, "GET ?", "fwd-a"); got != "fwd-a=1" {
		t.Fatalf("read through a proxy: %q", got)
	}
	sqltest.Exec(t, db, "PUT ? ?", "fwd-b", "2")
	if got := sqltest.QueryFlat(t, db, "GET ?", "fwd-b"); got != "fwd-b=2" {
		t.Fatalf("read through a proxy: %q", got)
	}
}
