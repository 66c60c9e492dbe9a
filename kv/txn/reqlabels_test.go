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

// A transaction's priority, request source and resource group reach every request it
// sends: reads, prewrites and commits (RCTL-1, RCTL-4, SRC-1).
// client-go: integration_tests/resource_group_test.go and option_test.go (behaviour).
func TestRequestLabelsOnTheWire(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		var mu sync.Mutex
		seen := map[string]*kvrpcpb.Context{}
		c := open(t, tg, twoPhase, func(cfg *Config) {
			cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, rpc.Interceptor{Name: "labels",
				Wrap: func(next rpc.Invoker) rpc.Invoker {
					return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
						if r, ok := inv.Request.(interface{ GetContext() *kvrpcpb.Context }); ok {
							mu.Lock()
							seen[inv.Method] = r.GetContext()
							mu.Unlock()
						}
						return next(ctx, inv)
					}
				}})
		})
		ctx := testCtx(t)
		p := prefix(t)
		tx, err := c.Begin(ctx, WithPriority(PriorityHigh), WithRequestSource("external_test"), WithResourceGroup("rg1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Get(ctx, []byte(p+"missing")); !isNotFound(err) {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"a", "1")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range []string{"KvGet", "KvPrewrite", "KvCommit"} {
			rc := seen[m]
			if rc == nil {
				t.Fatalf("no %s sent (saw %v)", m, seen)
			}
			if rc.GetPriority() != kvrpcpb.CommandPri_High || !strings.Contains(rc.GetRequestSource(), "external_test") ||
				rc.GetResourceControlContext().GetResourceGroupName() != "rg1" {
				t.Errorf("%s context: priority %v, source %q, group %q", m, rc.GetPriority(), rc.GetRequestSource(),
					rc.GetResourceControlContext().GetResourceGroupName())
			}
		}
	})
}
