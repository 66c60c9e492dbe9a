package codec

import (
	"errors"
	"testing"
)

// client-go: internal/apicodec/codec_v2_test.go TestEncodeV2KeyRanges (an empty start is
// the keyspace's start, an empty end its end, whichever side is empty) and
// codec_test.go TestDecodeKey, TestParseKeyspaceID (v1 keys pass unchanged, a v2 codec
// refuses a key without a v2 prefix, the ID is the three bytes after the mode byte)
func TestPortKeyRangesAndDecode(t *testing.T) {
	c := mustV2(t, ModeRaw, 0x1092)
	p, e := "r\x00\x10\x92", "r\x00\x10\x93"
	for _, cs := range []struct{ s, e, ws, we string }{
		{"", "", p, e},
		{"", "z", p, p + "z"},
		{"a", "", p + "a", e},
		{"a", "z", p + "a", p + "z"},
	} {
		ws, we := c.EncodeRange([]byte(cs.s), []byte(cs.e))
		if string(ws) != cs.ws || string(we) != cs.we {
			t.Errorf("EncodeRange(%q, %q) = [%q, %q), want [%q, %q)", cs.s, cs.e, ws, we, cs.ws, cs.we)
		}
	}

	for _, w := range []string{"r\x01\x02\x03\x01\x02\x03\x04", "x\x01\x02\x03\x01\x02\x03"} {
		if _, id, ok := ParseKeyspaceID([]byte(w)); !ok || id != 0x010203 {
			t.Errorf("ParseKeyspaceID(%q) = %x %v", w, id, ok)
		}
		v2, _ := NewV2(map[byte]Mode{'r': ModeRaw, 'x': ModeTxn}[w[0]], 0x010203)
		if k, err := v2.DecodeKey([]byte(w)); err != nil || string(k) != w[4:] {
			t.Errorf("DecodeKey(%q) = %q %v", w, k, err)
		}
	}
	for _, w := range []string{"t\x00\x00", "t\x00\x00\x01\x01\x02\x03"} {
		if _, _, ok := ParseKeyspaceID([]byte(w)); ok {
			t.Errorf("ParseKeyspaceID(%q) accepted", w)
		}
	}
	table := "t\x01\x02\x03\x01\x02\x03\x04"
	v1, _ := NewV1(ModeTxn)
	if k, err := v1.DecodeKey([]byte(table)); err != nil || string(k) != table {
		t.Errorf("v1 DecodeKey = %q %v", k, err)
	}
	v2, _ := NewV2(ModeTxn, 0x010203)
	if _, err := v2.DecodeKey([]byte(table)); !errors.Is(err, ErrOutsideKeyspace) {
		t.Errorf("v2 DecodeKey of a v1 key: %v", err)
	}
}
