package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Point reads of a snapshot (TXN-19, TXN-20).
//
// A point read resolves the locks it meets and reads again. Two rules follow client-go's
// KVSnapshot.get:
//
//   - A read at kv.MaxTS (the latest committed version, an auto-commit point get) is
//     blocked only by the first lock it meets. When a retry meets a lock of another
//     transaction, that transaction is added to the snapshot's ResolvedLocks without
//     resolving it and the key is read again: TiKV then skips the lock
//     (check_ts_conflict's bypass_locks) and returns the latest committed version, so a
//     stream of new writers cannot starve the read. The write that lock belongs to has
//     not committed yet, so the read may be ordered before it.
//   - A stale read (WithStaleRead) that meets a lock sends every later request of the
//     read to the leader as a normal read: a follower's data may still show the lock
//     after it was resolved on the leader.
//
// A KV read timeout (WithKVReadTimeout) bounds the first request of each read only (the
// first round over the replicas, see region.Options.ReadTimeout); re-reads after a lock
// use the normal attempt bound.

// getCached reads key through the snapshot's cache; a nil Value means absent.
func (s *Snapshot) getCached(ctx context.Context, key []byte, needTS bool) (ValueEntry, error) {
	if len(key) == 0 {
		return ValueEntry{}, ErrEmptyKey
	}
	if e, hit := s.cachedEntry(key, needTS); hit {
		return e, nil
	}
	if err := s.check(ctx); err != nil {
		return ValueEntry{}, err
	}
	e, err := s.getEntry(ctx, s.backoffer(), key, needTS)
	if err != nil {
		return ValueEntry{}, err
	}
	s.storeEntry(key, e)
	return e, nil
}

// get reads one key from TiKV; nil means absent.
func (s *Snapshot) get(ctx context.Context, bo *backoff.Backoffer, key []byte) ([]byte, error) {
	e, err := s.getEntry(ctx, bo, key, false)
	return e.Value, err
}

// getEntry reads one key from TiKV, with its commit ts when needTS; a nil Value means
// absent.
func (s *Snapshot) getEntry(ctx context.Context, bo *backoff.Backoffer, key []byte, needTS bool) (ValueEntry, error) {
	enc := s.c.cl.Codec().EncodeKey(key)
	route := s.pointRoute()
	var firstLock uint64 // start ts of the first lock met; 0: none yet
	for {
		req := &kvrpcpb.GetRequest{Context: s.reqContext(), Key: enc, Version: s.ts, NeedCommitTs: needTS}
		resp, err := sendKey[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, s.c, bo, key, req, route)
		if err != nil {
			return ValueEntry{}, fmt.Errorf("txn: get: %w", err)
		}
		route = afterFirstSend(route)
		if err := s.visible(ctx); err != nil {
			return ValueEntry{}, err
		}
		if ke := resp.GetError(); ke != nil {
			err := s.c.keyError(ke)
			var le *lockedError
			if !errors.As(err, &le) {
				return ValueEntry{}, err
			}
			switch {
			case firstLock == 0:
				firstLock = le.lock.StartTS
				route = afterLock(route)
			case s.ts == kv.MaxTS && le.lock.StartTS != firstLock:
				// TXN-20: a latest read waits for the first lock it met only.
				s.bypass(le.locks())
				continue
			}
			if err := s.onLocks(ctx, bo, le.locks()); err != nil {
				return ValueEntry{}, fmt.Errorf("txn: get: %w", err)
			}
			continue
		}
		// Transactional values are never empty (Set refuses them), so an empty value is
		// an absent key: unistore-based servers answer a missing key that way, without
		// NotFound.
		if resp.GetNotFound() || len(resp.GetValue()) == 0 {
			return ValueEntry{}, nil
		}
		return ValueEntry{Value: resp.GetValue(), CommitTS: resp.GetCommitTs()}, nil
	}
}

// bypass adds the transactions of locks to the snapshot's ResolvedLocks without
// resolving them: later reads of the snapshot ignore those locks.
func (s *Snapshot) bypass(locks []kv.Lock) {
	ts := make([]uint64, 0, len(locks))
	for _, l := range locks {
		ts = append(ts, l.StartTS)
	}
	s.mu.Lock()
	s.resolved = appendNew(s.resolved, ts)
	s.mu.Unlock()
}

// batchGet reads keys through the cache and TiKV and calls emit (from one goroutine at a
// time) with each key that exists.
func (s *Snapshot) batchGet(ctx context.Context, keys [][]byte, needTS bool, emit func(string, ValueEntry)) error {
	var todo [][]byte
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if len(k) == 0 {
			return ErrEmptyKey
		}
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		if e, hit := s.cachedEntry(k, needTS); hit {
			if e.Value != nil {
				emit(string(k), e)
			}
			continue
		}
		todo = append(todo, k)
	}
	if len(todo) == 0 {
		return nil
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	slices.SortFunc(todo, bytes.Compare)
	var mu sync.Mutex
	found := make(map[string]ValueEntry, len(todo))
	route := s.pointRoute()
	err := region.RunBatches(ctx, s.c.cl.Sender(), todo, func(k []byte) []byte { return k }, route,
		s.c.cfg.CommitConcurrency, func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			for part := range slices.Chunk(b.Items, s.c.cfg.BatchGetSize) {
				if err := s.batchGetRegion(ctx, bo, b.Location, part, route, needTS, func(k []byte, e ValueEntry) {
					mu.Lock()
					found[string(k)] = e
					mu.Unlock()
				}); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("txn: batch get: %w", err)
	}
	for _, k := range todo {
		e := found[string(k)]
		s.storeEntry(k, e)
		if e.Value != nil {
			emit(string(k), e)
		}
	}
	return nil
}

// batchGetRegion reads keys of one region, resolving locks and re-reading the keys that
// were locked. route is the read's first-request routing (pointRoute).
func (s *Snapshot) batchGetRegion(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, keys [][]byte,
	route *region.Options, needTS bool, emit func(k []byte, e ValueEntry)) error {
	for len(keys) > 0 {
		req := &kvrpcpb.BatchGetRequest{Context: s.reqContext(), Keys: s.c.encodeKeys(keys), Version: s.ts,
			NeedCommitTs: needTS}
		resp, err := region.SendToRegion[*kvrpcpb.BatchGetRequest, *kvrpcpb.BatchGetResponse](ctx, s.c.cl.Sender(),
			bo, loc, req, route)
		if err != nil {
			return err
		}
		route = afterFirstSend(route)
		if err := s.visible(ctx); err != nil {
			return err
		}
		var locks []kv.Lock
		if ke := resp.GetError(); ke != nil {
			err := s.c.keyError(ke)
			var le *lockedError
			if !errors.As(err, &le) {
				return err
			}
			locks = append(locks, le.locks()...)
		}
		var retry [][]byte
		for _, p := range resp.GetPairs() {
			if ke := p.GetError(); ke != nil {
				err := s.c.keyError(ke)
				var le *lockedError
				if !errors.As(err, &le) {
					return err
				}
				locks = append(locks, le.locks()...)
				retry = append(retry, le.lock.Key)
				continue
			}
			if len(p.GetValue()) == 0 {
				continue // absent (see getEntry)
			}
			emit(s.c.decodeKey(p.GetKey()), ValueEntry{Value: p.GetValue(), CommitTS: p.GetCommitTs()})
		}
		if len(locks) == 0 {
			return nil
		}
		if resp.GetError() != nil {
			retry = keys // the whole response was refused
		}
		route = afterLock(route)
		if err := s.onLocks(ctx, bo, locks); err != nil {
			return err
		}
		keys = retry
	}
	return nil
}
