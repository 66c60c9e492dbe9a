package rawkv

import (
	"bytes"
	"sync"
	"time"

	"github.com/google/btree"
)

// entry is one stored raw pair. expireAt is a Unix time in nanoseconds; zero
// means the pair never expires.
type entry struct {
	key      []byte
	value    []byte
	expireAt int64
}

func lessEntry(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// Store is the shared raw engine. The zero value is not usable; call New.
type Store struct {
	mu  sync.RWMutex
	cfs map[string]*btree.BTreeG[entry]
	now func() time.Time
}

// New returns an empty engine whose TTLs are measured against now (time.Now
// when nil). A custom clock lets tests expire entries without sleeping.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{cfs: make(map[string]*btree.BTreeG[entry]), now: now}
}

// cfName maps the empty column family to "default", as TiKV does.
func cfName(cf string) string {
	if cf == "" {
		return "default"
	}
	return cf
}

// tree returns the tree of a column family, creating it when create is set.
// The caller holds s.mu (write lock when create is set).
func (s *Store) tree(cf string, create bool) *btree.BTreeG[entry] {
	name := cfName(cf)
	t := s.cfs[name]
	if t == nil && create {
		t = btree.NewG(32, lessEntry)
		s.cfs[name] = t
	}
	return t
}

// live reports whether e is visible at nowNanos.
func live(e entry, nowNanos int64) bool {
	return e.expireAt == 0 || e.expireAt > nowNanos
}

// expiry converts a TTL in seconds to an absolute expiry time (0 = never).
func (s *Store) expiry(ttl uint64) int64 {
	if ttl == 0 {
		return 0
	}
	return s.now().Add(time.Duration(ttl) * time.Second).UnixNano()
}

// get returns the visible entry of key. The caller holds s.mu.
func (s *Store) get(cf string, key []byte) (entry, bool) {
	t := s.tree(cf, false)
	if t == nil {
		return entry{}, false
	}
	e, ok := t.Get(entry{key: key})
	if !ok || !live(e, s.now().UnixNano()) {
		return entry{}, false
	}
	return e, true
}

// put stores a copy of key and value. The caller holds the write lock.
func (s *Store) put(cf string, key, value []byte, ttl uint64) {
	e := entry{
		key:      append([]byte(nil), key...),
		value:    append([]byte{}, value...),
		expireAt: s.expiry(ttl),
	}
	s.tree(cf, true).ReplaceOrInsert(e)
}

// del removes key. The caller holds the write lock.
func (s *Store) del(cf string, key []byte) {
	if t := s.tree(cf, false); t != nil {
		t.Delete(entry{key: key})
	}
}

// ascend visits the visible entries with from <= key < to (to nil = no
// bound) in ascending order until fn returns false, and drops expired
// entries it meets when the write lock is held (purge).
func (s *Store) ascend(cf string, from, to []byte, fn func(entry) bool) {
	t := s.tree(cf, false)
	if t == nil {
		return
	}
	nowNanos := s.now().UnixNano()
	visit := func(e entry) bool {
		if !live(e, nowNanos) {
			return true
		}
		return fn(e)
	}
	if to == nil {
		t.AscendGreaterOrEqual(entry{key: from}, visit)
		return
	}
	t.AscendRange(entry{key: from}, entry{key: to}, visit)
}

// descend visits the visible entries with lower <= key < upper (upper nil =
// no bound) in descending order until fn returns false.
func (s *Store) descend(cf string, upper, lower []byte, fn func(entry) bool) {
	t := s.tree(cf, false)
	if t == nil {
		return
	}
	nowNanos := s.now().UnixNano()
	visit := func(e entry) bool {
		if bytes.Compare(e.key, lower) < 0 {
			return false
		}
		if upper != nil && bytes.Compare(e.key, upper) >= 0 {
			return true
		}
		if !live(e, nowNanos) {
			return true
		}
		return fn(e)
	}
	if upper == nil {
		t.Descend(visit)
		return
	}
	t.DescendLessOrEqual(entry{key: upper}, visit)
}

// Purge removes every expired entry and returns how many were removed. The
// store wrapper calls it periodically so expired data does not pile up.
func (s *Store) Purge() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	nowNanos := s.now().UnixNano()
	removed := 0
	for _, t := range s.cfs {
		var dead []entry
		t.Ascend(func(e entry) bool {
			if !live(e, nowNanos) {
				dead = append(dead, e)
			}
			return true
		})
		for _, e := range dead {
			t.Delete(e)
		}
		removed += len(dead)
	}
	return removed
}

// Len returns the number of stored entries (expired ones included) over all
// column families.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, t := range s.cfs {
		n += t.Len()
	}
	return n
}
