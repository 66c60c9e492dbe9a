package raw

import (
	"context"
	"fmt"
	"sync"

	"github.com/tikvsql/tikvsql/kv"
)

// Iterator streams the pairs of a range (see Client.Iter). A prefetch goroutine reads the
// next batch (Config.ScanBatchSize pairs, one RawScan RPC) while the caller consumes the
// current one, so memory stays bounded by two batches. Use it from one goroutine:
//
//	it := c.Iter(ctx, start, end)
//	defer it.Close()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan batchResult // unbuffered: the goroutine holds at most one batch ahead
	wg     sync.WaitGroup
	once   sync.Once

	cur []kv.KeyValue
	pos int
	err error
	eof bool
}

type batchResult struct {
	kvs []kv.KeyValue
	err error
}

// Iter returns an iterator over [start, end) (an empty end is the end of the keyspace),
// ascending, or descending with WithReverse; both directions take the same [start, end)
// order. ctx bounds the whole iteration: when it ends, Next returns false and Err reports
// it. Close the iterator (or end ctx) when done to stop the prefetch goroutine. There is
// no MaxScan cap. Options: WithReverse, WithKeyOnly, WithColumnFamily.
//
// Errors (from Err): kv.ErrInvalidRange, ErrInvalidArgument (including a reverse
// iteration without an end key under API v1), *ServerError, the region layer's errors,
// ctx's error, kv.ErrClosed.
func (c *Client) Iter(ctx context.Context, start, end []byte, opts ...Option) *Iterator {
	const op = "Iter"
	it := &Iterator{}
	if err := c.check(op); err != nil {
		it.err = err
		return it
	}
	o, err := c.collect(op, optCF|optKeyOnly|optReverse, opts)
	if err != nil {
		it.err = fmt.Errorf("raw: %w", err)
		return it
	}
	if err := c.checkRange(op, start, end, o.reverse); err != nil {
		it.err = err
		return it
	}
	s := &scanner{c: c, lo: kv.Key(start).Clone(), hi: kv.Key(end).Clone(), reverse: o.reverse, keyOnly: o.keyOnly, cf: o.cf}
	it.ctx, it.cancel = context.WithCancel(ctx)
	it.ch = make(chan batchResult)
	it.wg.Add(1)
	go it.prefetch(it.ctx, s, c.cfg.ScanBatchSize)
	return it
}

// prefetch reads batches and hands them over until the range ends, an error occurs or
// ctx ends. It closes ch when it stops.
func (it *Iterator) prefetch(ctx context.Context, s *scanner, n int) {
	defer it.wg.Done()
	defer close(it.ch)
	for {
		kvs, err := s.next(ctx, n)
		if kvs == nil && err == nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("raw: Iter: %w", err)
		}
		select {
		case it.ch <- batchResult{kvs: kvs, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Next advances to the next pair and reports whether there is one. It returns false at
// the end of the range, after an error (see Err) and after Close.
func (it *Iterator) Next() bool {
	if it.err != nil || it.eof {
		return false
	}
	it.pos++
	if it.pos < len(it.cur) {
		return true
	}
	r, ok := <-it.ch
	switch {
	case !ok:
		it.eof, it.cur = true, nil
		if err := it.ctx.Err(); err != nil {
			it.err = fmt.Errorf("raw: Iter: %w", err) // the goroutine stopped early
		}
		return false
	case r.err != nil:
		it.err, it.cur = r.err, nil
		return false
	}
	it.cur, it.pos = r.kvs, 0
	return true
}

// Key returns the current key. It is valid until Next is called again; the iterator does
// not modify it afterwards, so it may be kept.
func (it *Iterator) Key() []byte {
	if it.pos < len(it.cur) {
		return it.cur[it.pos].Key
	}
	return nil
}

// Value returns the current value ([]byte{} for an empty value, nil with WithKeyOnly).
// Like Key, it may be kept.
func (it *Iterator) Value() []byte {
	if it.pos < len(it.cur) {
		return it.cur[it.pos].Value
	}
	return nil
}

// Err returns the error that stopped the iteration, or nil at a normal end or after
// Close.
func (it *Iterator) Err() error { return it.err }

// Close stops the prefetch goroutine and waits for it to exit. It is idempotent; Next
// returns false afterwards.
func (it *Iterator) Close() {
	it.once.Do(func() {
		if it.cancel != nil {
			it.cancel()
			it.wg.Wait()
		}
		it.eof, it.cur = true, nil
	})
}
