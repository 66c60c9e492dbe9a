package rpc

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// CheckHealth asks the store at addr whether it is serving, through the standard gRPC
// health service (grpc.health.v1, service ""), on one of the store's connections (RC-9).
// It returns nil when the store answers SERVING, a *StoreError (wrapping
// kv.ErrStoreUnavailable) when it answers anything else or cannot be reached, ctx's error
// when ctx ends, and kv.ErrClosed after Close.
func (c *Client) CheckHealth(ctx context.Context, addr string) error {
	if !c.enter() {
		return c.closedErr()
	}
	defer c.exit()
	st, err := c.store(ctx, addr)
	if err != nil {
		return mapError(ctx, c.closing.Load(), addr, err, false)
	}
	resp, err := healthpb.NewHealthClient(st.conn()).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return mapError(ctx, c.closing.Load(), addr, err, false)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return &StoreError{Addr: addr, Code: codes.Unavailable, Reason: fmt.Sprintf("health status %v", s)}
	}
	return nil
}

// HealthFeedback returns the health feedback addr's store last attached to a batch
// response (its slow score and feedback sequence), or nil when none arrived yet.
func (c *Client) HealthFeedback(addr string) *kvrpcpb.HealthFeedback {
	c.mu.RLock()
	st := c.stores[addr]
	c.mu.RUnlock()
	if st == nil || st.main == nil {
		return nil
	}
	return st.main.health.Load()
}

// regionErrorKind names the kind of a region error for tracers ("" for nil).
func regionErrorKind(e *errorpb.Error) string {
	switch {
	case e == nil:
		return ""
	case e.NotLeader != nil:
		return "not_leader"
	case e.RegionNotFound != nil:
		return "region_not_found"
	case e.KeyNotInRegion != nil:
		return "key_not_in_region"
	case e.EpochNotMatch != nil:
		return "epoch_not_match"
	case e.ServerIsBusy != nil:
		return "server_is_busy"
	case e.StaleCommand != nil:
		return "stale_command"
	case e.StoreNotMatch != nil:
		return "store_not_match"
	case e.RaftEntryTooLarge != nil:
		return "raft_entry_too_large"
	case e.MaxTimestampNotSynced != nil:
		return "max_timestamp_not_synced"
	case e.ReadIndexNotReady != nil:
		return "read_index_not_ready"
	case e.ProposalInMergingMode != nil:
		return "proposal_in_merging_mode"
	case e.DataIsNotReady != nil:
		return "data_is_not_ready"
	case e.RegionNotInitialized != nil:
		return "region_not_initialized"
	case e.DiskFull != nil:
		return "disk_full"
	case e.RecoveryInProgress != nil:
		return "recovery_in_progress"
	case e.FlashbackInProgress != nil:
		return "flashback_in_progress"
	case e.FlashbackNotPrepared != nil:
		return "flashback_not_prepared"
	case e.IsWitness != nil:
		return "is_witness"
	case e.MismatchPeerId != nil:
		return "mismatch_peer_id"
	case e.BucketVersionNotMatch != nil:
		return "bucket_version_not_match"
	case e.UndeterminedResult != nil:
		return "undetermined_result"
	}
	return "unknown"
}
