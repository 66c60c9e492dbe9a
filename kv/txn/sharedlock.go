package txn

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// Shared locks (TXN-9). LockOptions.Shared locks keys in share mode: TiKV lets several
// transactions hold such a lock on one key at once, while an exclusive lock (or a write)
// of another transaction waits for every holder, and a shared request waits for an
// exclusive lock. A shared lock guards a key the transaction reads but does not write,
// such as the parent row of a foreign key.
//
// The rules follow client-go (txn.go lockKeys with LockCtx.InShareMode, 2pc.go):
//   - only pessimistic transactions take shared locks, and only once a primary is chosen
//     by an exclusive lock: a shared lock is never a primary, because every holder would
//     need the key's lock for its own transaction status;
//   - a shared lock is never upgraded: an exclusive lock of a key the transaction holds
//     in share mode, or a write of it, fails with ErrSharedLockUpgrade before any request;
//   - LockOnlyIfExists is refused with Shared (ErrInvalidLockOptions): TiKV takes a
//     shared lock whether the key exists or not;
//   - shared locks are refused with fair locking (ErrSharedLockFairLocking: TiKV's
//     force-lock mode takes exclusive locks) and in pipelined transactions;
//   - prewrite sends Op_SharedLock for a shared-locked key, and a transaction holding a
//     shared lock commits with two-phase commit: no async commit, no 1PC;
//   - lock resolvers (readers, writers, lockers, GC) expand a shared lock's
//     SharedLockInfos and resolve each holder's transaction on its own;
//   - TiKV answers the first exclusive request meeting a shared lock at once, after
//     making the lock shrink-only; that answer does not count as a wait (shrinkRound).

// Errors of shared locks.
var (
	// ErrSharedLockNeedsPrimary reports a shared lock requested before the transaction
	// chose its primary: lock a key exclusively first.
	ErrSharedLockNeedsPrimary = errors.New("txn: a shared lock needs the transaction's primary; lock a key exclusively first")
	// ErrSharedLockUpgrade reports an exclusive lock, or a write, of a key the
	// transaction holds in share mode: TiKV does not upgrade shared locks.
	ErrSharedLockUpgrade = errors.New("txn: a shared lock cannot be upgraded to an exclusive lock or written")
	// ErrSharedLockFairLocking reports a shared lock in a transaction begun
	// WithFairLocking or inside an aggressive locking stage (client-go refuses shared
	// locks in aggressive locking mode).
	ErrSharedLockFairLocking = errors.New("txn: shared locks are not supported with fair locking")
)

// checkSharedLock applies the shared-lock rules to a lock call of a pessimistic
// transaction, before any request; mu held.
func (tx *Txn) checkSharedLock(o *LockOptions, keys [][]byte) error {
	if !o.Shared {
		for _, k := range keys {
			if tx.mem.Flags(k).Has(memdb.FlagKeyLockedShared) {
				return fmt.Errorf("%w: key %s", ErrSharedLockUpgrade, kv.Key(k))
			}
		}
		return nil
	}
	if tx.opts.proto.fairLocking || tx.agg != nil {
		return ErrSharedLockFairLocking
	}
	if o.LockOnlyIfExists {
		// TiKV takes a shared lock whether the key exists or not.
		return fmt.Errorf("%w: LockOnlyIfExists with Shared", ErrInvalidLockOptions)
	}
	if tx.pess.primary == nil {
		return ErrSharedLockNeedsPrimary
	}
	return nil
}

// refuseSharedLock reports the error of a shared lock in an optimistic or pipelined
// transaction, or nil.
func (tx *Txn) refuseSharedLock(o *LockOptions) error {
	switch {
	case !o.Shared:
		return nil
	case tx.opts.pipelined != nil:
		return fmt.Errorf("txn: shared lock: %w", ErrPipelinedUnsupported)
	}
	return ErrNotPessimistic
}

// lockOp is the operation of a lock request's mutations.
func (o *LockOptions) lockOp() kvrpcpb.Op {
	if o.Shared {
		return kvrpcpb.Op_SharedPessimisticLock
	}
	return kvrpcpb.Op_PessimisticLock
}

// sharedFlag is the flag a newly locked key gets besides FlagKeyLocked: a key the
// transaction already held keeps its mode (a shared request of an exclusively locked key,
// made to read its value, does not make it shared).
func (o *LockOptions) sharedFlag(held memdb.KeyFlags) memdb.KeyFlags {
	if o.Shared && !held.Has(memdb.FlagKeyLocked) {
		return memdb.FlagKeyLockedShared
	}
	return 0
}

// shrinkRound tracks, for one lock batch, TiKV's answer to an exclusive request that
// meets a shared lock: the first time, TiKV makes the shared lock shrink-only (no new
// holder may join) and answers KeyIsLocked at once instead of waiting (TiKV:
// txn/commands/acquire_pessimistic_lock.rs, NotInShrinkMode). That answer is not a wait,
// so it does not count as a round of the wait policy; the next request waits.
type shrinkRound struct {
	pending bool // this response came from an exclusive request meeting a shared lock
	used    bool // the free round was taken
}

// met notes a lock met by the request.
func (s *shrinkRound) met(o *LockOptions, le *lockedError) {
	if !o.Shared && len(le.holders) > 0 {
		s.pending = true
	}
}

// free reports whether this response's wait round is the free one, once per batch.
func (s *shrinkRound) free() bool {
	free := s.pending && !s.used
	s.used = s.used || free
	s.pending = false
	return free
}

// checkSharedLocks checks the mutations of a transaction holding shared locks before
// anything is sent: a shared-locked key must not be written (ErrSharedLockUpgrade) nor be
// the primary (ErrSharedLockNeedsPrimary, which LockKeysWithOptions already prevents).
// It records whether the transaction holds any shared lock (no async commit, no 1PC).
func (cm *committer) checkSharedLocks() error {
	for _, m := range cm.muts {
		if !m.flags.Has(memdb.FlagKeyLockedShared) {
			continue
		}
		if m.op != kvrpcpb.Op_SharedLock {
			return fmt.Errorf("%w: key %s is written", ErrSharedLockUpgrade, kv.Key(m.key))
		}
		if bytes.Equal(m.key, cm.primary) {
			return ErrSharedLockNeedsPrimary
		}
		cm.shared = true
	}
	return nil
}

// locks returns the locks a resolver must resolve for e: every holder of a shared lock,
// or the one lock.
func (e *lockedError) locks() []kv.Lock {
	if len(e.holders) > 0 {
		return e.holders
	}
	return []kv.Lock{e.lock}
}

// sharedHolders converts the holders of a shared lock's LockInfo, each keyed by the
// shared lock's key; nil for any other lock.
func (c *Client) sharedHolders(li *kvrpcpb.LockInfo) []kv.Lock {
	var out []kv.Lock
	for _, h := range li.GetSharedLockInfos() {
		l := c.lockFromInfo(h)
		if len(l.Key) == 0 {
			l.Key = c.decodeKey(li.GetKey())
		}
		out = append(out, l)
	}
	return out
}

// holderType is the lock type a resolver treats a shared lock's holder as. TiKV reports
// holders as ordinary PessimisticLock and Lock entries (SharedLocks::into_lock_info);
// earlier builds typed them SharedPessimisticLock and SharedLock, which are mapped the
// same way: a shared pessimistic lock is rolled back like a pessimistic one, a
// prewritten shared lock is resolved like a Lock. The shared lock itself (no start ts)
// stays kv.LockShared.
func holderType(li *kvrpcpb.LockInfo) kv.LockType {
	switch {
	case li.GetLockType() == kvrpcpb.Op_SharedPessimisticLock:
		return kv.LockPessimistic
	case len(li.GetSharedLockInfos()) == 0 && li.GetLockVersion() != 0:
		return kv.LockLock
	}
	return kv.LockShared
}
