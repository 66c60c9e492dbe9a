package txn

import (
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// client-go: integration_tests/snapshot_test.go TestSnapshotCacheBypassMaxUint64: a
// snapshot at kv.MaxTS reads the latest committed data on every read, so its reads are
// not cached (a later read sees a newer commit); a snapshot at a fixed ts caches them.
func TestPortMaxTSSnapshotNotCached(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		x, y, z := p+"x", p+"y", p+"z"
		put(t, c, x, "x1", y, "y1", z, "z1")

		fixed := c.Snapshot(ts(t, c))
		latest := c.Snapshot(kv.MaxTS)
		for _, s := range []*Snapshot{fixed, latest} {
			if v, err := s.Get(ctx, []byte(x)); err != nil || string(v) != "x1" {
				t.Fatalf("get x: %q %v", v, err)
			}
			if m, err := s.BatchGet(ctx, [][]byte{[]byte(y), []byte(z)}); err != nil || len(m) != 2 {
				t.Fatalf("batch get: %v %v", m, err)
			}
		}
		fixed.mu.Lock()
		cached := len(fixed.cache)
		fixed.mu.Unlock()
		if cached != 3 {
			t.Fatalf("fixed-ts snapshot cached %d keys, want 3", cached)
		}
		latest.mu.Lock()
		cached = len(latest.cache)
		latest.mu.Unlock()
		if cached != 0 {
			t.Fatalf("MaxTS snapshot cached %d keys", cached)
		}

		put(t, c, x, "x2", y, "y2")
		if v, err := latest.Get(ctx, []byte(x)); err != nil || string(v) != "x2" {
			t.Fatalf("MaxTS get after a newer commit: %q %v", v, err)
		}
		if m, err := latest.BatchGet(ctx, [][]byte{[]byte(y)}); err != nil || string(m[y]) != "y2" {
			t.Fatalf("MaxTS batch get after a newer commit: %v %v", m, err)
		}
		if v, err := fixed.Get(ctx, []byte(x)); err != nil || string(v) != "x1" {
			t.Fatalf("fixed-ts get after a newer commit: %q %v", v, err)
		}
	})
}
