package conformance

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/tikv"
	"github.com/tikv/client-go/v2/txnkv"
	"github.com/tikv/client-go/v2/txnkv/transaction"
)

// commitKeys writes p+k=v for every pair in one transaction configured by
// setup and returns the committed transaction's probe.
func commitKeys(t *testing.T, c *txnkv.Client, setup func(*transaction.KVTxn), kvs ...string) transaction.TxnProbe {
	t.Helper()
	txn, err := c.Begin()
	must(t, err, "begin")
	if setup != nil {
		setup(txn)
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		must(t, txn.Set([]byte(kvs[i]), []byte(kvs[i+1])), "set")
	}
	must(t, txn.Commit(context.Background()), "commit")
	return transaction.TxnProbe{KVTxn: txn}
}

func readKey(t *testing.T, c *txnkv.Client, k string) (string, bool) {
	t.Helper()
	txn, err := c.Begin()
	must(t, err, "begin read")
	v, err := txn.Get(context.Background(), []byte(k))
	if tikverr.IsErrNotFound(err) {
		return "", false
	}
	must(t, err, "get "+k)
	return string(v.Value), true
}

func TestTxnTwoPhaseCommitAcrossRegions(t *testing.T) {
	c, ctx, p := newTxn(t), ctxT(t), prefix(t)
	_, err := c.SplitRegions(ctx, [][]byte{[]byte(p + "m")}, false, nil)
	must(t, err, "split regions")
	probe := commitKeys(t, c, nil, p+"a", "1", p+"z", "2")
	if probe.GetCommitter().IsOnePC() || probe.GetCommitter().IsAsyncCommit() {
		t.Fatal("plain transaction used 1PC or async commit")
	}
	for k, want := range map[string]string{p + "a": "1", p + "z": "2"} {
		if v, ok := readKey(t, c, k); !ok || v != want {
			t.Fatalf("%s = %q,%v want %q", k, v, ok, want)
		}
	}
	loc, err := c.GetRegionCache().LocateKey(tikv.NewBackofferWithVars(ctx, 5000, nil), []byte(p+"a"))
	must(t, err, "locate")
	if len(loc.EndKey) == 0 || bytes.Compare(loc.EndKey, []byte(p+"z")) > 0 {
		t.Fatalf("keys a and z are in one region ending at %q; the split did not happen", loc.EndKey)
	}
}

func TestTxnAsyncCommit(t *testing.T) {
	c, p := newTxn(t), prefix(t)
	probe := commitKeys(t, c, func(txn *transaction.KVTxn) { txn.SetEnableAsyncCommit(true) },
		p+"a", "1", p+"b", "2", p+"c", "3")
	if !probe.GetCommitter().IsAsyncCommit() {
		t.Fatal("transaction did not commit with async commit")
	}
	if v, ok := readKey(t, c, p+"c"); !ok || v != "3" {
		t.Fatalf("read after async commit = %q,%v", v, ok)
	}
}

func TestTxnOnePC(t *testing.T) {
	c, p := newTxn(t), prefix(t)
	probe := commitKeys(t, c, func(txn *transaction.KVTxn) { txn.SetEnable1PC(true) }, p+"a", "1", p+"b", "2")
	if !probe.GetCommitter().IsOnePC() {
		t.Fatal("single-region transaction did not commit with 1PC")
	}
	if v, ok := readKey(t, c, p+"b"); !ok || v != "2" {
		t.Fatalf("read after 1PC = %q,%v", v, ok)
	}
}

func TestTxnPessimisticLock(t *testing.T) {
	c, ctx, p := newTxn(t), ctxT(t), prefix(t)
	k := []byte(p + "locked")
	t1, err := c.Begin()
	must(t, err, "begin t1")
	t1.SetPessimistic(true)
	must(t, t1.LockKeys(ctx, kv.NewLockCtx(t1.StartTS(), kv.LockAlwaysWait, time.Now()), k), "t1 lock")

	t2, err := c.Begin()
	must(t, err, "begin t2")
	t2.SetPessimistic(true)
	err = t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), kv.LockNoWait, time.Now()), k)
	if err == nil {
		t.Fatal("second pessimistic lock with NOWAIT succeeded on a locked key")
	}
	must(t, t2.Rollback(), "t2 rollback")
	must(t, t1.Set(k, []byte("mine")), "t1 set")
	must(t, t1.Commit(ctx), "t1 commit")
	if v, ok := readKey(t, c, string(k)); !ok || v != "mine" {
		t.Fatalf("read after pessimistic commit = %q,%v", v, ok)
	}
}

func TestTxnWriteConflict(t *testing.T) {
	c, ctx, p := newTxn(t), ctxT(t), prefix(t)
	k := []byte(p + "contended")
	t1, err := c.Begin()
	must(t, err, "begin t1")
	t2, err := c.Begin()
	must(t, err, "begin t2")
	must(t, t1.Set(k, []byte("1")), "t1 set")
	must(t, t2.Set(k, []byte("2")), "t2 set")
	must(t, t1.Commit(ctx), "t1 commit")
	err = t2.Commit(ctx)
	if !tikverr.IsErrWriteConflict(err) {
		t.Fatalf("t2 commit error = %v, want a write conflict", err)
	}
	if v, _ := readKey(t, c, string(k)); v != "1" {
		t.Fatalf("value = %q, want the first committer's", v)
	}
}

func TestTxnSnapshotScanAndDeleteRange(t *testing.T) {
	c, ctx, p := newTxn(t), ctxT(t), prefix(t)
	_, err := c.SplitRegions(ctx, [][]byte{[]byte(p + "010"), []byte(p + "020")}, false, nil)
	must(t, err, "split regions")
	var kvs []string
	for i := 0; i < 30; i++ {
		kvs = append(kvs, fmt.Sprintf("%s%03d", p, i), fmt.Sprintf("v%d", i))
	}
	commitKeys(t, c, nil, kvs...)
	ts, err := c.GetTimestamp(ctx)
	must(t, err, "timestamp")
	// A later write must not be visible to the snapshot taken before it.
	commitKeys(t, c, nil, p+"005", "later")

	snap := c.GetSnapshot(ts)
	it, err := snap.Iter([]byte(p), []byte(p+"~"))
	must(t, err, "snapshot iter")
	n := 0
	for it.Valid() {
		if want := fmt.Sprintf("%s%03d", p, n); string(it.Key()) != want {
			t.Fatalf("scan key %d = %q, want %q", n, it.Key(), want)
		}
		if n == 5 && string(it.Value()) != "v5" {
			t.Fatalf("snapshot sees a later write: %q", it.Value())
		}
		n++
		must(t, it.Next(), "iter next")
	}
	it.Close()
	if n != 30 {
		t.Fatalf("snapshot scan saw %d keys, want 30", n)
	}

	regions, err := c.DeleteRange(ctx, []byte(p+"005"), []byte(p+"025"), 2)
	must(t, err, "delete range")
	if regions < 3 {
		t.Fatalf("delete range touched %d regions, want at least 3", regions)
	}
	txn, err := c.Begin()
	must(t, err, "begin")
	it, err = txn.Iter([]byte(p), []byte(p+"~"))
	must(t, err, "iter after delete range")
	n = 0
	for ; it.Valid(); n++ {
		must(t, it.Next(), "iter next")
	}
	it.Close()
	if n != 10 {
		t.Fatalf("after delete range %d keys left, want 10", n)
	}
}
