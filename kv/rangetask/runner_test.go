package rangetask_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rangetask"
)

// client-go: txnkv/rangetask/range_task_test.go TestRunner: a range over 26 split points
// is cut into tasks of regionsPerTask regions that, together, cover it exactly once, with
// any number of workers; the completed-region counts add up.
func TestRunnerCoversRange(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		e := newEnv(t, tg)
		e.splitAt(t, letters()...)
		for _, rg := range [][2]string{{"", ""}, {"a", "z"}, {"b0", "x0"}, {"c", "c1"}} {
			start, end := e.key(rg[0]), e.key(rg[1])
			if rg[1] == "" {
				// The prefix's end, so the local cluster's other data stays out.
				end = append(e.key(""), 0xff)
			}
			regions, err := e.cl.Cache().LocateRange(testCtx(t), start, end)
			if err != nil {
				t.Fatal(err)
			}
			for _, conc := range []int{1, 3, 8} {
				for _, per := range []int{1, 2, 7, 100} {
					var mu sync.Mutex
					var got []kv.KeyRange
					run := rangetask.NewRunner(e.cl.Cache(), conc, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
						locs, err := e.cl.Cache().LocateRange(ctx, r.Start, r.End)
						mu.Lock()
						got = append(got, r)
						mu.Unlock()
						return rangetask.Stat{CompletedRegions: len(locs)}, err
					})
					run.SetRegionsPerTask(per)
					if err := run.Run(testCtx(t), start, end); err != nil {
						t.Fatal(err)
					}
					slices.SortFunc(got, func(a, b kv.KeyRange) int { return bytes.Compare(a.Start, b.Start) })
					if !bytes.Equal(got[0].Start, start) || !bytes.Equal(got[len(got)-1].End, end) {
						t.Fatalf("%v conc %d per %d: tasks %v do not span the range", rg, conc, per, got)
					}
					for i := 1; i < len(got); i++ {
						if !bytes.Equal(got[i-1].End, got[i].Start) {
							t.Fatalf("%v: gap or overlap between %v and %v", rg, got[i-1], got[i])
						}
					}
					if want := (len(regions) + per - 1) / per; len(got) != want {
						t.Errorf("%v conc %d per %d: %d tasks, want %d", rg, conc, per, len(got), want)
					}
					if run.CompletedRegions() != len(regions) || run.FailedRegions() != 0 {
						t.Errorf("%v conc %d per %d: completed %d failed %d, want %d, 0", rg, conc, per,
							run.CompletedRegions(), run.FailedRegions(), len(regions))
					}
				}
			}
		}
	})
}

func TestRunnerEmptyRange(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	e := newEnv(t, tg)
	called := false
	run := rangetask.NewRunner(e.cl.Cache(), 2, func(context.Context, kv.KeyRange) (rangetask.Stat, error) {
		called = true
		return rangetask.Stat{}, nil
	})
	for _, rg := range [][2]string{{"b", "b"}, {"c", "b"}} {
		if err := run.Run(testCtx(t), e.key(rg[0]), e.key(rg[1])); err != nil || called {
			t.Fatalf("empty range %v: err %v, handler called %v", rg, err, called)
		}
	}
}

// client-go: txnkv/rangetask/range_task_test.go TestRangeTaskWorker (error case): the
// first handler error stops the run, is returned, and the failed-region counts of the
// tasks that ran are kept.
func TestRunnerHandlerError(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	e := newEnv(t, tg)
	e.splitAt(t, letters()...)
	boom := errors.New("boom")
	for _, conc := range []int{1, 4} {
		var mu sync.Mutex
		calls := 0
		run := rangetask.NewRunner(e.cl.Cache(), conc, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			if r.Contains(e.key("m")) {
				return rangetask.Stat{CompletedRegions: 1, FailedRegions: 1}, boom
			}
			return rangetask.Stat{CompletedRegions: 2}, nil
		})
		run.SetRegionsPerTask(2)
		err := run.Run(testCtx(t), e.key(""), append(e.key(""), 0xff))
		if !errors.Is(err, boom) {
			t.Fatalf("conc %d: err %v, want boom", conc, err)
		}
		if run.FailedRegions() != 1 || calls >= 14 {
			t.Errorf("conc %d: failed %d after %d calls; want 1 and the run stopped early", conc, run.FailedRegions(), calls)
		}
		if conc == 1 && run.CompletedRegions() != 2*(calls-1)+1 {
			t.Errorf("completed %d after %d calls", run.CompletedRegions(), calls)
		}
	}
}

// A ctx that ends stops the run: Run returns ctx's error once every worker is done.
func TestRunnerCancel(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	e := newEnv(t, tg)
	e.splitAt(t, letters()...)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var mu sync.Mutex
	calls := 0
	run := rangetask.NewRunner(e.cl.Cache(), 3, func(hctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 {
			cancel()
		}
		<-hctx.Done() // every handler that starts sees the cancellation
		return rangetask.Stat{}, nil
	})
	run.SetRegionsPerTask(1)
	err := run.Run(ctx, e.key(""), append(e.key(""), 0xff))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if calls > 3 {
		t.Errorf("%d handler calls after cancel, want at most one per worker", calls)
	}
}

// A ctx that is already done ends the run at once with its error.
func TestRunnerDoneContext(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	e := newEnv(t, tg)
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	run := rangetask.NewRunner(e.cl.Cache(), 0, func(context.Context, kv.KeyRange) (rangetask.Stat, error) {
		return rangetask.Stat{CompletedRegions: 1}, nil
	})
	if err := run.Run(ctx, e.key("a"), e.key("z")); !errors.Is(err, context.Canceled) || run.CompletedRegions() != 0 {
		t.Fatalf("err %v completed %d, want context.Canceled and 0", err, run.CompletedRegions())
	}
}
