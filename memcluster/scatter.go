package memcluster

import "sync"

// scatterOps are the scatter operators tests make PD report as running. Scattering itself
// is immediate here (every region has a peer on every store).
type scatterOps struct {
	mu      sync.Mutex
	running map[uint64]int // region ID -> GetOperator calls still answered RUNNING
}

// SetScatterRunning makes PD answer the next polls GetOperator calls for region id with
// a running "scatter-region" operator (0 clears it), so that tests can watch a client
// wait for a scatter to finish. Safe for concurrent use.
func (c *Cluster) SetScatterRunning(id uint64, polls int) {
	s := &c.scatter
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil {
		s.running = map[uint64]int{}
	}
	if polls <= 0 {
		delete(s.running, id)
		return
	}
	s.running[id] = polls
}

// poll reports whether a scatter operator runs on region id now, counting the call.
func (s *scatterOps) poll(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.running[id]
	if n <= 0 {
		return false
	}
	if n == 1 {
		delete(s.running, id)
	} else {
		s.running[id] = n - 1
	}
	return true
}
