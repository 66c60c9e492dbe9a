package memcluster

import (
	"context"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Request describes a TiKV request as it reaches a store, for fault hooks.
type Request struct {
	StoreID uint64           // the store that received the request
	Method  string           // the tikvpb method name, such as "KvPrewrite" or "RawGet"
	Context *kvrpcpb.Context // the request's context (region, epoch, peer, ...)
	Body    any              // the request message, such as *kvrpcpb.PrewriteRequest; do not modify
	// ProxyStoreID is the store that relayed the request here (tikv-forwarded-host,
	// see Cluster.IsolateStore), or 0 when it came straight from the client.
	ProxyStoreID uint64
}

// Fault is what a hook injects into one request. Fields combine: the delay is served
// first, then RegionError or Err replaces the answer (the request is not executed), or
// DropResponse executes the request and withholds the answer until the caller gives up.
type Fault struct {
	Delay        time.Duration  // wait this long before handling (ends early if the caller cancels)
	RegionError  *errorpb.Error // answer with this region error instead of executing
	Err          error          // fail the RPC with this error (use a gRPC status error for a code)
	DropResponse bool           // execute, then never answer
}

// Hook inspects a request and returns the fault to inject, or nil for none. Hooks run on
// the request's goroutine, concurrently with each other; they must be safe for concurrent
// use and must not block beyond what they intend to inject.
type Hook func(ctx context.Context, req *Request) *Fault

// hooks is the cluster's list of installed hooks.
type hooks struct {
	mu   sync.RWMutex
	next int
	set  map[int]Hook
}

// AddHook installs h for every request any store receives, unary or batched, and returns
// a function that removes it. Hooks run in the order they were added; the first non-nil
// Fault wins.
func (c *Cluster) AddHook(h Hook) (remove func()) {
	c.hooks.mu.Lock()
	defer c.hooks.mu.Unlock()
	if c.hooks.set == nil {
		c.hooks.set = map[int]Hook{}
	}
	id := c.hooks.next
	c.hooks.next++
	c.hooks.set[id] = h
	return func() {
		c.hooks.mu.Lock()
		delete(c.hooks.set, id)
		c.hooks.mu.Unlock()
	}
}

// fault returns the first fault a hook injects into req.
func (h *hooks) fault(ctx context.Context, req *Request) *Fault {
	h.mu.RLock()
	hs := make([]Hook, 0, len(h.set))
	for id := 0; id < h.next; id++ {
		if f, ok := h.set[id]; ok {
			hs = append(hs, f)
		}
	}
	h.mu.RUnlock()
	for _, f := range hs {
		if ft := f(ctx, req); ft != nil {
			return ft
		}
	}
	return nil
}
