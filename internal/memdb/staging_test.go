package memdb

import (
	"errors"
	"testing"

	"github.com/tikvsql/tikvsql/kv"
)

// client-go: internal/unionstore/memdb_test.go TestStaging, TestMultiLevelStaging
func TestStagingReleaseAndCleanup(t *testing.T) {
	db := New(Limits{})
	_ = db.Set([]byte("a"), []byte("1"))
	h1 := db.Staging()
	_ = db.Set([]byte("a"), []byte("2"))
	_ = db.Set([]byte("b"), []byte("2"))
	h2 := db.Staging()
	_ = db.Set([]byte("a"), []byte("3"))
	_ = db.Delete([]byte("b"))
	_ = db.Set([]byte("c"), []byte("3"))
	if db.Levels() != 2 {
		t.Fatal("levels")
	}
	if err := db.Cleanup(h2); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=2", "b=2")
	h2 = db.Staging()
	_ = db.Set([]byte("d"), []byte("4"))
	if err := db.Release(h2); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=2", "b=2", "d=4")
	if err := db.Cleanup(h1); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=1")
	if db.Len() != 1 || db.Size() != 2 || db.Levels() != 0 || len(db.undo) != 0 {
		t.Fatalf("after cleanup: len %d size %d undo %d", db.Len(), db.Size(), len(db.undo))
	}
}

// client-go: internal/unionstore/memdb_test.go TestInvalidStagingHandle
func TestInvalidHandles(t *testing.T) {
	db := New(Limits{})
	if err := db.Release(1); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal("release without levels")
	}
	h1 := db.Staging()
	_ = db.Staging()
	if err := db.Cleanup(h1); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal("cleanup of an outer level")
	}
	if err := db.Release(0); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal("zero handle")
	}
	if err := db.RevertToCheckpoint(Checkpoint{}); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal("zero checkpoint")
	}
}

// client-go: internal/unionstore/memdb_test.go TestFlagsPersistentOnCleanup (persistent flags survive cleanup)
func TestPersistentFlagsSurviveCleanup(t *testing.T) {
	db := New(Limits{})
	_ = db.SetWithFlags([]byte("a"), []byte("1"), FlagPresumeKNE)
	h := db.Staging()
	_ = db.UpdateFlags([]byte("a"), FlagKeyLocked|FlagNeedLocked, FlagPresumeKNE)
	_ = db.UpdateFlags([]byte("new"), FlagKeyLocked|FlagKeyLockedValExist|FlagReadable, 0)
	_ = db.Set([]byte("new2"), []byte("v"))
	if err := db.Cleanup(h); err != nil {
		t.Fatal(err)
	}
	if f := db.Flags([]byte("a")); f != FlagPresumeKNE|FlagKeyLocked {
		t.Fatalf("a flags = %b", f)
	}
	if f := db.Flags([]byte("new")); f != FlagKeyLocked|FlagKeyLockedValExist {
		t.Fatalf("new flags = %b", f)
	}
	if db.Flags([]byte("new2")) != 0 || db.Len() != 2 {
		t.Fatalf("len %d", db.Len())
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{WithFlagsOnly: true}), "a=1", "new=<flags>")
}

// client-go: internal/unionstore/memdb_test.go TestCheckpoint
func TestCheckpoints(t *testing.T) {
	db := New(Limits{})
	_ = db.Set([]byte("a"), []byte("1"))
	cp1 := db.Checkpoint()
	_ = db.Set([]byte("a"), []byte("2"))
	_ = db.Set([]byte("b"), []byte("2"))
	cp2 := db.Checkpoint()
	_ = db.Set([]byte("b"), []byte("3"))
	_ = db.Set([]byte("c"), []byte("3"))
	if err := db.RevertToCheckpoint(cp2); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=2", "b=2")
	if err := db.RevertToCheckpoint(cp1); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=1")
	// cp2 describes a state that was reverted away, even once the log grows back.
	for i := 0; i < 10; i++ {
		_ = db.Set([]byte{byte('d' + i)}, []byte("x"))
	}
	if err := db.RevertToCheckpoint(cp2); !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("stale checkpoint: %v", err)
	}
	// cp1 is still valid, any number of times.
	if err := db.RevertToCheckpoint(cp1); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=1")
}

func TestCheckpointAndStaging(t *testing.T) {
	db := New(Limits{})
	_ = db.Set([]byte("a"), []byte("1"))
	cp := db.Checkpoint()
	h := db.Staging()
	_ = db.Set([]byte("a"), []byte("2"))
	inner := db.Checkpoint()
	if err := db.RevertToCheckpoint(cp); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal("a checkpoint outside the open level cannot be reverted to")
	}
	_ = db.Set([]byte("a"), []byte("3"))
	if err := db.RevertToCheckpoint(inner); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.Get([]byte("a")); string(v) != "2" {
		t.Fatalf("a = %s", v)
	}
	if err := db.Cleanup(h); err != nil {
		t.Fatal(err)
	}
	if err := db.RevertToCheckpoint(inner); !errors.Is(err, ErrInvalidHandle) {
		t.Fatal("checkpoint of a cleaned-up level")
	}
	_ = db.Set([]byte("a"), []byte("4"))
	if err := db.RevertToCheckpoint(cp); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.Get([]byte("a")); string(v) != "1" {
		t.Fatalf("a = %s", v)
	}
}

// Writes outside any level or checkpoint keep no undo log.
func TestNoUndoWithoutBarriers(t *testing.T) {
	db := New(Limits{})
	for i := 0; i < 100; i++ {
		_ = db.Set([]byte{byte(i)}, []byte("v"))
	}
	if len(db.undo) != 0 {
		t.Fatal("undo recorded without a barrier")
	}
	h := db.Staging()
	_ = db.Set([]byte{1}, []byte("w"))
	_ = db.Set([]byte{1}, []byte("x")) // the second write to the same key is not recorded
	if len(db.undo) != 1 {
		t.Fatalf("undo = %d records", len(db.undo))
	}
	_ = db.Release(h)
	if len(db.undo) != 0 || db.recording {
		t.Fatal("undo kept after the last level closed")
	}
}
