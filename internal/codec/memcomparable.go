package codec

import (
	"errors"
	"fmt"
)

const (
	// groupSize is the number of payload bytes in each encoded group.
	groupSize = 8
	// markerFull is the marker that follows a group with no padding.
	markerFull = 0xFF
)

// ErrMalformed reports bytes that are not a valid memcomparable encoding, or a region
// boundary that cannot be decoded. The error returned by [DecodeBytes] wraps it.
var ErrMalformed = errors.New("codec: malformed memcomparable bytes")

// EncodedLen returns the length of the memcomparable encoding of n bytes.
func EncodedLen(n int) int {
	return (n/groupSize + 1) * (groupSize + 1)
}

// EncodeBytes appends the memcomparable encoding of data to dst and returns the extended
// slice. The encoding of a key sorts, byte-wise, exactly as the key itself does.
func EncodeBytes(dst, data []byte) []byte {
	need := EncodedLen(len(data))
	if cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	for i := 0; i <= len(data); i += groupSize {
		remain := len(data) - i
		if remain >= groupSize {
			dst = append(dst, data[i:i+groupSize]...)
			dst = append(dst, markerFull)
			continue
		}
		// Final (possibly empty) group: pad with zeros, the marker records the pad count.
		dst = append(dst, data[i:]...)
		pad := groupSize - remain
		for j := 0; j < pad; j++ {
			dst = append(dst, 0)
		}
		dst = append(dst, byte(markerFull-pad))
		break
	}
	return dst
}

// DecodeBytes decodes one memcomparable-encoded value from the front of b. It returns the
// decoded bytes (a new slice) and the unread remainder of b. It fails, wrapping
// [ErrMalformed], when b is truncated, a marker is out of range, or the pad bytes are not
// zero: such input was not produced by [EncodeBytes].
func DecodeBytes(b []byte) (data, rest []byte, err error) {
	data = make([]byte, 0, len(b)/(groupSize+1)*groupSize)
	for {
		if len(b) < groupSize+1 {
			return nil, nil, fmt.Errorf("%w: need %d bytes for a group, have %d", ErrMalformed, groupSize+1, len(b))
		}
		group, marker := b[:groupSize], b[groupSize]
		b = b[groupSize+1:]
		pad := markerFull - int(marker)
		if pad > groupSize {
			return nil, nil, fmt.Errorf("%w: invalid marker byte %#x", ErrMalformed, marker)
		}
		realLen := groupSize - pad
		data = append(data, group[:realLen]...)
		if pad == 0 {
			continue
		}
		for _, p := range group[realLen:] {
			if p != 0 {
				return nil, nil, fmt.Errorf("%w: non-zero padding byte %#x", ErrMalformed, p)
			}
		}
		return data, b, nil
	}
}
