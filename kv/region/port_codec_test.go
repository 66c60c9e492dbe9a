package region

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/codec"
)

// client-go: internal/apicodec/codec_v2_test.go TestDecodeEpochNotMatch (regions TiKV
// reports are clamped to the keyspace; a region touching it only at a boundary is
// dropped) and TestDecodeBucketKeys (bucket keys before the keyspace collapse into the
// empty start, the first key at or after its end becomes the empty end). Keyspace 0x1092
// in raw mode, as upstream.
func TestPortDecodeKeyspaceRegionsAndBuckets(t *testing.T) {
	cdc, err := codec.NewV2(codec.ModeRaw, 0x1092)
	if err != nil {
		t.Fatal(err)
	}
	c := New(newFakeCluster(1), Config{Codec: cdc})
	defer c.Close()
	mem := func(b []byte) []byte { return codec.EncodeBytes(nil, b) }
	var (
		prevPrefix  = []byte{'r', 0, 16, 145}
		prefix      = []byte{'r', 0, 16, 146}
		end         = []byte{'r', 0, 16, 147}
		before      = []byte{'r', 0, 0, 1}
		after       = []byte{'r', 1, 0, 0}
		insideLeft  = []byte{'r', 0, 16, 146, 100}
		insideRight = []byte{'r', 0, 16, 146, 200}
	)
	cases := []struct {
		start, end []byte
		keep       bool
		ws, we     []byte
	}{
		{prefix, end, true, nil, nil},                             // exactly the keyspace
		{before, after, true, nil, nil},                           // wider than the keyspace
		{before, insideLeft, true, nil, []byte{100}},              // starts before it
		{insideLeft, insideRight, true, []byte{100}, []byte{200}}, // inside it
		{before, prefix, false, nil, nil},                         // ends where it starts
		{end, after, false, nil, nil},                             // starts where it ends
	}
	for i, cs := range cases {
		m, ok, err := c.decodeMeta(&metapb.Region{Id: uint64(i + 1), StartKey: mem(cs.start), EndKey: mem(cs.end)})
		if err != nil || ok != cs.keep {
			t.Fatalf("region %d: ok %v err %v", i+1, ok, err)
		}
		if ok && (!bytes.Equal(m.StartKey, cs.ws) || !bytes.Equal(m.EndKey, cs.we)) {
			t.Fatalf("region %d decoded to [%x, %x), want [%x, %x)", i+1, m.StartKey, m.EndKey, cs.ws, cs.we)
		}
	}

	withPrefix := func(p []byte, k string) []byte { return mem(append(append([]byte(nil), p...), k...)) }
	rk := func(k string) []byte { return cdc.EncodeRegionKey([]byte(k)) }
	for i, keys := range [][][]byte{
		{withPrefix(prevPrefix, "a"), withPrefix(prevPrefix, "b"), withPrefix(prevPrefix, "c"),
			rk("a"), rk("b"), rk("c"),
			withPrefix(end, ""), withPrefix(end, "a"), withPrefix(end, "b"), withPrefix(end, "c")},
		{withPrefix(prevPrefix, "a"), withPrefix(prevPrefix, "b"), withPrefix(prevPrefix, "c"),
			rk(""), rk("a"), rk("b"), rk("c"), {}},
		{{}, withPrefix(prevPrefix, "a"), withPrefix(prevPrefix, "b"), withPrefix(prevPrefix, "c"),
			rk(""), rk("a"), rk("b"), rk("c"), {}},
	} {
		got := c.decodeBucketKeys(keys)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", [][]byte{{}, []byte("a"), []byte("b"), []byte("c"), {}}) ||
			len(got[0]) != 0 || got[len(got)-1] != nil {
			t.Fatalf("case %d: bucket keys %q", i, got)
		}
	}
}
