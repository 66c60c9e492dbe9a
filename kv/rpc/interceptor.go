package rpc

import (
	"context"
	"slices"
)

// Invocation describes one call as interceptors see it. Interceptors may read it and
// replace Request with another request of the same type; they must not keep it after
// their Invoker returns.
type Invocation struct {
	Addr    string // the store's advertised address
	Method  string // the gRPC method name, such as "KvPrewrite"
	Request any    // the kvproto request, such as *kvrpcpb.PrewriteRequest
	Options *CallOptions
}

// Invoker sends a call and returns its kvproto response (for example
// *kvrpcpb.PrewriteResponse) or an error.
type Invoker func(ctx context.Context, inv *Invocation) (any, error)

// Interceptor wraps every call (RPC-8): Wrap receives the next Invoker and returns one
// that does its work around it, or instead of it (fault injection returns an error or a
// made-up response without calling next). Interceptors run in order: the first listed is
// the outermost. Within one chain, names are unique: a later interceptor with the name of
// an earlier one is dropped. Wrap is called for every call that has interceptors; the
// Invoker it returns must be safe for concurrent use.
type Interceptor struct {
	Name string
	Wrap func(next Invoker) Invoker
}

// dedupInterceptors returns base followed by extra, keeping the first interceptor of each
// name and dropping those with a nil Wrap.
func dedupInterceptors(base, extra []Interceptor) []Interceptor {
	if len(extra) == 0 && !hasDup(base) {
		return base
	}
	out := make([]Interceptor, 0, len(base)+len(extra))
	for _, list := range [][]Interceptor{base, extra} {
		for _, ic := range list {
			if ic.Wrap == nil || slices.ContainsFunc(out, func(o Interceptor) bool { return o.Name == ic.Name }) {
				continue
			}
			out = append(out, ic)
		}
	}
	return out
}

func hasDup(list []Interceptor) bool {
	for i, a := range list {
		if a.Wrap == nil {
			return true
		}
		for _, b := range list[:i] {
			if a.Name == b.Name {
				return true
			}
		}
	}
	return false
}

// chain wraps terminal in interceptors, the first outermost.
func chain(interceptors []Interceptor, terminal Invoker) Invoker {
	inv := terminal
	for i := len(interceptors) - 1; i >= 0; i-- {
		inv = interceptors[i].Wrap(inv)
	}
	return inv
}
