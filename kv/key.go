package kv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
)

// Key is a TiKV key: an arbitrary byte string ordered byte-wise. The empty key sorts before
// every other key. A Key handed to the client is read, never modified or retained after
// the call returns, unless a method's documentation says otherwise.
type Key []byte

// Clone returns a copy of k that shares no memory with it. Clone of nil is nil.
func (k Key) Clone() Key {
	if k == nil {
		return nil
	}
	return append(Key{}, k...)
}

// Compare returns -1, 0 or +1 as k sorts before, equal to or after other.
func (k Key) Compare(other Key) int { return bytes.Compare(k, other) }

// Next returns the smallest key greater than k: k followed by a zero byte. It is the
// exclusive end of a range that holds only k, and the resume point of a forward scan
// whose last key was k.
func (k Key) Next() Key {
	n := make(Key, len(k)+1)
	copy(n, k)
	return n
}

// PrefixNext returns the smallest key that is greater than every key with prefix k, or
// nil when no such key exists (k is empty or all 0xFF bytes, so the prefix range is
// unbounded). It is the exclusive end of the range of keys that start with k.
func (k Key) PrefixNext() Key {
	n := k.Clone()
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return n[:i+1]
		}
	}
	return nil
}

// String renders the key for logs and errors: printable ASCII as is, anything else as a
// hex string. Use a redacting logger for keys that hold user data.
func (k Key) String() string {
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			return "0x" + hex.EncodeToString(k)
		}
	}
	return fmt.Sprintf("%q", []byte(k))
}

// KeyValue is a key with its value, as returned by reads and scans. Value is never nil for
// a key that exists: a present but empty value is a zero-length, non-nil slice.
type KeyValue struct {
	Key   Key
	Value []byte
}

// ErrInvalidRange reports a key range whose start sorts after its end.
var ErrInvalidRange = errors.New("tikv: invalid key range")

// KeyRange is the half-open interval [Start, End) of keys. An empty End means "no upper
// bound": the range extends to the last key of the key space. An empty Start is the first
// key. The zero KeyRange covers every key.
type KeyRange struct {
	Start Key
	End   Key
}

// PrefixRange returns the range of every key that starts with prefix. The empty prefix
// gives the whole key space.
func PrefixRange(prefix []byte) KeyRange {
	return KeyRange{Start: Key(prefix).Clone(), End: Key(prefix).PrefixNext()}
}

// SingleKeyRange returns the range that holds exactly key.
func SingleKeyRange(key []byte) KeyRange {
	return KeyRange{Start: Key(key).Clone(), End: Key(key).Next()}
}

// Validate returns an error wrapping ErrInvalidRange when Start sorts after a bounded End.
// Start == End is a valid, empty range.
func (r KeyRange) Validate() error {
	if len(r.End) > 0 && bytes.Compare(r.Start, r.End) > 0 {
		return fmt.Errorf("%w: start %v > end %v", ErrInvalidRange, r.Start, r.End)
	}
	return nil
}

// Unbounded reports whether the range has no upper bound.
func (r KeyRange) Unbounded() bool { return len(r.End) == 0 }

// Empty reports whether the range holds no key (a bounded range with Start >= End).
func (r KeyRange) Empty() bool {
	return len(r.End) > 0 && bytes.Compare(r.Start, r.End) >= 0
}

// Contains reports whether key lies in [Start, End).
func (r KeyRange) Contains(key []byte) bool {
	return bytes.Compare(key, r.Start) >= 0 && (len(r.End) == 0 || bytes.Compare(key, r.End) < 0)
}

// Intersect returns the overlap of r and o, and false when they do not overlap.
func (r KeyRange) Intersect(o KeyRange) (KeyRange, bool) {
	out := KeyRange{Start: r.Start, End: r.End}
	if bytes.Compare(o.Start, out.Start) > 0 {
		out.Start = o.Start
	}
	if len(o.End) > 0 && (len(out.End) == 0 || bytes.Compare(o.End, out.End) < 0) {
		out.End = o.End
	}
	if out.Empty() {
		return KeyRange{}, false
	}
	return out, true
}

// String renders the range as "[start, end)" with "+inf" for an unbounded end.
func (r KeyRange) String() string {
	end := "+inf"
	if len(r.End) > 0 {
		end = r.End.String()
	}
	return "[" + r.Start.String() + ", " + end + ")"
}
