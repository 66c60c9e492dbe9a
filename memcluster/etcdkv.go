package memcluster

import (
	"context"

	"google.golang.org/grpc"
)

// client-go releases up to 8.5 read TiDB's saved GC safe point from PD's embedded etcd
// (key /tidb/store/gcworker/saved_safe_point) every few seconds, and refuse snapshot reads
// once that read has failed for 100 s. PD here has no etcd, so it answers etcd's KV.Range
// with an empty result (no saved safe point, i.e. 0). The messages are declared from the
// etcd wire format (etcdserverpb.RangeRequest/RangeResponse) rather than by importing etcd.

// etcdRangeRequest holds the fields of etcdserverpb.RangeRequest this server reads.
type etcdRangeRequest struct {
	Key      []byte `protobuf:"bytes,1,opt,name=key,proto3"`
	RangeEnd []byte `protobuf:"bytes,2,opt,name=range_end,json=rangeEnd,proto3"`
}

func (*etcdRangeRequest) Reset()         {}
func (*etcdRangeRequest) String() string { return "RangeRequest" }
func (*etcdRangeRequest) ProtoMessage()  {}

// etcdResponseHeader is etcdserverpb.ResponseHeader.
type etcdResponseHeader struct {
	ClusterId uint64 `protobuf:"varint,1,opt,name=cluster_id,json=clusterId,proto3"`
	MemberId  uint64 `protobuf:"varint,2,opt,name=member_id,json=memberId,proto3"`
	Revision  int64  `protobuf:"varint,3,opt,name=revision,proto3"`
	RaftTerm  uint64 `protobuf:"varint,4,opt,name=raft_term,json=raftTerm,proto3"`
}

func (*etcdResponseHeader) Reset()         {}
func (*etcdResponseHeader) String() string { return "ResponseHeader" }
func (*etcdResponseHeader) ProtoMessage()  {}

// GetClusterId returns the cluster ID (nil-safe).
func (h *etcdResponseHeader) GetClusterId() uint64 {
	if h == nil {
		return 0
	}
	return h.ClusterId
}

// etcdRangeResponse is etcdserverpb.RangeResponse without key-values (there are none).
type etcdRangeResponse struct {
	Header *etcdResponseHeader `protobuf:"bytes,1,opt,name=header,proto3"`
	More   bool                `protobuf:"varint,3,opt,name=more,proto3"`
	Count  int64               `protobuf:"varint,4,opt,name=count,proto3"`
}

func (*etcdRangeResponse) Reset()         {}
func (*etcdRangeResponse) String() string { return "RangeResponse" }
func (*etcdRangeResponse) ProtoMessage()  {}

// etcdKV is the handler type the service description below dispatches to.
type etcdKV interface {
	rangeKeys(context.Context, *etcdRangeRequest) (*etcdRangeResponse, error)
}

type etcdKVServer struct{ p *pdServer }

func (e *etcdKVServer) rangeKeys(context.Context, *etcdRangeRequest) (*etcdRangeResponse, error) {
	return &etcdRangeResponse{Header: &etcdResponseHeader{ClusterId: e.p.c.opts.ClusterID, MemberId: 1, Revision: 1, RaftTerm: 1}}, nil
}

// registerEtcdKV serves etcdserverpb.KV/Range on s.
func registerEtcdKV(s *grpc.Server, p *pdServer) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "etcdserverpb.KV",
		HandlerType: (*etcdKV)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Range",
			Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				req := new(etcdRangeRequest)
				if err := dec(req); err != nil {
					return nil, err
				}
				return srv.(etcdKV).rangeKeys(ctx, req)
			},
		}},
		Metadata: "rpc.proto",
	}, &etcdKVServer{p: p})
}
