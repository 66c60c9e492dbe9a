package conformance

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
)

// pdAddrs returns the cluster's PD addresses or skips the test.
func pdAddrs(t *testing.T) []string {
	t.Helper()
	v := os.Getenv("TIKV_PD_ADDRS")
	if v == "" {
		t.Skip("TIKV_PD_ADDRS is not set; start a cluster with `make cluster`")
	}
	return strings.Split(v, ",")
}

// prefix returns a key prefix unique to this test run, so reruns against the
// same cluster do not see each other's data.
func prefix(t *testing.T) string {
	return fmt.Sprintf("conf/%s/%d/", t.Name(), time.Now().UnixNano())
}

func newRaw(t *testing.T) *rawkv.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rawkv.NewClientWithOpts(ctx, pdAddrs(t))
	if err != nil {
		t.Fatalf("raw client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newTxn(t *testing.T) *txnkv.Client {
	t.Helper()
	c, err := txnkv.NewClient(pdAddrs(t))
	if err != nil {
		t.Fatalf("txn client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
