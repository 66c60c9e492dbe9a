package region

import (
	"context"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv/pd"
)

// BenchmarkLocateHit measures a cache hit among 100 000 cached regions.
func BenchmarkLocateHit(b *testing.B) {
	f := newFakeCluster(3)
	c := New(f, Config{})
	defer c.Close()
	ctx := context.Background()
	const n = 100000
	for i := 0; i < n; i++ {
		start, end := fmt.Sprintf("k%08d", i), fmt.Sprintf("k%08d", i+1)
		if i == 0 {
			start = ""
		}
		r := &metapb.Region{Id: uint64(i + 1), StartKey: []byte(start), EndKey: []byte(end),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: f.regions[1].Peers}
		e, err := c.newRegion(ctx, &pd.Region{Meta: r}, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.insert(ctx, e)
	}
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("k%08d", i*97%n))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Locate(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
