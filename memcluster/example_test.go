package memcluster_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvsql/tikvsql/memcluster"
)

// A test opens a named cluster (shared with everything else in the process that opens
// the same name), makes every RawPut answer ServerIsBusy, and splits a region.
func ExampleOpen() {
	c, err := memcluster.Open("example", memcluster.Options{Stores: 3})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	remove := c.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "RawPut" {
			return &memcluster.Fault{RegionError: &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}}}
		}
		return nil
	})
	defer remove()

	if _, err := c.Split(memcluster.RegionKey([]byte("m"))); err != nil {
		panic(err)
	}
	fmt.Println(len(c.StoreIDs()), "stores,", len(c.Regions()), "regions")
	// Output: 3 stores, 2 regions
}
