package conn_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/tikvsql/tikvsql/conn"
	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/stmt"
)

// Prepared statements: parsed once, run with different arguments; arity is checked.
func TestPreparedStatements(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		put, err := db.PrepareContext(ctx, "PUT ? ?")
		if err != nil {
			t.Fatal(err)
		}
		defer put.Close()
		get, err := db.PrepareContext(ctx, "SELECT v FROM kv WHERE k = :key")
		if err != nil {
			t.Fatal(err)
		}
		defer get.Close()
		for _, s := range []string{"a", "b"} {
			if _, err := put.ExecContext(ctx, p+s, "v"+s); err != nil {
				t.Fatal(err)
			}
		}
		var v []byte
		if err := get.QueryRowContext(ctx, sql.Named("key", p+"b")).Scan(&v); err != nil || string(v) != "vb" {
			t.Fatalf("named get = %q, %v", v, err)
		}
		if _, err := put.ExecContext(ctx, p+"c"); err == nil {
			t.Error("wrong argument count accepted")
		}
		if _, err := put.ExecContext(ctx, p+"c", 42); err == nil {
			t.Error("an integer value accepted")
		}
		if _, err := db.PrepareContext(ctx, "SELEKT 1"); err == nil {
			t.Error("syntax error at prepare accepted")
		}
	})
}

// Statements that are not transactions in raw mode, and the session's other entry
// points there.
func TestRawSession(t *testing.T) {
	sqltest.Each(t, "mode=raw", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, db, "BATCH PUT (?, ?), (?, ?)", p+"a", "1", p+"b", "2")
		if v := sqltest.QueryFlat(t, db, "SELECT version()"); !strings.HasPrefix(v, "tikvsql ") {
			t.Errorf("version = %q", v)
		}
		// count(*) runs through a materialized scan.
		if got := sqltest.QueryFlat(t, db, "SELECT count(*) FROM kv WHERE k >= ? AND k < ?", p, p+"z"); got != "2" {
			t.Errorf("count = %s", got)
		}
		if got := sqltest.QueryFlat(t, db, "SELECT k FROM kv WHERE k >= ? AND k < ? ORDER BY k DESC LIMIT 1", p, p+"z"); got != p+"b" {
			t.Errorf("reverse select = %s", got)
		}
		for _, q := range []string{"LOCK ?", "SELECT * FROM kv WHERE k = ? FOR UPDATE", "SELECT * FROM kv WHERE k >= ? FOR UPDATE"} {
			if _, err := db.ExecContext(ctx, q, p+"a"); !errors.Is(err, conn.ErrRawMode) {
				t.Errorf("%s: %v", q, err)
			}
		}
		// COMMIT and ROLLBACK without a transaction do nothing.
		sqltest.Exec(t, db, "COMMIT")
		sqltest.Exec(t, db, "ROLLBACK")
		// Without atomic=true a conditional UPDATE reads and writes.
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ?", "9", p+"a"); n != 1 {
			t.Errorf("UPDATE = %d", n)
		}
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ?", "9", p+"nope"); n != 0 {
			t.Errorf("UPDATE missing = %d", n)
		}
		if n := sqltest.Exec(t, db, "DELETE ?", p+"a"); n != 1 {
			t.Errorf("DELETE = %d", n)
		}
	})
}

func TestTxnSessionOptions(t *testing.T) {
	sqltest.Each(t, "requestSource=test&resourceGroup=default&timeout=30s", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		octx := conn.WithTxnOptions(ctx, conn.TxnOptions{Mode: stmt.TxnOptimistic, RequestSource: "other", ResourceGroup: "rg"})
		tx, err := db.BeginTx(octx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, tx, "PUT ? ?", p+"a", "1")
		sqltest.Exec(t, tx, "PUT ? ?", p+"b", "2")
		// FOR UPDATE locks what it reads (checked at commit in an optimistic transaction).
		if got := sqltest.QueryFlat(t, tx, "SELECT k FROM kv WHERE k >= ? AND k < ? FOR UPDATE", p, p+"z"); got != p+"a,"+p+"b" {
			t.Errorf("scan for update = %s", got)
		}
		if got := sqltest.QueryFlat(t, tx, "SELECT k FROM kv WHERE k = ? FOR UPDATE", p+"a"); got != p+"a" {
			t.Errorf("get for update = %s", got)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); !errors.Is(err, sql.ErrTxDone) {
			t.Errorf("second commit: %v", err)
		}
		rc := conn.WithTxnOptions(ctx, conn.TxnOptions{Mode: stmt.TxnOptimistic})
		if _, err := db.BeginTx(rc, &sql.TxOptions{Isolation: sql.LevelReadCommitted}); !errors.Is(err, conn.ErrIsolation) {
			t.Errorf("optimistic read committed: %v", err)
		}
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sqltest.Exec(t, c, "BEGIN OPTIMISTIC")
		sqltest.Exec(t, c, "PUT ? ?", p+"c", "3")
		sqltest.Exec(t, c, "ROLLBACK")
		sqltest.Exec(t, c, "START TRANSACTION READ ONLY")
		if _, err := c.ExecContext(ctx, "LOCK ?", p+"a"); !errors.Is(err, conn.ErrReadOnly) {
			t.Errorf("LOCK in read-only: %v", err)
		}
		if got := sqltest.QueryFlat(t, c, "GET ?", p+"c"); got != "" {
			t.Errorf("rolled back key visible: %s", got)
		}
		sqltest.Exec(t, c, "COMMIT")
	})
}

// A statement timeout from the DSN bounds statements whose ctx has no deadline.
func TestStatementTimeout(t *testing.T) {
	sqltest.Each(t, "timeout=1ns", func(t *testing.T, db *sql.DB, p string) {
		_, err := db.ExecContext(context.Background(), "PUT ? ?", p+"a", "1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a deadline", err)
		}
	})
}

// Stale read-only transactions read at now minus staleRead.
func TestStaleReadOnly(t *testing.T) {
	sqltest.Each(t, "staleRead=1h", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		sqltest.Exec(t, db, "PUT ? ?", p+"a", "1")
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		// An hour ago the key did not exist (or the read is refused as older than GC).
		rows, err := tx.QueryContext(ctx, "GET ?", p+"a")
		if err != nil {
			if !errors.Is(err, kv.ErrTxnAbortedByGC) {
				t.Fatal(err)
			}
			return
		}
		defer rows.Close()
		if rows.Next() {
			t.Error("stale read saw a key written now")
		}
	})
}
