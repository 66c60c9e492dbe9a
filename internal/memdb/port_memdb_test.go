package memdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tikvsql/tikvsql/kv"
)

// Behaviours of client-go's unionstore memdb_test.go, art/*_test.go, rbt/rbt_test.go and
// arena/arena_test.go checked on our buffer (B+ tree + hash index over an arena).

// u32 is the 4-byte big-endian encoding client-go's memdb tests use for keys and values.
func u32(i int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	return b[:]
}

// fillLevel opens a staging level and sets keys [start, end) to value i+base.
func fillLevel(t *testing.T, db *DB, start, end, base int) StagingHandle {
	t.Helper()
	h := db.Staging()
	for i := start; i < end; i++ {
		if err := db.Set(u32(i), u32(i+base)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// expectKeys checks Get, forward and reverse iteration over keys [0, n): key i must hold
// value want(i).
func expectKeys(t *testing.T, db *DB, n int, want func(i int) int) {
	t.Helper()
	for i := 0; i < n; i++ {
		v, ok := db.Get(u32(i))
		if !ok || !bytes.Equal(v, u32(want(i))) {
			t.Fatalf("Get(%d) = %x %v, want %d", i, v, ok, want(i))
		}
	}
	i := 0
	for it := db.Iter(kv.KeyRange{}, IterOptions{}); it.Valid(); it.Next() {
		if !bytes.Equal(it.Key(), u32(i)) || !bytes.Equal(it.Value(), u32(want(i))) {
			t.Fatalf("forward %d: %x=%x", i, it.Key(), it.Value())
		}
		i++
	}
	if i != n {
		t.Fatalf("forward saw %d keys, want %d", i, n)
	}
	for it := db.Iter(kv.KeyRange{}, IterOptions{Reverse: true}); it.Valid(); it.Next() {
		i--
		if !bytes.Equal(it.Key(), u32(i)) || !bytes.Equal(it.Value(), u32(want(i))) {
			t.Fatalf("reverse %d: %x=%x", i, it.Key(), it.Value())
		}
	}
	if i != 0 {
		t.Fatalf("reverse stopped at %d", i)
	}
}

// client-go: internal/unionstore/memdb_test.go TestGetSet, TestIterator, TestKVGetSet
// (10000 keys: point reads, both directions, upper bound forward, lower bound reverse)
func TestPortBulkGetAndIterate(t *testing.T) {
	const cnt = 10000
	db := New(Limits{})
	if err := db.Release(fillLevel(t, db, 0, cnt, 0)); err != nil {
		t.Fatal(err)
	}
	expectKeys(t, db, cnt, func(i int) int { return i })
	const bound = 400
	n := 0
	for it := db.Iter(kv.KeyRange{End: u32(bound)}, IterOptions{}); it.Valid(); it.Next() {
		if !bytes.Equal(it.Key(), u32(n)) {
			t.Fatalf("bounded forward %d: %x", n, it.Key())
		}
		n++
	}
	if n != bound {
		t.Fatalf("bounded forward saw %d", n)
	}
	n = cnt
	for it := db.Iter(kv.KeyRange{Start: u32(bound)}, IterOptions{Reverse: true}); it.Valid(); it.Next() {
		n--
		if !bytes.Equal(it.Key(), u32(n)) {
			t.Fatalf("bounded reverse %d: %x", n, it.Key())
		}
	}
	if n != bound {
		t.Fatalf("bounded reverse stopped at %d", n)
	}
}

// client-go: internal/unionstore/memdb_test.go TestNewIterator, TestIterNextUntil,
// TestBasicNewIterator, TestNewIteratorMin, TestIterNoResult (seek semantics)
func TestPortIteratorSeeks(t *testing.T) {
	empty := New(Limits{})
	if empty.Iter(kv.KeyRange{}, IterOptions{}).Valid() || empty.Iter(kv.KeyRange{Start: []byte("2")}, IterOptions{}).Valid() {
		t.Fatal("iterator over an empty buffer is valid")
	}

	enc := func(n int) []byte { return fmt.Appendf(nil, "%010d", n) }
	db := New(Limits{})
	_ = db.Set(enc(0), enc(0))
	_ = db.Set(enc(2), enc(2))
	for _, n := range []int{0, 2} {
		it := db.Iter(kv.KeyRange{Start: enc(n)}, IterOptions{})
		if !it.Valid() || !bytes.Equal(it.Key(), enc(n)) || !bytes.Equal(it.Value(), enc(n)) {
			t.Fatalf("seek %d", n)
		}
	}
	it := db.Iter(kv.KeyRange{Start: enc(0)}, IterOptions{})
	it.Next()
	if !it.Valid() || !bytes.Equal(it.Key(), enc(2)) {
		t.Fatal("Next after seek")
	}
	it.Next()
	if it.Valid() {
		t.Fatal("iterated past the last key")
	}
	if db.Iter(kv.KeyRange{Start: enc(4)}, IterOptions{}).Valid() {
		t.Fatal("seek beyond the last key is valid")
	}
	// A key between two entries seeks to the next larger one.
	if it := db.Iter(kv.KeyRange{Start: enc(1)}, IterOptions{}); !it.Valid() || !bytes.Equal(it.Key(), enc(2)) {
		t.Fatal("seek between keys")
	}

	// Keys that are prefixes of each other: the shortest comes first.
	rows := New(Limits{})
	base := "DATA_test_main_db_tbl_tbl_test_record__0000000000000000000"
	for _, k := range []string{base + "1", base + "1_0002", base + "1_0003", base + "2", base + "2_0002", base + "2_0003"} {
		_ = rows.Set([]byte(k), []byte("v"))
	}
	if got := collect(t, rows, kv.KeyRange{}, IterOptions{}); len(got) != 6 {
		t.Fatalf("saw %d rows", len(got))
	}
	if it := rows.Iter(kv.KeyRange{Start: []byte(base + "0")}, IterOptions{}); string(it.Key()) != base+"1" {
		t.Fatalf("seek before the first key lands on %q", it.Key())
	}

	// Empty and inverted ranges yield nothing in either direction.
	one := New(Limits{})
	_ = one.Set([]byte{1, 1}, []byte{1, 1})
	for _, r := range [][2][]byte{{{1, 1}, {1, 1}}, {{1, 0, 0}, {1, 0, 1}}, {{1, 0, 1}, {1, 0, 0}}} {
		kr := kv.KeyRange{Start: r[0], End: r[1]}
		if one.Iter(kr, IterOptions{}).Valid() || one.Iter(kr, IterOptions{Reverse: true}).Valid() {
			t.Fatalf("range %x..%x is not empty", r[0], r[1])
		}
	}
}

// client-go: internal/unionstore/memdb_test.go TestDiscard (cleanup of a level that
// overwrote every key restores values, Len and Size; cleaning up the level that wrote them
// empties the buffer)
func TestPortCleanupRestoresBulk(t *testing.T) {
	const cnt = 10000
	db := New(Limits{})
	base := fillLevel(t, db, 0, cnt, 0)
	size := db.Size()
	if err := db.Cleanup(fillLevel(t, db, 0, cnt, 1)); err != nil {
		t.Fatal(err)
	}
	if db.Len() != cnt || db.Size() != size {
		t.Fatalf("after cleanup: len %d size %d, want %d %d", db.Len(), db.Size(), cnt, size)
	}
	expectKeys(t, db, cnt, func(i int) int { return i })
	if err := db.Cleanup(base); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < cnt; i++ {
		if _, ok := db.Get(u32(i)); ok {
			t.Fatalf("key %d survived the cleanup of its level", i)
		}
	}
	if db.Iter(kv.KeyRange{}, IterOptions{}).Valid() || db.Len() != 0 || db.Size() != 0 {
		t.Fatal("buffer not empty")
	}
}

// client-go: internal/unionstore/memdb_test.go TestFlushOverwrite, TestComplexUpdate,
// TestOverwrite (released overwrites keep Len, and Size when values keep their length)
func TestPortReleasedOverwrites(t *testing.T) {
	const cnt = 10000
	db := New(Limits{})
	_ = db.Release(fillLevel(t, db, 0, cnt, 0))
	size := db.Size()
	_ = db.Release(fillLevel(t, db, 0, cnt, 1))
	if db.Len() != cnt || db.Size() != size {
		t.Fatalf("len %d size %d", db.Len(), db.Size())
	}
	expectKeys(t, db, cnt, func(i int) int { return i + 1 })

	const keep, overwrite, insert = 3000, 6000, 9000
	db = New(Limits{})
	_ = db.Release(fillLevel(t, db, 0, overwrite, 0))
	if db.Len() != overwrite {
		t.Fatalf("len %d", db.Len())
	}
	_ = db.Release(fillLevel(t, db, keep, insert, 1))
	if db.Len() != insert {
		t.Fatalf("len %d", db.Len())
	}
	expectKeys(t, db, insert, func(i int) int {
		if i >= keep {
			return i + 1
		}
		return i
	})

	// Plain overwrites of every third key, outside any level.
	db = New(Limits{})
	_ = db.Release(fillLevel(t, db, 0, cnt, 0))
	size = db.Size()
	for i := 0; i < cnt; i += 3 {
		_ = db.Set(u32(i), u32(i*10))
	}
	if db.Len() != cnt || db.Size() != size {
		t.Fatalf("len %d size %d", db.Len(), db.Size())
	}
	expectKeys(t, db, cnt, func(i int) int {
		if i%3 == 0 {
			return i * 10
		}
		return i
	})
}

// client-go: internal/unionstore/memdb_test.go TestNestedSandbox, TestMemDBStaging,
// TestMemDBMultiLevelStaging
func TestPortNestedStaging(t *testing.T) {
	db := New(Limits{})
	h0 := fillLevel(t, db, 0, 200, 0)
	h1 := fillLevel(t, db, 0, 100, 1)
	h2 := fillLevel(t, db, 50, 150, 2)
	h3 := fillLevel(t, db, 100, 120, 3)
	h4 := fillLevel(t, db, 0, 150, 4)
	for _, step := range []struct {
		h       StagingHandle
		release bool
	}{{h4, false}, {h3, true}, {h2, false}, {h1, true}, {h0, true}} {
		var err error
		if step.release {
			err = db.Release(step.h)
		} else {
			err = db.Cleanup(step.h)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Only h1 (keys below 100, value +1) and h0 survive.
	expectKeys(t, db, 200, func(i int) int {
		if i < 100 {
			return i + 1
		}
		return i
	})

	db = New(Limits{})
	_ = db.Set([]byte("x"), make([]byte, 2))
	h1 = db.Staging()
	_ = db.Set([]byte("x"), make([]byte, 3))
	h2 = db.Staging()
	_ = db.Set([]byte("yz"), make([]byte, 1))
	if v, _ := db.Get([]byte("x")); len(v) != 3 {
		t.Fatal("inner level does not see the outer level's write")
	}
	_ = db.Release(h2)
	if v, ok := db.Get([]byte("yz")); !ok || len(v) != 1 {
		t.Fatal("released write lost")
	}
	_ = db.Cleanup(h1)
	if v, _ := db.Get([]byte("x")); len(v) != 2 {
		t.Fatal("cleanup did not restore x")
	}
	if _, ok := db.Get([]byte("yz")); ok {
		t.Fatal("write released into a cleaned-up level survived")
	}

	// 100 levels writing the same key, closed alternately by cleanup and release.
	db = New(Limits{})
	key := []byte{0}
	for i := 0; i < 100; i++ {
		if h := db.Staging(); int(h) != i+1 {
			t.Fatalf("handle %d at depth %d", h, i+1)
		}
		_ = db.Set(key, []byte{byte(i)})
		if v, _ := db.Get(key); !bytes.Equal(v, []byte{byte(i)}) {
			t.Fatalf("level %d reads %v", i, v)
		}
	}
	for i := 99; i >= 0; i-- {
		want := i
		var err error
		if i%2 == 1 {
			want = i - 1
			err = db.Cleanup(StagingHandle(i + 1))
		} else {
			err = db.Release(StagingHandle(i + 1))
		}
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := db.Get(key); !bytes.Equal(v, []byte{byte(want)}) {
			t.Fatalf("after closing level %d: %v, want %d", i+1, v, want)
		}
	}
}

// client-go: internal/unionstore/memdb_test.go TestMemDBCheckpoint (a staging level
// released after a checkpoint is reverted with it)
func TestPortCheckpointOverReleasedLevel(t *testing.T) {
	db := New(Limits{})
	cp1 := db.Checkpoint()
	_ = db.Set([]byte("x"), []byte("x"))
	cp2 := db.Checkpoint()
	_ = db.Set([]byte("y"), []byte("y"))
	h := db.Staging()
	_ = db.Set([]byte("z"), []byte("z"))
	if err := db.Release(h); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x", "y", "z"} {
		if v, _ := db.Get([]byte(k)); string(v) != k {
			t.Fatalf("%s = %q", k, v)
		}
	}
	if err := db.RevertToCheckpoint(cp2); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}), "x=x")
	if err := db.RevertToCheckpoint(cp1); err != nil {
		t.Fatal(err)
	}
	eq(t, collect(t, db, kv.KeyRange{}, IterOptions{}))
}

// client-go: internal/unionstore/memdb_test.go TestDirty. kv/txn's IsReadOnly is
// Len() == 0 (our Dirty means "ever written"), so the same facts are checked on Len: a
// cleaned-up level leaves the buffer empty unless it took a persistent flag.
func TestPortEmptyAfterCleanup(t *testing.T) {
	db := New(Limits{})
	h := db.Staging()
	_ = db.Set([]byte{1}, []byte{1})
	_ = db.Cleanup(h)
	if db.Len() != 0 {
		t.Fatal("cleaned-up write still counted")
	}
	h = db.Staging()
	_ = db.Set([]byte{1}, []byte{1})
	_ = db.Release(h)
	if db.Len() != 1 {
		t.Fatal("released write not counted")
	}

	db = New(Limits{})
	h = db.Staging()
	_ = db.SetWithFlags([]byte{1}, []byte{1}, FlagKeyLocked)
	_ = db.Cleanup(h)
	if db.Len() != 1 {
		t.Fatal("persistent flag dropped by cleanup")
	}

	db = New(Limits{})
	h = db.Staging()
	_ = db.SetWithFlags([]byte{1}, []byte{1}, FlagPresumeKNE)
	_ = db.Cleanup(h)
	if db.Len() != 0 {
		t.Fatal("non-persistent flag kept by cleanup")
	}
}

// client-go: internal/unionstore/memdb_test.go TestFlags, TestCleanupKeepPersistentFlag;
// rbt/rbt_test.go TestFlags, TestDiscard; art/art_test.go TestFlag, TestFlagOnlyKey
func TestPortFlagsBulk(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		const cnt = 10000
		db := New(Limits{})
		h := db.Staging()
		for i := 0; i < cnt; i++ {
			f := FlagPresumeKNE
			if i%2 == 0 {
				f |= FlagKeyLocked
			}
			_ = db.SetWithFlags(u32(i), u32(i), f)
		}
		_ = db.Cleanup(h)
		for i := 0; i < cnt; i++ {
			if _, ok := db.Get(u32(i)); ok {
				t.Fatalf("value of %d survived cleanup", i)
			}
			f := db.Flags(u32(i))
			if i%2 == 0 && (!f.Has(FlagKeyLocked) || f.Has(FlagPresumeKNE)) || i%2 == 1 && f != 0 {
				t.Fatalf("flags of %d = %b", i, f)
			}
		}
		// Flag-only entries count their key in Size.
		if db.Len() != cnt/2 || db.Size() != cnt/2*4 {
			t.Fatalf("len %d size %d", db.Len(), db.Size())
		}
		if db.Iter(kv.KeyRange{}, IterOptions{Reverse: reverse}).Valid() {
			t.Fatal("a plain iterator yields flag-only entries")
		}
		n := 0
		for it := db.Iter(kv.KeyRange{}, IterOptions{Reverse: reverse, WithFlagsOnly: true}); it.Valid(); it.Next() {
			if binary.BigEndian.Uint32(it.Key())%2 != 0 || it.HasValue() {
				t.Fatalf("flag-only iteration yields %x (value %v)", it.Key(), it.HasValue())
			}
			n++
		}
		if n != cnt/2 {
			t.Fatalf("flag-only iteration saw %d", n)
		}
		for i := 0; i < cnt; i++ {
			_ = db.UpdateFlags(u32(i), 0, FlagKeyLocked)
		}
		for i := 0; i < cnt; i++ {
			if _, ok := db.Get(u32(i)); ok || db.Flags(u32(i)).Has(FlagKeyLocked) {
				t.Fatalf("key %d still locked or valued", i)
			}
		}
	}

	// Iteration reports each entry's own flags.
	db := New(Limits{})
	_ = db.SetWithFlags([]byte{0}, []byte{0}, FlagPresumeKNE)
	_ = db.SetWithFlags([]byte{1}, []byte{1}, FlagKeyLocked)
	it := db.Iter(kv.KeyRange{}, IterOptions{})
	if !it.Valid() || it.Flags() != FlagPresumeKNE {
		t.Fatal("flags of the first entry")
	}
	it.Next()
	if !it.Valid() || it.Flags() != FlagKeyLocked {
		t.Fatal("flags of the second entry")
	}
	// A flag update that sets nothing leaves no visible entry and no value.
	_ = db.UpdateFlags([]byte{2}, FlagPresumeKNE.WithAssertion(kv.AssertNone)&^FlagPresumeKNE, 0)
	if _, ok := db.Get([]byte{2}); ok || db.Flags([]byte{2}).HasAssertionFlags() || db.Len() != 2 {
		t.Fatal("empty flag update created something")
	}
}

// client-go: internal/unionstore/art/art_test.go TestSimple, TestSubNode,
// TestLeafWithCommonPrefix, TestLongPrefix1, TestLongPrefix2, TestSearchPrefixMisatch,
// TestSearchOptimisticMismatch, TestBenchKey (lookups among keys sharing long prefixes or
// being prefixes of each other; client-go's ART is path-compressed, our index is not, but
// the answers must be the same)
func TestPortPrefixKeys(t *testing.T) {
	db := New(Limits{})
	var keys [][]byte
	for i := 0; i < 256; i++ {
		keys = append(keys, []byte{byte(i)})
	}
	keys = append(keys, []byte("a"), []byte("aa"), []byte("aaa"), []byte{1, 1, 1}, []byte{1, 1, 2})
	long := bytes.Repeat([]byte{7}, 300)
	for i := 0; i < 5; i++ {
		k := append(append([]byte(nil), long[:100+50*i]...), byte(i))
		keys = append(keys, k)
	}
	for i := 0; i < 1000; i++ {
		keys = append(keys, fmt.Appendf(nil, "%010d", i))
	}
	for _, k := range keys {
		if _, ok := db.Get(k); ok && len(k) > 1 {
			t.Fatalf("%x found before it was set", k)
		}
		if err := db.Set(k, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		if v, ok := db.Get(k); !ok || !bytes.Equal(v, k) {
			t.Fatalf("Get(%x) = %x %v", k, v, ok)
		}
	}
	// Overwrite with a different value, then misses that share a prefix with hits.
	_ = db.Set(keys[len(keys)-1001], []byte{3})
	if v, _ := db.Get(keys[len(keys)-1001]); !bytes.Equal(v, []byte{3}) {
		t.Fatal("overwrite under a long prefix")
	}
	for _, miss := range [][]byte{{1, 1, 1, 3, 1, 1}, {1, 1}, []byte("aaaa"), append(make([]byte, 21), 1, 1), long[:120]} {
		if _, ok := db.Get(miss); ok {
			t.Fatalf("miss %x found", miss)
		}
	}
	var prev []byte
	n := 0
	for it := db.Iter(kv.KeyRange{}, IterOptions{}); it.Valid(); it.Next() {
		if prev != nil && bytes.Compare(prev, it.Key()) >= 0 {
			t.Fatalf("order: %x after %x", it.Key(), prev)
		}
		prev = append(prev[:0], it.Key()...)
		n++
	}
	if n != db.Len() {
		t.Fatalf("iterated %d of %d", n, db.Len())
	}
}

// client-go: internal/unionstore/memdb_test.go TestMemDBLeafFragmentation (repeated
// statement retries in a staging level do not make the buffer grow without end, as long as
// the values fit what was already allocated)
func TestPortRetriedLevelsDoNotGrowMem(t *testing.T) {
	db := New(Limits{})
	h := db.Staging()
	mem := 0
	for round := 0; round < 10; round++ {
		for k := 0; k < 100; k++ {
			_ = db.Set([]byte(strings.Repeat(fmt.Sprint(k), 256)), []byte("value"))
		}
		cur := db.Mem()
		if mem == 0 {
			mem = cur
		} else if cur > mem {
			t.Fatalf("round %d: Mem %d after %d", round, cur, mem)
		}
		if err := db.Cleanup(h); err != nil {
			t.Fatal(err)
		}
		h = db.Staging()
	}
}

// client-go: internal/unionstore/memdb_test.go TestReadOnlyZeroMem (a buffer nobody
// writes allocates nothing: every read-only transaction has one)
func TestPortReadOnlyZeroMem(t *testing.T) {
	db := New(Limits{})
	if m := db.Mem(); m != 0 {
		t.Fatalf("empty buffer holds %d bytes", m)
	}
	if _, ok := db.Get([]byte("k")); ok || db.Flags([]byte("k")) != 0 || db.Iter(kv.KeyRange{}, IterOptions{}).Valid() {
		t.Fatal("reads on an empty buffer")
	}
	if m := db.Mem(); m != 0 {
		t.Fatalf("reads allocated %d bytes", m)
	}
	_ = db.Set([]byte("k"), []byte("v"))
	if v, ok := db.Get([]byte("k")); !ok || string(v) != "v" || db.Mem() == 0 {
		t.Fatal("first write")
	}
}

// client-go: internal/unionstore/memdb_test.go TestBufferLimit, TestKeyValueOversize
// (limits are checked on Delete too: a tombstone's key counts)
func TestPortLimitsOnDelete(t *testing.T) {
	db := New(Limits{EntrySize: 500, TotalSize: 1000})
	if err := db.Set([]byte("x"), make([]byte, 500)); !errors.Is(err, kv.ErrEntryTooLarge) {
		t.Fatalf("entry limit: %v", err)
	}
	if err := db.Set([]byte("x"), make([]byte, 499)); err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("yz"), make([]byte, 499)); !errors.Is(err, kv.ErrTxnTooLarge) && !errors.Is(err, kv.ErrEntryTooLarge) {
		t.Fatalf("total limit: %v", err)
	}
	if err := db.Delete(make([]byte, 499)); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(make([]byte, 500)); !errors.Is(err, kv.ErrEntryTooLarge) && !errors.Is(err, kv.ErrTxnTooLarge) {
		t.Fatalf("delete beyond the limits: %v", err)
	}
	big := New(Limits{KeySize: 65535, EntrySize: -1, TotalSize: -1})
	if err := big.Set(make([]byte, 65535), make([]byte, 65536)); err != nil {
		t.Fatal(err)
	}
	var sl *kv.SizeLimitError
	if err := big.Set(make([]byte, 65536), []byte("v")); !errors.As(err, &sl) || sl.Size != 65536 || !errors.Is(err, kv.ErrKeyTooLarge) {
		t.Fatalf("oversize key: %v", err)
	}
}
