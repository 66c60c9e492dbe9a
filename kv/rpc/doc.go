// Package rpc is the layer every request to a TiKV store goes through: connections,
// TLS, the BatchCommands streaming client, typed calls, interceptors, request
// collapsing, health probes and forwarding through a proxy store. It knows nothing about
// regions or retries; kv/region builds on it.
//
// # Calls
//
// A Client is built from a Config (New) and closed with Close. Every TiKV RPC a client
// uses has a typed descriptor (KvGet, KvPrewrite, RawPut, SplitRegion, ... generated into
// methods_gen.go) and is sent with the generic Call:
//
//	resp, err := rpc.Call(ctx, client, "tikv-1:20160", rpc.RawGet, &kvrpcpb.RawGetRequest{Key: k}, rpc.CallOptions{})
//
// resp is a *kvrpcpb.RawGetResponse; its region error, if any, is resp.GetRegionError().
// Call stamps the caller-decided parts of kvrpcpb.Context (RequestContext: cluster id,
// request source, resource group, retry flag, trace ids, busy threshold, resolved locks)
// into the request.
//
// # Connections
//
// Per store address the Client keeps Config.ConnectionCount gRPC connections (default
// 4), dialled on first use with client-go's settings: 128 MiB flow-control windows,
// unlimited receive size, keepalive 10s/3s, reconnect backoff 100ms×1.6 up to 3s. A
// custom Dialer, an address translator (for stores advertised under names the client
// cannot resolve) and TLS (a *tls.Config, or PEM files whose CA, certificate and key are
// re-read when they change, see internal/tlsconfig) are options of Config.
//
// # Batching
//
// Commands the BatchCommands stream carries (Method.Batched) do not make a gRPC call
// each. The caller encodes its request into a pooled entry (so the expensive marshal runs
// on the caller's goroutine, in parallel) and puts it on the store's queue, high priority
// or normal. One send loop per store takes everything queued, high priority first, and
// packs up to Config.MaxBatchSize (128) requests into one BatchCommandsRequest on one of
// the store's streams, chosen round-robin. When requests have been arriving less than
// Config.BatchWait (100µs) apart on average, the loop first waits up to BatchWait for the
// batch to reach its usual size: under load this turns many small writes into few large
// ones, and at low load it costs nothing. Each stream's receive loop matches responses to
// requests by request id and wakes their callers.
//
// Unlike client-go, the batch messages are written and read by hand (frame.go): no
// oneof wrapper object, request or response wrapper is allocated per request, entries and
// their completion channels are reused, and the in-flight table is a map reused for the
// life of the stream. A request costs its own request and response objects and little
// else; see BenchmarkBatchClient.
//
// # Deadlines
//
// There is no timer per request. The caller waits on its entry and on ctx.Done(); when
// ctx ends first, the caller marks the entry abandoned (an atomic state change) and
// returns ctx's error at once. Whoever later removes the entry from the queue or from the
// in-flight table (the send loop, the receive loop, or the periodic sweep every
// Config.SweepInterval) recycles it. A queued request whose deadline has passed is never
// sent.
//
// # Stream failure and recovery
//
// When a stream fails (its receive returns an error: connection lost, TiKV restarted),
// only the requests in flight on that stream fail, with a *StoreError whose MaybeSent is
// true. Queued requests go to the store's other streams. The stream's goroutine then
// re-creates the stream with backoff.TiKVRPC backoff, while gRPC reconnects the
// connection underneath. If every stream of a store has failed, queued and new requests
// fail at once (MaybeSent false) instead of waiting, so that the region layer can try
// another replica.
//
// # Forwarding
//
// When the region leader's store cannot be reached from here but a follower's can, the
// region layer sends with CallOptions.ForwardedHost set to the leader's address and addr
// set to the follower (Config.EnableForwarding). Each (proxy, forwarded host) pair gets
// its own batch client and streams, opened with the tikv-forwarded-host header, so a
// failure there fails only forwarded requests; unary calls carry the header per call.
// Forwarded streams close after Config.ForwardIdleTimeout (3 minutes) without calls.
//
// # Errors
//
// Transport failures are *StoreError values wrapping kv.ErrStoreUnavailable (or
// ErrUnimplemented) with the store address; an ended ctx yields ctx.Err() itself; calls
// after Close yield kv.ErrClosed. No raw gRPC status reaches a caller.
//
// # Concurrency and lifetime
//
// Client methods and Call are safe for concurrent use. The Client owns one send loop per
// store (and per forwarded host) and one goroutine per stream; Close lets calls in
// progress finish until its ctx ends, then cancels the rest, closes every stream and
// connection and waits for every goroutine. Two Clients share nothing.
package rpc
