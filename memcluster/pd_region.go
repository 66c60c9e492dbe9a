package memcluster

import (
	"bytes"
	"context"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

func (r *region) pdRegion() *pdpb.Region {
	return &pdpb.Region{Region: proto.Clone(r.meta).(*metapb.Region), Leader: proto.Clone(r.leaderPeer()).(*metapb.Peer)}
}

func (p *pdServer) regionResp(r *region) *pdpb.GetRegionResponse {
	if r == nil {
		return &pdpb.GetRegionResponse{Header: p.header()}
	}
	pr := r.pdRegion()
	return &pdpb.GetRegionResponse{Header: p.header(), Region: pr.Region, Leader: pr.Leader}
}

// GetRegion returns the region holding a region key.
func (p *pdServer) GetRegion(_ context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	_, r := p.c.locate(req.RegionKey)
	return p.regionResp(r), nil
}

// GetPrevRegion returns the region before the one holding a region key (none for the first).
func (p *pdServer) GetPrevRegion(_ context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	i, _ := p.c.locate(req.RegionKey)
	if i == 0 {
		return p.regionResp(nil), nil
	}
	return p.regionResp(p.c.regions[i-1]), nil
}

// GetRegionByID returns a region by ID, or an empty answer when it is unknown.
func (p *pdServer) GetRegionByID(_ context.Context, req *pdpb.GetRegionByIDRequest) (*pdpb.GetRegionResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	_, r := p.c.regionByID(req.RegionId)
	return p.regionResp(r), nil
}

// scanLocked returns up to limit regions overlapping [start, end). Callers hold mu.
func (p *pdServer) scanLocked(start, end []byte, limit int) []*region {
	var out []*region
	for i, _ := p.c.locate(start); i < len(p.c.regions); i++ {
		r := p.c.regions[i]
		if len(end) > 0 && bytes.Compare(r.meta.StartKey, end) >= 0 {
			break
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, r)
	}
	return out
}

// ScanRegions lists regions from a region key.
func (p *pdServer) ScanRegions(_ context.Context, req *pdpb.ScanRegionsRequest) (*pdpb.ScanRegionsResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	resp := &pdpb.ScanRegionsResponse{Header: p.header()}
	for _, r := range p.scanLocked(req.StartKey, req.EndKey, int(req.Limit)) {
		pr := r.pdRegion()
		resp.Regions = append(resp.Regions, pr)
		resp.RegionMetas = append(resp.RegionMetas, pr.Region)
		resp.Leaders = append(resp.Leaders, pr.Leader)
	}
	return resp, nil
}

// BatchScanRegions lists the regions overlapping several ordered ranges, each once.
func (p *pdServer) BatchScanRegions(_ context.Context, req *pdpb.BatchScanRegionsRequest) (*pdpb.BatchScanRegionsResponse, error) {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	resp := &pdpb.BatchScanRegionsResponse{Header: p.header()}
	seen := map[uint64]bool{}
	for _, rg := range req.Ranges {
		for _, r := range p.scanLocked(rg.StartKey, rg.EndKey, 0) {
			if req.Limit > 0 && len(resp.Regions) >= int(req.Limit) {
				return resp, nil
			}
			if !seen[r.meta.Id] {
				seen[r.meta.Id] = true
				resp.Regions = append(resp.Regions, r.pdRegion())
			}
		}
	}
	return resp, nil
}

// QueryRegion serves the region router stream: each request looks up regions by key,
// previous key and ID in one round trip.
func (p *pdServer) QueryRegion(stream pdpb.PD_QueryRegionServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		resp := p.queryRegion(req)
		if err := stream.Send(resp); err != nil {
			return nil
		}
	}
}

func (p *pdServer) queryRegion(req *pdpb.QueryRegionRequest) *pdpb.QueryRegionResponse {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	resp := &pdpb.QueryRegionResponse{Header: p.header(), RegionsById: map[uint64]*pdpb.RegionResponse{}}
	add := func(r *region) uint64 {
		if r == nil {
			return 0
		}
		pr := r.pdRegion()
		resp.RegionsById[r.meta.Id] = &pdpb.RegionResponse{Region: pr.Region, Leader: pr.Leader}
		return r.meta.Id
	}
	for _, k := range req.Keys {
		_, r := p.c.locate(k)
		resp.KeyIdMap = append(resp.KeyIdMap, add(r))
	}
	for _, k := range req.PrevKeys {
		var r *region
		if i, _ := p.c.locate(k); i > 0 {
			r = p.c.regions[i-1]
		}
		resp.PrevKeyIdMap = append(resp.PrevKeyIdMap, add(r))
	}
	for _, id := range req.Ids {
		_, r := p.c.regionByID(id)
		add(r)
	}
	return resp
}

// SplitRegions splits at region keys and reports the new regions.
func (p *pdServer) SplitRegions(_ context.Context, req *pdpb.SplitRegionsRequest) (*pdpb.SplitRegionsResponse, error) {
	ids, err := p.c.Split(req.SplitKeys...)
	if err != nil {
		return &pdpb.SplitRegionsResponse{Header: p.errHeader(pdpb.ErrorType_UNKNOWN, err.Error())}, nil
	}
	return &pdpb.SplitRegionsResponse{Header: p.header(), FinishedPercentage: 100, RegionsId: ids}, nil
}

// SplitAndScatterRegions splits at region keys; scattering is immediate (leaders are
// already spread over the stores).
func (p *pdServer) SplitAndScatterRegions(_ context.Context, req *pdpb.SplitAndScatterRegionsRequest) (*pdpb.SplitAndScatterRegionsResponse, error) {
	ids, err := p.c.Split(req.SplitKeys...)
	if err != nil {
		return &pdpb.SplitAndScatterRegionsResponse{Header: p.errHeader(pdpb.ErrorType_UNKNOWN, err.Error())}, nil
	}
	return &pdpb.SplitAndScatterRegionsResponse{Header: p.header(), SplitFinishedPercentage: 100, ScatterFinishedPercentage: 100, RegionsId: ids}, nil
}

// ScatterRegion reports success: regions' peers already span the stores.
func (p *pdServer) ScatterRegion(context.Context, *pdpb.ScatterRegionRequest) (*pdpb.ScatterRegionResponse, error) {
	return &pdpb.ScatterRegionResponse{Header: p.header(), FinishedPercentage: 100}, nil
}

// GetOperator reports that no operator runs on the region (scatter and split finish at
// once), unless a test set one running (Cluster.SetScatterRunning).
func (p *pdServer) GetOperator(_ context.Context, req *pdpb.GetOperatorRequest) (*pdpb.GetOperatorResponse, error) {
	if p.c.scatter.poll(req.RegionId) {
		return &pdpb.GetOperatorResponse{Header: p.header(), RegionId: req.RegionId, Desc: []byte("scatter-region"),
			Status: pdpb.OperatorStatus_RUNNING}, nil
	}
	return &pdpb.GetOperatorResponse{Header: p.header(), RegionId: req.RegionId, Status: pdpb.OperatorStatus_SUCCESS}, nil
}
