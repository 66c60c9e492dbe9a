package region

import (
	"context"
	"fmt"
	"sync"

	"github.com/tikvsql/tikvsql/internal/backoff"
)

// Batch is a group of items whose keys live in one region (a plain value; fn owns it).
type Batch[T any] struct {
	Location *Location
	Items    []T
	// Retry reports that the items were sent before: the batch was regrouped after fn
	// failed on their former region. Requests built from it should set Options.Retry.
	Retry bool
}

// BatchFunc runs one region's batch: usually it builds one request from b.Items and calls
// SendToRegion with bo and b.Location. Returning a Resplit *Error makes RunBatches group
// b.Items again by their current regions and run the new batches; any other error stops
// the whole run.
type BatchFunc[T any] func(ctx context.Context, bo *backoff.Backoffer, b Batch[T]) error

// RunBatches groups items by the region of keyOf(item) and runs fn for every group, up to
// concurrency groups at a time (<= 0: one at a time), under ctx and one retry budget
// (opts.Budget or the Sender's). Each group runs with a fork of the backoffer; forks are
// merged back, so the budget is shared. When fn reports that the region moved, the
// group's items are located and split again, after RetryRegionError's backoff (SB-1).
// The first failure cancels the other groups.
//
// Errors: the first error of fn or Locate, a *kv.BackoffError, or an error wrapping ctx's
// error.
func RunBatches[T any](ctx context.Context, s *Sender, items []T, keyOf func(T) []byte, opts *Options, concurrency int, fn BatchFunc[T]) error {
	bo := s.NewBackoffer(opts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &batchRun[T]{s: s, keyOf: keyOf, fn: fn, sem: make(chan struct{}, max(concurrency, 1)), cancel: cancel}
	err := r.run(ctx, bo, items)
	r.wg.Wait()
	if r.err != nil {
		return r.err // the first failure, not the cancellation it caused
	}
	return err
}

type batchRun[T any] struct {
	s      *Sender
	keyOf  func(T) []byte
	fn     BatchFunc[T]
	sem    chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error
}

// run groups items and starts one goroutine per group; the goroutines are owned by the
// run and joined by RunBatches.
func (r *batchRun[T]) run(ctx context.Context, bo *backoff.Backoffer, items []T) error {
	batches, err := r.group(ctx, items)
	if err != nil {
		return err
	}
	for _, b := range batches {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return ctxErr(ctx, "run batches")
		}
		r.mu.Lock()
		fork := bo.Fork()
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			err := r.one(ctx, fork, b)
			r.mu.Lock()
			bo.MergeFork(fork)
			if err != nil && r.err == nil {
				r.err = err
				r.cancel()
			}
			r.mu.Unlock()
		}()
	}
	return nil
}

// one runs a batch, re-grouping and re-running (in this goroutine) after region moves.
func (r *batchRun[T]) one(ctx context.Context, bo *backoff.Backoffer, b Batch[T]) error {
	defer func() { <-r.sem }()
	pending := []Batch[T]{b}
	for len(pending) > 0 {
		cur := pending[0]
		pending = pending[1:]
		err := r.fn(ctx, bo, cur)
		if err == nil {
			continue
		}
		if err := RetryRegionError(ctx, bo, err); err != nil {
			return err
		}
		again, err := r.group(ctx, cur.Items)
		if err != nil {
			return err
		}
		for i := range again {
			again[i].Retry = true
		}
		pending = append(pending, again...)
	}
	return nil
}

// group splits items into batches by region, in order of first appearance.
func (r *batchRun[T]) group(ctx context.Context, items []T) ([]Batch[T], error) {
	var out []Batch[T]
	pos := make(map[VerID]int)
	var last *Location
	for _, it := range items {
		k := r.keyOf(it)
		if last == nil || !last.Contains(k) {
			loc, err := r.s.cache.Locate(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("region: group batch: %w", err)
			}
			last = loc
		}
		i, ok := pos[last.Region]
		if !ok {
			i = len(out)
			pos[last.Region] = i
			out = append(out, Batch[T]{Location: last})
		}
		out[i].Items = append(out[i].Items, it)
	}
	return out, nil
}
