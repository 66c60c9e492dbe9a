package txn

import (
	"errors"
	"fmt"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// LockWaitKind is the kind of a lock wait policy.
type LockWaitKind uint8

// Lock wait policies (TXN-6).
const (
	// LockWaitDefault waits once for as long as TiKV's default lock wait
	// (wait-for-lock-timeout, 1 s), then fails with kv.ErrLockWaitTimeout if the lock is
	// still held. The zero value.
	LockWaitDefault LockWaitKind = iota
	// LockWaitForever waits until the holder commits, rolls back or its lock expires;
	// only ctx bounds it.
	LockWaitForever
	// LockWaitNoWait fails at once with kv.ErrLockNoWait when a key is locked by a live
	// transaction.
	LockWaitNoWait
	// LockWaitTimeout waits at most LockWait.Timeout in total, then fails with
	// kv.ErrLockWaitTimeout.
	LockWaitTimeout
)

// LockWait is a wait policy for pessimistic locks: what LockKeys does when another
// transaction holds a lock on a key it must lock. Timeout is used with LockWaitTimeout
// only and must then be positive. The zero value is LockWaitDefault.
type LockWait struct {
	Kind    LockWaitKind
	Timeout time.Duration
}

// Errors of invalid lock options.
var (
	// ErrInvalidLockWait reports a LockWait that is not one of the policies.
	ErrInvalidLockWait = errors.New("txn: invalid lock wait policy")
	// ErrInvalidLockOptions reports LockOptions that contradict each other.
	ErrInvalidLockOptions = errors.New("txn: invalid lock options")
	// ErrNotPessimistic reports a pessimistic-only lock option (ReturnValues,
	// CheckExistence, LockOnlyIfExists) used in an optimistic transaction.
	ErrNotPessimistic = errors.New("txn: lock option needs a pessimistic transaction")
)

func (w LockWait) validate() error {
	switch w.Kind {
	case LockWaitDefault, LockWaitForever, LockWaitNoWait:
		if w.Timeout != 0 {
			return fmt.Errorf("%w: a timeout needs LockWaitTimeout", ErrInvalidLockWait)
		}
	case LockWaitTimeout:
		if w.Timeout <= 0 {
			return fmt.Errorf("%w: LockWaitTimeout needs a positive timeout", ErrInvalidLockWait)
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrInvalidLockWait, w.Kind)
	}
	return nil
}

// waitTimeoutMs is the WaitTimeout of the next lock request, given the time already
// waited: TiKV reads 0 as its default wait and a negative value as no wait. The wait
// sent is what is left of the policy, so retries do not extend it (SB-13).
func (w LockWait) waitTimeoutMs(waited time.Duration) int64 {
	switch w.Kind {
	case LockWaitNoWait:
		return -1
	case LockWaitTimeout:
		left := (w.Timeout - waited).Milliseconds()
		if left <= 0 {
			return -1
		}
		return left
	}
	return 0
}

// gaveUp returns the error of a lock request that met a live lock after waiting waited,
// or nil when the policy allows another round.
func (w LockWait) gaveUp(waited time.Duration, rounds int) error {
	switch w.Kind {
	case LockWaitNoWait:
		return kv.ErrLockNoWait
	case LockWaitTimeout:
		if waited >= w.Timeout {
			return kv.ErrLockWaitTimeout
		}
	case LockWaitDefault:
		if rounds >= 1 {
			return kv.ErrLockWaitTimeout
		}
	}
	return nil
}

// LockOptions are the choices of one LockKeysWithOptions call (TXN-7).
type LockOptions struct {
	// Wait is the wait policy; the zero value uses the transaction's (WithLockWait).
	Wait LockWait
	// ReturnValues reads the keys' latest committed values under the new locks. Later
	// reads of those keys in the transaction (Get, BatchGet, Iter, Scan) return these
	// values rather than the snapshot's, which makes "lock, read, write" free of lost
	// updates. When Values is not nil it receives them too (absent keys are left out).
	ReturnValues bool
	// CheckExistence asks TiKV whether each key exists, without its value; Insert then
	// fails at once for a locked key that exists.
	CheckExistence bool
	// LockOnlyIfExists locks only the keys that exist. It needs ReturnValues, and when
	// more than one key is locked the transaction must already hold a lock (its primary).
	LockOnlyIfExists bool
	// Values, when not nil, receives the values read with ReturnValues.
	Values map[string][]byte
	// Shared locks the keys in share mode (TXN-9, sharedlock.go): other transactions
	// may hold shared locks on them too, but no exclusive lock. It needs a pessimistic
	// transaction that already chose its primary with an exclusive lock; a shared lock is
	// never upgraded to an exclusive one.
	Shared bool
	// Stats, when not nil, receives how the call went (see LockStats).
	Stats *LockStats

	counters *lockCounters   // collects Stats (lockstats.go)
	inserted map[string]bool // keys buffered by Insert (set by the lock call)
	force    bool            // lock in TiKV's force-lock wake-up mode (set by the lock call)
}

func (o *LockOptions) validate(hasPrimary bool, keys int) error {
	if o.LockOnlyIfExists && !o.ReturnValues {
		return fmt.Errorf("%w: LockOnlyIfExists needs ReturnValues", ErrInvalidLockOptions)
	}
	if o.LockOnlyIfExists && !hasPrimary && keys > 1 {
		return fmt.Errorf("%w: LockOnlyIfExists of several keys needs a locked primary", ErrInvalidLockOptions)
	}
	return o.Wait.validate()
}
