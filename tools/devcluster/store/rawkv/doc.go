// Package rawkv is the raw key-value engine of the development cluster's
// stores. TiDB's unistore answers the gRPC Raw* commands with empty
// responses (and panics on CAS and checksum), so the store wrapper routes
// every raw command here instead.
//
// The engine keeps one ordered in-memory tree per column family, shared by
// all stores of the process (the stores are views of one engine, like the
// transactional side). Each call is given the Bounds of the region it was
// addressed to; keys outside them are answered with a KeyNotInRegion region
// error and scans are clipped to them, as TiKV does.
//
// Key space: the engine stores the keys exactly as they arrive on the wire
// (with the API v2 'r' keyspace prefix when the client uses API v2). Region
// boundaries are compared against the key itself under API v1 and against
// the memcomparable encoding of the key under API v2, because that is how
// clients place raw keys in PD's region space for each API version.
//
// TTL: a value written with a TTL of n seconds expires n seconds later; an
// expired entry is invisible to every read and is dropped lazily. Checksum:
// for every visible pair the CRC64 (ECMA table) of key||value is computed and
// the results are XORed together, with the number of pairs and the sum of
// key and value lengths, matching TiKV's raw checksum.
//
// All methods are safe for concurrent use; every operation is atomic with
// respect to the others (one mutex per engine), which is stronger than TiKV's
// guarantee and makes compare-and-swap trivially linearisable.
package rawkv
