package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

func keysOf(kvs []kv.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, p := range kvs {
		out[i] = string(p.Key)
	}
	return out
}

// Read-your-writes over the buffer: Get, BatchGet and iterators in both directions
// merge buffered writes over the snapshot; buffered deletions hide committed keys.
func TestReadYourWrites(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "a0", p+"c", "c0", p+"e", "e0", p+"g", "g0")
		split(t, c, p+"d")
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"b", "b1", p+"c", "c1", p+"f", "f1")
		if err := tx.Delete([]byte(p + "e")); err != nil {
			t.Fatal(err)
		}
		if tx.IsReadOnly() || tx.Len() != 4 || tx.Size() == 0 {
			t.Fatalf("len %d size %d", tx.Len(), tx.Size())
		}
		for k, want := range map[string]string{"a": "a0", "b": "b1", "c": "c1", "e": "", "f": "f1", "g": "g0", "h": ""} {
			v, err := tx.Get(ctx, []byte(p+k))
			if want == "" {
				if !isNotFound(err) {
					t.Fatalf("get %s: %q %v", k, v, err)
				}
				continue
			}
			if err != nil || string(v) != want {
				t.Fatalf("get %s = %q, %v; want %q", k, v, err, want)
			}
		}
		m, err := tx.BatchGet(ctx, [][]byte{[]byte(p + "a"), []byte(p + "b"), []byte(p + "e"), []byte(p + "h")})
		if err != nil || len(m) != 2 || string(m[p+"a"]) != "a0" || string(m[p+"b"]) != "b1" {
			t.Fatalf("batch get = %v, %v", m, err)
		}
		want := []string{p + "a", p + "b", p + "c", p + "f", p + "g"}
		for _, bs := range []int{2, 3, 256} {
			got, err := tx.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0, BatchSize(bs))
			if err != nil || !slices.Equal(keysOf(got), want) {
				t.Fatalf("scan(batch %d) = %v, %v", bs, keysOf(got), err)
			}
			if string(got[2].Value) != "c1" || string(got[0].Value) != "a0" {
				t.Fatalf("values %q %q", got[0].Value, got[2].Value)
			}
			rev, err := tx.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0, Reverse(), BatchSize(bs))
			r := slices.Clone(want)
			slices.Reverse(r)
			if err != nil || !slices.Equal(keysOf(rev), r) {
				t.Fatalf("reverse scan(batch %d) = %v, %v", bs, keysOf(rev), err)
			}
		}
		lim, err := tx.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 2, KeyOnly())
		if err != nil || !slices.Equal(keysOf(lim), want[:2]) || lim[0].Value != nil {
			t.Fatalf("limited key-only scan = %v, %v", lim, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"e") != "" || get(t, c, p+"c") != "c1" || get(t, c, p+"b") != "b1" {
			t.Fatal("committed state")
		}
	})
}

// An iterator stops after Close, and after its ctx ends.
func TestIteratorClose(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	put(t, c, p+"a", "1", p+"c", "3")
	tx, _ := c.Begin(ctx)
	it := tx.Iter(ctx, []byte(p), nil)
	if !it.Next() || string(it.Key()) != p+"a" {
		t.Fatalf("first: %s %v", it.Key(), it.Err())
	}
	it.Close()
	it.Close()
	if it.Next() || it.Err() != nil {
		t.Fatal("next after close")
	}
	cctx, cancel := context.WithCancel(ctx)
	it = c.Snapshot(tx.StartTS()).Iter(cctx, []byte(p), nil)
	cancel()
	if it.Next() || !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("canceled iterator: %v", it.Err())
	}
}

// ports client-go integration_tests/txn_test.go (savepoint behaviour of the memdb
// checkpoints used by TiDB's SAVEPOINT): RollbackTo discards later writes only.
func TestSavepointRollback(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"x", "x0")
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"a", "1")
		cp := tx.Checkpoint()
		mustSet(t, tx, p+"a", "2", p+"b", "2")
		if err := tx.Delete([]byte(p + "x")); err != nil {
			t.Fatal(err)
		}
		cp2 := tx.Checkpoint()
		mustSet(t, tx, p+"c", "3")
		if err := tx.RollbackTo(cp2); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Get(ctx, []byte(p+"c")); !isNotFound(err) {
			t.Fatalf("c after rollback to cp2: %v", err)
		}
		if err := tx.RollbackTo(cp); err != nil {
			t.Fatal(err)
		}
		if err := tx.RollbackTo(cp2); !errors.Is(err, memdb.ErrInvalidHandle) {
			t.Fatalf("stale checkpoint: %v", err)
		}
		other, _ := c.Begin(ctx)
		if err := tx.RollbackTo(other.Checkpoint()); !errors.Is(err, memdb.ErrInvalidHandle) {
			t.Fatalf("foreign checkpoint: %v", err)
		}
		if v, err := tx.Get(ctx, []byte(p+"a")); err != nil || string(v) != "1" {
			t.Fatalf("a = %q %v", v, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"a") != "1" || get(t, c, p+"b") != "" || get(t, c, p+"x") != "x0" {
			t.Fatal("committed state after savepoint rollback")
		}
		if err := tx.RollbackTo(cp); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("rollback to after commit: %v", err)
		}
		// Everything rolled back: read-only again, and Commit writes nothing.
		ro, _ := c.Begin(ctx)
		cp0 := ro.Checkpoint()
		mustSet(t, ro, p+"gone", "1")
		_ = ro.LockKeys(ctx, []byte(p+"x"))
		if err := ro.RollbackTo(cp0); err != nil || !ro.IsReadOnly() {
			t.Fatalf("after full rollback: %v, read-only %v, len %d", err, ro.IsReadOnly(), ro.Len())
		}
		if err := ro.Commit(ctx); err != nil || ro.CommitTS() != 0 || get(t, c, p+"gone") != "" {
			t.Fatal("commit of a rolled-back buffer", err)
		}
	})
}

// Argument checks, limits and the finished-transaction contract.
func TestTxnContract(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.MaxTxnEntries = 3; cfg.Limits.EntrySize = 64 })
	ctx := testCtx(t)
	p := prefix(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tx.IsReadOnly() || tx.CommitTS() != 0 || tx.StartTS() == 0 {
		t.Fatal("fresh txn")
	}
	for name, err := range map[string]error{
		"set":    tx.Set(nil, []byte("v")),
		"delete": tx.Delete(nil),
		"insert": tx.Insert(nil, []byte("v")),
		"lock":   tx.LockKeys(ctx, nil),
	} {
		if !errors.Is(err, ErrEmptyKey) {
			t.Errorf("%s empty key: %v", name, err)
		}
	}
	if _, err := tx.Get(ctx, nil); !errors.Is(err, ErrEmptyKey) {
		t.Error("get empty key", err)
	}
	if _, err := tx.BatchGet(ctx, [][]byte{nil}); !errors.Is(err, ErrEmptyKey) {
		t.Error("batch get empty key", err)
	}
	if err := tx.Set([]byte(p+"k"), nil); !errors.Is(err, kv.ErrEmptyValue) {
		t.Error("empty value", err)
	}
	var sl *kv.SizeLimitError
	if err := tx.Set([]byte(p+"k"), bytes.Repeat([]byte("v"), 100)); !errors.As(err, &sl) || !errors.Is(err, kv.ErrEntryTooLarge) {
		t.Error("entry too large", err)
	}
	mustSet(t, tx, p+"1", "v", p+"2", "v", p+"3", "v")
	if err := tx.Set([]byte(p+"4"), []byte("v")); !errors.Is(err, kv.ErrTxnTooLarge) {
		t.Error("entries", err)
	}
	if err := tx.Set([]byte(p+"1"), []byte("again")); err != nil {
		t.Error("overwrite within the limit", err)
	}
	it := tx.Iter(ctx, []byte("b"), []byte("a"))
	if it.Next() || !errors.Is(it.Err(), kv.ErrInvalidRange) {
		t.Error("inverted range", it.Err())
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal("second rollback", err)
	}
	for name, err := range map[string]error{
		"set":    tx.Set([]byte("k"), []byte("v")),
		"delete": tx.Delete([]byte("k")),
		"insert": tx.Insert([]byte("k"), []byte("v")),
		"lock":   tx.LockKeys(ctx, []byte("k")),
		"commit": tx.Commit(ctx),
	} {
		if !errors.Is(err, kv.ErrTxnDone) {
			t.Errorf("%s after rollback: %v", name, err)
		}
	}
	// A committed transaction refuses Rollback; a read-only one commits with no RPC.
	ro, _ := c.Begin(ctx)
	if err := ro.Commit(ctx); err != nil || ro.CommitTS() != 0 {
		t.Fatal("read-only commit", err)
	}
	if err := ro.Rollback(ctx); !errors.Is(err, kv.ErrTxnDone) {
		t.Fatal("rollback after commit", err)
	}
	// Begin with an explicit start ts.
	ts, _ := c.CurrentTS(ctx)
	at, err := c.Begin(ctx, WithStartTS(ts), WithPriority(PriorityHigh), WithRequestSource("test"),
		WithResourceGroup("default"), WithNotFillCache())
	if err != nil || at.StartTS() != ts {
		t.Fatal("begin at ts", err)
	}
	if _, err := at.Get(ctx, []byte(p+"none")); !isNotFound(err) {
		t.Fatal(err)
	}
}

// Insert: fails at commit when the key exists, locally when written in the txn, and an
// insert-then-delete keeps the existence check (Op_CheckNotExists).
func TestInsert(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"exists", "v")
		tx, _ := c.Begin(ctx)
		if err := tx.Insert([]byte(p+"exists"), []byte("w")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"other", "o")
		var ke *kv.KeyExistsError
		if err := tx.Commit(ctx); !errors.As(err, &ke) || string(ke.Key) != p+"exists" {
			t.Fatalf("commit insert of existing key: %v", err)
		}
		if get(t, c, p+"other") != "" {
			t.Fatal("failed commit wrote a key")
		}
		tx, _ = c.Begin(ctx)
		if err := tx.Insert([]byte(p+"new"), []byte("n")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Insert([]byte(p+"new"), []byte("n2")); !errors.As(err, &ke) {
			t.Fatalf("insert twice: %v", err)
		}
		if err := tx.Delete([]byte(p + "exists")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Insert([]byte(p+"exists"), []byte("again")); err != nil {
			t.Fatal("insert after own delete:", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"new") != "n" || get(t, c, p+"exists") != "again" {
			t.Fatal("inserted values")
		}
		// Insert then delete of an existing key: the check still fails the commit.
		tx, _ = c.Begin(ctx)
		if err := tx.Insert([]byte(p+"new"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Delete([]byte(p + "new")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); !errors.As(err, &ke) {
			t.Fatalf("check-not-exists: %v", err)
		}
		// Only a passing existence check: commits, writes nothing.
		tx, _ = c.Begin(ctx)
		_ = tx.Insert([]byte(p+"absent"), []byte("x"))
		_ = tx.Delete([]byte(p + "absent"))
		if err := tx.Commit(ctx); err != nil || get(t, c, p+"absent") != "" {
			t.Fatalf("check-only commit: %v", err)
		}
	})
}

// ports client-go integration_tests/isolation_test.go TestWriteWriteConflict (lost
// update) and TestReadWriteConflict (read skew): snapshot isolation forbids both.
func TestSnapshotIsolation(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		counter := []byte(p + "counter")
		put(t, c, string(counter), "0", p+"x", "50", p+"y", "50")

		// Lost update.
		t1, _ := c.Begin(ctx)
		t2, _ := c.Begin(ctx)
		for _, tx := range []*Txn{t1, t2} {
			v, err := tx.Get(ctx, counter)
			if err != nil || string(v) != "0" {
				t.Fatal(v, err)
			}
			mustSet(t, tx, string(counter), "1")
		}
		if err := t1.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		err := t2.Commit(ctx)
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) || !kv.IsRetryable(err) {
			t.Fatalf("second writer: %v", err)
		}
		if !bytes.Equal(wc.Key, counter) || wc.StartTS != t2.StartTS() || wc.ConflictStartTS != t1.StartTS() ||
			wc.ConflictCommitTS != t1.CommitTS() || wc.Reason != kv.ConflictOptimistic {
			t.Fatalf("conflict fields: %+v (t1 %d/%d, t2 %d)", wc, t1.StartTS(), t1.CommitTS(), t2.StartTS())
		}
		if err := t2.Rollback(ctx); err != nil {
			t.Fatal("rollback after failed commit:", err)
		}

		// Read skew.
		r, _ := c.Begin(ctx)
		x, _ := r.Get(ctx, []byte(p+"x"))
		w, _ := c.Begin(ctx)
		mustSet(t, w, p+"x", "40", p+"y", "60")
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		y, _ := r.Get(ctx, []byte(p+"y"))
		if string(x) != "50" || string(y) != "50" {
			t.Fatalf("read skew: x=%s y=%s", x, y)
		}

		// Write skew is allowed by SI unless the read keys are locked.
		a, _ := c.Begin(ctx)
		b, _ := c.Begin(ctx)
		if err := a.LockKeys(ctx, []byte(p+"x"), []byte(p+"y")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, a, p+"x", "0")
		mustSet(t, b, p+"y", "0")
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(ctx); !errors.As(err, &wc) || string(wc.Key) != p+"y" {
			t.Fatalf("locked read key: %v", err)
		}
	})
}

// LockKeys alone (no write) commits Op_Lock mutations and leaves values unchanged.
func TestLockKeysOnly(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	put(t, c, p+"k", "v")
	tx, _ := c.Begin(ctx)
	if err := tx.LockKeys(ctx, []byte(p+"k"), []byte(p+"absent")); err != nil {
		t.Fatal(err)
	}
	if tx.IsReadOnly() {
		t.Fatal("locks are writes")
	}
	if err := tx.Commit(ctx); err != nil || tx.CommitTS() == 0 {
		t.Fatal(err)
	}
	if get(t, c, p+"k") != "v" || get(t, c, p+"absent") != "" {
		t.Fatal("lock changed data")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	tx, _ = c.Begin(ctx)
	if err := tx.LockKeys(cctx, []byte(p+"k")); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestMutationDerivation(t *testing.T) {
	db := memdb.New(memdb.Limits{})
	_ = db.Set([]byte("b"), []byte("1"))
	_ = db.SetWithFlags([]byte("c"), []byte("2"), memdb.FlagPresumeKNE)
	_ = db.Delete([]byte("d"))
	_ = db.SetWithFlags([]byte("e"), []byte("3"), memdb.FlagPresumeKNE)
	_ = db.Delete([]byte("e"))
	_ = db.UpdateFlags([]byte("a"), memdb.FlagNeedLocked, 0)
	_ = db.UpdateFlags([]byte("f"), memdb.FlagReadable, 0) // no mutation
	muts, size := mutationsOf(db)
	got := ""
	for _, m := range muts {
		got += fmt.Sprintf("%s:%s ", m.key, m.op)
	}
	if got != "a:Lock b:Put c:Insert d:Del e:CheckNotExists " || size != 7 {
		t.Fatalf("mutations %q size %d", got, size)
	}
	if primaryOf(muts) != 0 || primaryOf(muts[4:]) != -1 || primaryOf(muts[1:]) != 0 {
		t.Fatal("primary choice")
	}
}
