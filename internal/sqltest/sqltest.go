// Package sqltest holds helpers for tests of the database/sql driver: the clusters a
// suite runs on (a private in-process cluster, plus the local cluster of TIKV_PD_ADDRS
// when set) and compact query helpers. It is imported only by tests, which also import
// the driver for its registration.
package sqltest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// Name turns s (a test name) into a memory:// cluster name.
func Name(s string) string { return nonWord.ReplaceAllString(s, "-") }

// Target is a DSN base a suite runs on.
type Target struct {
	Name string // "memory" or "local"
	Base string // DSN without parameters
}

// Targets returns a memory:// target private to t and, when TIKV_PD_ADDRS is set, the
// local cluster (with the keyspace of TIKV_KEYSPACE).
func Targets(t testing.TB) []Target {
	ts := []Target{{"memory", "memory://" + Name(t.Name())}}
	if addrs := os.Getenv("TIKV_PD_ADDRS"); addrs != "" {
		base := "tikv://" + addrs
		if ks := os.Getenv("TIKV_KEYSPACE"); ks != "" {
			base += "/" + ks
		}
		ts = append(ts, Target{"local", base})
	}
	return ts
}

// Each runs fn on every target with a *sql.DB opened with the DSN parameters params
// (closed at the end) and a key prefix unique to the run.
func Each(t *testing.T, params string, fn func(t *testing.T, db *sql.DB, prefix string)) {
	for _, tg := range Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			d := tg.Base
			if params != "" {
				d += "?" + params
			}
			db, err := sql.Open("tikv", d)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			fn(t, db, fmt.Sprintf("%s/%d/", Name(t.Name()), time.Now().UnixNano()))
		})
	}
}

// Ctx returns a context that ends with the test (or after a minute).
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Querier is *sql.DB, *sql.Tx or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Query returns every row of a query as strings ("NULL" for nil), failing the test
// on error.
func Query(t testing.TB, q Querier, text string, args ...any) [][]string {
	t.Helper()
	rows, err := q.QueryContext(Ctx(t), text, args...)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(v)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return out
}

// Flat renders rows as "a=b,c=d".
func Flat(rows [][]string) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = strings.Join(r, "=")
	}
	return strings.Join(parts, ",")
}

// QueryFlat is Flat(Query(...)).
func QueryFlat(t testing.TB, q Querier, text string, args ...any) string {
	t.Helper()
	return Flat(Query(t, q, text, args...))
}

// Exec runs a statement, failing the test on error, and returns RowsAffected (-1
// when unknown).
func Exec(t testing.TB, q Querier, text string, args ...any) int64 {
	t.Helper()
	res, err := q.ExecContext(Ctx(t), text, args...)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return -1
	}
	return n
}
