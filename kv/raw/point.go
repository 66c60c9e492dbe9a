package raw

import (
	"context"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// nonNil turns the nil that protobuf decodes for an empty value into []byte{}: a key that
// exists never reads as nil (SB-20).
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// send routes one single-key request to the region of key.
func send[Req region.Request, Resp region.Response](ctx context.Context, c *Client, key []byte, req Req, opts *region.Options) (Resp, error) {
	return region.Send[Req, Resp](ctx, c.cl.Sender(), key, req, opts)
}

// Get returns the value of key. A key that does not exist gives (nil, an error wrapping
// kv.ErrNotFound); a key holding an empty value gives a non-nil []byte{}. Options:
// WithColumnFamily.
//
// Errors: ErrEmptyKey, ErrInvalidArgument, kv.ErrNotFound, *ServerError, the region
// layer's errors (*kv.BackoffError, *region.Error), ctx's error, kv.ErrClosed.
func (c *Client) Get(ctx context.Context, key []byte, opts ...Option) ([]byte, error) {
	const op = "Get"
	o, err := c.prepare(op, key, optCF, opts)
	if err != nil {
		return nil, err
	}
	req := &kvrpcpb.RawGetRequest{Context: c.reqCtx(), Key: c.codec.EncodeKey(key), Cf: o.cf}
	resp, err := send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](ctx, c, key, req, nil)
	if err != nil {
		return nil, fmt.Errorf("raw: %s: %w", op, err)
	}
	if err := serverError("RawGet", resp.Error); err != nil {
		return nil, err
	}
	if resp.NotFound {
		return nil, fmt.Errorf("raw: %s %v: %w", op, kv.Key(key), kv.ErrNotFound)
	}
	return nonNil(resp.Value), nil
}

// prepare checks the client, the key and the options of a point operation.
func (c *Client) prepare(op string, key []byte, allowed optKind, opts []Option) (*options, error) {
	if err := c.check(op); err != nil {
		return nil, err
	}
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	o, err := c.collect(op, allowed, opts)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	return o, nil
}

// Put writes value under key, replacing any value and TTL the key had. A nil or empty
// value stores an empty value (TiKV has supported empty raw values since 6.x; Get then
// returns []byte{}). Options: WithTTL, WithColumnFamily. In atomic mode the write
// carries ForCas.
//
// Errors: ErrEmptyKey, ErrInvalidTTL, ErrInvalidArgument, *ServerError (ErrTTLNotEnabled),
// the region layer's errors, ctx's error, kv.ErrClosed.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...Option) error {
	const op = "Put"
	o, err := c.prepare(op, key, optCF|optTTL, opts)
	if err != nil {
		return err
	}
	ttl, _ := ttlSeconds(o.ttl)
	req := &kvrpcpb.RawPutRequest{Context: c.reqCtx(), Key: c.codec.EncodeKey(key), Value: nonNil(value),
		Cf: o.cf, Ttl: ttl, ForCas: c.cfg.Atomic}
	resp, err := send[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](ctx, c, key, req, nil)
	if err != nil {
		return fmt.Errorf("raw: %s: %w", op, err)
	}
	return serverError("RawPut", resp.Error)
}

// Delete removes key; deleting a missing key is not an error. Options: WithColumnFamily.
// In atomic mode the delete carries ForCas.
//
// Errors: ErrEmptyKey, ErrInvalidArgument, *ServerError, the region layer's errors, ctx's
// error, kv.ErrClosed.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...Option) error {
	const op = "Delete"
	o, err := c.prepare(op, key, optCF, opts)
	if err != nil {
		return err
	}
	req := &kvrpcpb.RawDeleteRequest{Context: c.reqCtx(), Key: c.codec.EncodeKey(key), Cf: o.cf, ForCas: c.cfg.Atomic}
	resp, err := send[*kvrpcpb.RawDeleteRequest, *kvrpcpb.RawDeleteResponse](ctx, c, key, req, nil)
	if err != nil {
		return fmt.Errorf("raw: %s: %w", op, err)
	}
	return serverError("RawDelete", resp.Error)
}

// TTL returns how long key has left to live, in the whole seconds TiKV reports, or 0
// for a key without TTL. A missing (or expired) key fails with kv.ErrNotFound.
// Options: WithColumnFamily.
//
// Errors: ErrEmptyKey, ErrInvalidArgument, kv.ErrNotFound, *ServerError
// (ErrTTLNotEnabled), the region layer's errors, ctx's error, kv.ErrClosed.
func (c *Client) TTL(ctx context.Context, key []byte, opts ...Option) (time.Duration, error) {
	const op = "TTL"
	o, err := c.prepare(op, key, optCF, opts)
	if err != nil {
		return 0, err
	}
	req := &kvrpcpb.RawGetKeyTTLRequest{Context: c.reqCtx(), Key: c.codec.EncodeKey(key), Cf: o.cf}
	resp, err := send[*kvrpcpb.RawGetKeyTTLRequest, *kvrpcpb.RawGetKeyTTLResponse](ctx, c, key, req, nil)
	if err != nil {
		return 0, fmt.Errorf("raw: %s: %w", op, err)
	}
	if err := serverError("RawGetKeyTTL", resp.Error); err != nil {
		return 0, err
	}
	if resp.NotFound {
		return 0, fmt.Errorf("raw: %s %v: %w", op, kv.Key(key), kv.ErrNotFound)
	}
	return time.Duration(resp.Ttl) * time.Second, nil
}

// CASResult is the outcome of CompareAndSwap.
type CASResult struct {
	// Swapped reports whether the new value was written.
	Swapped bool
	// Previous is the value the key held when TiKV compared: nil when it did not exist,
	// []byte{} for an empty value.
	Previous []byte
	// PreviousExists reports whether the key existed when TiKV compared.
	PreviousExists bool
}

// CompareAndSwap writes value under key if and only if the key's current value equals
// expected, atomically in TiKV (RAW-12). A nil expected means "the key must not exist";
// []byte{} means "the key exists with an empty value". The result carries the value TiKV
// compared against. Options: WithTTL (the TTL of the new value; without it the new value
// has no TTL, as TiKV replaces the whole entry), WithColumnFamily.
//
// The client must be in atomic mode (Config.Atomic), else ErrNotAtomic. The request is
// never resent once it may have reached TiKV: a lost answer fails with an error wrapping
// kv.ErrUndetermined, because a resent CAS could report failure for a swap the first
// attempt made.
//
// Errors: ErrNotAtomic, ErrEmptyKey, ErrInvalidTTL, ErrInvalidArgument, *ServerError,
// kv.ErrUndetermined, the region layer's errors, ctx's error, kv.ErrClosed.
func (c *Client) CompareAndSwap(ctx context.Context, key, expected, value []byte, opts ...Option) (CASResult, error) {
	const op = "CompareAndSwap"
	o, err := c.prepare(op, key, optCF|optTTL, opts)
	if err != nil {
		return CASResult{}, err
	}
	if !c.cfg.Atomic {
		return CASResult{}, fmt.Errorf("raw: %s: %w", op, ErrNotAtomic)
	}
	ttl, _ := ttlSeconds(o.ttl)
	req := &kvrpcpb.RawCASRequest{Context: c.reqCtx(), Key: c.codec.EncodeKey(key), Value: nonNil(value),
		Cf: o.cf, Ttl: ttl, PreviousNotExist: expected == nil, PreviousValue: expected}
	resp, err := send[*kvrpcpb.RawCASRequest, *kvrpcpb.RawCASResponse](ctx, c, key, req, &region.Options{NoResend: true})
	if err != nil {
		return CASResult{}, fmt.Errorf("raw: %s: %w", op, err)
	}
	if err := serverError("RawCompareAndSwap", resp.Error); err != nil {
		return CASResult{}, err
	}
	res := CASResult{Swapped: resp.Succeed, PreviousExists: !resp.PreviousNotExist}
	if res.PreviousExists {
		res.Previous = nonNil(resp.PreviousValue)
	}
	return res, nil
}
