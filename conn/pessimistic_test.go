package conn_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/conn"
	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/stmt"
)

// LOCK in pessimistic transactions (txnMode=pessimistic): NOWAIT fails at once, WAIT d
// times out, a plain LOCK waits until the holder commits.
func TestPessimisticLock(t *testing.T) {
	sqltest.Each(t, "txnMode=pessimistic&lockWaitTimeout=5s", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		key := p + "k"
		sqltest.Exec(t, db, "PUT ? ?", key, "0")
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, holder, "LOCK ?", key)
		waiter, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := waiter.ExecContext(ctx, "LOCK ? NOWAIT", key); !errors.Is(err, kv.ErrLockNoWait) {
			t.Errorf("NOWAIT: %v", err)
		}
		start := time.Now()
		if _, err := waiter.ExecContext(ctx, "LOCK ? WAIT ?", key, 200*time.Millisecond); !errors.Is(err, kv.ErrLockWaitTimeout) {
			t.Errorf("WAIT 200ms: %v", err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("WAIT returned after %v", d)
		}
		done := make(chan error, 1)
		go func() {
			_, err := waiter.ExecContext(ctx, "LOCK ?", key)
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		sqltest.Exec(t, holder, "PUT ? ?", key, "1")
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("LOCK after the holder committed: %v", err)
		}
		// Under its lock the waiter reads the latest value (FOR UPDATE).
		if got := sqltest.QueryFlat(t, waiter, "SELECT v FROM kv WHERE k = ? FOR UPDATE", key); got != "1" {
			t.Errorf("FOR UPDATE read %q, want 1", got)
		}
		sqltest.Exec(t, waiter, "PUT ? ?", key, "2")
		if err := waiter.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := sqltest.QueryFlat(t, db, "SELECT v FROM kv WHERE k = ?", key); got != "2" {
			t.Errorf("final %q", got)
		}
	})
}

// Read committed sees commits made during the transaction; snapshot isolation does not.
func TestReadCommitted(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		key := p + "k"
		sqltest.Exec(t, db, "PUT ? ?", key, "1")
		rc, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Rollback()
		si, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer si.Rollback()
		if a, b := sqltest.QueryFlat(t, rc, "SELECT v FROM kv WHERE k = ?", key), sqltest.QueryFlat(t, si, "SELECT v FROM kv WHERE k = ?", key); a != "1" || b != "1" {
			t.Fatalf("first reads %q %q", a, b)
		}
		sqltest.Exec(t, db, "PUT ? ?", key, "2")
		if got := sqltest.QueryFlat(t, rc, "SELECT v FROM kv WHERE k = ?", key); got != "2" {
			t.Errorf("read committed sees %q, want 2", got)
		}
		if got := sqltest.QueryFlat(t, si, "SELECT v FROM kv WHERE k = ?", key); got != "1" {
			t.Errorf("snapshot sees %q, want 1", got)
		}
		// An explicit pessimistic mode works too; optimistic read committed does not exist.
		pctx := conn.WithTxnOptions(ctx, conn.TxnOptions{Mode: stmt.TxnPessimistic})
		tx, err := db.BeginTx(pctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !isPessimisticLockable(t, tx, key) {
			t.Error("pessimistic transaction could not lock")
		}
		_ = tx.Rollback()
	})
}

func isPessimisticLockable(t *testing.T, tx *sql.Tx, key string) bool {
	_, err := tx.ExecContext(sqltest.Ctx(t), "LOCK ? NOWAIT", key)
	return err == nil
}

// The commit protocols chosen by the DSN (async commit, 1PC) and follower reads commit
// and read correctly through the driver; kv/txn's tests observe the RPCs themselves.
func TestProtocolsAndReplicaRead(t *testing.T) {
	for _, params := range []string{"asyncCommit=true", "onePC=true", "asyncCommit=true&onePC=true", "replicaRead=follower", "replicaRead=mixed"} {
		t.Run(params, func(t *testing.T) {
			sqltest.Each(t, params, func(t *testing.T, db *sql.DB, p string) {
				ctx := sqltest.Ctx(t)
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				sqltest.Exec(t, tx, "BATCH PUT (?, ?), (?, ?)", p+"a", "1", p+"b", "2")
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				if got := sqltest.QueryFlat(t, db, "SCAN PREFIX ?", p); got != p+"a=1,"+p+"b=2" {
					t.Errorf("scan = %s", got)
				}
			})
		})
	}
}

// pipelined=true: an explicit transaction flushes as it goes and commits; its reads see
// its own writes; LOCK is refused (pipelined transactions take no pessimistic locks).
func TestPipelinedTransactions(t *testing.T) {
	sqltest.Each(t, "pipelined=true", func(t *testing.T, db *sql.DB, p string) {
		ctx := sqltest.Ctx(t)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			sqltest.Exec(t, tx, "PUT ? ?", fmt.Sprintf("%s%03d", p, i), "v")
		}
		if got := sqltest.QueryFlat(t, tx, "GET ?", p+"007"); got != p+"007=v" {
			t.Errorf("read own write: %q", got)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := sqltest.QueryFlat(t, db, "SELECT count(*) FROM kv WHERE k LIKE ?", p+"%"); got != "50" {
			t.Errorf("count after commit = %s", got)
		}
		// Statements outside a transaction stay ordinary.
		sqltest.Exec(t, db, "PUT ? ?", p+"x", "1")
	})
}

// A pessimistic transaction whose context is cancelled is rolled back by database/sql
// and its locks are released: another transaction locks the key at once (NOWAIT).
func TestCancelledPessimisticTxnReleasesLocks(t *testing.T) {
	sqltest.Each(t, "txnMode=pessimistic", func(t *testing.T, db *sql.DB, p string) {
		key := p + "k"
		sqltest.Exec(t, db, "PUT ? ?", key, "0")
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Exec(t, tx, "LOCK ?", key)
		cancel()
		if err := tx.Commit(); err == nil {
			t.Fatal("commit after cancel succeeded")
		}
		// database/sql rolls back a cancelled transaction on its own goroutine, so the
		// release may trail the failed Commit a little; it must come, and soon.
		deadline := time.Now().Add(5 * time.Second)
		for {
			other, err := db.BeginTx(sqltest.Ctx(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = other.ExecContext(sqltest.Ctx(t), "LOCK ? NOWAIT", key)
			_ = other.Rollback()
			if err == nil {
				break
			}
			if !errors.Is(err, kv.ErrLockNoWait) || time.Now().After(deadline) {
				t.Fatalf("the cancelled transaction's lock is still held: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
