// Package region knows where every key lives and gets a request there. It holds the
// region cache, the store cache, the replica selector and the Sender.
//
// # Regions and the cache
//
// TiKV splits the key space into regions, each a range [start, end) replicated by Raft
// on several stores with one leader. A region's epoch (version, conf version) grows on
// every split/merge (version) and membership change (conf version). The Cache keeps
// regions sorted by start key in a B-tree, each entry tagged with its epoch (VerID), and
// answers Locate (region of a key), LocateEnd (region with start < key <= end, for
// reverse scans), LocateRange, GroupKeysByRegion and LocateByID from memory. A miss asks
// PD through a RegionSource (*pd.Client). Loads do not stampede PD: a miss on a key that
// is already being loaded waits for that load, and a miss while other loads are in
// flight first waits for those once, at most Config.JoinWait (they usually bring the
// region), so a thousand concurrent cold lookups of one region make one PD call; at most
// Config.MaxPDLoads loads run at once, and Cache.Stats reports hits, misses and PD calls. Ranges are filled with batched
// BatchScanRegions calls (LoadRanges).
//
// An insert older than what the cache knows (a lagging PD follower) is dropped: its
// version or conf version is behind the newest seen for the region ID, or an overlapping
// cached region has a newer version. Overlapping older regions are removed. Entries
// expire after 600 s + up to 60 s of jitter without use (each use slides the deadline,
// except for regions with down peers), and a background goroutine owned by the Cache
// removes expired and invalidated entries, 50 per second. Close stops and joins it.
//
// # Stores
//
// Stores are resolved from PD on first use and re-resolved after StoreNotMatch or a send
// failure; an address change or a tombstone bumps the store's epoch, which invalidates
// every cached region with a peer on it; the background loop re-reads all stores every
// Config.StoreRefreshInterval to notice such changes early. A send failure probes the
// store through the
// transport's optional Prober; a store that does not answer is unreachable for
// Config.UnreachableRetry and is probed again by the background loop, so it comes back
// as soon as it answers. Each store has a slow score (how its request latency moves
// against its request volume, interval by interval; ServerIsBusy without an estimated
// wait; TiKV's own health feedback via Cache.ReportHealth, refreshed with
// GetHealthFeedback when stale) and an estimated wait (ServerIsBusy.EstimatedWaitMs)
// that the replica selector uses.
//
// # Routing a request
//
// SendToRegion takes a Location and a typed kvproto request. A replica selector picks
// the replica of each attempt according to Options: the leader (ReadLeader, the default
// and the only mode for writes), followers, leader and followers alike, prefer-leader,
// learners, optionally restricted by labels or store IDs; a stale read first goes to the
// best local replica, then (unless that was the leader) to the leader as a normal read,
// then to replicas as replica reads. A read with Options.ReadTimeout first makes a short
// round over the replicas, each bounded by it, moving on without backoff when one is slow
// (readtimeout.go). Replicas on stores marked unreachable are skipped; when nothing else is left
// they get one attempt. One request makes at most 10 attempts per replica. The Sender
// stamps the request's Context (region, epoch, peer, read flags,
// IsRetryRequest, request source) and sends it through the Transport. With
// SenderConfig.StoreLimit, an attempt to a store that already has that many requests in
// flight fails at once with ErrStoreTokenLimit instead of being sent.
//
// # Forwarding through a proxy
//
// With SenderConfig.EnableForwarding (off by default; kv/cluster's Config.EnableForwarding
// turns it on together with kv/rpc's), a leader request (ReadLeader, not a stale read)
// of a region with several replicas whose leader store is unreachable from the client
// goes to a follower's store, which relays it to the leader (TiKV's tikv-forwarded-host
// header, RPC-7). The request's Context still names the leader peer; the Transport gets
// the proxy's address as addr and the leader's address as ForwardedHost(ctx). The first
// failed direct attempt on the leader marks its store unreachable without dropping the
// regions it leads, so the next attempt can forward. The proxy that relayed is
// remembered per cached region and reused by later requests; a proxy that fails is not
// used again by the request and the next follower is tried; when none is left the
// request ends with a Resplit error. While the cache has a Prober, the leader counts as
// unreachable until a probe finds it alive; then requests go direct again and the
// remembered proxy is forgotten. See proxy.go for the exact rules (client-go's
// ReplicaSelectLeaderWithProxyStrategy).
//
// # Who retries what
//
// Every region error is classified by one table (errtable.go, one row per kind, in TiKV's
// client order). A row says whether the cached region is invalidated, whether the leader
// changes, which backoff kind to sleep and whether to
//
//   - retry inside the Sender: NotLeader (at once with a leader hint, after a
//     RegionScheduling backoff without one), ServerIsBusy (another replica at once; a
//     busy leader of a leader read is used again after a ServerBusy backoff, busy
//     replicas of a replica read are not, and when only busy ones remain the Sender sleeps
//     one ServerBusy backoff and returns, keeping the region), StaleCommand,
//     DiskFull, MaxTimestampNotSynced, RegionNotInitialized, ReadIndexNotReady,
//     ProposalInMergingMode, DataIsNotReady, RegionNotFound from a follower (once, on the
//     leader), unknown errors (next replica);
//   - return to the caller a *Error with Resplit set, after which the caller locates its
//     keys again and retries: EpochNotMatch (the cache is updated from the error's current
//     regions, so no sleep is needed), RegionNotFound, KeyNotInRegion, StoreNotMatch,
//     BucketVersionNotMatch (the new buckets are installed, no sleep), MismatchPeerId,
//     RecoveryInProgress, IsWitness, and "no replica left";
//   - fail with a final *Error: RaftEntryTooLarge, flashback, UndeterminedResult
//     (kv.ErrUndetermined), invalid max_ts update.
//
// A transport error (the store did not answer) marks the store as described above, skips
// that replica and backs off TiKVRPC; a request with Options.NoResend is not resent and
// fails with kv.ErrUndetermined, since it may have been applied. Send and RunBatches are
// the caller-side loops: they locate, call SendToRegion and, for Resplit errors, back off
// as RetryRegionError says (nothing after a real EpochNotMatch, RegionMiss otherwise) and
// locate again; RunBatches does this per region group, in parallel, with forks of one
// backoffer. All waiting happens within the caller's ctx and the retry budget: a budget
// that runs out gives a *kv.BackoffError, a ctx that ends an error wrapping ctx.Err(). No
// errorpb value reaches the caller; transport errors are wrapped (under
// kv.ErrStoreUnavailable) as the Transport returned them, so the RPC layer is expected to
// hand over its own typed errors rather than gRPC statuses.
//
// # Transport seam
//
// The Sender sends through the Transport interface (Invoke one request message to one
// store address; a forwarded attempt carries the target in ForwardedHost(ctx)), with
// optional Prober (liveness) and AddrCloser (drop connections) interfaces. Mux builds a Transport from typed calls, one Handle per request type, so a
// generic RPC layer plugs in with one line per method, for example (kv/rpc names are
// illustrative):
//
//	m := &region.Mux{ProbeFunc: rpcClient.Probe, CloseFunc: rpcClient.CloseAddr}
//	region.Handle(m, func(ctx context.Context, addr string, r *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
//		return rpc.Call(ctx, rpcClient, addr, rpc.RawGet, r, rpc.CallOptions{ForwardedHost: region.ForwardedHost(ctx)})
//	})
//	cache := region.New(pdClient, region.Config{Codec: pdClient.Codec(), Prober: m})
//	sender := region.NewSender(cache, m, region.SenderConfig{})
//	resp, err := region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, sender, key, req, nil)
package region
