package raw_test

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// ports client-go rawkv_test.go TestCompareAndSwap: nil expected means "absent",
// []byte{} means "present and empty", and the previous value comes back.
func TestCompareAndSwap(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.Atomic = true })
		k := []byte(p + "k")
		check := func(what string, res raw.CASResult, err error, swapped, exists bool, prev []byte) {
			t.Helper()
			if err != nil || res.Swapped != swapped || res.PreviousExists != exists ||
				!bytes.Equal(res.Previous, prev) || (prev == nil) != (res.Previous == nil) {
				t.Fatalf("%s: %+v, %v; want swapped %v exists %v previous %q", what, res, err, swapped, exists, prev)
			}
		}
		res, err := c.CompareAndSwap(ctx, k, nil, []byte("v1"))
		check("create", res, err, true, false, nil)
		res, err = c.CompareAndSwap(ctx, k, nil, []byte("v2"))
		check("create again", res, err, false, true, []byte("v1"))
		res, err = c.CompareAndSwap(ctx, k, []byte("wrong"), []byte("v2"))
		check("wrong expected", res, err, false, true, []byte("v1"))
		res, err = c.CompareAndSwap(ctx, k, []byte{}, []byte("v2"))
		check("empty expected on a non-empty value", res, err, false, true, []byte("v1"))
		res, err = c.CompareAndSwap(ctx, k, []byte("v1"), []byte("v2"))
		check("swap", res, err, true, true, []byte("v1"))
		if v, _ := c.Get(ctx, k); string(v) != "v2" {
			t.Fatalf("after swap = %q", v)
		}

		e := []byte(p + "empty")
		res, err = c.CompareAndSwap(ctx, e, []byte{}, []byte("x"))
		check("empty expected on a missing key", res, err, false, false, nil)
		if err := c.Put(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
		res, err = c.CompareAndSwap(ctx, e, nil, []byte("x"))
		check("nil expected on an empty value", res, err, false, true, []byte{})
		res, err = c.CompareAndSwap(ctx, e, []byte{}, []byte("x"))
		check("empty expected on an empty value", res, err, true, true, []byte{})

		// Atomic-mode writes (ForCas) mix with CAS.
		if err := c.BatchPut(ctx, [][]byte{k}, [][]byte{[]byte("v3")}); err != nil {
			t.Fatal(err)
		}
		res, err = c.CompareAndSwap(ctx, k, []byte("v3"), []byte("v4"))
		check("after atomic batch put", res, err, true, true, []byte("v3"))
		if err := c.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		res, err = c.CompareAndSwap(ctx, k, nil, []byte("v5"))
		check("after atomic delete", res, err, true, false, nil)
		if err := c.BatchDelete(ctx, [][]byte{k}); err != nil {
			t.Fatal(err)
		}
	})
}

// Racing creators: exactly one wins; racing incrementers lose no update.
func TestCompareAndSwapRace(t *testing.T) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.Atomic = true })
		k := []byte(p + "owner")
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []int
		for i := range n {
			wg.Go(func() {
				res, err := c.CompareAndSwap(ctx, k, nil, fmt.Appendf(nil, "%d", i))
				if err != nil {
					t.Error(err)
					return
				}
				if res.Swapped {
					mu.Lock()
					winners = append(winners, i)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners = %v, want exactly one", winners)
		}
		if v, _ := c.Get(ctx, k); string(v) != strconv.Itoa(winners[0]) {
			t.Fatalf("owner = %q, winner %d", v, winners[0])
		}

		ctr := []byte(p + "counter")
		const workers, incs = 6, 10
		for range workers {
			wg.Go(func() {
				for done := 0; done < incs; {
					cur, err := c.BatchGet(ctx, [][]byte{ctr})
					if err != nil {
						t.Error(err)
						return
					}
					n := 0
					if cur[0] != nil {
						n, _ = strconv.Atoi(string(cur[0]))
					}
					res, err := c.CompareAndSwap(ctx, ctr, cur[0], []byte(strconv.Itoa(n+1)))
					if err != nil {
						t.Error(err)
						return
					}
					if res.Swapped {
						done++
					}
				}
			})
		}
		wg.Wait()
		if v, _ := c.Get(ctx, ctr); string(v) != strconv.Itoa(workers*incs) {
			t.Fatalf("counter = %q, want %d", v, workers*incs)
		}
	})
}
