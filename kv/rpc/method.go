package rpc

//go:generate go run gen_methods.go

import (
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Method describes one TiKV RPC with its request type Req and response type Resp (both
// kvproto pointer types): its gRPC path, whether and how the BatchCommands stream carries
// it, how to allocate a response and where the request keeps its kvrpcpb.Context.
// Methods are immutable and safe for concurrent use; the package defines one for every
// command a client sends (KvGet, KvPrewrite, RawPut, SplitRegion, ...). Call them with
// Call.
type Method[Req, Resp Message] struct {
	name       string
	path       string
	batchField fieldNum // 0: unary only
	newResp    func() Resp
	reqContext func(Req) **kvrpcpb.Context // nil: the request has no Context
}

// Name is the gRPC method name, such as "KvGet".
func (m *Method[Req, Resp]) Name() string { return m.name }

// Batched reports whether the BatchCommands stream carries the method.
func (m *Method[Req, Resp]) Batched() bool { return m.batchField != 0 }

// RegionError returns the region error of a kvproto response, or nil when it has none or
// its type carries none. Every kvproto response that can fail on a region has a
// GetRegionError method; this reads it without knowing the type.
func RegionError(resp any) *errorpb.Error {
	if r, ok := resp.(interface{ GetRegionError() *errorpb.Error }); ok {
		return r.GetRegionError()
	}
	return nil
}
