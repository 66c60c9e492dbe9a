package txn

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A value committed before the min safe ts was taken is read by a snapshot at it from a
// follower.
func TestMinSafeTSSnapshotOnFollower(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	c := open(t, tg, func(cfg *Config) { cfg.SafeTS = cluster.SafeTSConfig{Interval: -1} })
	ctx := testCtx(t)
	if c.MinSafeTS() != 0 {
		t.Fatal("min safe ts known before any round")
	}
	key := []byte(prefix(t) + "k")
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	minTS, err := c.Cluster().UpdateSafeTS(ctx)
	if err != nil || minTS <= tx.CommitTS() || c.MinSafeTS() != minTS {
		t.Fatalf("min safe ts %d (MinSafeTS %d) after a commit at %d: %v", minTS, c.MinSafeTS(), tx.CommitTS(), err)
	}
	var followerReads atomic.Int32
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvGet" && r.Context.GetReplicaRead() {
			if ri := tg.Mem.RegionAt(memcluster.RegionKey(key)); ri.LeaderStore != r.StoreID {
				followerReads.Add(1)
			}
		}
		return nil
	})()
	v, err := c.Snapshot(c.MinSafeTS(), WithReplicaRead(region.ReadFollower)).Get(ctx, key)
	if err != nil || string(v) != "v" {
		t.Fatalf("snapshot at the min safe ts: %q %v", v, err)
	}
	if followerReads.Load() == 0 {
		t.Fatal("the read did not go to a follower")
	}
}
