package rpc

import (
	"encoding/binary"
	"math/bits"
)

// Minimal protobuf wire-format helpers for frame.go (standard library only).

type fieldNum int32

const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

func appendTag(b []byte, num fieldNum, typ int) []byte {
	return binary.AppendUvarint(b, uint64(num)<<3|uint64(typ))
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

func sizeVarint(v uint64) int { return 1 + (bits.Len64(v|1)-1)/7 }

// consumeVarint returns the varint at the start of b and its length, or n < 0.
func consumeVarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, -1
	}
	return v, n
}

// consumeTag returns the field number and wire type at the start of b, or n < 0.
func consumeTag(b []byte) (fieldNum, int, int) {
	v, n := consumeVarint(b)
	if n < 0 || v>>3 == 0 || v>>3 > 1<<29-1 {
		return 0, 0, -1
	}
	return fieldNum(v >> 3), int(v & 7), n
}

// consumeBytes returns the length-delimited value at the start of b, or n < 0.
func consumeBytes(b []byte) ([]byte, int) {
	l, n := consumeVarint(b)
	if n < 0 || l > uint64(len(b)-n) {
		return nil, -1
	}
	return b[n : n+int(l)], n + int(l)
}

// skipField returns the length of a field value of type typ at the start of b, or -1.
func skipField(typ int, b []byte) int {
	switch typ {
	case wireVarint:
		_, n := consumeVarint(b)
		return n
	case wireI64:
		if len(b) < 8 {
			return -1
		}
		return 8
	case wireBytes:
		_, n := consumeBytes(b)
		return n
	case wireI32:
		if len(b) < 4 {
			return -1
		}
		return 4
	}
	return -1
}
