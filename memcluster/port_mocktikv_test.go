package memcluster

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// client-go: internal/mockstore/mocktikv/mvcc_test.go TestRegionContains (a region holds
// keys from its start, inclusive, to its end, exclusive; an empty end is unbounded)
func TestPortRegionContains(t *testing.T) {
	for _, c := range []struct {
		start, end, key []byte
		want            bool
	}{
		{[]byte{}, []byte{}, []byte{}, true},
		{[]byte{}, []byte{}, []byte{1}, true},
		{[]byte{1, 1, 1}, []byte{}, []byte{1, 1, 0}, false},
		{[]byte{1, 1, 1}, []byte{}, []byte{1, 1, 1}, true},
		{[]byte{}, []byte{2, 2, 2}, []byte{2, 2, 1}, true},
		{[]byte{}, []byte{2, 2, 2}, []byte{2, 2, 2}, false},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{1, 1, 0}, false},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{1, 1, 1}, true},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{2, 2, 1}, true},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{2, 2, 2}, false},
	} {
		r := &region{meta: &metapb.Region{StartKey: c.start, EndKey: c.end}}
		if got := r.contains(c.key); got != c.want {
			t.Errorf("[%x, %x) contains %x = %v, want %v", c.start, c.end, c.key, got, c.want)
		}
	}
}
