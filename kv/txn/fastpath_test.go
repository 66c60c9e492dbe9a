// Tests of async commit and 1PC written on issue-7-txn against its own implementation
// (replaced by issue #8's when the branches merged), kept and adapted to the #8 API.

package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/memcluster"
)

// prewriteLog records the prewrite and commit requests a memcluster sees.
type prewriteLog struct {
	mu        sync.Mutex
	prewrites []*kvrpcpb.PrewriteRequest
	commits   int
}

func logPrewrites(tg testcluster.Target) *prewriteLog {
	l := &prewriteLog{}
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch req := r.Body.(type) {
		case *kvrpcpb.PrewriteRequest:
			l.prewrites = append(l.prewrites, req)
		case *kvrpcpb.CommitRequest:
			l.commits++
		}
		return nil
	})
	return l
}

// ports client-go integration_tests/1pc_test.go Test1PC and Test1PCIsolation: a
// single-region transaction commits in its prewrite; a multi-region one uses 2PC.
func TestOnePCMemHooks(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg, func(cfg *Config) { cfg.DisableAsyncCommit = true })
	ctx := testCtx(t)
	p := prefix(t)
	log := logPrewrites(tg)
	put(t, c, p+"k", "old")
	reader := c.Snapshot(ts(t, c))
	tx, _ := c.Begin(ctx)
	mustSet(t, tx, p+"a", "1", p+"k", "new")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	last := log.prewrites[len(log.prewrites)-1]
	commits := log.commits
	log.mu.Unlock()
	if !last.TryOnePc || last.MinCommitTs <= reader.TS() || last.MaxCommitTs <= last.MinCommitTs || commits != 0 {
		t.Fatalf("1PC prewrite %+v, commits %d", last, commits)
	}
	if tx.CommitTS() <= tx.StartTS() || get(t, c, p+"a") != "1" {
		t.Fatal("1PC commit")
	}
	if v, _ := reader.Get(ctx, []byte(p+"k")); string(v) != "old" {
		t.Fatal("isolation")
	}
	split(t, c, p+"m")
	tx, _ = c.Begin(ctx)
	mustSet(t, tx, p+"b", "1", p+"z", "2")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.commits == 0 || log.prewrites[len(log.prewrites)-1].TryOnePc {
		t.Fatal("multi-region transaction used 1PC")
	}
}

// ports client-go integration_tests/async_commit_test.go TestAsyncCommit: the primary
// carries the secondaries, the commit ts is the largest MinCommitTs, every key reads
// back, and the tracer names the protocol.
func TestAsyncCommitSecondaries(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	tr := &protoTracer{}
	c := open(t, tg, func(cfg *Config) { cfg.Tracer = tr })
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"m")
	log := logPrewrites(tg)
	tx, _ := c.Begin(ctx, WithAsyncCommit(true))
	mustSet(t, tx, p+"a", "1", p+"b", "2", p+"z", "3")
	_ = tx.Insert([]byte(p+"y"), []byte("4"))
	_ = tx.Delete([]byte(p + "y")) // CheckNotExists: no lock, not a secondary
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	var maxMin uint64
	for _, r := range log.prewrites {
		if !r.UseAsyncCommit {
			t.Fatalf("prewrite without async commit: %+v", r)
		}
		maxMin = max(maxMin, r.MinCommitTs)
		if string(c.decodeKey(r.Mutations[0].Key)) == p+"a" && len(r.Secondaries) != 2 {
			t.Fatalf("primary secondaries %d", len(r.Secondaries))
		}
	}
	log.mu.Unlock()
	if tx.CommitTS() < maxMin || tr.protocol.Load() != "async-commit" {
		t.Fatalf("commit ts %d, min commit ts %d, protocol %v", tx.CommitTS(), maxMin, tr.protocol.Load())
	}
	got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
	if err != nil || !slices.Equal(keysOf(got), []string{p + "a", p + "b", p + "z"}) {
		t.Fatalf("scan %v %v", keysOf(got), err)
	}
	// Too many keys: 2PC.
	tx, _ = c.Begin(ctx, WithAsyncCommit(true))
	for i := range DefaultAsyncCommitKeysLimit + 1 {
		mustSet(t, tx, p+"many"+string(rune('a'+i%26))+string(rune('a'+i/26)), "v")
	}
	if err := tx.Commit(ctx); err != nil || tr.protocol.Load() != "2pc" {
		t.Fatal(err, tr.protocol.Load())
	}
}

type protoTracer struct{ protocol atomic.Value }

func (p *protoTracer) TraceTxnStart(ctx context.Context, _ kv.TxnStart) context.Context { return ctx }
func (p *protoTracer) TraceTxnEnd(_ context.Context, ev kv.TxnEnd) {
	if ev.Committed {
		p.protocol.Store(ev.Protocol)
	}
}

// ports client-go integration_tests/async_commit_test.go TestCheckSecondaries: an
// async-commit writer that crashed after prewrite is committed by a reader from its
// secondaries, at the largest min commit ts.
func TestAsyncCommitCrashedWriter(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		tx, _ := c.Begin(ctx, WithAsyncCommit(true), WithLockTTL(time.Millisecond))
		mustSet(t, tx, p+"a", "1", p+"z", "2")
		cm := newCommitter(tx)
		cm.muts, cm.size = mutationsOf(tx.mem)
		cm.primary, cm.hasLocks, cm.ttl = cm.muts[0].key, true, 1
		if err := cm.chooseProtocol(ctx); err != nil || !cm.p.async {
			t.Fatal(err, cm.p.async)
		}
		if err := cm.prewrite(ctx); err != nil {
			t.Fatal(err)
		}
		pastTTL()
		got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
		if err != nil || len(got) != 2 {
			t.Fatalf("scan %v %v", keysOf(got), err)
		}
		st, ok := c.resolver.cached(tx.StartTS())
		if !ok || st.commitTS != cm.p.floor {
			t.Fatalf("resolved at %+v, prewrite said %d", st, cm.p.floor)
		}
	})
}

// A prewrite whose commit ts would exceed MaxCommitTs falls back to 2PC, for 1PC and
// for async commit (ports client-go integration_tests/1pc_test.go Test1PCFallback and
// async_commit_test.go's fallback cases): a read far ahead pushes TiKV's max read ts
// past the window.
func TestFastPathFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the TSO to pass a pushed timestamp")
	}
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	split(t, c, p+"m")
	log := logPrewrites(tg)
	ahead := kv.TSOf(time.Now().Add(2500 * time.Millisecond))
	req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: c.Cluster().Codec().EncodeKey([]byte(p + "a")), Version: ahead}
	if _, err := sendKey[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](ctx, c, c.newBackoffer(time.Second), []byte(p+"a"), req, nil); err != nil {
		t.Fatal(err)
	}
	one, _ := c.Begin(ctx, WithOnePC(true))
	mustSet(t, one, p+"a", "1")
	async, _ := c.Begin(ctx, WithAsyncCommit(true))
	mustSet(t, async, p+"b", "2", p+"z", "3")
	var wg sync.WaitGroup
	for _, tx := range []*Txn{one, async} {
		wg.Go(func() {
			if err := tx.Commit(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, tx := range []*Txn{one, async} {
		if tx.CommitTS() <= ahead {
			t.Fatalf("fallback commit ts %d, pushed %d", tx.CommitTS(), ahead)
		}
	}
	log.mu.Lock()
	commits := log.commits
	log.mu.Unlock()
	if commits < 3 || get(t, c, p+"a") != "1" || get(t, c, p+"z") != "3" {
		t.Fatalf("commits %d", commits)
	}
}

// An async-commit or 1PC prewrite whose answer is lost is undetermined: it may have
// committed (TXN-34); nothing is cleaned up.
func TestFastPathUndetermined(t *testing.T) {
	tg := testcluster.Memory(t, memclusterOpts())
	c := open(t, tg)
	ctx := testCtx(t)
	p := prefix(t)
	var rollbacks atomic.Int64
	tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		switch r.Method {
		case "KvPrewrite":
			return &memcluster.Fault{Err: status.Error(codes.Unavailable, "gone")}
		case "KvBatchRollback":
			rollbacks.Add(1)
		}
		return nil
	})
	for _, opt := range []TxnOption{WithAsyncCommit(true), WithOnePC(true)} {
		tx, _ := c.Begin(ctx, opt)
		mustSet(t, tx, p+"a", "1")
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := tx.Commit(short)
		cancel()
		if !kv.IsUndetermined(err) {
			t.Fatalf("commit: %v", err)
		}
	}
	if rollbacks.Load() != 0 {
		t.Fatal("undetermined commit cleaned up")
	}
}

// Async commit and 1PC transactions read back, on every target (conflicts included).
func TestFastPathRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg)
		ctx := testCtx(t)
		p := prefix(t)
		split(t, c, p+"m")
		for i, opt := range []TxnOption{WithAsyncCommit(true), WithOnePC(true)} {
			loser, _ := c.Begin(ctx, opt)
			tx, _ := c.Begin(ctx, opt)
			mustSet(t, tx, p+"a", fmt.Sprint(i), p+"z", fmt.Sprint(i))
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := c.Snapshot(ts(t, c)).Scan(ctx, []byte(p), kv.Key(p).PrefixNext(), 0)
			if err != nil || len(got) != 2 || string(got[1].Value) != fmt.Sprint(i) {
				t.Fatalf("scan %v %v", keysOf(got), err)
			}
			mustSet(t, loser, p+"a", "loser")
			var wc *kv.WriteConflictError
			if err := loser.Commit(ctx); !errors.As(err, &wc) {
				t.Fatalf("conflict: %v", err)
			}
		}
	})
}
