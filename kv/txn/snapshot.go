package txn

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Reader is the read API shared by *Snapshot and *Txn.
type Reader interface {
	// Get returns the value of key; an absent key is kv.ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// BatchGet returns the values of the keys that exist.
	BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error)
	// Iter iterates over [start, end); a nil end means the end of the key space.
	Iter(ctx context.Context, start, end []byte, opts ...IterOption) *Iterator
	// Scan returns up to limit pairs of [start, end) (limit <= 0: all of them).
	Scan(ctx context.Context, start, end []byte, limit int, opts ...IterOption) ([]kv.KeyValue, error)
}

var (
	_ Reader = (*Snapshot)(nil)
	_ Reader = (*Txn)(nil)
)

// Snapshot reads the data committed at or before one timestamp. Locks of other
// transactions met while reading are resolved (see doc.go); transactions found committed
// or rolled back are remembered and sent with later reads (Context.CommittedLocks and
// ResolvedLocks) so TiKV lets those reads through. Point reads are cached for the
// snapshot's lifetime (up to Config.ReadCacheSize keys), except at kv.MaxTS, where every
// read returns the latest data. Safe for concurrent use.
type Snapshot struct {
	c    *Client
	ts   uint64
	opts txnOptions

	stale bool // WithStaleRead (readopts.go)

	mu        sync.Mutex
	cache     map[string][]byte // nil value: known absent
	commitTS  map[string]uint64 // commit ts of cached values, when read (readopts.go)
	resolved  []uint64
	committed []uint64
}

func newSnapshot(c *Client, ts uint64, o txnOptions) *Snapshot {
	return &Snapshot{c: c, ts: ts, opts: o}
}

// TS returns the snapshot's read timestamp.
func (s *Snapshot) TS() uint64 { return s.ts }

// reqContext is the request context of a read, carrying the lock lists.
func (s *Snapshot) reqContext() *kvrpcpb.Context {
	rc := requestContext(&s.opts)
	s.mu.Lock()
	rc.ResolvedLocks = slices.Clone(s.resolved)
	rc.CommittedLocks = slices.Clone(s.committed)
	s.mu.Unlock()
	return rc
}

func (s *Snapshot) route() *region.Options {
	return routeOptions(&s.opts, backoff.Weighted(backoff.BudgetSnapshotRead))
}

func (s *Snapshot) backoffer() *backoff.Backoffer {
	return s.c.newBackoffer(backoff.Weighted(backoff.BudgetSnapshotRead))
}

func (s *Snapshot) store(key, val []byte) {
	if s.c.cfg.ReadCacheSize < 0 || s.ts == kv.MaxTS {
		// A MaxTS snapshot reads the latest data: a cached value could be stale.
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = make(map[string][]byte)
	}
	if len(s.cache) < s.c.cfg.ReadCacheSize {
		s.cache[string(key)] = val
	}
}

// check validates the read timestamp before a read, and that the GC safe point has
// not passed it.
func (s *Snapshot) check(ctx context.Context) error {
	if s.c.isClosed() {
		return kv.ErrClosed
	}
	if err := s.c.cl.PD().ValidateReadTS(ctx, s.ts, s.stale); err != nil {
		return fmt.Errorf("txn: read at %d: %w", s.ts, err)
	}
	return s.visible(ctx)
}

// visible checks, after a read, that the GC safe point did not pass the snapshot
// (SB-16): the data read may otherwise be incomplete.
func (s *Snapshot) visible(ctx context.Context) error {
	if err := s.c.checkVisibility(ctx, s.ts); err != nil {
		return fmt.Errorf("txn: read at %d: %w", s.ts, err)
	}
	return nil
}

// onLocks resolves locks met by a read and waits (within bo) when some are still alive.
func (s *Snapshot) onLocks(ctx context.Context, bo *backoff.Backoffer, locks []kv.Lock) error {
	res, err := s.c.resolver.resolve(ctx, bo, s.ts, locks, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	repeated := true // every lock belongs to a transaction this snapshot already settled
	for _, l := range locks {
		repeated = repeated && (slices.Contains(s.resolved, l.StartTS) || slices.Contains(s.committed, l.StartTS))
	}
	s.resolved = appendNew(s.resolved, res.ignore)
	s.committed = appendNew(s.committed, res.access)
	s.mu.Unlock()
	cause := &kv.KeyLockedError{Lock: locks[0]}
	switch {
	case res.msBeforeExpired > 0:
		return bo.BackoffAtMost(ctx, backoff.TxnLockFast, msDuration(res.msBeforeExpired), cause)
	case repeated:
		// The server reported locks of transactions it was told to skip: back off rather
		// than spin, within the read's budget.
		return bo.Backoff(ctx, backoff.TxnLockFast, cause)
	}
	return nil
}

func appendNew(dst, src []uint64) []uint64 {
	for _, ts := range src {
		if !slices.Contains(dst, ts) {
			dst = append(dst, ts)
		}
	}
	return dst
}

// Get returns the value of key at the snapshot's timestamp (pointget.go).
//
// Errors: kv.ErrNotFound for an absent key; ErrEmptyKey; kv.ErrTxnAbortedByGC;
// a *kv.BackoffError (wrapping kv.ErrResolveLockTimeout and the *kv.KeyLockedError when a
// lock outlived the read budget, or the region and store sentinels); ctx's error.
func (s *Snapshot) Get(ctx context.Context, key []byte) ([]byte, error) {
	e, err := s.getCached(ctx, key, false)
	if err != nil {
		return nil, err
	}
	if e.Value == nil {
		return nil, kv.ErrNotFound
	}
	return e.Value, nil
}

// BatchGet returns the values of the keys that exist at the snapshot's timestamp, read
// in parallel per region (at most Config.BatchGetSize keys per request).
//
// Errors: as Get, except that absent keys are simply missing from the map.
func (s *Snapshot) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	if err := s.batchGet(ctx, keys, false, func(k string, e ValueEntry) { out[k] = e.Value }); err != nil {
		return nil, err
	}
	return out, nil
}

// Iter returns an iterator over [start, end) at the snapshot's timestamp (a nil end is
// the end of the key space). ctx bounds every fetch the iterator makes.
func (s *Snapshot) Iter(ctx context.Context, start, end []byte, opts ...IterOption) *Iterator {
	o := s.iterOptions(opts)
	if err := s.check(ctx); err != nil {
		return errIterator(err)
	}
	return &Iterator{ctx: ctx, src: newScanner(s, start, end, o)}
}

func (s *Snapshot) iterOptions(opts []IterOption) iterOptions {
	o := iterOptions{batchSize: s.c.cfg.ScanBatchSize}
	for _, f := range opts {
		f(&o)
	}
	if o.batchSize < 2 {
		o.batchSize = s.c.cfg.ScanBatchSize
	}
	return o
}

// Scan returns up to limit pairs of [start, end) in key order (reverse order with
// Reverse); limit <= 0 returns all of them.
//
// Errors: as Get, and kv.ErrInvalidRange.
func (s *Snapshot) Scan(ctx context.Context, start, end []byte, limit int, opts ...IterOption) ([]kv.KeyValue, error) {
	return collect(s.Iter(ctx, start, end, opts...), limit)
}

// collect drains it into a slice of at most limit pairs.
func collect(it *Iterator, limit int) ([]kv.KeyValue, error) {
	defer it.Close()
	var out []kv.KeyValue
	for (limit <= 0 || len(out) < limit) && it.Next() {
		out = append(out, kv.KeyValue{Key: it.Key(), Value: it.Value()})
	}
	return out, it.Err()
}
