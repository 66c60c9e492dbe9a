package memdb

import (
	"bytes"
	"hash/maphash"
)

// hashIndex finds an entry by its exact key in O(1): an open-addressing table (linear
// probing) of entry indices with 32 bits of their key's hash. Point lookups (Get, Flags,
// every write's "is the key new?") use it instead of descending the B+ tree, which at a
// million keys costs a cache miss per level plus one per key compared. Like the tree it
// holds no pointers and never removes an entry.
type hashIndex struct {
	seed  maphash.Seed
	slots []slot // power-of-two length, allocated by the first insert; grown at 3/4 full
	n     int
	key   func(int32) []byte
}

// slot is one table cell: idx is the entry index plus one (0 = empty), tag the high 32
// bits of the key's hash.
type slot struct {
	tag uint32
	idx int32
}

const minSlots = 64

func newHashIndex(key func(int32) []byte) hashIndex {
	return hashIndex{seed: maphash.MakeSeed(), key: key}
}

// find returns the entry index of k, or -1.
func (h *hashIndex) find(k []byte) int32 {
	if len(h.slots) == 0 {
		return -1
	}
	sum := maphash.Bytes(h.seed, k)
	tag, mask := uint32(sum>>32), uint64(len(h.slots)-1)
	for i := sum & mask; ; i = (i + 1) & mask {
		s := h.slots[i]
		if s.idx == 0 {
			return -1
		}
		if s.tag == tag && bytes.Equal(h.key(s.idx-1), k) {
			return s.idx - 1
		}
	}
}

// insert adds entry idx, whose key must not be in the index yet.
func (h *hashIndex) insert(idx int32) {
	if len(h.slots) == 0 {
		h.slots = make([]slot, minSlots) // a buffer nobody writes allocates nothing
	} else if (h.n+1)*4 > len(h.slots)*3 {
		h.grow()
	}
	h.place(maphash.Bytes(h.seed, h.key(idx)), idx)
	h.n++
}

func (h *hashIndex) place(sum uint64, idx int32) {
	mask := uint64(len(h.slots) - 1)
	i := sum & mask
	for h.slots[i].idx != 0 {
		i = (i + 1) & mask
	}
	h.slots[i] = slot{tag: uint32(sum >> 32), idx: idx + 1}
}

// grow doubles the table. The full hash is recomputed from the keys (the table keeps
// only 32 bits of it), which costs one pass over the keys per doubling: amortised O(1).
func (h *hashIndex) grow() {
	old := h.slots
	h.slots = make([]slot, 2*len(old))
	for _, s := range old {
		if s.idx != 0 {
			h.place(maphash.Bytes(h.seed, h.key(s.idx-1)), s.idx-1)
		}
	}
}

// mem is the table's size in bytes.
func (h *hashIndex) mem() int { return len(h.slots) * 8 }
