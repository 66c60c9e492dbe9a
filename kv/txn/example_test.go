package txn_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// Transact runs a read-modify-write and retries it on write conflicts.
func ExampleClient_Transact() {
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

	incr := func(ctx context.Context, tx *txn.Txn) error {
		n := 0
		v, err := tx.Get(ctx, []byte("counter"))
		switch {
		case err == nil:
			n, _ = strconv.Atoi(string(v))
		case !errors.Is(err, kv.ErrNotFound):
			return err
		}
		return tx.Set([]byte("counter"), []byte(strconv.Itoa(n+1)))
	}
	for range 3 {
		if err := c.Transact(ctx, incr); err != nil {
			panic(err)
		}
	}
	v, _ := c.Snapshot(kv.MaxTS).Get(ctx, []byte("counter"))
	fmt.Println(string(v))
	// Output: 3
}

// A transaction reads its own writes merged over its snapshot.
func ExampleTxn_Scan() {
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

	tx, _ := c.Begin(ctx)
	_ = tx.Set([]byte("a"), []byte("1"))
	_ = tx.Set([]byte("b"), []byte("2"))
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}

	tx, _ = c.Begin(ctx)
	_ = tx.Delete([]byte("a"))
	_ = tx.Set([]byte("c"), []byte("3"))
	pairs, err := tx.Scan(ctx, nil, nil, 0, txn.Reverse())
	if err != nil {
		panic(err)
	}
	for _, p := range pairs {
		fmt.Printf("%s=%s\n", string(p.Key), p.Value)
	}
	_ = tx.Rollback(ctx)
	// Output:
	// c=3
	// b=2
}
