package codec

import (
	"bytes"
	"errors"
	"testing"
)

// Golden vectors: the 8-byte group format TiKV uses for region keys.
var goldenBytes = []struct {
	in, out []byte
}{
	{[]byte{}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF7}},
	{[]byte{0}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF8}},
	{[]byte{1, 2, 3}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0xFA}},
	{[]byte{1, 2, 3, 0}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0xFB}},
	{[]byte{1, 2, 3, 4, 5, 6, 7}, []byte{1, 2, 3, 4, 5, 6, 7, 0, 0xFE}},
	{[]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7}},
	{[]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 9, 0, 0, 0, 0, 0, 0, 0, 0xF8}},
	{[]byte("x\x00\x00\x01a"), []byte{'x', 0, 0, 1, 'a', 0, 0, 0, 0xFC}},
}

func TestEncodeBytesGolden(t *testing.T) {
	for _, g := range goldenBytes {
		got := EncodeBytes(nil, g.in)
		if !bytes.Equal(got, g.out) {
			t.Errorf("EncodeBytes(%x) = %x, want %x", g.in, got, g.out)
		}
		if len(got) != EncodedLen(len(g.in)) {
			t.Errorf("EncodedLen(%d) = %d, encoding has %d", len(g.in), EncodedLen(len(g.in)), len(got))
		}
		dec, rest, err := DecodeBytes(append(append([]byte{}, g.out...), 0xAA, 0xBB))
		if err != nil {
			t.Fatalf("DecodeBytes(%x): %v", g.out, err)
		}
		if !bytes.Equal(dec, g.in) || !bytes.Equal(rest, []byte{0xAA, 0xBB}) {
			t.Errorf("DecodeBytes(%x) = %x rest %x", g.out, dec, rest)
		}
	}
}

func TestEncodeBytesAppends(t *testing.T) {
	prefix := []byte("head")
	got := EncodeBytes(prefix[:len(prefix):len(prefix)], []byte{7})
	want := append([]byte("head"), 7, 0, 0, 0, 0, 0, 0, 0, 0xF8)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	// With spare capacity the result reuses dst.
	buf := make([]byte, 1, 64)
	out := EncodeBytes(buf, []byte{1})
	if &out[0] != &buf[0] {
		t.Fatal("EncodeBytes did not reuse spare capacity")
	}
}

func TestDecodeBytesMalformed(t *testing.T) {
	cases := map[string][]byte{
		"empty":           {},
		"short group":     {1, 2, 3},
		"missing marker":  {1, 2, 3, 4, 5, 6, 7, 8},
		"bad marker":      {1, 2, 3, 4, 5, 6, 7, 8, 0x10},
		"nonzero padding": {1, 2, 3, 0, 0, 0, 1, 0, 0xFA},
		"truncated chain": {1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 1},
	}
	for name, in := range cases {
		if _, _, err := DecodeBytes(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeBytes(%x) err = %v, want ErrMalformed", name, in, err)
		}
	}
}

func TestEncodeBytesPreservesOrder(t *testing.T) {
	keys := [][]byte{
		{}, {0}, {0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0}, {1},
		{1, 2, 3, 4, 5, 6, 7}, {1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 8, 0}, {1, 2, 3, 4, 5, 6, 8},
		{0xFE}, {0xFF}, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
	}
	for i := range keys {
		for j := range keys {
			want := bytes.Compare(keys[i], keys[j])
			got := bytes.Compare(EncodeBytes(nil, keys[i]), EncodeBytes(nil, keys[j]))
			if want != got {
				t.Errorf("order of %x vs %x: raw %d encoded %d", keys[i], keys[j], want, got)
			}
		}
	}
}

func FuzzMemcomparable(f *testing.F) {
	for _, g := range goldenBytes {
		f.Add(g.in, g.out)
	}
	f.Add([]byte("a"), []byte("b"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ea, eb := EncodeBytes(nil, a), EncodeBytes(nil, b)
		da, rest, err := DecodeBytes(ea)
		if err != nil || len(rest) != 0 || !bytes.Equal(da, a) {
			t.Fatalf("round trip of %x: %x rest %x err %v", a, da, rest, err)
		}
		if bytes.Compare(a, b) != bytes.Compare(ea, eb) {
			t.Fatalf("order not preserved: %x vs %x", a, b)
		}
		// Arbitrary bytes either decode to something that re-encodes to a prefix of the
		// input, or are reported as malformed; they never panic.
		if d, r, err := DecodeBytes(b); err == nil {
			re := EncodeBytes(nil, d)
			if !bytes.Equal(append(re, r...), b) {
				t.Fatalf("decode of %x is not canonical: %x + %x", b, re, r)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error type %v", err)
		}
	})
}
