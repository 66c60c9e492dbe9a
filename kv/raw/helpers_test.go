package raw_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// each runs fn against testcluster.Each's targets (a memcluster under API v1 and, when
// TIKV_PD_ADDRS is set, the local cluster) and against a memcluster with an API v2
// keyspace, so the keyspace encoding is covered without a local cluster.
func each(t *testing.T, opts memcluster.Options, fn func(t *testing.T, tg testcluster.Target)) {
	t.Helper()
	testcluster.Each(t, opts, fn)
	t.Run("memory-v2", func(t *testing.T) {
		tg := testcluster.Memory(t, opts)
		if _, err := tg.Mem.CreateKeyspace("ks1"); err != nil {
			t.Fatal(err)
		}
		tg.Name, tg.Keyspace = "memory-v2", "ks1"
		fn(t, tg)
	})
}

// open returns a raw client for tg, closed when the test ends; edit adjusts its Config.
func open(t testing.TB, tg testcluster.Target, edit func(*raw.Config)) *raw.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := raw.Config{Config: tg.Config(cluster.Raw)}
	if edit != nil {
		edit(&cfg)
	}
	c, err := raw.New(ctx, cfg)
	if err != nil {
		t.Fatalf("raw.New on %s: %v", tg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

var seq atomic.Int64

// prefix returns a key prefix no other test (or earlier run on a shared cluster) uses.
func prefix(t testing.TB) string {
	return fmt.Sprintf("rawtest/%s/%d-%d/", t.Name(), time.Now().UnixNano(), seq.Add(1))
}

// testCtx returns a ctx bounded for one test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// split splits the target's regions at the user keys; a local cluster that cannot split
// is left as it is.
func split(t testing.TB, c *raw.Client, tg testcluster.Target, keys ...string) {
	t.Helper()
	ks := make([][]byte, len(keys))
	for i, k := range keys {
		ks[i] = []byte(k)
	}
	if _, err := c.Cluster().PD().SplitRegions(testCtx(t), ks); err != nil {
		if tg.Mem == nil {
			t.Logf("split unsupported on %s: %v", tg.Name, err)
			return
		}
		t.Fatalf("split: %v", err)
	}
}

type timeDuration = time.Duration

const time1 = time.Second

// checkClipped installs a hook on a memory target that fails the test when a range
// request (RawScan, RawDeleteRange, RawChecksum) reaches beyond the region it is sent to,
// or when a request does not carry the target's API version: the client, not the server,
// must clip ranges to regions and stamp the API version.
func checkClipped(t *testing.T, tg testcluster.Target) {
	t.Helper()
	if tg.Mem == nil {
		return
	}
	v2 := tg.Keyspace != ""
	regionKey := func(wire []byte) []byte {
		if v2 {
			return memcluster.RegionKey(wire)
		}
		return wire
	}
	within := func(id uint64, epoch *metapb.RegionEpoch, lo, hi []byte) bool {
		for _, r := range tg.Mem.Regions() {
			if r.Meta.Id != id {
				continue
			}
			if r.Meta.RegionEpoch.GetVersion() != epoch.GetVersion() {
				return true // a stale epoch; the server answers EpochNotMatch
			}
			s, e := r.Meta.StartKey, r.Meta.EndKey
			loOK := bytes.Compare(regionKey(lo), s) >= 0
			hiOK := len(e) == 0 || (len(hi) > 0 && bytes.Compare(regionKey(hi), e) <= 0)
			return loOK && hiOK
		}
		return true // the region is gone; the server answers with a region error
	}
	remove := tg.Mem.AddHook(func(_ context.Context, req *memcluster.Request) *memcluster.Fault {
		if got := req.Context.GetApiVersion() == kvrpcpb.APIVersion_V2; got != v2 {
			t.Errorf("%s carries API v2 = %v on a v2 = %v target", req.Method, got, v2)
		}
		id := req.Context.GetRegionId()
		switch b := req.Body.(type) {
		case *kvrpcpb.RawScanRequest:
			lo, hi := b.StartKey, b.EndKey
			if b.Reverse {
				lo, hi = hi, lo
			}
			if !within(id, req.Context.GetRegionEpoch(), lo, hi) {
				t.Errorf("RawScan [%q, %q) not clipped to region %d", lo, hi, id)
			}
		case *kvrpcpb.RawDeleteRangeRequest:
			if !within(id, req.Context.GetRegionEpoch(), b.StartKey, b.EndKey) {
				t.Errorf("RawDeleteRange [%q, %q) not clipped to region %d", b.StartKey, b.EndKey, id)
			}
		case *kvrpcpb.RawChecksumRequest:
			for _, r := range b.Ranges {
				if !within(id, req.Context.GetRegionEpoch(), r.StartKey, r.EndKey) {
					t.Errorf("RawChecksum [%q, %q) not clipped to region %d", r.StartKey, r.EndKey, id)
				}
			}
		}
		return nil
	})
	t.Cleanup(remove)
}
