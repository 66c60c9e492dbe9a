package txn

import (
	"errors"

	"github.com/tikvsql/tikvsql/kv"
)

// PrewriteLockPolicy is what a prewrite does when it meets another transaction's lock
// (client-go's PrewriteEncounterLockPolicy, TXN-32).
type PrewriteLockPolicy uint8

const (
	// PrewriteResolveLocks (the default) resolves the lock (committing or rolling back
	// its owner once it expired, waiting while it lives) and prewrites again.
	PrewriteResolveLocks PrewriteLockPolicy = iota
	// PrewriteNoResolve fails the commit at once with a *kv.WriteConflictError naming the
	// lock's owner instead of resolving or waiting: for callers that would rather retry
	// (Transact does) or give up than wait for another transaction.
	PrewriteNoResolve
)

// WithPrewriteLockPolicy sets what the transaction's prewrites do with other
// transactions' locks (default PrewriteResolveLocks).
func WithPrewriteLockPolicy(p PrewriteLockPolicy) TxnOption {
	return func(o *txnOptions) { o.prewriteLocks = p }
}

// prewriteLockConflict turns a lock met by a prewrite into the write conflict it stands
// for, or returns err unchanged when the lock should be resolved. Besides
// PrewriteNoResolve, an optimistic transaction that meets the lock of a younger
// transaction (a larger start ts) fails at once, as client-go does: if that owner
// commits, its commit ts is above our start ts and our prewrite would conflict anyway,
// so waiting for it can only delay the same error. A pessimistic transaction's prewrite
// resolves: its locked keys cannot meet such a lock, and TiKV reports the others.
func (cm *committer) prewriteLockConflict(err error) error {
	var le *lockedError
	if !errors.As(err, &le) {
		return err
	}
	younger := le.lock.StartTS > cm.startTS && !cm.tx.opts.proto.pessimistic
	if !younger && cm.tx.opts.prewriteLocks != PrewriteNoResolve {
		return err
	}
	return &kv.WriteConflictError{Key: le.lock.Key, Primary: kv.Key(cm.primary), StartTS: cm.startTS,
		ConflictStartTS: le.lock.StartTS, Reason: kv.ConflictOptimistic}
}
