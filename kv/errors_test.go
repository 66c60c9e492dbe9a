package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIsRetryable(t *testing.T) {
	wc := &WriteConflictError{Key: Key("k"), StartTS: 1, ConflictStartTS: 2, ConflictCommitTS: 3, Reason: ConflictOptimistic}
	busy := &BackoffError{Err: ErrServerBusy, Kind: "tikvServerBusy", Cause: errors.New("busy"), Budget: time.Second}
	full := &BackoffError{Err: ErrDiskFull, Kind: "tikvDiskFull"}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"write conflict", wc, true},
		{"wrapped write conflict", fmt.Errorf("commit: %w", wc), true},
		{"key locked", &KeyLockedError{Lock: Lock{Key: Key("k")}}, true},
		{"retryable deadlock", &DeadlockError{IsRetryable: true}, true},
		{"fatal deadlock", &DeadlockError{IsRetryable: false}, false},
		{"key exists", &KeyExistsError{Key: Key("k")}, false},
		{"assertion", &AssertionFailedError{}, false},
		{"too large", &SizeLimitError{Err: ErrTxnTooLarge}, false},
		{"lock wait timeout", fmt.Errorf("lock: %w", ErrLockWaitTimeout), true},
		{"no wait", ErrLockNoWait, false},
		{"region unavailable sentinel", ErrRegionUnavailable, true},
		{"budget busy", busy, true},
		{"budget disk full", full, false},
		{"gc", ErrTxnAbortedByGC, false},
		{"canceled", context.Canceled, false},
		{"deadline wrapping a conflict", fmt.Errorf("%w: %w", context.DeadlineExceeded, wc), false},
		{"undetermined", fmt.Errorf("%w: %w", ErrUndetermined, wc), false},
		{"undetermined busy", fmt.Errorf("%w: %w", ErrUndetermined, busy), false},
	}
	for _, c := range cases {
		if got := IsRetryable(c.err); got != c.want {
			t.Errorf("%s: IsRetryable = %v, want %v", c.name, got, c.want)
		}
	}
	if !IsUndetermined(fmt.Errorf("commit primary: %w", ErrUndetermined)) || IsUndetermined(wc) || IsUndetermined(nil) {
		t.Error("IsUndetermined")
	}
}

func TestBackoffErrorUnwrap(t *testing.T) {
	cause := errors.New("epoch not match")
	e := &BackoffError{Err: ErrRegionUnavailable, Kind: "regionMiss", Cause: cause, Total: 3 * time.Second,
		Budget: 2 * time.Second, Attempts: 7, History: []BackoffAttempt{{Kind: "regionMiss", Sleep: time.Millisecond, Cause: cause}}}
	wrapped := fmt.Errorf("get: %w", e)
	if !errors.Is(wrapped, ErrRegionUnavailable) || !errors.Is(wrapped, cause) || errors.Is(wrapped, ErrServerBusy) {
		t.Fatal("errors.Is through BackoffError")
	}
	var be *BackoffError
	if !errors.As(wrapped, &be) || be.Attempts != 7 || len(be.History) != 1 {
		t.Fatal("errors.As")
	}
	msg := e.Error()
	for _, want := range []string{"region unavailable", "regionMiss", "7 attempts", "epoch not match", "2s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	noCause := &BackoffError{Err: ErrPDUnavailable, Kind: "pdRPC"}
	if len(noCause.Unwrap()) != 1 || strings.Contains(noCause.Error(), "last error") {
		t.Fatal("BackoffError without cause")
	}
}

func TestErrorMessages(t *testing.T) {
	cases := []struct {
		err  error
		want []string
	}{
		{&WriteConflictError{Key: Key("k1"), StartTS: 10, ConflictStartTS: 11, ConflictCommitTS: 12, Reason: ConflictPessimisticRetry},
			[]string{`"k1"`, "10", "11", "12", "pessimistic retry"}},
		{&KeyLockedError{Lock: Lock{Key: Key("k2"), Primary: Key("p"), StartTS: 5, TTL: 3000, Type: LockPut}},
			[]string{`"k2"`, "txn 5", `"p"`, "3000ms", "put"}},
		{&DeadlockError{Key: Key("k3"), LockTS: 9, IsRetryable: true}, []string{`"k3"`, "txn 9", "retryable true"}},
		{&KeyExistsError{Key: Key("k4")}, []string{`"k4"`, "already exists"}},
		{&AssertionFailedError{Key: Key("k5"), StartTS: 3, Assertion: AssertNotExist, ExistingStartTS: 1, ExistingCommitTS: 2},
			[]string{`"k5"`, "not exist", "txn 3", "start 1 commit 2"}},
		{&SizeLimitError{Err: ErrEntryTooLarge, Size: 7, Limit: 6}, []string{"entry too large", "7 exceeds the limit of 6"}},
	}
	for _, c := range cases {
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%q lacks %q", c.err.Error(), w)
			}
		}
	}
	if !errors.Is(&SizeLimitError{Err: ErrKeyTooLarge}, ErrKeyTooLarge) {
		t.Error("SizeLimitError unwraps to its sentinel")
	}
}

func TestEnumStrings(t *testing.T) {
	for r, want := range map[ConflictReason]string{
		ConflictUnknown: "unknown", ConflictOptimistic: "optimistic", ConflictPessimisticRetry: "pessimistic retry",
		ConflictSelfRolledBack: "self rolled back", ConflictRCCheckTS: "read-committed check ts",
		ConflictLazyUniquenessCheck: "lazy uniqueness check", ConflictNotLockedKeyConflict: "not-locked key conflict",
		ConflictReason(99): "unknown",
	} {
		if r.String() != want {
			t.Errorf("ConflictReason(%d) = %q", r, r.String())
		}
	}
	for l, want := range map[LockType]string{
		LockPut: "put", LockDelete: "delete", LockLock: "lock", LockPessimistic: "pessimistic", LockShared: "shared", 0: "unknown",
	} {
		if l.String() != want {
			t.Errorf("LockType(%d) = %q", l, l.String())
		}
	}
	for a, want := range map[Assertion]string{AssertNone: "none", AssertExist: "exist", AssertNotExist: "not exist"} {
		if a.String() != want {
			t.Errorf("Assertion(%d) = %q", a, a.String())
		}
	}
}

func TestAccessLocationString(t *testing.T) {
	for a, want := range map[AccessLocation]string{AccessUnknown: "unknown", AccessLocalZone: "local-zone", AccessCrossZone: "cross-zone"} {
		if got := a.String(); got != want {
			t.Errorf("%d: %q, want %q", a, got, want)
		}
	}
}
