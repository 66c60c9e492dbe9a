package dsn

import (
	"fmt"
	"time"
)

// LockWaitKind is the policy of a pessimistic lock that meets another transaction's lock.
type LockWaitKind uint8

// Lock wait policies.
const (
	// LockWaitDefault waits as long as the server's default (the zero value).
	LockWaitDefault LockWaitKind = iota
	// LockWaitTimeout waits at most LockWait.Timeout, then fails with
	// kv.ErrLockWaitTimeout.
	LockWaitTimeout
	// LockWaitNoWait fails at once with kv.ErrLockNoWait.
	LockWaitNoWait
	// LockWaitForever waits until the holder commits, rolls back or expires.
	LockWaitForever
)

// LockWait is the lockWaitTimeout parameter: a positive duration ("3s"), "nowait" or
// "forever". The zero value is LockWaitDefault.
type LockWait struct {
	Kind    LockWaitKind
	Timeout time.Duration // set only with LockWaitTimeout; positive
}

// ParseLockWait parses the text form of a LockWait: "" (the default), "nowait",
// "forever" or a positive Go duration. It returns a *Error for anything else.
func ParseLockWait(s string) (LockWait, error) {
	switch s {
	case "":
		return LockWait{}, nil
	case "nowait":
		return LockWait{Kind: LockWaitNoWait}, nil
	case "forever":
		return LockWait{Kind: LockWaitForever}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return LockWait{}, &Error{Param: "lockWaitTimeout", Value: s, Reason: "want a positive duration, nowait or forever"}
	}
	return LockWait{Kind: LockWaitTimeout, Timeout: d}, nil
}

// String returns the text form ParseLockWait accepts; "" for the default.
func (w LockWait) String() string {
	switch w.Kind {
	case LockWaitNoWait:
		return "nowait"
	case LockWaitForever:
		return "forever"
	case LockWaitTimeout:
		return w.Timeout.String()
	}
	return ""
}

func (w LockWait) validate() error {
	switch {
	case w.Kind > LockWaitForever:
		return &Error{Param: "lockWaitTimeout", Value: fmt.Sprint(w.Kind), Reason: "unknown lock wait policy"}
	case w.Kind == LockWaitTimeout && w.Timeout <= 0:
		return &Error{Param: "lockWaitTimeout", Value: w.Timeout.String(), Reason: "want a positive duration, nowait or forever"}
	case w.Kind != LockWaitTimeout && w.Timeout != 0:
		return &Error{Param: "lockWaitTimeout", Value: w.Timeout.String(), Reason: "a timeout needs the LockWaitTimeout policy"}
	}
	return nil
}
