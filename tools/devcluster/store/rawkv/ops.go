package rawkv

import (
	"bytes"
	"hash/crc64"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// Get answers RawGet.
func (s *Store) Get(b Bounds, req *kvrpcpb.RawGetRequest) *kvrpcpb.RawGetResponse {
	if rerr := b.checkKeys(req.GetKey()); rerr != nil {
		return &kvrpcpb.RawGetResponse{RegionError: rerr}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.get(req.GetCf(), req.GetKey())
	if !ok {
		return &kvrpcpb.RawGetResponse{NotFound: true}
	}
	return &kvrpcpb.RawGetResponse{Value: e.value}
}

// BatchGet answers RawBatchGet; keys that do not exist are left out.
func (s *Store) BatchGet(b Bounds, req *kvrpcpb.RawBatchGetRequest) *kvrpcpb.RawBatchGetResponse {
	if rerr := b.checkKeys(req.GetKeys()...); rerr != nil {
		return &kvrpcpb.RawBatchGetResponse{RegionError: rerr}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &kvrpcpb.RawBatchGetResponse{}
	for _, k := range req.GetKeys() {
		if e, ok := s.get(req.GetCf(), k); ok {
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: k, Value: e.value})
		}
	}
	return resp
}

// Put answers RawPut.
func (s *Store) Put(b Bounds, req *kvrpcpb.RawPutRequest) *kvrpcpb.RawPutResponse {
	if rerr := b.checkKeys(req.GetKey()); rerr != nil {
		return &kvrpcpb.RawPutResponse{RegionError: rerr}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(req.GetCf(), req.GetKey(), req.GetValue(), req.GetTtl())
	return &kvrpcpb.RawPutResponse{}
}

// BatchPut answers RawBatchPut. Ttls holds one TTL per pair, or a single
// TTL for all of them; the deprecated Ttl field is honoured when Ttls is
// empty.
func (s *Store) BatchPut(b Bounds, req *kvrpcpb.RawBatchPutRequest) *kvrpcpb.RawBatchPutResponse {
	for _, p := range req.GetPairs() {
		if rerr := b.checkKeys(p.GetKey()); rerr != nil {
			return &kvrpcpb.RawBatchPutResponse{RegionError: rerr}
		}
	}
	ttls := req.GetTtls()
	if len(ttls) > 1 && len(ttls) != len(req.GetPairs()) {
		return &kvrpcpb.RawBatchPutResponse{Error: "the number of TTLs does not match the number of pairs"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range req.GetPairs() {
		ttl := req.GetTtl() //nolint:staticcheck // honoured for old clients
		switch {
		case len(ttls) == 1:
			ttl = ttls[0]
		case len(ttls) > 1:
			ttl = ttls[i]
		}
		s.put(req.GetCf(), p.GetKey(), p.GetValue(), ttl)
	}
	return &kvrpcpb.RawBatchPutResponse{}
}

// Delete answers RawDelete.
func (s *Store) Delete(b Bounds, req *kvrpcpb.RawDeleteRequest) *kvrpcpb.RawDeleteResponse {
	if rerr := b.checkKeys(req.GetKey()); rerr != nil {
		return &kvrpcpb.RawDeleteResponse{RegionError: rerr}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.del(req.GetCf(), req.GetKey())
	return &kvrpcpb.RawDeleteResponse{}
}

// BatchDelete answers RawBatchDelete.
func (s *Store) BatchDelete(b Bounds, req *kvrpcpb.RawBatchDeleteRequest) *kvrpcpb.RawBatchDeleteResponse {
	if rerr := b.checkKeys(req.GetKeys()...); rerr != nil {
		return &kvrpcpb.RawBatchDeleteResponse{RegionError: rerr}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range req.GetKeys() {
		s.del(req.GetCf(), k)
	}
	return &kvrpcpb.RawBatchDeleteResponse{}
}

// DeleteRange answers RawDeleteRange over [StartKey, EndKey) clipped to the
// region.
func (s *Store) DeleteRange(b Bounds, req *kvrpcpb.RawDeleteRangeRequest) *kvrpcpb.RawDeleteRangeResponse {
	if rerr := b.checkKeys(req.GetStartKey()); rerr != nil {
		return &kvrpcpb.RawDeleteRangeResponse{RegionError: rerr}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var doomed [][]byte
	s.scanRange(b, req.GetCf(), req.GetStartKey(), req.GetEndKey(), false, 0, func(e entry) {
		doomed = append(doomed, e.key)
	})
	for _, k := range doomed {
		s.del(req.GetCf(), k)
	}
	return &kvrpcpb.RawDeleteRangeResponse{}
}

// scanRange visits at most limit (0 = all) visible entries of the region
// inside the requested range. Forward: [start, end); reverse: start is the
// exclusive upper bound and end the inclusive lower bound, as in TiKV's
// reverse raw scan. Empty bounds are unbounded. The caller holds s.mu.
func (s *Store) scanRange(b Bounds, cf string, start, end []byte, reverse bool, limit int, fn func(entry)) {
	n := 0
	take := func(e entry) bool {
		fn(e)
		n++
		return limit == 0 || n < limit
	}
	if !reverse {
		var to []byte
		if len(end) > 0 {
			to = end
		}
		s.ascend(cf, maxKey(start, b.lower()), to, func(e entry) bool {
			if b.beforeStart(e.key) {
				return true
			}
			if b.atOrAfterEnd(e.key) {
				return false
			}
			return take(e)
		})
		return
	}
	var upper []byte
	if len(start) > 0 {
		upper = start
	}
	s.descend(cf, upper, maxKey(end, b.lower()), func(e entry) bool {
		if b.atOrAfterEnd(e.key) {
			return true
		}
		if b.beforeStart(e.key) {
			return false
		}
		return take(e)
	})
}

// pairs converts entries to response pairs.
func pairOf(e entry, keyOnly bool) *kvrpcpb.KvPair {
	if keyOnly {
		return &kvrpcpb.KvPair{Key: e.key}
	}
	return &kvrpcpb.KvPair{Key: e.key, Value: e.value}
}

// Scan answers RawScan, clipped to the region.
func (s *Store) Scan(b Bounds, req *kvrpcpb.RawScanRequest) *kvrpcpb.RawScanResponse {
	resp := &kvrpcpb.RawScanResponse{}
	if req.GetLimit() == 0 {
		return resp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.scanRange(b, req.GetCf(), req.GetStartKey(), req.GetEndKey(), req.GetReverse(), int(req.GetLimit()),
		func(e entry) { resp.Kvs = append(resp.Kvs, pairOf(e, req.GetKeyOnly())) })
	return resp
}

// BatchScan answers RawBatchScan: each range yields at most EachLimit pairs.
func (s *Store) BatchScan(b Bounds, req *kvrpcpb.RawBatchScanRequest) *kvrpcpb.RawBatchScanResponse {
	resp := &kvrpcpb.RawBatchScanResponse{}
	if req.GetEachLimit() == 0 {
		return resp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range req.GetRanges() {
		s.scanRange(b, req.GetCf(), r.GetStartKey(), r.GetEndKey(), req.GetReverse(), int(req.GetEachLimit()),
			func(e entry) { resp.Kvs = append(resp.Kvs, pairOf(e, req.GetKeyOnly())) })
	}
	return resp
}

// GetKeyTTL answers RawGetKeyTTL with the remaining whole seconds (rounded
// up); a key without TTL reports 0.
func (s *Store) GetKeyTTL(b Bounds, req *kvrpcpb.RawGetKeyTTLRequest) *kvrpcpb.RawGetKeyTTLResponse {
	if rerr := b.checkKeys(req.GetKey()); rerr != nil {
		return &kvrpcpb.RawGetKeyTTLResponse{RegionError: rerr}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.get(req.GetCf(), req.GetKey())
	if !ok {
		return &kvrpcpb.RawGetKeyTTLResponse{NotFound: true}
	}
	if e.expireAt == 0 {
		return &kvrpcpb.RawGetKeyTTLResponse{}
	}
	left := time.Duration(e.expireAt - s.now().UnixNano())
	return &kvrpcpb.RawGetKeyTTLResponse{Ttl: uint64((left + time.Second - 1) / time.Second)}
}

// CompareAndSwap answers RawCompareAndSwap: the new value (with its TTL) is
// written when the key is absent and PreviousNotExist is set, or when the
// key's current value equals PreviousValue. The response always carries the
// value found before the call.
func (s *Store) CompareAndSwap(b Bounds, req *kvrpcpb.RawCASRequest) *kvrpcpb.RawCASResponse {
	if rerr := b.checkKeys(req.GetKey()); rerr != nil {
		return &kvrpcpb.RawCASResponse{RegionError: rerr}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.get(req.GetCf(), req.GetKey())
	resp := &kvrpcpb.RawCASResponse{PreviousNotExist: !exists}
	if exists {
		resp.PreviousValue = cur.value
	}
	if req.GetPreviousNotExist() {
		resp.Succeed = !exists
	} else {
		resp.Succeed = exists && bytes.Equal(cur.value, req.GetPreviousValue())
	}
	if resp.Succeed {
		s.put(req.GetCf(), req.GetKey(), req.GetValue(), req.GetTtl())
	}
	return resp
}

// Checksum answers RawChecksum over the requested ranges clipped to the
// region, in the default column family.
func (s *Store) Checksum(b Bounds, req *kvrpcpb.RawChecksumRequest) *kvrpcpb.RawChecksumResponse {
	if req.GetAlgorithm() != kvrpcpb.ChecksumAlgorithm_Crc64_Xor {
		return &kvrpcpb.RawChecksumResponse{Error: "unsupported checksum algorithm " + req.GetAlgorithm().String()}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &kvrpcpb.RawChecksumResponse{}
	for _, r := range req.GetRanges() {
		s.scanRange(b, "", r.GetStartKey(), r.GetEndKey(), false, 0, func(e entry) {
			d := crc64.New(crcTable)
			_, _ = d.Write(e.key)
			_, _ = d.Write(e.value)
			resp.Checksum ^= d.Sum64()
			resp.TotalKvs++
			resp.TotalBytes += uint64(len(e.key) + len(e.value))
		})
	}
	return resp
}
