package memcluster

import (
	"bytes"
	"math/rand/v2"
)

// maxLevel bounds the height of the skip list; 2^24 keys keep searches logarithmic.
const maxLevel = 24

// ordered is a byte-ordered map from keys to values of type V, kept as a skip list so
// that inserts, point lookups and seeks are logarithmic. It is not safe for concurrent
// use; its owner (a store) serialises access.
type ordered[V any] struct {
	head  *skipNode[V]
	level int
	n     int
	rng   *rand.Rand
}

type skipNode[V any] struct {
	key  []byte
	val  V
	next []*skipNode[V]
}

func newOrdered[V any]() *ordered[V] {
	return &ordered[V]{
		head:  &skipNode[V]{next: make([]*skipNode[V], maxLevel)},
		level: 1,
		rng:   rand.New(rand.NewPCG(1, 2)),
	}
}

// Len returns the number of keys.
func (o *ordered[V]) Len() int { return o.n }

// findGE fills prev (when not nil) with the rightmost node per level whose key is below
// key, and returns the first node at or after key.
func (o *ordered[V]) findGE(key []byte, prev []*skipNode[V]) *skipNode[V] {
	x := o.head
	for i := o.level - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].key, key) < 0 {
			x = x.next[i]
		}
		if prev != nil {
			prev[i] = x
		}
	}
	return x.next[0]
}

// Get returns the value stored under key.
func (o *ordered[V]) Get(key []byte) (V, bool) {
	n := o.findGE(key, nil)
	if n != nil && bytes.Equal(n.key, key) {
		return n.val, true
	}
	var zero V
	return zero, false
}

// Set stores val under key, replacing any previous value. The key is copied.
func (o *ordered[V]) Set(key []byte, val V) {
	var prev [maxLevel]*skipNode[V]
	n := o.findGE(key, prev[:])
	if n != nil && bytes.Equal(n.key, key) {
		n.val = val
		return
	}
	lvl := 1
	for lvl < maxLevel && o.rng.IntN(4) == 0 {
		lvl++
	}
	if lvl > o.level {
		for i := o.level; i < lvl; i++ {
			prev[i] = o.head
		}
		o.level = lvl
	}
	nn := &skipNode[V]{key: append([]byte(nil), key...), val: val, next: make([]*skipNode[V], lvl)}
	for i := 0; i < lvl; i++ {
		nn.next[i] = prev[i].next[i]
		prev[i].next[i] = nn
	}
	o.n++
}

// Delete removes key and reports whether it was present.
func (o *ordered[V]) Delete(key []byte) bool {
	var prev [maxLevel]*skipNode[V]
	n := o.findGE(key, prev[:])
	if n == nil || !bytes.Equal(n.key, key) {
		return false
	}
	for i := 0; i < len(n.next); i++ {
		prev[i].next[i] = n.next[i]
	}
	o.n--
	return true
}

// Ascend calls fn for each key in [start, end) in ascending order (an empty end means no
// upper bound) until fn returns false. fn must not modify the map.
func (o *ordered[V]) Ascend(start, end []byte, fn func(key []byte, val V) bool) {
	for n := o.findGE(start, nil); n != nil; n = n.next[0] {
		if len(end) > 0 && bytes.Compare(n.key, end) >= 0 {
			return
		}
		if !fn(n.key, n.val) {
			return
		}
	}
}

// Descend calls fn for each key in [start, end) in descending order (an empty end means
// no upper bound) until fn returns false. fn must not modify the map.
func (o *ordered[V]) Descend(start, end []byte, fn func(key []byte, val V) bool) {
	bound := end
	for {
		var n *skipNode[V]
		if len(bound) == 0 {
			n = o.last()
		} else {
			n = o.lastBelow(bound)
		}
		if n == nil || bytes.Compare(n.key, start) < 0 {
			return
		}
		if !fn(n.key, n.val) {
			return
		}
		bound = n.key
		if len(bound) == 0 {
			return // the empty key is the smallest; nothing lies below it
		}
	}
}

func (o *ordered[V]) last() *skipNode[V] {
	x := o.head
	for i := o.level - 1; i >= 0; i-- {
		for x.next[i] != nil {
			x = x.next[i]
		}
	}
	if x == o.head {
		return nil
	}
	return x
}

func (o *ordered[V]) lastBelow(key []byte) *skipNode[V] {
	x := o.head
	for i := o.level - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].key, key) < 0 {
			x = x.next[i]
		}
	}
	if x == o.head {
		return nil
	}
	return x
}
