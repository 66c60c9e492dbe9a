package memcluster

import (
	"context"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// rawCheck validates a RawKV read's region for keys. Under API v2 raw keys route in
// memcomparable form like transactional keys; under API v1 they route as they are.
func (t *tikvServer) rawCheck(rc *kvrpcpb.Context, keys ...[]byte) (*region, bool, *errorpb.Error) {
	return t.rawCheckMode(rc, true, keys)
}

// rawWriteCheck is rawCheck for writes, which only the leader serves.
func (t *tikvServer) rawWriteCheck(rc *kvrpcpb.Context, keys ...[]byte) (*region, bool, *errorpb.Error) {
	return t.rawCheckMode(rc, false, keys)
}

func (t *tikvServer) rawCheckMode(rc *kvrpcpb.Context, read bool, keys [][]byte) (*region, bool, *errorpb.Error) {
	encoded := rc.GetApiVersion() == kvrpcpb.APIVersion_V2
	r, rerr := t.cluster().check(t.store.id, rc, reqCheck{keys: keys, encoded: encoded, followerRead: read})
	return r, encoded, rerr
}

func (t *tikvServer) raw() *rawStore { return t.cluster().raw }

// RawGet reads one raw key.
func (t *tikvServer) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return serve(t, ctx, "RawGet", req, func(_ context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
		if _, _, rerr := t.rawCheck(req.Context, req.Key); rerr != nil {
			return &kvrpcpb.RawGetResponse{RegionError: rerr}, nil
		}
		v, ok := t.raw().Get(req.Cf, req.Key)
		return &kvrpcpb.RawGetResponse{Value: v, NotFound: !ok}, nil
	})
}

// RawBatchGet reads raw keys; missing keys are left out.
func (t *tikvServer) RawBatchGet(ctx context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	return serve(t, ctx, "RawBatchGet", req, func(_ context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
		if _, _, rerr := t.rawCheck(req.Context, req.Keys...); rerr != nil {
			return &kvrpcpb.RawBatchGetResponse{RegionError: rerr}, nil
		}
		return &kvrpcpb.RawBatchGetResponse{Pairs: t.raw().BatchGet(req.Cf, req.Keys)}, nil
	})
}

// RawPut writes one raw key, with an optional TTL in seconds.
func (t *tikvServer) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	return serve(t, ctx, "RawPut", req, func(_ context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
		if _, _, rerr := t.rawWriteCheck(req.Context, req.Key); rerr != nil {
			return &kvrpcpb.RawPutResponse{RegionError: rerr}, nil
		}
		t.raw().Put(req.Cf, []*kvrpcpb.KvPair{{Key: req.Key, Value: req.Value}}, []uint64{req.Ttl})
		return &kvrpcpb.RawPutResponse{}, nil
	})
}

// RawBatchPut writes raw pairs; Ttls holds one TTL per pair or one for all.
func (t *tikvServer) RawBatchPut(ctx context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	return serve(t, ctx, "RawBatchPut", req, func(_ context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
		ks := make([][]byte, len(req.Pairs))
		for i, p := range req.Pairs {
			ks[i] = p.Key
		}
		if _, _, rerr := t.rawWriteCheck(req.Context, ks...); rerr != nil {
			return &kvrpcpb.RawBatchPutResponse{RegionError: rerr}, nil
		}
		ttls := req.Ttls
		if len(ttls) == 0 && req.Ttl > 0 {
			ttls = []uint64{req.Ttl}
		}
		t.raw().Put(req.Cf, req.Pairs, ttls)
		return &kvrpcpb.RawBatchPutResponse{}, nil
	})
}

// RawDelete removes one raw key.
func (t *tikvServer) RawDelete(ctx context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	return serve(t, ctx, "RawDelete", req, func(_ context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
		if _, _, rerr := t.rawWriteCheck(req.Context, req.Key); rerr != nil {
			return &kvrpcpb.RawDeleteResponse{RegionError: rerr}, nil
		}
		t.raw().Delete(req.Cf, [][]byte{req.Key})
		return &kvrpcpb.RawDeleteResponse{}, nil
	})
}

// RawBatchDelete removes raw keys.
func (t *tikvServer) RawBatchDelete(ctx context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	return serve(t, ctx, "RawBatchDelete", req, func(_ context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
		if _, _, rerr := t.rawWriteCheck(req.Context, req.Keys...); rerr != nil {
			return &kvrpcpb.RawBatchDeleteResponse{RegionError: rerr}, nil
		}
		t.raw().Delete(req.Cf, req.Keys)
		return &kvrpcpb.RawBatchDeleteResponse{}, nil
	})
}

// RawDeleteRange removes the raw keys of a range within the region.
func (t *tikvServer) RawDeleteRange(ctx context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	return serve(t, ctx, "RawDeleteRange", req, func(_ context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
		r, enc, rerr := t.rawWriteCheck(req.Context, req.StartKey)
		if rerr != nil {
			return &kvrpcpb.RawDeleteRangeResponse{RegionError: rerr}, nil
		}
		lo, hi := clip(r, req.StartKey, req.EndKey, enc)
		t.raw().DeleteRange(req.Cf, lo, hi)
		return &kvrpcpb.RawDeleteRangeResponse{}, nil
	})
}

// RawScan reads a raw range; with Reverse set StartKey is the exclusive upper bound and
// EndKey the inclusive lower bound.
func (t *tikvServer) RawScan(ctx context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	return serve(t, ctx, "RawScan", req, func(_ context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
		var check [][]byte
		if !req.Reverse {
			check = [][]byte{req.StartKey}
		}
		r, enc, rerr := t.rawCheck(req.Context, check...)
		if rerr != nil {
			return &kvrpcpb.RawScanResponse{RegionError: rerr}, nil
		}
		lo, hi := req.StartKey, req.EndKey
		if req.Reverse {
			lo, hi = req.EndKey, req.StartKey
		}
		lo, hi = clip(r, lo, hi, enc)
		return &kvrpcpb.RawScanResponse{Kvs: t.raw().Scan(req.Cf, lo, hi, int(req.Limit), req.KeyOnly, req.Reverse)}, nil
	})
}

// RawGetKeyTTL returns the remaining TTL of a raw key in seconds.
func (t *tikvServer) RawGetKeyTTL(ctx context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
	return serve(t, ctx, "RawGetKeyTTL", req, func(_ context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
		if _, _, rerr := t.rawCheck(req.Context, req.Key); rerr != nil {
			return &kvrpcpb.RawGetKeyTTLResponse{RegionError: rerr}, nil
		}
		ttl, ok := t.raw().TTL(req.Cf, req.Key)
		return &kvrpcpb.RawGetKeyTTLResponse{Ttl: ttl, NotFound: !ok}, nil
	})
}

// RawCompareAndSwap sets a raw key when its current value matches.
func (t *tikvServer) RawCompareAndSwap(ctx context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	return serve(t, ctx, "RawCompareAndSwap", req, func(_ context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
		if _, _, rerr := t.rawWriteCheck(req.Context, req.Key); rerr != nil {
			return &kvrpcpb.RawCASResponse{RegionError: rerr}, nil
		}
		ok, notExist, prev := t.raw().CompareAndSwap(req)
		return &kvrpcpb.RawCASResponse{Succeed: ok, PreviousNotExist: notExist, PreviousValue: prev}, nil
	})
}

// RawChecksum checksums the raw ranges within the region (CRC64-ECMA XOR).
func (t *tikvServer) RawChecksum(ctx context.Context, req *kvrpcpb.RawChecksumRequest) (*kvrpcpb.RawChecksumResponse, error) {
	return serve(t, ctx, "RawChecksum", req, func(_ context.Context, req *kvrpcpb.RawChecksumRequest) (*kvrpcpb.RawChecksumResponse, error) {
		r, enc, rerr := t.rawCheck(req.Context)
		if rerr != nil {
			return &kvrpcpb.RawChecksumResponse{RegionError: rerr}, nil
		}
		ranges := make([]*kvrpcpb.KeyRange, len(req.Ranges))
		for i, rg := range req.Ranges {
			lo, hi := clip(r, rg.StartKey, rg.EndKey, enc)
			ranges[i] = &kvrpcpb.KeyRange{StartKey: lo, EndKey: hi}
		}
		crc, kvs, size := t.raw().Checksum(ranges)
		return &kvrpcpb.RawChecksumResponse{Checksum: crc, TotalKvs: kvs, TotalBytes: size}, nil
	})
}
