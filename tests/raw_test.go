package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// Raw workers each own a key range and keep a model of it; every read must agree with
// the model while the topology changes underneath (in process) and at the end.
func TestRawWorkloadAgreesWithModel(t *testing.T) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := raw.New(ctx, raw.Config{Config: tg.Config(cluster.Raw)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		prefix := fmt.Sprintf("rawload/%d/", time.Now().UnixNano())
		const workers, keysPer = 6, 40
		key := func(w, i int) []byte { return fmt.Appendf(nil, "%sw%d/%03d", prefix, w, i) }

		duration := 3 * time.Second
		if testing.Short() {
			duration = time.Second
		}
		wctx, wcancel := context.WithTimeout(ctx, duration)
		defer wcancel()
		var wg sync.WaitGroup
		if tg.Mem != nil {
			ch := &chaos{mc: tg.Mem, cl: c.Cluster(), nkeys: workers * keysPer, rnd: rand.New(rand.NewPCG(3, 4)),
				keyAt: func(i int) []byte { return key(i/keysPer, i%keysPer) }}
			wg.Add(1)
			go ch.run(wctx, t, 20*time.Millisecond, &wg)
			defer func() { t.Logf("chaos: %v", ch.actions) }()
		}
		models := make([]map[string][]byte, workers)
		for w := range workers {
			models[w] = map[string][]byte{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				model := models[w]
				rnd := rand.New(rand.NewPCG(uint64(w), 11))
				// wctx only says when to stop: operations run under ctx, so the end of the
				// run never cuts one short and leaves its outcome unknown to the model.
				for n := 0; wctx.Err() == nil; n++ {
					if err := rawStep(ctx, c, rnd, model, func(i int) []byte { return key(w, i) }, keysPer, n); err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		// Final check of every worker's range against its model.
		for w := range workers {
			pairs, err := c.Scan(ctx, key(w, 0), key(w, keysPer), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pairs) != len(models[w]) {
				t.Errorf("worker %d: %d keys stored, model has %d", w, len(pairs), len(models[w]))
			}
			for _, p := range pairs {
				if want, ok := models[w][string(p.Key)]; !ok || !bytes.Equal(want, p.Value) {
					t.Errorf("worker %d: %s = %q, model %q (present %v)", w, p.Key, p.Value, want, ok)
				}
			}
		}
	})
}

// rawStep runs one random operation on the worker's keys and checks reads against the
// model. A write that fails is not applied to the model; since the outcome of a
// failed raw write is unknown, the key is then re-read to learn it.
func rawStep(ctx context.Context, c *raw.Client, rnd *rand.Rand, model map[string][]byte, key func(int) []byte, n, step int) error {
	i := rnd.IntN(n)
	k := key(i)
	switch rnd.IntN(6) {
	case 0, 1:
		v := fmt.Appendf(nil, "v%d", step)
		if err := c.Put(ctx, k, v); err != nil {
			return resync(ctx, c, model, k, err)
		}
		model[string(k)] = v
	case 2:
		if err := c.Delete(ctx, k); err != nil {
			return resync(ctx, c, model, k, err)
		}
		delete(model, string(k))
	case 3:
		v, err := c.Get(ctx, k)
		want, ok := model[string(k)]
		switch {
		case errors.Is(err, kv.ErrNotFound):
			if ok {
				return fmt.Errorf("get %s: not found, model has %q", k, want)
			}
		case err != nil:
			return err
		case !ok || !bytes.Equal(v, want):
			return fmt.Errorf("get %s = %q, model %q (present %v)", k, v, want, ok)
		}
	case 4:
		j := min(i+5, n)
		keys, vals := [][]byte{}, [][]byte{}
		for x := i; x < j; x++ {
			keys = append(keys, key(x))
			vals = append(vals, fmt.Appendf(nil, "b%d-%d", step, x))
		}
		if err := c.BatchPut(ctx, keys, vals); err != nil {
			for _, k := range keys {
				if rerr := resync(ctx, c, model, k, err); rerr != nil && rerr != err {
					return rerr
				}
			}
			return err
		}
		for x := range keys {
			model[string(keys[x])] = vals[x]
		}
	case 5:
		pairs, err := c.Scan(ctx, key(0), key(n), 0)
		if err != nil {
			return err
		}
		if len(pairs) != len(model) {
			return fmt.Errorf("scan: %d keys, model has %d", len(pairs), len(model))
		}
		for _, p := range pairs {
			if want := model[string(p.Key)]; !bytes.Equal(want, p.Value) {
				return fmt.Errorf("scan: %s = %q, model %q", p.Key, p.Value, want)
			}
		}
	}
	return nil
}

// resync re-reads k after a failed write, whose outcome may be unknown (it may have
// been applied, for example when the run's deadline cut it short), and updates the
// model. It reads with a context of its own, so a write cut short by the end of the run
// is still accounted for. A failure that is neither retryable, undetermined nor the
// end of ctx is returned.
func resync(ctx context.Context, c *raw.Client, model map[string][]byte, k []byte, err error) error {
	if ctx.Err() == nil && !kv.IsRetryable(err) && !kv.IsUndetermined(err) {
		return err
	}
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, gerr := c.Get(rctx, k)
	switch {
	case errors.Is(gerr, kv.ErrNotFound):
		delete(model, string(k))
	case gerr != nil:
		return gerr
	default:
		model[string(k)] = v
	}
	return err
}
