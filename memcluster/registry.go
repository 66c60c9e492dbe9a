package memcluster

import (
	"sync"
)

// registry maps names to shared clusters. It is the package's only global, by design: it
// lets every user of `memory://name` in one process (the database/sql driver, the core
// clients, tests) reach the same in-process cluster without passing it around.
var registry = struct {
	mu       sync.Mutex
	clusters map[string]*namedCluster
}{clusters: map[string]*namedCluster{}}

type namedCluster struct {
	c    *Cluster
	refs int
}

// Shared is a reference to a named cluster returned by Open. It embeds the cluster, so
// every Cluster method is available, but its Close only drops this reference: the
// cluster stops when the last reference is closed. Close is idempotent and safe for
// concurrent use.
type Shared struct {
	*Cluster
	name string
	once sync.Once
}

// Open returns a reference to the in-process cluster called name, starting it with opts
// if no reference to it is open; opts are ignored when the cluster is already running.
// Every successful Open must be paired with a Close of the returned value. It fails only
// when a new cluster cannot listen.
func Open(name string, opts Options) (*Shared, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	nc := registry.clusters[name]
	if nc == nil {
		c, err := New(opts)
		if err != nil {
			return nil, err
		}
		nc = &namedCluster{c: c}
		registry.clusters[name] = nc
	}
	nc.refs++
	return &Shared{Cluster: nc.c, name: name}, nil
}

// Close releases the reference; the last release stops the cluster and forgets its name,
// so a later Open of the name starts an empty cluster.
func (s *Shared) Close() error {
	var last *Cluster
	s.once.Do(func() {
		registry.mu.Lock()
		nc := registry.clusters[s.name]
		if nc != nil && nc.c == s.Cluster {
			nc.refs--
			if nc.refs == 0 {
				delete(registry.clusters, s.name)
				last = nc.c
			}
		}
		registry.mu.Unlock()
	})
	if last != nil {
		return last.Close()
	}
	return nil
}
