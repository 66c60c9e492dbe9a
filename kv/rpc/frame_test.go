package rpc

import (
	"bytes"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/mem"
)

// The hand-written frames agree with the generated kvproto types.
func TestFrameRoundTrip(t *testing.T) {
	pool := mem.DefaultBufferPool()
	var entries []*entry
	for i, key := range []string{"a", "bb", string(make([]byte, 300))} {
		e := &entry{}
		var err error
		if i == 1 {
			e.inner, err = encodeInner(nil, KvGet.batchField, &kvrpcpb.GetRequest{Key: []byte(key), Version: 9})
		} else {
			e.inner, err = encodeInner(nil, RawGet.batchField, &kvrpcpb.RawGetRequest{Key: []byte(key), Cf: "default"})
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	buf := encodeFrame(pool, entries, 1<<40, 12345)
	var req tikvpb.BatchCommandsRequest
	if err := req.Unmarshal(buf.ReadOnlyData()); err != nil {
		t.Fatal(err)
	}
	buf.Free()
	if len(req.Requests) != 3 || req.RequestIds[2] != 1<<40+2 || req.ClientSendTimeNs != 12345 ||
		string(req.Requests[0].GetRawGet().Key) != "a" || req.Requests[1].GetGet().Version != 9 ||
		len(req.Requests[2].GetRawGet().Key) != 300 {
		t.Fatalf("decoded %+v", req)
	}

	resp := tikvpb.BatchCommandsResponse{
		Responses: []*tikvpb.BatchCommandsResponse_Response{
			{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: &kvrpcpb.RawGetResponse{Value: []byte("v1")}}},
			{Cmd: &tikvpb.BatchCommandsResponse_Response_Get{Get: &kvrpcpb.GetResponse{Value: []byte("v2")}}},
		},
		RequestIds: []uint64{7, 300}, TransportLayerLoad: 5, HealthFeedback: &kvrpcpb.HealthFeedback{StoreId: 3},
		TikvSendTimeNs: 99,
	}
	data, err := resp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var f respFrame
	if err := f.parse(data); err != nil {
		t.Fatal(err)
	}
	if len(f.ids) != 2 || f.ids[1] != 300 || f.load != 5 || f.health.StoreId != 3 {
		t.Fatalf("parsed %+v", f)
	}
	var r1 kvrpcpb.RawGetResponse
	if err := decodeBody(f.bodies[0], RawGet.batchField, &r1); err != nil || string(r1.Value) != "v1" {
		t.Fatalf("body 0: %v %q", err, r1.Value)
	}
	if err := decodeBody(f.bodies[1], RawGet.batchField, &r1); err == nil {
		t.Fatal("wrong command accepted")
	}
	// Truncated frames are rejected, never panic.
	for i := range data {
		var g respFrame
		_ = g.parse(data[:i])
	}
	for _, bad := range [][]byte{{0x0a, 0x05}, {0x12, 0x02, 0xff}, {0x00}, {0x0b}, {0x0a, 0x00}} {
		var g respFrame
		if err := g.parse(bad); err == nil {
			t.Errorf("parse(%x) accepted", bad)
		}
	}
	if err := decodeBody([]byte{0x08, 0x01}, 13, &r1); err == nil {
		t.Fatal("varint body accepted")
	}
}

func TestWireHelpers(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 1 << 14, 1<<63 + 5} {
		b := appendTag(nil, 1, wireVarint)
		b = append(b[:0], 0)
		_ = b
		enc := appendBytes(nil, bytes.Repeat([]byte{1}, int(v%300)))
		if got, n := consumeBytes(enc); n != len(enc) || len(got) != int(v%300) {
			t.Fatalf("bytes round trip %d", v)
		}
		var vb []byte
		vb = append(vb, make([]byte, 0)...)
		vb = appendVarintForTest(vb, v)
		if sizeVarint(v) != len(vb) {
			t.Fatalf("sizeVarint(%d) = %d, want %d", v, sizeVarint(v), len(vb))
		}
	}
	for typ, b := range map[int][]byte{wireI64: make([]byte, 8), wireI32: make([]byte, 4), wireVarint: {1}, wireBytes: {1, 0}} {
		if skipField(typ, b) != len(b) || skipField(typ, nil) >= 0 {
			t.Fatalf("skipField type %d", typ)
		}
	}
	if skipField(3, []byte{1}) >= 0 {
		t.Fatal("group type accepted")
	}
	// Unknown fields of every type are skipped; unpacked ids are accepted.
	frame := []byte{0x29, 1, 2, 3, 4, 5, 6, 7, 8, 0x35, 1, 2, 3, 4, 0x10, 0x07}
	var f respFrame
	if err := f.parse(frame); err == nil || len(f.ids) != 1 {
		// one id without a body is malformed, but it must have been read
		t.Fatalf("parse: %v %v", err, f.ids)
	}
}

func appendVarintForTest(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
