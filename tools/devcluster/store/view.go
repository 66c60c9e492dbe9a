package main

import (
	"context"
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/tidb/pkg/store/mockstore/unistore/tikv"
	"github.com/pingcap/tidb/pkg/util/codec"
)

// storeView is one store of the cluster as unistore's tikv.Server sees it:
// it implements tikv.RegionManager and answers region, epoch, leader and
// store checks for requests that arrive on this store's gRPC port.
type storeView struct {
	c       *cluster
	storeID uint64
	addr    string
}

var _ tikv.RegionManager = (*storeView)(nil)

// checkRegion validates the request context against this store and the
// current region, in TiKV's order: store, region, leader, epoch.
func (v *storeView) checkRegion(ctx *kvrpcpb.Context) (*region, *errorpb.Error) {
	if p := ctx.GetPeer(); p != nil && p.GetStoreId() != v.storeID {
		return nil, &errorpb.Error{
			Message:       "store not match",
			StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: p.GetStoreId(), ActualStoreId: v.storeID},
		}
	}
	r := v.c.region(ctx.GetRegionId())
	if r == nil {
		return nil, &errorpb.Error{
			Message:        "region not found",
			RegionNotFound: &errorpb.RegionNotFound{RegionId: ctx.GetRegionId()},
		}
	}
	followerOK := ctx.GetReplicaRead() || ctx.GetStaleRead()
	if r.leader != v.storeID && !followerOK {
		return nil, &errorpb.Error{
			Message:   "not leader",
			NotLeader: &errorpb.NotLeader{RegionId: r.meta.Id, Leader: r.leaderPeer()},
		}
	}
	// Like TiKV, ordinary requests are checked against the region version
	// only; a conf change does not invalidate them.
	if ctx.GetRegionEpoch().GetVersion() != r.meta.GetRegionEpoch().GetVersion() {
		return nil, &errorpb.Error{
			Message:       "epoch not match",
			EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: v.c.overlapping(r)},
		}
	}
	return r, nil
}

// GetRegionFromCtx implements tikv.RegionManager.
func (v *storeView) GetRegionFromCtx(ctx *kvrpcpb.Context) (tikv.RegionCtx, *errorpb.Error) {
	r, rerr := v.checkRegion(ctx)
	if rerr != nil {
		return nil, rerr
	}
	return r, nil
}

// GetStoreInfoFromCtx implements tikv.RegionManager.
func (v *storeView) GetStoreInfoFromCtx(ctx *kvrpcpb.Context) (string, uint64, *errorpb.Error) {
	if p := ctx.GetPeer(); p != nil && p.GetStoreId() != v.storeID {
		return "", 0, &errorpb.Error{
			Message:       "store not match",
			StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: p.GetStoreId(), ActualStoreId: v.storeID},
		}
	}
	return v.addr, v.storeID, nil
}

// SplitRegion implements tikv.RegionManager with a real split. Keys of
// transactional requests are user keys and are memcomparable-encoded into
// the region key space; raw requests (IsRawKv) carry region-space keys.
func (v *storeView) SplitRegion(req *kvrpcpb.SplitRegionRequest) *kvrpcpb.SplitRegionResponse {
	r, rerr := v.checkRegion(req.GetContext())
	if rerr != nil {
		return &kvrpcpb.SplitRegionResponse{RegionError: rerr}
	}
	keys := req.GetSplitKeys()
	if len(req.GetSplitKey()) > 0 { //nolint:staticcheck // old single-key form
		keys = append(keys, req.GetSplitKey()) //nolint:staticcheck
	}
	regionKeys := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if req.GetIsRawKv() {
			regionKeys = append(regionKeys, k)
		} else {
			regionKeys = append(regionKeys, codec.EncodeBytes(nil, k))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	metas, err := v.c.split(ctx, r.meta.Id, regionKeys)
	if err != nil {
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{Message: err.Error()}}
	}
	resp := &kvrpcpb.SplitRegionResponse{Regions: metas}
	if len(metas) == 2 {
		resp.Left, resp.Right = metas[0], metas[1] //nolint:staticcheck // old clients read these
	}
	return resp
}

// GetStoreIDByAddr implements tikv.RegionManager.
func (v *storeView) GetStoreIDByAddr(addr string) (uint64, error) {
	for _, s := range v.c.stores {
		if s.Address == addr {
			return s.Id, nil
		}
	}
	return 0, errors.New("store not found for address " + addr)
}

// GetStoreAddrByStoreID implements tikv.RegionManager.
func (v *storeView) GetStoreAddrByStoreID(storeID uint64) (string, error) {
	if s := v.c.store(storeID); s != nil {
		return s.Address, nil
	}
	return "", errors.New("store not found")
}

// Close implements tikv.RegionManager. The shared cluster is closed by its
// owner, not by each view.
func (v *storeView) Close() error { return nil }
