package txn

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// client-go: integration_tests/prewrite_test.go TestIsRetryRequestFlagWithRegionError:
// once a prewrite was sent, every later prewrite of the same mutations is flagged
// IsRetryRequest, also the batches regrouped by region after a region error (here the
// region splits under the first prewrite), so TiKV can tell a duplicate from a conflict.
func TestPortPrewriteRetryFlagAfterRegionError(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, twoPhase)
	ctx := testCtx(t)
	p := prefix(t)
	var (
		mu    sync.Mutex
		flags []bool
	)
	tg.Mem.AddHook(func(hctx context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method != "KvPrewrite" {
			return nil
		}
		mu.Lock()
		first := len(flags) == 0
		flags = append(flags, r.Context.GetIsRetryRequest())
		mu.Unlock()
		if !first {
			return nil
		}
		// The region splits between a and z before TiKV applies the prewrite.
		if _, err := c.Cluster().PD().SplitRegions(hctx, [][]byte{[]byte(p + "h")}); err != nil {
			t.Errorf("split: %v", err)
		}
		return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected", EpochNotMatch: &errorpb.EpochNotMatch{}}}
	})
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"a", "v", p+"z", "v")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(flags)
	mu.Unlock()
	if !slices.Equal(got, []bool{false, true, true}) {
		t.Fatalf("IsRetryRequest of the prewrites: %v, want [false true true]", got)
	}
	if get(t, c, p+"a") != "v" || get(t, c, p+"z") != "v" {
		t.Fatal("data not committed")
	}
}
