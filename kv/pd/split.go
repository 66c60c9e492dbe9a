package pd

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"
)

// SplitResult is PD's answer to a split request.
type SplitResult struct {
	// FinishedPercentage is the share of split keys PD managed to split at.
	FinishedPercentage uint64
	// RegionIDs are the IDs of the regions the split created.
	RegionIDs []uint64
}

// SplitRegions asks PD to split regions at the given user keys (SPL-3); keys are encoded
// for PD here. PD runs the splits itself; the region cache learns the new layout on its
// next miss. Transient failures are retried: splitting at a key that already is a region
// boundary is a no-op, so a repeated request splits nothing twice.
//
// Errors: a *kv.BackoffError wrapping kv.ErrPDUnavailable, ErrInvalidArgument,
// ErrUnsupported, ctx's error, kv.ErrClosed.
func (c *Client) SplitRegions(ctx context.Context, keys [][]byte) (SplitResult, error) {
	op := fmt.Sprintf("split regions at %d keys", len(keys))
	if err := c.checkOpen(op); err != nil {
		return SplitResult{}, err
	}
	enc := make([][]byte, len(keys))
	for i, k := range keys {
		enc[i] = c.codec.EncodeRegionKey(k)
	}
	var resp *pdpb.SplitRegionsResponse
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		resp, err = c.b.SplitRegions(ctx, enc)
		return err
	})
	if err != nil {
		return SplitResult{}, err
	}
	return SplitResult{FinishedPercentage: resp.GetFinishedPercentage(), RegionIDs: resp.GetRegionsId()}, nil
}

// ScatterRegions asks PD to spread the given regions over the stores. group names the
// scatter group (regions of one group are balanced together; "" for none). It returns the
// share of regions PD has scheduled. Retried: scattering twice is harmless.
//
// Errors: as SplitRegions.
func (c *Client) ScatterRegions(ctx context.Context, ids []uint64, group string) (uint64, error) {
	op := fmt.Sprintf("scatter %d regions", len(ids))
	if err := c.checkOpen(op); err != nil {
		return 0, err
	}
	var opts []opt.RegionsOption
	if group != "" {
		opts = append(opts, opt.WithGroup(group))
	}
	var resp *pdpb.ScatterRegionResponse
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		resp, err = c.b.ScatterRegions(ctx, ids, opts...)
		return err
	})
	if err != nil {
		return 0, err
	}
	return resp.GetFinishedPercentage(), nil
}

// ScatterInProgress reports whether PD is still running a scatter operator on the region
// (SPL-2): poll it to wait for a scatter to finish.
//
// Errors: as SplitRegions.
func (c *Client) ScatterInProgress(ctx context.Context, regionID uint64) (bool, error) {
	op := fmt.Sprintf("get operator of region %d", regionID)
	if err := c.checkOpen(op); err != nil {
		return false, err
	}
	var resp *pdpb.GetOperatorResponse
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		resp, err = c.b.GetOperator(ctx, regionID)
		return err
	})
	if err != nil {
		return false, err
	}
	return string(resp.GetDesc()) == "scatter-region" && resp.GetStatus() == pdpb.OperatorStatus_RUNNING, nil
}
