package rangetask

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// DestroyTimeout bounds UnsafeDestroyRange on one store (client-go's value); the
// caller's ctx may bound it further.
const DestroyTimeout = 5 * time.Minute

// UnsafeDestroyRange drops the data of the user-key range [start, end) (an empty end is
// the end of the keyspace) from the storage engine of every TiKV store, in parallel,
// bypassing Raft (GC-5). Tombstone stores and TiFlash stores are skipped. Only for a range
// that is already deleted and will never be read or written again; calling it again on
// the same range is harmless. Stores are listed afresh on every call.
//
// Errors: an error wrapping cluster.ErrInvalidConfig for a raw-mode cluster; PD's errors
// listing the stores; otherwise the errors of every store that failed, joined (each
// wrapping ErrDeleteRange when TiKV refused, or the RPC error, or ctx's error).
func UnsafeDestroyRange(ctx context.Context, cl *cluster.Cluster, start, end []byte) error {
	if cl.Mode() != cluster.Txn {
		return fmt.Errorf("%w: rangetask: unsafe destroy range needs a txn-mode cluster", cluster.ErrInvalidConfig)
	}
	stores, err := cl.PD().GetAllStores(ctx)
	if err != nil {
		return fmt.Errorf("rangetask: unsafe destroy range: list stores: %w", err)
	}
	ws, we := cl.Codec().EncodeRange(start, end)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		if s.GetState() == metapb.StoreState_Tombstone || isTiFlash(s) {
			continue
		}
		wg.Go(func() { errs[i] = destroyOn(ctx, cl, s, ws, we) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// destroyOn sends UnsafeDestroyRange to one store.
func destroyOn(ctx context.Context, cl *cluster.Cluster, s *metapb.Store, ws, we []byte) error {
	ctx, cancel := context.WithTimeout(ctx, DestroyTimeout)
	defer cancel()
	req := &kvrpcpb.UnsafeDestroyRangeRequest{Context: &kvrpcpb.Context{}, StartKey: ws, EndKey: we}
	resp, err := rpc.Call(ctx, cl.RPC(), s.GetAddress(), rpc.UnsafeDestroyRange, req, rpc.CallOptions{StoreID: s.GetId()})
	if err != nil {
		return fmt.Errorf("rangetask: unsafe destroy range on store %d: %w", s.GetId(), err)
	}
	if msg := resp.GetError(); msg != "" {
		return fmt.Errorf("%w: unsafe destroy range on store %d: %s", ErrDeleteRange, s.GetId(), msg)
	}
	return nil
}

// isTiFlash reports whether s is a TiFlash store (label engine=tiflash or
// tiflash_compute), which has no TiKV storage to destroy.
func isTiFlash(s *metapb.Store) bool {
	for _, l := range s.GetLabels() {
		if l.GetKey() == "engine" && (l.GetValue() == "tiflash" || l.GetValue() == "tiflash_compute") {
			return true
		}
	}
	return false
}
