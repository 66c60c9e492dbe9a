package pd

import (
	"context"
	"testing"

	"github.com/tikvsql/tikvsql/internal/codec"
)

// A region whose boundaries PD returns in a form the codec cannot decode (API v1 txn
// keys that are not memcomparable) is an error at once: PD is not asked again.
// client-go: internal/locate/region_cache_test.go TestNoBackoffWhenFailToDecodeRegion
func TestPortUndecodableRegionNotRetried(t *testing.T) {
	f := newFakePD()
	f.addRegion(2, nil, []byte("k")) // raw, not memcomparable-encoded
	f.addRegion(3, []byte("k"), nil)
	cfg := idleConfig()
	cfg.APIVersion, cfg.Mode = codec.V1, codec.ModeTxn
	c := newTestClient(t, cfg, f)
	ctx := context.Background()
	if r, err := c.GetRegion(ctx, []byte("a")); err == nil {
		t.Fatalf("GetRegion decoded %+v", r)
	}
	if n := f.getRegion.Load(); n != 1 {
		t.Errorf("PD asked %d times, want 1", n)
	}
	if r, err := c.GetRegionByID(ctx, 3); err == nil {
		t.Fatalf("GetRegionByID decoded %+v", r)
	}
	if rs, err := c.ScanRegions(ctx, nil, nil, 10); err == nil {
		t.Fatalf("ScanRegions decoded %d regions", len(rs))
	}
}
