package txn

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// client-go: integration_tests/scan_test.go TestScan (the RC-read part) and
// snapshot_test.go TestRCRead (skipped upstream): a read-committed read (a pessimistic
// transaction here, as RC needs one) does not meet the locks of a live writer: Get,
// BatchGet and a scan return the committed values without asking about the writer
// (no CheckTxnStatus: client-go checks that no lock was met), and the lock stays.
func TestPortReadCommittedSkipsLocks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		var checks atomic.Int32
		c := open(t, tg, func(cfg *Config) {
			cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, rpc.Interceptor{Name: "checks",
				Wrap: func(next rpc.Invoker) rpc.Invoker {
					return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
						if _, ok := inv.Request.(*kvrpcpb.CheckTxnStatusRequest); ok {
							checks.Add(1)
						}
						return next(ctx, inv)
					}
				}})
		})
		p := prefix(t)
		put(t, c, p+"k0", "0", p+"k1", "1", p+"k2", "2")
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "k0", ttl: 20000}, p+"k0", "new")
		ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
		defer cancel()
		tx := beginPessimistic(t, c, WithIsolation(ReadCommitted))
		if v, err := tx.Get(ctx, []byte(p+"k0")); err != nil || string(v) != "0" {
			t.Fatalf("RC get over a live lock: %q %v", v, err)
		}
		m, err := tx.BatchGet(ctx, [][]byte{[]byte(p + "k0"), []byte(p + "k1")})
		if err != nil || string(m[p+"k0"]) != "0" || string(m[p+"k1"]) != "1" {
			t.Fatalf("RC batch get over a live lock: %v %v", m, err)
		}
		kvs, err := tx.Scan(ctx, []byte(p), []byte(p+"z"), 10)
		if err != nil || len(kvs) != 3 || string(kvs[0].Value) != "0" {
			t.Fatalf("RC scan over a live lock: %v %v", kvs, err)
		}
		if n := checks.Load(); n != 0 {
			t.Fatalf("RC reads met the lock: %d CheckTxnStatus", n)
		}
		if !rawLocked(t, c, p+"k0") {
			t.Fatal("the RC read resolved the live lock")
		}
		rawRollback(t, c, start, p+"k0")
	})
}
