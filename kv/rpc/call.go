package rpc

import (
	"context"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvsql/tikvsql/kv"
	"google.golang.org/grpc/metadata"
)

// Priority orders requests inside a store's batch client.
type Priority uint8

// Priorities.
const (
	// PriorityNormal requests are sent in arrival order, bounded by
	// Config.MaxInflightRequests.
	PriorityNormal Priority = iota
	// PriorityHigh requests (the commit path: primary prewrite, commit, pessimistic lock,
	// heartbeat) go first in the next message and are never held by the in-flight limit.
	PriorityHigh
)

// CallOptions are the per-call settings of Call. The zero value is a normal call.
type CallOptions struct {
	Priority Priority
	// ForwardedHost, when not empty, sends the request to the store at addr acting as a
	// proxy for the store at ForwardedHost (the region leader's store, unreachable from
	// here): the proxy relays it, told by the tikv-forwarded-host gRPC header. It needs
	// Config.EnableForwarding.
	ForwardedHost string
	// Context is applied to the request's kvrpcpb.Context after Config.Context.
	Context RequestContext
	// Interceptors run inside Config.Interceptors, for this call only.
	Interceptors []Interceptor
	// StoreID and Attempt are reported to the tracer.
	StoreID uint64
	Attempt int
}

// Call sends req to the store at addr as method m and returns the response (RPC-3,
// RPC-5). Batched methods travel on the store's BatchCommands streams; others, and all
// methods when batching is off, are unary gRPC calls. Before sending, Call stamps
// Config.Context and opts.Context into the request's kvrpcpb.Context, creating one when
// the request has none; the caller must not use req concurrently until Call returns.
//
// ctx bounds the whole call; there is no other timeout. Errors: ctx's error when ctx
// ended (errors.Is(err, context.DeadlineExceeded) holds); kv.ErrClosed (wrapped) after
// Close; *StoreError (wrapping kv.ErrStoreUnavailable) when the store cannot be reached
// or the stream carrying the request failed; ErrForwardingDisabled; or what an
// interceptor returned. A response carrying a region error is not an error here: read
// it with RegionError or the response's GetRegionError. Whole-region ResolveLock calls
// (no keys, no txn infos) are collapsed: concurrent equal ones share one RPC and one
// read-only response.
func Call[Req, Resp Message](ctx context.Context, c *Client, addr string, m *Method[Req, Resp], req Req, opts CallOptions) (Resp, error) {
	var zero Resp
	if !c.enter() {
		return zero, c.closedErr()
	}
	defer c.exit()
	if opts.ForwardedHost != "" && !c.cfg.EnableForwarding {
		return zero, ErrForwardingDisabled
	}
	var rc *kvrpcpb.Context
	if m.reqContext != nil {
		p := m.reqContext(req)
		if *p == nil {
			*p = new(kvrpcpb.Context)
		}
		rc = *p
		c.cfg.Context.Apply(rc)
		opts.Context.Apply(rc)
	}
	if key, ok := collapsible(addr, any(req), rc); ok {
		shared := opts // a copy, so that opts itself stays on the stack
		resp, err := c.collapse.do(ctx, key, func(ctx context.Context) (any, error) {
			return invokeObserved(ctx, c, addr, m, req, &shared, rc)
		})
		r, _ := resp.(Resp)
		return r, err
	}
	return invokeObserved(ctx, c, addr, m, req, &opts, rc)
}

// collapsible reports whether req is a whole-region ResolveLock, and its key.
func collapsible(addr string, req any, rc *kvrpcpb.Context) (collapseKey, bool) {
	r, ok := req.(*kvrpcpb.ResolveLockRequest)
	if !ok || len(r.Keys) > 0 || len(r.TxnInfos) > 0 || rc == nil {
		return collapseKey{}, false
	}
	return collapseKey{addr: addr, regionID: rc.RegionId, startTS: r.StartVersion, commitTS: r.CommitVersion}, true
}

// invokeObserved runs the call through the tracer and the interceptors.
func invokeObserved[Req, Resp Message](ctx context.Context, c *Client, addr string, m *Method[Req, Resp], req Req, opts *CallOptions, rc *kvrpcpb.Context) (Resp, error) {
	var start time.Time
	var ev kv.RPCStart
	if c.rpcTr != nil {
		ev = kv.RPCStart{Method: m.name, StoreID: opts.StoreID, Addr: addr, Attempt: max(opts.Attempt, 1)}
		if rc != nil {
			ev.RegionID = rc.RegionId
		}
		ctx = c.rpcTr.TraceRPCStart(ctx, ev)
		start = time.Now()
	}
	resp, err := invokeChain(ctx, c, addr, m, req, opts)
	if c.rpcTr != nil {
		end := kv.RPCEnd{RPCStart: ev, Duration: time.Since(start), Err: err}
		if err == nil {
			end.RegionError = regionErrorKind(RegionError(resp))
		}
		c.rpcTr.TraceRPCEnd(ctx, end)
	}
	return resp, err
}

// invokeChain runs the interceptors, if any, around invoke.
func invokeChain[Req, Resp Message](ctx context.Context, c *Client, addr string, m *Method[Req, Resp], req Req, opts *CallOptions) (Resp, error) {
	var zero Resp
	ics := dedupInterceptors(c.cfg.Interceptors, contextInterceptors(ctx), opts.Interceptors)
	if len(ics) == 0 {
		return invoke(ctx, c, addr, m, req, opts)
	}
	terminal := func(ctx context.Context, inv *Invocation) (any, error) {
		r, ok := inv.Request.(Req)
		if !ok {
			return nil, fmt.Errorf("rpc: interceptor replaced a %s request with %T", m.name, inv.Request)
		}
		return invoke(ctx, c, inv.Addr, m, r, inv.Options)
	}
	own := *opts // interceptors may keep what they see; the caller's options stay on its stack
	out, err := chain(ics, terminal)(ctx, &Invocation{Addr: addr, Method: m.name, Request: req, Options: &own})
	if err != nil {
		return zero, err
	}
	resp, ok := out.(Resp)
	if !ok {
		return zero, fmt.Errorf("rpc: interceptor returned %T for %s", out, m.name)
	}
	return resp, nil
}

// invoke sends the call on the batch stream or as a unary call.
func invoke[Req, Resp Message](ctx context.Context, c *Client, addr string, m *Method[Req, Resp], req Req, opts *CallOptions) (Resp, error) {
	var zero Resp
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	st, err := c.store(ctx, addr)
	if err != nil {
		return zero, mapError(ctx, c.closing.Load(), addr, err, false)
	}
	resp := m.newResp()
	if c.cfg.batching() && m.batchField != 0 {
		err = c.sendBatched(ctx, st, m.batchField, req, resp, opts)
	} else {
		err = c.sendUnary(ctx, st, m.path, req, resp, opts)
	}
	if err != nil {
		return zero, err
	}
	return resp, nil
}

// sendUnary makes one unary gRPC call on one of st's connections.
func (c *Client) sendUnary(ctx context.Context, st *store, path string, req, resp Message, opts *CallOptions) error {
	if opts.ForwardedHost != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, forwardedHostMetadataKey, opts.ForwardedHost)
	}
	err := st.conn().Invoke(ctx, path, req, resp)
	return mapError(ctx, c.closing.Load(), st.addr, err, true)
}

// sendBatched queues the request on the store's batch client and waits for its answer
// or for ctx (see the package documentation, "Deadlines").
func (c *Client) sendBatched(ctx context.Context, st *store, field fieldNum, req, resp Message, opts *CallOptions) error {
	for {
		b, err := c.batchConn(st, opts.ForwardedHost)
		if err != nil {
			return err
		}
		if err = c.sendOn(ctx, b, field, req, resp, opts); err != errReaped {
			return err
		}
	}
}

// sendOn is sendBatched on batch client b.
func (c *Client) sendOn(ctx context.Context, b *batchConn, field fieldNum, req, resp Message, opts *CallOptions) error {
	var err error
	if b.host != "" {
		b.lastUse.Store(c.now())
	}
	b.callers.Add(1)
	defer b.callers.Add(-1)
	e := c.entries.get()
	if e.inner, err = encodeInner(e.inner[:0], field, req); err != nil {
		c.entries.put(e)
		return fmt.Errorf("rpc: encode request: %w", err)
	}
	e.field, e.resp, e.high, e.deadline = field, resp, opts.Priority == PriorityHigh, c.deadlineOf(ctx)
	if !b.q.push(e) {
		c.entries.put(e)
		if b.reaped.Load() {
			return errReaped
		}
		return b.closedErr(false)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		if e.state.CompareAndSwap(statePending, stateAbandoned) {
			return ctx.Err() // the entry now belongs to whoever removes it
		}
		<-e.done // completed meanwhile: take the answer
	}
	err, sent := e.err, e.sent
	c.entries.put(e)
	if err != nil && err != errReaped {
		return mapError(ctx, c.closing.Load(), b.addr, err, sent)
	}
	return err
}
