package region

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// This file holds what TiKV's answers teach the cache: new region layouts from
// EpochNotMatch and new buckets from BucketVersionNotMatch, decoded from TiKV's key form.

// onEpochNotMatch applies TiKV's EpochNotMatch (SB-2): when TiKV reports an older epoch
// for the region than the cache holds, TiKV is behind and behind is returned (back off,
// retry). Otherwise the reported regions replace the cached one, led by the store that
// answered; without reported regions the cached one is just invalidated.
func (c *Cache) onEpochNotMatch(ctx context.Context, r *entry, storeID uint64, current []*metapb.Region) (behind bool, err error) {
	v := r.VerID()
	for _, m := range current {
		e := m.GetRegionEpoch()
		if m.GetId() == v.ID && (e.GetVersion() < v.Ver || e.GetConfVer() < v.ConfVer) {
			return true, nil
		}
	}
	c.Invalidate(ctx, v, ReasonEpochNotMatch)
	for _, m := range current {
		um, ok, err := c.decodeMeta(m)
		if err != nil {
			return false, err
		}
		if !ok || c.holds(um) {
			continue
		}
		nr, err := c.newRegion(ctx, &pd.Region{Meta: um}, &storeID)
		if err != nil {
			return false, err
		}
		if b := r.buckets.Load(); b != nil && nr.meta.GetId() == v.ID {
			nr.buckets.Store(b)
		}
		c.insert(ctx, nr)
	}
	return false, nil
}

// decodeMeta converts a region reported by TiKV into user-key space; ok is false for a
// region outside the keyspace.
func (c *Cache) decodeMeta(m *metapb.Region) (*metapb.Region, bool, error) {
	if c.codec == nil {
		return m, true, nil
	}
	s, e, err := c.codec.DecodeRegionRange(m.GetStartKey(), m.GetEndKey())
	if errors.Is(err, codec.ErrOutsideKeyspace) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("region: decode region %d from TiKV: %w", m.GetId(), err)
	}
	out := *m
	out.StartKey, out.EndKey = s, e
	return &out, true, nil
}

// holds reports whether the cache has a usable entry of exactly this region version, so
// that an EpochNotMatch listing unchanged neighbours does not reset their leaders.
func (c *Cache) holds(m *metapb.Region) bool {
	e := m.GetRegionEpoch()
	r := c.region(VerID{ID: m.GetId(), ConfVer: e.GetConfVer(), Ver: e.GetVersion()})
	return r != nil && r.reason() == ReasonNone
}

// updateBuckets installs the buckets TiKV reported with BucketVersionNotMatch (RC-7)
// when they are newer than the cached ones. Bucket keys come in TiKV's region-key form.
func (c *Cache) updateBuckets(r *entry, version uint64, keys [][]byte) {
	if old := r.buckets.Load(); old != nil && old.GetVersion() >= version {
		return
	}
	r.buckets.Store(&metapb.Buckets{RegionId: r.meta.GetId(), Version: version, Keys: c.decodeBucketKeys(keys)})
}

// decodeBucketKeys turns bucket boundaries into user keys clamped to the keyspace: keys
// before it become the empty start, the first key after it the empty end.
func (c *Cache) decodeBucketKeys(keys [][]byte) [][]byte {
	if c.codec == nil {
		return keys
	}
	ks, ke := c.codec.EncodeRegionRange(nil, nil)
	var out [][]byte
	for _, k := range keys {
		var u []byte
		switch {
		case len(k) == 0 || bytes.Compare(k, ks) <= 0:
			u = []byte{}
		case len(ke) > 0 && bytes.Compare(k, ke) >= 0:
			return append(out, nil) // the end of the keyspace
		default:
			var err error
			if u, err = c.codec.DecodeRegionKey(k); err != nil {
				return append(out, nil)
			}
		}
		if len(out) > 0 && bytes.Equal(out[len(out)-1], u) {
			continue
		}
		out = append(out, u)
	}
	if n := len(out); n > 0 && len(out[n-1]) == 0 && len(keys[len(keys)-1]) == 0 {
		out[n-1] = nil // an empty last key is the end, not the start
	}
	return out
}
