package txn

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
)

// sentOps lists the (user-key suffix, op) pairs of the recorded prewrites.
func sentOps(t *testing.T, c *Client, w *wire, p string) map[string]kvrpcpb.Op {
	t.Helper()
	pw, _, _ := w.snapshot()
	out := map[string]kvrpcpb.Op{}
	for _, r := range pw {
		for _, m := range r.Mutations {
			k, err := c.cl.Codec().DecodeKey(m.Key)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(string(k), p)] = m.Op
		}
	}
	return out
}

// A KVFilter keeps unnecessary writes off the wire; a filtered key that was locked
// pessimistically is committed as a lock so that its lock is released.
// client-go: 2pc.go initKeysAndMutations with KVFilter (TiDB tests it through its
// unchanged-index filter).
func TestKVFilter(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w, twoPhase)
		p := prefix(t)
		put(t, c, p+"c", "old")
		skip := func(key, value []byte) (bool, error) {
			return bytes.HasSuffix(key, []byte("b")) || bytes.HasSuffix(key, []byte("c")), nil
		}

		w.reset()
		tx, err := c.Begin(testCtx(t), WithKVFilter(skip))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"a", "1", p+"b", "2")
		if err := tx.Delete([]byte(p + "c")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if ops := sentOps(t, c, w, p); len(ops) != 1 || ops["a"] != kvrpcpb.Op_Put {
			t.Fatalf("prewritten %v, want only a", ops)
		}
		if got := get(t, c, p+"b"); got != "" {
			t.Errorf("filtered put b is %q", got)
		}
		if got := get(t, c, p+"c"); got != "old" {
			t.Errorf("filtered delete: c is %q", got)
		}

		// Pessimistic: the locked, filtered key becomes a lock, and is free afterwards.
		w.reset()
		ptx, err := c.Begin(testCtx(t), WithPessimistic(), WithKVFilter(skip))
		if err != nil {
			t.Fatal(err)
		}
		if err := ptx.LockKeys(testCtx(t), []byte(p+"b")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, ptx, p+"a", "3", p+"b", "4")
		if err := ptx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if ops := sentOps(t, c, w, p); ops["a"] != kvrpcpb.Op_Put || ops["b"] != kvrpcpb.Op_Lock {
			t.Fatalf("prewritten %v, want a put and b lock", ops)
		}
		other, err := c.Begin(testCtx(t), WithPessimistic(), WithLockWait(LockWait{Kind: LockWaitNoWait}))
		if err != nil {
			t.Fatal(err)
		}
		if err := other.LockKeys(testCtx(t), []byte(p+"b")); err != nil {
			t.Fatalf("b still locked after commit: %v", err)
		}
		_ = other.Rollback(testCtx(t))
		if got := get(t, c, p+"b"); got != "" {
			t.Errorf("filtered locked put b is %q", got)
		}
	})
}

// A filter error fails the commit before anything is sent.
func TestKVFilterError(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		boom := errors.New("boom")
		tx, err := c.Begin(testCtx(t), WithKVFilter(func(_, _ []byte) (bool, error) { return false, boom }))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, prefix(t)+"a", "1")
		if err := tx.Commit(testCtx(t)); !errors.Is(err, boom) {
			t.Fatalf("commit: %v, want the filter's error", err)
		}
		if pw, _, _ := w.snapshot(); len(pw) != 0 {
			t.Fatalf("%d prewrites sent", len(pw))
		}
	})
}

// A pipelined transaction's flushes apply the filter too.
func TestKVFilterPipelined(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		tx, err := c.Begin(testCtx(t), WithPipelined(PipelinedOptions{SyncResolve: true}),
			WithKVFilter(func(key, _ []byte) (bool, error) { return bytes.HasSuffix(key, []byte("b")), nil }))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"a", "1", p+"b", "2")
		if err := tx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if a, b := get(t, c, p+"a"), get(t, c, p+"b"); a != "1" || b != "" {
			t.Fatalf("a=%q b=%q, want a=1 and no b", a, b)
		}
	})
}
