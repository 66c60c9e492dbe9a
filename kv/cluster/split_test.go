package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

func splitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// splitKeys returns n keys under a prefix unique to the test.
func splitKeys(t *testing.T, n int) [][]byte {
	p := fmt.Sprintf("splittest/%s/%d/", t.Name(), time.Now().UnixNano())
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s%06d", p, i)
	}
	return out
}

// mustStartRegions checks that every key now starts a region.
func mustStartRegions(t *testing.T, cl *cluster.Cluster, keys [][]byte) {
	t.Helper()
	for _, k := range keys {
		loc, err := cl.Cache().Locate(splitCtx(t), k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(loc.StartKey, k) {
			t.Fatalf("key %q is inside region [%q, %q)", k, loc.StartKey, loc.EndKey)
		}
	}
}

// client-go: tikv/split_region.go SplitRegions (and integration_tests/split_test.go's
// use of it): splitting at many keys, given unsorted with duplicates, creates one region
// per key, scatters them and waits for the scatter; splitting again at the same keys
// creates nothing, since every key already starts a region.
func TestSplitRegionsAndScatter(t *testing.T) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		for _, mode := range []cluster.Mode{cluster.Txn, cluster.Raw} {
			cl := tg.Open(t, mode)
			keys := splitKeys(t, 100)
			in := append([][]byte{nil, keys[50], keys[3]}, keys...) // unsorted, duplicates, the empty key
			ids, err := cl.SplitRegions(splitCtx(t), in, cluster.SplitOptions{Scatter: true, ScatterGroup: "test", Concurrency: 4})
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != len(keys) {
				t.Fatalf("%v: %d new regions, want %d", mode, len(ids), len(keys))
			}
			if err := cl.WaitScatter(splitCtx(t), ids); err != nil {
				t.Fatal(err)
			}
			mustStartRegions(t, cl, keys)
			again, err := cl.SplitRegions(splitCtx(t), keys, cluster.SplitOptions{})
			if err != nil || len(again) != 0 {
				t.Fatalf("%v: split again: %v new regions, %v", mode, again, err)
			}
		}
	})
}

func TestSplitRegionsNothing(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	cl := tg.Open(t, cluster.Txn)
	ids, err := cl.SplitRegions(splitCtx(t), [][]byte{nil, {}}, cluster.SplitOptions{Scatter: true})
	if err != nil || ids != nil {
		t.Fatalf("split at the empty key: %v, %v", ids, err)
	}
}

// More keys than one SplitRegion request carries go in several requests; a request that
// meets a region error has its keys grouped again.
func TestSplitRegionsChunksAndRegionErrors(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	cl := tg.Open(t, cluster.Txn)
	keys := splitKeys(t, cluster.MaxSplitKeysPerRequest+100)
	var requests, injected atomic.Int64
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method != "SplitRegion" {
			return nil
		}
		requests.Add(1)
		if injected.CompareAndSwap(0, 1) {
			return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected", NotLeader: &errorpb.NotLeader{}}}
		}
		return nil
	})()
	ids, err := cl.SplitRegions(splitCtx(t), keys, cluster.SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(keys) {
		t.Fatalf("%d new regions, want %d", len(ids), len(keys))
	}
	if requests.Load() < 3 { // the injected error, the first chunk, the rest
		t.Errorf("%d SplitRegion requests, want at least 3", requests.Load())
	}
	mustStartRegions(t, cl, keys)
}

// WaitScatter polls PD while a scatter runs, and gives up when ctx ends.
func TestWaitScatter(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	cl := tg.Open(t, cluster.Txn)
	ids, err := cl.SplitRegions(splitCtx(t), splitKeys(t, 2), cluster.SplitOptions{Scatter: true})
	if err != nil || len(ids) != 2 {
		t.Fatalf("split: %v, %v", ids, err)
	}
	tg.Mem.SetScatterRunning(ids[0], 3)
	tg.Mem.SetScatterRunning(ids[1], 2)
	if err := cl.WaitScatter(splitCtx(t), ids); err != nil {
		t.Fatal(err)
	}
	tg.Mem.SetScatterRunning(ids[1], 1<<30)
	defer tg.Mem.SetScatterRunning(ids[1], 0)
	ctx, cancel := context.WithTimeout(splitCtx(t), 50*time.Millisecond)
	defer cancel()
	if err := cl.WaitScatter(ctx, ids); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for an endless scatter: %v", err)
	}
}

// Under API v2 raw keys become memcomparable region boundaries like every other key:
// the split request must not be sent as an API v1 raw split (IsRawKv), or the boundary
// stays unencoded and no client can decode it.
func TestSplitRegionsRawV2(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	if _, err := tg.Mem.CreateKeyspace("ks1"); err != nil {
		t.Fatal(err)
	}
	tg.Keyspace = "ks1"
	cl := tg.Open(t, cluster.Raw)
	keys := splitKeys(t, 5)
	if _, err := cl.SplitRegions(splitCtx(t), keys, cluster.SplitOptions{}); err != nil {
		t.Fatal(err)
	}
	mustStartRegions(t, cl, keys)
	// A client that did not split decodes the new boundaries too.
	fresh := tg.Open(t, cluster.Raw)
	mustStartRegions(t, fresh, keys)
}
