package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// Ports of client-go integration_tests cases not covered elsewhere in this package
// (see docs/parity.md §2).

// client-go: integration_tests/isolation_test.go TestReadWriteConflict: while one writer
// commits a sequence of values, concurrent readers each see exactly the value of the
// last write committed at or before their start ts.
func TestPortReadWriteConflict(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		k := prefix(t) + "k"
		const writes, readers = 10, 4
		put(t, c, k, "0")
		commits := make([]uint64, 0, writes) // commit ts of value i+1
		done := make(chan struct{})
		var werr error
		go func() {
			defer close(done)
			for i := 1; i <= writes; i++ {
				tx, err := c.Begin(ctx)
				if err == nil {
					err = tx.Set([]byte(k), fmt.Appendf(nil, "%d", i))
				}
				if err == nil {
					err = tx.Commit(ctx)
				}
				if err != nil {
					werr = err
					return
				}
				commits = append(commits, tx.CommitTS())
			}
		}()
		type read struct {
			startTS uint64
			value   string
		}
		var (
			mu    sync.Mutex
			reads []read
			wg    sync.WaitGroup
		)
		for range readers {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					tx, err := c.Begin(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					v, err := tx.Get(ctx, []byte(k))
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
					mu.Lock()
					reads = append(reads, read{tx.StartTS(), string(v)})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		<-done
		if werr != nil {
			t.Fatal(werr)
		}
		if len(reads) == 0 {
			t.Fatal("no reads")
		}
		for _, r := range reads {
			want := 0
			for _, cts := range commits {
				if r.startTS >= cts {
					want++
				}
			}
			if r.value != fmt.Sprint(want) {
				t.Fatalf("read at %d saw %q, want %d (commits %v)", r.startTS, r.value, want, commits)
			}
		}
	})
}

// ctxTap records the request contexts of the transactional reads one client sends.
type ctxTap struct {
	mu   sync.Mutex
	seen map[string][]*kvrpcpb.Context // by request kind
}

func (tp *ctxTap) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "ctx-tap", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			var kind string
			switch inv.Request.(type) {
			case *kvrpcpb.GetRequest:
				kind = "get"
			case *kvrpcpb.BatchGetRequest:
				kind = "batch-get"
			case *kvrpcpb.ScanRequest:
				kind = "scan"
			}
			if r, ok := inv.Request.(interface{ GetContext() *kvrpcpb.Context }); ok && kind != "" {
				tp.mu.Lock()
				if tp.seen == nil {
					tp.seen = make(map[string][]*kvrpcpb.Context)
				}
				tp.seen[kind] = append(tp.seen[kind], r.GetContext())
				tp.mu.Unlock()
			}
			return next(ctx, inv)
		}
	}}
}

func (tp *ctxTap) take(kind string) []*kvrpcpb.Context {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := tp.seen[kind]
	delete(tp.seen, kind)
	return out
}

// client-go: integration_tests/resource_group_test.go TestResourceGroupName: the
// transaction's resource group name reaches TiKV with its Get, BatchGet and scan requests.
// resource_tag_test.go TestResourceGroupTag, client-wide part: a resource group tag set
// in the client's default request context (cfg.RPC.Context) reaches the same reads
// (per-transaction tags and taggers are not built).
func TestPortResourceGroupNameAndTag(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		tap := &ctxTap{}
		tag := []byte("TEST-TAG-1")
		c := open(t, tg, func(cfg *Config) {
			cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, tap.interceptor())
			cfg.RPC.Context.ResourceGroupTag = tag
		})
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"a", "1", p+"b", "2")
		tap.take("get")
		tap.take("batch-get")
		tap.take("scan")

		tx, err := c.Begin(ctx, WithResourceGroup("test"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Get(ctx, []byte(p+"a")); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.BatchGet(ctx, [][]byte{[]byte(p + "a"), []byte(p + "b"), []byte(p + "c")}); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Scan(ctx, []byte(p), []byte(p+"z"), 10); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"get", "batch-get", "scan"} {
			got := tap.take(kind)
			if len(got) == 0 {
				t.Fatalf("%s: no request seen", kind)
			}
			for _, rc := range got {
				if name := rc.GetResourceControlContext().GetResourceGroupName(); name != "test" {
					t.Fatalf("%s: resource group %q", kind, name)
				}
				if !bytes.Equal(rc.GetResourceGroupTag(), tag) {
					t.Fatalf("%s: resource group tag %q", kind, rc.GetResourceGroupTag())
				}
			}
		}
		_ = tx.Rollback(ctx)
		// Without the option no resource group is named.
		if got := get(t, c, p+"a"); got != "1" {
			t.Fatalf("get: %q", got)
		}
		for _, rc := range tap.take("get") {
			if name := rc.GetResourceControlContext().GetResourceGroupName(); name != "" {
				t.Fatalf("resource group %q without the option", name)
			}
		}
	})
}

// client-go: integration_tests/option_test.go TestSetCommitWaitUntilTSO, cases "should
// also check for 1pc" and "should also check for causal consistency": the wait-until ts
// applies to 1PC and async commit (causal or not) too; a TSO that does not reach it in
// time fails the commit with kv.ErrCommitTSLag and nothing is committed. (The lag-and-
// retry and lag-too-much cases for 2PC: TestCommitTSConstraints.)
func TestPortCommitWaitUntilTSOFastPaths(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		far := ts(t, c) + uint64(time.Hour.Milliseconds())<<18
		for i, opts := range [][]TxnOption{
			{WithAsyncCommit(true), WithOnePC(true)},
			{WithAsyncCommit(true), WithOnePC(true), WithCausalConsistency()},
			{WithAsyncCommit(true), WithOnePC(false)},
		} {
			k := fmt.Sprintf("%sk%d", p, i)
			tx, _ := c.Begin(ctx, append(opts, WithCommitWaitUntilTSO(far, 50*time.Millisecond))...)
			mustSet(t, tx, k, "v")
			if err := tx.Commit(ctx); !errors.Is(err, kv.ErrCommitTSLag) {
				t.Fatalf("case %d: %v, want ErrCommitTSLag", i, err)
			}
			if get(t, c, k) != "" {
				t.Fatalf("case %d: committed despite the lag", i)
			}
		}
		if DefaultCommitWaitTimeout != time.Second { // client-go's default wait
			t.Fatalf("default commit wait %v", DefaultCommitWaitTimeout)
		}
	})
}

// lockTap records the for-update ts of pessimistic lock requests.
type lockTap struct {
	mu  sync.Mutex
	fut []uint64
}

func (lt *lockTap) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "lock-tap", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			if r, ok := inv.Request.(*kvrpcpb.PessimisticLockRequest); ok {
				lt.mu.Lock()
				lt.fut = append(lt.fut, r.GetForUpdateTs())
				lt.mu.Unlock()
			}
			return next(ctx, inv)
		}
	}}
}

// client-go: integration_tests/prewrite_test.go TestSetMinCommitTSInAsyncCommit: an
// async-commit prewrite's min commit ts is at least start ts + 1, at least for-update
// ts + 1 in a pessimistic transaction, and the fresh timestamp (plus one) when one was
// taken (linearizable async commit).
func TestPortMinCommitTSInAsyncCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		lt := &lockTap{}
		c := openWire(t, tg, w, func(cfg *Config) {
			cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, lt.interceptor())
		})
		ctx := testCtx(t)
		p := prefix(t)
		for _, causal := range []bool{true, false} {
			w.reset()
			opts := []TxnOption{WithPessimistic(), WithAsyncCommit(true), WithOnePC(false)}
			if causal {
				opts = append(opts, WithCausalConsistency())
			}
			tx, _ := c.Begin(ctx, opts...)
			ts(t, c) // the TSO moves on: the for-update ts differs from the start ts
			k := fmt.Sprintf("%sk-%v", p, causal)
			if err := tx.LockKeys(ctx, []byte(k)); err != nil {
				t.Fatal(err)
			}
			lt.mu.Lock()
			fut := lt.fut[len(lt.fut)-1]
			lt.mu.Unlock()
			if fut <= tx.StartTS() {
				t.Fatalf("for-update ts %d not above start %d", fut, tx.StartTS())
			}
			mustSet(t, tx, k, "v")
			ts(t, c)
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			pw, _, _ := w.snapshot()
			if len(pw) == 0 || !pw[len(pw)-1].UseAsyncCommit {
				t.Fatalf("causal %v: no async-commit prewrite", causal)
			}
			got := pw[len(pw)-1].MinCommitTs
			if causal && got != fut+1 {
				t.Fatalf("causal: min commit ts %d, want for-update ts + 1 = %d", got, fut+1)
			}
			if !causal && got <= fut+1 {
				t.Fatalf("linearizable: min commit ts %d not above for-update ts + 1 = %d", got, fut+1)
			}
		}
		// Optimistic and causal: start ts + 1 (TestCausalConsistency checks it as well).
		w.reset()
		tx, _ := c.Begin(ctx, WithAsyncCommit(true), WithOnePC(false), WithCausalConsistency())
		mustSet(t, tx, p+"o", "v")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if pw, _, _ := w.snapshot(); len(pw) == 0 || pw[len(pw)-1].MinCommitTs != tx.StartTS()+1 {
			t.Fatalf("optimistic causal: prewrites %d", len(pw))
		}
	})
}

// client-go: integration_tests/async_commit_fail_test.go TestAsyncCommitPrewriteCancelled:
// an async-commit transaction over two regions whose prewrite meets a write conflict in
// one of them fails with the *kv.WriteConflictError (not a cancellation of the other
// region's prewrite), and leaves nothing committed or locked.
func TestPortAsyncCommitPrewriteConflict(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"s")
		tx, _ := c.Begin(ctx, WithAsyncCommit(true), WithOnePC(false))
		mustSet(t, tx, p+"a", "a", p+"z", "z")
		put(t, c, p+"z", "other") // committed after tx began
		err := tx.Commit(ctx)
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) {
			t.Fatalf("commit: %v, want a write conflict", err)
		}
		if rawLocked(t, c, p+"a") || rawLocked(t, c, p+"z") { // before a read resolves them
			t.Fatal("the failed transaction left locks")
		}
		if get(t, c, p+"a") != "" || get(t, c, p+"z") != "other" {
			t.Fatal("the failed transaction left data")
		}
	})
}

// client-go: integration_tests/async_commit_fail_test.go TestSecondaryListInPrimaryLock:
// over several regions, the primary's async-commit prewrite lists every other key of the
// transaction as a secondary (none for a single key).
func TestPortSecondaryListInPrimaryLock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"h", p+"o", p+"u")
		cd := c.Cluster().Codec()
		for i, keys := range [][]string{{"a"}, {"a", "b"}, {"a", "b", "d"}, {"a", "b", "h", "i", "u"}, {"i", "a", "z", "u", "b"}} {
			w.reset()
			tx, _ := c.Begin(ctx, WithAsyncCommit(true), WithOnePC(false))
			for _, k := range keys {
				mustSet(t, tx, p+k, fmt.Sprintf("%s%d", k, i))
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			pw, _, _ := w.snapshot()
			var primaryReq *kvrpcpb.PrewriteRequest
			for _, r := range pw {
				for _, m := range r.Mutations {
					if bytes.Equal(m.Key, r.PrimaryLock) {
						primaryReq = r
					}
				}
			}
			if primaryReq == nil || !primaryReq.UseAsyncCommit {
				t.Fatalf("case %d: no async-commit prewrite of the primary", i)
			}
			var want, got []string
			for _, k := range keys {
				if ek := cd.EncodeKey([]byte(p + k)); !bytes.Equal(ek, primaryReq.PrimaryLock) {
					want = append(want, string(ek))
				}
			}
			for _, s := range primaryReq.Secondaries {
				got = append(got, string(s))
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Fatalf("case %d: secondaries %q, want %q", i, got, want)
			}
		}
	})
}

// client-go: integration_tests/snapshot_fail_test.go TestBatchGetResponseKeyError and
// TestScanResponseKeyError: a BatchGet or scan answered once with a response-level key
// error (a lock of an abandoned transaction) resolves it and reads again, returning all
// the data.
func TestPortResponseKeyErrorRetried(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		var inject atomic.Int32 // 1: batch get, 2: scan
		var lockTS atomic.Uint64
		var injected atomic.Int32
		p := prefix(t)
		var cl *Client
		ic := rpc.Interceptor{Name: "key-error", Wrap: func(next rpc.Invoker) rpc.Invoker {
			return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
				lock := func() *kvrpcpb.KeyError {
					return &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{
						PrimaryLock: cl.Cluster().Codec().EncodeKey([]byte(p + "ghost")),
						Key:         cl.Cluster().Codec().EncodeKey([]byte(p + "k1")),
						LockVersion: lockTS.Load(), LockTtl: 0, TxnSize: 1, LockType: kvrpcpb.Op_Put}}
				}
				switch inv.Request.(type) {
				case *kvrpcpb.BatchGetRequest:
					if inject.CompareAndSwap(1, 0) {
						injected.Add(1)
						return &kvrpcpb.BatchGetResponse{Error: lock()}, nil
					}
				case *kvrpcpb.ScanRequest:
					if inject.CompareAndSwap(2, 0) {
						injected.Add(1)
						return &kvrpcpb.ScanResponse{Error: lock()}, nil
					}
				}
				return next(ctx, inv)
			}
		}}
		cl = open(t, tg, func(cfg *Config) { cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, ic) })
		ctx := testCtx(t)
		put(t, cl, p+"k1", "v1", p+"k2", "v2", p+"k3", "v3")
		lockTS.Store(ts(t, cl))

		tx, _ := cl.Begin(ctx)
		inject.Store(1)
		m, err := tx.BatchGet(ctx, [][]byte{[]byte(p + "k1"), []byte(p + "k2")})
		if err != nil || len(m) != 2 || string(m[p+"k1"]) != "v1" || string(m[p+"k2"]) != "v2" {
			t.Fatalf("batch get: %v %v", m, err)
		}
		for _, start := range []string{"a", "k2"} {
			tx, _ := cl.Begin(ctx)
			inject.Store(2)
			kvs, err := tx.Scan(ctx, []byte(p+start), []byte(p+"k4"), 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range kvs {
				got = append(got, string(e.Key)+"="+string(e.Value))
			}
			want := []string{p + "k1=v1", p + "k2=v2", p + "k3=v3"}
			if start == "k2" {
				want = want[1:]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("scan from %s: %q", start, got)
			}
		}
		if injected.Load() != 3 {
			t.Fatalf("%d key errors injected, want 3", injected.Load())
		}
	})
}

// client-go: integration_tests/async_commit_fail_test.go TestFailAsyncCommitPrewriteRpcErrors,
// the parts after the error: an async-commit prewrite that TiKV applied but whose answer
// was lost makes Commit undetermined; Rollback is then refused (the transaction is over,
// nothing is cleaned up), and the transaction turns out committed: a reader decides it
// from its locks and sees the value.
func TestPortUndeterminedAsyncCommitIsCommitted(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{failPrewrite: fmt.Errorf("injected: %w", kv.ErrStoreUnavailable)}
		c := openWire(t, tg, w, func(cfg *Config) { cfg.RPC.MaxBatchSize = -1 })
		reader := open(t, tg)
		p := prefix(t)
		ctx, cancel := context.WithTimeout(testCtx(t), 3*time.Second)
		defer cancel()
		tx, _ := c.Begin(ctx, WithAsyncCommit(true), WithOnePC(false), WithLockTTL(time.Millisecond))
		mustSet(t, tx, p+"a", "a1")
		err := tx.Commit(ctx)
		if !kv.IsUndetermined(err) {
			t.Fatalf("commit: %v, want undetermined", err)
		}
		if err := tx.Rollback(testCtx(t)); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("rollback after the undetermined commit: %v", err)
		}
		pastTTL()
		if got := get(t, reader, p+"a"); got != "a1" {
			t.Fatalf("read after the undetermined commit: %q, want a1", got)
		}
	})
}
