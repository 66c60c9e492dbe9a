package memcluster

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

func flushReq(startTS, gen uint64, muts ...*kvrpcpb.Mutation) *kvrpcpb.FlushRequest {
	return &kvrpcpb.FlushRequest{Mutations: muts, PrimaryKey: muts[0].Key, StartTs: startTS, Generation: gen, LockTtl: 3000, AssertionLevel: kvrpcpb.AssertionLevel_Strict}
}

// TiKV: src/storage/txn/commands/flush.rs tests (test_flush_overwrite, test_flush_out_of_order,
// test_flushed_existence_check, test_write_conflict, test_flush_overwrite_assertion)
func TestFlush(t *testing.T) {
	m := newMVCC()
	if errs := m.Flush(flushReq(1, 0, put("k", "v"))); len(errs) != 1 {
		t.Fatal("generation 0 must be rejected")
	}
	nf := put("k", "v1")
	nf.Assertion = kvrpcpb.Assertion_NotExist
	if errs := m.Flush(flushReq(1, 2, nf)); len(errs) > 0 {
		t.Fatal(errs)
	}
	if errs := m.Flush(flushReq(1, 1, put("k", "stale"))); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := m.BufferBatchGet(keys("k", "none"), 1); len(got) != 1 || string(got[0].Value) != "v1" {
		t.Fatalf("an older generation must not overwrite: %v", got)
	}
	ex := put("k", "v2")
	ex.Assertion = kvrpcpb.Assertion_Exist
	if errs := m.Flush(flushReq(1, 3, ex)); len(errs) > 0 {
		t.Fatal(errs)
	}
	if errs := m.Flush(flushReq(1, 4, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Insert, Key: []byte("k"), Value: []byte("x")})); errs[0].GetAlreadyExist() == nil {
		t.Fatalf("insert over an own flushed put: %v", errs)
	}
	if errs := m.Flush(flushReq(2, 1, put("k", "other"))); errs[0].GetLocked() == nil {
		t.Fatalf("another txn's flush meets the lock: %v", errs)
	}
	mustCommit(t, m, 1, 5, "k")
	mustGet(t, m, "k", 6, "v2")
	if errs := m.Flush(flushReq(3, 1, put("k", "late"))); errs[0].GetConflict() == nil {
		t.Fatalf("flush after a newer commit: %v", errs)
	}
	bad := put("n", "v")
	bad.Assertion = kvrpcpb.Assertion_Exist
	if errs := m.Flush(flushReq(7, 1, bad, put("o", "v"))); errs[0].GetAssertionFailed() == nil {
		t.Fatalf("assertion: %v", errs)
	}
	if errs := m.Flush(flushReq(8, 1, put("d0", "v"), &kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte("d1")})); len(errs) > 0 {
		t.Fatal(errs)
	}
	got := m.BufferBatchGet(keys("d0", "d1", "d2"), 8)
	if len(got) != 2 || string(got[0].Value) != "v" || string(got[1].Key) != "d1" || len(got[1].Value) != 0 {
		t.Fatalf("a flushed delete must come back with an empty value: %v", got)
	}
}
