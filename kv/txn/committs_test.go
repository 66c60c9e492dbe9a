package txn

import (
	"errors"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// Causal consistency skips the fresh min commit ts of async commit (TXN-28).
func TestCausalConsistency(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		for _, causal := range []bool{false, true} {
			w.reset()
			opts := []TxnOption{WithAsyncCommit(true)}
			if causal {
				opts = append(opts, WithCausalConsistency())
			}
			tx, _ := c.Begin(ctx, opts...)
			mustSet(t, tx, p+"a", "1")
			ts(t, c) // the TSO moves on, so a fresh min commit ts differs from start + 1
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			pw, _, _ := w.snapshot() // a region error may have made the Sender resend
			if len(pw) == 0 || (pw[len(pw)-1].MinCommitTs == tx.StartTS()+1) != causal {
				t.Fatalf("causal %v: %d prewrites, min commit ts %d, start %d", causal, len(pw), pw[len(pw)-1].MinCommitTs, tx.StartTS())
			}
		}
	})
}

// Commit-ts constraints (TXN-27): an upper-bound check that fails aborts the commit
// (and disables async commit); a wait-until ts delays the commit ts, or fails with
// kv.ErrCommitTSLag when the TSO does not get there in time.
func TestCommitTSConstraints(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		var seen uint64
		tx, _ := c.Begin(ctx, WithCommitTSUpperBound(func(ts uint64) bool { seen = ts; return false }))
		mustSet(t, tx, p+"a", "1")
		if err := tx.Commit(ctx); !errors.Is(err, ErrCommitTSUpperBound) || seen <= tx.StartTS() {
			t.Fatalf("upper bound: %v (checked %d)", err, seen)
		}
		pw, _, _ := w.snapshot()
		for _, r := range pw {
			if r.UseAsyncCommit || r.TryOnePc {
				t.Fatal("async commit / 1PC with an upper-bound check")
			}
		}
		if get(t, c, p+"a") != "" {
			t.Fatal("committed despite the failed check")
		}
		if err := commitPairs(t, c, []TxnOption{WithCommitTSUpperBound(func(uint64) bool { return true })}, p+"b", "2"); err != nil {
			t.Fatal(err)
		}

		until := ts(t, c) + uint64((300*time.Millisecond).Milliseconds())<<18
		for _, opts := range [][]TxnOption{{WithAsyncCommit(false), WithOnePC(false)}, nil} {
			tx, _ = c.Begin(ctx, append(opts, WithCommitWaitUntilTSO(until, 5*time.Second))...)
			mustSet(t, tx, p+"c", "3")
			if err := tx.Commit(ctx); err != nil || tx.CommitTS() < until {
				t.Fatalf("wait until: %v, commit ts %d < %d", err, tx.CommitTS(), until)
			}
		}
		far := ts(t, c) + uint64(time.Hour.Milliseconds())<<18
		tx, _ = c.Begin(ctx, WithCommitWaitUntilTSO(far, 50*time.Millisecond), WithAsyncCommit(false), WithOnePC(false))
		mustSet(t, tx, p+"d", "4")
		if err := tx.Commit(ctx); !errors.Is(err, kv.ErrCommitTSLag) {
			t.Fatalf("lag: %v", err)
		}
		if get(t, c, p+"d") != "" {
			t.Fatal("committed despite the lag")
		}
	})
}

// Context-only options (TXN-32) reach TiKV with every write.
func TestMiscOptions(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		p := prefix(t)
		if err := commitPairs(t, c, []TxnOption{WithSyncLog(), WithTxnSource(7), WithDiskFullOpt(DiskFullAllowedOnAlmostFull)},
			p+"a", "1"); err != nil {
			t.Fatal(err)
		}
		for _, d := range []DiskFullOpt{DiskFullNotAllowed, DiskFullAllowedOnAlreadyFull} {
			if d.pb().String() == "" {
				t.Fatal("unnamed disk-full option")
			}
		}
		pw, _, _ := w.snapshot()
		if len(pw) == 0 {
			t.Fatal("no prewrite")
		}
		rc := pw[len(pw)-1].GetContext()
		if !rc.GetSyncLog() || rc.GetTxnSource() != 7 || rc.GetDiskFullOpt() != DiskFullAllowedOnAlmostFull.pb() {
			t.Fatalf("context %+v", rc)
		}
	})
}
