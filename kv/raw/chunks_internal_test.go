package raw

import (
	"slices"
	"testing"
)

func TestChunks(t *testing.T) {
	sizes := []int{3, 3, 3, 10, 1, 1, 1, 1, 4}
	items := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
	size := func(i int) int { return sizes[i] }
	for _, tc := range []struct {
		maxKeys, maxBytes int
		want              [][]int
	}{
		{100, 100, [][]int{items}},
		{2, 100, [][]int{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8}}},
		{100, 6, [][]int{{0, 1}, {2}, {3}, {4, 5, 6, 7}, {8}}}, // 10 > 6 travels alone
		{3, 5, [][]int{{0}, {1}, {2}, {3}, {4, 5, 6}, {7, 8}}},
	} {
		got := chunks(items, tc.maxKeys, tc.maxBytes, size)
		if !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("chunks(keys %d, bytes %d) = %v, want %v", tc.maxKeys, tc.maxBytes, got, tc.want)
		}
	}
	if got := chunks(nil, 1, 1, size); len(got) != 0 {
		t.Errorf("chunks(nil) = %v", got)
	}
}
