package region

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tikvsql/tikvsql/kv"
)

// LocateRange returns the locations of the regions overlapping [start, end) in key order
// (an empty end is unbounded). Cached regions are used as they are; a gap in the cache is
// filled with one batched PD call (BatchScanRegions) rather than one call per region.
//
// Errors: as Locate.
func (c *Cache) LocateRange(ctx context.Context, start, end []byte) ([]*Location, error) {
	var out []*Location
	key := start
	for {
		r := c.lookup(key, false)
		if r == nil {
			if err := c.LoadRanges(ctx, []kv.KeyRange{{Start: key, End: end}}); err != nil {
				return nil, err
			}
			var err error
			if r, err = c.findRegion(ctx, key, false); err != nil {
				return nil, err
			}
		}
		out = append(out, r.location())
		key = r.meta.EndKey
		if len(key) == 0 || len(end) > 0 && bytes.Compare(key, end) >= 0 {
			return out, nil
		}
	}
}

// RegionIDsInRange returns the IDs of the regions overlapping [start, end) in key order
// (client-go's ListRegionIDsInKeyRange), locating them as LocateRange does.
//
// Errors: as Locate.
func (c *Cache) RegionIDsInRange(ctx context.Context, start, end []byte) ([]uint64, error) {
	locs, err := c.LocateRange(ctx, start, end)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(locs))
	for i, l := range locs {
		ids[i] = l.Region.ID
	}
	return ids, nil
}

// maxBatchScanRanges bounds how many key ranges one BatchScanRegions call carries
// (client-go's 16 batches of 128), so that preloading many small ranges does not build
// one huge PD request.
const maxBatchScanRanges = 16 * 128

// LoadRanges loads the regions overlapping the sorted, non-overlapping ranges with
// batched PD calls (BatchScanRegions, Config.BatchLimit regions and at most 2048 ranges
// per call) and caches them (RC-1 batch loading, preloading).
//
// Errors: PD's errors, ctx's error, kv.ErrClosed.
func (c *Cache) LoadRanges(ctx context.Context, ranges []kv.KeyRange) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	for len(ranges) > 0 {
		chunk := ranges[:min(len(ranges), maxBatchScanRanges)]
		if err := c.acquirePD(ctx); err != nil {
			return err
		}
		c.stats.pdCalls.Add(1)
		got, err := c.src.BatchScanRegions(ctx, chunk, c.cfg.BatchLimit, c.pdOpts()...)
		<-c.pdSem
		if err != nil {
			return err
		}
		for _, pr := range got {
			r, err := c.newRegion(ctx, pr, nil)
			if err != nil {
				return err
			}
			c.insert(ctx, r)
		}
		if len(got) < c.cfg.BatchLimit {
			ranges = ranges[len(chunk):] // the chunk is covered
			continue
		}
		ranges = trimRanges(ranges, got[len(got)-1].Meta.GetEndKey())
	}
	return nil
}

// trimRanges drops the parts of ranges before from (an empty from means all is done).
func trimRanges(ranges []kv.KeyRange, from []byte) []kv.KeyRange {
	if len(from) == 0 {
		return nil
	}
	var out []kv.KeyRange
	for _, r := range ranges {
		if len(r.End) > 0 && bytes.Compare(r.End, from) <= 0 {
			continue
		}
		if bytes.Compare(r.Start, from) < 0 {
			r.Start = from
		}
		out = append(out, r)
	}
	return out
}

// KeyGroup is a set of keys that live in one region (a plain value).
type KeyGroup struct {
	Location *Location
	Keys     [][]byte
}

// GroupKeysByRegion locates every key and groups the keys by region, in the order the
// regions are first met; keys keep their relative order. Sorted input is grouped with
// one lookup per region.
//
// Errors: as Locate.
func (c *Cache) GroupKeysByRegion(ctx context.Context, keys [][]byte) ([]KeyGroup, error) {
	var groups []KeyGroup
	pos := make(map[VerID]int)
	var last *Location
	for _, k := range keys {
		if last == nil || !last.Contains(k) {
			loc, err := c.Locate(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("region: group keys: %w", err)
			}
			last = loc
		}
		i, ok := pos[last.Region]
		if !ok {
			i = len(groups)
			pos[last.Region] = i
			groups = append(groups, KeyGroup{Location: last})
		}
		groups[i].Keys = append(groups[i].Keys, k)
	}
	return groups, nil
}
