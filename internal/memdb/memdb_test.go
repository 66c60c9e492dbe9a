package memdb

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/tikvsql/tikvsql/kv"
)

func collect(t *testing.T, db *DB, r kv.KeyRange, opts IterOptions) []string {
	t.Helper()
	var out []string
	for it := db.Iter(r, opts); it.Valid(); it.Next() {
		s := string(it.Key()) + "="
		switch {
		case !it.HasValue():
			s += "<flags>"
		case it.IsDelete():
			s += "<del>"
		default:
			s += string(it.Value())
		}
		out = append(out, s)
	}
	return out
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// client-go: internal/unionstore/memdb_test.go TestGetSet, TestIterator, TestOverwrite
func TestGetSetDelete(t *testing.T) {
	db := New(Limits{})
	if db.Dirty() || db.Len() != 0 {
		t.Fatal("new DB must be clean")
	}
	if err := db.Set([]byte("b"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	_ = db.Set([]byte("a"), []byte("2"))
	_ = db.Set([]byte("b"), []byte("3")) // overwrite
	_ = db.Delete([]byte("c"))
	if v, ok := db.Get([]byte("b")); !ok || string(v) != "3" {
		t.Fatalf("Get(b) = %q %v", v, ok)
	}
	if v, ok := db.Get([]byte("c")); !ok || v == nil || len(v) != 0 {
		t.Fatalf("tombstone Get(c) = %q %v", v, ok)
	}
	if _, ok := db.Get([]byte("zz")); ok {
		t.Fatal("absent key found")
	}
	if err := db.Set([]byte("x"), nil); !errors.Is(err, kv.ErrEmptyValue) {
		t.Fatalf("empty value: %v", err)
	}
	if err := db.SetWithFlags([]byte("x"), []byte{}, FlagPresumeKNE); !errors.Is(err, kv.ErrEmptyValue) {
		t.Fatalf("empty value with flags: %v", err)
	}
	if db.Len() != 3 || db.Size() != 1+1+1+1+1 || !db.Dirty() || db.Mem() <= 0 {
		t.Fatalf("Len %d Size %d", db.Len(), db.Size())
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "a=2", "b=3", "c=<del>")
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{Reverse: true}), "c=<del>", "b=3", "a=2")
}

// client-go: internal/unionstore/memdb_test.go TestFlags
func TestFlags(t *testing.T) {
	db := New(Limits{})
	_ = db.UpdateFlags([]byte("lock"), FlagKeyLocked|FlagKeyLockedValExist, 0)
	_ = db.SetWithFlags([]byte("ins"), []byte("v"), FlagPresumeKNE|FlagNewlyInserted)
	_ = db.UpdateFlags([]byte("ins"), 0, FlagNewlyInserted)
	if f := db.Flags([]byte("lock")); !f.Has(FlagKeyLocked|FlagKeyLockedValExist) || f.Has(FlagPresumeKNE) {
		t.Fatalf("flags = %b", f)
	}
	if f := db.Flags([]byte("ins")); f != FlagPresumeKNE {
		t.Fatalf("flags = %b", f)
	}
	if db.Flags([]byte("none")) != 0 {
		t.Fatal("absent key has flags")
	}
	if _, ok := db.Get([]byte("lock")); ok {
		t.Fatal("flag-only entry has no value")
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "ins=v")
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{WithFlagsOnly: true}), "ins=v", "lock=<flags>")
	// Clearing every flag of a flag-only entry makes it invisible.
	_ = db.UpdateFlags([]byte("lock"), 0, FlagKeyLocked|FlagKeyLockedValExist)
	if db.Len() != 1 || db.Size() != 4 {
		t.Fatalf("Len %d Size %d", db.Len(), db.Size())
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{WithFlagsOnly: true}), "ins=v")
}

func TestAssertionFlags(t *testing.T) {
	var f KeyFlags
	if _, ok := f.Assertion(); ok || f.HasAssertionFlags() {
		t.Fatal("no assertion")
	}
	f = f.WithAssertion(kv.AssertExist)
	if a, ok := f.Assertion(); !ok || a != kv.AssertExist {
		t.Fatal("exist")
	}
	f = f.WithAssertion(kv.AssertNotExist)
	if a, ok := f.Assertion(); !ok || a != kv.AssertNotExist {
		t.Fatal("not exist replaces exist")
	}
	unknown := f | FlagAssertExist
	if _, ok := unknown.Assertion(); ok || !unknown.HasAssertionFlags() {
		t.Fatal("both bits mean unknown")
	}
	if f.WithAssertion(kv.AssertNone).HasAssertionFlags() {
		t.Fatal("AssertNone clears")
	}
}

func TestIterRanges(t *testing.T) {
	db := New(Limits{})
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_ = db.Set([]byte(k), []byte(k))
	}
	r := func(s, e string) kv.KeyRange { return kv.KeyRange{Start: kv.Key(s), End: kv.Key(e)} }
	eq(t, collect(t, db, r("b", "d"), IterOptions{}), "b=b", "c=c")
	eq(t, collect(t, db, r("b", "d"), IterOptions{Reverse: true}), "c=c", "b=b")
	eq(t, collect(t, db, r("bb", ""), IterOptions{}), "c=c", "d=d", "e=e")
	eq(t, collect(t, db, r("", "bb"), IterOptions{Reverse: true}), "b=b", "a=a")
	eq(t, collect(t, db, r("x", ""), IterOptions{}))
	eq(t, collect(t, db, r("", "a"), IterOptions{Reverse: true}))
	eq(t, collect(t, New(Limits{}), kv.KeyRange{}, IterOptions{Reverse: true}))
	it := db.Iter(r("e", ""), IterOptions{})
	it.Next()
	it.Next() // Next on an exhausted iterator is a no-op
	if it.Valid() {
		t.Fatal("exhausted")
	}
}

// The iterator survives writes, including inserts that split leaves under it.
func TestIterAcrossWrites(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		db := New(Limits{})
		for i := 0; i < 1000; i += 2 {
			_ = db.Set([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		}
		it := db.Iter(kv.KeyRange{}, IterOptions{Reverse: reverse})
		seen := 0
		var last []byte
		for ; it.Valid(); it.Next() {
			k := append([]byte(nil), it.Key()...)
			if last != nil && (bytes.Compare(k, last) <= 0) != reverse {
				t.Fatalf("order broken at %s after %s", k, last)
			}
			last = k
			seen++
			// Insert odd keys all over the tree while iterating.
			_ = db.Set([]byte(fmt.Sprintf("k%04d", (seen*7)%1000|1)), []byte("w"))
		}
		if seen < 500 {
			t.Fatalf("reverse=%v: saw %d keys", reverse, seen)
		}
	}
}

// client-go: internal/unionstore/memdb_test.go TestBufferLimit, TestEntryLimit, oversize keys
func TestLimits(t *testing.T) {
	db := New(Limits{KeySize: 4, EntrySize: 10, TotalSize: 20})
	var sl *kv.SizeLimitError
	if err := db.Set([]byte("12345"), []byte("v")); !errors.Is(err, kv.ErrKeyTooLarge) || !errors.As(err, &sl) || sl.Limit != 4 || sl.Size != 5 {
		t.Fatalf("key limit: %v", err)
	}
	if err := db.UpdateFlags([]byte("12345"), FlagKeyLocked, 0); !errors.Is(err, kv.ErrKeyTooLarge) {
		t.Fatalf("key limit on flags: %v", err)
	}
	if err := db.Set([]byte("k"), make([]byte, 10)); !errors.Is(err, kv.ErrEntryTooLarge) {
		t.Fatalf("entry limit: %v", err)
	}
	if err := db.Set([]byte("k1"), make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("k2"), make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	err := db.Set([]byte("k3"), []byte("v"))
	if !errors.Is(err, kv.ErrTxnTooLarge) || !errors.As(err, &sl) || sl.Size != 23 || sl.Limit != 20 {
		t.Fatalf("total limit: %v", err)
	}
	// A failed write changes nothing; shrinking writes are always allowed.
	if _, ok := db.Get([]byte("k3")); ok || db.Size() != 20 {
		t.Fatal("failed write changed the buffer")
	}
	if err := db.Delete([]byte("k1")); err != nil || db.Size() != 12 {
		t.Fatalf("delete shrinks: %v size %d", err, db.Size())
	}
	if err := db.UpdateFlags([]byte("k2"), FlagKeyLocked, 0); err != nil {
		t.Fatal(err)
	}
	unlimited := New(Limits{KeySize: -1, EntrySize: -1, TotalSize: -1})
	if err := unlimited.Set(make([]byte, 100<<10), make([]byte, 7<<20)); err != nil {
		t.Fatal(err)
	}
	if v, ok := unlimited.Get(make([]byte, 100<<10)); !ok || len(v) != 7<<20 {
		t.Fatal("large entry round trip")
	}
}

func TestLargeValuesUseOwnChunks(t *testing.T) {
	db := New(Limits{})
	big := bytes.Repeat([]byte{7}, chunkSize)
	_ = db.Set([]byte("small"), []byte("s"))
	_ = db.Set([]byte("big"), big)
	_ = db.Set([]byte("small2"), []byte("t"))
	if v, _ := db.Get([]byte("big")); !bytes.Equal(v, big) {
		t.Fatal("big value")
	}
	if v, _ := db.Get([]byte("small2")); string(v) != "t" {
		t.Fatal("small value after big")
	}
}

// The grow hook runs when a write allocates (not on every write), reports Mem, and
// stops when removed.
func TestGrowHook(t *testing.T) {
	db := New(Limits{})
	var reports []int
	db.SetGrowHook(func(mem int) { reports = append(reports, mem) })
	const writes = 20000
	for i := range writes {
		if err := db.Set(fmt.Appendf(nil, "key-%06d", i), []byte("a value of some length")); err != nil {
			t.Fatal(err)
		}
	}
	if len(reports) == 0 || len(reports) > writes/10 {
		t.Fatalf("%d reports for %d writes", len(reports), writes)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i] <= reports[i-1] {
			t.Fatalf("report %d: %d after %d", i, reports[i], reports[i-1])
		}
	}
	if last := reports[len(reports)-1]; last > db.Mem() || last < db.arena.bytes {
		t.Fatalf("last report %d, Mem %d", last, db.Mem())
	}
	// Overwriting with a short value in the current chunk allocates nothing.
	n := len(reports)
	if err := db.Set([]byte("key-000001"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(reports) != n {
		t.Fatalf("a write without allocation reported %d", reports[len(reports)-1])
	}
	db.SetGrowHook(nil)
	for i := range 5000 {
		_ = db.Set(fmt.Appendf(nil, "more-%06d", i), []byte("v"))
	}
	if len(reports) != n {
		t.Fatal("removed hook still called")
	}
}
