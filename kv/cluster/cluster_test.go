package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

func TestInvalidConfig(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]cluster.Config{
		"no endpoints": {},
		"bad version":  {Endpoints: []string{"127.0.0.1:1"}, APIVersion: 3},
		"v1 keyspace":  {Endpoints: []string{"127.0.0.1:1"}, APIVersion: 1, Keyspace: "ks"},
		"bad mode":     {Endpoints: []string{"127.0.0.1:1"}, Mode: 7},
	} {
		if _, err := cluster.Open(ctx, cfg); !errors.Is(err, cluster.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestModeString(t *testing.T) {
	if cluster.Raw.String() != "raw" || cluster.Txn.String() != "txn" {
		t.Fatal(cluster.Raw.String(), cluster.Txn.String())
	}
}

// A raw put and get routed through the Sender across a region split, on every target.
func TestRoundTrip(t *testing.T) {
	testcluster.Each(t, memcluster.Options{Stores: 3}, func(t *testing.T, tg testcluster.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := tg.Open(t, cluster.Raw)
		if c.Mode() != cluster.Raw || c.PD() == nil || c.RPC() == nil || c.Cache() == nil {
			t.Fatal("accessors")
		}
		if tg.Mem != nil {
			if _, err := c.PD().SplitRegions(ctx, [][]byte{[]byte("m")}); err != nil {
				t.Fatal(err)
			}
		}
		cd := c.Codec()
		for _, k := range []string{"a-cluster-test", "z-cluster-test"} {
			key := []byte(k)
			if _, err := region.Send[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](ctx, c.Sender(), key,
				&kvrpcpb.RawPutRequest{Key: cd.EncodeKey(key), Value: []byte("v-" + k)}, nil); err != nil {
				t.Fatal(err)
			}
			resp, err := region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, c.Sender(), key,
				&kvrpcpb.RawGetRequest{Key: cd.EncodeKey(key)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resp.Value, []byte("v-"+k)) {
				t.Fatalf("get %s = %q", k, resp.Value)
			}
		}
		if tg.Mem != nil && len(tg.Mem.Regions()) < 2 {
			t.Fatalf("regions = %d, want a split", len(tg.Mem.Regions()))
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal("second close:", err)
		}
	})
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := cluster.Open(ctx, cluster.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err == nil {
		t.Fatal("open of an unreachable PD succeeded")
	}
}

// TLS, a dialer and a tracer given at the top reach the layers: a dialer that counts
// its calls sees the PD and store connections.
func TestOpenWithDialerAndTracer(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	var dials atomic.Int32
	cfg := tg.Config(cluster.Raw)
	cfg.Dialer = func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	cfg.Tracer = struct{ kv.Tracer }{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	key := []byte("dialer")
	if _, err := region.Send[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](ctx, c.Sender(), key,
		&kvrpcpb.RawPutRequest{Key: c.Codec().EncodeKey(key), Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if dials.Load() < 2 {
		t.Fatalf("dialer used %d times, want PD and store connections", dials.Load())
	}
}
