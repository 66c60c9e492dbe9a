package raw

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
)

// Conditions of the raw client. Each is returned wrapped with the operation and the
// offending detail; test for them with errors.Is.
var (
	// ErrInvalidArgument: a call's arguments cannot be sent as they are (an empty key,
	// keys and values of different lengths, a bad TTL, an option that does not apply to
	// the operation). The more specific sentinels below wrap it.
	ErrInvalidArgument = errors.New("raw: invalid argument")
	// ErrEmptyKey: a point operation (Get, Put, Delete, TTL, CompareAndSwap and the batch
	// forms) was given an empty key. Wraps ErrInvalidArgument.
	ErrEmptyKey = fmt.Errorf("%w: empty key", ErrInvalidArgument)
	// ErrInvalidTTL: a TTL is negative or not a whole number of seconds (TiKV counts TTLs
	// in seconds). Wraps ErrInvalidArgument.
	ErrInvalidTTL = fmt.Errorf("%w: TTL must be a non-negative whole number of seconds", ErrInvalidArgument)
	// ErrNotAtomic: CompareAndSwap on a client whose Config.Atomic is false. TiKV
	// serialises a CAS only against writes that carry ForCas, so a non-atomic client
	// could not honour the comparison (RAW-13).
	ErrNotAtomic = errors.New("raw: CompareAndSwap needs a client in atomic mode (Config.Atomic)")
	// ErrTTLNotEnabled: TiKV refused a TTL because the server runs API v1 without TTL
	// support (storage.api-version = 1 and storage.enable-ttl = false).
	ErrTTLNotEnabled = errors.New("raw: TTL is not enabled on the TiKV server")
)

// ServerError is an error TiKV reported in a raw response's error field (not a region
// error, which the client retries): the request reached TiKV and was refused. Message is
// TiKV's text. It unwraps to the sentinel the message identifies: ErrTTLNotEnabled,
// ErrInvalidArgument (bad column family, TTL count), kv.ErrAPIVersionMismatch or
// kv.ErrKeyTooLarge; otherwise to nothing.
type ServerError struct {
	Op      string // the operation, such as "RawPut"
	Message string // TiKV's error text
}

// Error implements error.
func (e *ServerError) Error() string {
	return fmt.Sprintf("raw: TiKV refused %s: %s", e.Op, e.Message)
}

// Unwrap returns the sentinel the message maps to, or nil.
func (e *ServerError) Unwrap() error {
	m := strings.ToLower(e.Message)
	switch {
	case strings.Contains(m, "ttl is not enabled"):
		return ErrTTLNotEnabled
	case strings.Contains(m, "api version"):
		return kv.ErrAPIVersionMismatch
	case strings.Contains(m, "key is too large"), strings.Contains(m, "key too large"):
		return kv.ErrKeyTooLarge
	case strings.Contains(m, "invalid cf"), strings.Contains(m, "cf is deprecated"),
		strings.Contains(m, "length of ttls"):
		return ErrInvalidArgument
	}
	return nil
}

// serverError maps a response's error string to a *ServerError, or nil when empty.
func serverError(op, msg string) error {
	if msg == "" {
		return nil
	}
	return &ServerError{Op: op, Message: msg}
}

// pairError maps the key error TiKV may attach to one pair of a batch read or scan.
func pairError(op string, p *kvrpcpb.KvPair) error {
	ke := p.GetError()
	if ke == nil {
		return nil
	}
	msg := ke.GetAbort()
	if msg == "" {
		msg = ke.String()
	}
	return &ServerError{Op: op, Message: msg}
}
