package region

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// listingCluster is the fake cluster with PD's store list.
type listingCluster struct{ *fakeCluster }

func (l listingCluster) GetAllStores(context.Context) ([]*metapb.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*metapb.Store
	for _, s := range l.stores {
		if s.State != metapb.StoreState_Tombstone {
			c := *s
			out = append(out, &c)
		}
	}
	return out, nil
}

// The store refresh learns stores no request has met yet, resolved from the list
// (no per-store PD call), and skips tombstones (RC-8).
// client-go: internal/locate/region_cache.go full store list refresh (no test of its own).
func TestRefreshLearnsUnknownStores(t *testing.T) {
	f := newFakeCluster(3)
	f.stores[4] = &metapb.Store{Id: 4, Address: "store4", State: metapb.StoreState_Tombstone}
	c := New(listingCluster{f}, Config{Prober: f})
	defer c.Close()
	mustLocate(t, c, "a") // resolves stores 1..3 through GetStore
	f.stores[5] = &metapb.Store{Id: 5, Address: "store5"}
	calls := f.pdStore.Load()
	c.stores.learnStores(context.Background())
	if f.pdStore.Load() != calls {
		t.Fatal("learning stores called GetStore")
	}
	c.stores.mu.Lock()
	_, has5 := c.stores.byID[5]
	_, has4 := c.stores.byID[4]
	n := len(c.stores.byID)
	c.stores.mu.Unlock()
	if !has5 || has4 || n != 4 {
		t.Fatalf("store cache: 5 %v, tombstone 4 %v, %d stores", has5, has4, n)
	}
	st, err := c.Store(context.Background(), 5)
	if err != nil || st.Addr() != "store5" || f.pdStore.Load() != calls {
		t.Fatalf("learned store: %v %v (PD calls %d)", st, err, f.pdStore.Load()-calls)
	}
	// A source without the list: nothing happens.
	c2 := New(f, Config{Prober: f})
	defer c2.Close()
	c2.stores.learnStores(context.Background())
	if len(c2.stores.all()) != 0 {
		t.Fatal("learned stores without a store list")
	}
}
