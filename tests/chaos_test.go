package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// chaos changes a memcluster's topology while a workload runs: it splits regions at
// user keys (through PD, so the encoding is the client's), moves leaders, and takes a
// store down for a moment after moving its leaders away, as Raft would elect new ones.
type chaos struct {
	mc      *memcluster.Cluster
	cl      *cluster.Cluster
	keyAt   func(i int) []byte // a user key to split at
	nkeys   int
	rnd     *rand.Rand
	actions map[string]int
}

// run applies an action every interval until ctx ends; it returns what it did.
func (c *chaos) run(ctx context.Context, t *testing.T, interval time.Duration, wg *sync.WaitGroup) {
	defer wg.Done()
	c.actions = map[string]int{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var err error
		switch c.rnd.IntN(4) {
		case 0, 1:
			_, err = c.cl.PD().SplitRegions(ctx, [][]byte{c.keyAt(c.rnd.IntN(c.nkeys))})
			c.actions["split"]++
		case 2:
			err = c.moveLeader()
			c.actions["leader"]++
		case 3:
			err = c.outage(ctx)
			c.actions["outage"]++
		}
		if err != nil && ctx.Err() == nil {
			t.Errorf("chaos: %v", err)
			return
		}
	}
}

func (c *chaos) moveLeader() error {
	regions := c.mc.Regions()
	r := regions[c.rnd.IntN(len(regions))]
	peers := r.Meta.GetPeers()
	to := peers[c.rnd.IntN(len(peers))].GetStoreId()
	if to == r.LeaderStore {
		return nil
	}
	return c.mc.TransferLeader(r.Meta.GetId(), to)
}

// outage stops a store, moves the leaders it held to other peers, waits a little and
// starts it again.
func (c *chaos) outage(ctx context.Context) error {
	stores := c.mc.StoreIDs()
	victim := stores[c.rnd.IntN(len(stores))]
	if err := c.mc.StopStore(victim); err != nil {
		return err
	}
	for _, r := range c.mc.Regions() {
		if r.LeaderStore != victim {
			continue
		}
		for _, p := range r.Meta.GetPeers() {
			if p.GetStoreId() != victim {
				if err := c.mc.TransferLeader(r.Meta.GetId(), p.GetStoreId()); err != nil {
					return fmt.Errorf("move leader of region %d off store %d: %w", r.Meta.GetId(), victim, err)
				}
				break
			}
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
	return c.mc.StartStore(victim, false)
}
