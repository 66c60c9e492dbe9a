package raw_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// exampleClient starts an in-process cluster and a raw client on it; stop closes both.
func exampleClient(atomic bool) (c *raw.Client, stop func()) {
	mc, err := memcluster.New(memcluster.Options{Stores: 3})
	if err != nil {
		log.Fatal(err)
	}
	c, err = raw.New(context.Background(), raw.Config{
		Config: cluster.Config{Endpoints: []string{mc.PDAddr()}},
		Atomic: atomic,
	})
	if err != nil {
		log.Fatal(err)
	}
	return c, func() {
		_ = c.Close(context.Background())
		_ = mc.Close()
	}
}

func ExampleNew() {
	mc, err := memcluster.New(memcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer mc.Close()
	ctx := context.Background()
	c, err := raw.New(ctx, raw.Config{Config: cluster.Config{Endpoints: []string{mc.PDAddr()}}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println(c.Cluster().Mode())
	// Output: raw
}

func ExampleNewWithCluster() {
	mc, err := memcluster.New(memcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer mc.Close()
	ctx := context.Background()
	shared, err := cluster.Open(ctx, cluster.Config{Endpoints: []string{mc.PDAddr()}, Mode: cluster.Raw})
	if err != nil {
		log.Fatal(err)
	}
	defer shared.Close(ctx)
	// Two clients with different settings share one connection.
	plain, _ := raw.NewWithCluster(shared, raw.Config{})
	atomic, _ := raw.NewWithCluster(shared, raw.Config{Atomic: true})
	_ = plain.Put(ctx, []byte("k"), []byte("v"))
	res, _ := atomic.CompareAndSwap(ctx, []byte("k"), []byte("v"), []byte("w"))
	fmt.Println(res.Swapped)
	_ = plain.Close(ctx) // leaves the shared cluster open
	v, _ := atomic.Get(ctx, []byte("k"))
	fmt.Printf("%s\n", v)
	// Output:
	// true
	// w
}

func ExampleClient_Get() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	_ = c.Put(ctx, []byte("greeting"), []byte("hello"))
	_ = c.Put(ctx, []byte("empty"), nil)
	v, _ := c.Get(ctx, []byte("greeting"))
	fmt.Printf("%s\n", v)
	v, _ = c.Get(ctx, []byte("empty"))
	fmt.Println(v != nil, len(v))
	_, err := c.Get(ctx, []byte("missing"))
	fmt.Println(errors.Is(err, kv.ErrNotFound))
	// Output:
	// hello
	// true 0
	// true
}

func ExampleClient_Put() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	if err := c.Put(ctx, []byte("session"), []byte("data"), raw.WithTTL(time.Minute)); err != nil {
		log.Fatal(err)
	}
	ttl, _ := c.TTL(ctx, []byte("session"))
	fmt.Println(ttl)
	// Output: 1m0s
}

func ExampleClient_Delete() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	_ = c.Put(ctx, []byte("k"), []byte("v"))
	_ = c.Delete(ctx, []byte("k"))
	_, err := c.Get(ctx, []byte("k"))
	fmt.Println(errors.Is(err, kv.ErrNotFound))
	// Output: true
}

func ExampleClient_BatchPut() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	values := [][]byte{[]byte("1"), []byte("2"), []byte("3")}
	// Split by region, key count and bytes, and sent in parallel per region.
	if err := c.BatchPut(ctx, keys, values, raw.WithTTLs([]time.Duration{0, time.Hour, 0})); err != nil {
		log.Fatal(err)
	}
	ttl, _ := c.TTL(ctx, []byte("b"))
	fmt.Println(ttl)
	// Output: 1h0m0s
}

func ExampleClient_BatchGet() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	_ = c.BatchPut(ctx, [][]byte{[]byte("a"), []byte("b")}, [][]byte{[]byte("1"), []byte("2")})
	vs, _ := c.BatchGet(ctx, [][]byte{[]byte("b"), []byte("missing"), []byte("a")})
	for _, v := range vs {
		fmt.Printf("%q\n", v)
	}
	// Output:
	// "2"
	// ""
	// "1"
}

func ExampleClient_BatchDelete() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	_ = c.BatchPut(ctx, [][]byte{[]byte("a"), []byte("b")}, [][]byte{[]byte("1"), []byte("2")})
	_ = c.BatchDelete(ctx, [][]byte{[]byte("a"), []byte("b")})
	vs, _ := c.BatchGet(ctx, [][]byte{[]byte("a"), []byte("b")})
	fmt.Println(vs[0] == nil, vs[1] == nil)
	// Output: true true
}

func ExampleClient_DeleteRange() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	for _, k := range []string{"user/1", "user/2", "user/3", "zebra"} {
		_ = c.Put(ctx, []byte(k), []byte("x"))
	}
	r := kv.PrefixRange([]byte("user/"))
	_ = c.DeleteRange(ctx, r.Start, r.End)
	kvs, _ := c.Scan(ctx, nil, nil, 0)
	for _, p := range kvs {
		fmt.Println(string(p.Key))
	}
	// Output: zebra
}

func ExampleClient_Scan() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d"} {
		_ = c.Put(ctx, []byte(k), []byte("v-"+k))
	}
	kvs, _ := c.Scan(ctx, []byte("b"), []byte("d"), 0)
	for _, p := range kvs {
		fmt.Printf("%s=%s\n", string(p.Key), p.Value)
	}
	keys, _ := c.Scan(ctx, nil, nil, 2, raw.WithKeyOnly())
	fmt.Println(string(keys[0].Key), string(keys[1].Key))
	// Output:
	// b=v-b
	// c=v-c
	// a b
}

func ExampleClient_ReverseScan() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d"} {
		_ = c.Put(ctx, []byte(k), []byte("v"))
	}
	// Same [start, end) as Scan, read from the top.
	kvs, _ := c.ReverseScan(ctx, []byte("a"), []byte("d"), 2)
	for _, p := range kvs {
		fmt.Println(string(p.Key))
	}
	// Output:
	// c
	// b
}

func ExampleClient_Iter() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		_ = c.Put(ctx, []byte(k), []byte("v-"+k))
	}
	it := c.Iter(ctx, nil, []byte("z"), raw.WithReverse())
	defer it.Close()
	for it.Next() {
		fmt.Printf("%s=%s\n", it.Key(), it.Value())
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// c=v-c
	// b=v-b
	// a=v-a
}

func ExampleClient_TTL() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	_ = c.Put(ctx, []byte("forever"), []byte("v"))
	ttl, _ := c.TTL(ctx, []byte("forever"))
	fmt.Println(ttl)
	_, err := c.TTL(ctx, []byte("missing"))
	fmt.Println(errors.Is(err, kv.ErrNotFound))
	// Output:
	// 0s
	// true
}

func ExampleClient_CompareAndSwap() {
	c, stop := exampleClient(true) // CAS needs atomic mode
	defer stop()
	ctx := context.Background()
	// Put-if-absent of a lock that expires.
	res, _ := c.CompareAndSwap(ctx, []byte("lock"), nil, []byte("me"), raw.WithTTL(30*time.Second))
	fmt.Println(res.Swapped)
	res, _ = c.CompareAndSwap(ctx, []byte("lock"), nil, []byte("you"))
	fmt.Printf("%v %s\n", res.Swapped, res.Previous)
	// Output:
	// true
	// false me
}

func ExampleClient_Checksum() {
	c, stop := exampleClient(false)
	defer stop()
	ctx := context.Background()
	_ = c.BatchPut(ctx, [][]byte{[]byte("a"), []byte("bb")}, [][]byte{[]byte("1"), []byte("22")})
	sum, _ := c.Checksum(ctx, nil, nil)
	fmt.Println(sum.TotalKVs, sum.TotalBytes)
	// Output: 2 6
}
