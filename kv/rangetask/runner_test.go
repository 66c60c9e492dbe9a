package rangetask_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rangetask"
)

// rangeCase is one range of the client-go runner test over regions split at "a".."z"
// (all keys under the test's prefix), with the region pieces it covers.
type rangeCase struct {
	start, end string // "" = the prefix's start / end
	pieces     [][2]string
}

// runnerCases builds client-go's test ranges and their expected region pieces.
func runnerCases() []rangeCase {
	all := [][2]string{{"", "a"}}
	ls := letters()
	for i := 0; i+1 < len(ls); i++ {
		all = append(all, [2]string{ls[i], ls[i+1]})
	}
	all = append(all, [2]string{"z", ""})
	return []rangeCase{
		{"", "", all},
		{"", "b", all[:2]},
		{"b", "", all[2:]},
		{"b", "x", all[2:24]},
		{"a", "d", [][2]string{{"a", "b"}, {"b", "c"}, {"c", "d"}}},
		{"a\x00", "d\x00", [][2]string{{"a\x00", "b"}, {"b", "c"}, {"c", "d"}, {"d", "d\x00"}}},
		{"a\xff\xff\xff", "c\xff\xff\xff", [][2]string{{"a\xff\xff\xff", "b"}, {"b", "c"}, {"c", "c\xff\xff\xff"}}},
		{"a1", "a2", [][2]string{{"a1", "a2"}}},
		{"a", "a", nil},
		{"a3", "a3", nil},
	}
}

// bounds maps a case's names to keys under the prefix ("" end = the prefix's end).
func (e *env) bounds(start, end string) (kv.Key, kv.Key) {
	s, en := kv.Key(e.key(start)), kv.Key(e.key(end))
	if end == "" {
		en = append(kv.Key(e.key("")), 0xff)
	}
	return s, en
}

// batch joins consecutive pieces per regions-per-task, as the runner cuts them.
func (e *env) batch(pieces [][2]string, per int) []kv.KeyRange {
	var out []kv.KeyRange
	for i := 0; i < len(pieces); i += per {
		last := min(i+per, len(pieces)) - 1
		s, _ := e.bounds(pieces[i][0], "x")
		_, en := e.bounds("x", pieces[last][1])
		out = append(out, kv.KeyRange{Start: s, End: en})
	}
	return out
}

// client-go: integration_tests/range_task_test.go TestRangeTask: for every test range,
// 1..4 workers and 1..5 regions per task, the handler sees exactly the region pieces of
// the range batched per task, and the completed counts add up.
func TestRunnerCoversRange(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		e := newEnv(t, tg)
		e.splitAt(t, letters()...)
		for conc := 1; conc < 5; conc++ {
			for per := 1; per <= 5; per++ {
				for _, rc := range runnerCases() {
					var mu sync.Mutex
					var got []kv.KeyRange
					run := rangetask.NewRunner(e.cl.Cache(), conc, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
						mu.Lock()
						got = append(got, r)
						mu.Unlock()
						return rangetask.Stat{CompletedRegions: 1}, nil
					})
					run.SetRegionsPerTask(per)
					start, end := e.bounds(rc.start, rc.end)
					if err := run.Run(testCtx(t), start, end); err != nil {
						t.Fatal(err)
					}
					slices.SortFunc(got, func(a, b kv.KeyRange) int { return bytes.Compare(a.Start, b.Start) })
					want := e.batch(rc.pieces, per)
					if !slices.EqualFunc(got, want, func(a, b kv.KeyRange) bool {
						return bytes.Equal(a.Start, b.Start) && bytes.Equal(a.End, b.End)
					}) {
						t.Fatalf("[%q, %q) conc %d per %d: tasks %v, want %v", rc.start, rc.end, conc, per, got, want)
					}
					if run.CompletedRegions() != len(want) || run.FailedRegions() != 0 {
						t.Errorf("[%q, %q) conc %d per %d: completed %d failed %d, want %d, 0", rc.start, rc.end, conc, per,
							run.CompletedRegions(), run.FailedRegions(), len(want))
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

// client-go: integration_tests/range_task_test.go TestRangeTaskError: whichever task
// fails, the run returns the error, fewer regions than the range has are completed, and
// exactly one failed.
func TestRunnerHandlerError(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	e := newEnv(t, tg)
	e.splitAt(t, letters()...)
	boom := errors.New("boom")
	for conc := 1; conc < 5; conc++ {
		for _, rc := range runnerCases() {
			for _, piece := range rc.pieces {
				errKey, _ := e.bounds(piece[0], "x")
				run := rangetask.NewRunner(e.cl.Cache(), conc, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
					if bytes.Equal(r.Start, errKey) {
						return rangetask.Stat{FailedRegions: 1}, boom
					}
					return rangetask.Stat{CompletedRegions: 1}, nil
				})
				run.SetRegionsPerTask(1)
				start, end := e.bounds(rc.start, rc.end)
				if err := run.Run(testCtx(t), start, end); !errors.Is(err, boom) {
					t.Fatalf("[%q, %q) fail at %q: err %v, want boom", rc.start, rc.end, piece[0], err)
				}
				if run.CompletedRegions() >= len(rc.pieces) || run.FailedRegions() != 1 {
					t.Fatalf("[%q, %q) fail at %q: completed %d of %d, failed %d", rc.start, rc.end, piece[0],
						run.CompletedRegions(), len(rc.pieces), run.FailedRegions())
				}
			}
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

// With a stat log the runner reports its progress while it hands out tasks, and its end.
func TestRunnerStatLog(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	e := newEnv(t, tg)
	e.splitAt(t, letters()...)
	core, logs := observer.New(zap.InfoLevel)
	run := rangetask.NewRunner(e.cl.Cache(), 1, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		time.Sleep(2 * time.Millisecond)
		return rangetask.Stat{CompletedRegions: 1}, nil
	})
	run.SetRegionsPerTask(1)
	run.SetStatLog(zap.New(core), "test", time.Millisecond)
	if err := run.Run(testCtx(t), e.key(""), append(e.key(""), 0xff)); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessage("range task in progress").Len(); n == 0 {
		t.Error("no progress log")
	}
	done := logs.FilterMessage("range task done").All()
	if len(done) != 1 || done[0].ContextMap()["completedRegions"] != int64(27) {
		t.Errorf("end log %+v", done)
	}
	run.SetStatLog(zap.NewNop(), "default interval", 0) // the default applies
}
