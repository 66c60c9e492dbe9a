package region

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
)

// rangeCountingSource records the largest number of key ranges one BatchScanRegions
// call carried.
type rangeCountingSource struct {
	*fakeCluster
	maxRanges atomic.Int64
	calls     atomic.Int64
}

func (s *rangeCountingSource) BatchScanRegions(ctx context.Context, ranges []kv.KeyRange, limit int, opts ...pd.RegionOption) ([]*pd.Region, error) {
	s.calls.Add(1)
	if n := int64(len(ranges)); n > s.maxRanges.Load() {
		s.maxRanges.Store(n)
	}
	return s.fakeCluster.BatchScanRegions(ctx, ranges, limit, opts...)
}

// Loading many small ranges sends them to PD in bounded chunks rather than all in one
// request, and still loads every region they touch.
// client-go: internal/locate/region_cache_test.go TestBatchLoadLimitRanges
func TestPortBatchLoadLimitsRanges(t *testing.T) {
	key := func(i int) []byte {
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, uint64(i))
		return k
	}
	const n = 3 * maxBatchScanRanges
	f := newFakeCluster(1, string(key(2*n/3)), string(key(2*n-10)))
	src := &rangeCountingSource{fakeCluster: f}
	c := New(src, Config{})
	defer c.Close()
	ranges := make([]kv.KeyRange, 0, n)
	for i := 0; i < n; i++ {
		ranges = append(ranges, kv.KeyRange{Start: key(2 * i), End: key(2*i + 1)})
	}
	if err := c.LoadRanges(context.Background(), ranges); err != nil {
		t.Fatal(err)
	}
	if m := src.maxRanges.Load(); m > maxBatchScanRanges {
		t.Errorf("one PD call carried %d ranges, want at most %d", m, maxBatchScanRanges)
	}
	if c.Len() != 3 {
		t.Errorf("%d regions cached, want 3", c.Len())
	}
}

// Regions loaded in batches (LocateRange, LoadRanges, GroupKeysByRegion) are valid cache
// entries at once: later lookups of their keys are served without asking PD.
// client-go: internal/locate/region_cache_test.go TestRegionCacheValidAfterLoading
func TestPortRegionsValidAfterBatchLoad(t *testing.T) {
	splits := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	loaders := map[string]func(c *Cache) error{
		"LocateRange": func(c *Cache) error {
			_, err := c.LocateRange(context.Background(), []byte("a"), []byte("e"))
			return err
		},
		"LoadRanges": func(c *Cache) error {
			return c.LoadRanges(context.Background(), []kv.KeyRange{{Start: []byte("a"), End: []byte("e")}})
		},
		"GroupKeysByRegion": func(c *Cache) error {
			_, err := c.GroupKeysByRegion(context.Background(), [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")})
			return err
		},
	}
	for name, load := range loaders {
		t.Run(name, func(t *testing.T) {
			f := newFakeCluster(1, splits...)
			c := New(f, Config{})
			defer c.Close()
			if err := load(c); err != nil {
				t.Fatal(err)
			}
			calls := f.pdRegion.Load()
			for _, k := range []string{"a", "b", "c", "d"} {
				if c.TryLocate([]byte(k)) == nil {
					t.Errorf("region of %q not valid after the load", k)
				}
				mustLocate(t, c, k)
			}
			if f.pdRegion.Load() != calls {
				t.Errorf("lookups after the load asked PD %d times", f.pdRegion.Load()-calls)
			}
		})
	}
}
