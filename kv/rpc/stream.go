package rpc

import (
	"errors"
	"sync"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

var batchStreamDesc = grpc.StreamDesc{StreamName: "BatchCommands", ServerStreams: true, ClientStreams: true}

const batchCommandsPath = "/tikvpb.Tikv/BatchCommands"

// stream is one BatchCommands stream of a batchConn, on one connection. Its goroutine
// (run) opens the stream, receives until it fails, fails the requests in flight on it,
// backs off and opens it again, until the batchConn stops. The send loop sends on it
// while it is ready. mu guards everything below it.
type stream struct {
	b    *batchConn
	conn *grpc.ClientConn

	mu      sync.Mutex
	cs      grpc.ClientStream // nil unless ready
	table   map[uint64]*entry // in flight, by request id
	nextID  uint64
	lastErr error // the failure since the stream was last ready, nil while connecting
}

// status reports whether s is ready, and otherwise its last failure.
func (s *stream) status() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs != nil, s.lastErr
}

var errStreamDown = errors.New("rpc: stream not ready")

// send encodes batch with fresh request ids, records it in flight and sends it. It fails
// only when the stream is not ready; a failing Send is noticed by the receive loop,
// which then fails the batch with the other requests in flight.
func (s *stream) send(batch []*entry) error {
	s.mu.Lock()
	cs := s.cs
	if cs == nil {
		s.mu.Unlock()
		return errStreamDown
	}
	first := s.nextID + 1
	s.nextID += uint64(len(batch))
	buf := encodeFrame(s.b.c.bufPool, batch, first, uint64(s.b.c.wallNow()))
	normal := 0
	for i, e := range batch {
		e.sent = true
		if !e.high {
			normal++
		}
		s.table[first+uint64(i)] = e
	}
	s.b.inflightNormal.Add(int64(normal))
	s.b.inflightAll.Add(int64(len(batch)))
	s.b.messages.Add(1) // counted before Send, so that Stats never lags an answer
	s.b.requests.Add(uint64(len(batch)))
	s.mu.Unlock()
	s.b.out.buf = buf
	if err := cs.SendMsg(&s.b.out); err != nil && s.b.out.buf != nil {
		s.b.out.buf.Free() // the codec never took it
	}
	s.b.out.buf = nil
	return nil
}

// run owns the stream's life (see the type comment).
func (s *stream) run() {
	defer s.b.c.loops.Done()
	defer s.b.wg.Done()
	var bo *backoff.Backoffer
	for {
		err := s.openAndServe()
		if s.b.ctx.Err() != nil {
			return
		}
		if bo == nil || err == nil {
			bo = backoff.New(0)
		}
		if bo.Backoff(s.b.ctx, backoff.TiKVRPC, err) != nil {
			return
		}
	}
}

// openAndServe opens the stream, serves it until it fails, then fails the requests in
// flight on it. It returns the failure.
func (s *stream) openAndServe() error {
	ctx := s.b.ctx
	if s.b.host != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, forwardedHostMetadataKey, s.b.host)
	}
	cs, err := s.conn.NewStream(ctx, &batchStreamDesc, batchCommandsPath)
	if err != nil {
		s.down(err, false)
		return err
	}
	s.mu.Lock()
	s.cs, s.lastErr = cs, nil
	s.mu.Unlock()
	s.b.q.wake()
	err = s.recvLoop(cs)
	s.down(err, true)
	return err
}

// down marks the stream not ready with err and fails every request in flight on it.
func (s *stream) down(err error, wasUp bool) {
	b := s.b
	closing := b.ctx.Err() != nil
	mapped := mapError(b.ctx, false, b.addr, err, true)
	if closing {
		mapped = b.closedErr(true)
	}
	s.mu.Lock()
	s.cs = nil
	s.lastErr = mapped
	var failed []*entry
	if wasUp {
		for id, e := range s.table {
			failed = append(failed, e)
			delete(s.table, id)
		}
	}
	s.mu.Unlock()
	normal := 0
	for _, e := range failed {
		if !e.high {
			normal++
		}
		b.c.entries.finish(e, mapped)
	}
	b.released(len(failed), normal)
	b.q.wake()
}

// recvLoop receives response frames and completes their entries until the stream fails.
func (s *stream) recvLoop(cs grpc.ClientStream) error {
	var in inFrame
	var f respFrame
	var found []*entry
	for {
		if err := cs.RecvMsg(&in); err != nil {
			return err
		}
		err := f.parse(in.buf.ReadOnlyData())
		if err != nil {
			in.buf.Free()
			return err
		}
		found = s.take(found[:0], f.ids)
		normal, total := 0, 0
		for i, e := range found {
			if e == nil {
				continue
			}
			total++
			if !e.high {
				normal++
			}
			if !e.state.CompareAndSwap(statePending, stateCompleted) {
				s.b.c.entries.put(e) // its caller left
				continue
			}
			e.err = decodeBody(f.bodies[i], e.field, e.resp)
			e.done <- struct{}{}
		}
		clear(found)
		in.buf.Free()
		s.b.load.Store(f.load)
		if f.health != nil {
			old := s.b.health.Swap(f.health)
			if cb := s.b.c.cfg.OnHealthFeedback; cb != nil && (old == nil || old.GetFeedbackSeqNo() != f.health.GetFeedbackSeqNo()) {
				cb(s.b.addr, f.health)
			}
		}
		f.reset()
		s.b.released(total, normal)
	}
}

// take removes the entries of ids from the in-flight table, in order (nil for unknown
// ids: requests already reclaimed).
func (s *stream) take(dst []*entry, ids []uint64) []*entry {
	s.mu.Lock()
	for _, id := range ids {
		e := s.table[id]
		if e != nil {
			delete(s.table, id)
		}
		dst = append(dst, e)
	}
	s.mu.Unlock()
	return dst
}

// sweep reclaims entries whose callers left.
func (s *stream) sweep() {
	var gone []*entry
	s.mu.Lock()
	for id, e := range s.table {
		if e.state.Load() == stateAbandoned {
			delete(s.table, id)
			gone = append(gone, e)
		}
	}
	s.mu.Unlock()
	normal := 0
	for _, e := range gone {
		if !e.high {
			normal++
		}
		s.b.c.entries.put(e)
	}
	s.b.released(len(gone), normal)
}
