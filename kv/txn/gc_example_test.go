package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// GC advances both safe points to a timestamp and resolves every lock before it on the way.
func ExampleClient_GC() {
	mc, err := memcluster.New(memcluster.Options{})
	if err != nil {
		panic(err)
	}
	defer mc.Close()
	ctx := context.Background()
	c, err := txn.New(ctx, txn.Config{Config: cluster.Config{Endpoints: []string{mc.PDAddr()}}})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)

	safePoint, err := c.CurrentTS(ctx)
	if err != nil {
		panic(err)
	}
	res, err := c.GC(ctx, safePoint, txn.WithGCConcurrency(4))
	if err != nil {
		panic(err)
	}
	fmt.Println(res.TxnSafePoint.New == safePoint, res.GCSafePoint.New == safePoint, res.Regions.CompletedRegions)
	// Output: true true 1
}
