package rpc

import (
	"sync"
	"sync/atomic"
)

// Entry states. An entry is owned by exactly one party at a time; the transitions below
// decide who recycles it.
const (
	statePending   int32 = iota // queued or in flight; the caller waits on done
	stateCompleted              // a completer won: it fills resp/err and sends on done
	stateAbandoned              // the caller gave up: whoever removes the entry recycles it
)

// entry is one request travelling through the batch client. Entries are pooled: the
// caller takes one, encodes its request into inner, queues it and waits on done. The
// completer (receive loop, stream failure, send loop) moves state from pending to
// completed and signals done; the caller then reads err and recycles the entry. If the
// caller moved it to abandoned first (its ctx ended), the completer recycles it instead.
// Entries in flight are found by id in their stream's table; the party that removes an
// entry from the table owns it from then on.
type entry struct {
	state    atomic.Int32
	done     chan struct{} // capacity 1; exactly one send per use when completed
	inner    []byte        // the encoded Request oneof message
	field    fieldNum
	resp     Message // decoded into by the completer
	err      error
	deadline int64 // nanoseconds since the client's epoch; 0: none
	high     bool
	sent     bool // reached a stream's Send (the server may have seen it)
}

// entryPool recycles entries of one Client.
type entryPool struct{ p sync.Pool }

func (p *entryPool) get() *entry {
	if e, ok := p.p.Get().(*entry); ok {
		return e
	}
	return &entry{done: make(chan struct{}, 1)}
}

func (p *entryPool) put(e *entry) {
	if cap(e.inner) > maxKeptEntryBuf {
		e.inner = nil
	}
	e.inner = e.inner[:0]
	e.resp, e.err, e.deadline, e.high, e.sent = nil, nil, 0, false, false
	e.state.Store(statePending)
	p.p.Put(e)
}

// complete tries to finish e with err. It reports whether it did; when it did not, the
// caller abandoned e and the completer must recycle it.
func (e *entry) complete(err error) bool {
	if !e.state.CompareAndSwap(statePending, stateCompleted) {
		return false
	}
	e.err = err
	e.done <- struct{}{}
	return true
}

// finish completes e with err, or recycles it when its caller left.
func (p *entryPool) finish(e *entry, err error) {
	if !e.complete(err) {
		p.put(e)
	}
}

// queue is the multi-producer, single-consumer queue of a batchConn, with two priority
// classes. Producers append under a mutex; the send loop swaps the slices out wholesale.
type queue struct {
	mu     sync.Mutex
	high   []*entry
	normal []*entry
	closed bool
	notify chan struct{} // capacity 1: "there is something new"
}

func newQueue() *queue { return &queue{notify: make(chan struct{}, 1)} }

// push queues e; it reports false when the queue is closed.
func (q *queue) push(e *entry) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if e.high {
		q.high = append(q.high, e)
	} else {
		q.normal = append(q.normal, e)
	}
	q.mu.Unlock()
	q.wake()
	return true
}

func (q *queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain appends every queued entry to high and normal and returns them.
func (q *queue) drain(high, normal []*entry) ([]*entry, []*entry) {
	q.mu.Lock()
	high = append(high, q.high...)
	normal = append(normal, q.normal...)
	clear(q.high)
	clear(q.normal)
	q.high, q.normal = q.high[:0], q.normal[:0]
	q.mu.Unlock()
	return high, normal
}

// close refuses further pushes and returns what was queued.
func (q *queue) close() []*entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	all := append(q.high, q.normal...)
	q.high, q.normal = nil, nil
	return all
}
