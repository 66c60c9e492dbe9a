package region

import (
	"bytes"

	"github.com/google/btree"
)

// index is the sorted part of the region cache: regions keyed by start key, without
// overlaps (RC-1). It is not safe for concurrent use; the Cache guards it. Items are
// values, so a search pivot costs no allocation.
type index struct {
	tree *btree.BTreeG[item]
}

type item struct {
	start []byte
	e     *entry
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, func(a, b item) bool { return bytes.Compare(a.start, b.start) < 0 })}
}

// search returns the region containing key (isEnd: with start < key <= end), or nil.
func (x *index) search(key []byte, isEnd bool) *entry {
	var found *entry
	x.tree.DescendLessOrEqual(item{start: key}, func(it item) bool {
		if isEnd && bytes.Equal(it.start, key) {
			return true // need a region starting strictly before key
		}
		found = it.e
		return false
	})
	if found == nil {
		return nil
	}
	if isEnd && !found.containsEnd(key) || !isEnd && !found.contains(key) {
		return nil
	}
	return found
}

// overlapping returns the regions intersecting [start, end) (empty end: unbounded), in
// key order.
func (x *index) overlapping(start, end []byte) []*entry {
	var out []*entry
	x.tree.DescendLessOrEqual(item{start: start}, func(it item) bool {
		if len(it.e.meta.EndKey) == 0 || bytes.Compare(it.e.meta.EndKey, start) > 0 {
			out = append(out, it.e)
		}
		return false
	})
	x.tree.AscendGreaterOrEqual(item{start: start}, func(it item) bool {
		if len(end) > 0 && bytes.Compare(it.start, end) >= 0 {
			return false
		}
		if len(out) == 0 || out[len(out)-1] != it.e {
			out = append(out, it.e)
		}
		return true
	})
	return out
}

// put inserts r, replacing a region with the same start key.
func (x *index) put(r *entry) { x.tree.ReplaceOrInsert(item{start: r.meta.StartKey, e: r}) }

// remove deletes r if it is the entry at its start key.
func (x *index) remove(r *entry) bool {
	it := item{start: r.meta.StartKey}
	if got, ok := x.tree.Get(it); ok && got.e == r {
		x.tree.Delete(it)
		return true
	}
	return false
}

// len returns the number of indexed regions.
func (x *index) len() int { return x.tree.Len() }

// ascend visits regions in key order starting at the one with start >= from.
func (x *index) ascend(from []byte, f func(*entry) bool) {
	x.tree.AscendGreaterOrEqual(item{start: from}, func(it item) bool { return f(it.e) })
}
