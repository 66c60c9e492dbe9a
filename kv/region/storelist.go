package region

import (
	"context"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// StoreLister is an optional interface of a RegionSource: GetAllStores lists the
// cluster's stores that are not tombstones (kv/pd's Client has it). With it the store
// cache's periodic refresh also learns the stores it has not met yet (RC-8, client-go's
// full store list), so their health is tracked before the first request reaches them.
type StoreLister interface {
	GetAllStores(ctx context.Context) ([]*metapb.Store, error)
}

// learnStores adds the stores PD lists that the cache does not know, resolved. PD
// errors are ignored: the next round tries again.
func (c *storeCache) learnStores(ctx context.Context) {
	l, ok := c.src.(StoreLister)
	if !ok {
		return
	}
	stores, err := l.GetAllStores(ctx)
	if err != nil {
		return
	}
	now := c.clock().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range stores {
		if _, known := c.byID[m.GetId()]; known || m.GetAddress() == "" || m.GetState() == metapb.StoreState_Tombstone {
			continue
		}
		s := &Store{id: m.GetId(), meta: m}
		s.resolvedAt.Store(now)
		c.byID[m.GetId()] = s
	}
}
