package txn

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/memcluster"
)

// wire records the prewrite and commit RPCs of one client that TiKV applied (answers
// with a region error are left out) (an rpc interceptor, so it
// works on every target) and can rewrite prewrite responses to play a TiKV that declines
// async commit or 1PC. It also traces how transactions end.
type wire struct {
	mu        sync.Mutex
	prewrites []*kvrpcpb.PrewriteRequest
	commits   int
	locks     int // pessimistic lock requests
	ends      []kv.TxnEnd
	// zeroMinCommit and zeroOnePC rewrite successful prewrite responses.
	zeroMinCommit, zeroOnePC bool
	// failPrewrite makes prewrites fail with this error after they reached TiKV.
	failPrewrite error
}

func (w *wire) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "wire", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			resp, err := next(ctx, inv)
			w.mu.Lock()
			defer w.mu.Unlock()
			if r, ok := resp.(interface{ GetRegionError() *errorpb.Error }); ok && err == nil && r.GetRegionError() != nil {
				return resp, err // not applied; the Sender retries it
			}
			switch req := inv.Request.(type) {
			case *kvrpcpb.PrewriteRequest:
				w.prewrites = append(w.prewrites, req)
				if err == nil && w.failPrewrite != nil {
					return nil, w.failPrewrite
				}
				if r, ok := resp.(*kvrpcpb.PrewriteResponse); ok && err == nil && len(r.GetErrors()) == 0 {
					if w.zeroMinCommit {
						r.MinCommitTs = 0
					}
					if w.zeroOnePC {
						r.OnePcCommitTs = 0
					}
				}
			case *kvrpcpb.CommitRequest:
				w.commits++
			case *kvrpcpb.PessimisticLockRequest:
				w.locks++
			}
			return resp, err
		}
	}}
}

func (w *wire) TraceTxnStart(ctx context.Context, _ kv.TxnStart) context.Context { return ctx }
func (w *wire) TraceTxnEnd(_ context.Context, ev kv.TxnEnd) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ends = append(w.ends, ev)
}

// reset forgets what was recorded.
func (w *wire) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prewrites, w.commits, w.locks, w.ends = nil, 0, 0, nil
}

func (w *wire) snapshot() (prewrites []*kvrpcpb.PrewriteRequest, commits int, last kv.TxnEnd) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ends) > 0 {
		last = w.ends[len(w.ends)-1]
	}
	return append([]*kvrpcpb.PrewriteRequest(nil), w.prewrites...), w.commits, last
}

// openWire opens a client whose RPCs are recorded by w.
func openWire(t testing.TB, tg testcluster.Target, w *wire, mod ...func(*Config)) *Client {
	return open(t, tg, append([]func(*Config){func(cfg *Config) {
		cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, w.interceptor())
		cfg.Tracer = w
	}}, mod...)...)
}

func commitPairs(t testing.TB, c *Client, opts []TxnOption, kvs ...string) error {
	t.Helper()
	ctx := testCtx(t)
	tx, err := c.Begin(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, tx, kvs...)
	return tx.Commit(ctx)
}

// client-go: integration_tests/1pc_test.go Test1PC: a transaction within one region is
// committed by one prewrite with try_one_pc and no commit RPC; the data is visible at
// once with the returned commit ts.
func TestOnePC(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w)
		p := prefix(t)
		ctx := testCtx(t)
		tx, _ := c.Begin(ctx, WithOnePC(true))
		mustSet(t, tx, p+"a", "1", p+"b", "2")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		pw, commits, end := w.snapshot()
		if len(pw) != 1 || !pw[0].TryOnePc || commits != 0 || end.Protocol != "1pc" {
			t.Fatalf("1PC: %d prewrites (try_one_pc %v), %d commits, protocol %q", len(pw), len(pw) > 0 && pw[0].TryOnePc, commits, end.Protocol)
		}
		if tx.CommitTS() <= tx.StartTS() || pw[0].MaxCommitTs <= tx.StartTS() || pw[0].MinCommitTs <= tx.StartTS() {
			t.Fatalf("commit ts %d, min %d, max %d, start %d", tx.CommitTS(), pw[0].MinCommitTs, pw[0].MaxCommitTs, tx.StartTS())
		}
		if get(t, c, p+"a") != "1" || get(t, c, p+"b") != "2" {
			t.Fatal("1PC data not visible")
		}
		snap := c.Snapshot(tx.CommitTS() - 1)
		if _, err := snap.Get(ctx, []byte(p+"a")); !isNotFound(err) {
			t.Fatalf("visible below the commit ts: %v", err)
		}
	})
}

// client-go: integration_tests/1pc_test.go Test1PCDisallowMultiRegion (1PC only within
// one region) and the OnePcCommitTs == 0 fallback (SB-8): both end with 2PC.
func TestOnePCFallback(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w, func(cfg *Config) { cfg.DisableAsyncCommit = true })
		p := prefix(t)
		split(t, c, p+"m")
		if err := commitPairs(t, c, nil, p+"a", "1", p+"z", "2"); err != nil {
			t.Fatal(err)
		}
		pw, commits, end := w.snapshot()
		if regionsOf(t, c, p+"a", p+"z") == 2 {
			for _, r := range pw {
				if r.TryOnePc {
					t.Fatal("1PC tried across regions")
				}
			}
			if commits == 0 || end.Protocol != "2pc" {
				t.Fatalf("multi-region: %d commits, protocol %q", commits, end.Protocol)
			}
		}
		w.reset()
		w.zeroOnePC = true
		if err := commitPairs(t, c, nil, p+"b", "1", p+"c", "2"); err != nil {
			t.Fatal(err)
		}
		pw, commits, end = w.snapshot()
		if len(pw) != 1 || !pw[0].TryOnePc || commits == 0 || end.Protocol != "2pc" {
			t.Fatalf("declined 1PC: %d prewrites, %d commits, protocol %q", len(pw), commits, end.Protocol)
		}
		if get(t, c, p+"b") != "1" || get(t, c, p+"c") != "2" {
			t.Fatal("fallback data")
		}
		w.reset()
		w.zeroOnePC = false
		if err := commitPairs(t, c, []TxnOption{WithOnePC(false)}, p+"d", "1"); err != nil {
			t.Fatal(err)
		}
		if pw, _, _ := w.snapshot(); len(pw) != 1 || pw[0].TryOnePc {
			t.Fatal("WithOnePC(false) ignored")
		}
	})
}

// regionsOf counts the regions holding keys.
func regionsOf(t testing.TB, c *Client, keys ...string) int {
	t.Helper()
	seen := map[region.VerID]bool{}
	for _, k := range keys {
		loc, err := c.Cluster().Cache().Locate(testCtx(t), []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		seen[loc.Region] = true
	}
	return len(seen)
}

// Async commit (TXN-10): the primary carries the secondaries, every prewrite
// use_async_commit and a max commit ts; the transaction is committed when Commit returns,
// at the commit ts TiKV chose; the commit RPCs follow in the background.
func TestAsyncCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w, func(cfg *Config) { cfg.DisableOnePC = true })
		p := prefix(t)
		split(t, c, p+"m")
		ctx := testCtx(t)
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"a", "1", p+"b", "2", p+"z", "3")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		pw, _, end := w.snapshot()
		if end.Protocol != "async-commit" || !end.Committed || end.CommitTS != tx.CommitTS() {
			t.Fatalf("end %+v", end)
		}
		secondaries := 0
		for _, r := range pw {
			if !r.UseAsyncCommit || r.TryOnePc || r.MaxCommitTs == 0 {
				t.Fatalf("prewrite flags: async %v 1pc %v max %d", r.UseAsyncCommit, r.TryOnePc, r.MaxCommitTs)
			}
			secondaries += len(r.Secondaries)
		}
		if secondaries != 2 {
			t.Fatalf("secondaries sent: %d", secondaries)
		}
		// Committed when Commit returned: a reader at a later ts sees every key (waiting
		// for, or resolving, the locks the background commit has not reached yet).
		got, err := c.Snapshot(ts(t, c)).BatchGet(ctx, [][]byte{[]byte(p + "a"), []byte(p + "b"), []byte(p + "z")})
		if err != nil || len(got) != 3 {
			t.Fatalf("read after async commit: %v %v", got, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, commits, _ := w.snapshot(); commits > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no commit RPC after async commit")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Async-commit eligibility and fallback (SB-8): too many keys or key bytes, and TiKV
// answering min_commit_ts 0, all end with 2PC and commit.
func TestAsyncCommitFallback(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		w := &wire{}
		c := openWire(t, tg, w, func(cfg *Config) {
			cfg.DisableOnePC = true
			cfg.AsyncCommitKeysLimit = 2
		})
		p := prefix(t)
		if err := commitPairs(t, c, nil, p+"a", "1", p+"b", "2", p+"c", "3"); err != nil {
			t.Fatal(err)
		}
		pw, commits, end := w.snapshot()
		for _, r := range pw {
			if r.UseAsyncCommit {
				t.Fatal("async commit over the keys limit")
			}
		}
		if commits == 0 || end.Protocol != "2pc" {
			t.Fatalf("too many keys: %d commits, %q", commits, end.Protocol)
		}
		w.reset()
		w.zeroMinCommit = true
		if err := commitPairs(t, c, nil, p+"d", "1", p+"e", "2"); err != nil {
			t.Fatal(err)
		}
		pw, commits, end = w.snapshot()
		if len(pw) == 0 || !pw[0].UseAsyncCommit || commits == 0 || end.Protocol != "2pc" {
			t.Fatalf("declined async: %d prewrites, %d commits, %q", len(pw), commits, end.Protocol)
		}
		w.reset()
		w.zeroMinCommit = false
		c2 := openWire(t, tg, w, func(cfg *Config) {
			cfg.DisableOnePC = true
			cfg.AsyncCommitTotalKeySizeLimit = 8
		})
		if err := commitPairs(t, c2, nil, p+"long-key-f", "1"); err != nil {
			t.Fatal(err)
		}
		if pw, _, _ := w.snapshot(); len(pw) != 1 || pw[0].UseAsyncCommit {
			t.Fatal("async commit over the key size limit")
		}
		for k, v := range map[string]string{"a": "1", "c": "3", "d": "1", "e": "2", "long-key-f": "1"} {
			if get(t, c, p+k) != v {
				t.Fatalf("%s after fallback", k)
			}
		}
	})
}

// memcluster's TiKV refuses async commit when a read pushed max_ts beyond the
// transaction's max commit ts: it writes ordinary locks and the client commits with
// 2PC (the situation client-go's lock_test.go prepareTxnFallenBackFromAsyncCommit
// builds with an invalid max commit ts).
func TestAsyncCommitMaxCommitTSFallback(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs memcluster: a read from the future")
		}
		w := &wire{}
		c := openWire(t, tg, w, func(cfg *Config) { cfg.DisableOnePC = true })
		p := prefix(t)
		ctx := testCtx(t)
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"a", "1", p+"b", "2")
		// Just past the max commit ts (start + age + 2 s safe window). memcluster keeps
		// the raised floor on its fallback locks (TiKV does not), so the 2PC commit waits
		// for the TSO to pass it: keep it close.
		future := tx.StartTS() + uint64((3*time.Second).Milliseconds())<<18
		req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: c.Cluster().Codec().EncodeKey([]byte(p + "a")), Version: future}
		if _, err := region.Send[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, c.Cluster().Sender(), []byte(p+"a"), req, nil); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		_, commits, end := w.snapshot()
		if end.Protocol != "2pc" || commits == 0 {
			t.Fatalf("max commit ts fallback: %q, %d commits", end.Protocol, commits)
		}
		if get(t, c, p+"a") != "1" || get(t, c, p+"b") != "2" {
			t.Fatal("fallback data")
		}
	})
}

// An RPC failure of an async-commit or 1PC prewrite that reached TiKV is undetermined
// (TXN-34) and is not cleaned up; the same failure in 2PC is an ordinary error.
func TestPrewriteUndetermined(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		boom := fmt.Errorf("injected: %w", kv.ErrStoreUnavailable)
		for _, tc := range []struct {
			name         string
			opts         []TxnOption
			undetermined bool
		}{
			{"async", []TxnOption{WithAsyncCommit(true), WithOnePC(false)}, true},
			{"1pc", []TxnOption{WithOnePC(true)}, true},
			{"2pc", []TxnOption{WithAsyncCommit(false), WithOnePC(false)}, false},
		} {
			w := &wire{failPrewrite: boom}
			c := openWire(t, tg, w, func(cfg *Config) { cfg.RPC.MaxBatchSize = -1 })
			p := prefix(t) + tc.name
			ctx, cancel := context.WithTimeout(testCtx(t), 3*time.Second)
			err := func() error {
				defer cancel()
				tx, _ := c.Begin(ctx, tc.opts...)
				mustSet(t, tx, p+"a", "1")
				return tx.Commit(ctx)
			}()
			if err == nil || kv.IsUndetermined(err) != tc.undetermined {
				t.Fatalf("%s: %v (undetermined %v)", tc.name, err, kv.IsUndetermined(err))
			}
		}
	})
}

// Close lets a background async-commit finish within its ctx and then cancels it; either
// way it returns with the goroutine joined (goleak checks the package).
func TestCloseJoinsBackgroundCommits(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs memcluster hooks")
		}
		var commits atomic.Int64
		tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if r.Method == "KvCommit" {
				commits.Add(1)
				return &memcluster.Fault{Delay: 2 * time.Second}
			}
			return nil
		})
		for _, wait := range []time.Duration{5 * time.Second, 50 * time.Millisecond} {
			cfg := Config{Config: tg.Config(cluster.Txn)}
			cfg.DisableOnePC = true
			c, err := New(testCtx(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			p := prefix(t)
			tx, _ := c.Begin(ctx)
			mustSet(t, tx, p+"a", "1", p+"b", "2")
			start := time.Now()
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > time.Second {
				t.Fatal("async commit waited for its commit RPCs")
			}
			cctx, cancel := context.WithTimeout(context.Background(), wait)
			start = time.Now()
			_ = c.Close(cctx)
			cancel()
			took := time.Since(start)
			if wait > time.Second && took < time.Second || wait < time.Second && took > time.Second {
				t.Fatalf("close with %v took %v", wait, took)
			}
		}
		if commits.Load() == 0 {
			t.Fatal("no commit RPC")
		}
	})
}
