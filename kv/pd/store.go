package pd

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/opt"
)

// Stores are returned as PD's own metapb.Store values (address, labels, state, version,
// status address); they are snapshots and must not be modified.

// GetStore returns the store with the given ID (PD-17). Safe for concurrent use.
//
// Errors: ErrStoreNotFound (unknown or tombstone store), a *kv.BackoffError wrapping
// kv.ErrPDUnavailable, ctx's error, kv.ErrClosed.
func (c *Client) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	op := fmt.Sprintf("get store %d", id)
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	var s *metapb.Store
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		s, err = c.b.GetStore(ctx, id, opt.WithAllowRouterServiceHandleStoreRequest())
		return err
	})
	if err != nil {
		return nil, err
	}
	if s == nil || s.GetState() == metapb.StoreState_Tombstone {
		return nil, fmt.Errorf("pd: %s: %w", op, ErrStoreNotFound)
	}
	return s, nil
}

// GetAllStores returns every store that is not a tombstone (PD-17).
//
// Errors: as GetStore, except that ErrStoreNotFound is never returned.
func (c *Client) GetAllStores(ctx context.Context) ([]*metapb.Store, error) {
	if err := c.checkOpen("get all stores"); err != nil {
		return nil, err
	}
	var all []*metapb.Store
	err := c.retry(ctx, "get all stores", c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		all, err = c.b.GetAllStores(ctx, opt.WithExcludeTombstone(), opt.WithAllowRouterServiceHandleStoreRequest())
		return err
	})
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, s := range all {
		if s != nil && s.GetState() != metapb.StoreState_Tombstone && s.GetNodeState() != metapb.NodeState_Removed {
			out = append(out, s)
		}
	}
	return out, nil
}
