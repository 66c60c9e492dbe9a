package memcluster

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// UnsafeDestroyRange drops every record and lock of the range, and Versions sees it.
func TestUnsafeDestroyRangeAndVersions(t *testing.T) {
	c, err := New(Options{Stores: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustPrewrite(t, c.mvcc, "a", 10, put("a", "1"), put("b", "1"), put("c", "1"))
	mustCommit(t, c.mvcc, 10, 11, "a", "b", "c")
	mustPrewrite(t, c.mvcc, "b", 20, put("b", "2"))
	if n, locked := c.Versions([]byte("b")); n != 1 || !locked {
		t.Fatalf("b: %d records, locked %v; want 1, true", n, locked)
	}
	srv := &tikvServer{store: c.stores[c.StoreIDs()[0]]}
	resp, err := srv.UnsafeDestroyRange(context.Background(), &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("b"), EndKey: []byte("c")})
	if err != nil || resp.GetError() != "" {
		t.Fatalf("destroy: %v %v", resp, err)
	}
	for k, want := range map[string]int{"a": 1, "b": 0, "c": 1, "zz": 0} {
		if n, locked := c.Versions([]byte(k)); n != want || locked {
			t.Errorf("%s: %d records, locked %v; want %d, false", k, n, locked, want)
		}
	}
}

// A scatter set running is reported by GetOperator for the given number of polls.
func TestSetScatterRunning(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op := func(id uint64) pdpb.OperatorStatus {
		resp, err := c.pd.GetOperator(context.Background(), &pdpb.GetOperatorRequest{RegionId: id})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status == pdpb.OperatorStatus_RUNNING && string(resp.Desc) != "scatter-region" {
			t.Fatalf("running operator %q", resp.Desc)
		}
		return resp.Status
	}
	c.SetScatterRunning(7, 2)
	c.SetScatterRunning(8, 1)
	c.SetScatterRunning(8, 0)
	got := []pdpb.OperatorStatus{op(7), op(7), op(7), op(8)}
	want := []pdpb.OperatorStatus{pdpb.OperatorStatus_RUNNING, pdpb.OperatorStatus_RUNNING, pdpb.OperatorStatus_SUCCESS, pdpb.OperatorStatus_SUCCESS}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
}

func TestSetKeyspaceConfig(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetKeyspaceConfig("nope", map[string]string{"a": "b"}); err == nil {
		t.Fatal("config of a missing keyspace")
	}
	if _, err := c.CreateKeyspace("ks"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetKeyspaceConfig("ks", map[string]string{"gc_management_type": "keyspace_level"}); err != nil {
		t.Fatal(err)
	}
	if got := c.pd.meta.keyspaces["ks"].GetConfig()["gc_management_type"]; got != "keyspace_level" {
		t.Fatalf("config %q", got)
	}
}
