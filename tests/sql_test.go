package tests

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/tikvsql/tikvsql/driver"
	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/kv"
)

// The bank invariant through database/sql: 32 pooled sessions move money between
// accounts with RunInTx (SQL UPDATEs inside sql.Tx); the total never changes.
func TestSQLBank(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		db.SetMaxOpenConns(32)
		ctx := sqltest.Ctx(t)
		const accounts, initial = 10, 100
		acct := func(i int) string { return fmt.Sprintf("%sacct/%02d", p, i) }
		for i := range accounts {
			sqltest.Exec(t, db, "INSERT INTO kv (k, v) VALUES (?, ?)", acct(i), strconv.Itoa(initial))
		}
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 5 {
					from, to := (w+n)%accounts, (w*7+n+1)%accounts
					if from == to {
						continue
					}
					err := driver.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
						var fv, tv []byte
						if err := tx.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", acct(from)).Scan(&fv); err != nil {
							return err
						}
						if err := tx.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", acct(to)).Scan(&tv); err != nil {
							return err
						}
						f, _ := strconv.Atoi(string(fv))
						g, _ := strconv.Atoi(string(tv))
						if f == 0 {
							return nil
						}
						if _, err := tx.ExecContext(ctx, "UPDATE kv SET v = ? WHERE k = ?", strconv.Itoa(f-1), acct(from)); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, "UPDATE kv SET v = ? WHERE k = ?", strconv.Itoa(g+1), acct(to))
						return err
					})
					if err != nil && !kv.IsRetryable(err) {
						t.Errorf("transfer: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		sum := 0
		for _, row := range sqltest.Query(t, db, "SELECT v FROM kv WHERE k LIKE ?", p+"acct/%") {
			n, _ := strconv.Atoi(row[0])
			sum += n
		}
		if sum != accounts*initial {
			t.Fatalf("total = %d, want %d", sum, accounts*initial)
		}
	})
}
