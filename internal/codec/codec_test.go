package codec

import (
	"bytes"
	"errors"
	"testing"
)

func mustV2(t testing.TB, m Mode, id KeyspaceID) Codec {
	t.Helper()
	c, err := NewV2(m, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client-go: internal/apicodec/codec_v2_test.go (keyspace ID limits, prefixes, range ends)
func TestKeyspacePrefixAndEnd(t *testing.T) {
	cases := []struct {
		mode       Mode
		id         KeyspaceID
		start, end string
	}{
		{ModeRaw, 0, "r\x00\x00\x00", "r\x00\x00\x01"},
		{ModeTxn, 1, "x\x00\x00\x01", "x\x00\x00\x02"},
		{ModeTxn, 0xFF, "x\x00\x00\xff", "x\x00\x01\x00"},
		{ModeRaw, 0xFFFF, "r\x00\xff\xff", "r\x01\x00\x00"},
		{ModeRaw, 0xFFFFFF, "r\xff\xff\xff", "s\x00\x00\x00"},
		{ModeTxn, 0xFFFFFF, "x\xff\xff\xff", "y\x00\x00\x00"},
	}
	for _, c := range cases {
		cd := mustV2(t, c.mode, c.id)
		ws, we := cd.EncodeRange(nil, nil)
		if string(ws) != c.start || string(we) != c.end {
			t.Errorf("%v/%d: range = [%q, %q), want [%q, %q)", c.mode, c.id, ws, we, c.start, c.end)
		}
		p, err := KeyspacePrefix(c.mode, c.id)
		if err != nil || string(p) != c.start {
			t.Errorf("KeyspacePrefix = %q, %v", p, err)
		}
		m, id, ok := ParseKeyspaceID(append(p, 'k'))
		if !ok || m != c.mode || id != c.id {
			t.Errorf("ParseKeyspaceID = %v %d %v", m, id, ok)
		}
		if got, ok := cd.Keyspace(); !ok || got != c.id {
			t.Errorf("Keyspace() = %d %v", got, ok)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := NewV2(ModeRaw, MaxKeyspaceID+1); !errors.Is(err, ErrKeyspaceID) {
		t.Errorf("id too large: %v", err)
	}
	if _, err := NewV2(Mode(9), 1); !errors.Is(err, ErrMode) {
		t.Errorf("bad mode v2: %v", err)
	}
	if _, err := NewV1(Mode(0)); !errors.Is(err, ErrMode) {
		t.Errorf("bad mode v1: %v", err)
	}
	if _, err := KeyspacePrefix(ModeTxn, NullspaceID); !errors.Is(err, ErrKeyspaceID) {
		t.Errorf("prefix of nullspace: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("x\x00"), []byte("a\x00\x00\x00")} {
		if _, _, ok := ParseKeyspaceID(bad); ok {
			t.Errorf("ParseKeyspaceID(%q) ok", bad)
		}
	}
}

func TestV2Keys(t *testing.T) {
	c := mustV2(t, ModeTxn, 7)
	in := []byte("user")
	w := c.EncodeKey(in)
	if string(w) != "x\x00\x00\x07user" {
		t.Fatalf("EncodeKey = %q", w)
	}
	w[4] = 'U' // the encoded key must not alias the input
	if string(in) != "user" {
		t.Fatal("EncodeKey aliases its input")
	}
	got, err := c.DecodeKey([]byte("x\x00\x00\x07k"))
	if err != nil || string(got) != "k" {
		t.Fatalf("DecodeKey = %q, %v", got, err)
	}
	for _, foreign := range []string{"x\x00\x00\x08k", "r\x00\x00\x07k", "x\x00", ""} {
		if _, err := c.DecodeKey([]byte(foreign)); !errors.Is(err, ErrOutsideKeyspace) {
			t.Errorf("DecodeKey(%q) err = %v", foreign, err)
		}
	}
	ws, we := c.EncodeRange([]byte("a"), []byte("b"))
	if string(ws) != "x\x00\x00\x07a" || string(we) != "x\x00\x00\x07b" {
		t.Fatalf("EncodeRange = %q %q", ws, we)
	}
	if c.Version() != V2 || c.Mode() != ModeTxn {
		t.Fatal("version/mode")
	}
}

func TestV2DecodeRangeClamps(t *testing.T) {
	c := mustV2(t, ModeRaw, 2)
	cases := []struct {
		ws, we     string
		start, end string
		err        bool
	}{
		{"", "", "", "", false},
		{"r\x00\x00\x02a", "r\x00\x00\x02b", "a", "b", false},
		{"r\x00\x00\x01zz", "r\x00\x00\x02m", "", "m", false},
		{"r\x00\x00\x02m", "r\x00\x00\x03", "m", "", false},
		{"r\x00\x00\x02m", "s", "m", "", false},
		{"a", "z", "", "", false},
		{"r\x00\x00\x03", "r\x00\x00\x04", "", "", true},
		{"r\x00\x00\x00", "r\x00\x00\x02", "", "", true},
		{"r\x00\x00\x00", "r\x00\x00\x01", "", "", true},
	}
	for _, cs := range cases {
		s, e, err := c.DecodeRange([]byte(cs.ws), []byte(cs.we))
		if cs.err {
			if !errors.Is(err, ErrOutsideKeyspace) {
				t.Errorf("DecodeRange(%q,%q) err = %v, want ErrOutsideKeyspace", cs.ws, cs.we, err)
			}
			continue
		}
		if err != nil || string(s) != cs.start || string(e) != cs.end {
			t.Errorf("DecodeRange(%q,%q) = %q %q %v, want %q %q", cs.ws, cs.we, s, e, err, cs.start, cs.end)
		}
	}
}

func TestV2RegionKeys(t *testing.T) {
	c := mustV2(t, ModeTxn, 0xFFFFFF)
	rk := c.EncodeRegionKey([]byte("k"))
	if !bytes.Equal(rk, EncodeBytes(nil, []byte("x\xff\xff\xffk"))) {
		t.Fatalf("EncodeRegionKey = %x", rk)
	}
	k, err := c.DecodeRegionKey(rk)
	if err != nil || string(k) != "k" {
		t.Fatalf("DecodeRegionKey = %q %v", k, err)
	}
	if _, err := c.DecodeRegionKey([]byte{1, 2}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed region key: %v", err)
	}
	rs, re := c.EncodeRegionRange(nil, nil)
	if !bytes.Equal(rs, EncodeBytes(nil, []byte("x\xff\xff\xff"))) || !bytes.Equal(re, EncodeBytes(nil, []byte("y\x00\x00\x00"))) {
		t.Fatalf("EncodeRegionRange = %x %x", rs, re)
	}
	s, e, err := c.DecodeRegionRange(rs, re)
	if err != nil || len(s) != 0 || len(e) != 0 {
		t.Fatalf("DecodeRegionRange(whole keyspace) = %q %q %v", s, e, err)
	}
	// A region from the start of the cluster to the middle of the keyspace.
	s, e, err = c.DecodeRegionRange(nil, c.EncodeRegionKey([]byte("m")))
	if err != nil || len(s) != 0 || string(e) != "m" {
		t.Fatalf("DecodeRegionRange(open start) = %q %q %v", s, e, err)
	}
	if _, _, err := c.DecodeRegionRange([]byte{9}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed start: %v", err)
	}
	if _, _, err := c.DecodeRegionRange(nil, []byte{9}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed end: %v", err)
	}
}

func TestV1(t *testing.T) {
	txn, _ := NewV1(ModeTxn)
	raw, _ := NewV1(ModeRaw)
	k := []byte("key")
	for _, c := range []Codec{txn, raw} {
		if c.Version() != V1 {
			t.Fatal("version")
		}
		if id, ok := c.Keyspace(); ok || id != NullspaceID {
			t.Fatal("v1 has no keyspace")
		}
		if w := c.EncodeKey(k); !bytes.Equal(w, k) {
			t.Fatal("v1 EncodeKey must be the identity")
		}
		if d, err := c.DecodeKey(k); err != nil || !bytes.Equal(d, k) {
			t.Fatal("v1 DecodeKey must be the identity")
		}
		s, e := c.EncodeRange([]byte("a"), nil)
		if string(s) != "a" || len(e) != 0 {
			t.Fatal("v1 EncodeRange")
		}
		s, e, err := c.DecodeRange([]byte("a"), []byte("b"))
		if err != nil || string(s) != "a" || string(e) != "b" {
			t.Fatal("v1 DecodeRange")
		}
	}
	if got := raw.EncodeRegionKey(k); !bytes.Equal(got, k) {
		t.Fatal("v1 raw region keys are plain")
	}
	if got := txn.EncodeRegionKey(k); !bytes.Equal(got, EncodeBytes(nil, k)) {
		t.Fatal("v1 txn region keys are memcomparable")
	}
	rs, re := txn.EncodeRegionRange([]byte("a"), nil)
	if !bytes.Equal(rs, EncodeBytes(nil, []byte("a"))) || len(re) != 0 {
		t.Fatalf("v1 txn EncodeRegionRange = %x %x", rs, re)
	}
	rs, re = txn.EncodeRegionRange([]byte("a"), []byte("b"))
	s, e, err := txn.DecodeRegionRange(rs, re)
	if err != nil || string(s) != "a" || string(e) != "b" {
		t.Fatalf("v1 txn DecodeRegionRange = %q %q %v", s, e, err)
	}
	if s, e, err := txn.DecodeRegionRange(nil, nil); err != nil || len(s) != 0 || len(e) != 0 {
		t.Fatal("v1 txn empty boundaries stay empty")
	}
	if _, _, err := txn.DecodeRegionRange([]byte{1}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("v1 txn malformed start: %v", err)
	}
	if _, _, err := txn.DecodeRegionRange(nil, []byte{1}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("v1 txn malformed end: %v", err)
	}
	rs, re = raw.EncodeRegionRange([]byte("a"), []byte("b"))
	if s, e, err := raw.DecodeRegionRange(rs, re); err != nil || string(s) != "a" || string(e) != "b" {
		t.Fatal("v1 raw region range is plain")
	}
}

func TestStrings(t *testing.T) {
	if V1.String() != "v1" || V2.String() != "v2" || Version(5).String() != "Version(5)" {
		t.Error("Version.String")
	}
	if ModeTxn.String() != "txn" || ModeRaw.String() != "raw" || Mode(7).String() != "Mode(7)" {
		t.Error("Mode.String")
	}
}

// FuzzKeyspaceCodec checks symmetry and order preservation of the API v2 codec, for keys,
// region keys and ranges, across keyspace IDs (including the carry cases).
func FuzzKeyspaceCodec(f *testing.F) {
	f.Add(uint32(0), true, []byte("a"), []byte("b"))
	f.Add(uint32(0xFF), false, []byte{}, []byte{0xFF})
	f.Add(uint32(0xFFFFFF), true, []byte{0}, []byte{0, 0})
	f.Fuzz(func(t *testing.T, id uint32, raw bool, a, b []byte) {
		id &= uint32(MaxKeyspaceID)
		mode := ModeTxn
		if raw {
			mode = ModeRaw
		}
		c := mustV2(t, mode, KeyspaceID(id))
		wa, wb := c.EncodeKey(a), c.EncodeKey(b)
		if d, err := c.DecodeKey(wa); err != nil || !bytes.Equal(d, a) {
			t.Fatalf("DecodeKey(EncodeKey(%x)) = %x, %v", a, d, err)
		}
		if bytes.Compare(a, b) != bytes.Compare(wa, wb) {
			t.Fatalf("key order not preserved for %x, %x", a, b)
		}
		ra, rb := c.EncodeRegionKey(a), c.EncodeRegionKey(b)
		if d, err := c.DecodeRegionKey(ra); err != nil || !bytes.Equal(d, a) {
			t.Fatalf("DecodeRegionKey(EncodeRegionKey(%x)) = %x, %v", a, d, err)
		}
		if bytes.Compare(a, b) != bytes.Compare(ra, rb) {
			t.Fatalf("region key order not preserved for %x, %x", a, b)
		}
		// Every encoded key lies inside the keyspace's wire range.
		ks, ke := c.EncodeRange(nil, nil)
		if bytes.Compare(wa, ks) < 0 || bytes.Compare(wa, ke) >= 0 {
			t.Fatalf("encoded key %x outside [%x, %x)", wa, ks, ke)
		}
		lo, hi := a, b
		if bytes.Compare(lo, hi) > 0 {
			lo, hi = hi, lo
		}
		s, e, err := c.DecodeRegionRange(c.EncodeRegionRange(lo, hi))
		if err != nil || !bytes.Equal(s, lo) || !bytes.Equal(e, hi) {
			t.Fatalf("range round trip [%x, %x) = [%x, %x) %v", lo, hi, s, e, err)
		}
	})
}
