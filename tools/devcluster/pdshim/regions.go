package main

import (
	"context"
	"io"
	"net/url"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
)

func (s *shim) pd() pdpb.PDClient { return pdpb.NewPDClient(s.up) }

// getMembers forwards GetMembers and points every client URL at the shim,
// so that clients that follow the PD leader keep using the shim.
func (s *shim) getMembers(ctx context.Context, req *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	resp, err := s.pd().GetMembers(ctx, req)
	if err != nil {
		return nil, err
	}
	rewrite := func(m *pdpb.Member) {
		if m != nil {
			m.ClientUrls = []string{s.selfURL}
		}
	}
	rewrite(resp.Leader)
	rewrite(resp.EtcdLeader)
	for _, m := range resp.Members {
		rewrite(m)
	}
	return resp, nil
}

// batchScanRegions serves BatchScanRegions with one ScanRegions per range.
// Regions are returned in key order without duplicates, at most Limit in
// total (0 = no limit).
func (s *shim) batchScanRegions(ctx context.Context, req *pdpb.BatchScanRegionsRequest) (*pdpb.BatchScanRegionsResponse, error) {
	resp := &pdpb.BatchScanRegionsResponse{}
	seen := map[uint64]bool{}
	limit := int(req.GetLimit())
	for _, r := range req.GetRanges() {
		left := int32(0)
		if limit > 0 {
			left = int32(limit - len(resp.Regions))
		}
		sr, err := s.pd().ScanRegions(ctx, &pdpb.ScanRegionsRequest{
			Header: req.GetHeader(), StartKey: r.GetStartKey(), EndKey: r.GetEndKey(), Limit: left,
		})
		if err != nil {
			return nil, err
		}
		resp.Header = sr.GetHeader()
		if sr.GetHeader().GetError() != nil {
			return resp, nil
		}
		for _, reg := range scanned(sr) {
			if seen[reg.GetRegion().GetId()] {
				continue
			}
			seen[reg.GetRegion().GetId()] = true
			resp.Regions = append(resp.Regions, reg)
			if limit > 0 && len(resp.Regions) >= limit {
				return resp, nil
			}
		}
	}
	if resp.Header == nil {
		resp.Header = &pdpb.ResponseHeader{ClusterId: req.GetHeader().GetClusterId()}
	}
	return resp, nil
}

// scanned returns the regions of a ScanRegions answer in the newer form.
func scanned(sr *pdpb.ScanRegionsResponse) []*pdpb.Region {
	if len(sr.GetRegions()) > 0 {
		return sr.GetRegions()
	}
	out := make([]*pdpb.Region, len(sr.GetRegionMetas()))
	for i, m := range sr.GetRegionMetas() {
		out[i] = &pdpb.Region{Region: m}
		if i < len(sr.GetLeaders()) {
			out[i].Leader = sr.GetLeaders()[i]
		}
	}
	return out
}

// queryRegion serves the region router stream: every request is answered
// with one response mapping each key, previous key and ID to a region.
func (s *shim) queryRegion(ss grpc.ServerStream) error {
	for {
		req := &pdpb.QueryRegionRequest{}
		if err := recvInto(ss, req); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		resp, err := s.answerQuery(ss.Context(), req)
		if err != nil {
			return err
		}
		if err := sendFrom(ss, resp); err != nil {
			return err
		}
	}
}

func (s *shim) answerQuery(ctx context.Context, req *pdpb.QueryRegionRequest) (*pdpb.QueryRegionResponse, error) {
	resp := &pdpb.QueryRegionResponse{
		Header:      &pdpb.ResponseHeader{ClusterId: req.GetHeader().GetClusterId()},
		RegionsById: map[uint64]*pdpb.RegionResponse{},
	}
	add := func(r *pdpb.GetRegionResponse) uint64 {
		id := r.GetRegion().GetId()
		if id != 0 {
			resp.RegionsById[id] = &pdpb.RegionResponse{
				Region: r.GetRegion(), Leader: r.GetLeader(), DownPeers: r.GetDownPeers(),
				PendingPeers: r.GetPendingPeers(), Buckets: r.GetBuckets(),
			}
		}
		return id
	}
	pd := s.pd()
	for _, k := range req.GetKeys() {
		r, err := pd.GetRegion(ctx, &pdpb.GetRegionRequest{Header: req.GetHeader(), RegionKey: k, NeedBuckets: req.GetNeedBuckets()})
		if err != nil {
			return nil, err
		}
		resp.KeyIdMap = append(resp.KeyIdMap, add(r))
	}
	for _, k := range req.GetPrevKeys() {
		r, err := pd.GetPrevRegion(ctx, &pdpb.GetRegionRequest{Header: req.GetHeader(), RegionKey: k, NeedBuckets: req.GetNeedBuckets()})
		if err != nil {
			return nil, err
		}
		resp.PrevKeyIdMap = append(resp.PrevKeyIdMap, add(r))
	}
	for _, id := range req.GetIds() {
		r, err := pd.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{Header: req.GetHeader(), RegionId: id, NeedBuckets: req.GetNeedBuckets()})
		if err != nil {
			return nil, err
		}
		add(r)
	}
	return resp, nil
}

// selfURL builds the URL clients should use for the shim.
func selfURL(listen string) string {
	return (&url.URL{Scheme: "http", Host: listen}).String()
}
