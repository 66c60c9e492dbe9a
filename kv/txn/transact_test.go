package txn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// ports client-go integration_tests/isolation_test.go TestWriteWriteConflict (the
// concurrent increment loop): 8 goroutines × M increments of one counter through
// Transact end with the exact total.
func TestTransactContention(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		counter := []byte(p + "counter")
		const workers, m = 8, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range m {
					err := c.Transact(ctx, func(ctx context.Context, tx *Txn) error {
						v, err := tx.Get(ctx, counter)
						n := 0
						if err == nil {
							n, _ = strconv.Atoi(string(v))
						} else if !errors.Is(err, kv.ErrNotFound) {
							return err
						}
						if err := tx.Set(counter, []byte(strconv.Itoa(n+1))); err != nil {
							return err
						}
						return tx.Set(fmt.Appendf(nil, "%sw%d-%d", p, w, i), []byte("x"))
					}, WithMaxAttempts(1000))
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := get(t, c, string(counter)); got != strconv.Itoa(workers*m) {
			t.Fatalf("counter = %s, want %d", got, workers*m)
		}
	})
}

func TestTransactErrors(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.MaxAttempts = 3 })
	ctx := testCtx(t)
	p := prefix(t)

	// fn's non-retryable error: returned as is, once, nothing written.
	boom := errors.New("boom")
	runs := 0
	err := c.Transact(ctx, func(ctx context.Context, tx *Txn) error {
		runs++
		_ = tx.Set([]byte(p+"a"), []byte("1"))
		return boom
	})
	if !errors.Is(err, boom) || runs != 1 || get(t, c, p+"a") != "" {
		t.Fatalf("fn error: %v runs %d", err, runs)
	}

	// A retryable error every time: attempts are bounded, the last error is wrapped.
	runs = 0
	wc := &kv.WriteConflictError{Key: kv.Key("k")}
	err = c.Transact(ctx, func(ctx context.Context, tx *Txn) error { runs++; return wc })
	if !errors.Is(err, wc) || runs != 3 {
		t.Fatalf("retryable: %v runs %d", err, runs)
	}
	runs = 0
	err = c.Transact(ctx, func(ctx context.Context, tx *Txn) error { runs++; return wc }, WithMaxAttempts(0))
	if runs != 1 || !errors.Is(err, wc) {
		t.Fatalf("max attempts 0: runs %d", runs)
	}

	// ctx ends between attempts: both the ctx error and the last error are reported.
	cctx, cancel := context.WithCancel(ctx)
	err = c.Transact(cctx, func(ctx context.Context, tx *Txn) error { cancel(); return wc })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, wc) || kv.IsRetryable(err) {
		t.Fatalf("canceled: %v", err)
	}

	// A stale WithStartTS conflicts once; the retry takes a fresh snapshot.
	old := ts(t, c)
	put(t, c, p+"k", "1")
	runs = 0
	var starts []uint64
	err = c.Transact(ctx, func(ctx context.Context, tx *Txn) error {
		runs++
		starts = append(starts, tx.StartTS())
		return tx.Set([]byte(p+"k"), []byte("2"))
	}, WithStartTS(old))
	if err != nil || runs != 2 || starts[0] != old || starts[1] <= old || get(t, c, p+"k") != "2" {
		t.Fatalf("stale start: %v runs %d starts %v", err, runs, starts)
	}

	// Begin fails on a closed client.
	c2 := open(t, tg)
	if err := c2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c2.Transact(ctx, func(context.Context, *Txn) error { return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}
