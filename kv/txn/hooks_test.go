package txn

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// memReports records the footprints a memory hook saw.
type memReports struct {
	mu  sync.Mutex
	all []uint64
}

func (m *memReports) hook(b uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, b)
}

func (m *memReports) snapshot() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint64(nil), m.all...)
}

// The memory hook follows the buffer as it grows, not once per write, and sees the
// footprint fall when Rollback drops the buffer.
func TestMemoryFootprintHook(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		var m memReports
		tx, err := c.Begin(testCtx(t), WithMemoryFootprintHook(m.hook))
		if err != nil {
			t.Fatal(err)
		}
		const writes = 5000
		for i := range writes {
			mustSet(t, tx, fmt.Sprintf("%s%05d", prefix(t), i), "some value of modest length")
		}
		got := m.snapshot()
		if len(got) < 2 || len(got) > writes/10 {
			t.Fatalf("%d reports for %d writes", len(got), writes)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("footprint went from %d to %d while writing", got[i-1], got[i])
			}
		}
		peak := got[len(got)-1]
		if peak < writes*20 {
			t.Fatalf("peak footprint %d for %d writes", peak, writes)
		}
		if err := tx.Rollback(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		got = m.snapshot()
		if last := got[len(got)-1]; last >= peak {
			t.Fatalf("after rollback the footprint is %d (peak %d)", last, peak)
		}
	})
}

// A pipelined flush hands the buffer over: the hook sees the footprint fall.
func TestMemoryFootprintHookPipelined(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		var m memReports
		tx, err := c.Begin(testCtx(t), WithMemoryFootprintHook(m.hook),
			WithPipelined(PipelinedOptions{MinFlushKeys: 100, MinFlushSize: 1, SyncResolve: true}))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			mustSet(t, tx, fmt.Sprintf("%s%05d", prefix(t), i), "v")
		}
		if err := tx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		got := m.snapshot()
		fell := false
		for i := 1; i < len(got); i++ {
			fell = fell || got[i] < got[i-1]
		}
		if !fell {
			t.Fatalf("footprint never fell across flushes: %v", got)
		}
	})
}

// Background hooks wrap the goroutines a transaction leaves running: an async commit's
// commit RPCs and a pessimistic transaction's heartbeat. Every Start has its End once
// the client is closed.
func TestBackgroundHooks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		var starts, ends atomic.Int64
		h := WithBackgroundHooks(BackgroundHooks{
			Start: func() { starts.Add(1) },
			End:   func() { ends.Add(1) },
		})
		p := prefix(t)
		// Async commit (1PC off so that the commit RPCs are left to the background).
		tx, err := c.Begin(testCtx(t), h, WithOnePC(false))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"a", "1", p+"b", "2")
		if err := tx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		// A pessimistic transaction's heartbeat starts with its primary lock.
		ptx, err := c.Begin(testCtx(t), h, WithPessimistic())
		if err != nil {
			t.Fatal(err)
		}
		if err := ptx.LockKeys(testCtx(t), []byte(p+"a")); err != nil {
			t.Fatal(err)
		}
		if err := ptx.Rollback(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		// A transaction without hooks is not counted.
		put(t, c, p+"c", "3")
		if err := c.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if s, e := starts.Load(), ends.Load(); s != 2 || e != 2 {
			t.Fatalf("starts %d, ends %d; want 2 and 2", s, e)
		}
	})
}

// The end callback gets one event per transaction: the commit's protocol and ts, a
// failed commit's error, a rollback.
func TestEndCallback(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		p := prefix(t)
		var evs []kv.TxnEnd
		cb := WithEndCallback(func(ev kv.TxnEnd) { evs = append(evs, ev) })

		tx, err := c.Begin(testCtx(t), cb)
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, p+"a", "1")
		if err := tx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || !evs[0].Committed || evs[0].CommitTS == 0 || evs[0].Protocol != "1pc" || evs[0].Keys != 1 {
			t.Fatalf("commit event %+v", evs)
		}

		// A conflicting commit reports its error.
		old, _ := c.Begin(testCtx(t), cb)
		put(t, c, p+"a", "2")
		mustSet(t, old, p+"a", "3")
		cerr := old.Commit(testCtx(t))
		if cerr == nil || len(evs) != 2 || evs[1].Committed || !errors.Is(evs[1].Err, cerr) {
			t.Fatalf("conflict: %v, events %+v", cerr, evs)
		}

		rb, _ := c.Begin(testCtx(t), cb)
		if err := rb.Rollback(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[2].Committed || evs[2].Err != nil {
			t.Fatalf("rollback event %+v", evs)
		}

		pipe, _ := c.Begin(testCtx(t), cb, WithPipelined(PipelinedOptions{SyncResolve: true}))
		mustSet(t, pipe, p+"b", "1")
		if err := pipe.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if len(evs) != 4 || !evs[3].Committed || evs[3].Protocol != "pipelined" {
			t.Fatalf("pipelined event %+v", evs)
		}
	})
}
