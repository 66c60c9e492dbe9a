package rpc

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the fallback codec
	"google.golang.org/grpc/mem"
)

// Message is what kvproto's (gogoproto-generated) request and response types implement.
// The codec below uses these methods directly instead of protobuf reflection.
type Message interface {
	Size() int
	MarshalToSizedBuffer(dAtA []byte) (int, error)
	Unmarshal(dAtA []byte) error
}

// minPooledFrame is the smallest capacity asked of the buffer pool for an outgoing frame:
// gRPC returns buffers to the pool only above its pooling threshold (1 KiB).
const minPooledFrame = 2048

// wireCodec is the gRPC codec of every connection the Client makes. It marshals kvproto
// messages through their generated methods into pooled buffers, passes pre-encoded
// batch frames through without a copy, hands received batch frames over without
// decoding them, and falls back to the standard protobuf codec for anything else (the
// gRPC health service). kvproto's Unmarshal copies byte fields out of the input, so
// receive buffers are recycled safely.
type wireCodec struct {
	pool     mem.BufferPool
	fallback encoding.CodecV2
}

func newWireCodec(pool mem.BufferPool) *wireCodec {
	return &wireCodec{pool: pool, fallback: encoding.GetCodecV2("proto")}
}

// Name implements encoding.CodecV2. It is "proto": the bytes are standard protobuf.
func (*wireCodec) Name() string { return "proto" }

// Marshal implements encoding.CodecV2.
func (c *wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *outFrame:
		b := m.buf
		m.buf = nil
		return mem.BufferSlice{b}, nil
	case Message:
		size := m.Size()
		buf := c.pool.Get(size)
		n, err := m.MarshalToSizedBuffer((*buf)[:size])
		if err != nil {
			c.pool.Put(buf)
			return nil, err
		}
		if n != size {
			c.pool.Put(buf)
			return nil, fmt.Errorf("rpc: marshal %T: wrote %d of %d bytes", v, n, size)
		}
		return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
	}
	return c.fallback.Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (c *wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *inFrame:
		m.buf = data.MaterializeToBuffer(c.pool)
		return nil
	case Message:
		b := data.MaterializeToBuffer(c.pool)
		defer b.Free()
		return m.Unmarshal(b.ReadOnlyData())
	}
	return c.fallback.Unmarshal(data, v)
}

// outFrame is an encoded BatchCommandsRequest handed to the codec; the codec takes
// ownership of buf.
type outFrame struct{ buf mem.Buffer }

// inFrame receives an encoded BatchCommandsResponse; the receiver owns buf and frees it.
type inFrame struct{ buf mem.Buffer }
