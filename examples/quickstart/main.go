// Command quickstart shows the "tikv" database/sql driver: it writes, reads, scans,
// runs a transaction and a compare-and-swap. By default it runs on the in-process
// cluster (memory://quickstart), so it needs no server; with TIKV_PD_ADDRS set
// (comma-separated PD addresses, and TIKV_KEYSPACE for an API v2 keyspace) it runs on
// that cluster instead.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	_ "github.com/tikvsql/tikvsql/driver"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// dsns returns the DSNs of the transactional and the raw database to use.
func dsns() (txnDSN, rawDSN string) {
	addrs := os.Getenv("TIKV_PD_ADDRS")
	if addrs == "" {
		return "memory://quickstart", "memory://quickstart-raw?mode=raw&atomic=true"
	}
	base := "tikv://" + strings.TrimSpace(addrs)
	if ks := os.Getenv("TIKV_KEYSPACE"); ks != "" {
		base += "/" + ks
	}
	return base, base + "?mode=raw&atomic=true"
}

func run(ctx context.Context, out *os.File) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	txnDSN, rawDSN := dsns()
	db, err := sql.Open("tikv", txnDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	prefix := fmt.Sprintf("quickstart/%d/", time.Now().UnixNano())
	key := func(s string) string { return prefix + s }

	// Write a few keys; each statement outside a transaction commits on its own.
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, err := db.ExecContext(ctx, "PUT ? ?", key(name), "hello "+name); err != nil {
			return err
		}
	}
	// Read one back.
	var v []byte
	if err := db.QueryRowContext(ctx, "GET ?", key("bob")).Scan(new([]byte), &v); err != nil {
		return err
	}
	fmt.Fprintf(out, "GET bob = %s\n", v)

	// Scan a prefix, in key order.
	rows, err := db.QueryContext(ctx, "SCAN PREFIX ?", prefix)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return err
		}
		fmt.Fprintf(out, "SCAN %s = %s\n", strings.TrimPrefix(string(k), prefix), v)
	}
	if err := rows.Close(); err != nil {
		return err
	}

	// The SQL subset works too.
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM kv WHERE k LIKE ?", prefix+"%").Scan(&n); err != nil {
		return err
	}
	fmt.Fprintf(out, "count = %d\n", n)

	// A transaction: move a balance atomically.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?), (?, ?)", key("acct/a"), "70", key("acct/b"), "30"); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	var a, b []byte
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", key("acct/a")).Scan(&a); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", key("acct/b")).Scan(&b); err != nil {
		return err
	}
	fmt.Fprintf(out, "committed a=%s b=%s\n", a, b)

	// Compare-and-swap on RawKV (mode=raw, atomic=true).
	rdb, err := sql.Open("tikv", rawDSN)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if _, err := rdb.ExecContext(ctx, "PUT ? ?", key("flag"), "off"); err != nil {
		return err
	}
	var swapped bool
	var prev []byte
	if err := rdb.QueryRowContext(ctx, "CAS ? ? ?", key("flag"), "off", "on").Scan(&swapped, &prev); err != nil {
		return err
	}
	fmt.Fprintf(out, "CAS off->on swapped=%v previous=%s\n", swapped, prev)
	if err := rdb.QueryRowContext(ctx, "CAS ? ? ?", key("flag"), "off", "on").Scan(&swapped, &prev); err != nil {
		return err
	}
	fmt.Fprintf(out, "CAS off->on again swapped=%v previous=%s\n", swapped, prev)
	return nil
}
