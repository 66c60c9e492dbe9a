package clientgocompat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
	"go.uber.org/goleak"
)

// binary is the cmd/memcluster executable built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "memcluster-compat")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "memcluster")
	build := exec.Command("go", "build", "-o", binary, "./cmd/memcluster")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cmd/memcluster:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every client was closed: nothing may be left running.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// recorder collects the request lines the cluster logs on stderr.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range strings.Split(string(p), "\n") {
		if strings.HasPrefix(l, "request ") {
			r.lines = append(r.lines, l)
		}
	}
	return len(p), nil
}

// reset returns per-method counts and the async-commit and 1PC prewrite counts logged
// since the last reset. Log lines arrive through a pipe and client-go commits secondaries
// in the background, so it first waits until no line has arrived for 150ms.
func (r *recorder) reset() (methods map[string]int, async, onePC int) {
	for n := -1; ; {
		time.Sleep(150 * time.Millisecond)
		r.mu.Lock()
		m := len(r.lines)
		r.mu.Unlock()
		if m == n {
			break
		}
		n = m
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	methods = map[string]int{}
	for _, l := range r.lines {
		f := strings.Fields(l)
		methods[f[1]]++
		if strings.Contains(l, " async-commit") {
			async++
		}
		if strings.Contains(l, " one-pc") {
			onePC++
		}
	}
	r.lines = nil
	return methods, async, onePC
}

// startCluster runs a 3-store cluster with the given split flags and returns PD's
// address. Raw (API v1) and transactional data get separate clusters: a plain raw split
// key is not a valid boundary for a transactional client, which decodes every boundary
// as memcomparable bytes (the same holds for a real API v1 cluster).
func startCluster(t *testing.T, splitFlags ...string) (string, *recorder) {
	t.Helper()
	args := append([]string{"-stores", "3", "-log-requests"}, splitFlags...)
	cmd := exec.Command(binary, args...)
	rec := &recorder{}
	cmd.Stderr = rec
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if pd, ok := strings.CutPrefix(sc.Text(), "PD "); ok {
			go func() { // keep draining stdout
				for sc.Scan() {
				}
			}()
			return pd, rec
		}
	}
	t.Fatal("memcluster printed no PD address")
	return "", nil
}

func TestRawKV(t *testing.T) {
	pd, _ := startCluster(t, "-split", "raw-m")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := rawkv.NewClientWithOpts(ctx, []string{pd})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.SetAtomicForCAS(true)

	keys := [][]byte{[]byte("raw-a"), []byte("raw-k"), []byte("raw-p"), []byte("raw-z")}
	vals := [][]byte{[]byte("1"), []byte("2"), []byte("3"), []byte("4")}
	must(t, cli.BatchPut(ctx, keys, vals))
	if v, err := cli.Get(ctx, []byte("raw-p")); err != nil || string(v) != "3" {
		t.Fatalf("get %q %v", v, err)
	}
	got, err := cli.BatchGet(ctx, keys)
	if err != nil || string(got[3]) != "4" {
		t.Fatalf("batch get %q %v", got, err)
	}
	ks, _, err := cli.Scan(ctx, []byte("raw-"), []byte("raw-~"), 10)
	if err != nil || len(ks) != 4 {
		t.Fatalf("scan across regions: %q %v", ks, err)
	}
	ks, _, err = cli.ReverseScan(ctx, []byte("raw-~"), []byte("raw-"), 3)
	if err != nil || len(ks) != 3 || string(ks[0]) != "raw-z" || string(ks[2]) != "raw-k" {
		t.Fatalf("reverse scan across regions: %q %v", ks, err)
	}

	var want uint64
	for i := range keys {
		d := crc64.New(crc64.MakeTable(crc64.ECMA))
		d.Write(keys[i])
		d.Write(vals[i])
		want ^= d.Sum64()
	}
	sum, err := cli.Checksum(ctx, []byte("raw-"), []byte("raw-~"))
	if err != nil || sum.Crc64Xor != want || sum.TotalKvs != 4 {
		t.Fatalf("checksum %+v %v (want %x)", sum, err, want)
	}

	prev, ok, err := cli.CompareAndSwap(ctx, []byte("raw-a"), []byte("1"), []byte("10"))
	if err != nil || !ok || string(prev) != "1" {
		t.Fatalf("cas %q %v %v", prev, ok, err)
	}
	if _, ok, _ := cli.CompareAndSwap(ctx, []byte("raw-a"), []byte("1"), []byte("11")); ok {
		t.Fatal("cas with a stale expectation must fail")
	}

	must(t, cli.PutWithTTL(ctx, []byte("raw-ttl"), []byte("t"), 100))
	if ttl, err := cli.GetKeyTTL(ctx, []byte("raw-ttl")); err != nil || ttl == nil || *ttl == 0 || *ttl > 100 {
		t.Fatalf("ttl %v %v", ttl, err)
	}

	must(t, cli.Delete(ctx, []byte("raw-a")))
	if v, err := cli.Get(ctx, []byte("raw-a")); err != nil || v != nil {
		t.Fatalf("deleted key: %q %v", v, err)
	}
	must(t, cli.DeleteRange(ctx, []byte("raw-"), []byte("raw-~")))
	if ks, _, err := cli.Scan(ctx, []byte("raw-"), []byte("raw-~"), 10); err != nil || len(ks) != 0 {
		t.Fatalf("after delete range: %q %v", ks, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTxnKV(t *testing.T) {
	pd, rec := startCluster(t, "-split-txn", "txn-m")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := txnkv.NewClient([]string{pd})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	write := func(setup func(*txnkv.KVTxn), kvs ...string) error {
		txn, err := cli.Begin()
		if err != nil {
			return err
		}
		if setup != nil {
			setup(txn)
		}
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := txn.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return txn.Commit(ctx)
	}
	read := func(k string) string {
		t.Helper()
		txn, err := cli.Begin()
		must(t, err)
		v, err := txn.Get(ctx, []byte(k))
		if tikverr.IsErrNotFound(err) {
			return ""
		}
		must(t, err)
		return string(v.Value)
	}

	rec.reset()
	must(t, write(nil, "txn-a", "1", "txn-z", "2"))
	if m, _, _ := rec.reset(); m["KvPrewrite"] < 2 || m["KvCommit"] < 1 {
		t.Fatalf("2PC must prewrite both regions and commit: %v", m)
	}
	if read("txn-a") != "1" || read("txn-z") != "2" {
		t.Fatal("2PC data not visible")
	}

	must(t, write(func(txn *txnkv.KVTxn) { txn.SetEnableAsyncCommit(true) }, "txn-b", "3", "txn-y", "4"))
	if _, async, _ := rec.reset(); async < 2 {
		t.Fatalf("async commit prewrites: %d", async)
	}
	if read("txn-b") != "3" || read("txn-y") != "4" {
		t.Fatal("async-commit data not visible")
	}

	must(t, write(func(txn *txnkv.KVTxn) { txn.SetEnable1PC(true) }, "txn-c", "5"))
	if m, _, onePC := rec.reset(); onePC != 1 || m["KvCommit"] != 0 {
		t.Fatalf("1PC: %d one-phase prewrites, %d commits", onePC, m["KvCommit"])
	}
	if read("txn-c") != "5" {
		t.Fatal("1PC data not visible")
	}

	// Optimistic write conflict: the later committer loses.
	t1, _ := cli.Begin()
	t2, _ := cli.Begin()
	must(t, t1.Set([]byte("txn-c"), []byte("t1")))
	must(t, t2.Set([]byte("txn-c"), []byte("t2")))
	must(t, t1.Commit(ctx))
	var wc *tikverr.ErrWriteConflict
	if err := t2.Commit(ctx); !errors.As(err, &wc) {
		t.Fatalf("want a write conflict, got %v", err)
	}

	// Pessimistic: a second locker waits with NOWAIT semantics failing fast.
	p1, _ := cli.Begin()
	p1.SetPessimistic(true)
	must(t, p1.LockKeysWithWaitTime(ctx, kv.LockAlwaysWait, []byte("txn-p")))
	p2, _ := cli.Begin()
	p2.SetPessimistic(true)
	if err := p2.LockKeysWithWaitTime(ctx, kv.LockNoWait, []byte("txn-p")); !errors.Is(err, tikverr.ErrLockAcquireFailAndNoWaitSet) {
		t.Fatalf("no-wait lock must fail fast: %v", err)
	}
	must(t, p2.Rollback())
	must(t, p1.Set([]byte("txn-p"), []byte("p")))
	must(t, p1.Commit(ctx))
	if read("txn-p") != "p" {
		t.Fatal("pessimistic data not visible")
	}

	// A waiting pessimistic lock is woken by the holder's commit.
	h, _ := cli.Begin()
	h.SetPessimistic(true)
	must(t, h.LockKeysWithWaitTime(ctx, kv.LockAlwaysWait, []byte("txn-w")))
	waited := make(chan error, 1)
	var committedAt time.Time
	go func() {
		w, err := cli.Begin()
		if err == nil {
			w.SetPessimistic(true)
			err = w.LockKeysWithWaitTime(ctx, kv.LockAlwaysWait, []byte("txn-w"))
			w.Rollback()
		}
		waited <- err
	}()
	time.Sleep(200 * time.Millisecond)
	must(t, h.Set([]byte("txn-w"), []byte("w")))
	committedAt = time.Now()
	must(t, h.Commit(ctx))
	select {
	case err := <-waited:
		if time.Now().Before(committedAt) {
			t.Fatal("the waiter returned before the holder committed")
		}
		if err != nil && !errors.As(err, &wc) {
			t.Fatalf("the woken waiter must lock or see a write conflict: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was never woken")
	}
	if m, _, _ := rec.reset(); m["KvPessimisticLock"] < 2 {
		t.Fatalf("pessimistic lock requests: %v", m)
	}

	// Crosswise locking: whichever request closes the wait-for cycle is the victim
	// (which one depends on timing, as in TiKV: waits time out after 1 s and are
	// re-sent); the victim rolls back and the survivor proceeds.
	d1, _ := cli.Begin()
	d1.SetPessimistic(true)
	d2, _ := cli.Begin()
	d2.SetPessimistic(true)
	must(t, d1.LockKeysWithWaitTime(ctx, kv.LockAlwaysWait, []byte("txn-d1")))
	must(t, d2.LockKeysWithWaitTime(ctx, kv.LockAlwaysWait, []byte("txn-d2")))
	type outcome struct {
		txn *txnkv.KVTxn
		err error
	}
	results := make(chan outcome, 2)
	for _, c := range []struct {
		txn *txnkv.KVTxn
		key string
	}{{d1, "txn-d2"}, {d2, "txn-d1"}} {
		go func() { results <- outcome{c.txn, c.txn.LockKeysWithWaitTime(ctx, kv.LockAlwaysWait, []byte(c.key))} }()
	}
	var dl *tikverr.ErrDeadlock
	select {
	case first := <-results:
		if !errors.As(first.err, &dl) {
			t.Fatalf("the first to return must be the deadlock victim, got %v", first.err)
		}
		must(t, first.txn.Rollback())
	case <-time.After(10 * time.Second):
		t.Fatal("no deadlock detected")
	}
	select {
	case second := <-results:
		if second.err != nil && !errors.As(second.err, &wc) {
			t.Fatalf("the survivor must lock or see a write conflict: %v", second.err)
		}
		must(t, second.txn.Rollback())
	case <-time.After(10 * time.Second):
		t.Fatal("the survivor was never woken")
	}

	// Snapshot iteration across the region boundary.
	snap := cli.GetSnapshot(mustTS(t, cli))
	it, err := snap.Iter([]byte("txn-"), []byte("txn-~"))
	must(t, err)
	var seen [][]byte
	for it.Valid() {
		seen = append(seen, append([]byte{}, it.Key()...))
		must(t, it.Next())
	}
	it.Close()
	if len(seen) != 7 || !bytes.Equal(seen[0], []byte("txn-a")) {
		t.Fatalf("snapshot scan: %q", seen)
	}
}

func mustTS(t *testing.T, cli *txnkv.Client) uint64 {
	t.Helper()
	ts, err := cli.CurrentTimestamp("global")
	must(t, err)
	return ts
}
