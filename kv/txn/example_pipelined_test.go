package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A pipelined transaction flushes its writes to TiKV while it runs (here every 1 000
// keys), so its size is not bounded by client memory; it still reads its own writes and
// commits atomically.
func ExampleWithPipelined() {
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

	tx, err := c.Begin(ctx, txn.WithPipelined(txn.PipelinedOptions{MinFlushKeys: 1000, MinFlushSize: 1}))
	if err != nil {
		panic(err)
	}
	for i := range 5000 {
		if err := tx.Set(fmt.Appendf(nil, "row%05d", i), []byte("v")); err != nil {
			panic(err)
		}
	}
	v, err := tx.Get(ctx, []byte("row00042")) // flushed already: read back from TiKV's locks
	if err != nil {
		panic(err)
	}
	fmt.Println("own write:", string(v))
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	rows, err := c.Snapshot(kv.MaxTS).Scan(ctx, []byte("row"), []byte("rox"), 0)
	if err != nil {
		panic(err)
	}
	fmt.Println("committed rows:", len(rows))
	// Output:
	// own write: v
	// committed rows: 5000
}
