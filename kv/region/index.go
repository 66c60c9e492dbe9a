package region

import (
	"bytes"

	"github.com/google/btree"
)

// index is the sorted part of the region cache: regions keyed by start key, without
// overlaps (RC-1). It is not safe for concurrent use; the Cache guards it.
type index struct {
	tree *btree.BTreeG[*entry]
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, func(a, b *entry) bool {
		return bytes.Compare(a.meta.StartKey, b.meta.StartKey) < 0
	})}
}

// pivot builds a search key.
func pivot(key []byte) *entry {
	r := &entry{meta: pivotMeta(key)}
	return r
}

// search returns the region containing key (isEnd: with start < key <= end), or nil.
func (x *index) search(key []byte, isEnd bool) *entry {
	var found *entry
	x.tree.DescendLessOrEqual(pivot(key), func(r *entry) bool {
		if isEnd && bytes.Equal(r.meta.StartKey, key) {
			return true // need a region starting strictly before key
		}
		found = r
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
	x.tree.DescendLessOrEqual(pivot(start), func(r *entry) bool {
		if len(r.meta.EndKey) == 0 || bytes.Compare(r.meta.EndKey, start) > 0 {
			out = append(out, r)
		}
		return false
	})
	x.tree.AscendGreaterOrEqual(pivot(start), func(r *entry) bool {
		if len(end) > 0 && bytes.Compare(r.meta.StartKey, end) >= 0 {
			return false
		}
		if len(out) == 0 || out[len(out)-1] != r {
			out = append(out, r)
		}
		return true
	})
	return out
}

// put inserts r, replacing a region with the same start key.
func (x *index) put(r *entry) { x.tree.ReplaceOrInsert(r) }

// remove deletes r if it is the entry at its start key.
func (x *index) remove(r *entry) bool {
	if got, ok := x.tree.Get(r); ok && got == r {
		x.tree.Delete(r)
		return true
	}
	return false
}

// len returns the number of indexed regions.
func (x *index) len() int { return x.tree.Len() }

// ascend visits regions in key order starting at the one with start >= from.
func (x *index) ascend(from []byte, f func(*entry) bool) {
	x.tree.AscendGreaterOrEqual(pivot(from), f)
}
