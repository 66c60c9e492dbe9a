package memcluster

import (
	"bytes"
	"math"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// maxTS is the largest timestamp; as a read version it means "latest committed".
const maxTS uint64 = math.MaxUint64

// writeKind is the type of a record in a key's write column.
type writeKind uint8

const (
	writePut writeKind = iota + 1
	writeDelete
	writeLock
	writeRollback
)

// write is one record of a key's write column: a commit (Put/Delete/Lock) or a rollback.
// Commit records carry the value inline. A rollback's commitTS equals its startTS.
type write struct {
	kind     writeKind
	startTS  uint64
	commitTS uint64
	value    []byte
	// protected rollbacks are never collapsed; they guard a pessimistic primary against a
	// late prewrite.
	protected bool
	// overlappedRollback marks a commit record whose commitTS equals the startTS of a
	// rolled-back transaction: the rollback could not get its own record.
	overlappedRollback bool
}

// lock is the lock column of a key: one transaction's lock, or a shared lock (op
// SharedLock, shared set) holding the shared locks of several transactions (TXN-9).
type lock struct {
	op             kvrpcpb.Op // Put, Del, Lock, PessimisticLock, or SharedLock for a shared lock
	primary        []byte
	startTS        uint64
	ttl            uint64
	value          []byte
	forUpdateTS    uint64
	txnSize        uint64
	minCommitTS    uint64
	useAsyncCommit bool
	secondaries    [][]byte
	generation     uint64 // pipelined DML: the Flush generation that wrote the lock
	// shared is set on a shared lock only: its holders by start ts, each a
	// PessimisticLock or (prewritten) Lock of one transaction. A shared lock has no
	// start ts of its own (0), so it never passes for a transaction's own lock.
	shared map[uint64]*lock
	// shrinkOnly is set on a shared lock once an exclusive request met it: no new
	// holder may join, so the exclusive request is not starved (TiKV's SHRINK_ONLY).
	shrinkOnly bool
	// inShareMode marks a holder of a shared lock (see putLock).
	inShareMode bool
}

// info returns the lock in wire form, for key.
func (l *lock) info(key []byte) *kvrpcpb.LockInfo {
	if l.shared != nil {
		return l.sharedInfo(key, maxTS)
	}
	return &kvrpcpb.LockInfo{
		PrimaryLock:     l.primary,
		LockVersion:     l.startTS,
		Key:             key,
		LockTtl:         l.ttl,
		TxnSize:         l.txnSize,
		LockType:        l.op,
		LockForUpdateTs: l.forUpdateTS,
		UseAsyncCommit:  l.useAsyncCommit,
		MinCommitTs:     l.minCommitTS,
		Secondaries:     l.secondaries,
	}
}

// expired reports whether the lock's TTL has run out at currentTS (physical parts compared
// in milliseconds, as TiKV does).
func (l *lock) expired(currentTS uint64) bool {
	return physical(l.startTS)+l.ttl < physical(currentTS)
}

func physical(ts uint64) uint64 { return ts >> 18 }

// entry is everything stored for one transactional key.
type entry struct {
	lock   *lock
	writes []*write // newest commitTS first
}

// newestWrite returns the newest record with commitTS <= ts.
func (e *entry) newestWrite(ts uint64) *write {
	for _, w := range e.writes {
		if w.commitTS <= ts {
			return w
		}
	}
	return nil
}

// newestData returns the newest Put or Delete record with commitTS <= ts, skipping Lock and
// Rollback records, the way TiKV's point reader does.
func (e *entry) newestData(ts uint64) *write {
	for _, w := range e.writes {
		if w.commitTS <= ts && (w.kind == writePut || w.kind == writeDelete) {
			return w
		}
	}
	return nil
}

// putWrite inserts w keeping the newest-first order; a record with the same commitTS
// is replaced.
func (e *entry) putWrite(w *write) {
	i := 0
	for i < len(e.writes) && e.writes[i].commitTS > w.commitTS {
		i++
	}
	if i < len(e.writes) && e.writes[i].commitTS == w.commitTS {
		e.writes[i] = w
		return
	}
	e.writes = append(e.writes, nil)
	copy(e.writes[i+1:], e.writes[i:])
	e.writes[i] = w
}

func (e *entry) deleteWrite(commitTS uint64) {
	for i, w := range e.writes {
		if w.commitTS == commitTS {
			e.writes = append(e.writes[:i], e.writes[i+1:]...)
			return
		}
	}
}

// commitRecord is what a key's write column says about one transaction.
type commitRecord struct {
	// own is the record written by the transaction itself (commit or rollback), if any.
	own *write
	// overlapped is another transaction's commit record sitting at the transaction's
	// startTS, if any and own is nil.
	overlapped *write
}

func (r commitRecord) committed() bool {
	return r.own != nil && r.own.kind != writeRollback
}

func (r commitRecord) rolledBack() bool {
	return (r.own != nil && r.own.kind == writeRollback) ||
		(r.own == nil && r.overlapped != nil && r.overlapped.overlappedRollback)
}

// txnRecord finds the record of transaction startTS in the write column.
func (e *entry) txnRecord(startTS uint64) commitRecord {
	var r commitRecord
	for _, w := range e.writes {
		if w.commitTS < startTS {
			break
		}
		if w.startTS == startTS {
			r.own = w
			return r
		}
		if w.commitTS == startTS {
			r.overlapped = w
		}
	}
	return r
}

// mvcc is the transactional storage shared by every store of a cluster: keys are wire
// keys (API v2 prefixed keys included), ordered byte-wise. All methods lock mu; the lock
// waiter bookkeeping has its own lock and is only touched while mu is held or released
// in a defined order (mu, then waiters).
type mvcc struct {
	mu   sync.Mutex
	data *ordered[*entry]
	// maxReadTS is the largest read timestamp seen, TiKV's concurrency-manager max_ts.
	// Async-commit and 1PC commit timestamps are chosen above it.
	maxReadTS uint64
	waits     *lockWaits
}

func newMVCC() *mvcc {
	return &mvcc{data: newOrdered[*entry](), waits: newLockWaits()}
}

// entryFor returns the entry of key, creating it when create is set.
func (m *mvcc) entryFor(key []byte, create bool) *entry {
	e, ok := m.data.Get(key)
	if !ok && create {
		e = &entry{}
		m.data.Set(key, e)
	}
	return e
}

// observeRead bumps maxReadTS for a read at ts (MaxTS reads are not observed, as in TiKV).
func (m *mvcc) observeRead(ts uint64) {
	if ts != maxTS && ts > m.maxReadTS {
		m.maxReadTS = ts
	}
}

// readOpts carries what a read request's context says about locks.
type readOpts struct {
	resolved  map[uint64]bool // locks of these transactions are ignored
	committed map[uint64]bool // locks of these transactions are read as committed
	rcRead    bool            // read-committed isolation: locks are ignored
}

func readOptsOf(c *kvrpcpb.Context) readOpts {
	o := readOpts{rcRead: c.GetIsolationLevel() == kvrpcpb.IsolationLevel_RC}
	if ls := c.GetResolvedLocks(); len(ls) > 0 {
		o.resolved = make(map[uint64]bool, len(ls))
		for _, ts := range ls {
			o.resolved[ts] = true
		}
	}
	if ls := c.GetCommittedLocks(); len(ls) > 0 {
		o.committed = make(map[uint64]bool, len(ls))
		for _, ts := range ls {
			o.committed[ts] = true
		}
	}
	return o
}

// readKey returns the value of key at ts. found is false for a missing or deleted key.
// A lock that blocks the read is returned as a KeyError. commitTS is the commit
// timestamp of the version read (0 if none).
func (m *mvcc) readKey(key []byte, e *entry, ts uint64, o readOpts) (val []byte, commitTS uint64, found bool, kerr *kvrpcpb.KeyError) {
	if e == nil {
		return nil, 0, false, nil
	}
	if l := e.lock; l != nil && !o.rcRead && l.startTS <= ts {
		switch {
		case l.op == kvrpcpb.Op_Lock || l.op == kvrpcpb.Op_PessimisticLock || l.shared != nil:
			// Lock, pessimistic and shared locks change no data: reads ignore them.
		case ts == maxTS && bytes.Equal(key, l.primary) && !l.useAsyncCommit:
			// An auto-commit point read at MaxTS reads the latest committed version when
			// it meets a primary lock (TiKV's check_ts_conflict).
		case l.minCommitTS > ts:
			// The owner cannot commit at or below ts.
		case o.resolved[l.startTS]:
		case o.committed[l.startTS]:
			if l.op == kvrpcpb.Op_Put {
				return l.value, l.startTS, true, nil
			}
			return nil, 0, false, nil
		default:
			return nil, 0, false, &kvrpcpb.KeyError{Locked: l.info(key)}
		}
	}
	w := e.newestData(ts)
	if w == nil || w.kind == writeDelete {
		return nil, 0, false, nil
	}
	return w.value, w.commitTS, true, nil
}

// Get reads key at version ts.
func (m *mvcc) Get(key []byte, ts uint64, o readOpts) (val []byte, commitTS uint64, found bool, kerr *kvrpcpb.KeyError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observeRead(ts)
	return m.readKey(key, m.entryFor(key, false), ts, o)
}

// BatchGet reads keys at version ts. Missing keys are left out; a blocking lock becomes a
// pair carrying the error.
func (m *mvcc) BatchGet(keys [][]byte, ts uint64, o readOpts, needCommitTS bool) []*kvrpcpb.KvPair {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observeRead(ts)
	var out []*kvrpcpb.KvPair
	for _, k := range keys {
		val, cts, found, kerr := m.readKey(k, m.entryFor(k, false), ts, o)
		switch {
		case kerr != nil:
			out = append(out, &kvrpcpb.KvPair{Key: k, Error: kerr})
		case found:
			p := &kvrpcpb.KvPair{Key: k, Value: val}
			if needCommitTS {
				p.CommitTs = cts
			}
			out = append(out, p)
		}
	}
	return out
}

// Scan reads up to limit keys of [start, end) at ts, in ascending order, or in descending
// order when reverse is set (then the scan starts below end). A blocking lock becomes a
// pair carrying the error and counts towards the limit. A limit of 0 reads nothing, as in
// TiKV.
func (m *mvcc) Scan(start, end []byte, limit int, ts uint64, keyOnly, reverse bool, o readOpts) []*kvrpcpb.KvPair {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observeRead(ts)
	var out []*kvrpcpb.KvPair
	if limit <= 0 {
		return out
	}
	visit := func(k []byte, e *entry) bool {
		val, _, found, kerr := m.readKey(k, e, ts, o)
		switch {
		case kerr != nil:
			out = append(out, &kvrpcpb.KvPair{Key: clone(k), Error: kerr})
		case found:
			p := &kvrpcpb.KvPair{Key: clone(k)}
			if !keyOnly {
				p.Value = val
			}
			out = append(out, p)
		}
		return len(out) < limit
	}
	if reverse {
		m.data.Descend(start, end, visit)
	} else {
		m.data.Ascend(start, end, visit)
	}
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// writeConflict builds TiKV's write-conflict error.
func writeConflict(key, primary []byte, startTS uint64, w *write, reason kvrpcpb.WriteConflict_Reason) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{
		StartTs:          startTS,
		ConflictTs:       w.startTS,
		ConflictCommitTs: w.commitTS,
		Key:              key,
		Primary:          primary,
		Reason:           reason,
	}}
}

// alreadyExists reports whether key has a live (Put) version at the newest data record.
func (e *entry) alreadyExists() (*write, bool) {
	if e == nil {
		return nil, false
	}
	w := e.newestData(maxTS)
	return w, w != nil && w.kind == writePut
}
