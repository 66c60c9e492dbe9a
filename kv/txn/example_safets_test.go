package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A read at the min safe ts can be served by any replica. MinSafeTS is 0 until the
// background updater has heard from every store; UpdateSafeTS runs a round at once.
func ExampleClient_MinSafeTS() {
	mc, err := memcluster.New(memcluster.Options{Stores: 3})
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

	tx, err := c.Begin(ctx)
	if err != nil {
		panic(err)
	}
	_ = tx.Set([]byte("greeting"), []byte("hello"))
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	if _, err := c.Cluster().UpdateSafeTS(ctx); err != nil {
		panic(err)
	}
	ts := c.MinSafeTS()
	fmt.Println(ts > tx.CommitTS())
	v, err := c.Snapshot(ts, txn.WithReplicaRead(region.ReadFollower)).Get(ctx, []byte("greeting"))
	fmt.Println(string(v), err)
	// Output:
	// true
	// hello <nil>
}
