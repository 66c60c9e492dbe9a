package memcluster

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
)

// pdServer is the cluster's PD: it answers from the cluster's own topology, so there is
// no heartbeat lag between a split or leader move and what PD reports.
type pdServer struct {
	pdpb.UnimplementedPDServer
	c    *Cluster
	addr string
	srv  *grpc.Server
	done chan struct{}

	tso  tsoState
	meta *pdMeta
}

// newPDServer listens on 127.0.0.1 and serves PD and keyspace services.
func newPDServer(c *Cluster) (*pdServer, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("memcluster: PD listen: %w", err)
	}
	p := &pdServer{c: c, addr: lis.Addr().String(), srv: newGRPCServer(), done: make(chan struct{}), meta: newPDMeta()}
	pdpb.RegisterPDServer(p.srv, p)
	keyspacepb.RegisterKeyspaceServer(p.srv, &keyspaceServer{p: p})
	meta_storagepb.RegisterMetaStorageServer(p.srv, &metaStorageServer{p: p})
	registerEtcdKV(p.srv, p)
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(lis)
	}()
	return p, nil
}

func (p *pdServer) stop() {
	p.srv.Stop()
	<-p.done
}

func (p *pdServer) header() *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: p.c.opts.ClusterID}
}

func (p *pdServer) errHeader(t pdpb.ErrorType, msg string) *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: p.c.opts.ClusterID, Error: &pdpb.Error{Type: t, Message: msg}}
}

func (p *pdServer) member() *pdpb.Member {
	url := "http://" + p.addr
	return &pdpb.Member{Name: "memcluster-pd", MemberId: 1, ClientUrls: []string{url}, PeerUrls: []string{url}}
}

// GetClusterInfo reports a plain PD (TSO served by PD itself).
func (p *pdServer) GetClusterInfo(context.Context, *pdpb.GetClusterInfoRequest) (*pdpb.GetClusterInfoResponse, error) {
	return &pdpb.GetClusterInfoResponse{Header: p.header(), ServiceModes: []pdpb.ServiceMode{pdpb.ServiceMode_PD_SVC_MODE}}, nil
}

// GetMembers reports the single PD member, which is the leader.
func (p *pdServer) GetMembers(context.Context, *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	m := p.member()
	return &pdpb.GetMembersResponse{Header: p.header(), Members: []*pdpb.Member{m}, Leader: m, EtcdLeader: m}, nil
}

// IsBootstrapped reports true: the cluster is bootstrapped at construction.
func (p *pdServer) IsBootstrapped(context.Context, *pdpb.IsBootstrappedRequest) (*pdpb.IsBootstrappedResponse, error) {
	return &pdpb.IsBootstrappedResponse{Header: p.header(), Bootstrapped: true}, nil
}

// Bootstrap answers ALREADY_BOOTSTRAPPED.
func (p *pdServer) Bootstrap(context.Context, *pdpb.BootstrapRequest) (*pdpb.BootstrapResponse, error) {
	return &pdpb.BootstrapResponse{Header: p.errHeader(pdpb.ErrorType_ALREADY_BOOTSTRAPPED, "cluster is already bootstrapped")}, nil
}

// AllocID hands out a cluster-unique ID.
func (p *pdServer) AllocID(context.Context, *pdpb.AllocIDRequest) (*pdpb.AllocIDResponse, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return &pdpb.AllocIDResponse{Header: p.header(), Id: p.c.allocID(), Count: 1}, nil
}

func (p *pdServer) storeMeta(s *store) *metapb.Store {
	st := metapb.StoreState_Up
	return &metapb.Store{Id: s.id, Address: s.addr, State: st, NodeState: metapb.NodeState_Serving, Version: "8.5.0"}
}

// GetStore returns one store's metadata.
func (p *pdServer) GetStore(_ context.Context, req *pdpb.GetStoreRequest) (*pdpb.GetStoreResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	s, ok := p.c.stores[req.StoreId]
	if !ok {
		return &pdpb.GetStoreResponse{Header: p.errHeader(pdpb.ErrorType_UNKNOWN, fmt.Sprintf("invalid store ID %d, not found", req.StoreId))}, nil
	}
	return &pdpb.GetStoreResponse{Header: p.header(), Store: p.storeMeta(s), Stats: &pdpb.StoreStats{StoreId: s.id}}, nil
}

// GetAllStores returns every store.
func (p *pdServer) GetAllStores(context.Context, *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	resp := &pdpb.GetAllStoresResponse{Header: p.header()}
	for _, id := range p.c.storeIDs() {
		resp.Stores = append(resp.Stores, p.storeMeta(p.c.stores[id]))
	}
	return resp, nil
}

// StoreHeartbeat accepts and ignores store heartbeats.
func (p *pdServer) StoreHeartbeat(context.Context, *pdpb.StoreHeartbeatRequest) (*pdpb.StoreHeartbeatResponse, error) {
	return &pdpb.StoreHeartbeatResponse{Header: p.header()}, nil
}

// GetMinTS returns the smallest timestamp any TSO allocator may still hand out: here, the
// current TSO.
func (p *pdServer) GetMinTS(context.Context, *pdpb.GetMinTSRequest) (*pdpb.GetMinTSResponse, error) {
	ts := p.tso.next(p.c.clock, 1)
	return &pdpb.GetMinTSResponse{Header: p.header(), Timestamp: ts}, nil
}

// Tso serves the TSO stream: each request of count N gets the largest of N consecutive
// timestamps, as PD does.
func (p *pdServer) Tso(stream pdpb.PD_TsoServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if req.Count == 0 {
			return fmt.Errorf("memcluster: tso request with count 0")
		}
		ts := p.tso.next(p.c.clock, req.Count)
		if err := stream.Send(&pdpb.TsoResponse{Header: p.header(), Count: req.Count, Timestamp: ts}); err != nil {
			return nil
		}
	}
}

// pdMeta holds PD's own state beyond the topology: keyspaces and GC state. It is safe
// for concurrent use.
type pdMeta struct {
	mu        sync.Mutex
	keyspaces map[string]*keyspacepb.KeyspaceMeta
	nextKS    uint32
	gc        map[uint32]*gcState // by keyspace ID; nullKeyspace for the cluster-wide state
	watchers  map[chan struct{}]bool
}

func newPDMeta() *pdMeta {
	m := &pdMeta{keyspaces: map[string]*keyspacepb.KeyspaceMeta{}, nextKS: 1, gc: map[uint32]*gcState{}, watchers: map[chan struct{}]bool{}}
	m.keyspaces["DEFAULT"] = &keyspacepb.KeyspaceMeta{
		Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 0}, Name: "DEFAULT", State: keyspacepb.KeyspaceState_ENABLED,
	}
	return m
}
