package txn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// RC reads see data committed during the transaction; SI reads do not. RCCheckTS reads
// at the newest ts the transaction holds (its latest for-update ts).
func TestReadCommitted(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "v1", p+"l", "w1")
		if _, err := c.Begin(ctx, WithIsolation(ReadCommitted)); !errors.Is(err, ErrIsolationNeedsPessimistic) {
			t.Fatalf("optimistic RC: %v", err)
		}
		rc := beginPessimistic(t, c, WithIsolation(ReadCommitted))
		si := beginPessimistic(t, c)
		chk := beginPessimistic(t, c, WithIsolation(ReadCommittedCheckTS))
		for _, tx := range []*Txn{rc, si, chk} {
			if v, err := tx.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
				t.Fatalf("first read %q %v", v, err)
			}
		}
		put(t, c, p+"k", "v2", p+"l", "w2")
		if v, err := rc.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v2" {
			t.Fatalf("RC get = %q %v", v, err)
		}
		if m, err := rc.BatchGet(ctx, [][]byte{[]byte(p + "k"), []byte(p + "l")}); err != nil || string(m[p+"l"]) != "w2" {
			t.Fatalf("RC batch get = %v %v", m, err)
		}
		if kvs, err := rc.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0); err != nil || len(kvs) != 2 || string(kvs[0].Value) != "v2" {
			t.Fatalf("RC scan = %v %v", kvs, err)
		}
		if v, err := si.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v1" {
			t.Fatalf("SI get = %q %v", v, err)
		}
		if kvs, err := si.Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0); err != nil || string(kvs[1].Value) != "w1" {
			t.Fatalf("SI scan = %v %v", kvs, err)
		}
		// RCCheckTS: before any lock the transaction's newest ts is its start ts.
		if v, err := chk.Get(ctx, []byte(p+"l")); err != nil || (string(v) != "w1" && string(v) != "w2") {
			t.Fatalf("RCCheckTS get = %q %v", v, err)
		}
		if err := chk.LockKeys(ctx, []byte(p+"other")); err != nil {
			t.Fatal(err)
		}
		if v, err := chk.Get(ctx, []byte(p+"l")); err != nil || string(v) != "w2" {
			t.Fatalf("RCCheckTS get after lock = %q %v", v, err)
		}
		if m, err := chk.BatchGet(ctx, [][]byte{[]byte(p + "k")}); err != nil || string(m[p+"k"]) != "v2" {
			t.Fatalf("RCCheckTS batch get = %v %v", m, err)
		}
		for _, l := range []IsolationLevel{SnapshotIsolation, ReadCommitted, ReadCommittedCheckTS, 7} {
			if l.String() == "" {
				t.Fatal("empty level name")
			}
		}
		if _, err := c.Begin(ctx, WithPessimistic(), WithIsolation(7)); err == nil {
			t.Fatal("unknown level accepted")
		}
	})
}

// Assertions (TXN-24) checked in prewrite and by pessimistic lock results: a failed
// assertion fails the commit with *kv.AssertionFailedError and writes nothing;
// AssertionOff ignores assertions.
func TestAssertions(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"e", "exists")
		var af *kv.AssertionFailedError
		for _, level := range []AssertionLevel{AssertionFast, AssertionStrict} {
			tx, _ := c.Begin(ctx, WithAssertionLevel(level))
			mustSet(t, tx, p+"e", "x", p+"n", "y")
			if err := tx.Assert([]byte(p+"e"), kv.AssertNotExist); err != nil {
				t.Fatal(err)
			}
			if err := tx.Assert([]byte(p+"n"), kv.AssertNotExist); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); !errors.As(err, &af) || string(af.Key) != p+"e" || af.Assertion != kv.AssertNotExist {
				t.Fatalf("level %d: %v", level, err)
			}
			if get(t, c, p+"n") != "" || get(t, c, p+"e") != "exists" {
				t.Fatal("a failed assertion wrote data")
			}
		}
		tx, _ := c.Begin(ctx, WithAssertionLevel(AssertionOff))
		mustSet(t, tx, p+"e", "x")
		_ = tx.Assert([]byte(p+"e"), kv.AssertNotExist)
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("assertion off: %v", err)
		}
		tx, _ = c.Begin(ctx)
		mustSet(t, tx, p+"e", "y", p+"n2", "z")
		_ = tx.Assert([]byte(p+"e"), kv.AssertExist)
		_ = tx.Assert([]byte(p+"n2"), kv.AssertExist)
		_ = tx.Assert([]byte(p+"n2"), kv.AssertNone) // withdrawn
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("true assertions: %v", err)
		}
		// Pessimistic: the lock reported the key absent, so the client refuses at once.
		pt := beginPessimistic(t, c)
		if err := pt.LockKeysWithOptions(ctx, LockOptions{CheckExistence: true}, []byte(p+"absent")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, pt, p+"absent", "v")
		_ = pt.Assert([]byte(p+"absent"), kv.AssertExist)
		if err := pt.Commit(ctx); !errors.As(err, &af) || af.Assertion != kv.AssertExist {
			t.Fatalf("pessimistic assertion: %v", err)
		}
		o := beginPessimistic(t, c)
		if err := lockWith(ctx, o, LockWait{Kind: LockWaitNoWait}, p+"absent"); err != nil {
			t.Fatalf("lock left by the failed commit: %v", err)
		}
		if err := pt.Assert([]byte(p+"x"), kv.AssertExist); !errors.Is(err, kv.ErrTxnDone) {
			t.Fatalf("assert after end: %v", err)
		}
		if err := tx.Assert(nil, kv.AssertExist); !errors.Is(err, ErrEmptyKey) {
			t.Fatal(err)
		}
	})
}

// bank runs concurrent transfers between accounts with the given transaction options
// and checks that the total balance never changes, read in snapshots while the
// transfers run and at the end.
func bank(t *testing.T, c *Client, opts []TxnOption, pessimistic bool) {
	ctx := testCtx(t)
	p := prefix(t)
	const accounts, workers, transfers, initial = 8, 6, 15, 100
	key := func(i int) []byte { return []byte(fmt.Sprintf("%sacct%02d", p, i)) }
	var init []string
	for i := 0; i < accounts; i++ {
		init = append(init, string(key(i)), strconv.Itoa(initial))
	}
	put(t, c, init...)
	split(t, c, string(key(accounts/2)))
	total := func(ts uint64) int {
		var keys [][]byte
		for i := 0; i < accounts; i++ {
			keys = append(keys, key(i))
		}
		m, err := c.Snapshot(ts).BatchGet(ctx, keys)
		if err != nil {
			t.Errorf("audit: %v", err)
			return accounts * initial
		}
		sum := 0
		for _, v := range m {
			n, _ := strconv.Atoi(string(v))
			sum += n
		}
		return sum
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < transfers; i++ {
				from, to := r.IntN(accounts), r.IntN(accounts)
				if from == to {
					continue
				}
				err := c.Transact(ctx, func(ctx context.Context, tx *Txn) error {
					if pessimistic {
						if err := tx.LockKeysWithOptions(ctx, LockOptions{ReturnValues: true}, key(from), key(to)); err != nil {
							return err
						}
					}
					m, err := tx.BatchGet(ctx, [][]byte{key(from), key(to)})
					if err != nil {
						return err
					}
					a, _ := strconv.Atoi(string(m[string(key(from))]))
					b, _ := strconv.Atoi(string(m[string(key(to))]))
					amt := min(a, 1+r.IntN(10))
					if err := tx.Set(key(from), []byte(strconv.Itoa(a-amt))); err != nil {
						return err
					}
					return tx.Set(key(to), []byte(strconv.Itoa(b+amt)))
				}, append(opts, WithMaxAttempts(100))...)
				if err != nil {
					errs <- err
					return
				}
			}
		}(uint64(w))
	}
	audits := make(chan int, 1)
	go func() {
		bad := 0
		for {
			select {
			case <-stop:
				audits <- bad
				return
			case <-time.After(20 * time.Millisecond):
			}
			if now, err := c.CurrentTS(ctx); err == nil && total(now) != accounts*initial {
				bad++
			}
		}
	}()
	wg.Wait()
	close(stop)
	if bad := <-audits; bad > 0 {
		t.Errorf("%d audits saw a wrong total", bad)
	}
	close(errs)
	for err := range errs {
		t.Errorf("transfer: %v", err)
	}
	if got := total(ts(t, c)); got != accounts*initial {
		t.Fatalf("total %d, want %d", got, accounts*initial)
	}
}

// Concurrent transfers keep the total balance in every commit mode, audited by
// snapshot reads while they run.
func TestBankTransfers(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		for _, tc := range []struct {
			name        string
			opts        []TxnOption
			pessimistic bool
		}{
			{"optimistic", nil, false},
			{"pessimistic", []TxnOption{WithPessimistic(), WithLockWait(LockWait{Kind: LockWaitForever})}, true},
			{"pessimistic-rc", []TxnOption{WithPessimistic(), WithIsolation(ReadCommitted), WithLockWait(LockWait{Kind: LockWaitForever})}, true},
			{"async-commit", []TxnOption{WithAsyncCommit(true)}, false},
			{"1pc", []TxnOption{WithOnePC(true)}, false},
			{"pessimistic-async-1pc", []TxnOption{WithPessimistic(), WithAsyncCommit(true), WithOnePC(true)}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bank(t, c, tc.opts, tc.pessimistic)
			})
		}
	})
}

// A ReadCommittedCheckTS read that TiKV refuses (a newer version exists: an RcCheckTs
// write conflict, injected here for the first read) is repeated with RC at a fresh ts.
func TestReadCommittedCheckTSRetry(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		var refused, rcReads atomic.Int64
		fake := rpc.Interceptor{Name: "rccheck", Wrap: func(next rpc.Invoker) rpc.Invoker {
			return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
				var lvl kvrpcpb.IsolationLevel
				switch r := inv.Request.(type) {
				case *kvrpcpb.GetRequest:
					lvl = r.GetContext().GetIsolationLevel()
				case *kvrpcpb.BatchGetRequest:
					lvl = r.GetContext().GetIsolationLevel()
				default:
					return next(ctx, inv)
				}
				if lvl == kvrpcpb.IsolationLevel_RCCheckTS {
					refused.Add(1)
					ke := &kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{Reason: kvrpcpb.WriteConflict_RcCheckTs}}
					if _, ok := inv.Request.(*kvrpcpb.GetRequest); ok {
						return &kvrpcpb.GetResponse{Error: ke}, nil
					}
					return &kvrpcpb.BatchGetResponse{Error: ke}, nil
				}
				if lvl == kvrpcpb.IsolationLevel_RC {
					rcReads.Add(1)
				}
				return next(ctx, inv)
			}
		}}
		c := open(t, tg, func(cfg *Config) { cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, fake) })
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"k", "v")
		tx := beginPessimistic(t, c, WithIsolation(ReadCommittedCheckTS))
		if v, err := tx.Get(ctx, []byte(p+"k")); err != nil || string(v) != "v" {
			t.Fatalf("get %q %v", v, err)
		}
		if m, err := tx.BatchGet(ctx, [][]byte{[]byte(p + "k")}); err != nil || string(m[p+"k"]) != "v" {
			t.Fatalf("batch get %v %v", m, err)
		}
		if refused.Load() != 2 || rcReads.Load() != 2 {
			t.Fatalf("refused %d, RC re-reads %d", refused.Load(), rcReads.Load())
		}
	})
}
