// Package codec holds the two key encodings the client needs on the wire.
//
// # Memcomparable bytes
//
// PD and TiKV order regions by their boundary keys. In transactional mode (and for every key
// under API v2) those boundaries are not the user's bytes but their memcomparable form:
// the key is cut into groups of 8 bytes, the last group is padded with zero bytes, and every
// group is followed by a marker byte equal to 0xFF minus the number of pad bytes. Comparing
// two encoded keys byte by byte gives the same order as comparing the raw keys, and the
// encoding can be decoded without knowing where it ends, which is why TiKV uses it for its
// region keys. [EncodeBytes] and [DecodeBytes] implement it.
//
// # Keyspaces (API v2)
//
// Under API v2 every key a client sends carries a four-byte prefix: a mode byte ('r' for
// RawKV, 'x' for TxnKV) followed by the keyspace ID as a 3-byte big-endian number. A
// keyspace therefore owns the wire range [prefix, prefix+1), where prefix+1 is computed with
// carry across the ID bytes (keyspace 0xFFFFFF in raw mode ends at "s\x00\x00\x00").
// Region boundaries are the memcomparable form of the prefixed key. An empty user end key
// ("to the end") maps to the end of the keyspace, never to the end of the cluster.
//
// Under API v1 keys travel unchanged; only region boundaries of transactional data are
// memcomparable.
//
// A [Codec] captures one of these layouts. The client applies it at exactly one boundary:
// the top of the raw and transactional clients encode user keys into wire keys, the PD
// layer encodes region lookups, and everything in between sees only wire keys. Responses
// travel the other way through the same Codec. A future API v3 (user keys on the wire plus
// a keyspace identity in the request context) is another implementation of [Codec]: its
// key methods are the identity, and [Codec.Keyspace] describes what the request layer must
// stamp into each request.
//
// All functions are pure and safe for concurrent use; codecs are immutable values.
package codec
