package rangetask

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
)

// ErrDeleteRange: TiKV refused a DeleteRange or UnsafeDestroyRange (the error carries
// TiKV's message). Not retryable as such.
var ErrDeleteRange = errors.New("rangetask: delete range failed")

// DeleteRange deletes every version and lock of the transactional data in the user-key
// range [start, end) (an empty end is the end of the keyspace) with TiKV's DeleteRange,
// region by region, concurrency tasks at a time (GC-4). The data is dropped, not
// tombstoned: readers at any timestamp stop seeing it, so use it only on data no
// transaction will read again. It does not coordinate with transactions: one that
// writes to the range meanwhile, or an async-commit transaction whose commit RPCs are
// still running in the background after its Commit returned, can leave keys behind.
// It returns how many regions were done, also on failure. Repeating it is harmless.
//
// Errors: an error wrapping cluster.ErrInvalidConfig for a raw-mode cluster; one wrapping
// ErrDeleteRange when TiKV refuses; a *kv.BackoffError when a region's retry budget
// (100 s) runs out; an error wrapping ctx's error.
func DeleteRange(ctx context.Context, cl *cluster.Cluster, start, end []byte, concurrency int) (Stat, error) {
	return deleteRange(ctx, cl, start, end, concurrency, false)
}

// NotifyDeleteRange sends DeleteRange with notify_only to every region of [start, end):
// TiKV learns that the range is about to be deleted and deletes nothing. Otherwise as
// DeleteRange.
func NotifyDeleteRange(ctx context.Context, cl *cluster.Cluster, start, end []byte, concurrency int) (Stat, error) {
	return deleteRange(ctx, cl, start, end, concurrency, true)
}

func deleteRange(ctx context.Context, cl *cluster.Cluster, start, end []byte, concurrency int, notify bool) (Stat, error) {
	if cl.Mode() != cluster.Txn {
		return Stat{}, fmt.Errorf("%w: rangetask: delete range needs a txn-mode cluster", cluster.ErrInvalidConfig)
	}
	run := NewRunner(cl.Cache(), concurrency, func(ctx context.Context, r kv.KeyRange) (Stat, error) {
		return deleteTask(ctx, cl, r, notify)
	})
	err := run.Run(ctx, start, end)
	return Stat{CompletedRegions: run.CompletedRegions(), FailedRegions: run.FailedRegions()}, err
}

// deleteTask sends DeleteRange to each region of r in turn, locating again when a region
// moved. Each region has its own retry budget (client-go's, BO-23).
func deleteTask(ctx context.Context, cl *cluster.Cluster, r kv.KeyRange, notify bool) (Stat, error) {
	var st Stat
	key := []byte(r.Start)
	for {
		bo := cl.Sender().NewBackoffer(&region.Options{Budget: backoff.BudgetDeleteRange})
		for {
			loc, err := cl.Cache().Locate(ctx, key)
			if err != nil {
				return st, fmt.Errorf("rangetask: delete range: %w", err)
			}
			regionEnd := clampEnd(loc.EndKey, r.End)
			ws, we := cl.Codec().EncodeRange(key, regionEnd)
			req := &kvrpcpb.DeleteRangeRequest{Context: &kvrpcpb.Context{}, StartKey: ws, EndKey: we, NotifyOnly: notify}
			resp, err := region.SendToRegion[*kvrpcpb.DeleteRangeRequest, *kvrpcpb.DeleteRangeResponse](ctx, cl.Sender(), bo, loc, req, nil)
			if err != nil {
				if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
					return st, fmt.Errorf("rangetask: delete range in region %d: %w", loc.Region.ID, rerr)
				}
				continue
			}
			if msg := resp.GetError(); msg != "" {
				return st, fmt.Errorf("%w: region %d: %s", ErrDeleteRange, loc.Region.ID, msg)
			}
			st.CompletedRegions++
			if len(regionEnd) == 0 || (len(r.End) > 0 && bytes.Compare(regionEnd, r.End) >= 0) {
				return st, nil
			}
			key = regionEnd
			break
		}
	}
}

// clampEnd returns the smaller of a region end and a range end (empty = unbounded).
func clampEnd(regionEnd, end []byte) []byte {
	if len(end) > 0 && (len(regionEnd) == 0 || bytes.Compare(end, regionEnd) < 0) {
		return end
	}
	return regionEnd
}
