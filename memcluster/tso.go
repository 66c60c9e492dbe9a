package memcluster

import (
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
)

// logicalLimit is the number of logical values per physical millisecond.
const logicalLimit = 1 << 18

// tsoState issues strictly increasing timestamps: physical milliseconds from the cluster
// clock (never going back), logical counter within a millisecond.
type tsoState struct {
	mu       sync.Mutex
	physical int64
	logical  int64
}

// next reserves count timestamps and returns the largest.
func (t *tsoState) next(clock func() time.Time, count uint32) *pdpb.Timestamp {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := clock().UnixMilli()
	if now > t.physical {
		t.physical, t.logical = now, 0
	}
	if t.logical+int64(count) >= logicalLimit {
		t.physical++
		t.logical = 0
	}
	t.logical += int64(count)
	return &pdpb.Timestamp{Physical: t.physical, Logical: t.logical}
}

// Now returns a fresh timestamp from the cluster's TSO (physical<<18 | logical), as a
// client's TSO request would.
func (c *Cluster) Now() uint64 {
	ts := c.pd.tso.next(c.clock, 1)
	return uint64(ts.Physical)<<18 | uint64(ts.Logical)
}
