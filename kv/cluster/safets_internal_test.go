package cluster

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// client-go: tikv/kv.go updateMinSafeTS, by behaviour: an unknown store makes the
// minimum 0, stores at 0 are skipped, no store gives 0.
func TestMinSafeTSOverStores(t *testing.T) {
	known := map[uint64]uint64{1: 100, 2: 80, 3: 0, 4: 0}
	for _, tc := range []struct {
		ids  []uint64
		want uint64
	}{
		{nil, 0},
		{[]uint64{1, 2}, 80},
		{[]uint64{1, 3}, 100},
		{[]uint64{3, 4}, 0},
		{[]uint64{1, 2, 9}, 0},
	} {
		if got := minSafeTS(tc.ids, known); got != tc.want {
			t.Errorf("minSafeTS(%v) = %d, want %d", tc.ids, got, tc.want)
		}
	}
}

func TestIsTiFlash(t *testing.T) {
	for _, tc := range []struct {
		labels []*metapb.StoreLabel
		want   bool
	}{
		{nil, false},
		{[]*metapb.StoreLabel{{Key: "zone", Value: "z1"}}, false},
		{[]*metapb.StoreLabel{{Key: "engine", Value: "tiflash"}}, true},
		{[]*metapb.StoreLabel{{Key: "engine", Value: "tiflash_compute"}}, true},
		{[]*metapb.StoreLabel{{Key: "engine", Value: "tikv"}}, false},
	} {
		if got := isTiFlash(&metapb.Store{Labels: tc.labels}); got != tc.want {
			t.Errorf("isTiFlash(%v) = %v", tc.labels, got)
		}
	}
}
