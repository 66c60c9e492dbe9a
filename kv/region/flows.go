package region

import (
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// replicaFlows counts where the prefer-leader reads that targeted a store went (RC-15):
// to the region's leader on that store, or to a follower on it because the leader's
// store was slow or unavailable. client-go reports the same counters as a metric; here
// they are read with Store.ReplicaFlows by whatever exports metrics.
type replicaFlows struct {
	toLeader, toFollower atomic.Uint64
}

// ReplicaFlows returns how many prefer-leader read attempts were sent to this store as
// the leader and as a follower.
func (s *Store) ReplicaFlows() (toLeader, toFollower uint64) {
	return s.flows.toLeader.Load(), s.flows.toFollower.Load()
}

// recordFlow counts t's attempt when the request reads prefer-leader.
func (s *selector) recordFlow(t *target) {
	if s.opts.ReplicaRead != ReadPreferLeader || s.opts.StaleRead {
		return
	}
	if t.r == s.leaderReplica() {
		t.r.store.flows.toLeader.Add(1)
	} else {
		t.r.store.flows.toFollower.Add(1)
	}
}

// replicaNumber counts the voters and learners of a region (client-go's ReplicaNumber).
func replicaNumber(m *metapb.Region) int {
	n := 0
	for _, p := range m.GetPeers() {
		if r := p.GetRole(); r == metapb.PeerRole_Voter || r == metapb.PeerRole_Learner {
			n++
		}
	}
	return max(n, 1)
}
