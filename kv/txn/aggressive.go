package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// Aggressive (fair) locking stages (TXN-8). A stage wraps the lock calls of one
// statement of a pessimistic transaction that may have to be run again (after it read
// stale data, for instance when a lock was taken with conflict). Locks the statement
// took stay in TiKV when it is retried; the retried run does not lock those keys again
// when that is safe, and the keys it no longer needs are rolled back when the stage
// moves on. See docs/txn.md, "Aggressive (fair) locking stages". Like every Txn
// method, the stage's methods are safe for concurrent use (they take Txn.mu), though a
// stage is a sequence of steps of one statement.
//
// The stage's locks are flagged in the buffer as soon as TiKV grants them (reads see
// their values like those of any lock); the stage remembers which keys it locked, so
// that Cancel and the end of an attempt can give them back.

// Errors of misused aggressive locking stages.
var (
	// ErrAggressiveLockingStarted is StartAggressiveLocking's error while a stage is open.
	ErrAggressiveLockingStarted = errors.New("txn: aggressive locking stage already started")
	// ErrAggressiveLockingNotStarted is the error of RetryAggressiveLocking,
	// CancelAggressiveLocking and DoneAggressiveLocking without an open stage.
	ErrAggressiveLockingNotStarted = errors.New("txn: aggressive locking stage not started")
	// ErrAggressiveLockingPending is Commit's error while the open stage holds locks of
	// its current attempt: call DoneAggressiveLocking (or Cancel) first. Nothing was sent.
	ErrAggressiveLockingPending = errors.New("txn: commit with an aggressive locking stage pending")
)

// AggressiveLock describes a lock taken in the current attempt of an aggressive locking
// stage (a copy: it does not change with the stage).
type AggressiveLock struct {
	// Key is the locked user key.
	Key kv.Key
	// ForUpdateTS is the for-update ts the lock carries in TiKV; prewrite checks it.
	ForUpdateTS uint64
	// ConflictTS is non-zero when the lock was granted although a newer version was
	// committed (at ConflictTS): what the statement read before is stale and it should
	// run again (RetryAggressiveLocking). Zero for a lock kept from the previous attempt.
	ConflictTS uint64
}

// stageLock is what a stage knows of one of its locks.
type stageLock struct {
	lockTS     uint64 // the for-update ts of the lock in TiKV
	conflictTS uint64 // locked with conflict at this ts (0: no, or no longer relevant)
	// value and exists: what a lock with conflict read (TiKV always reads it then).
	value  []byte
	exists bool
}

// aggressive is the state of an open aggressive locking stage; guarded by Txn.mu.
type aggressive struct {
	current map[string]*stageLock // locked by the current attempt
	last    map[string]*stageLock // locked by the previous attempt, not (yet) by this one
	// primary is the primary chosen by the current attempt, nil when the primary was
	// chosen before the stage (or not yet); lastPrimary is the previous attempt's.
	primary, lastPrimary []byte
	start, lastStart     time.Time // when the current and the previous attempt began
}

// StartAggressiveLocking opens an aggressive locking stage (client-go's aggressive
// locking, TiDB's fair locking) around the lock calls of one statement of a pessimistic
// transaction. In the stage, single-key lock calls use TiKV's force-lock wake-up mode (a
// waiter woken by the holder's commit gets the lock at once, locked with conflict, see
// AggressiveLockingKeys); multi-key calls lock normally. The stage ends with
// DoneAggressiveLocking (its locks join the transaction) or CancelAggressiveLocking (they
// are rolled back); RetryAggressiveLocking starts the statement's next attempt.
//
// Errors: ErrNotPessimistic (wrapped) for an optimistic transaction,
// ErrAggressiveLockingStarted, kv.ErrTxnDone.
func (tx *Txn) StartAggressiveLocking() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.active(); err != nil {
		return err
	}
	if !tx.opts.proto.pessimistic {
		return fmt.Errorf("%w: aggressive locking", ErrNotPessimistic)
	}
	if tx.agg != nil {
		return ErrAggressiveLockingStarted
	}
	tx.agg = &aggressive{current: map[string]*stageLock{}, start: time.Now()}
	return nil
}

// RetryAggressiveLocking ends the current attempt of the stage and begins the next one.
// The locks of the attempt that ends stay in TiKV: the next attempt does not lock those
// keys again when its primary is the same as before (or was chosen before the stage),
// the previous attempt began less than PessimisticLockTTL ago, and the lock already gave
// what the call asks for (a value, existence); otherwise it locks them again. Locks of
// the attempt before, that the attempt ending did not take again, are rolled back now;
// those the next attempt does not take again are rolled back when it ends. A primary
// chosen by the attempt that ends is given up (its heartbeat stops) until a lock call
// chooses one again, preferring the same key. Rollbacks are bounded as in
// CancelAggressiveLocking.
//
// Errors: ErrAggressiveLockingNotStarted, kv.ErrTxnDone.
func (tx *Txn) RetryAggressiveLocking(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	a, err := tx.openStage()
	if err != nil {
		return err
	}
	tx.releaseLastAttempt(ctx)
	if a.primary != nil {
		tx.pess.primary = nil
		tx.stopKeeper()
	}
	a.lastPrimary, a.primary = a.primary, nil
	a.lastStart, a.start = a.start, time.Now()
	a.last, a.current = a.current, map[string]*stageLock{}
	return nil
}

// CancelAggressiveLocking closes the stage and rolls back every lock it took; a primary
// it chose is given up. Locks the transaction held before the stage stay. Like every
// rollback of locks, the requests run even after ctx ended, bounded by
// Config.CleanupTimeout; locks they cannot remove expire.
//
// Errors: ErrAggressiveLockingNotStarted, kv.ErrTxnDone.
func (tx *Txn) CancelAggressiveLocking(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if _, err := tx.openStage(); err != nil {
		return err
	}
	tx.cancelStage(ctx)
	return nil
}

// cancelStage is CancelAggressiveLocking; mu held, stage open.
func (tx *Txn) cancelStage(ctx context.Context) {
	a := tx.agg
	if a.primary != nil {
		// The primary is among the locks rolled back: stop its heartbeat first.
		tx.pess.primary = nil
		tx.stopKeeper()
	}
	tx.releaseLastAttempt(ctx)
	tx.releaseStageLocks(ctx, sortedKeys(a.current))
	tx.agg = nil
}

// DoneAggressiveLocking closes the stage: the locks of its current attempt join the
// transaction, and those of the previous attempt it did not take again are rolled back.
// Prewrite asks TiKV to check that every lock taken in a stage still carries the
// for-update ts it was granted at (ForUpdateTsConstraints), so a lock lost and taken
// again by a stale request is not mistaken for ours.
//
// Errors: ErrAggressiveLockingNotStarted, kv.ErrTxnDone.
func (tx *Txn) DoneAggressiveLocking(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	a, err := tx.openStage()
	if err != nil {
		return err
	}
	tx.releaseLastAttempt(ctx)
	for k, l := range a.current {
		if tx.pess.constraints == nil {
			tx.pess.constraints = make(map[string]uint64, len(a.current))
		}
		tx.pess.constraints[k] = l.lockTS
	}
	tx.agg = nil
	return nil
}

// IsInAggressiveLockingMode reports whether an aggressive locking stage is open.
func (tx *Txn) IsInAggressiveLockingMode() bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.agg != nil
}

// IsInAggressiveLockingStage reports whether key was locked by the current attempt of
// the open aggressive locking stage.
func (tx *Txn) IsInAggressiveLockingStage(key []byte) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.agg == nil {
		return false
	}
	_, ok := tx.agg.current[string(key)]
	return ok
}

// AggressiveLockingKeys lists, sorted by key, the locks of the current attempt of the
// open aggressive locking stage (nil when none is open).
func (tx *Txn) AggressiveLockingKeys() []AggressiveLock {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.agg == nil {
		return nil
	}
	var out []AggressiveLock
	for _, k := range sortedKeys(tx.agg.current) {
		l := tx.agg.current[string(k)]
		out = append(out, AggressiveLock{Key: kv.Key(k), ForUpdateTS: l.lockTS, ConflictTS: l.conflictTS})
	}
	return out
}

// openStage returns the open stage of an active transaction; mu held.
func (tx *Txn) openStage() (*aggressive, error) {
	if err := tx.active(); err != nil {
		return nil, err
	}
	if tx.agg == nil {
		return nil, ErrAggressiveLockingNotStarted
	}
	return tx.agg, nil
}

// commitStage settles an open stage before Commit (client-go's rule): a stage whose
// current attempt holds locks must be finished by its owner first; otherwise it is
// cancelled, which rolls back the previous attempt's locks. mu held.
func (tx *Txn) commitStage(ctx context.Context) error {
	if tx.agg == nil {
		return nil
	}
	if len(tx.agg.current) > 0 {
		return ErrAggressiveLockingPending
	}
	tx.cancelStage(ctx)
	return nil
}

// releaseLastAttempt rolls back the previous attempt's locks that the current attempt
// did not take again; mu held, stage open.
func (tx *Txn) releaseLastAttempt(ctx context.Context) {
	tx.releaseStageLocks(ctx, sortedKeys(tx.agg.last))
	tx.agg.last = nil
}

// releaseStageLocks rolls back locks of the stage and forgets them; mu held.
func (tx *Txn) releaseStageLocks(ctx context.Context, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	tx.pessimisticRollback(ctx, keys)
	for _, k := range keys {
		if tx.mem.Flags(k).Has(memdb.FlagKeyLocked) {
			tx.pess.locked--
		}
		// Clearing flags never grows the buffer, so it cannot fail a size limit.
		_ = tx.mem.UpdateFlags(k, 0, memdb.FlagKeyLocked|memdb.FlagKeyLockedValExist)
		delete(tx.pess.values, string(k))
		delete(tx.pess.known, string(k))
		delete(tx.pess.constraints, string(k))
		delete(tx.agg.current, string(k))
		delete(tx.agg.last, string(k))
	}
}

// fromLastAttempt reports whether key holds a lock of the previous attempt that the
// current one has not taken again; such keys go through stageFilter. mu held.
func (a *aggressive) fromLastAttempt(key []byte) bool {
	if a == nil {
		return false
	}
	_, ok := a.last[string(key)]
	return ok
}

// choosePrimary picks the primary of a lock call that must choose one among keys
// (sorted): the first key, or in a stage the previous attempt's primary when the call
// locks it. mu held.
func (tx *Txn) choosePrimary(keys [][]byte) []byte {
	p := keys[0]
	if a := tx.agg; a != nil {
		if a.lastPrimary != nil && slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, a.lastPrimary) }) {
			p = a.lastPrimary
		}
		a.primary = bytes.Clone(p)
	}
	return bytes.Clone(p)
}

// stageFilter drops from keys (sorted, to be locked by a call in a stage) the keys whose
// lock from the previous attempt can be kept, and moves every previous-attempt key of
// the call into the current attempt. A lock is kept when the primary did not change in
// this attempt, the previous attempt began less than PessimisticLockTTL ago (its locks
// cannot have expired), and it already gave what o asks for. Kept keys answer o like
// keys the transaction holds. mu held, stage open.
func (tx *Txn) stageFilter(o *LockOptions, keys [][]byte) ([][]byte, error) {
	a := tx.agg
	if len(a.last) == 0 {
		return keys, nil
	}
	for _, k := range keys {
		f := tx.mem.Flags(k)
		if a.fromLastAttempt(k) && o.CheckExistence && f.Has(memdb.FlagPresumeKNE) && f.Has(memdb.FlagKeyLockedValExist) {
			return nil, &kv.KeyExistsError{Key: kv.Key(k).Clone()}
		}
	}
	samePrimary := a.primary == nil || bytes.Equal(a.primary, a.lastPrimary)
	fresh := time.Since(a.lastStart) < tx.c.cfg.PessimisticLockTTL
	todo := keys[:0:0]
	for _, k := range keys {
		l, ok := a.last[string(k)]
		if !ok {
			todo = append(todo, k)
			continue
		}
		delete(a.last, string(k))
		a.current[string(k)] = l
		if !samePrimary || !fresh || !tx.keepStageLock(o, k, l) {
			todo = append(todo, k)
		}
	}
	return todo, nil
}

// keepStageLock decides whether the previous attempt's lock on k answers o, and if so
// fills o.Values as for a key the transaction holds (client-go's
// trySkipLockingOnRetry). mu held.
func (tx *Txn) keepStageLock(o *LockOptions, k []byte, l *stageLock) bool {
	v, hasValue := tx.pess.values[string(k)]
	_, hasExistence := tx.pess.known[string(k)]
	if l.conflictTS != 0 {
		// A lock with conflict read the newest value whether asked or not; from now on
		// it is an ordinary lock of the previous attempt.
		if (o.ReturnValues && !hasValue) || (o.CheckExistence && !hasValue && !hasExistence) {
			tx.noteStageValue(k, l, o.ReturnValues)
			v, hasValue = tx.pess.values[string(k)]
		}
		l.conflictTS = 0
	} else if (o.ReturnValues && !hasValue) || (o.CheckExistence && !hasValue && !hasExistence) {
		return false // the call needs more than the previous lock request read
	}
	if o.Values != nil && hasValue && v != nil {
		o.Values[string(k)] = bytes.Clone(v)
	}
	return true
}

// noteStageValue records what a lock with conflict read, as if read by ReturnValues
// (withValue) or CheckExistence; mu held.
func (tx *Txn) noteStageValue(k []byte, l *stageLock, withValue bool) {
	if tx.pess.known == nil {
		tx.pess.known = make(map[string]bool)
	}
	tx.pess.known[string(k)] = l.exists
	if l.exists {
		_ = tx.mem.UpdateFlags(k, memdb.FlagKeyLockedValExist, 0) // flag of a key present: no growth
	}
	if !withValue {
		return
	}
	if tx.pess.values == nil {
		tx.pess.values = make(map[string][]byte)
	}
	var v []byte
	if l.exists {
		v = bytes.Clone(l.value)
		if v == nil {
			v = []byte{}
		}
	}
	tx.pess.values[string(k)] = v
}

// noteLocked records that TiKV granted the lock on k (held before this call when
// wasLocked) at for-update ts sent: in a stage, a key the stage locks; outside, or for a
// key held before the stage, the new for-update ts of a key prewrite checks. mu held.
func (tx *Txn) noteLocked(k []byte, wasLocked bool, sent uint64, r lockResult) {
	ts := sent
	if r.conflictTS != 0 {
		ts = r.conflictTS
	}
	if a := tx.agg; a != nil {
		if _, ours := a.current[string(k)]; ours || !wasLocked {
			a.current[string(k)] = &stageLock{lockTS: ts, conflictTS: r.conflictTS,
				value: bytes.Clone(r.value), exists: r.exists}
			return
		}
	}
	if _, ok := tx.pess.constraints[string(k)]; ok {
		tx.pess.constraints[string(k)] = ts
	}
}

// stageLockFailed rolls back, after a failed lock call in a stage, the keys of the call
// that held locks of the previous attempt (client-go rolls back every key of the
// call); mu held.
func (tx *Txn) stageLockFailed(ctx context.Context, all [][]byte) {
	if tx.agg == nil {
		return
	}
	var ours [][]byte
	for _, k := range all {
		if _, ok := tx.agg.current[string(k)]; ok && tx.mem.Flags(k).Has(memdb.FlagKeyLocked) {
			ours = append(ours, k)
		}
	}
	tx.releaseStageLocks(ctx, ours)
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]*stageLock) [][]byte {
	keys := make([][]byte, 0, len(m))
	for k := range m {
		keys = append(keys, []byte(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}
