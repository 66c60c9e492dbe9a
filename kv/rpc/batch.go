package rpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvsql/tikvsql/kv"
	"google.golang.org/grpc/codes"
)

// batchConn is the batch client of one store (or of one store reached through a proxy):
// a queue, one send loop and one stream per connection. The send loop is the only
// goroutine that takes entries off the queue, chooses streams and sends.
type batchConn struct {
	c     *Client
	st    *store
	addr  string // the store's advertised address (the proxy's when forwarding)
	host  string // the forwarded-to store, or ""
	q     *queue
	strms []*stream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	inflightNormal atomic.Int64 // normal-priority entries sent and not yet answered
	inflightAll    atomic.Int64 // all entries sent and not yet answered
	callers        atomic.Int64 // callers inside sendBatched for this batchConn
	lastUse        atomic.Int64 // Client.now() of the last call (forwarded batch clients only)
	reaped         atomic.Bool  // closed for idleness; callers look up a new one
	load           atomic.Uint64
	health         atomic.Pointer[kvrpcpb.HealthFeedback]
	messages       atomic.Uint64 // BatchCommands messages sent
	requests       atomic.Uint64 // requests sent in them

	// send-loop state
	rr          int
	batch       []*entry
	out         outFrame
	lastHead    time.Time
	avgInterval float64 // EWMA of the time between batch heads, in ns
	avgSize     float64 // EWMA of batch sizes
	timer       *time.Timer
}

func newBatchConn(c *Client, st *store, host string) *batchConn {
	ctx, cancel := context.WithCancel(c.ctx)
	b := &batchConn{c: c, st: st, addr: st.addr, host: host, q: newQueue(), ctx: ctx, cancel: cancel}
	b.lastUse.Store(c.now())
	for _, cc := range st.conns {
		b.strms = append(b.strms, &stream{b: b, conn: cc, table: make(map[uint64]*entry)})
	}
	b.wg.Add(1 + len(b.strms))
	c.loops.Add(1 + len(b.strms))
	go b.sendLoop()
	for _, s := range b.strms {
		go s.run()
	}
	return b
}

// shutdown stops the loops and waits for them. Pending requests fail with kv.ErrClosed.
func (b *batchConn) shutdown() {
	b.cancel()
	b.wg.Wait()
}

// closedErr is the error of requests cut off by shutdown: kv.ErrClosed when the Client
// is closing, else (CloseStore) a *StoreError, which callers may retry.
func (b *batchConn) closedErr(maybeSent bool) error {
	if b.c.closing.Load() {
		return fmt.Errorf("rpc: store %s: %w", b.addr, kv.ErrClosed)
	}
	return &StoreError{Addr: b.addr, Code: codes.Unavailable, Reason: "connection closed by CloseStore", MaybeSent: maybeSent}
}

// sendLoop takes requests off the queue and sends them (see the package documentation).
func (b *batchConn) sendLoop() {
	defer b.c.loops.Done()
	defer b.wg.Done()
	tick := time.NewTicker(b.c.cfg.SweepInterval)
	defer tick.Stop()
	b.timer = time.NewTimer(time.Hour)
	b.timer.Stop()
	var high, normal []*entry
	for {
		select {
		case <-b.q.notify:
		case <-tick.C:
			b.sweep()
			if b.idle(len(high) + len(normal)) {
				b.reap()
				return
			}
		case <-b.ctx.Done():
			b.failAll(append(append(high, normal...), b.q.close()...), b.closedErr(false))
			return
		}
		high, normal = b.q.drain(high, normal)
		if n := len(high) + len(normal); n > 0 && n < b.c.cfg.MaxBatchSize {
			switch {
			case b.overloaded(): // overload.go
				high, normal = b.waitOverloaded(high, normal)
			case b.shouldWait():
				high, normal = b.waitMore(high, normal)
			}
		}
		high, normal = b.flush(high, normal)
	}
}

// shouldWait updates the arrival statistics and reports whether to wait for more
// requests: always (BatchAlwaysWait), never (BatchNoWait), or while heads arrive less
// than BatchWait apart on average (BatchAdaptive).
func (b *batchConn) shouldWait() bool {
	switch b.c.cfg.BatchPolicy {
	case BatchNoWait:
		return false
	case BatchAlwaysWait:
		return true
	}
	now := time.Now()
	wait := float64(b.c.cfg.BatchWait)
	iv := math.Min(float64(now.Sub(b.lastHead)), 5*wait)
	b.lastHead = now
	b.avgInterval = 0.2*iv + 0.8*b.avgInterval
	return b.avgInterval < 0.8*wait
}

// waitMore waits up to BatchWait for the batch to reach its expected size.
func (b *batchConn) waitMore(high, normal []*entry) ([]*entry, []*entry) {
	// One more than the usual size, so that batches can grow while requests keep coming.
	target := int(math.Ceil(b.avgSize)) + 1
	target = min(max(target, 2), b.c.cfg.MaxBatchSize)
	// The adaptive policy waits only while some caller is neither queued nor in flight:
	// with few callers, no one else can arrive, and waiting would only add latency.
	adaptive := b.c.cfg.BatchPolicy == BatchAdaptive
	return b.collect(high, normal, b.c.cfg.BatchWait, func(n int) bool {
		return n >= target || adaptive && b.callers.Load()-b.inflightAll.Load() <= int64(n)
	})
}

// collect adds queued requests to high and normal until enough says so for their
// count, d has passed or the batch client stops.
func (b *batchConn) collect(high, normal []*entry, d time.Duration, enough func(n int) bool) ([]*entry, []*entry) {
	b.timer.Reset(d)
	defer b.timer.Stop()
	for !enough(len(high) + len(normal)) {
		select {
		case <-b.q.notify:
			high, normal = b.q.drain(high, normal)
		case <-b.timer.C:
			return b.q.drain(high, normal)
		case <-b.ctx.Done():
			return high, normal
		}
	}
	return high, normal
}

// prune drops entries whose callers left (recycling them) or whose deadline passed.
func (b *batchConn) prune(list []*entry, now int64) []*entry {
	out := list[:0]
	for _, e := range list {
		switch {
		case e.state.Load() == stateAbandoned:
			b.c.entries.put(e)
		case e.deadline != 0 && now >= e.deadline:
			b.c.entries.finish(e, context.DeadlineExceeded)
		default:
			out = append(out, e)
			continue
		}
	}
	clear(list[len(out):])
	return out
}

// flush sends as much of high and normal as streams and the in-flight limit allow, in
// messages of at most MaxBatchSize, high priority first. It returns what is left.
func (b *batchConn) flush(high, normal []*entry) ([]*entry, []*entry) {
	now := b.c.now()
	high, normal = b.prune(high, now), b.prune(normal, now)
	hi, ni := 0, 0
	for hi < len(high) || ni < len(normal) {
		s, failErr := b.pick()
		if s == nil {
			if failErr != nil {
				b.failAll(high[hi:], failErr)
				b.failAll(normal[ni:], failErr)
				hi, ni = len(high), len(normal)
			}
			break
		}
		batch := b.batch[:0]
		k := min(len(high)-hi, b.c.cfg.MaxBatchSize)
		batch = append(batch, high[hi:hi+k]...)
		hi += k
		room := b.c.cfg.MaxBatchSize - len(batch)
		if lim := b.c.cfg.MaxInflightRequests; lim > 0 {
			room = min(room, lim-int(b.inflightNormal.Load()))
		}
		if room > 0 && ni < len(normal) {
			k = min(len(normal)-ni, room)
			batch = append(batch, normal[ni:ni+k]...)
			ni += k
		}
		if len(batch) == 0 {
			break // only normal requests left, and the in-flight limit is reached
		}
		b.send(s, batch)
		clear(batch)
		b.batch = batch[:0]
	}
	return compact(high, hi), compact(normal, ni)
}

// compact moves list[from:] to the front and clears the rest.
func compact(list []*entry, from int) []*entry {
	n := copy(list, list[from:])
	clear(list[n:])
	return list[:n]
}

// send sends batch on s, or on another stream if s stopped being ready meanwhile.
func (b *batchConn) send(s *stream, batch []*entry) {
	for range len(b.strms) {
		if err := s.send(batch); err == nil {
			b.avgSize = 0.2*float64(len(batch)) + 0.8*b.avgSize
			return
		}
		if s, _ = b.pick(); s == nil {
			break
		}
	}
	b.failAll(batch, &StoreError{Addr: b.addr, Code: codes.Unavailable, Reason: "no ready stream"})
}

// pick returns a ready stream, round-robin. When none is ready it returns the error of
// the last failure if every stream has failed since it was last ready (requests fail
// fast), or nil while some stream is still connecting (requests wait).
func (b *batchConn) pick() (*stream, error) {
	var failErr error
	failed := 0
	for range len(b.strms) {
		s := b.strms[b.rr%len(b.strms)]
		b.rr++
		ready, err := s.status()
		if ready {
			return s, nil
		}
		if err != nil {
			failed++
			failErr = err
		}
	}
	if failed == len(b.strms) {
		return nil, notSent(failErr)
	}
	return nil, nil
}

// failAll completes entries that were never sent with err.
func (b *batchConn) failAll(list []*entry, err error) {
	for _, e := range list {
		b.c.entries.finish(e, err)
	}
	clear(list)
}

// sweep reclaims abandoned entries from the streams' in-flight tables.
func (b *batchConn) sweep() {
	for _, s := range b.strms {
		s.sweep()
	}
}

// released is called when total entries, normal of them of normal priority, left an
// in-flight table.
func (b *batchConn) released(total, normal int) {
	if total == 0 {
		return
	}
	b.inflightAll.Add(int64(-total))
	b.inflightNormal.Add(int64(-normal))
	if normal == 0 {
		return
	}
	if b.c.cfg.MaxInflightRequests > 0 {
		b.q.wake()
	}
}

// notSent returns err for a request that never left the client.
func notSent(err error) error {
	if se, ok := err.(*StoreError); ok && se.MaybeSent {
		cp := *se
		cp.MaybeSent = false
		return &cp
	}
	return err
}

// errReaped fails requests that raced with the reaping of an idle forwarded batch
// client; Call retries them on a new one.
var errReaped = errors.New("rpc: idle forwarded stream closed")

// idle reports whether a forwarded batch client has had no calls for
// Config.ForwardIdleTimeout and has nothing pending or in flight.
func (b *batchConn) idle(pending int) bool {
	t := b.c.cfg.ForwardIdleTimeout
	return b.host != "" && t > 0 && pending == 0 && b.inflightAll.Load() == 0 &&
		b.c.now()-b.lastUse.Load() > int64(t)
}

// reap removes an idle forwarded batch client from its store and stops it; called by
// its own send loop, which returns right after. Its streams exit on their own; the
// Client's loops group still owns them.
func (b *batchConn) reap() {
	b.st.mu.Lock()
	if b.st.forwarded[b.host] == b {
		delete(b.st.forwarded, b.host)
	}
	b.st.mu.Unlock()
	b.reaped.Store(true)
	b.cancel()
	b.failAll(b.q.close(), errReaped)
}
