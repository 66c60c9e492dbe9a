package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// source produces the pairs of an iterator; ok false at the end.
type source interface {
	next(ctx context.Context) (kv.KeyValue, bool, error)
}

// Iterator walks a key range of a Snapshot or a Txn. Create one with Iter; call Next
// before the first Key. The ctx given to Iter bounds every fetch. Key and Value are
// owned by the caller. An Iterator is used by one goroutine; Close releases it (it holds
// no goroutine, so forgetting Close leaks nothing but is untidy).
type Iterator struct {
	ctx    context.Context
	src    source
	cur    kv.KeyValue
	err    error
	closed bool
}

func errIterator(err error) *Iterator { return &Iterator{err: err} }

// Next moves to the next pair and reports whether there is one. It returns false at the
// end of the range, after an error (see Err) and after Close.
func (it *Iterator) Next() bool {
	if it.closed || it.err != nil || it.src == nil {
		return false
	}
	if err := it.ctx.Err(); err != nil {
		it.err = err
		return false
	}
	p, ok, err := it.src.next(it.ctx)
	if err != nil {
		it.err = err
		return false
	}
	if !ok {
		it.src = nil
		return false
	}
	it.cur = p
	return true
}

// Key returns the current key.
func (it *Iterator) Key() []byte { return it.cur.Key }

// Value returns the current value (nil for key-only iterators).
func (it *Iterator) Value() []byte { return it.cur.Value }

// Err returns the error that ended the iteration, or nil.
func (it *Iterator) Err() error { return it.err }

// Close ends the iteration. Idempotent.
func (it *Iterator) Close() {
	it.closed = true
	it.src = nil
}

// maxUserKey bounds reverse scans with no end: TiKV reads a reverse scan's upper bound
// from the request's start key, and an empty one means "before every key". Keys that
// sort after it (sixteen 0xFF bytes) are not seen by unbounded reverse scans.
var maxUserKey = bytes.Repeat([]byte{0xff}, 16)

// scanner reads a range of a snapshot region by region in batches (TXN-21).
type scanner struct {
	s          *Snapshot
	start, end []byte // user range; end nil = unbounded
	o          iterOptions
	nextStart  []byte // forward: next lower bound
	nextEnd    []byte // reverse: next exclusive upper bound
	eof        bool
	lastKey    []byte // the last key of the batch just read (locked pairs included)
	buf        []kv.KeyValue
	idx        int
	bo         *backoff.Backoffer
}

func newScanner(s *Snapshot, start, end []byte, o iterOptions) *scanner {
	sc := &scanner{s: s, start: start, end: end, o: o, nextStart: start, nextEnd: end, bo: s.backoffer()}
	if o.reverse && len(end) == 0 {
		sc.nextEnd = maxUserKey
	}
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		sc.eof = true
	}
	return sc
}

func (sc *scanner) next(ctx context.Context) (kv.KeyValue, bool, error) {
	for sc.idx >= len(sc.buf) {
		if sc.eof {
			return kv.KeyValue{}, false, nil
		}
		if err := sc.fetch(ctx); err != nil {
			return kv.KeyValue{}, false, fmt.Errorf("txn: scan: %w", err)
		}
	}
	p := sc.buf[sc.idx]
	sc.idx++
	return p, true, nil
}

// fetch reads the next batch into buf.
func (sc *scanner) fetch(ctx context.Context) error {
	s, cd := sc.s, sc.s.c.cl.Codec()
	for {
		var loc *region.Location
		var err error
		if sc.o.reverse {
			loc, err = s.c.cl.Cache().LocateEnd(ctx, sc.nextEnd)
		} else {
			loc, err = s.c.cl.Cache().Locate(ctx, sc.nextStart)
		}
		if err != nil {
			return err
		}
		req := &kvrpcpb.ScanRequest{Context: s.reqContext(), Limit: uint32(sc.o.batchSize), Version: s.ts,
			KeyOnly: sc.o.keyOnly, Reverse: sc.o.reverse}
		var lower []byte
		if !sc.o.reverse {
			upper := sc.end
			if len(loc.EndKey) > 0 && (len(upper) == 0 || bytes.Compare(loc.EndKey, upper) < 0) {
				upper = loc.EndKey
			}
			req.StartKey, req.EndKey = cd.EncodeRange(sc.nextStart, upper)
		} else {
			lower = sc.start
			if len(loc.StartKey) > 0 && bytes.Compare(loc.StartKey, lower) > 0 {
				lower = loc.StartKey
			}
			req.EndKey, req.StartKey = cd.EncodeRange(lower, sc.nextEnd)
		}
		resp, err := region.SendToRegion[*kvrpcpb.ScanRequest, *kvrpcpb.ScanResponse](ctx, s.c.cl.Sender(), sc.bo, loc,
			req, s.route())
		if err != nil {
			if rerr := region.RetryRegionError(ctx, sc.bo, err); rerr != nil {
				return rerr
			}
			continue
		}
		if err := s.visible(ctx); err != nil {
			return err
		}
		if ke := resp.GetError(); ke != nil {
			err := s.c.keyError(ke)
			var le *lockedError
			if !errors.As(err, &le) {
				return err
			}
			if err := s.onLocks(ctx, sc.bo, le.locks()); err != nil {
				return err
			}
			continue
		}
		pairs, err := sc.decode(ctx, resp.GetPairs())
		if err != nil {
			return err
		}
		sc.buf, sc.idx = pairs, 0
		sc.advance(loc, lower, resp.GetPairs())
		return nil
	}
}

// decode turns response pairs into user pairs. Locks reported for single pairs are
// resolved together (so a region-wide resolve is sent once per region), then those
// keys are read again through get.
func (sc *scanner) decode(ctx context.Context, in []*kvrpcpb.KvPair) ([]kv.KeyValue, error) {
	out := make([]kv.KeyValue, 0, len(in))
	var locks []kv.Lock
	var locked []int // indexes in out of pairs to read again
	for _, p := range in {
		key := sc.s.c.decodeKey(p.GetKey())
		if ke := p.GetError(); ke != nil {
			err := sc.s.c.keyError(ke)
			var le *lockedError
			if !errors.As(err, &le) {
				return nil, err
			}
			if len(key) == 0 {
				key = le.lock.Key
			}
			locks = append(locks, le.locks()...)
			locked = append(locked, len(out))
			sc.lastKey = key
			out = append(out, kv.KeyValue{Key: key})
			continue
		}
		sc.lastKey = key
		v := p.GetValue()
		if sc.o.keyOnly {
			v = nil
		} else if v == nil {
			v = []byte{}
		}
		out = append(out, kv.KeyValue{Key: key, Value: v})
	}
	if len(locks) == 0 {
		return out, nil
	}
	if err := sc.s.onLocks(ctx, sc.bo, locks); err != nil {
		return nil, err
	}
	absent := make(map[int]bool)
	for _, i := range locked {
		v, err := sc.s.get(ctx, sc.bo, out[i].Key)
		if err != nil {
			return nil, err
		}
		if v == nil {
			absent[i] = true
		} else if !sc.o.keyOnly {
			out[i].Value = v
		}
	}
	kept := out[:0]
	for i, p := range out {
		if !absent[i] {
			kept = append(kept, p)
		}
	}
	return kept, nil
}

// advance moves the scan bounds past the batch just read.
func (sc *scanner) advance(loc *region.Location, lower []byte, pairs []*kvrpcpb.KvPair) {
	if len(pairs) >= sc.o.batchSize {
		last := sc.lastKey
		if !sc.o.reverse {
			sc.nextStart = kv.Key(last).Next()
		} else {
			sc.nextEnd = last
		}
		return
	}
	if !sc.o.reverse {
		sc.nextStart = loc.EndKey
		if len(loc.EndKey) == 0 || (len(sc.end) > 0 && bytes.Compare(sc.nextStart, sc.end) >= 0) {
			sc.eof = true
		}
		return
	}
	sc.nextEnd = lower
	if len(lower) == 0 || bytes.Compare(lower, sc.start) <= 0 {
		sc.eof = true
	}
}
