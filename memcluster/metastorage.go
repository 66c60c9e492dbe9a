package memcluster

import (
	"context"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
)

// metaStorageServer answers PD's meta-storage service, which clients use to discover PD
// microservices (router, TSO). This PD runs none, so every lookup finds nothing and
// watches see no events; writes are not supported.
type metaStorageServer struct {
	meta_storagepb.UnimplementedMetaStorageServer
	p *pdServer
}

func (m *metaStorageServer) header() *meta_storagepb.ResponseHeader {
	return &meta_storagepb.ResponseHeader{ClusterId: m.p.c.opts.ClusterID}
}

// Get returns no entries.
func (m *metaStorageServer) Get(context.Context, *meta_storagepb.GetRequest) (*meta_storagepb.GetResponse, error) {
	return &meta_storagepb.GetResponse{Header: m.header()}, nil
}

// Watch sends no events and returns when the client leaves or the server stops.
func (m *metaStorageServer) Watch(_ *meta_storagepb.WatchRequest, stream meta_storagepb.MetaStorage_WatchServer) error {
	<-stream.Context().Done()
	return nil
}
