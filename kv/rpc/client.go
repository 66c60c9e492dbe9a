package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tikvsql/tikvsql/kv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
)

// Client sends requests to TiKV stores. It keeps ConnectionCount connections per store
// address, created on first use, each with one BatchCommands stream, and one batch
// client (queue and send loop) per store. A Client is safe for concurrent use. Close it
// when done: it owns goroutines and connections.
type Client struct {
	cfg     Config
	codec   *wireCodec
	bufPool mem.BufferPool
	tls     func() *tls.Config
	rpcTr   kv.RPCTracer
	epoch   time.Time

	ctx    context.Context // cancelled by Close after draining
	cancel context.CancelFunc

	mu     sync.RWMutex
	stores map[string]*store

	entries  entryPool
	collapse collapser

	loops     sync.WaitGroup // every goroutine of every batch client, reaped ones included
	calls     atomic.Int64   // calls in progress
	closing   atomic.Bool
	drained   chan struct{} // signalled when calls reaches 0 while closing
	closeOnce sync.Once
	closeErr  error
}

// store is the connections and batch clients of one store address.
type store struct {
	addr   string // as advertised
	target string // as dialled (after TranslateAddr)
	conns  []*grpc.ClientConn
	rr     atomic.Uint32

	mu        sync.Mutex
	main      *batchConn
	forwarded map[string]*batchConn // by forwarded-to host
	closed    bool                  // shut down: no new batch clients
}

// New returns a Client for cfg. It checks the configuration and loads TLS files, but
// does not connect: connections are made on the first call to each store. It fails on an
// invalid Config or unreadable TLS files.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, bufPool: mem.DefaultBufferPool(), epoch: time.Now(),
		stores: make(map[string]*store), drained: make(chan struct{}, 1)}
	c.codec = newWireCodec(c.bufPool)
	if c.tls, err = tlsSource(&c.cfg); err != nil {
		return nil, err
	}
	if tr, ok := cfg.Tracer.(kv.RPCTracer); ok {
		c.rpcTr = tr
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// now is monotonic nanoseconds since the client started (for entry deadlines).
func (c *Client) now() int64 { return int64(time.Since(c.epoch)) }

// wallNow is the Unix time in nanoseconds (stamped into batch messages).
func (c *Client) wallNow() int64 { return time.Now().UnixNano() }

// deadlineOf converts ctx's deadline for entries; 0 means none.
func (c *Client) deadlineOf(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(int64(dl.Sub(c.epoch)), 1)
}

// enter registers a call; it fails once Close has begun.
func (c *Client) enter() bool {
	c.calls.Add(1)
	if c.closing.Load() {
		c.exit()
		return false
	}
	return true
}

func (c *Client) exit() {
	if c.calls.Add(-1) == 0 && c.closing.Load() {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

func (c *Client) closedErr() error { return fmt.Errorf("rpc: %w", kv.ErrClosed) }

// store returns the store of addr, dialling it on first use.
func (c *Client) store(ctx context.Context, addr string) (*store, error) {
	c.mu.RLock()
	st := c.stores[addr]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	st, err := c.dialStore(ctx, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if old := c.stores[addr]; old != nil {
		c.mu.Unlock()
		st.closeConns()
		return old, nil
	}
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		st.closeConns()
		return nil, c.closedErr()
	}
	c.stores[addr] = st
	if c.cfg.batching() {
		st.main = newBatchConn(c, st, "")
	}
	c.mu.Unlock()
	return st, nil
}

// batchConn returns the batch client of st for forwarded host (or st's own).
func (c *Client) batchConn(st *store, host string) (*batchConn, error) {
	if host == "" {
		return st.main, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if b := st.forwarded[host]; b != nil {
		return b, nil
	}
	if c.ctx.Err() != nil {
		return nil, c.closedErr()
	}
	if st.closed {
		return nil, &StoreError{Addr: st.addr, Code: codes.Unavailable, Reason: "connection closed by CloseStore"}
	}
	if st.forwarded == nil {
		st.forwarded = make(map[string]*batchConn)
	}
	b := newBatchConn(c, st, host)
	st.forwarded[host] = b
	return b, nil
}

// conn returns one of st's connections, round-robin.
func (st *store) conn() *grpc.ClientConn {
	return st.conns[int(st.rr.Add(1))%len(st.conns)]
}

// shutdown stops st's batch clients and closes its connections.
func (st *store) shutdown() {
	st.mu.Lock()
	st.closed = true
	bcs := make([]*batchConn, 0, 1+len(st.forwarded))
	if st.main != nil {
		bcs = append(bcs, st.main)
	}
	for _, b := range st.forwarded {
		bcs = append(bcs, b)
	}
	st.mu.Unlock()
	for _, b := range bcs {
		b.cancel()
	}
	st.closeConns()
	for _, b := range bcs {
		b.shutdown()
	}
}

func (st *store) closeConns() {
	for _, cc := range st.conns {
		_ = cc.Close() // only fails if already closed
	}
}

// CloseStore closes the connections and streams of one store, for example one PD
// reports as removed. Requests in flight to it fail with kv.ErrClosed; a later call to
// the same address dials it again. It waits for the store's goroutines to exit.
func (c *Client) CloseStore(addr string) {
	c.mu.Lock()
	st := c.stores[addr]
	delete(c.stores, addr)
	c.mu.Unlock()
	if st != nil {
		st.shutdown()
	}
}

// Close stops the Client. New calls fail with kv.ErrClosed at once; calls in progress
// may finish until ctx ends (the drain), after which the rest fail with kv.ErrClosed.
// Then every stream and connection is closed and every goroutine of the Client has
// exited before Close returns. It returns ctx's error when the drain was cut short,
// else nil. Close is idempotent; later calls return the first call's result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		for c.calls.Load() > 0 {
			select {
			case <-c.drained:
			case <-ctx.Done():
				c.closeErr = ctx.Err()
			}
			if c.closeErr != nil {
				break
			}
		}
		c.mu.Lock()
		c.cancel()
		stores := c.stores
		c.stores = map[string]*store{}
		c.mu.Unlock()
		for _, st := range stores {
			st.shutdown()
		}
		c.loops.Wait()
	})
	return c.closeErr
}

// Stats is a snapshot of a store's batch client, for tests, metrics and diagnostics.
type Stats struct {
	Messages           uint64 // BatchCommands messages sent
	Requests           uint64 // requests carried by them
	TransportLayerLoad uint64 // the load TiKV last reported (its gRPC CPU, 100 = one core)
}

// Stats returns the counters of addr's batch client (zero when there is none).
func (c *Client) Stats(addr string) Stats {
	c.mu.RLock()
	st := c.stores[addr]
	c.mu.RUnlock()
	if st == nil || st.main == nil {
		return Stats{}
	}
	b := st.main
	return Stats{Messages: b.messages.Load(), Requests: b.requests.Load(), TransportLayerLoad: b.load.Load()}
}
