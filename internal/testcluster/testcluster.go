// Package testcluster gives tests of the client layers the clusters to run against:
// always a fresh in-process memcluster, and also the local cluster named by the
// TIKV_PD_ADDRS environment variable (comma-separated PD addresses, with the API v2
// keyspace in TIKV_KEYSPACE) when it is set, as `make integration` does. It is imported
// only by tests.
package testcluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/memcluster"
)

// Target is one cluster a test runs against.
type Target struct {
	// Name is "memory" or "local".
	Name string
	// Endpoints are PD addresses.
	Endpoints []string
	// Keyspace is the API v2 keyspace to use, or "" for API v1.
	Keyspace string
	// Mem is the in-process cluster, nil for the local cluster. Tests that need
	// topology changes or fault injection skip when it is nil.
	Mem *memcluster.Cluster
}

// Config returns a cluster.Config for t in the given mode.
func (tg Target) Config(mode cluster.Mode) cluster.Config {
	return cluster.Config{Endpoints: tg.Endpoints, Keyspace: tg.Keyspace, Mode: mode}
}

// Open opens a cluster.Config of tg in mode, closed when the test ends.
func (tg Target) Open(t testing.TB, mode cluster.Mode) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.Open(ctx, tg.Config(mode))
	if err != nil {
		t.Fatalf("open %s cluster: %v", tg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// Memory starts an in-process cluster with opts, stopped when the test ends.
func Memory(t testing.TB, opts memcluster.Options) Target {
	t.Helper()
	mc, err := memcluster.New(opts)
	if err != nil {
		t.Fatalf("memcluster: %v", err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	return Target{Name: "memory", Endpoints: []string{mc.PDAddr()}, Mem: mc}
}

// Local returns the local cluster named by TIKV_PD_ADDRS and true, or false when the
// variable is not set.
func Local() (Target, bool) {
	addrs := os.Getenv("TIKV_PD_ADDRS")
	if addrs == "" {
		return Target{}, false
	}
	return Target{Name: "local", Endpoints: strings.Split(addrs, ","), Keyspace: os.Getenv("TIKV_KEYSPACE")}, true
}

// Each runs fn as a subtest against a fresh memcluster (with opts) and, when
// TIKV_PD_ADDRS is set, against the local cluster.
func Each(t *testing.T, opts memcluster.Options, fn func(t *testing.T, tg Target)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { fn(t, Memory(t, opts)) })
	if tg, ok := Local(); ok {
		t.Run("local", func(t *testing.T) { fn(t, tg) })
	}
}
