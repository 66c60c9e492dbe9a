package rangetask_test

import (
	"context"
	"fmt"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/rangetask"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A Runner hands a range to its workers in tasks of a few regions each.
func ExampleRunner() {
	mc, err := memcluster.New(memcluster.Options{})
	if err != nil {
		panic(err)
	}
	defer mc.Close()
	ctx := context.Background()
	cl, err := cluster.Open(ctx, cluster.Config{Endpoints: []string{mc.PDAddr()}})
	if err != nil {
		panic(err)
	}
	defer cl.Close(ctx)
	if _, err := cl.SplitRegions(ctx, [][]byte{[]byte("b"), []byte("c"), []byte("d")}, cluster.SplitOptions{}); err != nil {
		panic(err)
	}

	run := rangetask.NewRunner(cl.Cache(), 1, func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		fmt.Printf("task [%s, %s)\n", []byte(r.Start), []byte(r.End))
		return rangetask.Stat{CompletedRegions: 2}, nil
	})
	run.SetRegionsPerTask(2)
	if err := run.Run(ctx, []byte("a"), []byte("e")); err != nil {
		panic(err)
	}
	fmt.Println("regions:", run.CompletedRegions())
	// Output:
	// task [a, c)
	// task [c, e)
	// regions: 4
}
