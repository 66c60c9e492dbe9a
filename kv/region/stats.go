package region

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Stats is a snapshot of a Cache's counters, for metrics adapters and tests.
type Stats struct {
	Regions int   // regions cached now
	Hits    int64 // lookups answered from the cache
	Misses  int64 // lookups that needed a load
	PDCalls int64 // region lookups sent to PD (GetRegion, GetPrevRegion, ByID, BatchScan)
	Loading int   // loads in flight now
}

type counters struct {
	hits, misses, pdCalls atomic.Int64
}

// Stats returns the cache's counters. Safe for concurrent use.
func (c *Cache) Stats() Stats {
	c.flightMu.Lock()
	loading := len(c.flights)
	c.flightMu.Unlock()
	return Stats{Regions: c.Len(), Hits: c.stats.hits.Load(), Misses: c.stats.misses.Load(),
		PDCalls: c.stats.pdCalls.Load(), Loading: loading}
}

// acquirePD takes a slot of the PD load limit (Config.MaxPDLoads); release with
// <-c.pdSem.
func (c *Cache) acquirePD(ctx context.Context) error {
	select {
	case c.pdSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("region: waiting for a PD load slot: %w", ctx.Err())
	}
}
