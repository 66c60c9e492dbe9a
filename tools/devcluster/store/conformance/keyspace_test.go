package conformance

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
)

// TestAPIV2Keyspace runs raw and transactional clients in API v2 mode inside
// the keyspace named by TIKV_KEYSPACE (create it with
// `make cluster CLUSTER_ARGS='--keyspace NAME'`); it skips when unset.
func TestAPIV2Keyspace(t *testing.T) {
	ks := os.Getenv("TIKV_KEYSPACE")
	addrs := pdAddrs(t)
	if ks == "" {
		t.Skip("TIKV_KEYSPACE is not set")
	}
	ctx, p := ctxT(t), prefix(t)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	raw, err := rawkv.NewClientWithOpts(cctx, addrs, rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace(ks))
	must(t, err, "v2 raw client")
	defer raw.Close()
	keys, vals := rawKeys(t, 20, p)
	must(t, raw.BatchPut(ctx, keys, vals), "v2 batch put")
	ks2, _, err := raw.Scan(ctx, []byte(p), []byte(p+"~"), 100)
	must(t, err, "v2 scan")
	if len(ks2) != 20 || string(ks2[0]) != string(keys[0]) {
		t.Fatalf("v2 scan returned %d keys (first %q); keys must come back without the keyspace prefix", len(ks2), ks2[0])
	}
	sum, err := raw.Checksum(ctx, []byte(p), []byte(p+"~"))
	must(t, err, "v2 checksum")
	if sum.TotalKvs != 20 {
		t.Fatalf("v2 checksum counted %d kvs", sum.TotalKvs)
	}

	txn, err := txnkv.NewClient(addrs, txnkv.WithAPIVersion(kvrpcpb.APIVersion_V2), txnkv.WithKeyspace(ks))
	must(t, err, "v2 txn client")
	defer txn.Close()
	commitKeys(t, txn, nil, p+"a", "1", p+"b", "2")
	if v, ok := readKey(t, txn, p+"b"); !ok || v != "2" {
		t.Fatalf("v2 txn read = %q,%v", v, ok)
	}
	// Write conflicts must carry a decodable primary under API v2.
	t1, err := txn.Begin()
	must(t, err, "begin")
	t2, err := txn.Begin()
	must(t, err, "begin")
	must(t, t1.Set([]byte(p+"c"), []byte("1")), "set")
	must(t, t2.Set([]byte(p+"c"), []byte("2")), "set")
	must(t, t1.Commit(ctx), "t1 commit")
	if err := t2.Commit(ctx); !tikverr.IsErrWriteConflict(err) {
		t.Fatalf("v2 write conflict: got %v", err)
	}
}
