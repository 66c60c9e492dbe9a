package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

func muts(keys ...string) []*kvrpcpb.Mutation {
	out := make([]*kvrpcpb.Mutation, len(keys))
	for i, k := range keys {
		out[i] = &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k)}
	}
	return out
}

// waitDone runs f in a goroutine and returns a channel with its result.
func waitDone(f func() error) chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// A read of a key held by a registered prewrite with a start ts at most the
// read's waits until the prewrite is done; other reads pass at once.
func TestMemLocksReadsWaitForPrewrite(t *testing.T) {
	ctx := context.Background()
	m := newMemLocks()
	unlock := m.lock(100, muts("k3", "k1", "k5"))

	// Not covered: other keys, a range beside the keys, an older read.
	for name, f := range map[string]func() error{
		"other key":   func() error { return m.waitKeys(ctx, 200, []byte("k2")) },
		"older read":  func() error { return m.waitKeys(ctx, 99, []byte("k1")) },
		"range below": func() error { return m.waitRange(ctx, 200, []byte("a"), []byte("k1")) },
		"range above": func() error { return m.waitRange(ctx, 200, []byte("k6"), nil) },
		"range gap":   func() error { return m.waitRange(ctx, 200, []byte("k1\x00"), []byte("k3")) },
	} {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	blocked := map[string]chan error{
		"point":     waitDone(func() error { return m.waitKeys(ctx, 100, []byte("k0"), []byte("k5")) }),
		"range":     waitDone(func() error { return m.waitRange(ctx, 150, []byte("k2"), []byte("k4")) }),
		"unbounded": waitDone(func() error { return m.waitRange(ctx, ^uint64(0), []byte("k4"), nil) }),
	}
	time.Sleep(20 * time.Millisecond)
	for name, ch := range blocked {
		select {
		case err := <-ch:
			t.Fatalf("%s read returned (%v) while the prewrite was registered", name, err)
		default:
		}
	}
	unlock()
	for name, ch := range blocked {
		if err := <-ch; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := m.waitKeys(ctx, 200, []byte("k1")); err != nil {
		t.Fatal(err)
	}
	if len(m.active) != 0 {
		t.Fatalf("%d guards left", len(m.active))
	}
}

// A waiting read gives up with its ctx.
func TestMemLocksWaitHonoursCtx(t *testing.T) {
	m := newMemLocks()
	defer m.lock(1, muts("k"))()
	ctx, cancel := context.WithCancel(context.Background())
	ch := waitDone(func() error { return m.waitKeys(ctx, 5, []byte("k")) })
	cancel()
	if err := <-ch; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestNeedsMemLock(t *testing.T) {
	for _, tc := range []struct {
		req  *kvrpcpb.PrewriteRequest
		want bool
	}{
		{&kvrpcpb.PrewriteRequest{}, false},
		{&kvrpcpb.PrewriteRequest{UseAsyncCommit: true}, true},
		{&kvrpcpb.PrewriteRequest{TryOnePc: true}, true},
	} {
		if got := needsMemLock(tc.req); got != tc.want {
			t.Errorf("needsMemLock(%v) = %v", tc.req, got)
		}
	}
}
