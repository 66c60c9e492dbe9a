package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/mem"
)

// The BatchCommands messages are written and read here by hand, so that neither side
// allocates the per-request oneof wrappers of the generated types:
//
//	BatchCommandsRequest  { repeated Request requests = 1; repeated uint64 request_ids = 2 [packed];
//	                        uint64 client_send_time_ns = 3; }
//	Request               { oneof cmd { GetRequest get = 1; ...; BroadcastTxnStatusRequest ... = 40; } }
//	BatchCommandsResponse { repeated Response responses = 1; repeated uint64 request_ids = 2 [packed];
//	                        uint64 transport_layer_load = 3; HealthFeedback health_feedback = 4;
//	                        uint64 tikv_send_time_ns = 5; }
//
// A caller encodes its request as one complete Request message (tag of its oneof field,
// length, payload) into the entry's own buffer (encodeInner), so the send loop only
// concatenates. TiKV answers each request id exactly once, in any order and in any
// response message.

const (
	fieldRequests   = 1
	fieldIDs        = 2
	fieldSendTime   = 3
	fieldLoad       = 3
	fieldHealth     = 4
	maxKeptEntryBuf = 64 << 10
)

// encodeInner appends the Request oneof message for req (its field number field) to dst.
func encodeInner(dst []byte, field fieldNum, req Message) ([]byte, error) {
	size := req.Size()
	dst = appendTag(dst, field, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(size))
	start := len(dst)
	dst = append(dst, make([]byte, size)...)
	n, err := req.MarshalToSizedBuffer(dst[start:])
	if err != nil {
		return dst[:0], err
	}
	if n != size {
		return dst[:0], fmt.Errorf("rpc: marshal %T: wrote %d of %d bytes", req, n, size)
	}
	return dst, nil
}

// frameSize returns the encoded size of a BatchCommandsRequest of entries with ids
// starting at firstID.
func frameSize(entries []*entry, firstID uint64, sendTime uint64) int {
	n, idBytes := 0, 0
	for i, e := range entries {
		l := len(e.inner)
		n += 1 + sizeVarint(uint64(l)) + l
		idBytes += sizeVarint(firstID + uint64(i))
	}
	n += 1 + sizeVarint(uint64(idBytes)) + idBytes
	return n + 1 + sizeVarint(sendTime)
}

// encodeFrame writes the BatchCommandsRequest for entries (ids firstID, firstID+1, ...)
// into a buffer from pool.
func encodeFrame(pool mem.BufferPool, entries []*entry, firstID, sendTime uint64) mem.Buffer {
	size := frameSize(entries, firstID, sendTime)
	bp := pool.Get(max(size, minPooledFrame))
	b := (*bp)[:0]
	for _, e := range entries {
		b = appendTag(b, fieldRequests, wireBytes)
		b = appendBytes(b, e.inner)
	}
	idBytes := 0
	for i := range entries {
		idBytes += sizeVarint(firstID + uint64(i))
	}
	b = appendTag(b, fieldIDs, wireBytes)
	b = binary.AppendUvarint(b, uint64(idBytes))
	for i := range entries {
		b = binary.AppendUvarint(b, firstID+uint64(i))
	}
	b = appendTag(b, fieldSendTime, wireVarint)
	b = binary.AppendUvarint(b, sendTime)
	*bp = b
	return mem.NewBuffer(bp, pool)
}

// respFrame is a parsed BatchCommandsResponse: sub-slices of the receive buffer.
type respFrame struct {
	bodies [][]byte // each one Response message (oneof field + payload)
	ids    []uint64
	load   uint64
	health *kvrpcpb.HealthFeedback
}

func (f *respFrame) reset() {
	clear(f.bodies)
	f.bodies, f.ids, f.load, f.health = f.bodies[:0], f.ids[:0], 0, nil
}

var errBadFrame = errors.New("rpc: malformed BatchCommandsResponse")

// parse fills f from an encoded BatchCommandsResponse.
func (f *respFrame) parse(b []byte) error {
	f.reset()
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return errBadFrame
		}
		b = b[n:]
		switch {
		case num == fieldRequests && typ == wireBytes:
			v, m := consumeBytes(b)
			if m < 0 {
				return errBadFrame
			}
			f.bodies, b = append(f.bodies, v), b[m:]
		case num == fieldIDs && typ == wireBytes:
			v, m := consumeBytes(b)
			if m < 0 {
				return errBadFrame
			}
			b = b[m:]
			for len(v) > 0 {
				id, k := consumeVarint(v)
				if k < 0 {
					return errBadFrame
				}
				f.ids, v = append(f.ids, id), v[k:]
			}
		case num == fieldIDs && typ == wireVarint: // unpacked encoding is legal too
			id, m := consumeVarint(b)
			if m < 0 {
				return errBadFrame
			}
			f.ids, b = append(f.ids, id), b[m:]
		case num == fieldLoad && typ == wireVarint:
			v, m := consumeVarint(b)
			if m < 0 {
				return errBadFrame
			}
			f.load, b = v, b[m:]
		case num == fieldHealth && typ == wireBytes:
			v, m := consumeBytes(b)
			if m < 0 {
				return errBadFrame
			}
			h := new(kvrpcpb.HealthFeedback)
			if err := h.Unmarshal(v); err != nil {
				return errBadFrame
			}
			f.health, b = h, b[m:]
		default:
			m := skipField(typ, b)
			if m < 0 {
				return errBadFrame
			}
			b = b[m:]
		}
	}
	if len(f.bodies) != len(f.ids) {
		return errBadFrame
	}
	return nil
}

// decodeBody unmarshals one Response message into resp, which must be the oneof field
// want.
func decodeBody(body []byte, want fieldNum, resp Message) error {
	num, typ, n := consumeTag(body)
	if n < 0 || typ != wireBytes {
		return errBadFrame
	}
	if num != want {
		return fmt.Errorf("rpc: batch response carries command %d, want %d", num, want)
	}
	v, m := consumeBytes(body[n:])
	if m < 0 {
		return errBadFrame
	}
	return resp.Unmarshal(v)
}
