package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvsql/tikvsql/kv"
)

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func rawGet(ctx context.Context, c *Client, addr, key string, opts CallOptions) (string, error) {
	resp, err := Call(ctx, c, addr, RawGet, &kvrpcpb.RawGetRequest{Key: []byte(key)}, opts)
	if err != nil {
		return "", err
	}
	return string(resp.Value), nil
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchedCallRoundTrip(t *testing.T) {
	f := startFake(t, nil)
	var feedbacks atomic.Int64
	c := newClient(t, Config{OnHealthFeedback: func(addr string, fb *kvrpcpb.HealthFeedback) {
		if addr == f.addr && fb.GetStoreId() == 7 {
			feedbacks.Add(1)
		}
	}})
	ctx := context.Background()
	for i := range 20 {
		k := fmt.Sprintf("k%d", i)
		v, err := rawGet(ctx, c, f.addr, k, CallOptions{})
		if err != nil || v != k {
			t.Fatalf("RawGet(%s) = %q, %v", k, v, err)
		}
	}
	if f.unary.Load() != 0 || f.requests.Load() != 20 {
		t.Fatalf("unary %d, batched %d; want 0, 20", f.unary.Load(), f.requests.Load())
	}
	if got := c.Stats(f.addr); got.Requests != 20 || got.TransportLayerLoad != 42 {
		t.Fatalf("Stats = %+v", got)
	}
	if h := c.HealthFeedback(f.addr); h == nil || h.StoreId != 7 {
		t.Fatalf("HealthFeedback = %v", h)
	}
	// The listener hears each feedback sequence number once (the fake always sends 0).
	if n := feedbacks.Load(); n != 1 {
		t.Fatalf("OnHealthFeedback called %d times, want 1", n)
	}
}

// Many concurrent requests become few messages: counted on the server.
func TestBatching(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 1, BatchPolicy: BatchAlwaysWait, BatchWait: 20 * time.Millisecond})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			k := fmt.Sprintf("k%d", i)
			if v, err := rawGet(context.Background(), c, f.addr, k, CallOptions{}); err != nil || v != k {
				errs <- fmt.Errorf("RawGet(%s) = %q, %v", k, v, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	msgs, reqs := f.messages.Load(), f.requests.Load()
	t.Logf("%d requests in %d messages", reqs, msgs)
	if reqs != n || msgs > n/8 {
		t.Fatalf("%d requests in %d messages; want %d in at most %d", reqs, msgs, n, n/8)
	}
	if c.Stats(f.addr).Messages != uint64(msgs) {
		t.Fatalf("client counted %d messages, server %d", c.Stats(f.addr).Messages, msgs)
	}
}

// A batch larger than MaxBatchSize is split.
func TestMaxBatchSize(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 1, MaxBatchSize: 4, BatchPolicy: BatchAlwaysWait, BatchWait: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { _, _ = rawGet(context.Background(), c, f.addr, fmt.Sprint(i), CallOptions{}) })
	}
	wg.Wait()
	if f.requests.Load() != 40 || f.messages.Load() < 10 {
		t.Fatalf("%d requests in %d messages; want 40 in at least 10", f.requests.Load(), f.messages.Load())
	}
}

// Killing one stream fails only the requests in flight on it; the others, and later
// requests, succeed.
func TestStreamFailureFailsOnlyInflight(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 2, BatchPolicy: BatchNoWait})
	ctx := context.Background()
	const n = 8
	type result struct {
		key string
		err error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			k := fmt.Sprintf("block%d", i)
			_, err := rawGet(ctx, c, f.addr, k, CallOptions{})
			results <- result{k, err}
		}()
		// One at a time, so that round-robin spreads them over both streams.
		waitFor(t, "blocked request", func() bool { return f.blockedCount() == i+1 })
	}
	// "kill" lands on one of the two streams and ends it.
	_, err := rawGet(ctx, c, f.addr, "kill", CallOptions{})
	if !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("kill: %v", err)
	}
	var se *StoreError
	if !errors.As(err, &se) || !se.MaybeSent || se.Addr != f.addr {
		t.Fatalf("kill error %#v", err)
	}
	f.mu.Lock()
	killed := f.keyStream["kill"]
	f.mu.Unlock()
	// The blocked requests on the killed stream fail now; release the others.
	failed := map[string]bool{}
	for range n {
		var r result
		select {
		case r = <-results:
		case <-time.After(200 * time.Millisecond):
			f.releaseAll()
			r = <-results
		}
		if r.err != nil {
			if !errors.Is(r.err, kv.ErrStoreUnavailable) {
				t.Fatalf("%s: %v", r.key, r.err)
			}
			failed[r.key] = true
		}
	}
	f.mu.Lock()
	if len(failed) == 0 || len(failed) == n {
		t.Errorf("%d of %d in-flight requests failed; want those of one stream", len(failed), n)
	}
	for i := range n {
		k := fmt.Sprintf("block%d", i)
		if onKilled := f.keyStream[k] == killed; onKilled != failed[k] {
			t.Errorf("%s: on killed stream %v, failed %v", k, onKilled, failed[k])
		}
	}
	f.mu.Unlock()
	// Later requests succeed, on the surviving stream at once and on the re-created one
	// after its backoff.
	waitFor(t, "stream re-creation", func() bool { return f.streamSeq.Load() == 3 })
	for i := range 10 {
		if _, err := rawGet(ctx, c, f.addr, fmt.Sprint("after", i), CallOptions{}); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
}

// With every stream down, requests fail fast with MaybeSent false, and succeed again
// once a stream is back.
func TestAllStreamsDownFailFast(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 1})
	ctx := context.Background()
	if _, err := rawGet(ctx, c, f.addr, "warm", CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rawGet(ctx, c, f.addr, "kill", CallOptions{}); !errors.Is(err, kv.ErrStoreUnavailable) {
		t.Fatalf("kill: %v", err)
	}
	_, err := rawGet(ctx, c, f.addr, "x", CallOptions{})
	var se *StoreError
	if !errors.As(err, &se) || se.MaybeSent {
		t.Fatalf("while down: %v", err)
	}
	waitFor(t, "recovery", func() bool {
		_, err := rawGet(ctx, c, f.addr, "y", CallOptions{})
		return err == nil
	})
}

func TestDeadlineAndCancellation(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 1, SweepInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := rawGet(ctx, c, f.addr, "block-deadline", CallOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("returned after %v", d)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "second blocked request", func() bool { return f.blockedCount() == 2 })
		cancel2()
	}()
	if _, err := rawGet(ctx2, c, f.addr, "block-cancel", CallOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	// The abandoned entries are reclaimed by the sweep while the server still holds them.
	st, _ := c.store(context.Background(), f.addr)
	waitFor(t, "sweep", func() bool {
		s := st.main.strms[0]
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.table) == 0
	})
	// An already-expired ctx fails before anything is sent.
	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := rawGet(done, c, f.addr, "x", CallOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// Late answers to abandoned requests are dropped, and the client keeps working.
	f.releaseAll()
	if v, err := rawGet(context.Background(), c, f.addr, "ok", CallOptions{}); err != nil || v != "ok" {
		t.Fatalf("after: %q %v", v, err)
	}
}

// A request whose deadline passes while it waits for a stream is never sent.
func TestDeadlineWhileConnecting(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	c := newClient(t, Config{ConnectionCount: 1, Dialer: func(ctx context.Context, _ string) (net.Conn, error) {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return nil, errors.New("no network")
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := rawGet(ctx, c, "tikv-unreachable:20160", "k", CallOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

// PriorityHigh requests pass normal ones held back by the in-flight limit.
func TestPriority(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 1, MaxInflightRequests: 1, BatchPolicy: BatchNoWait})
	ctx := context.Background()
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { _, err := rawGet(ctx, c, f.addr, "block-A", CallOptions{}); errA <- err }()
	waitFor(t, "A blocked", func() bool { return f.blockedCount() == 1 })
	go func() { _, err := rawGet(ctx, c, f.addr, "B", CallOptions{}); errB <- err }()
	st, _ := c.store(ctx, f.addr)
	time.Sleep(20 * time.Millisecond) // B is queued behind the limit
	if v, err := rawGet(ctx, c, f.addr, "H", CallOptions{Priority: PriorityHigh}); err != nil || v != "H" {
		t.Fatalf("high: %q %v", v, err)
	}
	select {
	case err := <-errB:
		t.Fatalf("normal request finished before the limit allowed it: %v", err)
	default:
	}
	if n := st.main.inflightNormal.Load(); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
	f.releaseAll()
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if err := <-errB; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := fmt.Sprint(f.order); got != "[block-A H B]" {
		t.Fatalf("server order %s", got)
	}
}

// The adaptive policy under concurrent load: every caller gets its own answer, and the
// stream carries fewer messages than requests.
func TestAdaptiveBatchingCorrectness(t *testing.T) {
	f := startFake(t, nil)
	c := newClient(t, Config{ConnectionCount: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 20 {
				k := fmt.Sprintf("g%d-%d", g, i)
				if v, err := rawGet(context.Background(), c, f.addr, k, CallOptions{}); err != nil || v != k {
					errs <- fmt.Errorf("RawGet(%s) = %q, %v", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if f.requests.Load() != 64*20 {
		t.Fatalf("server saw %d requests", f.requests.Load())
	}
	t.Logf("%d requests in %d messages", f.requests.Load(), f.messages.Load())
}

// A store reporting a transport-layer load above OverloadThreshold gets fuller batches:
// requests wait (up to OverloadWait) until OverloadBatchSize of them are queued, even
// under the no-wait policy; below the threshold nothing waits.
// client-go: internal/client/client_batch.go (OverloadThreshold, MaxBatchWaitTime,
// BatchWaitSize), no test of its own.
func TestOverloadBatching(t *testing.T) {
	for _, tc := range []struct {
		threshold uint64
		wantMsgs  int64 // messages for the 4 staggered requests
	}{
		{threshold: 10, wantMsgs: 1}, // the fake reports load 42: overloaded
		{threshold: 100, wantMsgs: 4},
	} {
		f := startFake(t, nil)
		c := newClient(t, Config{ConnectionCount: 1, BatchPolicy: BatchNoWait,
			OverloadThreshold: tc.threshold, OverloadWait: 10 * time.Second, OverloadBatchSize: 4})
		ctx := context.Background()
		if _, err := rawGet(ctx, c, f.addr, "warm", CallOptions{}); err != nil { // learns the load
			t.Fatal(err)
		}
		base := f.messages.Load()
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				k := fmt.Sprintf("k%d", i)
				if v, err := rawGet(ctx, c, f.addr, k, CallOptions{}); err != nil || v != k {
					t.Errorf("RawGet(%s) = %q, %v", k, v, err)
				}
			})
			if tc.wantMsgs > 1 {
				// Not overloaded: each request goes out alone before the next starts.
				waitFor(t, "the request to be sent", func() bool { return f.messages.Load() == base+int64(i)+1 })
			}
		}
		wg.Wait()
		if got := f.messages.Load() - base; got != tc.wantMsgs {
			t.Errorf("threshold %d: 4 requests in %d messages, want %d", tc.threshold, got, tc.wantMsgs)
		}
	}
}
