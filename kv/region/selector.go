package region

import (
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// ReplicaRead chooses which replicas serve a read (RS-1..RS-5). Writes always use
// ReadLeader.
type ReplicaRead uint8

// Replica read modes.
const (
	ReadLeader       ReplicaRead = iota // the leader only; followers are tried only to find a new leader
	ReadFollower                        // followers first, the leader last
	ReadMixed                           // leader and followers alike
	ReadPreferLeader                    // the leader unless its store is slow
	ReadLearner                         // learners first
)

// String names the mode.
func (m ReplicaRead) String() string {
	return [...]string{"leader", "follower", "mixed", "prefer-leader", "learner"}[min(int(m), 4)]
}

// maxReplicaAttempts and maxReplicaTime bound the attempts on one replica for one
// request (SB-17): after 10 attempts, or 50 s after the first, it is not tried again.
const (
	maxReplicaAttempts = 10
	maxReplicaTime     = 50 * time.Second
)

// replica is one peer of the region as seen by one request.
type replica struct {
	peer         *metapb.Peer
	store        *Store
	attempts     int
	first        time.Time // time of the first attempt
	notLeader    bool      // answered NotLeader
	failed       bool      // send failure or unknown error: do not come back
	dataNotReady bool      // answered DataIsNotReady to a stale read
	busyPending  bool      // answered ServerIsBusy: back off before coming back
	timedOut     bool      // outlived the read-timeout round's bound (readtimeout.go)
}

// target is what the selector picked for one attempt.
type target struct {
	r           *replica
	proxy       *replica // forwards the request to r (RPC-7, proxy.go), or nil
	replicaRead bool
	staleRead   bool
	leaderRead  bool // a read (or write) that only a leader may serve
}

// selector picks the replica of each attempt of one request and learns from its answers.
// It is used by one goroutine.
type selector struct {
	region   *entry
	replicas []*replica
	leader   int
	opts     *Options
	now      func() time.Time
	rand     func(int64) int64

	last            *target
	forceLeader     bool // RegionNotFound from a follower, flashback: read from the leader
	staleLeaderDone bool // the stale read's leader stage is over
	leaderBusy      int  // ServerIsBusy without estimated wait from the leader
	probeFollower   bool // ask one follower whether the leader moved (client-go#2028)
	loadBasedDone   bool // a load-based redirect was tried
	leaderHinted    bool // NotLeader named a usable new leader: try it next, as a leader read
	total           int  // attempts of this request
	ignoreReach     bool // while set, unreachable stores are candidates too
	triedUnreach    bool // the unreachable stores were given their one chance
	forward         bool // SenderConfig.EnableForwarding (proxy.go)
	probed          bool // the cache probes unreachable stores (proxy.go)
}

func newSelector(r *entry, opts *Options, now func() time.Time, rnd func(int64) int64) *selector {
	s := &selector{region: r, leader: int(r.leader.Load()), opts: opts, now: now, rand: rnd}
	for i, p := range r.peers {
		s.replicas = append(s.replicas, &replica{peer: p, store: r.stores[i]})
	}
	return s
}

func (s *selector) leaderReplica() *replica { return s.replicas[s.leader] }

// candidate reports whether r may be tried again.
func (s *selector) candidate(r *replica) bool {
	now := s.now()
	return !r.failed && !r.timedOut && r.attempts < maxReplicaAttempts && (s.ignoreReach || r.store.Reachable(now)) &&
		(r.attempts == 0 || now.Sub(r.first) < maxReplicaTime)
}

// next returns the target of the next attempt, or nil when no replica is left. The
// attempts of one request are bounded by maxReplicaAttempts per replica in total, which
// also ends leader hints that point back and forth. When only replicas on stores marked
// unreachable remain, they get one chance (the mark may be older than the recovery).
func (s *selector) next() *target {
	if s.total >= maxReplicaAttempts*len(s.replicas) {
		s.last = nil
		return nil
	}
	t := s.pick()
	if t == nil && !s.triedUnreach {
		s.triedUnreach, s.ignoreReach = true, true
		t = s.pick()
		s.ignoreReach = false
	}
	if t != nil {
		if t.r.attempts == 0 {
			t.r.first = s.now()
		}
		t.r.attempts++
		if p := t.proxy; p != nil {
			if p.attempts == 0 {
				p.first = s.now()
			}
			p.attempts++
		}
		s.total++
		s.recordFlow(t)
	}
	s.last = t
	return t
}

func (s *selector) pick() *target {
	if s.forwarding() {
		if t, done := s.nextProxied(); done {
			return t
		}
	}
	if s.leaderHinted {
		s.leaderHinted = false
		if l := s.leaderReplica(); s.candidate(l) {
			return &target{r: l, leaderRead: true}
		}
	}
	var t *target
	switch {
	case s.opts.StaleRead && !s.forceLeader:
		t = s.nextStale()
	case s.opts.ReplicaRead == ReadLeader && s.leaderReplica().timedOut:
		// The leader outlived the read timeout: the followers serve the read (read index).
		t = s.nextScored(true)
	case s.opts.ReplicaRead == ReadLeader || s.forceLeader:
		t = s.nextLeader()
	default:
		t = s.nextScored(false)
	}
	return t
}

// nextLeader serves leader reads and writes (RS-1, RS-8, RS-9).
func (s *selector) nextLeader() *target {
	l := s.leaderReplica()
	if s.opts.BusyThreshold > 0 && !s.loadBasedDone &&
		l.store.EstimatedWait(s.now()) > s.opts.BusyThreshold {
		s.loadBasedDone = true
		if t := s.best(func(r *replica) bool { return r != l && r.attempts == 0 }, ReadMixed); t != nil {
			return &target{r: t, replicaRead: true}
		}
	}
	if s.probeFollower {
		s.probeFollower = false
		if t := s.best(func(r *replica) bool { return r != l && r.attempts == 0 && isVoter(r.peer) }, ReadMixed); t != nil {
			return &target{r: t, leaderRead: true}
		}
	}
	if s.candidate(l) && !l.notLeader {
		return &target{r: l, leaderRead: true}
	}
	// The leader is out: send the leader request to voters not tried yet, which either
	// serve it (and become the leader) or name the leader.
	if t := s.best(func(r *replica) bool { return r != l && r.attempts == 0 && !r.notLeader && isVoter(r.peer) }, ReadMixed); t != nil {
		return &target{r: t, leaderRead: true}
	}
	return nil
}

// nextStale follows the stale-read sequence (RS-7): a stale read on the best (matching)
// replica; then, unless that was the leader, a normal read on the leader; then replica
// reads.
func (s *selector) nextStale() *target {
	if s.total == 0 {
		if r := s.best(func(r *replica) bool { return true }, ReadMixed); r != nil {
			return &target{r: r, staleRead: true}
		}
		return nil
	}
	if !s.staleLeaderDone {
		s.staleLeaderDone = true
		if l := s.leaderReplica(); l.attempts == 0 && s.candidate(l) && !l.notLeader {
			return &target{r: l, leaderRead: true}
		}
	}
	return s.nextScored(true)
}

// nextScored picks the best replica by score for follower, mixed, prefer-leader and
// learner reads (RS-2..RS-6). Every such attempt is a replica read, also on the leader
// (as TiKV's client does). A replica that answered ServerIsBusy is not used again by
// this request: when only busy ones remain the request backs off once and returns.
func (s *selector) nextScored(mixed bool) *target {
	mode := s.opts.ReplicaRead
	if mixed && mode == ReadLeader {
		mode = ReadMixed
	}
	r := s.best(func(r *replica) bool { return !r.busyPending }, mode)
	if r == nil {
		return nil
	}
	return &target{r: r, replicaRead: true}
}

// best returns the candidate with the highest score among those accepted by ok; ties
// are broken at random.
func (s *selector) best(ok func(*replica) bool, mode ReplicaRead) *replica {
	var out *replica
	bestScore, ties := -1, 0
	for i, r := range s.replicas {
		if !s.candidate(r) || !ok(r) {
			continue
		}
		sc := s.score(i, r, mode)
		switch {
		case sc > bestScore:
			out, bestScore, ties = r, sc, 1
		case sc == bestScore:
			ties++
			if s.rand(int64(ties)) == 0 {
				out = r
			}
		}
	}
	return out
}

// Score bits, high to low (RS-6).
const (
	scoreNotSlow      = 1 << 5
	scoreLabelMatches = 1 << 4
	scorePreferLeader = 1 << 3
	scoreNormalPeer   = 1 << 2
	scoreNotBusy      = 1 << 1
	scoreNotAttempted = 1 << 0
)

func (s *selector) score(i int, r *replica, mode ReplicaRead) int {
	now := s.now()
	isLeader := i == s.leader
	sc := 0
	if !r.store.Slow(now) {
		sc |= scoreNotSlow
	}
	if s.matches(r) {
		sc |= scoreLabelMatches
	}
	switch mode {
	case ReadPreferLeader:
		if isLeader && !r.store.Slow(now) {
			sc |= scorePreferLeader
		}
		sc |= scoreNormalPeer
	case ReadFollower:
		if !isLeader && isVoter(r.peer) {
			sc |= scoreNormalPeer
		}
	case ReadLearner:
		if r.peer.GetRole() == metapb.PeerRole_Learner {
			sc |= scoreNormalPeer
		}
	default:
		if isVoter(r.peer) {
			sc |= scoreNormalPeer
		}
	}
	if !r.busyPending && !r.dataNotReady && !r.notLeader {
		sc |= scoreNotBusy
	}
	if r.attempts == 0 {
		sc |= scoreNotAttempted
	}
	return sc
}

// matches reports whether r's store satisfies the label and store filters.
func (s *selector) matches(r *replica) bool {
	if len(s.opts.MatchStores) > 0 {
		found := false
		for _, id := range s.opts.MatchStores {
			if id == r.store.id {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return r.store.matchLabels(s.opts.MatchLabels)
}

func isVoter(p *metapb.Peer) bool { return p.GetRole() != metapb.PeerRole_Learner }

// onNotLeader handles NotLeader (SB-17): with a hint the hinted peer becomes the leader
// and gets one more attempt; it reports whether the hint was usable.
func (s *selector) onNotLeader(leaderStore uint64) bool {
	s.last.r.notLeader = true
	if leaderStore == 0 {
		return false
	}
	for i, r := range s.replicas {
		if r.store.id == leaderStore {
			s.leader = i
			r.notLeader = false
			r.attempts = min(r.attempts, maxReplicaAttempts-1)
			s.leaderHinted = s.candidate(r)
			return s.leaderHinted
		}
	}
	return false
}

// onServerBusy records a busy answer (RS-9): the replica gets a pending backoff. A leader
// read whose leader keeps saying busy without an estimated wait probes a follower once.
func (s *selector) onServerBusy(estimatedWait time.Duration) {
	t := s.last
	t.r.busyPending = true
	if t.leaderRead && t.r == s.leaderReplica() && estimatedWait == 0 {
		s.leaderBusy++
		if s.leaderBusy == 2 {
			s.probeFollower = true
		}
	}
}

// onSuccess reports the peer that should be cached as the leader, if a leader read was
// served by a replica other than the cached leader.
func (s *selector) onSuccess() (storeID uint64, changed bool) {
	t := s.last
	if t.leaderRead && !t.replicaRead && !t.staleRead && t.r.store.id != s.region.stores[s.region.leader.Load()].id {
		return t.r.store.id, true
	}
	return 0, false
}

// allRejectedLeadership reports whether every voter tried answered NotLeader.
func (s *selector) allRejectedLeadership() bool {
	for _, r := range s.replicas {
		if isVoter(r.peer) && !r.notLeader && s.candidate(r) {
			return false
		}
	}
	return true
}

// anyBusy reports whether a replica answered ServerIsBusy and was not tried since.
func (s *selector) anyBusy() bool {
	for _, r := range s.replicas {
		if r.busyPending {
			return true
		}
	}
	return false
}
