package codec

import (
	"bytes"
	"errors"
	"fmt"
)

// Version is the TiKV API version a codec speaks.
type Version uint8

const (
	// V1 sends user keys unchanged; transactional region keys are memcomparable.
	V1 Version = 1
	// V2 prefixes every key with a mode byte and a 3-byte keyspace ID.
	V2 Version = 2
)

// String returns "v1" or "v2".
func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return fmt.Sprintf("Version(%d)", uint8(v))
}

// Mode says which of TiKV's two key spaces a client addresses.
type Mode uint8

const (
	// ModeTxn addresses transactional (MVCC) data.
	ModeTxn Mode = iota + 1
	// ModeRaw addresses RawKV data.
	ModeRaw
)

// String returns "txn" or "raw".
func (m Mode) String() string {
	switch m {
	case ModeTxn:
		return "txn"
	case ModeRaw:
		return "raw"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// prefixByte is the API v2 key-space marker of the mode.
func (m Mode) prefixByte() byte {
	if m == ModeRaw {
		return 'r'
	}
	return 'x'
}

// KeyspaceID identifies a keyspace. Valid IDs fit in 24 bits.
type KeyspaceID uint32

const (
	// DefaultKeyspaceID is the ID of the keyspace named [DefaultKeyspaceName].
	DefaultKeyspaceID KeyspaceID = 0
	// MaxKeyspaceID is the largest ID that fits the 3-byte prefix.
	MaxKeyspaceID KeyspaceID = 0xFFFFFF
	// NullspaceID is the ID PD and TiKV use for "no keyspace" (API v1 requests).
	NullspaceID KeyspaceID = 0xFFFFFFFF
	// DefaultKeyspaceName is the name PD gives keyspace 0; an empty name means it.
	DefaultKeyspaceName = "DEFAULT"
)

// Errors returned by the codecs. They are wrapped with the offending detail.
var (
	// ErrKeyspaceID reports a keyspace ID that does not fit in 24 bits.
	ErrKeyspaceID = errors.New("codec: keyspace ID out of range")
	// ErrOutsideKeyspace reports a wire key or region that does not belong to the codec's keyspace.
	ErrOutsideKeyspace = errors.New("codec: key outside the keyspace")
	// ErrMode reports an unknown Mode.
	ErrMode = errors.New("codec: unknown mode")
)

// Codec maps user keys to the keys TiKV and PD see and back. Implementations are immutable
// and safe for concurrent use. Encode methods never modify their input; unless stated,
// their result may share memory with the input only when the encoding is the identity.
// Decode methods may return sub-slices of their input.
type Codec interface {
	// Version is the API version this codec speaks.
	Version() Version
	// Mode is the key space (raw or txn) this codec addresses.
	Mode() Mode
	// Keyspace reports the keyspace ID and true under API v2, or NullspaceID and false.
	Keyspace() (KeyspaceID, bool)

	// EncodeKey turns a user key into a wire key.
	EncodeKey(key []byte) []byte
	// DecodeKey turns a wire key back into a user key; it fails with ErrOutsideKeyspace
	// when the key does not carry this codec's prefix.
	DecodeKey(wire []byte) ([]byte, error)
	// EncodeRange turns the half-open user range [start, end) into a wire range. An empty
	// end means "to the end of the keyspace" (API v2) or of the key space (API v1).
	EncodeRange(start, end []byte) (wireStart, wireEnd []byte)
	// DecodeRange clamps a wire range to this keyspace and strips the prefix. A start
	// before the keyspace becomes empty, an end at or after its end becomes empty. A range
	// that lies wholly outside the keyspace is an error wrapping ErrOutsideKeyspace.
	DecodeRange(wireStart, wireEnd []byte) (start, end []byte, err error)

	// EncodeRegionKey turns a user key into the form PD uses for region boundaries.
	EncodeRegionKey(key []byte) []byte
	// DecodeRegionKey turns a region boundary back into a user key.
	DecodeRegionKey(regionKey []byte) ([]byte, error)
	// EncodeRegionRange turns a user range into PD region-key form (see EncodeRange for
	// the meaning of an empty end).
	EncodeRegionRange(start, end []byte) (regionStart, regionEnd []byte)
	// DecodeRegionRange turns region boundaries into a user range clamped to the keyspace
	// (see DecodeRange). Malformed memcomparable bytes wrap ErrMalformed.
	DecodeRegionRange(regionStart, regionEnd []byte) (start, end []byte, err error)
}

// NewV1 returns the API v1 codec for mode.
func NewV1(mode Mode) (Codec, error) {
	if mode != ModeTxn && mode != ModeRaw {
		return nil, fmt.Errorf("%w: %d", ErrMode, mode)
	}
	return v1{mode: mode}, nil
}

// NewV2 returns the API v2 codec for mode and keyspace id.
func NewV2(mode Mode, id KeyspaceID) (Codec, error) {
	if mode != ModeTxn && mode != ModeRaw {
		return nil, fmt.Errorf("%w: %d", ErrMode, mode)
	}
	if id > MaxKeyspaceID {
		return nil, fmt.Errorf("%w: %d > %d", ErrKeyspaceID, id, MaxKeyspaceID)
	}
	c := v2{mode: mode, id: id}
	c.prefix = [4]byte{mode.prefixByte(), byte(id >> 16), byte(id >> 8), byte(id)}
	// The end of the keyspace is the 4-byte prefix plus one, with carry into the mode byte.
	end := uint32(c.prefix[0])<<24 | uint32(id)
	end++
	c.end = [4]byte{byte(end >> 24), byte(end >> 16), byte(end >> 8), byte(end)}
	return c, nil
}

// KeyspacePrefix returns the 4-byte API v2 prefix of mode and id. It fails like NewV2.
func KeyspacePrefix(mode Mode, id KeyspaceID) ([]byte, error) {
	c, err := NewV2(mode, id)
	if err != nil {
		return nil, err
	}
	p := c.(v2).prefix
	return p[:], nil
}

// ParseKeyspaceID returns the keyspace ID of an API v2 wire key, and false when the key
// does not start with a v2 mode byte followed by three ID bytes.
func ParseKeyspaceID(wire []byte) (Mode, KeyspaceID, bool) {
	if len(wire) < 4 {
		return 0, 0, false
	}
	var mode Mode
	switch wire[0] {
	case 'r':
		mode = ModeRaw
	case 'x':
		mode = ModeTxn
	default:
		return 0, 0, false
	}
	return mode, KeyspaceID(wire[1])<<16 | KeyspaceID(wire[2])<<8 | KeyspaceID(wire[3]), true
}

// v1 is the API v1 codec: keys are unchanged on the wire; transactional region keys
// are memcomparable, raw region keys are plain.
type v1 struct{ mode Mode }

func (c v1) Version() Version                   { return V1 }
func (c v1) Mode() Mode                         { return c.mode }
func (c v1) Keyspace() (KeyspaceID, bool)       { return NullspaceID, false }
func (c v1) EncodeKey(key []byte) []byte        { return key }
func (c v1) DecodeKey(w []byte) ([]byte, error) { return w, nil }

func (c v1) EncodeRange(start, end []byte) ([]byte, []byte) { return start, end }

func (c v1) DecodeRange(start, end []byte) ([]byte, []byte, error) { return start, end, nil }

func (c v1) EncodeRegionKey(key []byte) []byte {
	if c.mode == ModeRaw {
		return key
	}
	return EncodeBytes(nil, key)
}

func (c v1) DecodeRegionKey(rk []byte) ([]byte, error) {
	if c.mode == ModeRaw || len(rk) == 0 {
		return rk, nil
	}
	return decodeRegionBoundary(rk)
}

func (c v1) EncodeRegionRange(start, end []byte) ([]byte, []byte) {
	if c.mode == ModeRaw {
		return start, end
	}
	// An empty end stays empty: it is the end of the whole key space.
	var e []byte
	if len(end) > 0 {
		e = EncodeBytes(nil, end)
	}
	return EncodeBytes(nil, start), e
}

func (c v1) DecodeRegionRange(rs, re []byte) ([]byte, []byte, error) {
	start, err := c.DecodeRegionKey(rs)
	if err != nil {
		return nil, nil, err
	}
	end, err := c.DecodeRegionKey(re)
	if err != nil {
		return nil, nil, err
	}
	return start, end, nil
}

// decodeRegionBoundary decodes one memcomparable region boundary. Bytes after the first
// complete encoding are ignored: only the encoded key routes a request.
func decodeRegionBoundary(rk []byte) ([]byte, error) {
	k, _, err := DecodeBytes(rk)
	if err != nil {
		return nil, fmt.Errorf("region boundary %x: %w", rk, err)
	}
	return k, nil
}

// v2 is the API v2 codec for one mode and keyspace.
type v2 struct {
	mode   Mode
	id     KeyspaceID
	prefix [4]byte
	end    [4]byte
}

func (c v2) Version() Version             { return V2 }
func (c v2) Mode() Mode                   { return c.mode }
func (c v2) Keyspace() (KeyspaceID, bool) { return c.id, true }

func (c v2) EncodeKey(key []byte) []byte {
	out := make([]byte, 0, len(c.prefix)+len(key))
	out = append(out, c.prefix[:]...)
	return append(out, key...)
}

func (c v2) DecodeKey(w []byte) ([]byte, error) {
	if !bytes.HasPrefix(w, c.prefix[:]) {
		return nil, fmt.Errorf("%w: key %q does not start with %q", ErrOutsideKeyspace, w, c.prefix[:])
	}
	return w[len(c.prefix):], nil
}

func (c v2) EncodeRange(start, end []byte) ([]byte, []byte) {
	ws := c.EncodeKey(start)
	if len(end) == 0 {
		e := c.end
		return ws, e[:]
	}
	return ws, c.EncodeKey(end)
}

func (c v2) DecodeRange(ws, we []byte) ([]byte, []byte, error) {
	var start, end []byte
	switch {
	case bytes.Compare(ws, c.prefix[:]) < 0:
		start = []byte{}
	case bytes.Compare(ws, c.end[:]) >= 0:
		return nil, nil, fmt.Errorf("%w: range starts at %q, keyspace ends at %q", ErrOutsideKeyspace, ws, c.end[:])
	default:
		start = ws[len(c.prefix):]
	}
	switch {
	case len(we) == 0 || bytes.Compare(we, c.end[:]) >= 0:
		end = []byte{}
	case bytes.Compare(we, c.prefix[:]) <= 0:
		return nil, nil, fmt.Errorf("%w: range ends at %q, keyspace starts at %q", ErrOutsideKeyspace, we, c.prefix[:])
	default:
		// Every key in (prefix, end) starts with the 4-byte prefix.
		end = we[len(c.prefix):]
	}
	return start, end, nil
}

func (c v2) EncodeRegionKey(key []byte) []byte {
	return EncodeBytes(nil, c.EncodeKey(key))
}

func (c v2) DecodeRegionKey(rk []byte) ([]byte, error) {
	w, err := decodeRegionBoundary(rk)
	if err != nil {
		return nil, err
	}
	return c.DecodeKey(w)
}

func (c v2) EncodeRegionRange(start, end []byte) ([]byte, []byte) {
	ws, we := c.EncodeRange(start, end)
	return EncodeBytes(nil, ws), EncodeBytes(nil, we)
}

func (c v2) DecodeRegionRange(rs, re []byte) ([]byte, []byte, error) {
	var ws, we []byte
	var err error
	if len(rs) > 0 {
		if ws, err = decodeRegionBoundary(rs); err != nil {
			return nil, nil, err
		}
	}
	if len(re) > 0 {
		if we, err = decodeRegionBoundary(re); err != nil {
			return nil, nil, err
		}
	}
	return c.DecodeRange(ws, we)
}
