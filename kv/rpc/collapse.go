package rpc

import (
	"context"
	"errors"
	"sync"
)

// collapseKey identifies a whole-region ResolveLock (RPC-9): requests with equal keys
// have the same effect, so concurrent ones share one RPC.
type collapseKey struct {
	addr     string
	regionID uint64
	startTS  uint64
	commitTS uint64
}

// flight is one in-progress collapsed call.
type flight struct {
	done chan struct{}
	resp any
	err  error
}

// collapser is a single-flight group owned by a Client. Unlike a plain singleflight, a
// waiter whose leader failed only because the leader's own ctx ended runs the call
// again under its own ctx rather than inheriting a cancellation that is not its own.
type collapser struct {
	mu      sync.Mutex
	flights map[collapseKey]*flight
}

// do runs fn once per key among concurrent callers and gives every caller its result.
// The shared response must be treated as read-only.
func (g *collapser) do(ctx context.Context, key collapseKey, fn func(context.Context) (any, error)) (any, error) {
	for {
		g.mu.Lock()
		if f, ok := g.flights[key]; ok {
			g.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if isCtxErr(f.err) && ctx.Err() == nil {
				continue // the leader gave up for its own reasons; try again
			}
			return f.resp, f.err
		}
		if g.flights == nil {
			g.flights = make(map[collapseKey]*flight)
		}
		f := &flight{done: make(chan struct{})}
		g.flights[key] = f
		g.mu.Unlock()

		f.resp, f.err = fn(ctx)
		g.mu.Lock()
		delete(g.flights, key)
		g.mu.Unlock()
		close(f.done)
		return f.resp, f.err
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
