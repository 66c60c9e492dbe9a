package txn

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// txnState is where a transaction is in its life.
type txnState uint8

const (
	stateActive     txnState = iota
	stateCommitted           // Commit succeeded
	stateRolledBack          // Rollback called, or Commit failed and cleaned up
	stateUnknown             // Commit's outcome is undetermined
)

// Txn is a transaction: reads see the snapshot at StartTS (or, under ReadCommitted, the
// latest committed data) merged with the transaction's own buffered writes; writes stay
// in a local buffer until Commit runs two-phase commit (or, when enabled, 1PC or async
// commit). It is optimistic unless begun WithPessimistic, in which case LockKeys takes
// locks in TiKV at once (see LockKeysWithOptions). Its methods are safe for concurrent
// use, but a transaction is a sequence of steps: interleaving writes from several
// goroutines gives no useful order. Reads of keys whose values a pessimistic lock
// returned (LockOptions.ReturnValues) see those values, in point and range reads alike.
type Txn struct {
	c       *Client
	snap    *Snapshot
	startTS uint64
	opts    txnOptions
	begun   time.Time
	traceCx context.Context

	mu       sync.Mutex
	mem      *memdb.DB
	state    txnState
	commitTS uint64
	pess     pessimistic // lock state of a pessimistic transaction (pessimistic.go)
	pipe     *pipelined  // nil unless WithPipelined (pipelined.go)
	agg      *aggressive // the open aggressive locking stage, if any (aggressive.go)
}

func newTxn(ctx context.Context, c *Client, ts uint64, o txnOptions) *Txn {
	t := &Txn{c: c, snap: newSnapshot(c, ts, o), startTS: ts, opts: o, begun: time.Now(),
		traceCx: context.WithoutCancel(ctx)}
	t.mem = t.newBuffer()
	if o.pipelined != nil {
		t.pipe = newPipelined(t, *o.pipelined)
	}
	if c.tracer != nil {
		t.traceCx = c.tracer.TraceTxnStart(t.traceCx, kv.TxnStart{StartTS: ts, Pessimistic: o.proto.pessimistic})
	}
	return t
}

// StartTS returns the transaction's start (read) timestamp.
func (tx *Txn) StartTS() uint64 { return tx.startTS }

// CommitTS returns the commit timestamp after a successful Commit that wrote something,
// and 0 otherwise.
func (tx *Txn) CommitTS() uint64 {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.commitTS
}

// Len returns the number of keys the transaction buffers (writes and locks).
func (tx *Txn) Len() int {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	n, _ := tx.pipe.flushedCounts()
	return tx.mem.Len() + n
}

// Size returns the bytes of buffered keys and values.
func (tx *Txn) Size() int {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	_, n := tx.pipe.flushedCounts()
	return tx.mem.Size() + n
}

// IsReadOnly reports whether the transaction buffers no write and no lock.
func (tx *Txn) IsReadOnly() bool { return tx.Len() == 0 }

// active is called with mu held.
func (tx *Txn) active() error {
	if tx.state != stateActive {
		return kv.ErrTxnDone
	}
	return nil
}

// checkEntries enforces Config.MaxTxnEntries for a write of key; mu held.
func (tx *Txn) checkEntries(key []byte) error {
	lim := tx.c.cfg.MaxTxnEntries
	if lim <= 0 || tx.mem.Len() < lim {
		return nil
	}
	if _, ok := tx.mem.Get(key); ok || tx.mem.Flags(key) != 0 {
		return nil
	}
	return &kv.SizeLimitError{Err: kv.ErrTxnTooLarge, Size: uint64(tx.mem.Len() + 1), Limit: uint64(lim)}
}

// Set buffers a write of value to key.
//
// Errors: ErrEmptyKey, kv.ErrEmptyValue (use Delete), a *kv.SizeLimitError (key, entry or
// transaction too large), kv.ErrTxnDone.
func (tx *Txn) Set(key, value []byte) error {
	return tx.write(key, func() error { return tx.written(tx.mem.Set(key, value)) })
}

// write runs a buffer write of key under the transaction's lock, after the checks every
// write shares: a non-empty key, an active transaction, room for one more entry.
func (tx *Txn) write(key []byte, apply func() error) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	if err := tx.checkEntries(key); err != nil {
		return err
	}
	return apply()
}

// Delete buffers a deletion of key (deleting an absent key is not an error).
//
// Errors: ErrEmptyKey, a *kv.SizeLimitError, kv.ErrTxnDone.
func (tx *Txn) Delete(key []byte) error {
	return tx.write(key, func() error { return tx.written(tx.mem.Delete(key)) })
}

// Insert buffers a write of value to key that requires key not to exist: Commit fails
// with *kv.KeyExistsError when TiKV holds a value for key at commit (Op_Insert).
// Inserting a key this transaction already wrote fails at once with *kv.KeyExistsError;
// inserting a key it deleted is a plain write.
//
// Errors: as Set, and *kv.KeyExistsError.
func (tx *Txn) Insert(key, value []byte) error {
	return tx.write(key, func() error {
		if v, ok := tx.mem.Get(key); ok {
			if len(v) > 0 {
				return &kv.KeyExistsError{Key: kv.Key(key).Clone()}
			}
			return tx.written(tx.mem.Set(key, value))
		}
		return tx.written(tx.mem.SetWithFlags(key, value, memdb.FlagPresumeKNE))
	})
}

// LockKeys marks keys so that Commit fails with a *kv.WriteConflictError if another
// transaction committed a write to any of them after StartTS, even when this transaction
// does not write them (Op_Lock mutations). In optimistic transactions nothing is sent
// before Commit. In a pessimistic transaction it takes the locks in TiKV at once with
// the transaction's wait policy: see LockKeysWithOptions.
//
// Errors: ErrEmptyKey, kv.ErrTxnDone, ctx's error; in a pessimistic transaction those of
// LockKeysWithOptions.
func (tx *Txn) LockKeys(ctx context.Context, keys ...[]byte) error {
	return tx.LockKeysWithOptions(ctx, LockOptions{}, keys...)
}

// lockOptimistic is LockKeys of an optimistic transaction.
func (tx *Txn) lockOptimistic(ctx context.Context, keys [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	if tx.pipe != nil {
		return fmt.Errorf("txn: lock keys: %w", ErrPipelinedUnsupported)
	}
	for _, k := range keys {
		if len(k) == 0 {
			return ErrEmptyKey
		}
		if err := tx.checkEntries(k); err != nil {
			return err
		}
		if err := tx.mem.UpdateFlags(k, memdb.FlagNeedLocked, 0); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoint is a savepoint of a transaction's buffer.
type Checkpoint struct {
	tx *Txn
	cp memdb.Checkpoint
}

// Checkpoint returns a savepoint to which RollbackTo can return.
func (tx *Txn) Checkpoint() Checkpoint {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return Checkpoint{tx: tx, cp: tx.mem.Checkpoint()}
}

// RollbackTo discards every write and lock buffered after cp was taken.
//
// Errors: kv.ErrTxnDone; an error wrapping memdb.ErrInvalidHandle for a checkpoint of
// another transaction or one invalidated by an earlier RollbackTo.
func (tx *Txn) RollbackTo(cp Checkpoint) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	if tx.pipe != nil {
		return fmt.Errorf("txn: rollback to checkpoint: %w", ErrPipelinedUnsupported)
	}
	if cp.tx != tx {
		return fmt.Errorf("txn: checkpoint of another transaction: %w", memdb.ErrInvalidHandle)
	}
	return tx.mem.RevertToCheckpoint(cp.cp)
}

// bufferedGet looks key up in the buffer: ok says the buffer decides the read.
func (tx *Txn) bufferedGet(key []byte) (val []byte, ok bool) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	v, ok := tx.mem.Get(key)
	if !ok {
		v, ok = tx.pess.values[string(key)] // read under a pessimistic lock (nil: absent)
		if !ok {
			return nil, false
		}
	}
	return bytes.Clone(v), true
}

// Get returns the value of key as this transaction sees it: its own write if any, else
// the snapshot at StartTS.
//
// Errors: kv.ErrNotFound for an absent (or deleted) key; as Snapshot.Get.
func (tx *Txn) Get(ctx context.Context, key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	if v, ok := tx.bufferedGet(key); ok {
		if len(v) == 0 {
			return nil, kv.ErrNotFound
		}
		return v, nil
	}
	if tx.pipe != nil {
		return tx.pipelinedGet(ctx, key)
	}
	return tx.readGet(ctx, key)
}

// BatchGet returns the values of the keys that exist as this transaction sees them.
//
// Errors: as Snapshot.BatchGet.
func (tx *Txn) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	var rest [][]byte
	for _, k := range keys {
		if len(k) == 0 {
			return nil, ErrEmptyKey
		}
		if v, ok := tx.bufferedGet(k); ok {
			if len(v) > 0 {
				out[string(k)] = v
			}
			continue
		}
		rest = append(rest, k)
	}
	if tx.pipe != nil && len(rest) > 0 {
		var err error
		if rest, err = tx.pipelinedBatchGet(ctx, rest, out); err != nil {
			return nil, err
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	got, err := tx.readBatchGet(ctx, rest)
	if err != nil {
		return nil, err
	}
	for k, v := range got {
		out[k] = v
	}
	return out, nil
}

// Iter iterates over [start, end) as this transaction sees it: buffered writes merged
// over the snapshot, in either direction; buffered deletions hide keys. Writes made
// while the iterator is open may or may not be seen by it.
func (tx *Txn) Iter(ctx context.Context, start, end []byte, opts ...IterOption) *Iterator {
	o := tx.snap.iterOptions(opts)
	if len(end) > 0 && bytes.Compare(start, end) > 0 {
		return errIterator(fmt.Errorf("txn: iter [%x, %x): %w", start, end, kv.ErrInvalidRange))
	}
	snap, err := tx.readSnapshot(ctx, true) // a range read cannot be retried key by key
	if err == nil {
		err = tx.pipelinedIterCheck()
	}
	if err != nil {
		return errIterator(err)
	}
	if err := snap.check(ctx); err != nil {
		return errIterator(err)
	}
	tx.mu.Lock()
	mi := tx.mem.Iter(kv.KeyRange{Start: start, End: end}, memdb.IterOptions{Reverse: o.reverse})
	tx.mu.Unlock()
	base := tx.lockedOverlay(newScanner(snap, start, end, o), start, end, o) // overlay.go
	return &Iterator{ctx: ctx, src: &unionSource{tx: tx, mem: mi, snap: base, o: o}}
}

// Scan returns up to limit pairs of [start, end) as this transaction sees them (limit <=
// 0: all).
//
// Errors: as Snapshot.Scan.
func (tx *Txn) Scan(ctx context.Context, start, end []byte, limit int, opts ...IterOption) ([]kv.KeyValue, error) {
	return collect(tx.Iter(ctx, start, end, opts...), limit)
}

// unionSource merges the buffer's iterator with the snapshot's scanner.
type unionSource struct {
	tx      *Txn
	mem     *memdb.Iterator
	snap    source // the snapshot's scanner, with values read under locks (overlay.go)
	o       iterOptions
	pending *kv.KeyValue // the snapshot's next pair, already fetched
	snapEnd bool
}

func (u *unionSource) next(ctx context.Context) (kv.KeyValue, bool, error) {
	for {
		if u.pending == nil && !u.snapEnd {
			p, ok, err := u.snap.next(ctx)
			if err != nil {
				return kv.KeyValue{}, false, err
			}
			if ok {
				u.pending = &p
			} else {
				u.snapEnd = true
			}
		}
		u.tx.mu.Lock()
		var mk, mv []byte
		memOK := u.mem.Valid()
		if memOK {
			mk, mv = bytes.Clone(u.mem.Key()), bytes.Clone(u.mem.Value())
		}
		u.tx.mu.Unlock()
		if !memOK && u.pending == nil {
			return kv.KeyValue{}, false, nil
		}
		cmp := -1 // which side comes first: <0 buffer, >0 snapshot, 0 both
		if !memOK {
			cmp = 1
		} else if u.pending != nil {
			cmp = bytes.Compare(mk, u.pending.Key)
			if u.o.reverse {
				cmp = -cmp
			}
		}
		if cmp > 0 {
			p := *u.pending
			u.pending = nil
			return p, true, nil
		}
		if cmp == 0 {
			u.pending = nil
		}
		u.tx.mu.Lock()
		u.mem.Next()
		u.tx.mu.Unlock()
		if len(mv) == 0 {
			continue // a buffered deletion hides the key
		}
		if u.o.keyOnly {
			mv = nil
		}
		return kv.KeyValue{Key: mk, Value: mv}, true, nil
	}
}

// Commit writes the buffered mutations with optimistic two-phase commit (see doc.go).
// After Commit returns the transaction is finished, whatever the outcome.
//
// Errors:
//   - kv.ErrTxnDone: the transaction was already committed or rolled back.
//   - *kv.WriteConflictError: another transaction wrote a key after StartTS; nothing
//     was committed (retryable).
//   - *kv.KeyExistsError: an Insert met an existing key; nothing was committed.
//   - *kv.AssertionFailedError, *TxnAbortedError (the transaction was rolled back by a
//     lock resolver; retryable), *kv.BackoffError (locks or regions that did not settle
//     within the budget); nothing was committed.
//   - *LatchConflictError: with Config.LocalLatches, a transaction of this Client
//     committed one of the keys after StartTS; nothing was sent (retryable).
//   - kv.ErrUndetermined (kv.IsUndetermined): the commit of the primary key may or may
//     not have happened. Do not retry blindly; read to find out.
//   - ctx's error: before the primary commit, nothing was committed.
func (tx *Txn) Commit(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	if tx.pipe != nil {
		return tx.commitPipelined(ctx) // pipelined_flush.go
	}
	if err := tx.commitStage(ctx); err != nil { // aggressive.go
		return err
	}
	start := time.Now()
	cm := newCommitter(tx)
	unlatch, err := tx.acquireLatches(ctx) // latch.go
	if err == nil {
		err = cm.execute(ctx)
		if err == nil {
			unlatch(cm.commitTS)
		} else {
			unlatch(0)
		}
	}
	tx.endPessimistic(ctx, cm, err)
	switch {
	case err == nil:
		tx.state, tx.commitTS = stateCommitted, cm.commitTS
	case kv.IsUndetermined(err):
		tx.state = stateUnknown
	default:
		tx.state = stateRolledBack
	}
	tx.trace(start, cm, err)
	return err
}

func (tx *Txn) trace(start time.Time, cm *committer, err error) {
	if tx.c.tracer == nil && tx.opts.hooks.end == nil {
		return
	}
	ev := kv.TxnEnd{StartTS: tx.startTS, Duration: time.Since(start), Err: err}
	if cm != nil {
		ev.Keys, ev.Protocol = len(cm.muts), cm.protocol()
		if err == nil {
			ev.CommitTS, ev.Committed = cm.commitTS, true
		}
	}
	tx.traceEnd(ev)
}

// Rollback discards the transaction. An optimistic transaction has written nothing to
// TiKV before Commit (and a failed Commit cleans up after itself), so Rollback only drops
// the buffer. A pessimistic transaction's locks are rolled back (PessimisticRollback,
// bounded by ctx or, once ctx ended, Config.CleanupTimeout) and its heartbeat stops.
// Rolling back a rolled-back transaction, or one whose Commit failed, is a no-op.
//
// Errors: kv.ErrTxnDone after a successful (or undetermined) Commit.
func (tx *Txn) Rollback(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch tx.state {
	case stateRolledBack:
		return nil
	case stateCommitted, stateUnknown:
		return kv.ErrTxnDone
	}
	tx.agg = nil                               // its locks are among those rolled back
	tx.endPessimistic(ctx, nil, kv.ErrTxnDone) // removes the pessimistic locks
	if tx.pipe != nil {
		tx.rollbackPipelined(ctx) // rolls back the flushed locks
	}
	tx.state = stateRolledBack
	tx.mem = tx.newBuffer()
	tx.trace(time.Now(), nil, nil)
	return nil
}
