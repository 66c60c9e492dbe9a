package memdb

import (
	"bytes"
	"sort"
)

// degree is the maximum number of items in a leaf and of children of an inner node.
const degree = 64

// node is a B+ tree node. Leaves hold entry indices in key order and are linked to their
// neighbours; inner nodes hold children and, for each child but the first, the index of
// the smallest entry under it (the separator).
type node struct {
	leaf  bool
	items []int32 // leaf: entries; inner: separators, items[i] is the first key of kids[i+1]
	kids  []*node
	prev  *node // leaves only
	next  *node // leaves only
}

// tree is an insert-only B+ tree of entry indices ordered by their keys.
type tree struct {
	root  *node
	first *node // leftmost leaf
	last  *node // rightmost leaf
	key   func(int32) []byte
	// version changes on every insert; iterators use it to notice that positions moved.
	version uint64
}

func newTree(key func(int32) []byte) tree {
	leaf := &node{leaf: true}
	return tree{root: leaf, first: leaf, last: leaf, key: key}
}

// childFor returns the index of the child of inner node n whose range holds k.
func (t *tree) childFor(n *node, k []byte) int {
	// The first separator greater than k marks the child after the one we want.
	return sort.Search(len(n.items), func(i int) bool { return bytes.Compare(t.key(n.items[i]), k) > 0 })
}

// seek returns the leaf and position of the first item >= k (pos may equal len(items)),
// and whether that item equals k.
func (t *tree) seek(k []byte) (*node, int, bool) {
	n := t.root
	for !n.leaf {
		n = n.kids[t.childFor(n, k)]
	}
	pos := sort.Search(len(n.items), func(i int) bool { return bytes.Compare(t.key(n.items[i]), k) >= 0 })
	return n, pos, pos < len(n.items) && bytes.Equal(t.key(n.items[pos]), k)
}

// insert adds entry idx, whose key must not be in the tree yet.
func (t *tree) insert(idx int32) {
	k := t.key(idx)
	t.version++
	// Descend, remembering the path for splits.
	var path [16]*node
	var slots [16]int
	depth := 0
	n := t.root
	for !n.leaf {
		c := t.childFor(n, k)
		path[depth], slots[depth] = n, c
		depth++
		n = n.kids[c]
	}
	pos := sort.Search(len(n.items), func(i int) bool { return bytes.Compare(t.key(n.items[i]), k) >= 0 })
	n.items = insertAt(n.items, pos, idx)
	if len(n.items) <= degree {
		return
	}
	// Split upwards while nodes overflow.
	sep, right := t.split(n)
	for depth > 0 {
		depth--
		parent, slot := path[depth], slots[depth]
		parent.items = insertAt(parent.items, slot, sep)
		parent.kids = insertNodeAt(parent.kids, slot+1, right)
		if len(parent.kids) <= degree {
			return
		}
		sep, right = t.split(parent)
	}
	t.root = &node{items: []int32{sep}, kids: []*node{t.root, right}}
}

// split moves the upper half of n into a new right sibling and returns the separator
// (the first key of the right sibling) and the sibling.
func (t *tree) split(n *node) (int32, *node) {
	if n.leaf {
		half := len(n.items) / 2
		right := &node{leaf: true, items: make([]int32, len(n.items)-half, degree+1)}
		copy(right.items, n.items[half:])
		n.items = n.items[:half:cap(n.items)]
		right.prev, right.next = n, n.next
		if n.next != nil {
			n.next.prev = right
		} else {
			t.last = right
		}
		n.next = right
		return right.items[0], right
	}
	half := len(n.kids) / 2
	right := &node{
		items: append(make([]int32, 0, degree), n.items[half:]...),
		kids:  append(make([]*node, 0, degree+1), n.kids[half:]...),
	}
	sep := n.items[half-1]
	n.items = n.items[: half-1 : cap(n.items)]
	n.kids = n.kids[:half:cap(n.kids)]
	return sep, right
}

func insertAt(s []int32, i int, v int32) []int32 {
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func insertNodeAt(s []*node, i int, v *node) []*node {
	s = append(s, nil)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}
