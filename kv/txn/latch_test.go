package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// Local latches (TXN-31; client-go: internal/latch/latch_test.go TestWakeUp and
// TestFirstAcquireFailedWithStale, the stale check): a commit over a key this Client
// committed after the transaction's start fails
// before any RPC; other keys and pessimistic transactions pass; a held slot is waited
// for within ctx; concurrent transfers keep their invariant.
func TestLocalLatches(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w, func(cfg *Config) { cfg.LocalLatches = 256 })
		ctx := testCtx(t)
		p := prefix(t)
		t1, _ := c.Begin(ctx)
		t2, _ := c.Begin(ctx)
		t3, _ := c.Begin(ctx)
		mustSet(t, t1, p+"k", "1")
		mustSet(t, t2, p+"k", "2")
		mustSet(t, t3, p+"other-key", "3")
		if err := t1.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		w.reset()
		var lc *LatchConflictError
		if err := t2.Commit(ctx); !errors.As(err, &lc) || !kv.IsRetryable(err) || lc.StartTS != t2.StartTS() {
			t.Fatalf("stale commit: %v", err)
		}
		if pw, _, _ := w.snapshot(); len(pw) != 0 {
			t.Fatal("a stale commit reached TiKV")
		}
		if err := t3.Commit(ctx); err != nil {
			t.Fatalf("other key: %v", err)
		}
		pes := beginPessimistic(t, c)
		mustSet(t, pes, p+"k", "pessimistic")
		if err := pes.Commit(ctx); err != nil {
			t.Fatalf("pessimistic txn and latches: %v", err)
		}

		// A slot held by another commit is waited for, within ctx.
		t4, _ := c.Begin(ctx)
		mustSet(t, t4, p+"held", "4")
		slot := c.latches.slotsOf(t4.mem)[0]
		c.latches.slots[slot].token <- struct{}{}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := t4.Commit(short)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("held slot: %v", err)
		}
		<-c.latches.slots[slot].token

		bank(t, c, nil, false)
	})
}
