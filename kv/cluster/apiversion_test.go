package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// Every request of an API v2 cluster carries API version 2 and its keyspace ID, in both
// modes: TiKV refuses API v1 transactional requests for keys outside TiDB's ranges
// (check_api_version), so a transaction in a keyspace would fail on a real TiKV.
// client-go: internal/apicodec/codec.go setAPICtx (every request of a codec).
func TestAPIv2RequestsCarryVersionAndKeyspace(t *testing.T) {
	for _, mode := range []cluster.Mode{cluster.Txn, cluster.Raw} {
		t.Run(mode.String(), func(t *testing.T) {
			tg := testcluster.Memory(t, memcluster.Options{})
			ks, err := tg.Mem.CreateKeyspace("ks-api")
			if err != nil {
				t.Fatal(err)
			}
			tg.Keyspace = "ks-api"
			var mu sync.Mutex
			var seen []*kvrpcpb.Context
			defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
				mu.Lock()
				seen = append(seen, r.Context)
				mu.Unlock()
				return nil
			})()
			c := tg.Open(t, mode)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			key := []byte("api-key")
			var err2 error
			if mode == cluster.Txn {
				_, err2 = region.Send[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, c.Sender(), key,
					&kvrpcpb.GetRequest{Key: c.Codec().EncodeKey(key), Version: 1}, nil)
			} else {
				_, err2 = region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, c.Sender(), key,
					&kvrpcpb.RawGetRequest{Key: c.Codec().EncodeKey(key)}, nil)
			}
			if err2 != nil {
				t.Fatal(err2)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 {
				t.Fatal("no request seen")
			}
			for _, rc := range seen {
				if rc.GetApiVersion() != kvrpcpb.APIVersion_V2 || rc.GetKeyspaceId() != ks {
					t.Fatalf("request context: api %v keyspace %d, want V2 and %d", rc.GetApiVersion(), rc.GetKeyspaceId(), ks)
				}
			}
		})
	}
}
