package txn

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// kvCalls records the KV calls (methods Kv*) one client makes, with the priority each
// request carried, and how many calls entered and left the interceptor.
type kvCalls struct {
	mu        sync.Mutex
	methods   []string
	prios     []kvrpcpb.CommandPri
	begun     int
	ended     int
	lastOrder []string // "begin:M" / "end:M" of every call, in order
}

func (k *kvCalls) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "kvcalls", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			if !strings.HasPrefix(inv.Method, "Kv") {
				return next(ctx, inv)
			}
			k.mu.Lock()
			k.begun++
			k.methods = append(k.methods, inv.Method)
			if r, ok := inv.Request.(interface{ GetContext() *kvrpcpb.Context }); ok {
				k.prios = append(k.prios, r.GetContext().GetPriority())
			} else {
				k.prios = append(k.prios, -1)
			}
			k.lastOrder = append(k.lastOrder, "begin:"+inv.Method)
			k.mu.Unlock()
			resp, err := next(ctx, inv)
			k.mu.Lock()
			k.ended++
			k.lastOrder = append(k.lastOrder, "end:"+inv.Method)
			k.mu.Unlock()
			return resp, err
		}
	}}
}

func (k *kvCalls) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.methods, k.prios, k.begun, k.ended, k.lastOrder = nil, nil, 0, 0, nil
}

func (k *kvCalls) take() (methods []string, prios []kvrpcpb.CommandPri, begun, ended int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.methods...), append([]kvrpcpb.CommandPri(nil), k.prios...), k.begun, k.ended
}

// A transaction's priority reaches TiKV on every request: the prewrite and commit of a
// high-priority transaction, the point get of a low-priority one and the scan of a
// high-priority one; a normal-priority read is sent as normal, not as the priority of
// an earlier transaction.
// client-go: integration_tests/store_test.go TestRequestPriority
func TestPortRequestPriority(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		k := &kvCalls{}
		c := open(t, tg, twoPhase, func(cfg *Config) {
			cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, k.interceptor())
		})
		ctx := testCtx(t)
		p := prefix(t)
		check := func(what string, want kvrpcpb.CommandPri, methods ...string) {
			t.Helper()
			got, prios, _, _ := k.take()
			seen := map[string]bool{}
			for i, m := range got {
				seen[m] = true
				if prios[i] != want {
					t.Errorf("%s: %s sent with priority %v, want %v", what, m, prios[i], want)
				}
			}
			for _, m := range methods {
				if !seen[m] {
					t.Errorf("%s: no %s call among %v", what, m, got)
				}
			}
			k.reset()
		}

		tx, err := c.Begin(ctx, WithPriority(PriorityHigh))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"key", "value")
		k.reset()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		check("high-priority commit", kvrpcpb.CommandPri_High, "KvPrewrite", "KvCommit")

		tx, _ = c.Begin(ctx, WithPriority(PriorityLow))
		k.reset()
		if v, err := tx.Get(ctx, []byte(p+"key")); err != nil || string(v) != "value" {
			t.Fatalf("get: %q %v", v, err)
		}
		check("low-priority get", kvrpcpb.CommandPri_Low, "KvGet")

		tx, _ = c.Begin(ctx)
		k.reset()
		if _, err := tx.Get(ctx, []byte(p+"key")); err != nil {
			t.Fatal(err)
		}
		check("normal-priority get", kvrpcpb.CommandPri_Normal, "KvGet")

		tx, _ = c.Begin(ctx, WithPriority(PriorityHigh))
		k.reset()
		it := tx.Iter(ctx, []byte(p), []byte(p+"\xff"))
		n := 0
		for it.Next() {
			n++
		}
		if err := it.Err(); err != nil || n != 1 {
			t.Fatalf("scan: %d pairs, %v", n, err)
		}
		it.Close()
		check("high-priority scan", kvrpcpb.CommandPri_High, "KvScan")
	})
}

// An RPC interceptor sees every call a transaction makes, each entering and leaving it
// once: two for a two-phase commit of one key (prewrite, commit), one for a point get.
// client-go: integration_tests/interceptor_test.go TestInterceptor (the interceptor here
// is the client's; a per-transaction interceptor is not built)
func TestPortInterceptorSeesTxnCalls(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		k := &kvCalls{}
		c := open(t, tg, twoPhase, func(cfg *Config) {
			cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, k.interceptor())
		})
		ctx := testCtx(t)
		key := []byte(prefix(t) + "KEY-1")
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Set(key, []byte("VALUE-1")); err != nil {
			t.Fatal(err)
		}
		k.reset()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		methods, _, begun, ended := k.take()
		if begun != 2 || ended != 2 || len(methods) != 2 || methods[0] != "KvPrewrite" || methods[1] != "KvCommit" {
			t.Fatalf("commit: calls %v, %d begun, %d ended", methods, begun, ended)
		}
		k.mu.Lock()
		order := strings.Join(k.lastOrder, " ")
		k.mu.Unlock()
		if order != "begin:KvPrewrite end:KvPrewrite begin:KvCommit end:KvCommit" {
			t.Fatalf("commit: interceptor order %s", order)
		}

		k.reset()
		tx, _ = c.Begin(ctx)
		if v, err := tx.Get(ctx, key); err != nil || string(v) != "VALUE-1" {
			t.Fatalf("get: %q %v", v, err)
		}
		methods, _, begun, ended = k.take()
		if begun != 1 || ended != 1 || len(methods) != 1 || methods[0] != "KvGet" {
			t.Fatalf("get: calls %v, %d begun, %d ended", methods, begun, ended)
		}
	})
}

// A ctx-bound interceptor (rpc.WithInterceptors) sees the calls of the one transaction
// whose ctx carries it and none of another's: client-go's per-transaction
// SetRPCInterceptor, here on the operation's ctx.
// client-go: integration_tests/interceptor_test.go TestInterceptor (per-transaction part).
func TestPortCtxInterceptorScopesToTxn(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg, twoPhase)
		k := &kvCalls{}
		ctx := testCtx(t)
		mine := rpc.WithInterceptors(ctx, k.interceptor())
		key := []byte(prefix(t) + "KEY-1")
		tx, err := c.Begin(mine)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Get(mine, key); !isNotFound(err) {
			t.Fatal(err)
		}
		mustSet(t, tx, string(key), "v")
		// Another transaction on the plain ctx, meanwhile.
		other, _ := c.Begin(ctx)
		mustSet(t, other, prefix(t)+"other", "o")
		if err := other.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(mine); err != nil {
			t.Fatal(err)
		}
		methods, _, begun, ended := k.take()
		if strings.Join(methods, " ") != "KvGet KvPrewrite KvCommit" || begun != 3 || ended != 3 {
			t.Fatalf("ctx interceptor saw %v (%d begun, %d ended)", methods, begun, ended)
		}
	})
}
