package txn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

// Randomised read-your-writes: after random committed data and random buffered writes
// and deletions, every scan (both directions, random bounds, limits and batch sizes),
// Get and BatchGet of the transaction agrees with a map model.
func TestUnionMatchesModel(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	rng := rand.New(rand.NewPCG(7, 11))
	key := func(i int) string { return fmt.Sprintf("%s%03d", p, i) }
	const space = 60
	split(t, c, key(15), key(30), key(45))
	for round := range 4 {
		model := map[string]string{}
		base, _ := c.Begin(ctx)
		for i := range space {
			if rng.IntN(2) == 0 {
				v := fmt.Sprintf("b%d-%d", round, i)
				mustSet(t, base, key(i), v)
				model[key(i)] = v
			} else {
				_ = base.Delete([]byte(key(i)))
			}
		}
		if err := base.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		tx, _ := c.Begin(ctx)
		for range 40 {
			k := key(rng.IntN(space))
			if rng.IntN(3) == 0 {
				_ = tx.Delete([]byte(k))
				delete(model, k)
			} else {
				v := fmt.Sprintf("t%d-%d", round, rng.IntN(1000))
				mustSet(t, tx, k, v)
				model[k] = v
			}
		}
		var sorted []string
		for k := range model {
			sorted = append(sorted, k)
		}
		slices.Sort(sorted)
		for range 30 {
			lo, hi := rng.IntN(space+1), rng.IntN(space+1)
			if lo > hi {
				lo, hi = hi, lo
			}
			start, end := []byte(key(lo)), []byte(key(hi))
			if rng.IntN(4) == 0 {
				end = kv.Key(p).PrefixNext()
			}
			var want []string
			for _, k := range sorted {
				if k >= string(start) && k < string(end) {
					want = append(want, k+"="+model[k])
				}
			}
			reverse := rng.IntN(2) == 0
			opts := []IterOption{BatchSize(2 + rng.IntN(7))}
			if reverse {
				opts = append(opts, Reverse())
				slices.Reverse(want)
			}
			limit := 0
			if rng.IntN(3) == 0 {
				limit = 1 + rng.IntN(5)
				want = want[:min(limit, len(want))]
			}
			got, err := tx.Scan(ctx, start, end, limit, opts...)
			if err != nil {
				t.Fatal(err)
			}
			var gs []string
			for _, kv := range got {
				gs = append(gs, string(kv.Key)+"="+string(kv.Value))
			}
			if !slices.Equal(gs, want) {
				t.Fatalf("round %d scan [%d,%d) reverse=%v limit=%d:\n got %s\nwant %s", round, lo, hi, reverse, limit,
					strings.Join(gs, " "), strings.Join(want, " "))
			}
		}
		var keys [][]byte
		for i := range space {
			k := key(i)
			keys = append(keys, []byte(k))
			v, err := tx.Get(ctx, []byte(k))
			if mv, ok := model[k]; ok != (err == nil) || (ok && string(v) != mv) {
				t.Fatalf("get %s = %q %v, model %q %v", k, v, err, mv, ok)
			}
		}
		m, err := tx.BatchGet(ctx, keys)
		if err != nil || len(m) != len(model) {
			t.Fatalf("batch get %d, model %d: %v", len(m), len(model), err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		for k, v := range model {
			if got := get(t, c, k); got != v {
				t.Fatalf("after commit %s = %q, want %q", k, got, v)
			}
		}
	}
}
