package txn_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A pessimistic read-modify-write: the lock returns the latest value, so no concurrent
// transfer can be lost, and a second transaction that asks not to wait is refused.
func ExampleTxn_LockKeysWithOptions() {
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
	vals := map[string][]byte{}
	if err := tx.LockKeysWithOptions(ctx, txn.LockOptions{ReturnValues: true, Values: vals}, []byte("balance")); err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(string(vals["balance"])) // absent: 0
	_ = tx.Set([]byte("balance"), []byte(strconv.Itoa(n+100)))

	other, _ := c.Begin(ctx, txn.WithPessimistic(), txn.WithLockWait(txn.LockWait{Kind: txn.LockWaitNoWait}))
	err = other.LockKeys(ctx, []byte("balance"))
	fmt.Println(errors.Is(err, kv.ErrLockNoWait))
	_ = other.Rollback(ctx)

	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	v, _ := c.Snapshot(kv.MaxTS).Get(ctx, []byte("balance"))
	fmt.Println(string(v))
	// Output:
	// true
	// 100
}

// Async commit returns once every key is prewritten; 1PC commits a single-region
// transaction with its prewrite.
func ExampleWithAsyncCommit() {
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

	for _, opt := range []txn.TxnOption{txn.WithAsyncCommit(true), txn.WithOnePC(true)} {
		err := c.Transact(ctx, func(ctx context.Context, tx *txn.Txn) error {
			return tx.Set([]byte("k"), []byte(time.Now().Format(time.RFC3339Nano)))
		}, opt)
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// <nil>
}
