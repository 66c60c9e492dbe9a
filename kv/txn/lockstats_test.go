package txn

import (
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/testcluster"
)

// LockOptions.Stats reports the keys, regions and requests of a lock call, the locks of
// other transactions it met and the rounds it repeated after a write conflict
// (client-go: LockCtx.Stats / util.LockKeysDetails, filled by txn.go lockKeys).
func TestLockStats(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")

		// Two keys in two regions, no contention.
		var st LockStats
		tx := beginPessimistic(t, c)
		if err := tx.LockKeysWithOptions(ctx, LockOptions{Stats: &st}, []byte(p+"a"), []byte(p+"z")); err != nil {
			t.Fatal(err)
		}
		if st.Keys != 2 || st.Requests != 2 || st.Retries != 0 || st.LocksMet != 0 || st.Total <= 0 {
			t.Fatalf("plain lock: %+v", st)
		}
		if tg.Mem != nil && st.Regions != 2 {
			t.Fatalf("plain lock regions: %+v", st)
		}
		// Keys already held are not sent again.
		if err := tx.LockKeysWithOptions(ctx, LockOptions{Stats: &st}, []byte(p+"a")); err != nil {
			t.Fatal(err)
		}
		if st.Keys != 0 || st.Requests != 0 {
			t.Fatalf("relock: %+v", st)
		}

		// An expired lock of a crashed writer is met and resolved.
		rawPrewrite(t, c, ts(t, c), crashed{primary: p + "b", ttl: 1}, p+"b", "x")
		pastTTL()
		tx2 := beginPessimistic(t, c)
		if err := tx2.LockKeysWithOptions(ctx, LockOptions{Stats: &st}, []byte(p+"b")); err != nil {
			t.Fatal(err)
		}
		if st.LocksMet < 1 || st.Requests < 2 || st.ResolveTime <= 0 {
			t.Fatalf("lock over a crashed writer: %+v", st)
		}

		// A holder that commits while we wait: TiKV answers the waiter with a write
		// conflict and the call repeats with a newer for-update ts.
		holder := beginPessimistic(t, c)
		if err := holder.LockKeys(ctx, []byte(p+"c")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, holder, p+"c", "h")
		done := make(chan error, 1)
		go func() {
			time.Sleep(50 * time.Millisecond)
			done <- holder.Commit(ctx)
		}()
		tx3 := beginPessimistic(t, c, WithLockWait(LockWait{Kind: LockWaitForever}))
		if err := tx3.LockKeysWithOptions(ctx, LockOptions{Stats: &st}, []byte(p+"c")); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st.Retries < 1 && st.ConflictTS == 0 {
			t.Fatalf("lock after a holder committed: no retry and no conflict ts: %+v", st)
		}
	})
}
