// Command devcluster-pdshim puts the newest PD gRPC API in front of the
// 2024 PD server of the development cluster. It implements the RPCs that
// PD version lacks and forwards every other call byte for byte:
//
//   - the region router stream QueryRegion and BatchScanRegions, served
//     from PD's GetRegion / GetPrevRegion / GetRegionByID / ScanRegions;
//   - the 2025 GC API (GetGCState, AdvanceTxnSafePoint,
//     AdvanceGCSafePoint, SetGCBarrier, DeleteGCBarrier), kept in memory per
//     keyspace, with the GC safe point also pushed to PD's UpdateGCSafePoint
//     so that the stores see it;
//   - GetMembers is rewritten so that clients keep talking to the shim.
//
// The global GC barriers and GetAllKeyspacesGCStates are forwarded and so
// answer Unimplemented. SIGINT and SIGTERM stop the shim.
package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// frame is one undecoded gRPC message.
type frame struct{ data []byte }

// rawCodec moves frames without decoding them. It is named "proto" so that
// the content type on the wire stays the one clients and PD expect.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("raw codec: unexpected %T", v)
	}
	return f.data, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("raw codec: unexpected %T", v)
	}
	f.data = append(f.data[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// handler serves one overridden method on a raw server stream.
type handler func(ss grpc.ServerStream) error

// shim owns the upstream connection and the GC state.
type shim struct {
	up        *grpc.ClientConn
	selfURL   string
	overrides map[string]handler
	gc        *gcStates
}

// serve is the grpc.UnknownServiceHandler: every call arrives here.
func (s *shim) serve(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "no method in stream")
	}
	if h, ok := s.overrides[method]; ok {
		return h(ss)
	}
	return s.forward(ss, method)
}

// forward relays a call of any shape to PD. The request-relaying goroutine
// belongs to the server stream: it ends when the client half-closes or when
// the stream is torn down after this method returns.
func (s *shim) forward(ss grpc.ServerStream, method string) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = metadata.NewOutgoingContext(ctx, md.Copy())
	}
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	cs, err := s.up.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	var once sync.Once
	go func() {
		for {
			var f frame
			if err := ss.RecvMsg(&f); err != nil {
				if err == io.EOF {
					_ = cs.CloseSend()
				} else {
					once.Do(cancel)
				}
				return
			}
			if err := cs.SendMsg(&f); err != nil {
				return
			}
		}
	}()
	if hdr, err := cs.Header(); err == nil && len(hdr) > 0 {
		_ = ss.SendHeader(hdr)
	}
	for {
		var f frame
		if err := cs.RecvMsg(&f); err != nil {
			ss.SetTrailer(cs.Trailer())
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(&f); err != nil {
			return err
		}
	}
}

// marshaler and unmarshaler are the gogo-protobuf methods of kvproto types.
type marshaler interface{ Marshal() ([]byte, error) }
type unmarshaler interface{ Unmarshal([]byte) error }

// recvInto reads one frame from ss into msg.
func recvInto(ss grpc.ServerStream, msg unmarshaler) error {
	var f frame
	if err := ss.RecvMsg(&f); err != nil {
		return err
	}
	return msg.Unmarshal(f.data)
}

// sendFrom writes msg to ss.
func sendFrom(ss grpc.ServerStream, msg marshaler) error {
	b, err := msg.Marshal()
	if err != nil {
		return err
	}
	return ss.SendMsg(&frame{data: b})
}

// unary adapts a typed unary implementation to a raw handler.
func unary[Req unmarshaler, Resp marshaler](newReq func() Req, fn func(context.Context, Req) (Resp, error)) handler {
	return func(ss grpc.ServerStream) error {
		req := newReq()
		if err := recvInto(ss, req); err != nil {
			return err
		}
		resp, err := fn(ss.Context(), req)
		if err != nil {
			return err
		}
		return sendFrom(ss, resp)
	}
}
