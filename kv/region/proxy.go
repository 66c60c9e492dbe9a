package region

import (
	"context"
	"time"
)

// Forwarding through a proxy store (RPC-7).
//
// When the client cannot reach the store of a region's leader but the other stores
// can, a leader request may still be served: it is sent to a follower's store with the
// tikv-forwarded-host gRPC header naming the leader's address, and that store relays it
// (TiKV's src/server/proxy.rs). The request's Context still names the leader peer, so
// the leader serves it as a normal leader request. The rules follow client-go's
// ReplicaSelectLeaderWithProxyStrategy (internal/locate/replica_selector.go):
//
//   - only with SenderConfig.EnableForwarding, only for leader requests (ReadLeader,
//     not stale reads) of regions with more than one replica;
//   - only while the leader's store is marked unreachable: with a Prober, until a
//     probe finds it alive again (client-go's liveness state), not merely until the
//     mark's Config.UnreachableRetry lapses, so that forwarded requests do not go back
//     to a store that still refuses them; once it is reachable again, or the leader
//     answered NotLeader, requests go direct and the remembered proxy of the region is
//     dropped;
//   - the proxy that relayed a request is remembered per cached region and reused by
//     later requests while it stays a candidate; otherwise the first candidate in peer
//     order is used. A candidate is a non-leader replica on a reachable store that this
//     request has not tried yet (as a target or as a proxy), so a proxy that fails is
//     not used again by the request and the next candidate is tried;
//   - a direct leader attempt whose store does not answer its health probe marks the
//     store unreachable without invalidating the regions on it (the region stays cached
//     so that the next attempt can forward), and the leader stays a candidate;
//   - when no candidate is left, the leader's store is re-read from PD on next use and
//     the request ends with a Resplit error (the caller reloads the region), without
//     the usual last attempt on unreachable stores (selector.next), as in client-go.

// forwardedHostKey is the context key of the forwarded host.
type forwardedHostKey struct{}

// WithForwardedHost returns a copy of ctx telling the Transport that the request sent
// to addr must be relayed by that store to the store at host (the tikv-forwarded-host
// header). The Sender sets it on the ctx of each forwarded attempt; an empty host
// returns ctx unchanged.
func WithForwardedHost(ctx context.Context, host string) context.Context {
	if host == "" {
		return ctx
	}
	return context.WithValue(ctx, forwardedHostKey{}, host)
}

// ForwardedHost returns the host set by WithForwardedHost, or "" when the request goes
// straight to its address. Transports read it in Invoke (see Transport).
func ForwardedHost(ctx context.Context) string {
	h, _ := ctx.Value(forwardedHostKey{}).(string)
	return h
}

// proxyIndex returns the index of the peer remembered as the region's proxy, or -1.
func (r *entry) proxyIndex() int { return int(r.proxy.Load()) - 1 }

// setProxy remembers peer i as the region's proxy; -1 forgets it.
func (r *entry) setProxy(i int) { r.proxy.Store(int32(i + 1)) }

// initForwarding sets sel's forwarding switches from the Sender's config and cache.
func (s *Sender) initForwarding(sel *selector) {
	sel.forward = s.cfg.EnableForwarding
	sel.probed = s.cache.prober != nil
}

// leaderCutOff reports whether the leader's store counts as unreachable for
// forwarding: marked and not yet found alive by a probe (when the cache probes), or
// marked and the mark not yet lapsed.
func (s *selector) leaderCutOff(st *Store, now time.Time) bool {
	if s.probed {
		return st.unreachableUntil.Load() != 0
	}
	return !st.Reachable(now)
}

// forwarding reports whether the selector may forward this request's leader attempts.
func (s *selector) forwarding() bool {
	return s.forward && len(s.replicas) > 1 && s.opts.ReplicaRead == ReadLeader && !s.opts.StaleRead
}

// nextProxied returns the forwarded attempt on the leader, with done set; done is false
// when the leader is to be reached directly (reachable, or out of the proxy rules) and
// the normal leader path decides.
func (s *selector) nextProxied() (t *target, done bool) {
	l := s.leaderReplica()
	now := s.now()
	if s.ignoreReach || !s.leaderCutOff(l.store, now) || l.notLeader {
		s.region.setProxy(-1)
		return nil, false
	}
	if l.failed || l.attempts >= maxReplicaAttempts || (l.attempts > 0 && now.Sub(l.first) >= maxReplicaTime) {
		return nil, false
	}
	if i := s.region.proxyIndex(); i >= 0 && i < len(s.replicas) && i != s.leader && s.proxyCandidate(s.replicas[i], now) {
		return &target{r: l, proxy: s.replicas[i], leaderRead: true}, true
	}
	for i, r := range s.replicas {
		if i != s.leader && s.proxyCandidate(r, now) {
			return &target{r: l, proxy: r, leaderRead: true}, true
		}
	}
	// Every follower failed to forward: the leader's store may have moved. No last
	// direct attempt on the unreachable leader either.
	l.store.needCheck.Store(true)
	s.triedUnreach = true
	return nil, true
}

// proxyCandidate reports whether r may relay this request to the leader.
func (s *selector) proxyCandidate(r *replica, now time.Time) bool {
	return r.attempts == 0 && !r.failed && r.store.Reachable(now)
}

// onRelayed remembers the proxy of the last attempt, which relayed it (any answer, even
// a region error, came back through it).
func (s *selector) onRelayed() {
	p := s.last.proxy
	if p == nil {
		return
	}
	for i, r := range s.replicas {
		if r == p {
			s.region.setProxy(i)
			return
		}
	}
}

// keepLeaderForProxy reports whether a failed direct attempt on r, whose store did
// not answer its probe, leaves r a candidate to be reached through a proxy (client-go's
// onSendFailure returns early in that case, without invalidating the store's regions).
func (s *selector) keepLeaderForProxy(r *replica, forwarded bool) bool {
	return s.forwarding() && !forwarded && r == s.leaderReplica() && !r.notLeader
}

// markUnreachableKeepRegions is markUnreachable without the epoch bump: the store's
// cached regions stay valid, so that requests for the regions it leads can be
// forwarded through a follower.
func (c *storeCache) markUnreachableKeepRegions(s *Store, d time.Duration) {
	now := c.clock()
	first := s.unreachableUntil.Swap(now.Add(d).UnixNano()) == 0
	if first || now.UnixNano()-s.resolvedAt.Load() >= int64(d) {
		s.needCheck.Store(true)
	}
	s.slow.markSlow(now)
}

// resolveTarget returns the address an attempt is sent to: the target's store, or the
// proxy's when the attempt is forwarded, in which case a.forwardedHost is set to the
// target's address. A replica whose store cannot be resolved is not tried again.
func (s *Sender) resolveTarget(ctx context.Context, a *attempt, t *target) (string, error) {
	a.forwardedHost = ""
	addr, err := s.cache.stores.resolve(ctx, t.r.store)
	if err != nil {
		if ctx.Err() == nil {
			t.r.failed = true
		}
		return "", err
	}
	if t.proxy == nil {
		return addr, nil
	}
	paddr, err := s.cache.stores.resolve(ctx, t.proxy.store)
	if err != nil {
		if ctx.Err() == nil {
			t.proxy.failed = true
		}
		return "", err
	}
	a.forwardedHost = addr
	return paddr, nil
}

// contacted returns the replica whose store the attempt was sent to: the proxy when
// forwarded, else the target.
func (a *attempt) contacted() *replica {
	if a.target.proxy != nil {
		return a.target.proxy
	}
	return a.target.r
}

// targetAddr returns the address of the target's store (the forwarded host when the
// attempt went through a proxy).
func (a *attempt) targetAddr() string {
	if a.forwardedHost != "" {
		return a.forwardedHost
	}
	return a.addr
}
