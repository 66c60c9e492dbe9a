package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/testcluster"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/memcluster"
)

// splitSpy records, in order, the SplitRegion, prewrite, pessimistic lock and flush
// requests TiKV applied (answers with a region error are left out), the regions each
// kind went to, and every SplitRegion attempt.
type splitSpy struct {
	mu        sync.Mutex
	events    []string // "split", "prewrite", "lock", "flush"
	splitKeys int      // split keys of applied SplitRegion requests
	attempts  int      // SplitRegion requests sent
	regions   map[string]map[uint64]bool
	most      map[string]int // most keys or mutations in one request of a kind
}

func (s *splitSpy) interceptor() rpc.Interceptor {
	return rpc.Interceptor{Name: "splitspy", Wrap: func(next rpc.Invoker) rpc.Invoker {
		return func(ctx context.Context, inv *rpc.Invocation) (any, error) {
			resp, err := next(ctx, inv)
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := inv.Request.(*kvrpcpb.SplitRegionRequest); ok {
				s.attempts++
			}
			if err != nil {
				return resp, err
			}
			if r, ok := resp.(interface{ GetRegionError() *errorpb.Error }); ok && r.GetRegionError() != nil {
				return resp, err
			}
			switch req := inv.Request.(type) {
			case *kvrpcpb.SplitRegionRequest:
				s.events = append(s.events, "split")
				s.splitKeys += len(req.GetSplitKeys())
			case *kvrpcpb.PrewriteRequest:
				s.note("prewrite", req.GetContext(), len(req.GetMutations()))
			case *kvrpcpb.PessimisticLockRequest:
				s.note("lock", req.GetContext(), len(req.GetMutations()))
			case *kvrpcpb.FlushRequest:
				s.note("flush", req.GetContext(), len(req.GetMutations()))
			}
			return resp, err
		}
	}}
}

func (s *splitSpy) note(kind string, rctx *kvrpcpb.Context, n int) {
	if s.regions == nil {
		s.regions, s.most = map[string]map[uint64]bool{}, map[string]int{}
	}
	if s.regions[kind] == nil {
		s.regions[kind] = map[uint64]bool{}
	}
	s.events = append(s.events, kind)
	s.regions[kind][rctx.GetRegionId()] = true
	s.most[kind] = max(s.most[kind], n)
}

// regionsOf returns the distinct regions requests of kind went to and the most keys one
// of them carried.
func (s *splitSpy) regionsOf(kind string) (regions, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.regions[kind]), s.most[kind]
}

// prewriteRegions is regionsOf("prewrite").
func (s *splitSpy) prewriteRegions() (regions, most int) { return s.regionsOf("prewrite") }

// splitsBefore reports whether every split came before the requests of kind, once the
// first skip events are left out.
func (s *splitSpy) splitsBefore(kind string, skip int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !strings.Contains(strings.Join(s.events[min(skip, len(s.events)):], ","), kind+",split")
}

func (s *splitSpy) counts() (splitKeys, attempts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.splitKeys, s.attempts
}

// lowPreSplit lowers the thresholds: regions that get 100 keys are cut every KiB.
func lowPreSplit(cfg *Config) {
	cfg.PreSplitDetectThreshold = 100
	cfg.PreSplitSizeThreshold = 1 << 10
}

// openSpy opens a client whose SplitRegion and prewrite requests s records.
func openSpy(t *testing.T, tg testcluster.Target, s *splitSpy, mod ...func(*Config)) *Client {
	return open(t, tg, append([]func(*Config){func(cfg *Config) {
		cfg.RPC.Interceptors = append(cfg.RPC.Interceptors, s.interceptor())
	}}, mod...)...)
}

// sizedPairs returns n keys under p with values that make every pair exactly size
// bytes of key plus value.
func sizedPairs(p string, n, size int) []string {
	kvs := make([]string, 0, 2*n)
	for i := range n {
		k := fmt.Sprintf("%s%05d", p, i)
		kvs = append(kvs, k, strings.Repeat("v", size-len(k)))
	}
	return kvs
}

// checkPairs reads the pairs under p back and compares them with kvs.
func checkPairs(t *testing.T, c *Client, p string, kvs []string) {
	t.Helper()
	ctx := testCtx(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tx.Scan(ctx, []byte(p), []byte(p+"\xff"), len(kvs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(kvs)/2 {
		t.Fatalf("read %d pairs back, want %d", len(got), len(kvs)/2)
	}
	for i, kv := range got {
		if string(kv.Key) != kvs[2*i] || string(kv.Value) != kvs[2*i+1] {
			t.Fatalf("pair %d: %q, want %q", i, kv.Key, kvs[2*i])
		}
	}
}

// client-go: integration_tests/ticlient_test.go TestSplitRegionIn2PC, optimistic mode
// (thresholds lowered through ConfigProbe; it checks the first and last keys end in
// different regions), with the rule of txnkv/transaction/2pc.go groupMutations /
// preSplitRegion checked exactly. A commit of 400 pairs of 128 bytes into one region, with the thresholds at 100
// mutations and 1 KiB, splits the region at every 8th key (50 split keys) before the
// first prewrite; prewrite then finds 51 regions of at most 8 mutations; the data is
// intact.
func TestPreSplitLargeCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		s := &splitSpy{}
		c := openSpy(t, tg, s, twoPhase, lowPreSplit)
		p := prefix(t)
		kvs := sizedPairs(p, 400, 128)
		if err := commitPairs(t, c, nil, kvs...); err != nil {
			t.Fatal(err)
		}
		checkPairs(t, c, p, kvs)
		keys, _ := s.counts()
		if !s.splitsBefore("prewrite", 0) {
			t.Error("a region was split after prewrite began")
		}
		regions, most := s.prewriteRegions()
		if tg.Mem == nil { // a real cluster may have split the prefix already
			t.Logf("%d split keys, prewrites in %d regions (at most %d mutations)", keys, regions, most)
			return
		}
		if keys != 50 {
			t.Errorf("%d split keys sent, want 50", keys)
		}
		if regions != 51 || most > 8 {
			t.Errorf("prewrites went to %d regions with up to %d mutations, want 51 regions of at most 8", regions, most)
		}
	})
}

// A split TiKV refuses (an injected RaftEntryTooLarge) is logged, and the commit goes
// on into the unsplit region.
func TestPreSplitFailureStillCommits(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs fault injection")
		}
		defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if r.Method != "SplitRegion" {
				return nil
			}
			return &memcluster.Fault{RegionError: &errorpb.Error{Message: "injected", RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}}
		})()
		s := &splitSpy{}
		c := openSpy(t, tg, s, twoPhase, lowPreSplit)
		p := prefix(t)
		kvs := sizedPairs(p, 400, 128)
		if err := commitPairs(t, c, nil, kvs...); err != nil {
			t.Fatal(err)
		}
		checkPairs(t, c, p, kvs)
		keys, attempts := s.counts()
		if attempts == 0 || keys != 0 {
			t.Errorf("%d SplitRegion attempts, %d split keys applied; want some attempts, none applied", attempts, keys)
		}
		if regions, _ := s.prewriteRegions(); regions != 1 {
			t.Errorf("prewrites went to %d regions, want 1", regions)
		}
	})
}

// Commits below the thresholds never split: fewer mutations than the threshold, the
// default thresholds, a negative threshold, and a commit that fits one prewrite
// request, which keeps 1PC.
func TestPreSplitSmallCommits(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		cases := []struct {
			name  string
			mod   []func(*Config)
			n     int
			size  int
			proto string
		}{
			{"under threshold", []func(*Config){twoPhase, lowPreSplit}, 99, 1 << 10, "2pc"},
			{"defaults", []func(*Config){twoPhase}, 400, 128, "2pc"},
			{"under size", []func(*Config){twoPhase, lowPreSplit, func(cfg *Config) { cfg.PreSplitSizeThreshold = 1 << 20 }}, 400, 128, "2pc"},
			{"disabled", []func(*Config){twoPhase, lowPreSplit, func(cfg *Config) { cfg.PreSplitDetectThreshold = -1 }}, 400, 128, "2pc"},
			{"one request", []func(*Config){lowPreSplit, func(cfg *Config) { cfg.DisableAsyncCommit = true }}, 120, 100, "1pc"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := &splitSpy{}
				w := &wire{}
				c := openSpy(t, tg, s, append([]func(*Config){func(cfg *Config) { cfg.Tracer = w }}, tc.mod...)...)
				p := prefix(t)
				kvs := sizedPairs(p, tc.n, tc.size)
				if err := commitPairs(t, c, nil, kvs...); err != nil {
					t.Fatal(err)
				}
				checkPairs(t, c, p, kvs)
				if _, attempts := s.counts(); attempts != 0 {
					t.Errorf("%d SplitRegion requests, want none", attempts)
				}
				if _, _, last := w.snapshot(); tg.Mem != nil && last.Protocol != tc.proto {
					t.Errorf("protocol %q, want %q", last.Protocol, tc.proto)
				}
			})
		}
	})
}

// The wait for the scatter is bounded by PreSplitScatterWait: PD reports the scatter of
// every new region running for ever, and the commit still succeeds once the wait ends.
func TestPreSplitScatterWaitBounded(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs a scatter that never ends")
		}
		// New regions take IDs above every ID in use: make them all scatter for ever.
		var top uint64
		for _, r := range tg.Mem.Regions() {
			top = max(top, r.Meta.GetId())
			for _, peer := range r.Meta.GetPeers() {
				top = max(top, peer.GetId())
			}
		}
		for id := top + 1; id <= top+1000; id++ {
			tg.Mem.SetScatterRunning(id, 1<<30)
		}
		const wait = 300 * time.Millisecond
		s := &splitSpy{}
		c := openSpy(t, tg, s, twoPhase, lowPreSplit, func(cfg *Config) { cfg.PreSplitScatterWait = wait })
		p := prefix(t)
		kvs := sizedPairs(p, 400, 128)
		start := time.Now()
		if err := commitPairs(t, c, nil, kvs...); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < wait {
			t.Errorf("commit took %v, expected it to wait %v for the scatter", took, wait)
		}
		checkPairs(t, c, p, kvs)
		if keys, _ := s.counts(); keys != 50 {
			t.Errorf("%d split keys, want 50", keys)
		}

		// Without that bound, the caller's ctx ends the wait, and the commit.
		s2 := &splitSpy{}
		c2 := openSpy(t, tg, s2, twoPhase, lowPreSplit)
		p2 := prefix(t)
		tx, err := c2.Begin(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, sizedPairs(p2, 400, 128)...)
		ctx, cancel := context.WithTimeout(testCtx(t), wait)
		defer cancel()
		if err := tx.Commit(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit: %v, want a deadline error", err)
		}
		if keys, _ := s2.counts(); keys != 50 {
			t.Errorf("%d split keys, want 50", keys)
		}
		if regions, _ := s2.prewriteRegions(); regions != 0 {
			t.Errorf("prewrites sent to %d regions, want none", regions)
		}
	})
}

// A ctx that has ended stops the pre-split before the keys are located (a fresh
// client's region cache must ask PD).
func TestPreSplitEndedContext(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		c := open(t, tg, lowPreSplit)
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		muts := make([]mutation, 200)
		for i := range muts {
			muts[i] = mutation{key: fmt.Appendf(nil, "%s%05d", prefix(t), i), value: make([]byte, 100)}
		}
		slices.Reverse(muts) // callers pass sorted keys, but the pre-split does not rely on it
		ids, err := preSplitItems(ctx, c, 1, muts, mutationKey, mutationSize)
		if !errors.Is(err, context.Canceled) || len(ids) != 0 {
			t.Fatalf("pre-split with an ended ctx: %v, %v", ids, err)
		}
	})
}

// The caller's ctx bounds the pre-split: a SplitRegion that outlasts it fails the
// commit with ctx's error, before anything is prewritten.
func TestPreSplitHonoursContext(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		if tg.Mem == nil {
			t.Skip("needs a slow SplitRegion")
		}
		defer tg.Mem.AddHook(func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
			if r.Method != "SplitRegion" {
				return nil
			}
			return &memcluster.Fault{Delay: time.Minute}
		})()
		s := &splitSpy{}
		c := openSpy(t, tg, s, twoPhase, lowPreSplit)
		p := prefix(t)
		kvs := sizedPairs(p, 400, 128)
		tx, err := c.Begin(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, tx, kvs...)
		ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
		defer cancel()
		if err := tx.Commit(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit: %v, want a deadline error", err)
		}
		if regions, _ := s.prewriteRegions(); regions != 0 {
			t.Errorf("prewrites sent to %d regions, want none", regions)
		}
		if v := get(t, c, kvs[0]); v != "" {
			t.Errorf("%s = %q after the failed commit", kvs[0], v)
		}

		// The same for a pessimistic lock request: no lock is taken after the primary's.
		ptx, err := c.Begin(testCtx(t), WithPessimistic())
		if err != nil {
			t.Fatal(err)
		}
		keys := make([][]byte, 400)
		for i := range keys {
			keys[i] = []byte(kvs[2*i])
		}
		lctx, lcancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
		defer lcancel()
		if err := ptx.LockKeys(lctx, keys...); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lock: %v, want a deadline error", err)
		}
		if regions, _ := s.regionsOf("lock"); regions != 1 {
			t.Errorf("locks sent to %d regions, want 1 (the primary's)", regions)
		}
		if err := ptx.Rollback(testCtx(t)); err != nil {
			t.Fatal(err)
		}

		// And for the final flush of a pipelined transaction: nothing is flushed.
		pl := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 1 << 20})
		mustSet(t, pl, kvs...)
		fctx, fcancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
		defer fcancel()
		if err := pl.Commit(fctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("pipelined commit: %v, want a deadline error", err)
		}
		if regions, _ := s.regionsOf("flush"); regions != 0 {
			t.Errorf("flushes sent to %d regions, want none", regions)
		}
	})
}

// client-go: integration_tests/ticlient_test.go TestSplitRegionIn2PC, pessimistic mode:
// the region is split by LockKeys already, before the commit (client-go pre-splits the
// region groups of every action, doActionOnMutations → groupMutations). Locking 400 keys of one region
// splits it every KiB of keys before the lock requests; the transaction then commits.
func TestPreSplitPessimisticLocks(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		s := &splitSpy{}
		c := openSpy(t, tg, s, twoPhase, lowPreSplit)
		p := prefix(t)
		const n = 400
		kvs := sizedPairs(p, n, 128)
		keys := make([][]byte, n)
		for i := range keys {
			keys[i] = []byte(kvs[2*i])
		}
		ctx := testCtx(t)
		tx, err := c.Begin(ctx, WithPessimistic())
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.LockKeys(ctx, keys...); err != nil {
			t.Fatal(err)
		}
		split, _ := s.counts()
		if !s.splitsBefore("lock", 1) { // the primary is locked alone first
			t.Error("a region was split after locking the other keys began")
		}
		regions, _ := s.regionsOf("lock")
		mustSet(t, tx, kvs...)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		checkPairs(t, c, p, kvs)
		if tg.Mem == nil {
			t.Logf("%d split keys, locks in %d regions", split, regions)
			return
		}
		// The primary is locked alone first; the other n-1 keys are split every
		// ceil(1 KiB / key length) keys.
		per := (1<<10 + len(kvs[0]) - 1) / len(kvs[0])
		if want := (n - 1) / per; split != want {
			t.Errorf("%d split keys, want %d", split, want)
		}
		if regions != split+1 {
			t.Errorf("locks went to %d regions, want %d", regions, split+1)
		}
		if after, _ := s.counts(); after != split {
			t.Errorf("commit split %d more keys, want none (the regions are small now)", after-split)
		}
	})
}

// client-go pre-splits pipelined flushes too (pipelined_flush.go doActionOnMutations →
// groupMutations): a flush of 400 pairs of 128 bytes into one region splits it at every
// 8th key before the first Flush request.
func TestPreSplitPipelinedFlush(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		s := &splitSpy{}
		c := openSpy(t, tg, s, lowPreSplit)
		p := prefix(t)
		kvs := sizedPairs(p, 400, 128)
		tx := beginPipelined(t, c, PipelinedOptions{MinFlushKeys: 400, MinFlushSize: 1, ForceFlushSize: 64 << 20, SyncResolve: true})
		mustSet(t, tx, kvs...)
		if err := tx.Commit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		checkPairs(t, c, p, kvs)
		split, _ := s.counts()
		if !s.splitsBefore("flush", 0) {
			t.Error("a region was split after flushing began")
		}
		regions, most := s.regionsOf("flush")
		if tg.Mem == nil {
			t.Logf("%d split keys, flushes in %d regions", split, regions)
			return
		}
		if split != 50 || regions != 51 || most > 8 {
			t.Errorf("%d split keys, flushes in %d regions of up to %d mutations; want 50, 51, 8", split, regions, most)
		}
	})
}

// Pre-split runs before the protocol choice, so async commit takes its timestamps after
// the split and commits across the new regions: 200 pairs of 128 bytes split at every
// 8th key (25 split keys) and commit with async commit.
func TestPreSplitAsyncCommit(t *testing.T) {
	each(t, func(t *testing.T, tg testcluster.Target) {
		s := &splitSpy{}
		w := &wire{}
		c := openSpy(t, tg, s, lowPreSplit, func(cfg *Config) {
			cfg.DisableOnePC = true
			cfg.AsyncCommitTotalKeySizeLimit = 1 << 20
			cfg.Tracer = w
		})
		p := prefix(t)
		kvs := sizedPairs(p, 200, 128)
		if err := commitPairs(t, c, nil, kvs...); err != nil {
			t.Fatal(err)
		}
		waitBackground(c)
		checkPairs(t, c, p, kvs)
		split, _ := s.counts()
		regions, _ := s.prewriteRegions()
		_, _, last := w.snapshot()
		if tg.Mem == nil {
			t.Logf("%d split keys, prewrites in %d regions, protocol %s", split, regions, last.Protocol)
			return
		}
		if split != 25 || regions != 26 || last.Protocol != "async-commit" {
			t.Errorf("%d split keys, prewrites in %d regions, protocol %q; want 25, 26, async-commit", split, regions, last.Protocol)
		}
	})
}
