package txn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Snapshot read options and reads with commit timestamps (TXN-19, TXN-20). The point
// read loop itself is in pointget.go.

// readOptions are the choices of a snapshot's point reads.
type readOptions struct {
	timeout time.Duration // WithKVReadTimeout
	stale   bool          // WithStaleRead (Client.Snapshot only)
}

// WithKVReadTimeout bounds the first round of every point read (Get, BatchGet and their
// commit-ts forms) of the snapshot or transaction: each replica tried in that round gets
// d to answer, and TiKV is told to give up after d too; a replica that does not answer
// in time is left and the read moves to the next one at once, without backoff (a leader
// read continues on followers as replica reads). When every replica was tried the read
// goes on with the normal attempt bound (cluster.DefaultReadAttemptTimeout) and only
// the caller's ctx ends it. Values <= 0 mean no read timeout. client-go:
// KVSnapshot.SetKVReadTimeout.
func WithKVReadTimeout(d time.Duration) TxnOption {
	return func(o *txnOptions) { o.reads.timeout = max(d, 0) }
}

// WithStaleRead makes the point reads (Get, BatchGet) of a snapshot stale reads: the
// first attempt goes to the best replica (see WithReplicaRead's labels and
// region.Options.StaleRead), which serves it from its own data when its safe ts has
// reached the snapshot's ts; otherwise the leader serves a normal read. A point read that
// meets a lock continues as a leader read after resolving it (client-go's
// DisableStaleReadMeetLock). The snapshot's ts must be a stale-read ts (for instance
// pd.Client.StaleTimestamp); kv.MaxTS is refused with kv.ErrInvalidReadTS. Scans are not
// stale reads (neither are client-go's). Only Client.Snapshot honours it; Begin and
// Transact ignore it.
func WithStaleRead() SnapshotOption { return func(o *txnOptions) { o.reads.stale = true } }

// ValueEntry is a value with the commit timestamp of the version it was read from.
type ValueEntry struct {
	Value    []byte
	CommitTS uint64
}

// ErrCommitTSMissing: a read asked for commit timestamps and TiKV sent a value without
// one (a server that does not support KvGet/KvBatchGet's need_commit_ts). client-go
// returns an error in this case too ("commit ts is required but not returned").
var ErrCommitTSMissing = errors.New("txn: commit ts required but not returned")

// GetWithCommitTS returns the value of key at the snapshot's timestamp together with the
// commit timestamp of that version (client-go's Get with kv.WithReturnCommitTS). Cached
// values are used when their commit ts is known.
//
// Errors: those of Get; an error wrapping ErrCommitTSMissing when TiKV returned the
// value without its commit ts.
func (s *Snapshot) GetWithCommitTS(ctx context.Context, key []byte) (ValueEntry, error) {
	e, err := s.getCached(ctx, key, true)
	if err != nil {
		return ValueEntry{}, err
	}
	if e.Value == nil {
		return ValueEntry{}, kv.ErrNotFound
	}
	if e.CommitTS == 0 {
		return ValueEntry{}, fmt.Errorf("%w: key %v at %d", ErrCommitTSMissing, kv.Key(key), s.ts)
	}
	return e, nil
}

// BatchGetWithCommitTS is BatchGet returning, for each key that exists, its value and
// the commit timestamp of that version (client-go's BatchGet with
// kv.WithReturnCommitTS).
//
// Errors: those of BatchGet; an error wrapping ErrCommitTSMissing when TiKV returned a
// value without its commit ts.
func (s *Snapshot) BatchGetWithCommitTS(ctx context.Context, keys [][]byte) (map[string]ValueEntry, error) {
	out := make(map[string]ValueEntry, len(keys))
	var missing []byte
	err := s.batchGet(ctx, keys, true, func(k string, e ValueEntry) {
		if e.CommitTS == 0 && missing == nil {
			missing = []byte(k)
		}
		out[k] = e
	})
	if err != nil {
		return nil, err
	}
	if missing != nil {
		return nil, fmt.Errorf("%w: key %v at %d", ErrCommitTSMissing, kv.Key(missing), s.ts)
	}
	return out, nil
}

// pointRoute returns the Sender options of a point read's first request: the snapshot's
// routing plus its stale read and read timeout.
func (s *Snapshot) pointRoute() *region.Options {
	o := s.route()
	o.StaleRead = s.stale
	o.ReadTimeout = s.opts.reads.timeout
	return o
}

// afterFirstSend returns the options of a point read's later requests: the read
// timeout was for the first one only (client-go: useConfigurableKVTimeout).
func afterFirstSend(o *region.Options) *region.Options {
	if o.ReadTimeout == 0 {
		return o
	}
	c := *o
	c.ReadTimeout = 0
	return &c
}

// afterLock returns the options of a point read's requests after it met a lock: a stale
// read continues as a leader read, since the lock may have been resolved only on the
// leader so far (client-go's DisableStaleReadMeetLock).
func afterLock(o *region.Options) *region.Options {
	if !o.StaleRead {
		return o
	}
	c := *o
	c.StaleRead, c.ReplicaRead, c.BusyThreshold = false, region.ReadLeader, 0
	return &c
}

// cachedEntry returns the cached read of key. With needTS a value is a hit only when its
// commit ts is known (an absent key always is).
func (s *Snapshot) cachedEntry(key []byte, needTS bool) (e ValueEntry, hit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, hit := s.cache[string(key)]
	if !hit {
		return ValueEntry{}, false
	}
	e = ValueEntry{Value: v}
	if v != nil && needTS {
		e.CommitTS = s.commitTS[string(key)]
		hit = e.CommitTS != 0
	}
	return e, hit
}

// storeEntry caches a read of key, with its commit ts when known.
func (s *Snapshot) storeEntry(key []byte, e ValueEntry) {
	s.store(key, e.Value)
	if e.CommitTS == 0 || e.Value == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[string(key)]; !ok {
		return // the cache is full or disabled
	}
	if s.commitTS == nil {
		s.commitTS = make(map[string]uint64)
	}
	s.commitTS[string(key)] = e.CommitTS
}
