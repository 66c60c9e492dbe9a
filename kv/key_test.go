package kv

import (
	"bytes"
	"errors"
	"testing"
)

func TestKeyClone(t *testing.T) {
	if Key(nil).Clone() != nil {
		t.Fatal("Clone(nil) != nil")
	}
	k := Key("abc")
	c := k.Clone()
	c[0] = 'X'
	if string(k) != "abc" {
		t.Fatal("Clone shares memory")
	}
	if e := (Key{}).Clone(); e == nil || len(e) != 0 {
		t.Fatal("Clone of empty must be empty, non-nil")
	}
}

func TestKeyNextAndCompare(t *testing.T) {
	k := Key("a")
	n := k.Next()
	if !bytes.Equal(n, []byte{'a', 0}) || k.Compare(n) != -1 || n.Compare(k) != 1 || k.Compare(Key("a")) != 0 {
		t.Fatalf("Next = %x", n)
	}
	n[0] = 'z'
	if string(k) != "a" {
		t.Fatal("Next shares memory")
	}
}

// client-go: kv/key_test.go TestPrefixNextKey
func TestPrefixNext(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{[]byte{}, nil},
		{[]byte{0xFF}, nil},
		{[]byte{0xFF, 0xFF}, nil},
		{[]byte{0}, []byte{1}},
		{[]byte("abc"), []byte("abd")},
		{[]byte{'a', 0xFF}, []byte{'b'}},
		{[]byte{'a', 0xFF, 0xFF}, []byte{'b'}},
		{[]byte{0xFE, 0xFF}, []byte{0xFF}},
	}
	for _, c := range cases {
		in := Key(c.in).Clone()
		got := Key(c.in).PrefixNext()
		if !bytes.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("PrefixNext(%x) = %x, want %x", c.in, got, c.want)
		}
		if !bytes.Equal(in, c.in) {
			t.Errorf("PrefixNext modified its receiver")
		}
	}
}

func TestKeyString(t *testing.T) {
	if s := Key("ab").String(); s != `"ab"` {
		t.Errorf("String = %s", s)
	}
	if s := Key([]byte{0, 0xFF}).String(); s != "0x00ff" {
		t.Errorf("String = %s", s)
	}
}

func TestKeyRange(t *testing.T) {
	r := KeyRange{Start: Key("b"), End: Key("d")}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true, "cz": true, "d": false} {
		if r.Contains([]byte(k)) != want {
			t.Errorf("Contains(%q) != %v", k, want)
		}
	}
	if r.Unbounded() || r.Empty() {
		t.Fatal("bounded non-empty")
	}
	bad := KeyRange{Start: Key("z"), End: Key("a")}
	if err := bad.Validate(); !errors.Is(err, ErrInvalidRange) {
		t.Fatalf("Validate = %v", err)
	}
	if !bad.Empty() {
		t.Fatal("inverted range is empty")
	}
	eq := KeyRange{Start: Key("a"), End: Key("a")}
	if eq.Validate() != nil || !eq.Empty() {
		t.Fatal("start == end is valid and empty")
	}
	all := KeyRange{}
	if all.Validate() != nil || !all.Unbounded() || all.Empty() || !all.Contains([]byte{0xFF, 0xFF}) || !all.Contains(nil) {
		t.Fatal("zero range covers everything")
	}
	open := KeyRange{Start: Key("m")}
	if open.Validate() != nil || open.Contains([]byte("a")) || !open.Contains([]byte("zzz")) {
		t.Fatal("open-ended range")
	}
	if got := r.String(); got != `["b", "d")` {
		t.Errorf("String = %s", got)
	}
	if got := open.String(); got != `["m", +inf)` {
		t.Errorf("String = %s", got)
	}
}

func TestPrefixAndSingleKeyRange(t *testing.T) {
	p := PrefixRange([]byte("ab"))
	if string(p.Start) != "ab" || string(p.End) != "ac" {
		t.Fatalf("PrefixRange = %v", p)
	}
	if !p.Contains([]byte("ab")) || !p.Contains([]byte("ab\xff\xff")) || p.Contains([]byte("ac")) || p.Contains([]byte("aa")) {
		t.Fatal("PrefixRange membership")
	}
	if all := PrefixRange(nil); !all.Unbounded() || len(all.Start) != 0 {
		t.Fatal("PrefixRange(nil) is everything")
	}
	if ff := PrefixRange([]byte{0xFF}); !ff.Unbounded() || !ff.Contains([]byte{0xFF, 1}) {
		t.Fatal("PrefixRange(0xFF) is unbounded")
	}
	s := SingleKeyRange([]byte("k"))
	if !s.Contains([]byte("k")) || s.Contains([]byte("k\x00")) || s.Contains([]byte("j")) {
		t.Fatal("SingleKeyRange")
	}
}

func TestIntersect(t *testing.T) {
	mk := func(s, e string) KeyRange { return KeyRange{Start: Key(s), End: Key(e)} }
	cases := []struct {
		a, b, want KeyRange
		ok         bool
	}{
		{mk("a", "m"), mk("c", "z"), mk("c", "m"), true},
		{mk("a", "m"), mk("", ""), mk("a", "m"), true},
		{mk("", ""), mk("c", ""), mk("c", ""), true},
		{mk("a", "c"), mk("c", "e"), KeyRange{}, false},
		{mk("d", "e"), mk("a", "b"), KeyRange{}, false},
		{mk("b", ""), mk("a", "c"), mk("b", "c"), true},
	}
	for _, c := range cases {
		got, ok := c.a.Intersect(c.b)
		if ok != c.ok || !bytes.Equal(got.Start, c.want.Start) || !bytes.Equal(got.End, c.want.End) {
			t.Errorf("%v ∩ %v = %v %v, want %v %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}
