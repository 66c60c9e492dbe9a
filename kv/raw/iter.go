package raw

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/tikvsql/tikvsql/kv"
)

// Iterator streams the pairs of a range (see Client.Iter). While the caller consumes one
// batch (Config.ScanBatchSize pairs, one RawScan RPC), a goroutine fetches the next one,
// so memory stays bounded by two batches. Each fetch goroutine ends on its own when its
// RPC completes or fails (or ctx ends), so even an iterator that is never closed leaves
// nothing running after that, and its context is released when it is garbage collected;
// Close cancels the fetch in flight and waits for it. Use an Iterator from one goroutine:
//
//	it := c.Iter(ctx, start, end)
//	defer it.Close()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	ctx     context.Context
	cancel  context.CancelFunc
	s       *scanner
	n       int
	pending chan batchResult // the fetch in flight (capacity 1), nil when none
	wg      sync.WaitGroup
	once    sync.Once

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
// it. The first batch is requested at once. There is no MaxScan cap. Options:
// WithReverse, WithKeyOnly, WithColumnFamily.
//
// Errors (from Err): kv.ErrInvalidRange, ErrInvalidArgument (including a reverse
// iteration without an end key under API v1), *ServerError, the region layer's errors,
// ctx's error, kv.ErrClosed.
func (c *Client) Iter(ctx context.Context, start, end []byte, opts ...Option) *Iterator {
	const op = "Iter"
	it := &Iterator{eof: true}
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
	it.eof = false
	it.s = &scanner{c: c, lo: kv.Key(start).Clone(), hi: kv.Key(end).Clone(), reverse: o.reverse, keyOnly: o.keyOnly, cf: o.cf}
	it.n = c.cfg.ScanBatchSize
	it.ctx, it.cancel = context.WithCancel(ctx)
	runtime.AddCleanup(it, func(cancel context.CancelFunc) { cancel() }, it.cancel)
	it.fetch()
	return it
}

// fetch starts reading the next batch in a goroutine that delivers into a buffered
// channel and exits.
func (it *Iterator) fetch() {
	ch := make(chan batchResult, 1)
	it.pending = ch
	it.wg.Add(1)
	go func() {
		defer it.wg.Done()
		kvs, err := it.s.next(it.ctx, it.n)
		ch <- batchResult{kvs: kvs, err: err}
	}()
}

// Next advances to the next pair and reports whether there is one. It returns false at
// the end of the range, after an error (see Err) and after Close.
func (it *Iterator) Next() bool {
	if it.err != nil || it.eof {
		return false
	}
	if it.pos+1 < len(it.cur) {
		it.pos++
		return true
	}
	it.cur, it.pos = nil, 0
	if it.pending == nil {
		it.eof = true
		return false
	}
	r := <-it.pending
	it.pending = nil
	switch {
	case r.err != nil:
		it.err = fmt.Errorf("raw: Iter: %w", r.err)
		return false
	case r.kvs == nil:
		it.eof = true
		return false
	}
	it.cur = r.kvs
	if !it.s.done { // the channel receive orders this read after the fetch's writes
		it.fetch()
	}
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

// Close cancels the fetch in flight, waits for it and releases the iterator. It is
// idempotent; Next returns false afterwards and Err keeps any earlier error.
func (it *Iterator) Close() {
	it.once.Do(func() {
		if it.cancel != nil {
			it.cancel()
			it.wg.Wait()
		}
		it.eof, it.cur, it.pending = true, nil, nil
	})
}
