package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/driver"
	"github.com/tikvsql/tikvsql/dsn"
	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/kv"
)

// RunInTx with 64 pooled connections and 64 goroutines incrementing one counter: the
// total is exact.
func TestRunInTxContention(t *testing.T) {
	sqltest.Each(t, "", func(t *testing.T, db *sql.DB, p string) {
		db.SetMaxOpenConns(64)
		ctx := sqltest.Ctx(t)
		key := p + "counter"
		sqltest.Exec(t, db, "PUT ? ?", key, "0")
		const workers, each = 64, 3
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					err := driver.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
						var k, v []byte
						if err := tx.QueryRowContext(ctx, "GET ?", key).Scan(&k, &v); err != nil {
							return err
						}
						var n int
						fmt.Sscan(string(v), &n)
						_, err := tx.ExecContext(ctx, "PUT ? ?", key, fmt.Sprint(n+1))
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			failed++
			if !kv.IsRetryable(err) {
				t.Errorf("RunInTx: %v", err)
			}
		}
		var k, v []byte
		if err := db.QueryRowContext(ctx, "GET ?", key).Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		// Workers that ran out of attempts stop early; every success counted once.
		var n int
		fmt.Sscan(string(v), &n)
		if failed == 0 && n != workers*each {
			t.Errorf("counter = %d, want %d", n, workers*each)
		}
		if n > workers*each {
			t.Errorf("counter = %d exceeds the number of increments", n)
		}
	})
}

func TestConnectorAndDSN(t *testing.T) {
	// sql.Open parses the DSN at once (through OpenConnector): a typo is an error there.
	if _, err := sql.Open("tikv", "tikv://pd:2379?nope=1"); err == nil {
		t.Error("unknown parameter accepted")
	}
	for _, bad := range []string{"pipelined=true&txnMode=pessimistic", "mode=raw&replicaRead=follower"} {
		cfg, err := dsn.ParseDSN("memory://x?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := driver.NewConnector(cfg); !errors.Is(err, driver.ErrUnsupported) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	cfg, _ := dsn.ParseDSN("memory://" + sqltest.Name(t.Name()))
	db, err := driver.OpenDB(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := sqltest.Ctx(t)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	// Two databases on one memory name share the data.
	db2, _ := sql.Open("tikv", "memory://"+sqltest.Name(t.Name()))
	sqltest.Exec(t, db, "PUT ? ?", "shared", "yes")
	if got := sqltest.QueryFlat(t, db2, "GET ?", "shared"); got != "shared=yes" {
		t.Errorf("second db sees %q", got)
	}
	_ = db2.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "PUT ? ?", "a", "b"); err == nil {
		t.Error("exec after close succeeded")
	}
	// A memory keyspace (API v2).
	kdb, err := sql.Open("tikv", "memory://"+sqltest.Name(t.Name())+"ks/space1")
	if err != nil {
		t.Fatal(err)
	}
	sqltest.Exec(t, kdb, "PUT ? ?", "k", "in keyspace")
	if got := sqltest.QueryFlat(t, kdb, "GET ?", "k"); got != "k=in keyspace" {
		t.Errorf("keyspace read %q", got)
	}
	_ = kdb.Close()
}

func TestDriverOpen(t *testing.T) {
	d := &driver.Driver{}
	c, err := d.Open("memory://" + sqltest.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open("bogus://x"); err == nil {
		t.Error("bad DSN accepted")
	}
}

func TestConnectorOptions(t *testing.T) {
	cfg, err := dsn.ParseDSN("memory://" + sqltest.Name(t.Name()) + "?tls=mine")
	if err != nil {
		t.Fatal(err)
	}
	reg := &dsn.TLSRegistry{}
	c, err := driver.NewConnector(cfg, driver.WithLogger(zap.NewNop()), driver.WithTracer(nil), driver.WithTLSRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Driver().(*driver.Driver); !ok {
		t.Error("Driver()")
	}
	// tls=mine is not in the registry: Connect says so (and may be called again).
	if _, err := c.Connect(sqltest.Ctx(t)); !errors.Is(err, dsn.ErrTLSConfigNotFound) {
		t.Errorf("connect: %v", err)
	}
	_ = c.Close()
	if _, err := c.Connect(sqltest.Ctx(t)); err == nil {
		t.Error("connect after close")
	}
	if _, err := driver.NewConnector(nil); err == nil {
		t.Error("nil config accepted")
	}
	if _, err := driver.OpenDB(&dsn.Config{Backend: dsn.BackendTiKV}); err == nil {
		t.Error("config without PD accepted")
	}
}

func TestRunInTxErrors(t *testing.T) {
	db, err := sql.Open("tikv", "memory://"+sqltest.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := sqltest.Ctx(t)
	// A non-retryable error of fn is returned at once, after one run.
	boom := errors.New("boom")
	runs := 0
	err = driver.RunInTx(ctx, db, nil, func(context.Context, *sql.Tx) error { runs++; return boom })
	if !errors.Is(err, boom) || runs != 1 {
		t.Errorf("err = %v after %d runs", err, runs)
	}
	// A retryable one is retried until the attempts run out.
	runs = 0
	conflict := &kv.WriteConflictError{Key: kv.Key("k")}
	err = driver.RunInTx(ctx, db, nil, func(context.Context, *sql.Tx) error { runs++; return conflict })
	if !errors.As(err, new(*kv.WriteConflictError)) || runs != driver.RunInTxMaxAttempts {
		t.Errorf("err = %v after %d runs", err, runs)
	}
	// A cancelled ctx stops the retries.
	cctx, cancel := context.WithCancel(ctx)
	runs = 0
	err = driver.RunInTx(cctx, db, nil, func(context.Context, *sql.Tx) error { runs++; cancel(); return conflict })
	if !errors.Is(err, context.Canceled) || runs != 1 {
		t.Errorf("err = %v after %d runs", err, runs)
	}
	// Isolation errors from BeginTx are returned.
	if err := driver.RunInTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(context.Context, *sql.Tx) error { return nil }); err == nil {
		t.Error("serializable accepted")
	}
	// WithTxnOptions reaches BeginTx.
	octx := driver.WithTxnOptions(ctx, driver.TxnOptions{RequestSource: "x"})
	if err := driver.RunInTx(octx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "PUT 'k' 'v'")
		return err
	}); err != nil {
		t.Error(err)
	}
}
