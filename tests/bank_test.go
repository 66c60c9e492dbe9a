package tests

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

const (
	bankAccounts = 32
	bankInitial  = 1000
)

func acctKey(prefix string, i int) []byte { return fmt.Appendf(nil, "%sacct/%03d", prefix, i) }

func encodeBalance(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func decodeBalance(t testing.TB, b []byte) int64 {
	if len(b) != 8 {
		t.Fatalf("balance of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b))
}

// total reads every account in one snapshot and returns the sum.
func total(ctx context.Context, t testing.TB, c *txn.Client, prefix string) (int64, error) {
	ts, err := c.CurrentTS(ctx)
	if err != nil {
		return 0, err
	}
	pairs, err := c.Snapshot(ts).Scan(ctx, acctKey(prefix, 0), acctKey(prefix, bankAccounts), 0)
	if err != nil {
		return 0, err
	}
	if len(pairs) != bankAccounts {
		t.Fatalf("snapshot at %d sees %d accounts, want %d", ts, len(pairs), bankAccounts)
	}
	var sum int64
	for _, p := range pairs {
		sum += decodeBalance(t, p.Value)
	}
	return sum, nil
}

// The bank invariant: concurrent transfers between accounts (Transact, optimistic 2PC)
// never create or destroy money, seen by snapshot readers during the run and at the
// end; in process the topology changes all the while (splits, leader moves, store
// outages).
func TestBankTransfers(t *testing.T) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := txn.New(ctx, txn.Config{Config: tg.Config(cluster.Txn)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		prefix := fmt.Sprintf("bank/%d/", time.Now().UnixNano())
		if err := c.Transact(ctx, func(ctx context.Context, tx *txn.Txn) error {
			for i := range bankAccounts {
				if err := tx.Set(acctKey(prefix, i), encodeBalance(bankInitial)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		duration := 3 * time.Second
		if testing.Short() {
			duration = time.Second
		}
		wctx, wcancel := context.WithTimeout(ctx, duration)
		defer wcancel()
		var wg sync.WaitGroup
		if tg.Mem != nil {
			ch := &chaos{mc: tg.Mem, cl: c.Cluster(), nkeys: bankAccounts, rnd: rand.New(rand.NewPCG(1, 2)),
				keyAt: func(i int) []byte { return acctKey(prefix, i) }}
			wg.Add(1)
			go ch.run(wctx, t, 20*time.Millisecond, &wg)
			defer func() { t.Logf("chaos: %v", ch.actions) }()
		}
		var transfers, conflicts atomic.Int64
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for wctx.Err() == nil {
					from, to := rnd.IntN(bankAccounts), rnd.IntN(bankAccounts)
					if from == to {
						continue
					}
					amount := int64(rnd.IntN(50) + 1)
					err := c.Transact(wctx, func(ctx context.Context, tx *txn.Txn) error {
						m, err := tx.BatchGet(ctx, [][]byte{acctKey(prefix, from), acctKey(prefix, to)})
						if err != nil {
							return err
						}
						fb := decodeBalance(t, m[string(acctKey(prefix, from))])
						tb := decodeBalance(t, m[string(acctKey(prefix, to))])
						if fb < amount {
							return nil
						}
						if err := tx.Set(acctKey(prefix, from), encodeBalance(fb-amount)); err != nil {
							return err
						}
						return tx.Set(acctKey(prefix, to), encodeBalance(tb+amount))
					})
					switch {
					case err == nil:
						transfers.Add(1)
					case wctx.Err() != nil:
						return
					case kv.IsRetryable(err):
						conflicts.Add(1)
					case errors.Is(err, kv.ErrUndetermined):
						// Allowed: the transfer happened or not; the invariant holds either way.
					default:
						t.Errorf("transfer: %v", err)
						return
					}
				}
			}()
		}
		// A reader checks the invariant while the writers run.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wctx.Err() == nil {
				sum, err := total(wctx, t, c, prefix)
				if err != nil {
					if wctx.Err() == nil && !kv.IsRetryable(err) {
						t.Errorf("reader: %v", err)
					}
					continue
				}
				if sum != bankAccounts*bankInitial {
					t.Errorf("total = %d during the run, want %d", sum, bankAccounts*bankInitial)
					return
				}
			}
		}()
		wg.Wait()
		sum, err := total(ctx, t, c, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if sum != bankAccounts*bankInitial {
			t.Fatalf("total = %d, want %d", sum, bankAccounts*bankInitial)
		}
		if transfers.Load() == 0 {
			t.Fatal("no transfer committed")
		}
		t.Logf("%d transfers, %d gave up after retries", transfers.Load(), conflicts.Load())
	})
}
