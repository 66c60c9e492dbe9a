package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A statement run in an aggressive locking stage: its first attempt locks two rows and
// is retried (say it read stale data); the retried attempt keeps the lock it needs again
// without asking TiKV, and the lock it no longer needs is rolled back when the stage is
// done.
func ExampleTxn_StartAggressiveLocking() {
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

	tx, _ := c.Begin(ctx, txn.WithPessimistic())
	if err := tx.StartAggressiveLocking(); err != nil {
		panic(err)
	}
	_ = tx.LockKeys(ctx, []byte("row1"), []byte("row2")) // first attempt
	_ = tx.RetryAggressiveLocking(ctx)
	_ = tx.LockKeys(ctx, []byte("row1")) // the retry: row1's lock is kept
	for _, l := range tx.AggressiveLockingKeys() {
		fmt.Println(string(l.Key), l.ConflictTS == 0)
	}
	_ = tx.DoneAggressiveLocking(ctx) // row2's lock is rolled back
	_ = tx.Set([]byte("row1"), []byte("v"))
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	v, _ := c.Snapshot(kv.MaxTS).Get(ctx, []byte("row1"))
	fmt.Println(string(v))
	// Output:
	// row1 true
	// v
}
