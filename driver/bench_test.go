package driver_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/memcluster"
)

// The cost of the driver layer: the same raw point read through database/sql and
// through the core client, on one in-process cluster. The difference per op is what
// parsing (cached), binding, the session and database/sql add.
func BenchmarkGet(b *testing.B) {
	mc, err := memcluster.Open("bench-get", memcluster.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer mc.Close()
	ctx := context.Background()
	db, err := sql.Open("tikv", "memory://bench-get?mode=raw")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "PUT ? ?", "bench-key", "bench-value"); err != nil {
		b.Fatal(err)
	}
	rc, err := raw.New(ctx, raw.Config{Config: cluster.Config{Endpoints: []string{mc.PDAddr()}}})
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close(ctx)
	key := []byte("bench-key")

	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		var k, v []byte
		for b.Loop() {
			if err := db.QueryRowContext(ctx, "GET ?", key).Scan(&k, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("driver-prepared", func(b *testing.B) {
		st, err := db.PrepareContext(ctx, "GET ?")
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.ReportAllocs()
		var k, v []byte
		for b.Loop() {
			if err := st.QueryRowContext(ctx, key).Scan(&k, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("core", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rc.Get(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
