package region

import (
	"context"
	"fmt"
	"reflect"
	"sync"
)

// Mux is a Transport built from typed calls, one per request type: the glue between the
// Sender and a generic RPC layer such as kv/rpc's Call[Req, Resp]. Register calls with
// Handle before use; the Mux is then safe for concurrent use. Set ProbeFunc and
// CloseFunc to also implement Prober and AddrCloser.
type Mux struct {
	mu    sync.RWMutex
	calls map[reflect.Type]func(ctx context.Context, addr string, req Request) (Response, error)

	// ProbeFunc, when set, answers Probe (see Prober).
	ProbeFunc func(ctx context.Context, addr string) error
	// CloseFunc, when set, answers CloseAddr (see AddrCloser).
	CloseFunc func(addr string)
}

// Handle registers call for requests of type Req on m, replacing an earlier one.
func Handle[Req Request, Resp Response](m *Mux, call func(ctx context.Context, addr string, req Req) (Resp, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls == nil {
		m.calls = make(map[reflect.Type]func(context.Context, string, Request) (Response, error))
	}
	var zero Req
	m.calls[reflect.TypeOf(zero)] = func(ctx context.Context, addr string, req Request) (Response, error) {
		resp, err := call(ctx, addr, req.(Req))
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// Invoke implements Transport. A request type without a registered call is an error.
func (m *Mux) Invoke(ctx context.Context, addr string, req Request) (Response, error) {
	m.mu.RLock()
	call := m.calls[reflect.TypeOf(req)]
	m.mu.RUnlock()
	if call == nil {
		return nil, fmt.Errorf("region: no call registered for %T", req)
	}
	return call(ctx, addr, req)
}

// Probe implements Prober through ProbeFunc; without it every store counts as alive
// only until a send fails (see Config.UnreachableRetry).
func (m *Mux) Probe(ctx context.Context, addr string) error {
	if m.ProbeFunc == nil {
		return fmt.Errorf("region: no health probe configured for %s", addr)
	}
	return m.ProbeFunc(ctx, addr)
}

// CloseAddr implements AddrCloser through CloseFunc.
func (m *Mux) CloseAddr(addr string) {
	if m.CloseFunc != nil {
		m.CloseFunc(addr)
	}
}

// Len reports how many request types have a registered call.
func (m *Mux) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.calls)
}

// RequestTypes lists the request types with a registered call, in no particular order
// (for introspection and tests that exercise every route).
func (m *Mux) RequestTypes() []reflect.Type {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]reflect.Type, 0, len(m.calls))
	for t := range m.calls {
		out = append(out, t)
	}
	return out
}
