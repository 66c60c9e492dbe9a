package cluster_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/memcluster"
)

// served records, per request the leader's store served, which store relayed it.
type served struct {
	mu    sync.Mutex
	store uint64
	via   []uint64
}

func (s *served) hook(_ context.Context, r *memcluster.Request) *memcluster.Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.StoreID == s.store && r.Method != "GetHealthFeedback" {
		s.via = append(s.via, r.ProxyStoreID)
	}
	return nil
}

func (s *served) take() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.via
	s.via = nil
	return v
}

func rawPut(ctx context.Context, c *cluster.Cluster, k, v string) error {
	_, err := region.Send[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](ctx, c.Sender(), []byte(k),
		&kvrpcpb.RawPutRequest{Key: c.Codec().EncodeKey([]byte(k)), Value: []byte(v)}, nil)
	return err
}

func rawGet(ctx context.Context, c *cluster.Cluster, k string) ([]byte, error) {
	resp, err := region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, c.Sender(), []byte(k),
		&kvrpcpb.RawGetRequest{Key: c.Codec().EncodeKey([]byte(k))}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Value, nil
}

// The leader's store refuses the client's direct requests (and health checks) but
// serves what other stores relay: with EnableForwarding, reads and writes go through a
// follower's store, on batch streams and on unary calls; once the store is reachable
// again they go direct.
// client-go: internal/locate/region_request3_test.go TestForwarding (end to end, with
// a real relaying store instead of a simulated one); internal/client/client_test.go
// TestForwardMetadataByUnaryCall, TestForwardMetadataByBatchCommands.
func TestForwardingEndToEnd(t *testing.T) {
	for name, rcfg := range map[string]rpc.Config{"batch": {}, "unary": {MaxBatchSize: -1}} {
		t.Run(name, func(t *testing.T) {
			tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := tg.Config(cluster.Raw)
			cfg.EnableForwarding = true
			cfg.RPC = rcfg
			cfg.Region.UnreachableRetry = 20 * time.Millisecond // quick recovery probes
			c, err := cluster.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if err := rawPut(ctx, c, "before", "1"); err != nil {
				t.Fatal(err)
			}
			leader := tg.Mem.Regions()[0].LeaderStore
			rec := &served{store: leader}
			defer tg.Mem.AddHook(rec.hook)()

			if err := tg.Mem.IsolateStore(leader, true); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if err := rawPut(ctx, c, "after", "2"); err != nil {
					t.Fatalf("put through a proxy: %v", err)
				}
				for k, want := range map[string]string{"before": "1", "after": "2"} {
					v, err := rawGet(ctx, c, k)
					if err != nil || !bytes.Equal(v, []byte(want)) {
						t.Fatalf("get %s through a proxy = %q, %v", k, v, err)
					}
				}
			}
			via := rec.take()
			if len(via) == 0 {
				t.Fatal("the leader served nothing")
			}
			for _, p := range via {
				if p == 0 || p == leader {
					t.Fatalf("leader served requests relayed by %v, want only by followers", via)
				}
			}

			// Reconnected: the background probe finds the store again and requests go
			// direct (the cache probes every UnreachableRetry; poll, do not time).
			if err := tg.Mem.IsolateStore(leader, false); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := rawGet(ctx, c, "after"); err != nil {
					t.Fatal(err)
				}
				if v := rec.take(); len(v) > 0 && v[len(v)-1] == 0 {
					break
				}
				if ctx.Err() != nil {
					t.Fatal("requests never went direct again")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// Forwarding is off by default: a leader store cut off from the client makes its
// regions unavailable, and nothing is relayed.
func TestForwardingOffByDefault(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := tg.Open(t, cluster.Raw)
	if err := rawPut(ctx, c, "k", "1"); err != nil {
		t.Fatal(err)
	}
	leader := tg.Mem.Regions()[0].LeaderStore
	rec := &served{store: leader}
	defer tg.Mem.AddHook(rec.hook)()
	if err := tg.Mem.IsolateStore(leader, true); err != nil {
		t.Fatal(err)
	}
	_, err := region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, c.Sender(), []byte("k"),
		&kvrpcpb.RawGetRequest{Key: c.Codec().EncodeKey([]byte("k"))}, &region.Options{Budget: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("read from a cut-off leader succeeded without forwarding")
	}
	if via := rec.take(); len(via) > 0 {
		t.Fatalf("leader served %v without forwarding", via)
	}
}

// A transactional write (prewrite, commit) and read go through a proxy as well; the
// prewrite's Context names the leader peer although a follower's store received it.
func TestForwardingTxnEndToEnd(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{Stores: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := tg.Config(cluster.Txn)
	cfg.Sender.EnableForwarding = true // alone, it turns on kv/rpc's forwarding too
	c, err := cluster.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	leader := tg.Mem.Regions()[0].LeaderStore
	var mu sync.Mutex
	var prewrites []memcluster.Request
	defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == "KvPrewrite" {
			mu.Lock()
			prewrites = append(prewrites, memcluster.Request{StoreID: r.StoreID, ProxyStoreID: r.ProxyStoreID, Context: r.Context})
			mu.Unlock()
		}
		return nil
	})()
	if err := tg.Mem.IsolateStore(leader, true); err != nil {
		t.Fatal(err)
	}
	key := c.Codec().EncodeKey([]byte("txn-k"))
	start := tg.Mem.Now()
	pw, err := region.Send[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse](ctx, c.Sender(), []byte("txn-k"),
		&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: key, Value: []byte("v")}},
			PrimaryLock: key, StartVersion: start, LockTtl: 3000}, nil)
	if err != nil || len(pw.Errors) > 0 {
		t.Fatalf("prewrite through a proxy: %v %v", pw, err)
	}
	commit := tg.Mem.Now()
	cr, err := region.Send[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse](ctx, c.Sender(), []byte("txn-k"),
		&kvrpcpb.CommitRequest{Keys: [][]byte{key}, StartVersion: start, CommitVersion: commit}, nil)
	if err != nil || cr.Error != nil {
		t.Fatalf("commit through a proxy: %v %v", cr, err)
	}
	get, err := region.Send[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, c.Sender(), []byte("txn-k"),
		&kvrpcpb.GetRequest{Key: key, Version: tg.Mem.Now()}, nil)
	if err != nil || string(get.Value) != "v" {
		t.Fatalf("get through a proxy: %v %v", get, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(prewrites) != 1 {
		t.Fatalf("prewrites served: %+v", prewrites)
	}
	p := prewrites[0]
	if p.StoreID != leader || p.ProxyStoreID == 0 || p.ProxyStoreID == leader || p.Context.GetPeer().GetStoreId() != leader {
		t.Fatalf("prewrite served %+v, want the leader %d through a follower", p, leader)
	}
}
