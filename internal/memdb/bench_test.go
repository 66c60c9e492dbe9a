package memdb

import (
	"encoding/binary"
	"fmt"
	"sort"
	"testing"

	"github.com/tikvsql/tikvsql/kv"
)

// benchKeys returns n distinct 16-byte keys in a scrambled order, like the row keys of a
// large transaction.
func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		k := make([]byte, 16)
		binary.BigEndian.PutUint64(k, uint64(i)*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(k[8:], uint64(i))
		keys[i] = k
	}
	return keys
}

var benchValue = make([]byte, 64)

// BenchmarkSet1M buffers a one-million-key transaction: ns/op is per key.
func BenchmarkSet1M(b *testing.B) {
	keys := benchKeys(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		db := New(Limits{TotalSize: -1})
		for _, k := range keys {
			if done == b.N {
				break
			}
			_ = db.Set(k, benchValue)
			done++
		}
	}
}

// BenchmarkMapBaseline1M is the naive alternative: a Go map, sorted at commit. It has no
// ordered iteration, staging or flags; it bounds what ordering costs us.
func BenchmarkMapBaseline1M(b *testing.B) {
	keys := benchKeys(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		m := make(map[string][]byte)
		n := 0
		for _, k := range keys {
			if done == b.N {
				break
			}
			m[string(k)] = append([]byte(nil), benchValue...)
			done++
			n++
		}
		sorted := make([]string, 0, n)
		for k := range m {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
	}
}

func BenchmarkGet1M(b *testing.B) {
	keys := benchKeys(1 << 20)
	db := New(Limits{TotalSize: -1})
	for _, k := range keys {
		_ = db.Set(k, benchValue)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := db.Get(keys[i&(len(keys)-1)]); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkIterate1M(b *testing.B) {
	for _, reverse := range []bool{false, true} {
		b.Run(fmt.Sprintf("reverse=%v", reverse), func(b *testing.B) {
			db := New(Limits{TotalSize: -1})
			for _, k := range benchKeys(1 << 20) {
				_ = db.Set(k, benchValue)
			}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				for it := db.Iter(kv.KeyRange{}, IterOptions{Reverse: reverse}); it.Valid() && n < b.N; it.Next() {
					n++
				}
			}
		})
	}
}

// BenchmarkStagingSet measures a write inside a staging level (undo recorded).
func BenchmarkStagingSet(b *testing.B) {
	keys := benchKeys(1 << 16)
	db := New(Limits{TotalSize: -1})
	b.ReportAllocs()
	b.ResetTimer()
	h := db.Staging()
	for i := 0; i < b.N; i++ {
		if i&(len(keys)-1) == 0 && i > 0 {
			_ = db.Cleanup(h)
			h = db.Staging()
		}
		_ = db.Set(keys[i&(len(keys)-1)], benchValue)
	}
}
