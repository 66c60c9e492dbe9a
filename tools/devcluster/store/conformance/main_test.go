package conformance

import (
	"context"
	"fmt"
	"os"

	"github.com/pingcap/log"
	"strings"
	"testing"
	"time"

	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
)

// TestMain silences client-go's logging (it logs expected errors on close) so output stays
// readable; CONFORMANCE_LOG=info restores it.
func TestMain(m *testing.M) {
	level := os.Getenv("CONFORMANCE_LOG")
	if level == "" {
		level = "fatal"
	}
	if lg, props, err := log.InitLogger(&log.Config{Level: level}); err == nil {
		log.ReplaceGlobals(lg, props)
	}
	os.Exit(m.Run())
}

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
