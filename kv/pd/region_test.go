package pd

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	pdclient "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/router"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
)

func TestKeyspaceLoading(t *testing.T) {
	ctx := context.Background()
	v2 := func(name string) Config {
		cfg := idleConfig()
		cfg.APIVersion, cfg.Keyspace = codec.V2, name
		return cfg
	}
	cfg := idleConfig()
	cfg.Keyspace = "ks1"
	if _, err := NewWithBackend(ctx, cfg, newFakePD()); !errors.Is(err, kv.ErrAPIVersionMismatch) {
		t.Fatalf("v1 with keyspace: %v", err)
	}
	cfg.Keyspace, cfg.APIVersion = "", 3
	if _, err := NewWithBackend(ctx, cfg, newFakePD()); !errors.Is(err, kv.ErrAPIVersionMismatch) {
		t.Fatalf("API v3: %v", err)
	}
	f := newFakePD()
	if _, err := NewWithBackend(ctx, v2("nope"), f); !errors.Is(err, kv.ErrKeyspaceNotFound) {
		t.Fatalf("missing keyspace: %v", err)
	}
	f = newFakePD()
	f.addKeyspace(5, "off", keyspacepb.KeyspaceState_DISABLED, nil)
	if _, err := NewWithBackend(ctx, v2("off"), f); !errors.Is(err, kv.ErrKeyspaceDisabled) {
		t.Fatalf("disabled keyspace: %v", err)
	}
	f = newFakePD()
	f.keyspaces["v3"] = &keyspacepb.KeyspaceMeta{Name: "v3", State: keyspacepb.KeyspaceState_ENABLED,
		Keyspace: &keyspacepb.KeyspaceMeta_KeyspaceIdentity{}}
	if _, err := NewWithBackend(ctx, v2("v3"), f); !errors.Is(err, kv.ErrAPIVersionMismatch) {
		t.Fatalf("v3 identity: %v", err)
	}
	f = newFakePD()
	f.ksErr = errUnimplemented
	if _, err := NewWithBackend(ctx, v2(""), f); !errors.Is(err, kv.ErrAPIVersionMismatch) {
		t.Fatalf("PD without keyspaces: %v", err)
	}
	f = newFakePD()
	f.addKeyspace(0, codec.DefaultKeyspaceName, keyspacepb.KeyspaceState_ENABLED, nil)
	f.addKeyspace(7, "ks7", keyspacepb.KeyspaceState_ENABLED, map[string]string{
		pdclient.KeyspaceConfigGCManagementType: pdclient.KeyspaceConfigGCManagementTypeKeyspaceLevel})
	c := newTestClient(t, v2(""), f)
	if ks := c.Keyspace(); ks == nil || ks.ID != 0 || ks.Name != codec.DefaultKeyspaceName || ks.KeyspaceLevelGC {
		t.Fatalf("default keyspace = %+v", ks)
	}
	ks, err := c.LoadKeyspace(ctx, "ks7")
	if err != nil || ks.ID != 7 || !ks.KeyspaceLevelGC {
		t.Fatalf("ks7 = %+v, %v", ks, err)
	}
	c7 := newTestClient(t, v2("ks7"), f)
	if id, ok := c7.Codec().Keyspace(); !ok || id != 7 || c7.Codec().Version() != codec.V2 {
		t.Fatalf("codec keyspace = %d %v", id, ok)
	}
	if c7.gcKeyspaceID() != 7 || c7.gcControllerKeyspaceID() != 7 {
		t.Fatal("GC scope of a keyspace with keyspace-level GC")
	}
	if c.gcKeyspaceID() != 0 || c.gcControllerKeyspaceID() != uint32(codec.NullspaceID) {
		t.Fatal("GC scope of a keyspace with unified GC")
	}
	v1 := newTestClient(t, idleConfig(), f)
	if v1.gcKeyspaceID() != uint32(codec.NullspaceID) || v1.gcControllerKeyspaceID() != uint32(codec.NullspaceID) {
		t.Fatal("GC scope under API v1")
	}
}

// regionFixture registers regions split at the user keys "b" and "d" under cd, plus (under
// API v2) regions of the neighbouring keyspaces, and returns the client.
func regionFixture(t *testing.T, cfg Config, cd codec.Codec) (*Client, *fakePD) {
	t.Helper()
	f := newFakePD()
	f.addKeyspace(1, "ks1", keyspacepb.KeyspaceState_ENABLED, nil)
	enc := cd.EncodeRegionKey
	if _, v2 := cd.Keyspace(); v2 {
		lo, hi := cd.EncodeRegionRange(nil, nil)
		f.addRegion(1, nil, lo)
		f.addRegion(2, lo, enc([]byte("b")))
		f.addRegion(3, enc([]byte("b")), enc([]byte("d")))
		f.addRegion(4, enc([]byte("d")), hi)
		f.addRegion(5, hi, nil)
	} else {
		f.addRegion(2, nil, enc([]byte("b")))
		f.addRegion(3, enc([]byte("b")), enc([]byte("d")))
		f.addRegion(4, enc([]byte("d")), nil)
	}
	return newTestClient(t, cfg, f), f
}

func TestRegionKeyEncoding(t *testing.T) {
	v1txn, _ := codec.NewV1(codec.ModeTxn)
	v1raw, _ := codec.NewV1(codec.ModeRaw)
	v2txn, _ := codec.NewV2(codec.ModeTxn, 1)
	v2raw, _ := codec.NewV2(codec.ModeRaw, 1)
	for _, tc := range []struct {
		name string
		cd   codec.Codec
	}{{"v1-txn", v1txn}, {"v1-raw", v1raw}, {"v2-txn", v2txn}, {"v2-raw", v2raw}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := idleConfig()
			cfg.APIVersion, cfg.Mode = tc.cd.Version(), tc.cd.Mode()
			if cfg.APIVersion == codec.V2 {
				cfg.Keyspace = "ks1"
			}
			c, f := regionFixture(t, cfg, tc.cd)
			ctx := context.Background()
			r, err := c.GetRegion(ctx, []byte("c"), WithBuckets())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.lastKey, tc.cd.EncodeRegionKey([]byte("c"))) {
				t.Fatalf("PD saw key %q", f.lastKey)
			}
			if r.Meta.Id != 3 || string(r.Meta.StartKey) != "b" || string(r.Meta.EndKey) != "d" {
				t.Fatalf("region = %d [%q, %q)", r.Meta.Id, r.Meta.StartKey, r.Meta.EndKey)
			}
			if r.Leader.GetStoreId() != 1 || len(r.Meta.Peers) != 1 || r.Meta.RegionEpoch.GetVersion() != 1 {
				t.Fatalf("peers/epoch lost: %+v", r)
			}
			if len(r.Buckets.Keys) != 2 || string(r.Buckets.Keys[0]) != "b" || string(r.Buckets.Keys[1]) != "d" {
				t.Fatalf("buckets = %q", r.Buckets.Keys)
			}
			first, err := c.GetRegion(ctx, nil)
			if err != nil || first.Meta.Id != 2 || len(first.Meta.StartKey) != 0 || string(first.Meta.EndKey) != "b" {
				t.Fatalf("first region = %+v, %v", first, err)
			}
			last, err := c.GetRegion(ctx, []byte("zzz"), WithBuckets())
			if err != nil || last.Meta.Id != 4 || len(last.Meta.EndKey) != 0 {
				t.Fatalf("last region = %+v, %v", last, err)
			}
			if len(last.Buckets.Keys) != 2 || string(last.Buckets.Keys[0]) != "d" || len(last.Buckets.Keys[1]) != 0 {
				t.Fatalf("last buckets = %q", last.Buckets.Keys)
			}
			prev, err := c.GetPrevRegion(ctx, []byte("c"))
			if err != nil || prev.Meta.Id != 2 {
				t.Fatalf("prev region = %+v, %v", prev, err)
			}
			if _, err := c.GetPrevRegion(ctx, []byte("a")); !errors.Is(err, ErrRegionNotFound) || !errors.Is(err, kv.ErrRegionUnavailable) {
				t.Fatalf("region before the first: %v", err)
			}
			byID, err := c.GetRegionByID(ctx, 4)
			if err != nil || string(byID.Meta.StartKey) != "d" {
				t.Fatalf("by id = %+v, %v", byID, err)
			}
			if _, err := c.GetRegionByID(ctx, 99); !errors.Is(err, ErrRegionNotFound) {
				t.Fatalf("unknown id: %v", err)
			}
			all, err := c.ScanRegions(ctx, nil, nil, 0)
			if err != nil || len(all) != 3 || all[0].Meta.Id != 2 || all[2].Meta.Id != 4 {
				t.Fatalf("scan all = %d regions, %v", len(all), err)
			}
			some, err := c.ScanRegions(ctx, []byte("a"), []byte("c"), 1)
			if err != nil || len(some) != 1 || some[0].Meta.Id != 2 {
				t.Fatalf("scan limit 1 = %d, %v", len(some), err)
			}
			batch, err := c.BatchScanRegions(ctx, []kv.KeyRange{{Start: []byte("a"), End: []byte("a1")}, {Start: []byte("e"), End: nil}}, 0)
			if err != nil || len(batch) != 2 || batch[0].Meta.Id != 2 || batch[1].Meta.Id != 4 {
				t.Fatalf("batch scan = %d, %v", len(batch), err)
			}
		})
	}
}

func TestRegionOutsideKeyspace(t *testing.T) {
	cd, _ := codec.NewV2(codec.ModeTxn, 1)
	cfg := idleConfig()
	cfg.APIVersion, cfg.Keyspace = codec.V2, "ks1"
	c, _ := regionFixture(t, cfg, cd)
	// Region 1 lies wholly before keyspace 1.
	if _, err := c.GetRegionByID(context.Background(), 1); !errors.Is(err, ErrRegionNotFound) || !errors.Is(err, codec.ErrOutsideKeyspace) {
		t.Fatalf("region outside the keyspace: %v", err)
	}
	b := c.decodeBuckets(&metapb.Buckets{Keys: [][]byte{
		codec.EncodeBytes(nil, []byte("a")), cd.EncodeRegionKey([]byte("k")), codec.EncodeBytes(nil, []byte("y")),
	}})
	if len(b.Keys) != 3 || len(b.Keys[0]) != 0 || string(b.Keys[1]) != "k" || len(b.Keys[2]) != 0 {
		t.Fatalf("clamped buckets = %q", b.Keys)
	}
}

func TestBatchScanFallsBackToScan(t *testing.T) {
	cd, _ := codec.NewV1(codec.ModeTxn)
	c, f := regionFixture(t, idleConfig(), cd)
	f.batchErr = errUnimplemented
	ctx := context.Background()
	ranges := []kv.KeyRange{{Start: []byte("a"), End: []byte("c")}, {Start: []byte("c"), End: []byte("e")}}
	got, err := c.BatchScanRegions(ctx, ranges, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("fallback = %d regions, %v", len(got), err)
	}
	if !c.batchScanUnsupported.Load() {
		t.Fatal("fallback not remembered")
	}
	got, err = c.BatchScanRegions(ctx, ranges, 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("fallback limit = %d, %v", len(got), err)
	}
	if got, err := c.BatchScanRegions(ctx, nil, 0); err != nil || got != nil {
		t.Fatalf("no ranges = %v, %v", got, err)
	}
}

func TestStores(t *testing.T) {
	f := newFakePD()
	f.stores = []*metapb.Store{
		{Id: 1, Address: "s1:20160"},
		{Id: 2, Address: "s2:20160", State: metapb.StoreState_Tombstone},
		{Id: 3, Address: "s3:20160", NodeState: metapb.NodeState_Removed},
		{Id: 4, Address: "s4:20160", State: metapb.StoreState_Offline},
	}
	c := newTestClient(t, idleConfig(), f)
	ctx := context.Background()
	all, err := c.GetAllStores(ctx)
	if err != nil || len(all) != 2 || all[0].Id != 1 || all[1].Id != 4 {
		t.Fatalf("stores = %v, %v", all, err)
	}
	if s, err := c.GetStore(ctx, 1); err != nil || s.Address != "s1:20160" {
		t.Fatalf("store 1 = %v, %v", s, err)
	}
	for _, id := range []uint64{2, 9} {
		if _, err := c.GetStore(ctx, id); !errors.Is(err, ErrStoreNotFound) {
			t.Fatalf("store %d: %v", id, err)
		}
	}
}

func TestSplitAndScatter(t *testing.T) {
	f := newFakePD()
	f.addKeyspace(1, "ks1", keyspacepb.KeyspaceState_ENABLED, nil)
	cfg := idleConfig()
	cfg.APIVersion, cfg.Keyspace = codec.V2, "ks1"
	c := newTestClient(t, cfg, f)
	ctx := context.Background()
	res, err := c.SplitRegions(ctx, [][]byte{[]byte("m")})
	if err != nil || res.FinishedPercentage != 100 || len(res.RegionIDs) != 2 {
		t.Fatalf("split = %+v, %v", res, err)
	}
	if want := c.Codec().EncodeRegionKey([]byte("m")); len(f.splitKeys) != 1 || !bytes.Equal(f.splitKeys[0], want) {
		t.Fatalf("PD split at %q, want %q", f.splitKeys, want)
	}
	if pct, err := c.ScatterRegions(ctx, res.RegionIDs, "g"); err != nil || pct != 100 || len(f.scattered) != 2 {
		t.Fatalf("scatter = %d, %v", pct, err)
	}
	if busy, err := c.ScatterInProgress(ctx, 7); err != nil || busy {
		t.Fatalf("no operator: %v %v", busy, err)
	}
	f.opDesc = "scatter-region"
	if busy, err := c.ScatterInProgress(ctx, 7); err != nil || !busy {
		t.Fatalf("scatter running: %v %v", busy, err)
	}
}

// FuzzRegionBoundaryRoundTrip: a region whose boundaries are the encoded form of user keys
// comes back with exactly those user keys, under every API version and mode.
func FuzzRegionBoundaryRoundTrip(f *testing.F) {
	f.Add([]byte("a"), []byte("b"))
	f.Add([]byte{}, []byte{0xff, 0x00})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xf7}, []byte{})
	codecs := []codec.Codec{}
	for _, m := range []codec.Mode{codec.ModeTxn, codec.ModeRaw} {
		v1, _ := codec.NewV1(m)
		v2, _ := codec.NewV2(m, 0x010203)
		codecs = append(codecs, v1, v2)
	}
	f.Fuzz(func(t *testing.T, start, end []byte) {
		if len(end) > 0 && bytes.Compare(start, end) >= 0 {
			return
		}
		for _, cd := range codecs {
			c := &Client{codec: cd}
			rs, re := cd.EncodeRegionRange(start, end)
			r, err := c.decodeRegion(&router.Region{Meta: &metapb.Region{Id: 1, StartKey: rs, EndKey: re}})
			if err != nil {
				t.Fatalf("%v/%v: decode [%x, %x): %v", cd.Version(), cd.Mode(), start, end, err)
			}
			if !bytes.Equal(r.Meta.StartKey, start) || !bytes.Equal(r.Meta.EndKey, end) {
				t.Fatalf("%v/%v: [%x, %x) came back as [%x, %x)", cd.Version(), cd.Mode(), start, end, r.Meta.StartKey, r.Meta.EndKey)
			}
		}
	})
}
