package raw_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

func TestNewValidates(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	if _, err := tg.Mem.CreateKeyspace("ks1"); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for name, cfg := range map[string]raw.Config{
		"unknown cf":     {Config: tg.Config(cluster.Raw), ColumnFamily: "nope"},
		"cf under v2":    {Config: cluster.Config{Endpoints: tg.Endpoints, Keyspace: "ks1"}, ColumnFamily: "write"},
		"no endpoints":   {},
		"bad apiversion": {Config: cluster.Config{Endpoints: tg.Endpoints, APIVersion: 9}},
	} {
		if _, err := raw.New(ctx, cfg); !errors.Is(err, cluster.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := raw.New(ctx, raw.Config{Config: cluster.Config{Endpoints: tg.Endpoints, Keyspace: "nope"}}); !errors.Is(err, kv.ErrKeyspaceNotFound) {
		t.Errorf("missing keyspace: %v", err)
	}
	// Mode is forced to Raw whatever the embedded config says.
	c := open(t, tg, func(cfg *raw.Config) { cfg.Mode = cluster.Txn })
	if c.Cluster().Mode() != cluster.Raw {
		t.Fatalf("mode = %v", c.Cluster().Mode())
	}
}

func TestNewWithClusterAndClose(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	ctx := testCtx(t)
	if _, err := raw.NewWithCluster(nil, raw.Config{}); !errors.Is(err, cluster.ErrInvalidConfig) {
		t.Fatalf("nil cluster: %v", err)
	}
	if _, err := raw.NewWithCluster(tg.Open(t, cluster.Txn), raw.Config{}); !errors.Is(err, cluster.ErrInvalidConfig) {
		t.Fatalf("txn cluster: %v", err)
	}
	shared := tg.Open(t, cluster.Raw)
	if _, err := raw.NewWithCluster(shared, raw.Config{ColumnFamily: "nope"}); !errors.Is(err, cluster.ErrInvalidConfig) {
		t.Fatalf("bad cf: %v", err)
	}
	a, err := raw.NewWithCluster(shared, raw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Cluster() != shared {
		t.Fatal("Cluster() is not the shared cluster")
	}
	if err := a.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
	closed := map[string]error{
		"Get":            func() error { _, err := a.Get(ctx, []byte("k")); return err }(),
		"Put":            a.Put(ctx, []byte("k"), nil),
		"Delete":         a.Delete(ctx, []byte("k")),
		"TTL":            func() error { _, err := a.TTL(ctx, []byte("k")); return err }(),
		"CompareAndSwap": func() error { _, err := a.CompareAndSwap(ctx, []byte("k"), nil, nil); return err }(),
		"BatchGet":       func() error { _, err := a.BatchGet(ctx, nil); return err }(),
		"BatchPut":       a.BatchPut(ctx, nil, nil),
		"BatchDelete":    a.BatchDelete(ctx, nil),
		"Scan":           func() error { _, err := a.Scan(ctx, nil, nil, 1); return err }(),
		"ReverseScan":    func() error { _, err := a.ReverseScan(ctx, nil, []byte("z"), 1); return err }(),
		"DeleteRange":    a.DeleteRange(ctx, nil, nil),
		"Checksum":       func() error { _, err := a.Checksum(ctx, nil, nil); return err }(),
		"Iter":           a.Iter(ctx, nil, nil).Err(),
	}
	for name, err := range closed {
		if !errors.Is(err, kv.ErrClosed) {
			t.Errorf("%s after Close: %v, want kv.ErrClosed", name, err)
		}
	}
	// The shared cluster is still open for another client.
	b, err := raw.NewWithCluster(shared, raw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("shared cluster after Close: %q, %v", v, err)
	}
	// A client from New owns its cluster and closes it.
	own := open(t, tg, nil)
	if err := own.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := own.Cluster().Cache().Locate(ctx, []byte("k")); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("owned cluster after Close: %v", err)
	}
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := raw.New(ctx, raw.Config{Config: cluster.Config{Endpoints: []string{"127.0.0.1:1"}}}); err == nil {
		t.Fatal("New with no PD succeeded")
	}
}

func TestServerError(t *testing.T) {
	for msg, want := range map[string]error{
		"ttl is not enabled, but get put request with ttl":         raw.ErrTTLNotEnabled,
		"Api version in request does not match with TiKV storage":  kv.ErrAPIVersionMismatch,
		"invalid cf name: foo":                                     raw.ErrInvalidArgument,
		"cf is deprecated in API V2, cf name: write":               raw.ErrInvalidArgument,
		"The length of ttls does not equal to the length of pairs": raw.ErrInvalidArgument,
		"Key is too large: 9000 > 8192":                            kv.ErrKeyTooLarge,
	} {
		err := error(&raw.ServerError{Op: "RawPut", Message: msg})
		if !errors.Is(err, want) {
			t.Errorf("%q does not map to %v", msg, want)
		}
		if err.Error() != "raw: TiKV refused RawPut: "+msg {
			t.Errorf("message %q", err.Error())
		}
	}
	if err := (&raw.ServerError{Message: "something else"}); err.Unwrap() != nil {
		t.Errorf("unknown message unwraps to %v", err.Unwrap())
	}
}

// APIVersion 2 without a keyspace name addresses the DEFAULT keyspace (ID 0): keys travel
// with the raw prefix "r\x00\x00\x00" and come back without it.
func TestDefaultKeyspace(t *testing.T) {
	tg := testcluster.Memory(t, memcluster.Options{})
	ctx, p := testCtx(t), prefix(t)
	var sawPrefix atomic.Bool
	defer tg.Mem.AddHook(func(_ context.Context, req *memcluster.Request) *memcluster.Fault {
		if put, ok := req.Body.(*kvrpcpb.RawPutRequest); ok {
			sawPrefix.Store(bytes.HasPrefix(put.Key, []byte("r\x00\x00\x00"+p)) &&
				req.Context.GetApiVersion() == kvrpcpb.APIVersion_V2 && req.Context.GetKeyspaceId() == 0)
		}
		return nil
	})()
	c := open(t, tg, func(cfg *raw.Config) { cfg.APIVersion = 2 })
	if err := c.Put(ctx, []byte(p+"k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if !sawPrefix.Load() {
		t.Fatal("the put did not carry the DEFAULT keyspace's raw prefix and API v2")
	}
	kvs, err := c.Scan(ctx, nil, nil, 0)
	if err != nil || len(kvs) != 1 || string(kvs[0].Key) != p+"k" {
		t.Fatalf("scan of the DEFAULT keyspace = %v, %v", kvs, err)
	}
}
