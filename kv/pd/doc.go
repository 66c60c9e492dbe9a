// Package pd is tikvsql's access to PD, TiKV's placement driver, over the official PD
// client (github.com/tikv/pd/client). A Client gives timestamps, region and store metadata,
// keyspace metadata, GC safe points and barriers, and split/scatter; it is shared by the
// region cache, RawKV and transactions of one tikvsql client.
//
// # Construction and failures
//
// New takes several PD endpoints in any order (unreachable ones are skipped), an optional
// *tls.Config and dialer hook. TLS runs inside the dialer, so any tls.Config works,
// including one whose certificates reload. Every call is retried inside the caller's
// deadline and a retry budget (Config.TSOBudget, Config.RPCBudget) with the PD backoff of
// internal/backoff; a PD leader change is such a transient failure. When the budget runs
// out the error is a *kv.BackoffError wrapping kv.ErrPDUnavailable; when ctx ends it is
// ctx's error; after Close it is kv.ErrClosed. No PD client error type reaches the caller.
// RPCs a PD server does not implement fail at once with ErrUnsupported.
//
// # Timestamps (TSO)
//
// A TiKV timestamp is physical milliseconds << 18 | a logical counter; PD's TSO hands out
// strictly increasing ones. Transactions read at their start timestamp and commit at a
// later one. Timestamp asks PD (the PD client batches concurrent requests into one stream
// message); TimestampAsync returns a future. Every timestamp the client obtains pushes its
// "last TS" forward with a compare-and-swap, so the last TS never goes backwards.
//
// # Low-resolution timestamps
//
// LowResolutionTimestamp returns the last TS without a round trip. A background goroutine
// refreshes it every 2 s (Config.LowResolutionInterval), so it lags real time by up to the
// interval: good enough for lock expiry (IsExpired, UntilExpired) and as an upper bound
// that read timestamps are checked against (ValidateReadTS). StaleTimestamp estimates "the
// timestamp d ago" from the last TS plus the local time elapsed since it arrived.
//
// The interval adapts. A stale read whose staleness is shorter than the interval would find
// the last TS too old and have to ask PD, so ValidateReadTS asks the refresher to shrink the
// interval to the staleness minus 100 ms, never below 500 ms. After 5 minutes without such
// reads the interval grows back by 20 ms per second until it reaches the configured value.
//
// # Safe points and GC
//
// GC removes old versions. PD keeps two points per keyspace (or for the whole cluster):
// the txn safe point, before which no transaction may read or commit, and the GC safe
// point, before which TiKV may drop versions. Services that need old data hold GC barriers
// (SetGCBarrier, renewed by setting again, DeleteGCBarrier); PD never advances the txn safe
// point past a live barrier. The Client caches the txn safe point from PD's GC states API,
// reloading it every 10 s (1 s after a failure); CheckVisibility(startTS) fails with
// kv.ErrTxnAbortedByGC for a transaction that started before it, and with an error wrapping
// kv.ErrPDUnavailable when the cache is older than 90 s, since GC might have moved in the
// meantime. PD servers older than the 2025 GC API return ErrUnsupported from the GC calls;
// against them CheckVisibility is disabled (no etcd fallback is built) and a warning is
// logged.
//
// # Keyspaces and key encoding
//
// Under API v2 every key carries a 4-byte keyspace prefix ('x' or 'r' and a 3-byte ID); PD
// stores region boundaries in memcomparable form of those keys. New loads the configured
// keyspace ("" is "DEFAULT"), requires it to be ENABLED and addressed by a 24-bit ID, and
// builds the internal/codec Codec for (mode, keyspace), available from Client.Codec. Region
// calls take user keys and return regions in user-key space, clamped to the keyspace; this
// is the one place region keys are encoded and decoded. Under API v1 a keyspace name is a
// configuration error (kv.ErrAPIVersionMismatch), txn-mode region keys are memcomparable
// and raw-mode ones plain. PD does not know which API version the TiKV stores run;
// checking the stores (TiKV answers ApiVersionNotMatched) is left to the RPC layer.
package pd
