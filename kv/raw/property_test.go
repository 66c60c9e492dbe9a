package raw_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// model is the reference: a map with sorted iteration.
type model map[string][]byte

func (m model) rangeKeys(lo, hi string) []string {
	var ks []string
	for k := range m {
		if k >= lo && (hi == "" || k < hi) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

// Random sequences of raw operations interleaved with region splits agree with an
// in-memory sorted map (user-asks 16: property-test scans across splits).
func TestPropertyAgainstModel(t *testing.T) {
	const steps = 1000
	for _, seed := range []uint64{20261202, 6, 1789} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { propertyRun(t, seed, steps) })
	}
}

func propertyRun(t *testing.T, seed uint64, steps int) {
	each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, p := testCtx(t), prefix(t)
		c := open(t, tg, func(cfg *raw.Config) { cfg.ScanBatchSize = 4; cfg.MaxBatchKeys = 5; cfg.MaxScan = 1000 })
		if tg.Mem == nil {
			steps /= 4 // a real PD takes its time to split
		}
		rng := rand.New(rand.NewPCG(seed, uint64(len(tg.Keyspace))))
		t.Logf("seed %d", seed)
		m := model{}
		k := func() string { return fmt.Sprintf("%s%03d", p, rng.IntN(120)) }
		val := func() []byte {
			if rng.IntN(8) == 0 {
				return []byte{}
			}
			return fmt.Appendf(nil, "v%d", rng.IntN(1e6))
		}
		bounds := func() (string, string) {
			lo, hi := k(), k()
			if lo > hi {
				lo, hi = hi, lo
			}
			if rng.IntN(5) == 0 {
				hi = string(kv.Key(p).PrefixNext())
			}
			return lo, hi
		}
		check := func(step int, what string, got []kv.KeyValue, want []string) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("step %d %s: %d pairs, want %d", step, what, len(got), len(want))
			}
			for i, w := range want {
				if string(got[i].Key) != w || !bytes.Equal(got[i].Value, m[w]) || got[i].Value == nil {
					t.Fatalf("step %d %s: pair %d = %q=%q, want %q=%q", step, what, i, got[i].Key, got[i].Value, w, m[w])
				}
			}
		}
		for step := range steps {
			switch op := rng.IntN(11); op {
			case 0, 1:
				key, v := k(), val()
				if err := c.Put(ctx, []byte(key), v); err != nil {
					t.Fatal(err)
				}
				m[key] = v
			case 2:
				n := 1 + rng.IntN(12)
				keys, vals := make([][]byte, n), make([][]byte, n)
				for i := range n {
					key, v := k(), val()
					keys[i], vals[i] = []byte(key), v
					m[key] = v
				}
				if err := c.BatchPut(ctx, keys, vals); err != nil {
					t.Fatal(err)
				}
			case 3:
				key := k()
				if err := c.Delete(ctx, []byte(key)); err != nil {
					t.Fatal(err)
				}
				delete(m, key)
			case 4:
				keys := [][]byte{[]byte(k()), []byte(k()), []byte(k())}
				if err := c.BatchDelete(ctx, keys); err != nil {
					t.Fatal(err)
				}
				for _, key := range keys {
					delete(m, string(key))
				}
			case 5:
				if rng.IntN(4) != 0 {
					continue // keep data around: delete ranges are wide
				}
				lo := k()
				hi := fmt.Sprintf("%s%03d", lo, rng.IntN(20)) // usually narrow
				if rng.IntN(3) == 0 {
					lo, hi = bounds()
				}
				if hi < lo {
					lo, hi = hi, lo
				}
				if err := c.DeleteRange(ctx, []byte(lo), []byte(hi)); err != nil {
					t.Fatal(err)
				}
				for _, key := range m.rangeKeys(lo, hi) {
					delete(m, key)
				}
			case 6:
				key := k()
				v, err := c.Get(ctx, []byte(key))
				want, ok := m[key]
				if ok != (err == nil) || !bytes.Equal(v, want) {
					t.Fatalf("step %d: Get %q = %q, %v; model %q, %v", step, key, v, err, want, ok)
				}
			case 7:
				keys := [][]byte{[]byte(k()), []byte(k()), []byte(k()), []byte(k())}
				vs, err := c.BatchGet(ctx, keys)
				if err != nil {
					t.Fatal(err)
				}
				for i, key := range keys {
					want, ok := m[string(key)]
					if ok != (vs[i] != nil) || !bytes.Equal(vs[i], want) {
						t.Fatalf("step %d: BatchGet %q = %q; model %q, %v", step, key, vs[i], want, ok)
					}
				}
			case 8:
				lo, hi := bounds()
				limit := rng.IntN(15)
				got, err := c.Scan(ctx, []byte(lo), []byte(hi), limit)
				if err != nil {
					t.Fatal(err)
				}
				want := m.rangeKeys(lo, hi)
				if limit > 0 && len(want) > limit {
					want = want[:limit]
				}
				check(step, "Scan", got, want)
			case 9:
				lo, hi := bounds()
				limit := rng.IntN(15)
				var got []kv.KeyValue
				var err error
				if limit%2 == 0 { // the iterator must agree too
					got = collectIter(t, c.Iter(ctx, []byte(lo), []byte(hi), raw.WithReverse()))
					limit = 0
				} else if got, err = c.ReverseScan(ctx, []byte(lo), []byte(hi), limit); err != nil {
					t.Fatal(err)
				}
				want := m.rangeKeys(lo, hi)
				slices.Reverse(want)
				if limit > 0 && len(want) > limit {
					want = want[:limit]
				}
				check(step, "ReverseScan", got, want)
			case 10:
				split(t, c, tg, k()) // through PD, so the local cluster splits too
			}
		}
		lo := string(kv.Key(p))
		got, err := c.Scan(ctx, []byte(lo), kv.Key(p).PrefixNext(), 0)
		if err != nil {
			t.Fatal(err)
		}
		check(steps, "final Scan", got, m.rangeKeys(lo, ""))
		if tg.Mem != nil {
			t.Logf("%d keys in %d regions at the end", len(m), len(tg.Mem.Regions()))
		}
	})
}
