package main

import (
	"slices"
	"sync"
)

// latchShards is the number of independently locked shards of a latchTable.
const latchShards = 64

// latchTable serialises writers of the same keys across every region and
// every store view (the stores share one engine, so the latches must be
// shared too). A latch is identified by a key hash; waiting is done on a
// channel closed by the holder when it releases the latch.
type latchTable struct {
	shards [latchShards]latchShard
}

type latchShard struct {
	mu   sync.Mutex
	held map[uint64]chan struct{}
}

func newLatchTable() *latchTable {
	t := &latchTable{}
	for i := range t.shards {
		t.shards[i].held = make(map[uint64]chan struct{})
	}
	return t
}

// normalise sorts and deduplicates hashes so that every caller acquires
// latches in the same order (no deadlock between two multi-key writers).
func normalise(hashes []uint64) []uint64 {
	out := slices.Clone(hashes)
	slices.Sort(out)
	return slices.Compact(out)
}

// acquire blocks until the caller holds every latch of hashes.
func (t *latchTable) acquire(hashes []uint64) {
	for _, h := range normalise(hashes) {
		sh := &t.shards[h%latchShards]
		for {
			sh.mu.Lock()
			wait, busy := sh.held[h]
			if !busy {
				sh.held[h] = make(chan struct{})
				sh.mu.Unlock()
				break
			}
			sh.mu.Unlock()
			<-wait
		}
	}
}

// release frees the latches taken by acquire with the same hashes.
func (t *latchTable) release(hashes []uint64) {
	for _, h := range normalise(hashes) {
		sh := &t.shards[h%latchShards]
		sh.mu.Lock()
		ch, ok := sh.held[h]
		delete(sh.held, h)
		sh.mu.Unlock()
		if ok {
			close(ch)
		}
	}
}
