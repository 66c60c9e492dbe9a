package memdb

import (
	"fmt"
	"testing"
)

// The hash index finds every inserted key across growths, and nothing else, including
// keys that differ only in a suffix or are prefixes of each other.
func TestHashIndexFindsExactKeys(t *testing.T) {
	var keys [][]byte
	h := newHashIndex(func(i int32) []byte { return keys[i] })
	for i := range 5000 {
		keys = append(keys, fmt.Appendf(nil, "prefix/%d", i))
		h.insert(int32(len(keys) - 1))
	}
	if len(h.slots) < 5000*4/3 {
		t.Fatalf("table of %d slots holds %d keys", len(h.slots), h.n)
	}
	for i, k := range keys {
		if got := h.find(k); got != int32(i) {
			t.Fatalf("find(%s) = %d, want %d", k, got, i)
		}
	}
	for _, k := range []string{"prefix/", "prefix/5000", "prefix/1x", "", "prefix/12\x00"} {
		if got := h.find([]byte(k)); got != -1 {
			t.Errorf("find(%q) = %d, want -1", k, got)
		}
	}
	if h.mem() != len(h.slots)*8 {
		t.Error("mem")
	}
}
