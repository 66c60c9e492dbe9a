package txn

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// client-go: internal/unionstore/pipelined_memdb_test.go TestPipelinedFlushTrigger, TestPipelinedFlushSkip,
// TestPipelinedFlushSize, TestPipelinedFlushGeneration (here through Txn: a flush starts
// only once the buffer holds MinFlushKeys keys and MinFlushSize bytes of memory, or
// ForceFlushSize bytes whatever its key count; Len and Size keep counting what was
// flushed; each flush has the next generation, from 1)
func TestPortPipelinedFlushTrigger(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	const minKeys, minSize, force = 10, 256 << 10, 4 << 20
	opts := PipelinedOptions{MinFlushKeys: minKeys, MinFlushSize: minSize, ForceFlushSize: force}
	gen := func(tx *Txn) uint64 {
		tx.mu.Lock()
		defer tx.mu.Unlock()
		return tx.pipe.gen
	}

	// Enough keys but too little memory: no flush.
	p := prefix(t)
	tx := beginPipelined(t, c, opts)
	for i := range 2 * minKeys {
		mustSet(t, tx, fmt.Sprintf("%s%03d", p, i), "small")
	}
	if g := gen(tx); g != 0 {
		t.Fatalf("%d flushes below the memory threshold", g)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// Enough memory but too few keys (below the force size): no flush; the key that
	// reaches MinFlushKeys starts one.
	p = prefix(t)
	fc := countFlushes(t, tg)
	var startOnce sync.Once
	tx = beginPipelined(t, c, opts)
	started, release := make(chan struct{}), make(chan struct{})
	remove := tg.Mem.AddHook(func(hctx context.Context, r *memcluster.Request) *memcluster.Fault {
		if f, ok := r.Body.(*kvrpcpb.FlushRequest); ok && f.StartTs == tx.StartTS() && f.Generation == 1 {
			startOnce.Do(func() { close(started) })
			select {
			case <-release:
			case <-hctx.Done():
			}
		}
		return nil
	})
	defer remove()
	value := make([]byte, 40<<10) // big values take arena chunks of their own
	keys, size := 0, 0
	write := func(k string) {
		t.Helper()
		if err := tx.Set([]byte(k), value); err != nil {
			t.Fatal(err)
		}
		keys++
		size += len(k) + len(value)
		if tx.Len() != keys || tx.Size() != size {
			t.Fatalf("after %d writes: Len %d Size %d, want %d %d", keys, tx.Len(), tx.Size(), keys, size)
		}
	}
	for i := range minKeys - 1 {
		write(fmt.Sprintf("%s%03d", p, i))
	}
	if g := gen(tx); g != 0 || tx.mem.Mem() < minSize {
		t.Fatalf("flushed %d times with %d keys and %d bytes", g, tx.Len(), tx.mem.Mem())
	}
	write(fmt.Sprintf("%s%03d", p, minKeys-1))
	if g := gen(tx); g != 1 || tx.mem.Len() != 0 {
		t.Fatalf("generation %d, %d keys left in the buffer", g, tx.mem.Len())
	}
	// While flush 1 runs, a full buffer below the force size does not flush (the writer
	// goes on); once it is done, the next write starts generation 2. Len and Size still
	// count everything.
	<-started
	for i := range minKeys {
		write(fmt.Sprintf("%s%03d", p, minKeys+i))
	}
	if g := gen(tx); g != 1 {
		t.Fatalf("generation %d while flush 1 runs", g)
	}
	close(release)
	tx.mu.Lock()
	err := tx.pipe.waitFlush(ctx)
	tx.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	write(fmt.Sprintf("%s%03d", p, 2*minKeys))
	if g := gen(tx); g != 2 {
		t.Fatalf("generation %d", g)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, gens := fc.counts(); n < 2 || gens != 2 {
		t.Fatalf("%d flush requests over %d generations", n, gens)
	}

	// Few keys, but the force size: flush.
	p = prefix(t)
	tx = beginPipelined(t, c, opts)
	if err := tx.Set([]byte(p+"big"), make([]byte, force)); err != nil {
		t.Fatal(err)
	}
	if g := gen(tx); g != 1 {
		t.Fatalf("a buffer at the force size flushed %d times", g)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}
