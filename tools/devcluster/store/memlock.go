package main

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// memLocks stands in for TiKV's concurrency manager in front of unistore.
//
// An async-commit or 1PC prewrite picks its min commit ts (unistore: a fresh
// TSO) before its locks or writes are visible. A read with a start ts T that
// has already looked for locks can then miss a write committed below T: the
// 1PC write lands after the read's snapshot yet carries a commit ts under T.
// TiKV closes that window with in-memory locks: the prewrite takes them
// before it chooses the ts, and a read that meets one waits for (or
// reports) it. unistore has only a TODO there, so this table does the same
// job one level up: such a prewrite registers its keys before unistore sees
// it and removes them once unistore has answered, and a read waits for every
// registered prewrite of its keys whose start ts is at most its own.
//
// A read that looked before the prewrite registered got its ts from the TSO
// earlier than the prewrite's own TSO call, so the commit ts is above it and
// the read may rightly miss the write.
type memLocks struct {
	mu     sync.Mutex
	active map[*memGuard]struct{}
}

// memGuard is one registered prewrite: its sorted keys and a channel closed
// when it is done.
type memGuard struct {
	startTS uint64
	keys    [][]byte
	done    chan struct{}
}

func newMemLocks() *memLocks { return &memLocks{active: make(map[*memGuard]struct{})} }

// lock registers the keys of an async-commit or 1PC prewrite; the returned
// function unregisters them and wakes the readers waiting for them.
func (m *memLocks) lock(startTS uint64, muts []*kvrpcpb.Mutation) func() {
	keys := make([][]byte, 0, len(muts))
	for _, mu := range muts {
		keys = append(keys, mu.GetKey())
	}
	slices.SortFunc(keys, bytes.Compare)
	g := &memGuard{startTS: startTS, keys: keys, done: make(chan struct{})}
	m.mu.Lock()
	m.active[g] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.active, g)
		m.mu.Unlock()
		close(g.done)
	}
}

// waitKeys waits until no prewrite registered now with a start ts at most
// readTS holds one of keys.
func (m *memLocks) waitKeys(ctx context.Context, readTS uint64, keys ...[]byte) error {
	return m.wait(ctx, readTS, func(g *memGuard) bool {
		for _, k := range keys {
			if _, ok := slices.BinarySearchFunc(g.keys, k, bytes.Compare); ok {
				return true
			}
		}
		return false
	})
}

// waitRange is waitKeys for every key in [start, end); an empty end is
// unbounded.
func (m *memLocks) waitRange(ctx context.Context, readTS uint64, start, end []byte) error {
	return m.wait(ctx, readTS, func(g *memGuard) bool {
		i, _ := slices.BinarySearchFunc(g.keys, start, bytes.Compare)
		return i < len(g.keys) && (len(end) == 0 || bytes.Compare(g.keys[i], end) < 0)
	})
}

func (m *memLocks) wait(ctx context.Context, readTS uint64, covers func(*memGuard) bool) error {
	var waits []chan struct{}
	m.mu.Lock()
	for g := range m.active {
		if g.startTS <= readTS && covers(g) {
			waits = append(waits, g.done)
		}
	}
	m.mu.Unlock()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// needsMemLock reports whether a prewrite picks its commit ts itself.
func needsMemLock(req *kvrpcpb.PrewriteRequest) bool {
	return req.GetUseAsyncCommit() || req.GetTryOnePc()
}
