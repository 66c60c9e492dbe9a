package memdb

import "github.com/tikvsql/tikvsql/kv"

// KeyFlags are per-key facts a transaction records alongside (or instead of) a value
// (inventory TXN-22). The zero value means no flag.
type KeyFlags uint16

// Key flags.
const (
	// FlagPresumeKNE: the key is presumed not to exist; the check is deferred to prewrite.
	FlagPresumeKNE KeyFlags = 1 << iota
	// FlagNeedCheckExists: existence must be checked when the key is locked.
	FlagNeedCheckExists
	// FlagKeyLocked: a pessimistic lock on the key is held. Persistent.
	FlagKeyLocked
	// FlagKeyLockedValExist: when locked, the key had a value. Persistent.
	FlagKeyLockedValExist
	// FlagNeedLocked: the key must be locked (lazily, at commit).
	FlagNeedLocked
	// FlagPrewriteOnly: the key takes part in prewrite but not in commit.
	FlagPrewriteOnly
	// FlagIgnoredIn2PC: the key is not sent to TiKV at commit.
	FlagIgnoredIn2PC
	// FlagReadable: in-transaction reads may see the buffered value.
	FlagReadable
	// FlagNewlyInserted: the key was written by an insert.
	FlagNewlyInserted
	// FlagAssertExist: the transaction asserts that the key exists.
	FlagAssertExist
	// FlagAssertNotExist: the transaction asserts that the key does not exist. Both
	// assertion flags together mean "unknown": no assertion can be made.
	FlagAssertNotExist
	// FlagNeedConstraintCheckInPrewrite: a deferred uniqueness check runs in prewrite.
	// Persistent.
	FlagNeedConstraintCheckInPrewrite
	// FlagPreviousPresumeKNE: the key was presumed not to exist before a later write.
	FlagPreviousPresumeKNE
	// FlagKeyLockedShared: a shared pessimistic lock on the key is held. Persistent.
	FlagKeyLockedShared
)

// PersistentFlags survive Cleanup and RevertToCheckpoint: they record locks that exist in
// TiKV whatever happens to the statement that took them.
const PersistentFlags = FlagKeyLocked | FlagKeyLockedValExist | FlagNeedConstraintCheckInPrewrite | FlagKeyLockedShared

// assertionMask selects the two assertion bits.
const assertionMask = FlagAssertExist | FlagAssertNotExist

// Has reports whether every flag in mask is set.
func (f KeyFlags) Has(mask KeyFlags) bool { return f&mask == mask }

// Assertion returns the assertion the flags express, and false when both assertion bits
// are set (the key's existence cannot be asserted) or neither is.
func (f KeyFlags) Assertion() (kv.Assertion, bool) {
	switch f & assertionMask {
	case FlagAssertExist:
		return kv.AssertExist, true
	case FlagAssertNotExist:
		return kv.AssertNotExist, true
	}
	return kv.AssertNone, false
}

// HasAssertionFlags reports whether an assertion (including "unknown") has been decided.
func (f KeyFlags) HasAssertionFlags() bool { return f&assertionMask != 0 }

// WithAssertion returns f with its assertion bits replaced by a (AssertNone clears them).
func (f KeyFlags) WithAssertion(a kv.Assertion) KeyFlags {
	f &^= assertionMask
	switch a {
	case kv.AssertExist:
		f |= FlagAssertExist
	case kv.AssertNotExist:
		f |= FlagAssertNotExist
	}
	return f
}
