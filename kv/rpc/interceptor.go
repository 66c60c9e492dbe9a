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
// an earlier one replaces it and takes its place at the end (as in client-go), so a
// per-call or ctx-bound interceptor overrides a client-wide one of the same name. Wrap is
// called for every call that has interceptors; the Invoker it returns must be safe for
// concurrent use.
type Interceptor struct {
	Name string
	Wrap func(next Invoker) Invoker
}

// dedupInterceptors returns the lists in order, one interceptor per name (the last one
// of a name, at its position) and none with a nil Wrap.
func dedupInterceptors(lists ...[]Interceptor) []Interceptor {
	var n int
	var only []Interceptor
	for _, l := range lists {
		if len(l) > 0 {
			n++
			only = l
		}
	}
	if n <= 1 && !hasDup(only) {
		return only
	}
	out := make([]Interceptor, 0, 8)
	for _, list := range lists {
		for _, ic := range list {
			if ic.Wrap == nil {
				continue
			}
			out = slices.DeleteFunc(out, func(o Interceptor) bool { return o.Name == ic.Name })
			out = append(out, ic)
		}
	}
	return out
}

type interceptorsKey struct{}

// WithInterceptors returns ctx carrying interceptors for every call made with it (or a
// context derived from it): a way to observe or change the requests of one operation,
// such as one transaction's reads, without a client-wide interceptor (client-go's
// interceptor.WithRPCInterceptor). They run after the Client's Config.Interceptors and
// before CallOptions.Interceptors; interceptors already on ctx come first.
func WithInterceptors(ctx context.Context, ics ...Interceptor) context.Context {
	if prev, _ := ctx.Value(interceptorsKey{}).([]Interceptor); len(prev) > 0 {
		ics = append(slices.Clip(prev), ics...)
	}
	return context.WithValue(ctx, interceptorsKey{}, ics)
}

// contextInterceptors returns the interceptors WithInterceptors put on ctx.
func contextInterceptors(ctx context.Context) []Interceptor {
	ics, _ := ctx.Value(interceptorsKey{}).([]Interceptor)
	return ics
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
