package conn_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/conn"
	_ "github.com/tikvsql/tikvsql/driver"
	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/kv"
)

// One case per statement form, in txn mode. Keys are relative to the test's prefix
// (the placeholder p), so each case reads what the earlier ones wrote.
func TestTxnStatements(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		k := func(s string) string { return p + s }
		if n := sqltest.Exec(t, db, "PUT ? ?", k("a"), "1"); n != 1 {
			t.Fatalf("PUT affected %d", n)
		}
		if n := sqltest.Exec(t, db, "BATCH PUT (?, ?), (?, ?), (?, ?)", k("b"), "2", k("c"), "3", k("d"), "4"); n != 3 {
			t.Fatalf("BATCH PUT affected %d", n)
		}
		steps := []struct {
			q    string
			args []any
			want string
		}{
			{"GET ?", []any{k("a")}, k("a") + "=1"},
			{"GET ?", []any{k("zz")}, ""},
			{"BATCH GET ?, ?, ?", []any{k("c"), k("zz"), k("a")}, k("c") + "=3," + k("a") + "=1"},
			{"SCAN ? ?", []any{k("a"), k("c")}, k("a") + "=1," + k("b") + "=2"},
			{"SCAN ? ? LIMIT 2 REVERSE", []any{k(""), k("z")}, k("d") + "=4," + k("c") + "=3"},
			{"SCAN PREFIX ? KEYS ONLY", []any{p}, k("a") + "," + k("b") + "," + k("c") + "," + k("d")},
			{"SELECT k, v FROM kv WHERE k IN (?, ?)", []any{k("b"), k("d")}, k("b") + "=2," + k("d") + "=4"},
			{"SELECT v FROM kv WHERE k BETWEEN ? AND ? ORDER BY k DESC", []any{k("b"), k("c")}, "3,2"},
			{"SELECT count(*) FROM kv WHERE k LIKE ?", []any{p + "%"}, "4"},
			{"SELECT * FROM kv WHERE k >= ? AND k < ? LIMIT 1 OFFSET 1", []any{k("a"), k("z")}, k("b") + "=2"},
			{"SELECT 1", nil, "1"},
		}
		for _, s := range steps {
			if got := sqltest.QueryFlat(t, db, s.q, s.args...); got != s.want {
				t.Errorf("%s %v = %q, want %q", s.q, s.args, got, s.want)
			}
		}
		if v := sqltest.QueryFlat(t, db, "SELECT version()"); !strings.HasPrefix(v, "tikvsql ") {
			t.Errorf("version() = %q", v)
		}
		if e := sqltest.QueryFlat(t, db, "EXPLAIN SCAN ? ?", k("a"), k("b")); e == "" {
			t.Error("EXPLAIN returned nothing")
		}

		// INSERT fails on an existing key; IGNORE and upserts do not.
		_, err := db.ExecContext(sqltest.Ctx(t), "INSERT INTO kv (k, v) VALUES (?, ?)", k("a"), "x")
		var ke *kv.KeyExistsError
		if !errors.As(err, &ke) || !bytes.Equal(ke.Key, []byte(k("a"))) {
			t.Fatalf("INSERT existing: %v", err)
		}
		if n := sqltest.Exec(t, db, "INSERT IGNORE INTO kv (k, v) VALUES (?, ?), (?, ?)", k("a"), "x", k("e"), "5"); n != 1 {
			t.Errorf("INSERT IGNORE affected %d, want 1", n)
		}
		sqltest.Exec(t, db, "REPLACE INTO kv (k, v) VALUES (?, ?)", k("a"), "10")
		sqltest.Exec(t, db, "INSERT INTO kv (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)", k("b"), "20")
		sqltest.Exec(t, db, "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k("c"), "30")
		if n := sqltest.Exec(t, db, "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT DO NOTHING", k("c"), "31"); n != 0 {
			t.Errorf("ON CONFLICT DO NOTHING affected %d", n)
		}
		if got := sqltest.QueryFlat(t, db, "SELECT v FROM kv WHERE k IN (?, ?, ?)", k("a"), k("b"), k("c")); got != "10,20,30" {
			t.Errorf("after upserts: %s", got)
		}
		// UPDATE writes only existing keys; AND v = ? is a compare-and-swap.
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ?", "11", k("a")); n != 1 {
			t.Errorf("UPDATE existing affected %d", n)
		}
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ?", "x", k("nope")); n != 0 {
			t.Errorf("UPDATE missing affected %d", n)
		}
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ? AND v = ?", "12", k("a"), "wrong"); n != 0 {
			t.Errorf("UPDATE CAS mismatch affected %d", n)
		}
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ? AND v = ?", "12", k("a"), "11"); n != 1 {
			t.Errorf("UPDATE CAS match affected %d", n)
		}
		if got := sqltest.QueryFlat(t, db, "CAS ? ? ?", k("a"), "12", "13"); got != "true=12" {
			t.Errorf("CAS = %s", got)
		}
		if got := sqltest.QueryFlat(t, db, "CAS ? NULL ?", k("new"), "1"); got != "true=NULL" {
			t.Errorf("CAS absent = %s", got)
		}
		// Deletes.
		if n := sqltest.Exec(t, db, "DELETE ?", k("new")); n != 1 {
			t.Errorf("DELETE affected %d", n)
		}
		if n := sqltest.Exec(t, db, "BATCH DELETE ?, ?", k("e"), k("nope")); n != 1 {
			t.Errorf("BATCH DELETE affected %d", n)
		}
		if n := sqltest.Exec(t, db, "DELETE FROM kv WHERE k = ?", k("d")); n != 1 {
			t.Errorf("DELETE FROM affected %d", n)
		}
		if n := sqltest.Exec(t, db, "DELETE RANGE ? ?", k("b"), k("c")); n != -1 {
			t.Errorf("DELETE RANGE affected %d, want unknown", n)
		}
		if got := sqltest.QueryFlat(t, db, "SCAN PREFIX ?", p); got != k("a")+"=13,"+k("c")+"=30" {
			t.Errorf("final scan = %s", got)
		}
	})
}

// Statement errors in txn mode.
func TestTxnStatementErrors(t *testing.T) {
	sqltest.Each(t, "maxScan=3", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		for i := range 5 {
			sqltest.Exec(t, db, "PUT ? ?", fmt.Sprintf("%s%d", p, i), "v")
		}
		cases := []struct {
			q    string
			args []any
			want error
		}{
			{"CHECKSUM ? ?", []any{p, p + "z"}, conn.ErrTxnMode},
			{"TTL ?", []any{p + "0"}, conn.ErrTxnMode},
			{"PUT ? ? TTL 10", []any{p + "0", "v"}, conn.ErrTxnMode},
			{"LOCK ?", []any{p + "0"}, conn.ErrNoTxn},
			{"SCAN PREFIX ?", []any{p}, kv.ErrScanLimitExceeded},
			{"SELECT count(*) FROM kv WHERE k LIKE ?", []any{p + "%"}, kv.ErrScanLimitExceeded},
		}
		for _, c := range cases {
			_, err := db.ExecContext(ctx, c.q, c.args...)
			if !errors.Is(err, c.want) {
				t.Errorf("Exec %s: %v, want %v", c.q, err, c.want)
			}
		}
		// A streamed scan fails at the guard, after the rows within it.
		rows, err := db.QueryContext(ctx, "SCAN PREFIX ?", p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if !errors.Is(rows.Err(), kv.ErrScanLimitExceeded) || n != 3 {
			t.Errorf("streamed guard: %d rows, err %v", n, rows.Err())
		}
		rows.Close()
		if _, err := db.ExecContext(ctx, "GET ?; GET ?", p, p); err == nil {
			t.Error("multi-statement accepted")
		}
		if _, err := db.ExecContext(ctx, "FROB ?", p); err == nil || !strings.Contains(err.Error(), "1") {
			t.Errorf("syntax error: %v", err)
		}
	})
}

func TestRawStatements(t *testing.T) {
	sqltest.Each(t, "mode=raw&atomic=true&maxScan=50000", func(t *testing.T, db *sql.DB, p string) {
		k := func(s string) string { return p + s }
		sqltest.Exec(t, db, "BATCH PUT (?, ?), (?, ?)", k("a"), "1", k("b"), "22")
		sqltest.Exec(t, db, "PUT ? ? TTL 100", k("t"), "x")
		if got := sqltest.QueryFlat(t, db, "GET ?", k("a")); got != k("a")+"=1" {
			t.Errorf("GET = %s", got)
		}
		ttl := sqltest.Query(t, db, "TTL ?", k("t"))
		if len(ttl) != 1 || ttl[0][1] == "NULL" || ttl[0][1] > "100" {
			t.Errorf("TTL = %v", ttl)
		}
		if got := sqltest.QueryFlat(t, db, "TTL ?", k("a")); got != k("a")+"=NULL" {
			t.Errorf("TTL without ttl = %s", got)
		}
		if got := sqltest.QueryFlat(t, db, "TTL ?", k("none")); got != "" {
			t.Errorf("TTL missing = %s", got)
		}
		sum := sqltest.Query(t, db, "CHECKSUM ? ?", k("a"), k("c"))
		// TotalBytes counts keys as TiKV stores them: under API v2 with their 4-byte
		// keyspace prefix.
		base := len(k("a")) + 1 + len(k("b")) + 2
		if len(sum) != 1 || sum[0][1] != "2" || (sum[0][2] != fmt.Sprint(base) && sum[0][2] != fmt.Sprint(base+8)) {
			t.Errorf("CHECKSUM = %v", sum)
		}
		if got := sqltest.QueryFlat(t, db, "CAS ? ? ?", k("a"), "1", "2"); got != "true=1" {
			t.Errorf("CAS = %s", got)
		}
		if got := sqltest.QueryFlat(t, db, "CAS ? ? ?", k("a"), "1", "3"); got != "false=2" {
			t.Errorf("CAS mismatch = %s", got)
		}
		_, err := db.ExecContext(sqltest.Ctx(t), "INSERT INTO kv (k, v) VALUES (?, ?)", k("a"), "x")
		var ke *kv.KeyExistsError
		if !errors.As(err, &ke) {
			t.Errorf("raw INSERT existing: %v", err)
		}
		if n := sqltest.Exec(t, db, "UPDATE kv SET v = ? WHERE k = ?", "9", k("b")); n != 1 {
			t.Errorf("raw UPDATE = %d", n)
		}
		if got := sqltest.QueryFlat(t, db, "SCAN PREFIX ? REVERSE", p); got != k("t")+"=x,"+k("b")+"=9,"+k("a")+"=2" {
			t.Errorf("reverse scan = %s", got)
		}
		if n := sqltest.Exec(t, db, "BATCH DELETE ?, ?", k("a"), k("zz")); n != 1 {
			t.Errorf("raw BATCH DELETE = %d", n)
		}
		sqltest.Exec(t, db, "DELETE RANGE ? ?", p, k("z"))
		if got := sqltest.QueryFlat(t, db, "SCAN PREFIX ?", p); got != "" {
			t.Errorf("after DELETE RANGE: %s", got)
		}
		if _, err := db.ExecContext(sqltest.Ctx(t), "BEGIN"); !errors.Is(err, conn.ErrRawMode) {
			t.Errorf("BEGIN in raw mode: %v", err)
		}
		if _, err := db.BeginTx(sqltest.Ctx(t), nil); !errors.Is(err, conn.ErrRawMode) {
			t.Errorf("BeginTx in raw mode: %v", err)
		}
	})
}

func TestRawNeedsAtomic(t *testing.T) {
	sqltest.Each(t, "mode=raw", func(t *testing.T, db *sql.DB, p string) {
		for _, q := range []string{"INSERT INTO kv (k, v) VALUES (?, ?)", "CAS ? ? ?"} {
			args := []any{p + "a", "1"}
			if strings.HasPrefix(q, "CAS") {
				args = append(args, "2")
			}
			if _, err := db.ExecContext(sqltest.Ctx(t), q, args...); !errors.Is(err, conn.ErrNeedsAtomic) {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
}

func TestTransactions(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, tx, "PUT ? ?", p+"x", "1")
		// Read your writes inside; invisible outside until commit.
		if got := sqltest.QueryFlat(t, tx, "GET ?", p+"x"); got != p+"x=1" {
			t.Errorf("in tx: %s", got)
		}
		if got := sqltest.QueryFlat(t, db, "GET ?", p+"x"); got != "" {
			t.Errorf("outside before commit: %s", got)
		}
		sqltest.Exec(t, tx, "LOCK ?", p+"x")
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := sqltest.QueryFlat(t, db, "GET ?", p+"x"); got != p+"x=1" {
			t.Errorf("after commit: %s", got)
		}
		// Rollback discards.
		tx, _ = db.BeginTx(ctx, nil)
		sqltest.Exec(t, tx, "PUT ? ?", p+"y", "1")
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := sqltest.QueryFlat(t, db, "GET ?", p+"y"); got != "" {
			t.Errorf("after rollback: %s", got)
		}
		// Read-only transactions reject writes.
		ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ro.ExecContext(ctx, "PUT ? ?", p+"z", "1"); !errors.Is(err, conn.ErrReadOnly) {
			t.Errorf("write in read-only: %v", err)
		}
		if got := sqltest.QueryFlat(t, ro, "GET ?", p+"x"); got != p+"x=1" {
			t.Errorf("read-only read: %s", got)
		}
		_ = ro.Rollback()
		// Isolation levels.
		for _, l := range []sql.IsolationLevel{sql.LevelSerializable, sql.LevelReadUncommitted, sql.LevelLinearizable, sql.LevelWriteCommitted} {
			if _, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: l}); !errors.Is(err, conn.ErrIsolation) {
				t.Errorf("level %s: %v", l, err)
			}
		}
		for _, l := range []sql.IsolationLevel{sql.LevelSnapshot, sql.LevelRepeatableRead} {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: l})
			if err != nil {
				t.Errorf("level %s: %v", l, err)
				continue
			}
			_ = tx.Rollback()
		}
		// Snapshot isolation: a transaction does not see a later commit.
		tx, _ = db.BeginTx(ctx, nil)
		_ = sqltest.QueryFlat(t, tx, "GET ?", p+"x")
		sqltest.Exec(t, db, "PUT ? ?", p+"x", "2")
		if got := sqltest.QueryFlat(t, tx, "GET ?", p+"x"); got != p+"x=1" {
			t.Errorf("snapshot read after another commit: %s", got)
		}
		// and its write to that key conflicts.
		sqltest.Exec(t, tx, "PUT ? ?", p+"x", "3")
		var wc *kv.WriteConflictError
		if err := tx.Commit(); !errors.As(err, &wc) || !kv.IsRetryable(err) {
			t.Errorf("conflicting commit: %v", err)
		}
		// BEGIN through statements on a dedicated connection.
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, c, "BEGIN")
		if _, err := c.ExecContext(ctx, "BEGIN"); !errors.Is(err, conn.ErrTxnOpen) {
			t.Errorf("nested BEGIN: %v", err)
		}
		sqltest.Exec(t, c, "PUT ? ?", p+"s", "1")
		sqltest.Exec(t, c, "COMMIT")
		sqltest.Exec(t, c, "COMMIT") // no transaction: nothing to do
		_ = c.Close()
		if got := sqltest.QueryFlat(t, db, "GET ?", p+"s"); got != p+"s=1" {
			t.Errorf("after statement COMMIT: %s", got)
		}
	})
}

// Cancelling the context stops a streaming scan.
func TestCancelMidScan(t *testing.T) {
	sqltest.Each(t, "maxScan=100000", func(t *testing.T, db *sql.DB, p string) {
		args := []any{}
		q := "BATCH PUT "
		for i := range 500 {
			if i > 0 {
				q += ", "
			}
			q += "(?, ?)"
			args = append(args, fmt.Sprintf("%s%05d", p, i), "v")
		}
		sqltest.Exec(t, db, q, args...)
		ctx, cancel := context.WithCancel(context.Background())
		rows, err := db.QueryContext(ctx, "SCAN PREFIX ?", p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
			if n == 10 {
				cancel()
			}
		}
		if n >= 500 || !errors.Is(rows.Err(), context.Canceled) {
			t.Errorf("after cancel: %d rows, err %v", n, rows.Err())
		}
		rows.Close()
		cancel()
	})
}

// A transaction whose context is cancelled is rolled back and leaves nothing behind:
// the next writer of the key commits at once.
func TestCancelledTxnLeavesNoLock(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, tx, "PUT ? ?", p+"k", "1")
		cancel()
		if err := tx.Commit(); err == nil {
			t.Fatal("commit after cancel succeeded")
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer wcancel()
		if _, err := db.ExecContext(wctx, "PUT ? ?", p+"k", "2"); err != nil {
			t.Fatal(err)
		}
		if got := sqltest.QueryFlat(t, db, "GET ?", p+"k"); got != p+"k=2" {
			t.Errorf("got %s", got)
		}
	})
}
