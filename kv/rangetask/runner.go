package rangetask

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// DefaultRegionsPerTask is how many regions one task covers unless SetRegionsPerTask
// says otherwise (client-go's value).
const DefaultRegionsPerTask = 128

// Stat counts the regions a Handler call (or a whole Run) dealt with.
type Stat struct {
	// CompletedRegions is the number of regions the work was done in.
	CompletedRegions int
	// FailedRegions is the number of regions the handler gave up on without failing the
	// whole run.
	FailedRegions int
}

// Handler does the work on one task: the user-key range r, which spans about
// RegionsPerTask regions when it was cut (an empty r.End is the end of the key space).
// It must honour ctx and walk the range by region itself, since the regions may have
// changed. A returned error stops the run.
type Handler func(ctx context.Context, r kv.KeyRange) (Stat, error)

// Runner runs a Handler over a key range with a fixed number of workers. One Run at a
// time; the counters may be read concurrently with it.
type Runner struct {
	cache          *region.Cache
	handler        Handler
	concurrency    int
	regionsPerTask int

	completed atomic.Int64
	failed    atomic.Int64

	log     *zap.Logger // nil: no progress log
	name    string
	logEach time.Duration
}

// DefaultStatLogInterval is client-go's interval between progress logs.
const DefaultStatLogInterval = time.Minute

// NewRunner returns a Runner that cuts ranges along cache's regions and runs h with
// concurrency workers (at least one).
func NewRunner(cache *region.Cache, concurrency int, h Handler) *Runner {
	return &Runner{cache: cache, handler: h, concurrency: max(concurrency, 1), regionsPerTask: DefaultRegionsPerTask}
}

// SetRegionsPerTask sets how many regions one task covers; values below 1 mean 1. Call it
// before Run.
func (r *Runner) SetRegionsPerTask(n int) { r.regionsPerTask = max(n, 1) }

// SetStatLog makes Run log its progress (completed regions so far) to log under name at
// most every interval (DefaultStatLogInterval when <= 0) while it hands out tasks, and
// its end. Call it before Run.
func (r *Runner) SetStatLog(log *zap.Logger, name string, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultStatLogInterval
	}
	r.log, r.name, r.logEach = log, name, interval
}

// CompletedRegions returns the regions the current or last Run completed so far.
func (r *Runner) CompletedRegions() int { return int(r.completed.Load()) }

// FailedRegions returns the regions the handler of the current or last Run gave up on.
func (r *Runner) FailedRegions() int { return int(r.failed.Load()) }

// Run runs the handler over the user-key range [start, end) (an empty end is unbounded)
// and waits for every worker. It resets the counters first. An empty range does nothing.
//
// Errors: the first Handler error; the region cache's errors while cutting tasks; an
// error wrapping ctx's error when ctx ends first.
func (r *Runner) Run(ctx context.Context, start, end []byte) error {
	r.completed.Store(0)
	r.failed.Store(0)
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	tasks := make(chan kv.KeyRange)
	for range r.concurrency {
		wg.Go(func() {
			for t := range tasks {
				if wctx.Err() != nil {
					continue // drain: the producer stops at the next send
				}
				st, err := r.handler(wctx, t)
				r.completed.Add(int64(st.CompletedRegions))
				r.failed.Add(int64(st.FailedRegions))
				if err != nil {
					fail(err)
				}
			}
		})
	}

	var tick <-chan time.Time
	began := time.Now()
	if r.log != nil {
		t := time.NewTicker(r.logEach)
		defer t.Stop()
		tick = t.C
	}
	key := start
produce:
	for {
		select {
		case <-tick:
			r.log.Info("range task in progress", zap.String("name", r.name), zap.Duration("elapsed", time.Since(began)),
				zap.Int("completedRegions", r.CompletedRegions()), zap.Int("failedRegions", r.FailedRegions()))
		default:
		}
		taskEnd, last, err := r.cut(wctx, key, end)
		if err != nil {
			fail(err)
			break
		}
		select {
		case tasks <- kv.KeyRange{Start: key, End: taskEnd}:
		case <-wctx.Done():
			break produce
		}
		if last {
			break
		}
		key = taskEnd
	}
	close(tasks)
	wg.Wait()
	if r.log != nil {
		r.log.Info("range task done", zap.String("name", r.name), zap.Duration("elapsed", time.Since(began)),
			zap.Int("completedRegions", r.CompletedRegions()), zap.Int("failedRegions", r.FailedRegions()))
	}

	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rangetask: %w", err)
	}
	return nil
}

// cut returns the end of the task that starts at key: the end of its
// regionsPerTask-th region, or end when the range ends first (last is then true).
func (r *Runner) cut(ctx context.Context, key, end []byte) (taskEnd []byte, last bool, err error) {
	for range r.regionsPerTask {
		loc, err := r.cache.Locate(ctx, key)
		if err != nil {
			return nil, false, fmt.Errorf("rangetask: locate: %w", err)
		}
		if len(loc.EndKey) == 0 || (len(end) > 0 && bytes.Compare(loc.EndKey, end) >= 0) {
			return end, true, nil
		}
		key = loc.EndKey
	}
	return key, false, nil
}
