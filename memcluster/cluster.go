package memcluster

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/grpc"
)

// Errors returned by cluster operations.
var (
	// ErrClosed: the cluster was closed.
	ErrClosed = errors.New("memcluster: closed")
	// ErrNotFound: no store or region has the given ID.
	ErrNotFound = errors.New("memcluster: not found")
	// ErrInvalid: an operation's arguments do not fit the cluster (a split key on a region
	// boundary, regions that are not adjacent, ...).
	ErrInvalid = errors.New("memcluster: invalid operation")
)

// Options configures a new cluster. The zero value gives one store with one region that
// covers every key.
type Options struct {
	// Stores is the number of TiKV stores (default 1). Every region has a peer on up to
	// three of them; leaders are spread over the stores.
	Stores int
	// Clock supplies wall-clock time for the TSO, lock TTLs and RawKV TTLs (default
	// time.Now). Inject one to make TTL expiry deterministic.
	Clock func() time.Time
	// ClusterID is the ID PD reports (default 1).
	ClusterID uint64
}

// Cluster is an in-process TiKV + PD. Each store and PD listen on their own 127.0.0.1
// port and serve the real gRPC services. All methods are safe for concurrent use.
// Close stops every listener and goroutine.
type Cluster struct {
	opts  Options
	clock func() time.Time
	mvcc  *mvcc
	raw   *rawStore
	hooks *hooks
	pd    *pdServer

	scatter scatterOps  // scatter operators reported as running (scatter.go)
	safeTS  safeTSState // regions' safe ts for stale reads (safets.go)

	mu      sync.RWMutex
	closed  bool
	nextID  uint64
	stores  map[uint64]*store
	regions []*region // ordered by start key, covering the whole key space
}

// New starts a cluster. It fails when a listener cannot be opened; nothing is left
// running then.
func New(opts Options) (*Cluster, error) {
	if opts.Stores <= 0 {
		opts.Stores = 1
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ClusterID == 0 {
		opts.ClusterID = 1
	}
	c := &Cluster{
		opts: opts, clock: opts.Clock, mvcc: newMVCC(), raw: newRawStore(opts.Clock),
		hooks: &hooks{}, nextID: 1, stores: map[uint64]*store{},
	}
	for i := 0; i < opts.Stores; i++ {
		s := &store{id: c.allocID(), cluster: c}
		c.stores[s.id] = s
		if err := s.start("127.0.0.1:0"); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.regions = []*region{c.newRegion(nil, nil)}
	pd, err := newPDServer(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.pd = pd
	return c, nil
}

// allocID returns a fresh ID for a store, region or peer. Callers hold mu or own c
// exclusively.
func (c *Cluster) allocID() uint64 {
	id := c.nextID
	c.nextID++
	return id
}

// newRegion builds a region over [start, end) with peers on up to three stores.
func (c *Cluster) newRegion(start, end []byte) *region {
	r := &region{meta: &metapb.Region{
		Id: c.allocID(), StartKey: clone(start), EndKey: clone(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
	}}
	ids := c.storeIDs()
	first := int(r.meta.Id) % len(ids)
	for i := 0; i < len(ids) && i < 3; i++ {
		sid := ids[(first+i)%len(ids)]
		r.meta.Peers = append(r.meta.Peers, &metapb.Peer{Id: c.allocID(), StoreId: sid})
	}
	r.leader = r.meta.Peers[0].StoreId
	return r
}

// Close stops PD and every store and waits for their goroutines. It is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stores := make([]*store, 0, len(c.stores))
	for _, s := range c.stores {
		stores = append(stores, s)
	}
	c.mu.Unlock()
	for _, s := range stores {
		s.stop()
	}
	if c.pd != nil {
		c.pd.stop()
	}
	return nil
}

// PDAddr returns PD's address (host:port).
func (c *Cluster) PDAddr() string { return c.pd.addr }

// StoreIDs returns the IDs of the stores, ascending.
func (c *Cluster) StoreIDs() []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.storeIDs()
}

func (c *Cluster) storeIDs() []uint64 {
	ids := make([]uint64, 0, len(c.stores))
	for id := uint64(1); id < c.nextID; id++ {
		if _, ok := c.stores[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// StoreAddr returns the address store id listens on (or last listened on, when stopped).
func (c *Cluster) StoreAddr(id uint64) (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.stores[id]
	if !ok {
		return "", fmt.Errorf("%w: store %d", ErrNotFound, id)
	}
	return s.addr, nil
}

// store is one TiKV store: a gRPC server on its own listener. Its fields other than id
// and cluster are guarded by the cluster's mu.
type store struct {
	id      uint64
	cluster *Cluster
	addr    string
	srv     *grpc.Server
	up      bool
	done    chan struct{}
	health  healthState // health.go

	isolated atomic.Bool // refuses clients, serves relayed calls (forward.go)
	relays   relayPool   // connections to the stores it forwards to (forward.go)
}

// start listens on addr and serves the TiKV services.
func (s *store) start(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("memcluster: store %d listen on %s: %w", s.id, addr, err)
	}
	s.addr = lis.Addr().String()
	s.srv = newGRPCServer(s.serverOptions()...)
	registerTikv(s.srv, &tikvServer{store: s})
	s.up, s.done = true, make(chan struct{})
	go func(srv *grpc.Server, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(lis) // returns when stopped
	}(s.srv, s.done)
	return nil
}

// stop stops the server and waits for its handlers. Concurrent and repeated calls all
// return only once the server has stopped (grpc.Server.Stop is idempotent).
func (s *store) stop() {
	s.cluster.mu.Lock()
	srv, done := s.srv, s.done
	s.up = false
	s.cluster.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Stop()
	<-done
	s.relays.close()
}

// StopStore takes store id down: its listener closes and in-flight requests are
// cancelled. PD still lists the store. Stopping a stopped store is a no-op.
func (c *Cluster) StopStore(id uint64) error {
	c.mu.RLock()
	s, ok := c.stores[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: store %d", ErrNotFound, id)
	}
	s.stop()
	return nil
}

// StartStore brings a stopped store back on its previous address, or on a new port when
// newAddress is set (PD then reports the new address, as after a TiKV restart with a
// different advertise address). Starting a running store is a no-op.
func (c *Cluster) StartStore(id uint64, newAddress bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	s, ok := c.stores[id]
	if !ok {
		return fmt.Errorf("%w: store %d", ErrNotFound, id)
	}
	if s.up {
		return nil
	}
	addr := s.addr
	if newAddress {
		addr = "127.0.0.1:0"
	}
	return s.start(addr)
}

// storeUp reports whether store id is serving.
func (c *Cluster) storeUp(id uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.stores[id]
	return ok && s.up
}
