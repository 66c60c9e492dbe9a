package txn

import (
	"bytes"
	"context"
	"slices"

	"github.com/tikvsql/tikvsql/kv"
)

// lockedOverlay makes range reads of a pessimistic transaction agree with its point
// reads: the values that lock requests returned (LockOptions.ReturnValues) replace the
// snapshot's for those keys, keys they found absent are hidden, and keys they found
// that the snapshot lacks appear. base is the snapshot's source; the transaction's own
// buffered writes are merged over the result by unionSource.
func (tx *Txn) lockedOverlay(base source, start, end []byte, o iterOptions) source {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	var entries []kv.KeyValue
	for k, v := range tx.pess.values {
		key := []byte(k)
		if bytes.Compare(key, start) < 0 || (len(end) > 0 && bytes.Compare(key, end) >= 0) {
			continue
		}
		entries = append(entries, kv.KeyValue{Key: key, Value: v})
	}
	if len(entries) == 0 {
		return base
	}
	slices.SortFunc(entries, func(a, b kv.KeyValue) int {
		if o.reverse {
			return bytes.Compare(b.Key, a.Key)
		}
		return bytes.Compare(a.Key, b.Key)
	})
	return &overlaySource{base: base, entries: entries, o: o}
}

// overlaySource merges sorted overlay entries (nil Value: absent) over a base source.
type overlaySource struct {
	base    source
	entries []kv.KeyValue
	o       iterOptions
	pending *kv.KeyValue // the base's next pair, already fetched
	baseEnd bool
}

func (s *overlaySource) next(ctx context.Context) (kv.KeyValue, bool, error) {
	for {
		if s.pending == nil && !s.baseEnd {
			p, ok, err := s.base.next(ctx)
			if err != nil {
				return kv.KeyValue{}, false, err
			}
			if ok {
				s.pending = &p
			} else {
				s.baseEnd = true
			}
		}
		if len(s.entries) == 0 {
			if s.pending == nil {
				return kv.KeyValue{}, false, nil
			}
			p := *s.pending
			s.pending = nil
			return p, true, nil
		}
		e := s.entries[0]
		cmp := -1 // <0 overlay first, >0 base first, 0 same key (the overlay wins)
		if s.pending != nil {
			cmp = bytes.Compare(e.Key, s.pending.Key)
			if s.o.reverse {
				cmp = -cmp
			}
		}
		if cmp > 0 {
			p := *s.pending
			s.pending = nil
			return p, true, nil
		}
		if cmp == 0 {
			s.pending = nil
		}
		s.entries = s.entries[1:]
		if e.Value == nil {
			continue // absent when locked
		}
		v := bytes.Clone(e.Value)
		if s.o.keyOnly {
			v = nil
		}
		return kv.KeyValue{Key: bytes.Clone(e.Key), Value: v}, true, nil
	}
}
