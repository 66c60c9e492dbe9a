package conn_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/sqltest"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/memcluster"
)

// A commit whose answer never comes is kv.ErrUndetermined, not driver.ErrBadConn, and
// the statement is not executed again: database/sql re-runs a statement only on
// ErrBadConn, and the driver's own retry loop never retries an undetermined commit. With
// two-phase commit the lost answer is the primary's commit; with 1PC (the default) it is
// the prewrite that commits.
func TestUndeterminedCommitIsNotReExecuted(t *testing.T) {
	for _, tc := range []struct {
		params string
		drop   string // the request whose response is lost
	}{
		{"?asyncCommit=false&onePC=false", "commit"},
		{"", "prewrite"},
	} {
		t.Run(tc.drop, func(t *testing.T) {
			mc, db := memDB(t, tc.params)
			key := []byte("undetermined-key")
			var prewrites, commits atomic.Int32
			remove := mc.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
				switch b := r.Body.(type) {
				case *kvrpcpb.PrewriteRequest:
					for _, m := range b.Mutations {
						if bytes.Contains(m.Key, key) {
							prewrites.Add(1)
							if tc.drop == "prewrite" {
								return &memcluster.Fault{DropResponse: true}
							}
						}
					}
				case *kvrpcpb.CommitRequest:
					for _, k := range b.Keys {
						if bytes.Contains(k, key) {
							commits.Add(1)
							return &memcluster.Fault{DropResponse: true}
						}
					}
				}
				return nil
			})
			defer remove()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := db.ExecContext(ctx, "PUT ? ?", key, "v")
			if !errors.Is(err, kv.ErrUndetermined) || errors.Is(err, driver.ErrBadConn) || kv.IsRetryable(err) {
				t.Fatalf("err = %v, want kv.ErrUndetermined", err)
			}
			wantCommits := int32(1)
			if tc.drop == "prewrite" {
				wantCommits = 0
			}
			if p, c := prewrites.Load(), commits.Load(); p != 1 || c != wantCommits {
				t.Fatalf("prewrites = %d, commits = %d; want the statement executed once", p, c)
			}
		})
	}
}

// A session whose client is closed reports driver.ErrBadConn before sending anything.
func TestClosedSessionIsBadConn(t *testing.T) {
	db, err := sql.Open("tikv", "memory://"+sqltest.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := sqltest.Ctx(t)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	err = c.Raw(func(dc any) error {
		calls++
		cn := dc.(driver.Conn)
		if err := cn.Close(); err != nil {
			return err
		}
		if _, err := cn.(driver.ExecerContext).ExecContext(ctx, "PUT 'a' 'b'", nil); !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("exec on closed session: %v", err)
		}
		if _, err := cn.(driver.QueryerContext).QueryContext(ctx, "GET 'a'", nil); !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("query on closed session: %v", err)
		}
		if _, err := cn.Prepare("GET 'a'"); !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("prepare on closed session: %v", err)
		}
		//lint:ignore SA1019 the legacy entry point is part of the driver.Conn contract
		if _, err := cn.Begin(); !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("begin on closed session: %v", err)
		}
		if err := cn.(driver.Pinger).Ping(ctx); !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("ping on closed session: %v", err)
		}
		if cn.(driver.Validator).IsValid() {
			t.Error("closed session is valid")
		}
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatal(err)
	}
	_ = c.Close()
	_ = db.Close()
}
