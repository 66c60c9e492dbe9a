package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// Defaults of PipelinedOptions (client-go's values).
const (
	// DefaultPipelinedFlushConcurrency bounds the region batches of one flush in flight.
	DefaultPipelinedFlushConcurrency = 128
	// DefaultPipelinedResolveLockConcurrency bounds the regions resolved in parallel
	// after a pipelined transaction committed or rolled back.
	DefaultPipelinedResolveLockConcurrency = 8
	// DefaultPipelinedMinFlushKeys and DefaultPipelinedMinFlushSize: the buffer is
	// flushed once it holds at least this many keys and this many bytes...
	DefaultPipelinedMinFlushKeys = 10000
	DefaultPipelinedMinFlushSize = 16 << 20
	// DefaultPipelinedForceFlushSize: ...or, whatever its key count, this many bytes. It
	// bounds the memory of the buffer (plus the one being flushed).
	DefaultPipelinedForceFlushSize = 128 << 20
	// DefaultPipelinedMaxTxnTTL is how long the heartbeat may keep a pipelined
	// transaction's primary lock alive (client-go's MaxPipelinedTxnTTL, 24 h).
	DefaultPipelinedMaxTxnTTL = 24 * time.Hour
)

// ErrIncompatibleOptions is the sentinel of *IncompatibleOptionError.
var ErrIncompatibleOptions = errors.New("txn: incompatible transaction options")

// ErrPipelinedUnsupported is returned by the operations a pipelined transaction cannot
// offer: LockKeys (TiKV's flush writes no Lock-type locks), RollbackTo (flushed writes
// cannot be taken back), and Iter/Scan once something was flushed (the flushed writes
// live in TiKV locks, which range reads of the transaction cannot see).
var ErrPipelinedUnsupported = errors.New("txn: not supported by a pipelined transaction")

// IncompatibleOptionError reports that Begin was given options that cannot be combined,
// such as WithPipelined and WithPessimistic. It unwraps to ErrIncompatibleOptions.
type IncompatibleOptionError struct {
	Option string // the option that excludes the other, e.g. "pipelined"
	With   string // the other option, e.g. "pessimistic"
}

// Error describes the conflict.
func (e *IncompatibleOptionError) Error() string {
	return fmt.Sprintf("txn: option %s cannot be combined with %s", e.Option, e.With)
}

// Unwrap returns ErrIncompatibleOptions.
func (e *IncompatibleOptionError) Unwrap() error { return ErrIncompatibleOptions }

// PipelinedOptions configures a pipelined-DML transaction (WithPipelined). The zero
// value of every field is its default.
type PipelinedOptions struct {
	// FlushConcurrency bounds the region batches of one flush in flight
	// (DefaultPipelinedFlushConcurrency).
	FlushConcurrency int
	// ResolveLockConcurrency bounds the regions whose locks are resolved in parallel
	// after commit or rollback (DefaultPipelinedResolveLockConcurrency).
	ResolveLockConcurrency int
	// WriteThrottleRatio in [0, 1) slows the writer down while flushes run: each time a
	// flush starts, the write that triggered it sleeps ratio/(1-ratio) times the
	// average duration of past flushes, so that roughly ratio of the writer's time is
	// spent waiting. 0 (the default) never sleeps.
	WriteThrottleRatio float64
	// MinFlushKeys, MinFlushSize and ForceFlushSize are the flush thresholds: the
	// buffer is flushed when it holds at least MinFlushKeys keys and MinFlushSize
	// bytes (while no other flush runs), or ForceFlushSize bytes (waiting for a running
	// flush). Defaults: DefaultPipelinedMinFlushKeys, DefaultPipelinedMinFlushSize,
	// DefaultPipelinedForceFlushSize. Sizes are the buffer's memory (memdb.DB.Mem).
	MinFlushKeys   int
	MinFlushSize   int
	ForceFlushSize int
	// MaxTxnTTL is how long the heartbeat keeps the primary lock alive
	// (DefaultPipelinedMaxTxnTTL); after it, readers may roll the transaction back.
	MaxTxnTTL time.Duration
	// SyncResolve makes Commit resolve the transaction's secondary locks before it
	// returns instead of in a goroutine owned by the Client.
	SyncResolve bool
}

func (o *PipelinedOptions) setDefaults() {
	setInt(&o.FlushConcurrency, DefaultPipelinedFlushConcurrency)
	setInt(&o.ResolveLockConcurrency, DefaultPipelinedResolveLockConcurrency)
	setInt(&o.MinFlushKeys, DefaultPipelinedMinFlushKeys)
	setInt(&o.MinFlushSize, DefaultPipelinedMinFlushSize)
	setInt(&o.ForceFlushSize, DefaultPipelinedForceFlushSize)
	setDur(&o.MaxTxnTTL, DefaultPipelinedMaxTxnTTL)
}

// WithPipelined makes the transaction a pipelined-DML transaction (TXN-12): its writes
// are flushed to TiKV as locks while it runs, so its size is not bounded by memory and
// Commit has little left to do. See docs/txn.md ("Pipelined DML") for the protocol.
// It cannot be combined with WithPessimistic, WithAsyncCommit(true), WithOnePC(true) or
// a Client with Config.LocalLatches: Begin fails with an *IncompatibleOptionError. A
// WriteThrottleRatio outside [0, 1) fails Begin with an error wrapping
// ErrIncompatibleOptions as well.
func WithPipelined(o PipelinedOptions) TxnOption {
	return func(t *txnOptions) {
		o.setDefaults()
		t.pipelined = &o
	}
}

// checkPipelined validates the options of a pipelined transaction at Begin.
func (c *Client) checkPipelined(o *txnOptions) error {
	if o.pipelined == nil {
		return nil
	}
	with := ""
	switch {
	case o.proto.pessimistic:
		with = "pessimistic"
	case o.proto.asyncCommit != nil && *o.proto.asyncCommit:
		with = "async commit"
	case o.proto.onePC != nil && *o.proto.onePC:
		with = "1PC"
	case c.cfg.LocalLatches > 0:
		with = "local latches"
	case o.pipelined.WriteThrottleRatio < 0 || o.pipelined.WriteThrottleRatio >= 1:
		return fmt.Errorf("%w: pipelined write throttle ratio %v not in [0, 1)", ErrIncompatibleOptions,
			o.pipelined.WriteThrottleRatio)
	default:
		return nil
	}
	return &IncompatibleOptionError{Option: "pipelined", With: with}
}

// pipelined is the state of a pipelined transaction beside its mutable buffer (Txn.mem).
// Fields under Txn.mu: flushing, flushedLen, flushedSize, gen. Fields under mu: the
// rest, which the flush goroutine writes.
type pipelined struct {
	tx   *Txn
	opts PipelinedOptions

	ctx    context.Context // ends on Rollback, failed Commit, or Client close
	cancel context.CancelFunc

	flushing    *memdb.DB     // the buffer being (or last) flushed; read-only
	flushDone   chan struct{} // closed when the running flush ended; nil when none ran
	flushedLen  int
	flushedSize int
	gen         uint64

	mu       sync.Mutex
	err      error  // the first flush error; the transaction can only be rolled back
	primary  []byte // the first flushed key that leaves a lock
	minKey   []byte // the range of every flushed key
	maxKey   []byte
	flushes  int           // flushes that ended without error
	avgFlush time.Duration // moving average of flush durations, for throttling

	hbStop     context.CancelFunc
	hbDone     chan struct{}
	hbSent     int // heartbeats acknowledged, for tests
	broadcasts int // status broadcasts acknowledged by a store, for tests
}

func newPipelined(tx *Txn, o PipelinedOptions) *pipelined {
	ctx, cancel := context.WithCancel(tx.c.bg.ctx)
	return &pipelined{tx: tx, opts: o, ctx: ctx, cancel: cancel}
}

// IsPipelined reports whether the transaction was begun WithPipelined.
func (tx *Txn) IsPipelined() bool { return tx.pipe != nil }

// flushedLen and flushedSize count the keys and bytes already handed to flushes (a key
// written again after a flush counts twice); nil-safe.
func (p *pipelined) flushedCounts() (int, int) {
	if p == nil {
		return 0, 0
	}
	return p.flushedLen, p.flushedSize
}

// written is called with tx.mu held after a write to tx.mem with the write's error; it
// starts a flush when the buffer reached the thresholds.
func (tx *Txn) written(err error) error {
	if err != nil || tx.pipe == nil {
		return err
	}
	return tx.pipe.maybeFlush()
}

// failure returns the error of a failed flush.
func (p *pipelined) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// running reports whether a flush is in flight; tx.mu held.
func (p *pipelined) running() bool {
	if p.flushDone == nil {
		return false
	}
	select {
	case <-p.flushDone:
		return false
	default:
		return true
	}
}

// maybeFlush applies the thresholds; tx.mu held.
func (p *pipelined) maybeFlush() error {
	if err := p.failure(); err != nil {
		return err
	}
	mem := p.tx.mem
	size := mem.Mem()
	if size < p.opts.MinFlushSize || (mem.Len() < p.opts.MinFlushKeys && size < p.opts.ForceFlushSize) {
		return nil
	}
	if p.running() && size < p.opts.ForceFlushSize {
		return nil // the writer may go on while the previous flush runs
	}
	if err := p.startFlush(p.ctx, true); err != nil {
		return err
	}
	p.throttle()
	return nil
}

// waitFlush waits for the running flush, if any, within ctx and returns the first flush
// error; when ctx ends first, the flush is cancelled (the transaction can then only be
// rolled back). tx.mu held.
func (p *pipelined) waitFlush(ctx context.Context) error {
	if p.running() {
		select {
		case <-p.flushDone:
		case <-ctx.Done():
			p.cancel()
			<-p.flushDone
			p.fail(ctx.Err())
			return ctx.Err()
		}
	}
	return p.failure()
}

// startFlush waits (within ctx) for the running flush, hands the mutable buffer to a new
// flush and gives the transaction a new buffer; tx.mu held. With background the flush
// runs in a goroutine owned by the Client, bounded by the transaction's life; otherwise
// it runs synchronously under ctx (Commit's final flush).
func (p *pipelined) startFlush(ctx context.Context, background bool) error {
	if err := p.waitFlush(ctx); err != nil {
		return err
	}
	tx := p.tx
	if tx.mem.Levels() > 0 {
		return fmt.Errorf("txn: pipelined flush with open staging levels: %w", ErrPipelinedUnsupported)
	}
	muts, size, err := tx.filterMutations(mutationsOf(tx.mem))
	if err != nil {
		return err
	}
	p.flushing = tx.mem
	p.flushedLen += tx.mem.Len()
	p.flushedSize += size
	tx.mem = tx.newBuffer()
	if len(muts) == 0 {
		p.flushDone = nil
		return nil
	}
	p.gen++
	p.noteRange(muts)
	done := make(chan struct{})
	p.flushDone = done
	gen := p.gen
	if !background {
		defer close(done)
		fctx, stop := context.WithCancel(ctx)
		defer stop()
		defer context.AfterFunc(p.ctx, stop)()
		return p.flush(fctx, gen, muts)
	}
	if !tx.goBackground(false, func(context.Context) {
		defer close(done)
		_ = p.flush(p.ctx, gen, muts) // recorded in p.err
	}) {
		close(done)
		p.fail(kv.ErrClosed)
		return kv.ErrClosed
	}
	return nil
}

// fail records the first flush error.
func (p *pipelined) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// throttle sleeps after a flush started, as WriteThrottleRatio says; tx.mu held (the
// writer is the one being slowed down).
func (p *pipelined) throttle() {
	r := p.opts.WriteThrottleRatio
	if r <= 0 {
		return
	}
	p.mu.Lock()
	avg := p.avgFlush
	p.mu.Unlock()
	d := min(time.Duration(float64(avg)*r/(1-r)), 10*time.Second)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
	}
}

// noteRange widens the flushed range to cover muts (in key order) and chooses the
// primary, before they are sent: a flush that fails half-way must still be rolled back
// over every key it may have written.
func (p *pipelined) noteRange(muts []mutation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	first, last := muts[0].key, muts[len(muts)-1].key
	if p.minKey == nil || bytes.Compare(first, p.minKey) < 0 {
		p.minKey = bytes.Clone(first)
	}
	if p.maxKey == nil || bytes.Compare(last, p.maxKey) > 0 {
		p.maxKey = bytes.Clone(last)
	}
	if p.primary == nil {
		if i := primaryOf(muts); i >= 0 {
			p.primary = bytes.Clone(muts[i].key)
		}
	}
}

// noteFlushed records a successful flush that took d.
func (p *pipelined) noteFlushed(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushes++
	if p.avgFlush == 0 {
		p.avgFlush = d
	} else {
		p.avgFlush = (p.avgFlush*7 + d) / 8
	}
}

// flushedRange returns the range covering every flushed key, ok false when nothing
// was flushed.
func (p *pipelined) flushedRange() (kv.KeyRange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.minKey == nil {
		return kv.KeyRange{}, false
	}
	return kv.KeyRange{Start: p.minKey, End: append(bytes.Clone(p.maxKey), 0)}, true
}

func (p *pipelined) primaryKey() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.primary
}

// localGet looks key up in the buffer being flushed; tx.mu held.
func (p *pipelined) localGet(key []byte) ([]byte, bool) {
	if p.flushing == nil {
		return nil, false
	}
	v, ok := p.flushing.Get(key)
	if !ok {
		return nil, false
	}
	return bytes.Clone(v), true
}

// pipelinedGet is Get after a miss in the mutable buffer: the buffer being flushed,
// then what was flushed to TiKV (BufferBatchGet), then the snapshot.
func (tx *Txn) pipelinedGet(ctx context.Context, key []byte) ([]byte, error) {
	got, rest, err := tx.pipelinedLookup(ctx, [][]byte{key})
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		if v := got[string(key)]; len(v) > 0 {
			return v, nil
		}
		return nil, kv.ErrNotFound
	}
	return tx.readGet(ctx, key)
}

// pipelinedLookup answers keys from the buffer being flushed and from TiKV's flushed
// locks. got holds the keys it decided (a zero-length value is a deletion); rest the
// keys to read from the snapshot.
func (tx *Txn) pipelinedLookup(ctx context.Context, keys [][]byte) (got map[string][]byte, rest [][]byte, err error) {
	got = make(map[string][]byte, len(keys))
	var remote [][]byte
	tx.mu.Lock()
	for _, k := range keys {
		if v, ok := tx.pipe.localGet(k); ok {
			got[string(k)] = v
			continue
		}
		remote = append(remote, k)
	}
	tx.mu.Unlock()
	r, ok := tx.pipe.flushedRange()
	if !ok || len(remote) == 0 {
		return got, remote, nil
	}
	var ask [][]byte
	for _, k := range remote {
		if r.Contains(k) {
			ask = append(ask, k)
		} else {
			rest = append(rest, k)
		}
	}
	if len(ask) == 0 {
		return got, rest, nil
	}
	flushed, err := tx.bufferBatchGet(ctx, ask)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range ask {
		if v, ok := flushed[string(k)]; ok {
			got[string(k)] = v
		} else {
			rest = append(rest, k)
		}
	}
	return got, rest, nil
}

// pipelinedBatchGet is BatchGet for the keys the mutable buffer did not decide.
func (tx *Txn) pipelinedBatchGet(ctx context.Context, keys [][]byte, out map[string][]byte) ([][]byte, error) {
	got, rest, err := tx.pipelinedLookup(ctx, keys)
	if err != nil {
		return nil, err
	}
	for k, v := range got {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return rest, nil
}

// pipelinedIterCheck refuses range reads once writes left the local buffers.
func (tx *Txn) pipelinedIterCheck() error {
	if tx.pipe == nil {
		return nil
	}
	tx.mu.Lock()
	gen := tx.pipe.gen
	tx.mu.Unlock()
	if gen > 0 {
		return fmt.Errorf("txn: iterate after a flush: %w", ErrPipelinedUnsupported)
	}
	return nil
}
