package rawkv

import (
	"bytes"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// Bounds describes the region a raw request was addressed to.
type Bounds struct {
	// Region is the region's current metadata; its StartKey and EndKey are
	// in PD's region key space (EndKey empty = unbounded).
	Region *metapb.Region
	// V2 is set when the request uses API v2, whose region keys are the
	// memcomparable encoding of the wire keys.
	V2 bool
}

// regionKey maps a wire key into the region key space.
func (b Bounds) regionKey(key []byte) []byte {
	if b.V2 {
		return EncodeBytes(key)
	}
	return key
}

// Contains reports whether key belongs to the region.
func (b Bounds) Contains(key []byte) bool {
	return !b.beforeStart(key) && !b.atOrAfterEnd(key)
}

func (b Bounds) beforeStart(key []byte) bool {
	return bytes.Compare(b.regionKey(key), b.Region.GetStartKey()) < 0
}

func (b Bounds) atOrAfterEnd(key []byte) bool {
	end := b.Region.GetEndKey()
	return len(end) > 0 && bytes.Compare(b.regionKey(key), end) >= 0
}

// lower returns the smallest wire key that may belong to the region (a seek
// position; keys found from there are still checked with Contains).
func (b Bounds) lower() []byte {
	start := b.Region.GetStartKey()
	if !b.V2 || len(start) == 0 {
		return start
	}
	if k, ok := DecodeBytes(start); ok {
		return k
	}
	return nil
}

// notInRegion builds the KeyNotInRegion region error for key.
func (b Bounds) notInRegion(key []byte) *errorpb.Error {
	return &errorpb.Error{
		Message: "key is not in region",
		KeyNotInRegion: &errorpb.KeyNotInRegion{
			Key:      key,
			RegionId: b.Region.GetId(),
			StartKey: b.Region.GetStartKey(),
			EndKey:   b.Region.GetEndKey(),
		},
	}
}

// checkKeys returns a region error for the first key outside the region.
func (b Bounds) checkKeys(keys ...[]byte) *errorpb.Error {
	for _, k := range keys {
		if !b.Contains(k) {
			return b.notInRegion(k)
		}
	}
	return nil
}

// maxKey returns the larger of a and b.
func maxKey(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}

const (
	encGroupSize = 8
	encMarker    = 0xFF
	encPad       = 0x00
)

// EncodeBytes returns the memcomparable encoding of key: 8-byte groups, each
// followed by a marker byte of 0xFF minus the number of padding bytes.
func EncodeBytes(key []byte) []byte {
	out := make([]byte, 0, (len(key)/encGroupSize+1)*(encGroupSize+1))
	for i := 0; i <= len(key); i += encGroupSize {
		rest := len(key) - i
		if rest >= encGroupSize {
			out = append(out, key[i:i+encGroupSize]...)
			out = append(out, encMarker)
			continue
		}
		out = append(out, key[i:]...)
		for j := rest; j < encGroupSize; j++ {
			out = append(out, encPad)
		}
		out = append(out, byte(encMarker-(encGroupSize-rest)))
	}
	return out
}

// DecodeBytes reverses EncodeBytes. It reports false when enc is not a
// complete, canonical encoding (trailing bytes after the last group are
// ignored, as region keys may carry a timestamp suffix).
func DecodeBytes(enc []byte) ([]byte, bool) {
	var out []byte
	for {
		if len(enc) < encGroupSize+1 {
			return nil, false
		}
		group, marker := enc[:encGroupSize], enc[encGroupSize]
		enc = enc[encGroupSize+1:]
		pad := encMarker - int(marker)
		if pad == 0 {
			out = append(out, group...)
			continue
		}
		if pad > encGroupSize {
			return nil, false
		}
		real := encGroupSize - pad
		for _, c := range group[real:] {
			if c != encPad {
				return nil, false
			}
		}
		return append(out, group[:real]...), true
	}
}
