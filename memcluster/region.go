package memcluster

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/codec"
)

// region is one region: its metadata in PD form (boundaries are region keys: the
// memcomparable form of transactional and API v2 keys, plain bytes for API v1 raw keys,
// exactly as TiKV orders them) and the store of its leader. Guarded by the cluster's mu;
// the meta value is replaced, never mutated, so a copy handed out stays consistent.
type region struct {
	meta   *metapb.Region
	leader uint64
}

func (r *region) leaderPeer() *metapb.Peer {
	for _, p := range r.meta.Peers {
		if p.StoreId == r.leader {
			return p
		}
	}
	return nil
}

func (r *region) peerOn(storeID uint64) *metapb.Peer {
	for _, p := range r.meta.Peers {
		if p.StoreId == storeID {
			return p
		}
	}
	return nil
}

// contains reports whether the region key rk lies in the region.
func (r *region) contains(rk []byte) bool {
	return bytes.Compare(rk, r.meta.StartKey) >= 0 && (len(r.meta.EndKey) == 0 || bytes.Compare(rk, r.meta.EndKey) < 0)
}

// RegionKey returns the form PD and region boundaries use for a transactional key or any
// API v2 key: its memcomparable encoding. API v1 raw keys are their own region keys.
func RegionKey(key []byte) []byte { return codec.EncodeBytes(nil, key) }

// routeKey maps a request key to region-key space.
func routeKey(key []byte, encoded bool) []byte {
	if encoded {
		return codec.EncodeBytes(nil, key)
	}
	return key
}

// wireBound turns a region boundary back into a request key.
func wireBound(rk []byte, encoded bool) []byte {
	if !encoded || len(rk) == 0 {
		return rk
	}
	k, _, err := codec.DecodeBytes(rk)
	if err != nil {
		return rk // a boundary set in raw (v1) form
	}
	return k
}

// locate returns the region containing region key rk. Callers hold mu.
func (c *Cluster) locate(rk []byte) (int, *region) {
	i := sort.Search(len(c.regions), func(i int) bool {
		e := c.regions[i].meta.EndKey
		return len(e) == 0 || bytes.Compare(rk, e) < 0
	})
	return i, c.regions[i]
}

func (c *Cluster) regionByID(id uint64) (int, *region) {
	for i, r := range c.regions {
		if r.meta.Id == id {
			return i, r
		}
	}
	return -1, nil
}

// RegionInfo describes a region: a copy of its metadata and its leader's store.
type RegionInfo struct {
	Meta        *metapb.Region
	LeaderStore uint64
}

func (r *region) info() RegionInfo {
	return RegionInfo{Meta: proto.Clone(r.meta).(*metapb.Region), LeaderStore: r.leader}
}

// Regions returns every region in key order.
func (c *Cluster) Regions() []RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]RegionInfo, len(c.regions))
	for i, r := range c.regions {
		out[i] = r.info()
	}
	return out
}

// RegionAt returns the region holding region key rk (see RegionKey).
func (c *Cluster) RegionAt(rk []byte) RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, r := c.locate(rk)
	return r.info()
}

// Split splits the regions holding the region keys splitKeys (see RegionKey) so that
// every key starts a region. As in TiKV (right-derive), the original region keeps its ID
// for the rightmost part and the parts on its left get new IDs; every part's epoch version
// is raised. It returns the IDs of the new regions. A key that already starts a region is
// skipped.
func (c *Cluster) Split(splitKeys ...[]byte) ([]uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	sorted := append([][]byte(nil), splitKeys...)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	var ids []uint64
	for _, k := range sorted {
		if len(k) == 0 {
			continue
		}
		i, r := c.locate(k)
		if bytes.Equal(r.meta.StartKey, k) {
			continue
		}
		left := c.newRegion(r.meta.StartKey, k)
		left.meta.Peers, left.leader = nil, r.leader
		for _, p := range r.meta.Peers {
			left.meta.Peers = append(left.meta.Peers, &metapb.Peer{Id: c.allocID(), StoreId: p.StoreId, Role: p.Role})
		}
		right := proto.Clone(r.meta).(*metapb.Region)
		right.StartKey = clone(k)
		right.RegionEpoch.Version++
		left.meta.RegionEpoch = proto.Clone(right.RegionEpoch).(*metapb.RegionEpoch)
		c.regions[i] = &region{meta: right, leader: r.leader}
		c.regions = append(c.regions[:i], append([]*region{left}, c.regions[i:]...)...)
		ids = append(ids, left.meta.Id)
	}
	return ids, nil
}

// Merge merges region source into its neighbour target, as TiKV's merge does: target
// grows over source's range, its epoch version becomes one more than the larger of the
// two, and source disappears.
func (c *Cluster) Merge(source, target uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	si, s := c.regionByID(source)
	ti, t := c.regionByID(target)
	if s == nil || t == nil {
		return fmt.Errorf("%w: region %d or %d", ErrNotFound, source, target)
	}
	if si != ti+1 && ti != si+1 {
		return fmt.Errorf("%w: regions %d and %d are not adjacent", ErrInvalid, source, target)
	}
	m := proto.Clone(t.meta).(*metapb.Region)
	if si < ti {
		m.StartKey = s.meta.StartKey
	} else {
		m.EndKey = s.meta.EndKey
	}
	m.RegionEpoch.Version = max(s.meta.RegionEpoch.Version, t.meta.RegionEpoch.Version) + 1
	c.regions[ti] = &region{meta: m, leader: t.leader}
	c.regions = append(c.regions[:si], c.regions[si+1:]...)
	return nil
}

// TransferLeader moves region id's leader to its peer on storeID.
func (c *Cluster) TransferLeader(id, storeID uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, r := c.regionByID(id)
	if r == nil {
		return fmt.Errorf("%w: region %d", ErrNotFound, id)
	}
	if r.peerOn(storeID) == nil {
		return fmt.Errorf("%w: region %d has no peer on store %d", ErrInvalid, id, storeID)
	}
	c.regions[i] = &region{meta: r.meta, leader: storeID}
	return nil
}

// reqCheck says what a request needs from its region.
type reqCheck struct {
	keys         [][]byte // request keys that must lie in the region
	encoded      bool     // keys route in memcomparable form (txn and API v2)
	followerRead bool     // the request may be served by a follower
}

// check validates a request's context on store storeID the way TiKV does, in TiKV's
// order: store, region, leader, epoch, keys. It returns the region on success.
func (c *Cluster) check(storeID uint64, rc *kvrpcpb.Context, rq reqCheck) (*region, *errorpb.Error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if p := rc.GetPeer(); p != nil && p.StoreId != 0 && p.StoreId != storeID {
		return nil, &errorpb.Error{Message: "store not match", StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: p.StoreId, ActualStoreId: storeID}}
	}
	_, r := c.regionByID(rc.GetRegionId())
	if r == nil || r.peerOn(storeID) == nil {
		return nil, &errorpb.Error{Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{RegionId: rc.GetRegionId()}}
	}
	if r.leader != storeID && !(rq.followerRead && (rc.GetReplicaRead() || rc.GetStaleRead())) {
		return nil, &errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{RegionId: r.meta.Id, Leader: r.leaderPeer()}}
	}
	if ep := rc.GetRegionEpoch(); ep == nil || ep.Version != r.meta.RegionEpoch.Version || ep.ConfVer != r.meta.RegionEpoch.ConfVer {
		return nil, &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: c.currentRegions(r)}}
	}
	for _, k := range rq.keys {
		if !r.contains(routeKey(k, rq.encoded)) {
			return nil, &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{
				Key: k, RegionId: r.meta.Id, StartKey: r.meta.StartKey, EndKey: r.meta.EndKey,
			}}
		}
	}
	return r, nil
}

// currentRegions lists r and its neighbours, which EpochNotMatch carries so the client can
// refresh its cache without asking PD.
func (c *Cluster) currentRegions(r *region) []*metapb.Region {
	i, _ := c.regionByID(r.meta.Id)
	var out []*metapb.Region
	for j := max(0, i-1); j <= i+1 && j < len(c.regions); j++ {
		out = append(out, proto.Clone(c.regions[j].meta).(*metapb.Region))
	}
	return out
}

// clip intersects the request range [start, end) (request keys; empty end = unbounded)
// with region r.
func clip(r *region, start, end []byte, encoded bool) ([]byte, []byte) {
	rs, re := wireBound(r.meta.StartKey, encoded), wireBound(r.meta.EndKey, encoded)
	if bytes.Compare(start, rs) < 0 {
		start = rs
	}
	if len(re) > 0 && (len(end) == 0 || bytes.Compare(end, re) > 0) {
		end = re
	}
	return start, end
}

// overlaps reports whether region m intersects the region-key range [start, end).
func overlaps(m *metapb.Region, start, end []byte) bool {
	return (len(end) == 0 || bytes.Compare(m.StartKey, end) < 0) &&
		(len(m.EndKey) == 0 || bytes.Compare(start, m.EndKey) < 0)
}
