package region

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv"
)

// VerID identifies one version of a region: its ID and the epoch it had when cached.
type VerID struct {
	ID      uint64
	ConfVer uint64
	Ver     uint64
}

// String formats the version as id:confVer:ver.
func (v VerID) String() string { return fmt.Sprintf("%d:%d:%d", v.ID, v.ConfVer, v.Ver) }

// Location is where a key lives: a region version and its key range [StartKey, EndKey)
// in user-key space (an empty EndKey is the end of the key space). It is a value the
// caller may keep and share between goroutines (do not modify it); it goes stale when the
// region splits, merges or moves, which the Sender reports with a *Error whose Resplit is
// true.
type Location struct {
	Region   VerID
	StartKey kv.Key
	EndKey   kv.Key
	Buckets  *metapb.Buckets // nil unless Config.Buckets; do not modify
}

// Contains reports whether key is in [StartKey, EndKey).
func (l *Location) Contains(key []byte) bool {
	return bytes.Compare(key, l.StartKey) >= 0 && (len(l.EndKey) == 0 || bytes.Compare(key, l.EndKey) < 0)
}

// ContainsEnd reports whether key is in (StartKey, EndKey]: the region a reverse scan
// ending (exclusively) at key reads from.
func (l *Location) ContainsEnd(key []byte) bool {
	return bytes.Compare(key, l.StartKey) > 0 && (len(l.EndKey) == 0 || bytes.Compare(key, l.EndKey) <= 0)
}

// Range returns [StartKey, EndKey).
func (l *Location) Range() kv.KeyRange { return kv.KeyRange{Start: l.StartKey, End: l.EndKey} }

// Bucket returns the bucket of the location's buckets that holds key, clamped to the
// region's range (RC-7). Without buckets it returns the region's range.
func (l *Location) Bucket(key []byte) kv.KeyRange {
	r := l.Range()
	if l.Buckets == nil || len(l.Buckets.Keys) < 2 {
		return r
	}
	keys := l.Buckets.Keys
	for i := 0; i+1 < len(keys); i++ {
		b := kv.KeyRange{Start: keys[i], End: keys[i+1]}
		if i+2 == len(keys) && len(keys[i+1]) == 0 {
			b.End = nil
		}
		if b.Contains(key) {
			if got, ok := b.Intersect(r); ok {
				return got
			}
		}
	}
	return r
}

// Reason says why a cached region was invalidated (RC-5).
type Reason int32

// Invalidation reasons.
const (
	ReasonNone           Reason = iota // still valid
	ReasonNoLeader                     // no replica accepted leader requests; reload starts at the next peer
	ReasonRegionNotFound               // TiKV no longer has the region
	ReasonEpochNotMatch                // split, merge or conf change
	ReasonStoreNotFound                // a store of the region is gone or moved
	ReasonOther                        // anything else (TTL, unreachable replicas, unknown errors)
)

// String names the reason.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "ok"
	case ReasonNoLeader:
		return "no leader"
	case ReasonRegionNotFound:
		return "region not found"
	case ReasonEpochNotMatch:
		return "epoch not match"
	case ReasonStoreNotFound:
		return "store not found"
	}
	return "other"
}

// entry is one cached region: immutable metadata plus the mutable working leader, TTL
// and invalidation state, all accessed atomically.
type entry struct {
	meta        *metapb.Region                 // user-key space
	peers       []*metapb.Peer                 // usable peers (tombstone/witness/empty-address filtered)
	stores      []*Store                       // stores[i] holds peers[i]
	storeEpochs []uint32                       // store epochs when the region was cached
	downPeers   map[uint64]bool                // peer IDs PD reported down (dropped from peers)
	buckets     atomic.Pointer[metapb.Buckets] // nil unless loaded; replaced on BucketVersionNotMatch

	leader      atomic.Int32 // index into peers of the working leader
	ttl         atomic.Int64 // unix nanos after which the entry expires
	invalid     atomic.Int32 // Reason, ReasonNone while valid
	expireOnTTL atomic.Bool  // TTL no longer slides on access (down peers, an unreachable store)
	proxy       atomic.Int32 // 1 + index into peers of the peer that last forwarded to the leader; 0: none (proxy.go)
}

// VerID returns the region's version identity.
func (r *entry) VerID() VerID {
	e := r.meta.GetRegionEpoch()
	return VerID{ID: r.meta.GetId(), ConfVer: e.GetConfVer(), Ver: e.GetVersion()}
}

// location returns a Location snapshot of r.
func (r *entry) location() *Location {
	return &Location{Region: r.VerID(), StartKey: r.meta.StartKey, EndKey: r.meta.EndKey, Buckets: r.buckets.Load()}
}

func (r *entry) contains(key []byte) bool {
	return bytes.Compare(key, r.meta.StartKey) >= 0 && (len(r.meta.EndKey) == 0 || bytes.Compare(key, r.meta.EndKey) < 0)
}

func (r *entry) containsEnd(key []byte) bool {
	return bytes.Compare(key, r.meta.StartKey) > 0 && (len(r.meta.EndKey) == 0 || bytes.Compare(key, r.meta.EndKey) <= 0)
}

// leaderPeer returns the working leader and its store.
func (r *entry) leaderPeer() (*metapb.Peer, *Store) {
	i := r.leader.Load()
	return r.peers[i], r.stores[i]
}

// peerIndexByStore returns the index of the peer on storeID, or -1.
func (r *entry) peerIndexByStore(storeID uint64) int {
	for i, p := range r.peers {
		if p.GetStoreId() == storeID {
			return i
		}
	}
	return -1
}

// invalidate marks r invalid for reason; the first reason sticks.
func (r *entry) invalidate(reason Reason) bool {
	return r.invalid.CompareAndSwap(int32(ReasonNone), int32(reason))
}

// reason returns why r was invalidated, or ReasonNone.
func (r *entry) reason() Reason { return Reason(r.invalid.Load()) }

// usable reports whether r may still serve lookups at now: not invalidated, not expired
// and no store of it changed since it was cached. It slides the TTL (RC-4), unless the
// region had down peers or one of its stores has been found unreachable: such a region
// expires on schedule and is reloaded.
func (r *entry) usable(now time.Time, nextTTL func(time.Time) int64) bool {
	if r.reason() != ReasonNone {
		return false
	}
	for i, s := range r.stores {
		if s.epoch.Load() != r.storeEpochs[i] {
			r.invalidate(ReasonStoreNotFound)
			return false
		}
	}
	deadline := r.ttl.Load()
	if now.UnixNano() > deadline {
		return false
	}
	if r.expireOnTTL.Load() {
		return true
	}
	for _, s := range r.stores {
		if !s.Reachable(now) {
			// Expire on schedule so that the region is reloaded from PD, which may know
			// a new leader or peer list by then (client-go's needExpireAfterTTL).
			r.expireOnTTL.Store(true)
			return true
		}
	}
	r.ttl.CompareAndSwap(deadline, nextTTL(now))
	return true
}
