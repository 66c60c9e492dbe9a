package txn

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// client-go: internal/latch/latch_test.go TestWakeUp (a commit waiting for a slot that an
// overlapping commit holds is woken when it ends and, since that commit's ts is above its
// start ts, fails as stale; the retry with a new start ts goes through). Also the other
// branch of the wake-up: a holder that fails records no commit ts, so the waiter commits.
func TestPortLatchWakeUp(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.LocalLatches = 256 })
	other := open(t, tg)
	ctx := testCtx(t)

	for _, holderFails := range []bool{false, true} {
		p := prefix(t)
		a, _ := c.Begin(ctx)
		b, _ := c.Begin(ctx)
		mustSet(t, a, p+"a", "A", p+"b", "A", p+"c", "A")
		mustSet(t, b, p+"d", "B", p+"e", "B", p+"a", "B", p+"c", "B")

		if holderFails {
			// A write by another client (no shared latches) after A's start makes A's
			// prewrite fail with a write conflict.
			put(t, other, p+"b", "other")
		}
		// A's prewrite is held inside the latches until released.
		entered, release := make(chan struct{}), make(chan struct{})
		remove := tg.Mem.AddHook(func(hctx context.Context, r *memcluster.Request) *memcluster.Fault {
			if pw, ok := r.Body.(*kvrpcpb.PrewriteRequest); ok && pw.StartVersion == a.StartTS() {
				select {
				case entered <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-hctx.Done():
				}
			}
			return nil
		})
		aDone := make(chan error, 1)
		go func() { aDone <- a.Commit(ctx) }()
		<-entered
		bDone := make(chan error, 1)
		go func() { bDone <- b.Commit(ctx) }()
		select {
		case err := <-bDone:
			t.Fatalf("B committed over a held slot: %v", err)
		default:
		}
		close(release)
		errA, errB := <-aDone, <-bDone
		remove()

		var lc *LatchConflictError
		if holderFails {
			if errA == nil || errB != nil {
				t.Fatalf("failed holder: A %v, B %v", errA, errB)
			}
			if get(t, c, p+"a") != "B" {
				t.Fatal("B's write is not visible")
			}
			continue
		}
		if errA != nil || !errors.As(errB, &lc) || lc.StartTS != b.StartTS() {
			t.Fatalf("A %v, B %v", errA, errB)
		}
		// B again with a new start ts.
		b2, _ := c.Begin(ctx)
		mustSet(t, b2, p+"d", "B", p+"e", "B", p+"a", "B", p+"c", "B")
		if err := b2.Commit(ctx); err != nil {
			t.Fatalf("retried B: %v", err)
		}
		if get(t, c, p+"a") != "B" || get(t, c, p+"b") != "A" {
			t.Fatal("committed state")
		}
	}
}
