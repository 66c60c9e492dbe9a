package txn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/memcluster"
)

// crashed describes an abandoned transaction written with raw RPCs.
type crashed struct {
	primary   string
	ttl       uint64 // ms
	async     bool
	txnSize   uint64
	op        kvrpcpb.Op // default Put
	skipAsync []string   // keys prewritten without async commit
}

// rawPrewrite prewrites the pairs as transaction startTS through the cluster's Sender,
// one request per key, and abandons it: a writer that crashed after prewrite.
func rawPrewrite(t testing.TB, c *Client, startTS uint64, w crashed, kvs ...string) {
	t.Helper()
	ctx := testCtx(t)
	cd := c.Cluster().Codec()
	var secondaries [][]byte
	for i := 0; i+1 < len(kvs); i += 2 {
		if kvs[i] != w.primary {
			secondaries = append(secondaries, cd.EncodeKey([]byte(kvs[i])))
		}
	}
	size := w.txnSize
	if size == 0 {
		size = uint64(len(kvs) / 2)
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		k, v := kvs[i], kvs[i+1]
		op := w.op
		if op == kvrpcpb.Op_Put && v == "" {
			op = kvrpcpb.Op_Del
		}
		req := &kvrpcpb.PrewriteRequest{Context: &kvrpcpb.Context{},
			Mutations:   []*kvrpcpb.Mutation{{Op: op, Key: cd.EncodeKey([]byte(k)), Value: []byte(v)}},
			PrimaryLock: cd.EncodeKey([]byte(w.primary)), StartVersion: startTS, LockTtl: w.ttl, TxnSize: size,
			MinCommitTs: startTS + 1}
		if w.async && !slices.Contains(w.skipAsync, k) {
			req.UseAsyncCommit = true
			if k == w.primary {
				req.Secondaries = secondaries
			}
		}
		resp, err := region.Send[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse](ctx, c.Cluster().Sender(), []byte(k), req, nil)
		if err != nil || len(resp.GetErrors()) > 0 {
			t.Fatalf("raw prewrite %s: %v %v", k, err, resp.GetErrors())
		}
	}
}

// rawCommit commits keys of transaction startTS at commitTS.
func rawCommit(t testing.TB, c *Client, startTS, commitTS uint64, keys ...string) {
	t.Helper()
	ctx := testCtx(t)
	for _, k := range keys {
		req := &kvrpcpb.CommitRequest{Context: &kvrpcpb.Context{}, StartVersion: startTS, CommitVersion: commitTS,
			Keys: [][]byte{c.Cluster().Codec().EncodeKey([]byte(k))}}
		resp, err := region.Send[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse](ctx, c.Cluster().Sender(), []byte(k), req, nil)
		if err != nil || resp.GetError() != nil {
			t.Fatalf("raw commit %s: %v %v", k, err, resp.GetError())
		}
	}
}

// rawLocked reports whether key holds a lock visible to a read at the latest ts.
func rawLocked(t testing.TB, c *Client, key string) bool {
	t.Helper()
	ctx := testCtx(t)
	ts, _ := c.CurrentTS(ctx)
	req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: c.Cluster().Codec().EncodeKey([]byte(key)), Version: ts}
	resp, err := region.Send[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, c.Cluster().Sender(), []byte(key), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetError().GetLocked() != nil
}

func ts(t testing.TB, c *Client) uint64 {
	t.Helper()
	v, err := c.CurrentTS(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// countRPC counts requests of method on a memcluster target.
func countRPC(tg testcluster.Target, method string, n *atomic.Int64) {
	if tg.Mem == nil {
		return
	}
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if r.Method == method {
			n.Add(1)
		}
		return nil
	})
}

// A writer that crashed after committing its primary: readers commit its secondaries
// (both the point-get and the scan path) and see its values.
func TestResolveCommittedWriter(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "a", ttl: 20000}, p+"a", "A", p+"b", "B", p+"z", "Z")
		commitTS := ts(t, c)
		rawCommit(t, c, start, commitTS, p+"a")
		snap := c.Snapshot(ts(t, c))
		if v, err := snap.Get(ctx, []byte(p+"b")); err != nil || string(v) != "B" {
			t.Fatalf("get b = %q %v", v, err)
		}
		waitUnlocked(t, c, p+"b") // the read cleans up in the background (TXN-16)
		got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
		if err != nil || !slices.Equal(keysOf(got), []string{p + "a", p + "b", p + "z"}) || string(got[2].Value) != "Z" {
			t.Fatalf("scan = %v %v", keysOf(got), err)
		}
		st, ok := c.resolver.cached(start)
		if !ok || st.commitTS != commitTS {
			t.Fatalf("status cache: %+v %v", st, ok)
		}
	})
}

// ports client-go integration_tests/lock_test.go TestCleanLock: a crashed writer's
// expired locks are rolled back by a reader and by a writer of the same keys.
func TestResolveExpiredWriter(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		put(t, c, p+"b", "old")
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "a", ttl: 1}, p+"a", "A", p+"b", "B", p+"c", "C")
		pastTTL()
		snap := c.Snapshot(ts(t, c))
		if v, err := snap.Get(ctx, []byte(p+"b")); err != nil || string(v) != "old" {
			t.Fatalf("get b = %q %v", v, err)
		}
		if m, err := snap.BatchGet(ctx, [][]byte{[]byte(p + "a"), []byte(p + "c")}); err != nil || len(m) != 0 {
			t.Fatalf("batch get = %v %v", m, err)
		}
		// A writer resolves the remaining lock on c while prewriting.
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"c", "mine")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"c") != "mine" || get(t, c, p+"a") != "" {
			t.Fatal("state after clean")
		}
		if st, ok := c.resolver.cached(start); !ok || st.committed() {
			t.Fatalf("rolled-back status cached: %+v %v", st, ok)
		}
	})
}

// ports client-go integration_tests/lock_test.go TestScanLockResolveWithGet, WithSeek,
// WithSeekKeyOnly and WithBatchGet: reads over committed, rolled back and live locks
// return the committed data; live locks are pushed, not waited for.
func TestReadsOverLocks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		var all []string
		var keys [][]byte
		for ch := byte('a'); ch <= 'z'; ch++ {
			all = append(all, p+string(ch), string(ch))
			keys = append(keys, []byte(p+string(ch)))
		}
		put(t, c, all...)
		lockKey := func(key, val, primary, pval string, ttl uint64, commit bool) {
			start := ts(t, c)
			rawPrewrite(t, c, start, crashed{primary: primary, ttl: ttl}, primary, pval, key, val)
			if commit {
				rawCommit(t, c, start, ts(t, c), primary)
			}
		}
		lockKey(p+"c", "cc", p+"z1", "z1", 3000, true)
		lockKey(p+"d", "dd", p+"z2", "z2", 20000, false)
		lockKey(p+"e", "", p+"z3", "z3", 20000, false) // a live delete
		begin := time.Now()
		tx, _ := c.Begin(ctx)
		for ch := byte('a'); ch <= 'z'; ch++ {
			want := string(ch)
			if ch == 'c' {
				want = "cc"
			}
			if v, err := tx.Get(ctx, []byte(p+string(ch))); err != nil || string(v) != want {
				t.Fatalf("get %c = %q %v", ch, v, err)
			}
		}
		for _, opt := range [][]IterOption{nil, {KeyOnly()}, {Reverse()}, {BatchSize(3)}} {
			tx2, _ := c.Begin(ctx)
			got, err := tx2.Scan(ctx, []byte(p+"a"), []byte(p+"z\x00"), 0, opt...)
			if err != nil || len(got) != 26 {
				t.Fatalf("scan %d: %v %v", len(opt), keysOf(got), err)
			}
		}
		tx3, _ := c.Begin(ctx)
		m, err := tx3.BatchGet(ctx, keys)
		if err != nil || len(m) != 26 || string(m[p+"c"]) != "cc" || string(m[p+"d"]) != "d" {
			t.Fatalf("batch get: %d %v", len(m), err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Fatalf("reads waited %v for live locks", d)
		}
		if len(tx.snap.resolved) == 0 || len(tx.snap.committed) == 0 {
			t.Fatalf("lock lists: resolved %v committed %v", tx.snap.resolved, tx.snap.committed)
		}
	})
}

// A live lock on the write path is waited for until its TTL runs out, then rolled back.
func TestWriterWaitsForLiveLock(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		rawPrewrite(t, c, ts(t, c), crashed{primary: p + "k", ttl: 300}, p+"k", "crashed")
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"k", "mine")
		begin := time.Now()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Since(begin) < 100*time.Millisecond {
			t.Fatalf("commit did not wait for the live lock (%v)", time.Since(begin))
		}
		if get(t, c, p+"k") != "mine" {
			t.Fatal("value")
		}
		// A lock that outlives the caller's budget: ctx ends the wait.
		rawPrewrite(t, c, ts(t, c), crashed{primary: p + "k", ttl: 20000}, p+"k", "crashed")
		tx, _ = c.Begin(ctx)
		mustSet(t, tx, p+"k", "late")
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := tx.Commit(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit over a live lock: %v", err)
		}
	})
}

// ports client-go integration_tests/lock_test.go TestCheckTxnStatusNoWait: a secondary
// whose primary was never prewritten is TxnNotFound; while the lock lives the resolver
// backs off, after it the primary is rolled back (LockNotExistRollback).
func TestTxnNotFound(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		var notFound atomic.Int64
		countRPC(tg, "KvCheckTxnStatus", &notFound)
		rawPrewrite(t, c, ts(t, c), crashed{primary: p + "never", ttl: 400}, p+"s", "S")
		short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		snap := c.Snapshot(ts(t, c))
		if _, err := snap.Get(short, []byte(p+"s")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("get over a live orphan lock: %v", err)
		}
		if tg.Mem != nil && notFound.Load() < 2 {
			t.Fatalf("CheckTxnStatus calls = %d, want retries", notFound.Load())
		}
		// Once the lock's TTL has passed, the missing primary is rolled back.
		time.Sleep(400 * time.Millisecond)
		if _, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"s")); !isNotFound(err) {
			t.Fatalf("get after expiry: %v", err)
		}
		l := kv.Lock{Key: []byte(p + "s2"), Primary: []byte(p + "never2"), StartTS: ts(t, c), TTL: 1}
		pastTTL()
		ts(t, c) // the client judges expiry by the last timestamp it saw
		st, err := c.resolver.statusFromLock(ctx, c.newBackoffer(time.Second), l, 0, false)
		if err != nil || st.ttl != 0 || st.commitTS != 0 || st.action != kvrpcpb.Action_LockNotExistRollback {
			t.Fatalf("status = %+v %v", st, err)
		}
	})
}

// ports client-go integration_tests/lock_test.go TestCheckTxnStatus and TestGetTxnStatus:
// each CheckTxnStatus outcome as the resolver sees it.
func TestCheckTxnStatusOutcomes(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		bo := c.newBackoffer(10 * time.Second)
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "key", ttl: 20000}, p+"key", "v", p+"second", "x")
		caller := ts(t, c)
		l := kv.Lock{Key: []byte(p + "second"), Primary: []byte(p + "key"), StartTS: start, TTL: 20000, TxnSize: 2}
		// Alive: the caller's read pushes min commit ts.
		st, err := c.resolver.checkTxnStatus(ctx, bo, l, caller, caller, true, false)
		if err != nil || st.committed() || st.ttl == 0 || st.action != kvrpcpb.Action_MinCommitTSPushed {
			t.Fatalf("alive: %+v %v", st, err)
		}
		res, err := c.resolver.resolve(ctx, bo, 0, []kv.Lock{l}, false)
		if err != nil || res.msBeforeExpired <= 0 {
			t.Fatalf("writer over a live lock: %+v %v", res, err)
		}
		// TTL 0 means resolve unconditionally: rolled back.
		l.TTL = 0
		res, err = c.resolver.resolve(ctx, bo, 0, []kv.Lock{l}, false)
		if err != nil || res.msBeforeExpired != 0 {
			t.Fatalf("forced: %+v %v", res, err)
		}
		st, err = c.resolver.checkTxnStatus(ctx, bo, l, 0, ts(t, c), true, false)
		if err != nil || st.ttl != 0 || st.commitTS != 0 || st.action != kvrpcpb.Action_NoAction {
			t.Fatalf("rolled back: %+v %v", st, err)
		}
		if rawLocked(t, c, p+"second") {
			t.Fatal("secondary still locked")
		}
		// Committed.
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"a", "a")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		st, err = c.resolver.checkTxnStatus(ctx, bo, kv.Lock{Primary: []byte(p + "a"), StartTS: tx.StartTS()}, 0, ts(t, c), true, false)
		if err != nil || !st.committed() || st.commitTS != tx.CommitTS() {
			t.Fatalf("committed: %+v %v", st, err)
		}
		// The key named as primary is a secondary of that transaction.
		start = ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "p", ttl: 20000}, p+"p", "v", p+"q", "v")
		st, err = c.resolver.checkTxnStatus(ctx, bo, kv.Lock{Primary: []byte(p + "q"), StartTS: start}, 0, ts(t, c), false, false)
		if err != nil || !st.mismatch || st.decided() {
			t.Fatalf("primary mismatch: %+v %v", st, err)
		}
		// TxnNotFound surfaces to statusFromLock's loop.
		_, err = c.resolver.checkTxnStatus(ctx, bo, kv.Lock{Primary: []byte(p + "nothing"), StartTS: ts(t, c)}, 0, ts(t, c), false, false)
		var nf *txnNotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("not found: %v", err)
		}
	})
}

// Async-commit locks are decided from all secondaries: committed at the largest min
// commit ts when every key is locked, rolled back when one is missing, and resolved
// through force-sync-commit when a secondary was not prewritten with async commit.
func TestResolveAsyncCommitLocks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		var checks atomic.Int64
		countRPC(tg, "KvCheckSecondaryLocks", &checks)

		// All keys locked: committed.
		start := ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "a", ttl: 1, async: true}, p+"a", "A", p+"b", "B", p+"y", "Y")
		pastTTL()
		got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
		if err != nil || !slices.Equal(keysOf(got), []string{p + "a", p + "b", p + "y"}) {
			t.Fatalf("committed async txn: %v %v", keysOf(got), err)
		}
		if tg.Mem != nil && checks.Load() == 0 {
			t.Fatal("no CheckSecondaryLocks")
		}
		if st, ok := c.resolver.cached(start); !ok || !st.committed() {
			t.Fatalf("status %+v %v", st, ok)
		}
		for _, k := range []string{"a", "b", "y"} {
			if rawLocked(t, c, p+k) {
				t.Fatalf("%s still locked", k)
			}
		}

		// A secondary never prewritten: rolled back.
		start = ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "c", ttl: 1, async: true}, p+"c", "C", p+"d", "D", p+"z", "")
		rawRollback(t, c, start, p+"z")
		pastTTL()
		if v, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"d")); !isNotFound(err) {
			t.Fatalf("rolled back async txn: %q %v", v, err)
		}

		// A secondary without async commit: force-sync-commit path (expired ⇒ rollback).
		start = ts(t, c)
		rawPrewrite(t, c, start, crashed{primary: p + "e", ttl: 1, async: true, skipAsync: []string{p + "f"}},
			p+"e", "E", p+"f", "F")
		pastTTL()
		if _, err := c.Snapshot(ts(t, c)).Get(ctx, []byte(p+"f")); !isNotFound(err) {
			t.Fatalf("fallen-back async txn: %v", err)
		}
		if rawLocked(t, c, p+"e") {
			t.Fatal("primary still locked")
		}

		// Alive async-commit lock: the reader waits within its budget.
		rawPrewrite(t, c, ts(t, c), crashed{primary: p + "g", ttl: 20000, async: true}, p+"g", "G")
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := c.Snapshot(ts(t, c)).Get(short, []byte(p+"g")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("live async lock: %v", err)
		}
	})
}

// rawRollback rolls back keys of transaction startTS.
func rawRollback(t testing.TB, c *Client, startTS uint64, keys ...string) {
	t.Helper()
	for _, k := range keys {
		req := &kvrpcpb.BatchRollbackRequest{Context: &kvrpcpb.Context{}, StartVersion: startTS,
			Keys: [][]byte{c.Cluster().Codec().EncodeKey([]byte(k))}}
		resp, err := region.Send[*kvrpcpb.BatchRollbackRequest, *kvrpcpb.BatchRollbackResponse](testCtx(t), c.Cluster().Sender(), []byte(k), req, nil)
		if err != nil || resp.GetError() != nil {
			t.Fatalf("raw rollback %s: %v %v", k, err, resp.GetError())
		}
	}
}

// Locks of large transactions are resolved region-wide with one ResolveLock per region;
// small ones key by key, never for the primary (SB-11).
func TestResolveLiteAndRegion(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	var region, lite, liteKeys atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		if req, ok := r.Body.(*kvrpcpb.ResolveLockRequest); ok {
			if len(req.Keys) == 0 {
				region.Add(1)
			} else {
				lite.Add(1)
				liteKeys.Add(int64(len(req.Keys)))
			}
		}
		return nil
	})
	start := ts(t, c)
	rawPrewrite(t, c, start, crashed{primary: p + "a", ttl: 1, txnSize: 1000}, p+"a", "A", p+"b", "B", p+"c", "C", p+"d", "D")
	pastTTL()
	got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), nil, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("scan %v %v", keysOf(got), err)
	}
	// Reads leave the cleanup to the background (TXN-16): wait for it.
	settle := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: region resolves %d, lite %d with %d keys", what, region.Load(), lite.Load(), liteKeys.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	settle("scan", func() bool { return region.Load() >= 1 })
	if region.Load() != 1 || lite.Load() != 0 {
		t.Fatalf("region resolves %d, lite %d", region.Load(), lite.Load())
	}
	start = ts(t, c)
	rawPrewrite(t, c, start, crashed{primary: p + "e", ttl: 1}, p+"e", "E", p+"f", "F", p+"g", "G", p+"h", "H")
	pastTTL()
	if m, err := c.Snapshot(ts(t, c)).BatchGet(ctx, [][]byte{[]byte(p + "e"), []byte(p + "f"), []byte(p + "g"), []byte(p + "h")}); err != nil || len(m) != 0 {
		t.Fatal(m, err)
	}
	// One batched lite ResolveLock for f, g and h; none for the primary.
	settle("batch get", func() bool { return liteKeys.Load() >= 3 })
	if lite.Load() != 1 || region.Load() != 1 || liteKeys.Load() != 3 {
		t.Fatalf("lite resolves %d with %d keys, region %d", lite.Load(), liteKeys.Load(), region.Load())
	}
	// Two large transactions with locks in one region: each gets its region-wide resolve.
	s1, s2 := ts(t, c), ts(t, c)+1
	rawPrewrite(t, c, s1, crashed{primary: p + "i", ttl: 1, txnSize: 1000}, p+"i", "I", p+"j", "J")
	rawPrewrite(t, c, s2, crashed{primary: p + "k", ttl: 1, txnSize: 1000}, p+"k", "K", p+"l", "L")
	pastTTL()
	got, err = c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), nil, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("scan %v %v", keysOf(got), err)
	}
	settle("second scan", func() bool { return region.Load() >= 3 })
	if region.Load() != 3 {
		t.Fatalf("region resolves %d, want 3", region.Load())
	}
}

// A pessimistic lock met by a prewrite is rolled back with PessimisticRollback once its
// TTL expired.
func TestResolvePessimisticLock(t *testing.T) {
	each(t, resolvePessimisticLockBody)
}

func resolvePessimisticLockBody(t *testing.T, tg testcluster.Target) {
	{
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		var prb atomic.Int64
		countRPC(tg, "KVPessimisticRollback", &prb)
		start := ts(t, c)
		cd := c.Cluster().Codec()
		req := &kvrpcpb.PessimisticLockRequest{Context: &kvrpcpb.Context{},
			Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: cd.EncodeKey([]byte(p + "k"))}},
			PrimaryLock: cd.EncodeKey([]byte(p + "k")), StartVersion: start, ForUpdateTs: start, LockTtl: 1,
			IsFirstLock: true, WaitTimeout: -1}
		resp, err := region.Send[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse](ctx, c.Cluster().Sender(), []byte(p+"k"), req, nil)
		if err != nil || len(resp.GetErrors()) > 0 {
			t.Fatalf("pessimistic lock: %v %v", err, resp.GetErrors())
		}
		pastTTL()
		tx, _ := c.Begin(ctx)
		mustSet(t, tx, p+"k", "v")
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if get(t, c, p+"k") != "v" {
			t.Fatal("value")
		}
		if tg.Mem != nil && prb.Load() == 0 {
			t.Fatal("no PessimisticRollback sent")
		}
	}
}

// The status cache keeps only decided statuses and evicts the oldest beyond its size.
func TestStatusCache(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.StatusCacheSize = 2 })
	r := c.resolver
	r.remember(1, txnStatus{commitTS: 10})
	r.remember(2, txnStatus{ttl: 5}) // alive: not cached
	r.remember(3, txnStatus{action: kvrpcpb.Action_TTLExpireRollback})
	r.remember(4, txnStatus{action: kvrpcpb.Action_LockNotExistDoNothing}) // not final
	r.remember(5, txnStatus{mismatch: true})
	if _, ok := r.cached(2); ok {
		t.Fatal("alive cached")
	}
	if _, ok := r.cached(4); ok {
		t.Fatal("do-nothing cached")
	}
	r.remember(6, txnStatus{commitTS: 60})
	r.remember(6, txnStatus{commitTS: 61})
	if _, ok := r.cached(1); ok {
		t.Fatal("oldest not evicted")
	}
	for _, ts := range []uint64{3, 6} {
		if _, ok := r.cached(ts); !ok {
			t.Fatalf("%d evicted", ts)
		}
	}
	if st, _ := r.cached(6); st.commitTS != 60 {
		t.Fatal("re-remember replaced the status")
	}
}

// Resolution survives region errors on each of its RPCs: CheckTxnStatus, region-wide and
// lite ResolveLock, CheckSecondaryLocks and PessimisticRollback locate again and retry.
func TestResolveRetriesRegionErrors(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	seen := map[string]int{}
	var mu sync.Mutex
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch r.Method {
		case "KvCheckTxnStatus", "KvResolveLock", "KvCheckSecondaryLocks":
			mu.Lock()
			defer mu.Unlock()
			seen[r.Method]++
			if seen[r.Method]%2 == 1 {
				return &memcluster.Fault{RegionError: &errorpb.Error{Message: "moved",
					RegionNotFound: &errorpb.RegionNotFound{RegionId: r.Context.GetRegionId()}}}
			}
		}
		return nil
	})
	rawPrewrite(t, c, ts(t, c), crashed{primary: p + "a", ttl: 1, txnSize: 1000}, p+"a", "A", p+"b", "B")
	rawPrewrite(t, c, ts(t, c), crashed{primary: p + "c", ttl: 1}, p+"c", "C", p+"d", "D")
	rawPrewrite(t, c, ts(t, c), crashed{primary: p + "e", ttl: 1, async: true}, p+"e", "E", p+"f", "F")
	pastTTL()
	got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
	if err != nil || !slices.Equal(keysOf(got), []string{p + "e", p + "f"}) {
		t.Fatalf("scan %v %v", keysOf(got), err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range []string{"KvCheckTxnStatus", "KvResolveLock", "KvCheckSecondaryLocks"} {
		if seen[m] < 2 {
			t.Fatalf("%s seen %d times", m, seen[m])
		}
	}
}
