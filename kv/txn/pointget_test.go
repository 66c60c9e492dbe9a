package txn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// readTap records the Context of every KvGet / KvBatchGet a client sends and can run a
// callback after a KvGet response, before the client sees it.
type readTap struct {
	mu     sync.Mutex
	gets   []*kvrpcpb.Context
	locked []bool                          // the answer to gets[i] reported a lock
	after  func(resp *kvrpcpb.GetResponse) // called without mu held
	zeroTS bool                            // drop commit ts from read responses
}

// answerLocked reports whether a read's answer reported a lock.
func answerLocked(resp any) bool {
	switch v := resp.(type) {
	case *kvrpcpb.GetResponse:
		return v.GetError().GetLocked() != nil
	case *kvrpcpb.BatchGetResponse:
		if v.GetError().GetLocked() != nil {
			return true
		}
		for _, p := range v.GetPairs() {
			if p.GetError().GetLocked() != nil {
				return true
			}
		}
	}
	return false
}

// lockedReads returns which recorded reads were answered with a lock.
func (r *readTap) lockedReads() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.locked...)
}

func (r *readTap) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "readTap", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			var rc *kvrpcpb.Context
			switch req := inv.Request.(type) {
			case *kvrpcpb.GetRequest:
				rc = req.GetContext()
			case *kvrpcpb.BatchGetRequest:
				rc = req.GetContext()
			}
			idx := -1
			if rc != nil {
				c := *rc
				r.mu.Lock()
				idx = len(r.gets)
				r.gets = append(r.gets, &c)
				r.locked = append(r.locked, false)
				r.mu.Unlock()
			}
			resp, err := next(ctx, inv)
			if err != nil {
				return resp, err
			}
			if idx >= 0 && answerLocked(resp) {
				r.mu.Lock()
				r.locked[idx] = true
				r.mu.Unlock()
			}
			r.mu.Lock()
			after, zero := r.after, r.zeroTS
			r.mu.Unlock()
			switch v := resp.(type) {
			case *kvrpcpb.GetResponse:
				if zero {
					v.CommitTs = 0
				}
				if after != nil && v.GetRegionError() == nil {
					after(v)
				}
			case *kvrpcpb.BatchGetResponse:
				for _, p := range v.GetPairs() {
					if zero {
						p.CommitTs = 0
					}
				}
			}
			return resp, err
		}
	}}
}

func (r *readTap) contexts() []*kvrpcpb.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.gets)
}

func (r *readTap) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets, r.locked = nil, nil
}

func openTap(t testing.TB, tg testcluster.Target, r *readTap, mod ...func(*Config)) *Client {
	return open(t, tg, append([]func(*Config){func(cfg *Config) {
		cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, r.interceptor())
	}}, mod...)...)
}

// TXN-20: a read at kv.MaxTS is blocked only by the first lock it meets. Here the first
// lock (transaction A) is resolved, and before the read retries another transaction (B)
// locks the key with a live async-commit lock, which a reader would have to wait for:
// the MaxTS read skips B's lock and returns the latest committed value. Follows
// client-go txnkv/txnsnapshot/snapshot.go get (firstLock).
func TestMaxTSReadBlockedByFirstLockOnly(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		tap := &readTap{}
		c := openTap(t, tg, tap)
		w := open(t, tg) // writes the locks, outside the tap
		p := prefix(t)
		k, pa := p+"k", p+"pa"
		put(t, w, k, "v0")
		startA := ts(t, w)
		rawPrewrite(t, w, startA, crashed{primary: pa, ttl: 20000}, pa, "a", k, "a")
		var startB uint64
		var once sync.Once
		tap.after = func(resp *kvrpcpb.GetResponse) {
			if resp.GetError().GetLocked().GetLockVersion() != startA {
				return
			}
			once.Do(func() {
				// A rolls back and B locks the key before the reader retries.
				rawRollback(t, w, startA, k, pa)
				startB = ts(t, w)
				rawPrewrite(t, w, startB, crashed{primary: k, ttl: 20000, async: true}, k, "b")
			})
		}
		ctx, cancel := context.WithTimeout(testCtx(t), 3*time.Second)
		defer cancel()
		snap := c.Snapshot(kv.MaxTS)
		v, err := snap.Get(ctx, []byte(k))
		if err != nil || string(v) != "v0" {
			t.Fatalf("MaxTS get = %q, %v; want v0 (B's lock skipped)", v, err)
		}
		if startB == 0 || !slices.Contains(snap.resolved, startB) {
			t.Fatalf("B (%d) not bypassed: resolved %v", startB, snap.resolved)
		}
		// A read at a normal ts still waits for B (here: until its ctx ends).
		tap.after = nil
		sctx, scancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
		defer scancel()
		if _, err := c.Snapshot(ts(t, c)).Get(sctx, []byte(k)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("normal read over a live async-commit lock: %v", err)
		}
		rawRollback(t, w, startB, k)
	})
}

// A stale read that meets a lock sends its later requests to the leader as normal reads
// (client-go: snapshot.go get, DisableStaleReadMeetLock; batchGetSingleRegion).
func TestStaleReadMeetingLockRetriesAsLeaderRead(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		tap := &readTap{}
		c := openTap(t, tg, tap)
		ctx := testCtx(t)
		p := prefix(t)
		k1, k2, pa, pb := p+"k1", p+"k2", p+"pa", p+"pb"
		put(t, c, k1, "v1", k2, "v2")
		rawPrewrite(t, c, ts(t, c), crashed{primary: pa, ttl: 1}, pa, "x", k1, "x")
		rawPrewrite(t, c, ts(t, c), crashed{primary: pb, ttl: 1}, pb, "x", k2, "x")
		pastTTL() // the locks expired: resolving rolls them back
		snap := c.Snapshot(ts(t, c), WithStaleRead())
		// The first read is stale; the region layer may try other replicas (a replica
		// whose safe ts is behind answers DataIsNotReady); once an answer reported the
		// lock, every later read is a leader read.
		check := func(what string) {
			t.Helper()
			cs, locked := tap.contexts(), tap.lockedReads()
			if len(cs) < 2 || !cs[0].StaleRead {
				t.Fatalf("%s: %d reads, first %+v", what, len(cs), cs[0])
			}
			first := slices.Index(locked, true)
			if first < 0 || first == len(cs)-1 {
				t.Fatalf("%s: no read after the lock (locked answers %v)", what, locked)
			}
			for _, rc := range cs[first+1:] {
				if rc.StaleRead || rc.ReplicaRead {
					t.Fatalf("%s: a read after the lock was not a leader read: %+v", what, rc)
				}
			}
		}
		tap.reset()
		if v, err := snap.Get(ctx, []byte(k1)); err != nil || string(v) != "v1" {
			t.Fatalf("stale get = %q, %v", v, err)
		}
		check("get")
		tap.reset()
		if m, err := snap.BatchGet(ctx, [][]byte{[]byte(k2)}); err != nil || string(m[k2]) != "v2" {
			t.Fatalf("stale batch get = %v, %v", m, err)
		}
		check("batch get")
		// Without a lock the stale read is served by its first attempt.
		tap.reset()
		if _, err := c.Snapshot(ts(t, c), WithStaleRead()).Get(ctx, []byte(k1)); err != nil {
			t.Fatal(err)
		}
		if cs := tap.contexts(); len(cs) == 0 || !cs[0].StaleRead {
			t.Fatalf("stale read contexts %+v", cs)
		}
		// The latest ts is never a stale-read ts; a transaction ignores the option.
		if _, err := c.Snapshot(kv.MaxTS, WithStaleRead()).Get(ctx, []byte(k1)); !errors.Is(err, kv.ErrInvalidReadTS) {
			t.Errorf("stale read at MaxTS: %v", err)
		}
		waitUnlocked(t, c, k1) // the stale reads cleaned k1's lock up in the background
		tx, err := c.Begin(ctx, WithStaleRead())
		if err != nil {
			t.Fatal(err)
		}
		tap.reset()
		if _, err := tx.Get(ctx, []byte(k1)); err != nil {
			t.Fatal(err)
		}
		if cs := tap.contexts(); len(cs) != 1 || cs[0].StaleRead {
			t.Errorf("transaction read with WithStaleRead: %+v", cs)
		}
	})
}
