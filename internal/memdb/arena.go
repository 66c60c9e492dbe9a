package memdb

// chunkSize is the size of one arena chunk. Byte strings larger than a quarter of it get a
// chunk of their own, so a chunk wastes at most a quarter of its size at its end.
const chunkSize = 64 << 10

// ref locates a byte string in the arena. The zero ref is the empty string.
type ref struct {
	chunk uint32
	off   uint32
	n     uint32
}

// arena stores immutable byte strings in large chunks. Strings are appended, never freed
// individually: overwritten values stay until the whole buffer is dropped, which is the
// lifetime of a transaction. (Reset reuses the chunks.)
type arena struct {
	chunks [][]byte
	// cur is the chunk small strings are appended to; -1 before the first.
	cur int
	// bytes is the total capacity of all chunks.
	bytes int
}

func newArena() arena { return arena{cur: -1} }

// put copies b into the arena and returns its ref.
func (a *arena) put(b []byte) ref {
	n := len(b)
	if n == 0 {
		return ref{}
	}
	if n > chunkSize/4 {
		c := make([]byte, n)
		copy(c, b)
		a.chunks = append(a.chunks, c)
		a.bytes += n
		return ref{chunk: uint32(len(a.chunks) - 1), n: uint32(n)}
	}
	if a.cur < 0 || len(a.chunks[a.cur])+n > cap(a.chunks[a.cur]) {
		a.chunks = append(a.chunks, make([]byte, 0, chunkSize))
		a.cur = len(a.chunks) - 1
		a.bytes += chunkSize
	}
	c := a.chunks[a.cur]
	off := len(c)
	a.chunks[a.cur] = append(c, b...)
	return ref{chunk: uint32(a.cur), off: uint32(off), n: uint32(n)}
}

// get returns the bytes of r. The result aliases the arena: callers must not modify it.
// It has length 0 (and is non-nil) for the zero ref.
func (a *arena) get(r ref) []byte {
	if r.n == 0 {
		return empty
	}
	return a.chunks[r.chunk][r.off : r.off+r.n : r.off+r.n]
}

// empty is the zero-length, non-nil slice returned for empty strings.
var empty = []byte{}
