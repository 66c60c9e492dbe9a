// Package cluster is the connection to one TiKV cluster that the client layers share:
// a PD client (timestamps, regions, stores, keyspace), an RPC client (connections and
// BatchCommands streams to the stores), the region cache, and a Sender that routes typed
// requests to regions with retries. kv/raw and kv/txn each open one with Open and build
// their requests on it.
//
// # Keys
//
// The layers below speak two key forms. The region cache and Sender locate by user keys
// (Location ranges are user keys, decoded by the PD client's codec); requests sent to
// TiKV carry wire keys, which Cluster.Codec encodes (API v2 adds the keyspace prefix).
// A client layer therefore locates with the user key and puts Codec().EncodeKey(key) into
// the request, and decodes keys in responses with Codec().DecodeKey. The codec's mode
// (raw or txn) is fixed by Config.Mode, so a raw client and a transactional client each
// open their own Cluster.
//
// # Lifetime
//
// Open connects to PD (validating the keyspace and the API version), starts the region
// cache's background loop and prepares the RPC client; connections to stores are made on
// first use; the min-safe-ts updater starts on first use. Close stops everything in the
// reverse order and waits for it. Both ends are
// bounded by the caller's ctx.
//
// # Min safe ts
//
// MinSafeTS is the smallest safe ts of the TiKV stores (PD-11): a timestamp any replica
// can serve a stale read at. A background updater owned by the Cluster refreshes it (by
// default every 2 s, from the first MinSafeTS call until Close): it asks every store PD
// lists with GetStoreSafeTS, keeps each store's largest answer, and reports 0 while any
// store has never answered. UpdateSafeTS runs a round on demand. SafeTSConfig.PD adds
// PD's min resolved ts as a first source. See docs/safets.md.
//
// # Splitting
//
// SplitRegions splits regions at user keys with TiKV's SplitRegion RPC, grouped by region
// and in parallel, and can have PD scatter the new regions; WaitScatter waits for PD's
// scatter operators to finish. PD can also split by itself (pd.Client.SplitRegions).
package cluster
