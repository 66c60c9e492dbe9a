package rpc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// RequestContext is the part of kvrpcpb.Context that callers decide (RPC-11). Fill the
// fields that matter and let Apply copy them into a request; zero fields leave the
// request's values alone, so a Client-wide RequestContext (Config.Context) and a per-call
// one (CallOptions.Context) compose: the per-call one is applied last. It is a plain
// value: copy it freely. Slices are shared, not copied; do not modify them while a call
// that uses them runs.
type RequestContext struct {
	// Routing, normally filled by the region layer.
	RegionID    uint64
	RegionEpoch *metapb.RegionEpoch
	Peer        *metapb.Peer

	ClusterID        uint64                // rejected by TiKV when it differs from its own
	RequestSource    string                // e.g. "external_Insert"; TiKV's metrics group by it
	RequestOrigin    kvrpcpb.RequestOrigin // who issued the request, for RU accounting
	ResourceGroup    string                // resource-control group name
	ResourceGroupTag []byte                // tag for TiKV's Top-SQL style statistics
	TxnSource        uint64                // the transaction's source flags (CDC filters on it)
	KeyspaceID       uint32                // API v2 keyspace, 0 for none
	KeyspaceName     string                //
	Priority         kvrpcpb.CommandPri    // TiKV scheduling priority
	APIVersion       kvrpcpb.APIVersion    //

	// IsRetryRequest tells TiKV the request may be a duplicate of one it already served
	// (required for a retried prewrite or commit to be idempotent).
	IsRetryRequest bool
	// TraceID and TraceControlFlags join a TiKV-side trace to the caller's.
	TraceID           []byte
	TraceControlFlags uint64
	// BusyThresholdMs lets TiKV refuse the request with ServerIsBusy when its estimated
	// wait exceeds this many milliseconds, so the caller can try another replica.
	BusyThresholdMs uint32
	// ResolvedLocks and CommittedLocks list transactions (start timestamps) whose locks
	// the read may ignore or read through.
	ResolvedLocks  []uint64
	CommittedLocks []uint64
	// MaxExecutionDurationMs bounds TiKV's work on a write.
	MaxExecutionDurationMs uint64
	// Replica-read controls.
	ReplicaRead  bool
	StaleRead    bool
	NotFillCache bool
	// IsolationLevel of a read (SI by default, RC, RCCheckTS).
	IsolationLevel kvrpcpb.IsolationLevel
	// DiskFullOpt allows writes while the store is almost or already full.
	DiskFullOpt kvrpcpb.DiskFullOpt
}

// Apply copies the non-zero fields of rc into dst. It allocates only for a
// ResourceControlContext when ResourceGroup is set and dst has none, and for the keyspace
// oneof when KeyspaceID is set.
func (rc *RequestContext) Apply(dst *kvrpcpb.Context) {
	rc.applyRouting(dst)
	if rc.ClusterID != 0 {
		dst.ClusterId = rc.ClusterID
	}
	if rc.RequestSource != "" {
		dst.RequestSource = rc.RequestSource
	}
	if rc.RequestOrigin != 0 {
		dst.RequestOrigin = rc.RequestOrigin
	}
	if rc.ResourceGroup != "" {
		if dst.ResourceControlContext == nil {
			dst.ResourceControlContext = &kvrpcpb.ResourceControlContext{}
		}
		dst.ResourceControlContext.ResourceGroupName = rc.ResourceGroup
	}
	if rc.ResourceGroupTag != nil {
		dst.ResourceGroupTag = rc.ResourceGroupTag
	}
	if rc.TxnSource != 0 {
		dst.TxnSource = rc.TxnSource
	}
	if rc.KeyspaceID != 0 {
		dst.Keyspace = &kvrpcpb.Context_KeyspaceId{KeyspaceId: rc.KeyspaceID}
	}
	if rc.KeyspaceName != "" {
		dst.KeyspaceName = rc.KeyspaceName
	}
	if rc.Priority != 0 {
		dst.Priority = rc.Priority
	}
	if rc.APIVersion != 0 {
		dst.ApiVersion = rc.APIVersion
	}
	rc.applyFlags(dst)
}

func (rc *RequestContext) applyRouting(dst *kvrpcpb.Context) {
	if rc.RegionID != 0 {
		dst.RegionId = rc.RegionID
	}
	if rc.RegionEpoch != nil {
		dst.RegionEpoch = rc.RegionEpoch
	}
	if rc.Peer != nil {
		dst.Peer = rc.Peer
	}
}

func (rc *RequestContext) applyFlags(dst *kvrpcpb.Context) {
	if rc.IsRetryRequest {
		dst.IsRetryRequest = true
	}
	if rc.TraceID != nil {
		dst.TraceId = rc.TraceID
	}
	if rc.TraceControlFlags != 0 {
		dst.TraceControlFlags = rc.TraceControlFlags
	}
	if rc.BusyThresholdMs != 0 {
		dst.BusyThresholdMs = rc.BusyThresholdMs
	}
	if rc.ResolvedLocks != nil {
		dst.ResolvedLocks = rc.ResolvedLocks
	}
	if rc.CommittedLocks != nil {
		dst.CommittedLocks = rc.CommittedLocks
	}
	if rc.MaxExecutionDurationMs != 0 {
		dst.MaxExecutionDurationMs = rc.MaxExecutionDurationMs
	}
	dst.ReplicaRead = dst.ReplicaRead || rc.ReplicaRead
	dst.StaleRead = dst.StaleRead || rc.StaleRead
	dst.NotFillCache = dst.NotFillCache || rc.NotFillCache
	if rc.IsolationLevel != 0 {
		dst.IsolationLevel = rc.IsolationLevel
	}
	if rc.DiskFullOpt != 0 {
		dst.DiskFullOpt = rc.DiskFullOpt
	}
}
