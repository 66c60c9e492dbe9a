package memdb

import (
	"unsafe"

	"github.com/tikvsql/tikvsql/kv"
)

// Default limits. The key limit is TiKV's default `max-key-size`; the entry limit keeps one
// key-value pair well inside TiKV's default Raft entry size (8 MiB).
const (
	DefaultKeySizeLimit   = 8 << 10
	DefaultEntrySizeLimit = 6 << 20
	DefaultTotalSizeLimit = 1 << 30
)

// Limits bound what a DB accepts. A zero field takes its default; a negative one means
// "no limit".
type Limits struct {
	KeySize   int // bytes in one key
	EntrySize int // bytes in one key plus its value
	TotalSize int // bytes of keys and current values in the whole buffer (Size)
}

func (l Limits) withDefaults() Limits {
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	return Limits{
		KeySize:   def(l.KeySize, DefaultKeySizeLimit),
		EntrySize: def(l.EntrySize, DefaultEntrySizeLimit),
		TotalSize: def(l.TotalSize, DefaultTotalSizeLimit),
	}
}

// entry is one key of the buffer. It holds no pointers (see the package documentation).
type entry struct {
	key    ref
	val    ref
	flags  KeyFlags
	hasVal bool
	stamp  uint32 // generation in which the entry's state was last saved to the undo log
}

// visible reports whether the entry holds anything.
func (e *entry) visible() bool { return e.hasVal || e.flags != 0 }

// DB is a transaction's write buffer. See the package documentation. The zero value is not
// usable; call New.
type DB struct {
	limits  Limits
	arena   arena
	entries []entry
	index   tree      // ordered: iteration and seeks
	lookup  hashIndex // exact keys: point reads and writes
	size    int       // keys plus current values of visible entries
	count   int       // visible entries
	writes  uint64

	undo      []undoRec
	levels    []level // open staging levels, innermost last
	gen       uint32  // generation of the most recent staging level or checkpoint
	recording bool    // an undo log is being kept
	cpTaken   bool    // a checkpoint was handed out; keep recording for good
	deadGens  []genRange

	onGrow    func(mem int) // SetGrowHook
	allocated int           // allocations last reported to onGrow
}

// New returns an empty DB with the given limits.
func New(limits Limits) *DB {
	db := &DB{limits: limits.withDefaults(), arena: newArena()}
	db.index = newTree(db.keyOf)
	db.lookup = newHashIndex(db.keyOf)
	return db
}

func (db *DB) keyOf(i int32) []byte { return db.arena.get(db.entries[i].key) }

// Get returns the buffered value of key. ok is false when the buffer holds no value or
// tombstone for key (it may still hold flags). A tombstone is returned as a zero-length,
// non-nil value with ok true. The value aliases the buffer: do not modify it.
func (db *DB) Get(key []byte) (value []byte, ok bool) {
	i := db.lookup.find(key)
	if i < 0 || !db.entries[i].hasVal {
		return nil, false
	}
	return db.arena.get(db.entries[i].val), true
}

// Flags returns the flags of key (zero when none or absent).
func (db *DB) Flags(key []byte) KeyFlags {
	if i := db.lookup.find(key); i >= 0 {
		return db.entries[i].flags
	}
	return 0
}

// Set buffers value for key. An empty value is rejected with kv.ErrEmptyValue (use
// Delete); limits are checked before anything changes.
func (db *DB) Set(key, value []byte) error {
	if len(value) == 0 {
		return kv.ErrEmptyValue
	}
	return db.write(key, value, true, 0, 0)
}

// SetWithFlags is Set plus UpdateFlags(key, set, 0) as one change.
func (db *DB) SetWithFlags(key, value []byte, set KeyFlags) error {
	if len(value) == 0 {
		return kv.ErrEmptyValue
	}
	return db.write(key, value, true, set, 0)
}

// Delete buffers a delete tombstone for key.
func (db *DB) Delete(key []byte) error { return db.write(key, nil, true, 0, 0) }

// UpdateFlags sets the flags in set, then clears those in clear, creating a flag-only
// entry for a key the buffer does not hold.
func (db *DB) UpdateFlags(key []byte, set, clear KeyFlags) error {
	return db.write(key, nil, false, set, clear)
}

// write is the single mutation path: with putVal it replaces the value (nil or empty =
// tombstone); flags are updated with set and clear.
func (db *DB) write(key, value []byte, putVal bool, set, clear KeyFlags) error {
	if err := db.checkLimits(key, value, putVal); err != nil {
		return err
	}
	i := db.lookup.find(key)
	if i < 0 {
		db.entries = append(db.entries, entry{key: db.arena.put(key)})
		i = int32(len(db.entries) - 1)
		db.index.insert(i)
		db.lookup.insert(i)
		db.saveCreated(i)
	} else {
		db.save(i)
	}
	e := &db.entries[i]
	before := e.visible()
	oldSize := db.entrySize(e)
	if putVal {
		e.val, e.hasVal = db.arena.put(value), true
	}
	e.flags = (e.flags | set) &^ clear
	db.account(e, before, oldSize)
	db.writes++
	if db.onGrow != nil {
		db.reportGrowth()
	}
	return nil
}

// SetGrowHook makes every write that allocated memory (a new arena chunk, a larger
// entry table, index or undo log) call fn with Mem afterwards. Allocations come in
// chunks, so fn runs about once per 64 KiB of keys and values, not once per write. fn
// runs on the writing goroutine and must be quick. A nil fn removes the hook.
func (db *DB) SetGrowHook(fn func(mem int)) {
	db.onGrow, db.allocated = fn, db.allocatedBytes()
}

func (db *DB) reportGrowth() {
	if a := db.allocatedBytes(); a != db.allocated {
		db.allocated = a
		db.onGrow(db.Mem())
	}
}

// allocatedBytes is the part of Mem that changes only when memory is allocated.
func (db *DB) allocatedBytes() int {
	return db.arena.bytes + cap(db.entries)*int(unsafe.Sizeof(entry{})) +
		db.lookup.mem() + cap(db.undo)*int(unsafe.Sizeof(undoRec{}))
}

// checkLimits rejects a write before it changes anything.
func (db *DB) checkLimits(key, value []byte, putVal bool) error {
	l := db.limits
	if l.KeySize >= 0 && len(key) > l.KeySize {
		return &kv.SizeLimitError{Err: kv.ErrKeyTooLarge, Size: uint64(len(key)), Limit: uint64(l.KeySize)}
	}
	old, newSize := 0, len(key)
	if i := db.lookup.find(key); i >= 0 {
		e := &db.entries[i]
		old = db.entrySize(e)
		if !putVal {
			newSize = int(e.key.n + e.val.n) // flags change nothing but visibility
		}
	}
	if putVal {
		newSize = len(key) + len(value)
		if l.EntrySize >= 0 && newSize > l.EntrySize {
			return &kv.SizeLimitError{Err: kv.ErrEntryTooLarge, Size: uint64(newSize), Limit: uint64(l.EntrySize)}
		}
	}
	if total := db.size - old + newSize; l.TotalSize >= 0 && total > l.TotalSize && newSize > old {
		return &kv.SizeLimitError{Err: kv.ErrTxnTooLarge, Size: uint64(total), Limit: uint64(l.TotalSize)}
	}
	return nil
}

// entrySize is what an entry contributes to Size.
func (db *DB) entrySize(e *entry) int {
	if !e.visible() {
		return 0
	}
	return int(e.key.n + e.val.n)
}

// account updates size and count after entry e changed from (wasVisible, oldSize).
func (db *DB) account(e *entry, wasVisible bool, oldSize int) {
	db.size += db.entrySize(e) - oldSize
	switch now := e.visible(); {
	case now && !wasVisible:
		db.count++
	case !now && wasVisible:
		db.count--
	}
}

// Len returns the number of keys that hold a value, a tombstone or flags.
func (db *DB) Len() int { return db.count }

// Size returns the bytes of keys and current values (tombstones count their key).
func (db *DB) Size() int { return db.size }

// Mem returns the bytes the buffer holds: arena chunks, entries, index and undo log.
func (db *DB) Mem() int {
	const nodeShare = int(unsafe.Sizeof(int32(0))) * 2 // items plus amortised inner nodes
	return db.allocatedBytes() + len(db.entries)*nodeShare
}

// Dirty reports whether anything was ever written to the buffer.
func (db *DB) Dirty() bool { return db.writes > 0 }
