package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/tikvsql/tikvsql/kv"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnimplemented: the store does not implement the method (an older TiKV, or a
// TiKV-compatible server without it). Test with errors.Is.
var ErrUnimplemented = errors.New("tikv: method not implemented by the store")

// ErrForwardingDisabled: a call asked for forwarding through a proxy store
// (CallOptions.ForwardedHost) but Config.EnableForwarding is off.
var ErrForwardingDisabled = errors.New("tikv: request forwarding is disabled")

// StoreError reports that a request to a store failed in transport: the connection could
// not be made, broke, or the stream carrying the request failed. It wraps
// kv.ErrStoreUnavailable (or ErrUnimplemented), so errors.Is(err, kv.ErrStoreUnavailable)
// and kv.IsRetryable hold. MaybeSent tells whether the request may have reached the
// store: when it is false, retrying even a non-idempotent request is safe.
type StoreError struct {
	Addr      string     // the store's advertised address
	Code      codes.Code // the gRPC status code, codes.Unavailable when none
	Reason    string     // what failed, from gRPC or this package
	MaybeSent bool
}

// Error implements error.
func (e *StoreError) Error() string {
	if e.Code == codes.Unimplemented {
		return fmt.Sprintf("tikv: store %s does not implement the method: %s", e.Addr, e.Reason)
	}
	return fmt.Sprintf("tikv: store %s unavailable (%v): %s", e.Addr, e.Code, e.Reason)
}

// Unwrap returns the kv sentinel of the failure.
func (e *StoreError) Unwrap() error {
	if e.Code == codes.Unimplemented {
		return ErrUnimplemented
	}
	return kv.ErrStoreUnavailable
}

// mapError turns an error from gRPC (or from this package's streams) into the error a
// caller sees: ctx's own error when ctx ended, kv.ErrClosed when the client is closing,
// otherwise a *StoreError. No gRPC status escapes unwrapped.
func mapError(ctx context.Context, closing bool, addr string, err error, maybeSent bool) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if closing {
		return fmt.Errorf("rpc: call to %s: %w", addr, kv.ErrClosed)
	}
	var se *StoreError
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, kv.ErrClosed) || errors.Is(err, ErrForwardingDisabled) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return &StoreError{Addr: addr, Code: codes.Unavailable, Reason: err.Error(), MaybeSent: maybeSent}
	}
	return &StoreError{Addr: addr, Code: st.Code(), Reason: st.Message(), MaybeSent: maybeSent && st.Code() != codes.Unimplemented}
}
