package pd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

// Errors specific to PD access. Transient PD trouble is reported as a *kv.BackoffError
// whose Err is kv.ErrPDUnavailable; context errors come back so that errors.Is(err,
// context.DeadlineExceeded) holds.
var (
	// ErrUnsupported: the PD server does not implement the RPC (an older PD). The error
	// message names the operation.
	ErrUnsupported = errors.New("pd: operation not supported by this PD server")
	// ErrRegionNotFound: PD knows no region for the key or ID (or it lies outside the
	// keyspace). The region cache treats it as a region miss.
	ErrRegionNotFound = fmt.Errorf("pd: region not found: %w", kv.ErrRegionUnavailable)
	// ErrStoreNotFound: PD knows no such store, or the store is a tombstone.
	ErrStoreNotFound = errors.New("pd: store not found or tombstone")
	// ErrInvalidArgument: PD rejected the request's arguments (for example a GC barrier
	// behind the txn safe point). The message carries PD's explanation.
	ErrInvalidArgument = errors.New("pd: invalid argument")
)

// pdError carries the text of an error produced by the PD client, so that no PD client or
// pingcap error type reaches a caller.
type pdError struct{ msg string }

func (e *pdError) Error() string { return e.msg }

// sanitize turns an error from the PD client into a plain error with the same text.
// Context errors are kept as they are.
func sanitize(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &pdError{msg: err.Error()}
}

// errClass is how the retry loop treats an error from the PD client.
type errClass uint8

const (
	classRetry       errClass = iota // transient: back off and retry
	classUnsupported                 // the server does not implement the RPC
	classNotFound                    // ENTRY_NOT_FOUND / REGION_NOT_FOUND
	classTombstone                   // STORE_TOMBSTONE
	classInvalid                     // the server rejected the arguments
)

// classify decides how to treat an error of the PD client. PD reports many conditions only
// in the response header, which the PD client turns into text, so the header error types
// are matched by name.
func classify(err error) errClass {
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unimplemented:
			return classUnsupported
		case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists,
			codes.PermissionDenied, codes.Unauthenticated:
			return classInvalid
		case codes.NotFound:
			return classNotFound
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Unimplemented") || strings.Contains(msg, "unknown method") ||
		strings.Contains(msg, "unknown service"):
		return classUnsupported
	case strings.Contains(msg, "STORE_TOMBSTONE"):
		return classTombstone
	case strings.Contains(msg, "ENTRY_NOT_FOUND") || strings.Contains(msg, "REGION_NOT_FOUND"):
		return classNotFound
	case strings.Contains(msg, "INVALID_VALUE") || strings.Contains(msg, "DUPLICATED_ENTRY") ||
		strings.Contains(msg, "INCOMPATIBLE_VERSION") || strings.Contains(msg, "DATA_COMPACTED") ||
		strings.Contains(msg, "REGIONS_NOT_CONTAIN_ALL_KEY_RANGE"):
		return classInvalid
	}
	return classRetry
}

// permanentError makes the retry loop return err at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as not worth retrying.
func permanent(err error) error { return &permanentError{err: err} }

// retry runs f until it succeeds, returns a permanent or non-transient error, the budget of
// PD backoff is spent, ctx ends or the client closes. op names the operation in errors.
func (c *Client) retry(ctx context.Context, op string, budget time.Duration, f func(context.Context) error) error {
	ctx, done := c.callContext(ctx)
	defer done()
	bo := backoff.New(budget, backoff.WithClock(backoffClock{c.cfg.Clock}))
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if e := c.ctxError(ctx, op); e != nil {
			return e
		}
		var p *permanentError
		if errors.As(err, &p) {
			return fmt.Errorf("pd: %s: %w", op, p.err)
		}
		if e := classified(op, err); e != nil {
			return e
		}
		// The cause is kept as text only: a timeout inside the PD client must not make the
		// result look like the caller's own deadline (which is not retryable).
		if berr := bo.Backoff(ctx, backoff.PDRPC, fmt.Errorf("pd: %s: %w", op, &pdError{msg: err.Error()})); berr != nil {
			if e := c.ctxError(ctx, op); e != nil {
				return e
			}
			return berr
		}
	}
}

// classified returns the final error for a non-transient PD error, or nil for a transient one.
func classified(op string, err error) error {
	switch classify(err) {
	case classUnsupported:
		return fmt.Errorf("pd: %s: %w: %w", op, ErrUnsupported, sanitize(err))
	case classNotFound:
		return fmt.Errorf("pd: %s: not found: %w", op, sanitize(err))
	case classTombstone:
		return fmt.Errorf("pd: %s: %w: %w", op, ErrStoreNotFound, sanitize(err))
	case classInvalid:
		return fmt.Errorf("pd: %s: %w: %w", op, ErrInvalidArgument, sanitize(err))
	}
	return nil
}

// ctxError returns the error to report when ctx has ended: kv.ErrClosed if the client was
// closed, the context error otherwise; nil while ctx is live.
func (c *Client) ctxError(ctx context.Context, op string) error {
	if ctx.Err() == nil {
		return nil
	}
	if c.root.Err() != nil {
		return fmt.Errorf("pd: %s: %w", op, kv.ErrClosed)
	}
	return fmt.Errorf("pd: %s: %w", op, context.Cause(ctx))
}

// callContext returns ctx cancelled also when the client closes.
func (c *Client) callContext(ctx context.Context) (context.Context, func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(c.root, func() { cancel(kv.ErrClosed) })
	return cctx, func() {
		stop()
		cancel(nil)
	}
}
