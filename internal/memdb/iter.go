package memdb

import (
	"bytes"

	"github.com/tikvsql/tikvsql/kv"
)

// IterOptions choose what an iterator yields.
type IterOptions struct {
	// Reverse iterates from the end of the range towards its start.
	Reverse bool
	// WithFlagsOnly also yields entries that hold flags but no value or tombstone.
	WithFlagsOnly bool
}

// Iterator walks the buffer in key order over a kv.KeyRange. It is positioned on its first
// entry when created. Use it from the goroutine that owns the DB. It stays usable across
// writes to the DB (see the package documentation).
type Iterator struct {
	db      *DB
	r       kv.KeyRange
	opts    IterOptions
	leaf    *node
	pos     int
	version uint64
	cur     int32 // entry index, or -1 when exhausted
}

// Iter returns an iterator over the entries of r.
func (db *DB) Iter(r kv.KeyRange, opts IterOptions) *Iterator {
	it := &Iterator{db: db, r: r, opts: opts, cur: -1}
	if opts.Reverse {
		it.seekBefore(r.End)
	} else {
		it.seekFrom(r.Start)
	}
	it.settle()
	return it
}

// Valid reports whether the iterator is positioned on an entry.
func (it *Iterator) Valid() bool { return it.cur >= 0 }

// Key returns the current key. It aliases the buffer: do not modify it.
func (it *Iterator) Key() []byte { return it.db.keyOf(it.cur) }

// Value returns the current value: zero-length for a tombstone or a flag-only entry.
func (it *Iterator) Value() []byte { return it.db.arena.get(it.db.entries[it.cur].val) }

// HasValue reports whether the current entry holds a value or tombstone (false for a
// flag-only entry).
func (it *Iterator) HasValue() bool { return it.db.entries[it.cur].hasVal }

// IsDelete reports whether the current entry is a delete tombstone.
func (it *Iterator) IsDelete() bool {
	e := &it.db.entries[it.cur]
	return e.hasVal && e.val.n == 0
}

// Flags returns the current entry's flags.
func (it *Iterator) Flags() KeyFlags { return it.db.entries[it.cur].flags }

// Next moves to the following entry (the preceding one in reverse).
func (it *Iterator) Next() {
	if it.cur < 0 {
		return
	}
	if it.version != it.db.index.version {
		// Inserts may have moved items: find our place again from the key.
		k := it.db.keyOf(it.cur)
		if it.opts.Reverse {
			it.seekBefore(k)
		} else {
			it.seekFrom(kv.Key(k).Next())
		}
	} else {
		it.step()
	}
	it.settle()
}

// seekFrom positions on the first item >= k.
func (it *Iterator) seekFrom(k []byte) {
	it.leaf, it.pos, _ = it.db.index.seek(k)
	it.version = it.db.index.version
}

// seekBefore positions on the last item < k (the last item of all when k is empty).
func (it *Iterator) seekBefore(k []byte) {
	t := &it.db.index
	it.version = t.version
	if len(k) == 0 {
		it.leaf, it.pos = t.last, len(t.last.items)-1
		return
	}
	it.leaf, it.pos, _ = t.seek(k)
	it.pos--
}

// step moves one item in the iteration direction, across leaves.
func (it *Iterator) step() {
	if it.opts.Reverse {
		it.pos--
	} else {
		it.pos++
	}
}

// settle moves to the nearest item, from the current position in the iteration
// direction, that is in range and visible, or marks the iterator exhausted.
func (it *Iterator) settle() {
	db := it.db
	for {
		for it.leaf != nil && (it.pos < 0 || it.pos >= len(it.leaf.items)) {
			if it.opts.Reverse {
				it.leaf = it.leaf.prev
				if it.leaf != nil {
					it.pos = len(it.leaf.items) - 1
				}
			} else {
				it.leaf, it.pos = it.leaf.next, 0
			}
		}
		if it.leaf == nil {
			it.cur = -1
			return
		}
		idx := it.leaf.items[it.pos]
		k := db.keyOf(idx)
		if !it.inRange(k) {
			it.cur = -1
			return
		}
		e := &db.entries[idx]
		if e.hasVal || (it.opts.WithFlagsOnly && e.flags != 0) {
			it.cur = idx
			return
		}
		it.step()
	}
}

// inRange checks the bound the iteration moves towards.
func (it *Iterator) inRange(k []byte) bool {
	if it.opts.Reverse {
		return bytes.Compare(k, it.r.Start) >= 0
	}
	return len(it.r.End) == 0 || bytes.Compare(k, it.r.End) < 0
}
