package memcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Forwarding (TiKV's src/server/proxy.rs) and client isolation.
//
// A TiKV request carrying the gRPC header tikv-forwarded-host is not served by the
// store that receives it: that store relays it to the named address and passes the
// answer (or the gRPC error) back; BatchCommands streams are bridged whole. Clients use
// it to reach a leader they cannot reach themselves (client-go's EnableForwarding).
// Here a store relays over its own gRPC connections to the target, marking the relayed
// calls with relayedByKey, so that [Cluster.IsolateStore] can cut a store off from
// clients while other stores still reach it. Unlike TiKV, which waits up to 3 s for the
// connection to the target, a relay to a store that is down fails at once with the
// dial's Unavailable status.

const (
	// forwardedHostKey is TiKV's forwarding header.
	forwardedHostKey = "tikv-forwarded-host"
	// relayedByKey marks a call one store relays to another: its value is the relaying
	// store's ID.
	relayedByKey = "memcluster-relayed-by"
	// tikvService prefixes the method names of the TiKV service.
	tikvService = "/tikvpb.Tikv/"
)

// IsolateStore cuts store id off from clients (isolated true) or reconnects it: while
// isolated, the store refuses everything that comes straight from a client, health
// checks included, with codes.Unavailable, and ends the BatchCommands streams clients
// already have open at their next message; requests other stores relay to it (a
// client's request sent through a proxy store with the tikv-forwarded-host header) are
// still served. It models a network partition between the client and one store.
func (c *Cluster) IsolateStore(id uint64, isolated bool) error {
	c.mu.RLock()
	s, ok := c.stores[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: store %d", ErrNotFound, id)
	}
	s.isolated.Store(isolated)
	return nil
}

// serverOptions returns the interceptors of s's gRPC server: isolation and forwarding.
func (s *store) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.UnaryInterceptor(s.unaryGate), grpc.StreamInterceptor(s.streamGate)}
}

// errIsolated is the status of a request an isolated store refuses.
func (s *store) errIsolated() error {
	return status.Errorf(codes.Unavailable, "memcluster: store %d is isolated from clients", s.id)
}

// relayedBy returns the ID of the store that relayed the request of ctx, or 0 when it
// came from a client.
func relayedBy(ctx context.Context) uint64 {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(relayedByKey); len(v) > 0 {
		id, _ := strconv.ParseUint(v[0], 10, 64)
		return id
	}
	return 0
}

// forwardTarget returns the address a TiKV request on ctx must be relayed to, or "" to
// serve it here (no header, or the header names this store).
func (s *store) forwardTarget(ctx context.Context, method string) string {
	if !strings.HasPrefix(method, tikvService) {
		return ""
	}
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(forwardedHostKey)
	if len(v) == 0 || v[0] == "" {
		return ""
	}
	s.cluster.mu.RLock()
	own := s.addr
	s.cluster.mu.RUnlock()
	if v[0] == own {
		return ""
	}
	return v[0]
}

// unaryGate refuses clients of an isolated store and relays forwarded unary calls.
func (s *store) unaryGate(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.isolated.Load() && relayedBy(ctx) == 0 {
		return nil, s.errIsolated()
	}
	if host := s.forwardTarget(ctx, info.FullMethod); host != "" {
		return s.relayUnary(ctx, host, info.FullMethod, req)
	}
	return handler(ctx, req)
}

// streamGate refuses clients of an isolated store, watches their open streams, and
// bridges forwarded BatchCommands streams.
func (s *store) streamGate(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	client := relayedBy(ctx) == 0
	if client && s.isolated.Load() {
		return s.errIsolated()
	}
	if host := s.forwardTarget(ctx, info.FullMethod); host != "" {
		return s.relayStream(ss, host, info.FullMethod)
	}
	if client {
		ss = &gatedStream{ServerStream: ss, s: s}
	}
	return handler(srv, ss)
}

// gatedStream ends a client's stream once its store is isolated.
type gatedStream struct {
	grpc.ServerStream
	s *store
}

// RecvMsg receives the next message unless the store has been isolated meanwhile.
func (g *gatedStream) RecvMsg(m any) error {
	if err := g.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if g.s.isolated.Load() {
		return g.s.errIsolated()
	}
	return nil
}

// relayUnary sends a unary TiKV call on to host and returns its answer or gRPC error,
// as TiKV's forward_unary does.
func (s *store) relayUnary(ctx context.Context, host, method string, req any) (any, error) {
	m, ok := reflect.TypeOf(&tikvServer{}).MethodByName(path.Base(method))
	if !ok || m.Type.NumOut() != 2 {
		return nil, status.Errorf(codes.Unimplemented, "memcluster: cannot forward %s", method)
	}
	conn, err := s.relays.conn(host)
	if err != nil {
		return nil, err
	}
	resp := reflect.New(m.Type.Out(0).Elem()).Interface()
	if err := conn.Invoke(s.relayContext(ctx), method, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// relayContext returns the outgoing context of a relayed call: ctx's deadline and
// cancellation, and the relayedByKey mark (not the caller's headers).
func (s *store) relayContext(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(relayedByKey, strconv.FormatUint(s.id, 10)))
}

// relayStream bridges a forwarded BatchCommands stream to host, as TiKV's
// forward_duplex does: requests flow on, answers flow back, and the end or failure of
// either side ends both.
func (s *store) relayStream(ss grpc.ServerStream, host, method string) error {
	if method != tikvService+"BatchCommands" {
		return status.Errorf(codes.Unimplemented, "memcluster: cannot forward %s", method)
	}
	conn, err := s.relays.conn(host)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(s.relayContext(ss.Context()))
	defer cancel()
	cs, err := tikvpb.NewTikvClient(conn).BatchCommands(ctx)
	if err != nil {
		return status.Errorf(codes.Unavailable, "memcluster: store %d: forward to %s: %v", s.id, host, err)
	}
	s.relays.wg.Add(1)
	go func() { // client -> target; ends when the client's stream ends or this handler returns
		defer s.relays.wg.Done()
		for {
			req := new(tikvpb.BatchCommandsRequest)
			if err := ss.RecvMsg(req); err != nil {
				_ = cs.CloseSend()
				return
			}
			if err := cs.Send(req); err != nil {
				return
			}
		}
	}()
	for { // target -> client
		resp, err := cs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return status.Errorf(codes.Unavailable, "memcluster: store %d: forwarded stream to %s: %v", s.id, host, err)
		}
		if err := ss.SendMsg(resp); err != nil {
			return err
		}
	}
}

// relayPool holds one store's connections to the stores it relays to, and its relay
// goroutines. close drops them; the pool can be used again afterwards (StartStore).
type relayPool struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	wg    sync.WaitGroup
}

// conn returns the connection to addr, creating it (lazily connecting) on first use.
func (p *relayPool) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conns[addr]; c != nil {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "memcluster: forward to %s: %v", addr, err)
	}
	if p.conns == nil {
		p.conns = map[string]*grpc.ClientConn{}
	}
	p.conns[addr] = c
	return c, nil
}

// close closes every connection and waits for the relay goroutines. The store's server
// must be stopped first, so that no handler creates new ones.
func (p *relayPool) close() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
}
