package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv/region"
)

// MaxSplitKeysPerRequest is the most split keys one SplitRegion request carries
// (client-go's limit; it sends one more by an off-by-one, we do not).
const MaxSplitKeysPerRequest = 2048

// DefaultSplitConcurrency bounds the regions split at once by SplitRegions.
const DefaultSplitConcurrency = 16

// ErrScatterFailed: the regions were split but PD did not accept the scatter request.
// The returned region IDs are valid.
var ErrScatterFailed = errors.New("cluster: scatter failed")

// SplitOptions tunes SplitRegions. The zero value splits without scattering.
type SplitOptions struct {
	// Scatter asks PD to spread the new regions over the stores after the split.
	Scatter bool
	// ScatterGroup is the PD scatter group of the new regions (regions of one group are
	// balanced together); "" for none. client-go uses the table ID.
	ScatterGroup string
	// Concurrency bounds the regions split at once (DefaultSplitConcurrency).
	Concurrency int
}

// SplitRegions splits the regions of the cluster's key space at the given user keys
// through TiKV's SplitRegion RPC (SPL-1): keys are grouped by region, keys that already
// start a region are skipped, each region gets up to MaxSplitKeysPerRequest keys per
// request, regions are split in parallel, and a region that moved meanwhile has its keys
// grouped again. It returns the IDs of the new regions (TiKV keeps the original ID for the
// rightmost part), sorted. With opts.Scatter it then asks PD to scatter them; use
// WaitScatter to wait for that. The retry budget is 20 s per key, at most 120 s (BO-23).
//
// Errors: a *kv.BackoffError when the budget runs out; key errors TiKV reports; an error
// wrapping ctx's error; after a successful split, one wrapping ErrScatterFailed (with
// the IDs).
func (c *Cluster) SplitRegions(ctx context.Context, keys [][]byte, opts SplitOptions) ([]uint64, error) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	if len(keys) > 0 && len(keys[0]) == 0 {
		keys = keys[1:] // the empty key starts the key space already
	}
	if len(keys) == 0 {
		return nil, nil
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = DefaultSplitConcurrency
	}
	budget := min(backoff.BudgetSplit*time.Duration(len(keys)), backoff.BudgetSplitMax)
	var mu sync.Mutex
	var ids []uint64
	err := region.RunBatches(ctx, c.sender, keys, func(k []byte) []byte { return k }, &region.Options{Budget: budget}, conc,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) error {
			got, err := c.splitRegion(ctx, bo, b)
			mu.Lock()
			ids = append(ids, got...)
			mu.Unlock()
			return err
		})
	slices.Sort(ids)
	if err != nil {
		return ids, fmt.Errorf("cluster: split regions: %w", err)
	}
	if opts.Scatter && len(ids) > 0 {
		if _, err := c.pd.ScatterRegions(ctx, ids, opts.ScatterGroup); err != nil {
			return ids, fmt.Errorf("%w: %w", ErrScatterFailed, err)
		}
	}
	return ids, nil
}

// splitRegion splits the region of one batch at its keys, MaxSplitKeysPerRequest at a
// time, and returns the IDs of the regions it created.
func (c *Cluster) splitRegion(ctx context.Context, bo *backoff.Backoffer, b region.Batch[[]byte]) ([]uint64, error) {
	keys := slices.DeleteFunc(slices.Clone(b.Items), func(k []byte) bool { return bytes.Equal(k, b.Location.StartKey) })
	var ids []uint64
	for len(keys) > 0 {
		n := min(len(keys), MaxSplitKeysPerRequest)
		enc := make([][]byte, n)
		for i, k := range keys[:n] {
			enc[i] = c.Codec().EncodeKey(k)
		}
		// TiKV stores region boundaries memcomparable-encoded, except for API v1 raw keys,
		// which are their own boundaries: only those are sent as raw region keys
		// (IsRawKv). Under API v2 the request must say so, or a raw key would become an
		// unencoded boundary that every client then fails to decode.
		v2 := c.Codec().Version() == codec.V2
		rctx := &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion_V1}
		if v2 {
			rctx.ApiVersion = kvrpcpb.APIVersion_V2
		}
		req := &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKeys: enc, IsRawKv: c.mode == Raw && !v2}
		resp, err := region.SendToRegion[*kvrpcpb.SplitRegionRequest, *kvrpcpb.SplitRegionResponse](ctx, c.sender, bo, b.Location, req, nil)
		if err != nil {
			// A Resplit error makes RunBatches group the keys again; those split already
			// start regions by then and are skipped.
			return ids, err
		}
		if errs := resp.GetErrors(); len(errs) > 0 {
			return ids, fmt.Errorf("cluster: split region %d: %s", b.Location.Region.ID, errs[0].String())
		}
		for _, r := range resp.GetRegions() {
			if r.GetId() != b.Location.Region.ID {
				ids = append(ids, r.GetId())
			}
		}
		// The cached region is stale now: the next lookup loads the new layout.
		c.cache.Invalidate(ctx, b.Location.Region, region.ReasonEpochNotMatch)
		// A next chunk goes to the region as located: TiKV answers EpochNotMatch (the split
		// changed the epoch) with the current regions, and RunBatches groups the keys anew.
		keys = keys[n:]
	}
	return ids, nil
}

// WaitScatter waits until PD runs no scatter operator on any of the regions (SPL-2),
// polling PD with backoff, within ctx and a budget of 120 s (BO-23).
//
// Errors: PD's errors; a *kv.BackoffError when a scatter is still running after the
// budget; an error wrapping ctx's error.
func (c *Cluster) WaitScatter(ctx context.Context, regionIDs []uint64) error {
	bo := c.sender.NewBackoffer(&region.Options{Budget: backoff.BudgetWaitScatter})
	for _, id := range regionIDs {
		for {
			running, err := c.pd.ScatterInProgress(ctx, id)
			if err != nil {
				return fmt.Errorf("cluster: wait for scatter of region %d: %w", id, err)
			}
			if !running {
				break
			}
			if err := bo.Backoff(ctx, backoff.RegionMiss, fmt.Errorf("cluster: region %d is being scattered", id)); err != nil {
				return fmt.Errorf("cluster: wait for scatter of region %d: %w", id, err)
			}
		}
	}
	return nil
}
