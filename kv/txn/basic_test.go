package txn

import (
	"errors"
	"testing"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
)

func isNotFound(err error) bool { return errors.Is(err, kv.ErrNotFound) }

// ports client-go integration_tests/txn_test.go TestSetCommit-style round trip: commit,
// then read from a later snapshot and an older one.
func TestCommitAndRead(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		before, err := c.CurrentTS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cts := put(t, c, p+"a", "1", p+"b", "2")
		if cts <= before {
			t.Fatalf("commit ts %d <= %d", cts, before)
		}
		if got := get(t, c, p+"a"); got != "1" {
			t.Fatalf("a = %q", got)
		}
		old := c.Snapshot(before)
		if _, err := old.Get(ctx, []byte(p+"a")); !isNotFound(err) {
			t.Fatalf("old snapshot get: %v", err)
		}
		m, err := c.Snapshot(kv.MaxTS).BatchGet(ctx, [][]byte{[]byte(p + "a"), []byte(p + "b"), []byte(p + "c")})
		if err != nil || len(m) != 2 || string(m[p+"b"]) != "2" {
			t.Fatalf("batch get = %v, %v", m, err)
		}
	})
}
