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
