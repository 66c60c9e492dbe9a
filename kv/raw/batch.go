package raw

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv/region"
)

// chunks cuts one region's items into RPC-sized pieces: at most maxKeys items and, unless
// a single item is larger, at most maxBytes of size(item). Relative order is kept, so a
// key repeated in a batch write is applied in input order.
func chunks(items []int, maxKeys, maxBytes int, size func(int) int) [][]int {
	var out [][]int
	start, bytes := 0, 0
	for j, it := range items {
		s := size(it)
		if j > start && (j-start >= maxKeys || bytes+s > maxBytes) {
			out = append(out, items[start:j])
			start, bytes = j, 0
		}
		bytes += s
	}
	if start < len(items) {
		out = append(out, items[start:])
	}
	return out
}

// runBatches groups the indices 0..n-1 of keys by region and runs send for every RPC-sized
// chunk, regions in parallel (Config.Concurrency) and the chunks of one region in order.
// A region error from send makes RunBatches locate that region's keys again and retry
// them (chunks already sent are sent again; every batch operation is idempotent).
func (c *Client) runBatches(ctx context.Context, keys [][]byte, size func(int) int,
	send func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, chunk []int) error) error {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	keyOf := func(i int) []byte { return keys[i] }
	return region.RunBatches(ctx, c.cl.Sender(), idx, keyOf, nil, c.cfg.Concurrency,
		func(ctx context.Context, bo *backoff.Backoffer, b region.Batch[int]) error {
			for _, ch := range chunks(b.Items, c.cfg.MaxBatchKeys, c.cfg.MaxBatchBytes, size) {
				if err := send(ctx, bo, b.Location, ch); err != nil {
					return err
				}
			}
			return nil
		})
}

// prepareBatch checks the client, the keys and the options of a batch operation.
func (c *Client) prepareBatch(op string, keys [][]byte, allowed optKind, opts []Option) (*options, error) {
	if err := c.check(op); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := checkKey(op, k); err != nil {
			return nil, err
		}
	}
	o, err := c.collect(op, allowed, opts)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	return o, nil
}

// BatchGet reads keys, in parallel per region and in RPCs of at most MaxBatchKeys keys.
// The result is aligned with keys: nil for a missing key, []byte{} for an empty value.
// Keys may repeat. Options: WithColumnFamily.
//
// Errors: ErrEmptyKey, ErrInvalidArgument, *ServerError, the region layer's errors
// (*kv.BackoffError, *region.Error), ctx's error, kv.ErrClosed.
func (c *Client) BatchGet(ctx context.Context, keys [][]byte, opts ...Option) ([][]byte, error) {
	const op = "BatchGet"
	o, err := c.prepareBatch(op, keys, optCF, opts)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	size := func(i int) int { return len(keys[i]) }
	err = c.runBatches(ctx, keys, size, func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, ch []int) error {
		enc := make([][]byte, len(ch))
		for j, i := range ch {
			enc[j] = c.codec.EncodeKey(keys[i])
		}
		req := &kvrpcpb.RawBatchGetRequest{Context: c.reqCtx(), Keys: enc, Cf: o.cf}
		resp, err := region.SendToRegion[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			return err
		}
		found := make(map[string][]byte, len(resp.Pairs))
		for _, p := range resp.Pairs {
			if err := pairError("RawBatchGet", p); err != nil {
				return err
			}
			found[string(p.Key)] = nonNil(p.Value)
		}
		for j, i := range ch {
			out[i] = found[string(enc[j])]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("raw: %s: %w", op, err)
	}
	return out, nil
}

// BatchPut writes values[i] under keys[i], split by region, MaxBatchKeys and
// MaxBatchBytes and sent in parallel per region. It is not atomic across RPCs: on error
// some pairs may have been written. When a key repeats, its last value wins. Options:
// WithTTL (one TTL for all), WithTTLs (one per key), WithColumnFamily. In atomic mode the
// writes carry ForCas.
//
// Errors: ErrInvalidArgument (lengths differ), ErrEmptyKey, ErrInvalidTTL, *ServerError
// (ErrTTLNotEnabled), kv.ErrRaftEntryTooLarge for a pair TiKV cannot take, the region
// layer's errors, ctx's error, kv.ErrClosed.
func (c *Client) BatchPut(ctx context.Context, keys, values [][]byte, opts ...Option) error {
	const op = "BatchPut"
	if len(keys) != len(values) {
		return fmt.Errorf("raw: %w: %s: %d keys but %d values", ErrInvalidArgument, op, len(keys), len(values))
	}
	o, err := c.prepareBatch(op, keys, optCF|optTTL|optTTLs, opts)
	if err != nil {
		return err
	}
	if o.set&optTTLs != 0 && len(o.ttls) != len(keys) {
		return fmt.Errorf("raw: %w: %s: %d keys but %d TTLs", ErrInvalidArgument, op, len(keys), len(o.ttls))
	}
	ttlOf := func(i int) uint64 {
		d := o.ttl
		if o.ttls != nil {
			d = o.ttls[i]
		}
		s, _ := ttlSeconds(d)
		return s
	}
	withTTL := o.set&(optTTL|optTTLs) != 0
	size := func(i int) int { return len(keys[i]) + len(values[i]) }
	err = c.runBatches(ctx, keys, size, func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, ch []int) error {
		pairs := make([]*kvrpcpb.KvPair, len(ch))
		var ttls []uint64
		if withTTL {
			ttls = make([]uint64, len(ch))
		}
		for j, i := range ch {
			pairs[j] = &kvrpcpb.KvPair{Key: c.codec.EncodeKey(keys[i]), Value: nonNil(values[i])}
			if withTTL {
				ttls[j] = ttlOf(i)
			}
		}
		req := &kvrpcpb.RawBatchPutRequest{Context: c.reqCtx(), Pairs: pairs, Cf: o.cf, Ttls: ttls, ForCas: c.cfg.Atomic}
		resp, err := region.SendToRegion[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			return err
		}
		return serverError("RawBatchPut", resp.Error)
	})
	if err != nil {
		return fmt.Errorf("raw: %s: %w", op, err)
	}
	return nil
}

// BatchDelete removes keys, split and sent like BatchPut. Missing keys are not an error.
// Options: WithColumnFamily. In atomic mode the deletes carry ForCas.
//
// Errors: ErrEmptyKey, ErrInvalidArgument, *ServerError, the region layer's errors, ctx's
// error, kv.ErrClosed.
func (c *Client) BatchDelete(ctx context.Context, keys [][]byte, opts ...Option) error {
	const op = "BatchDelete"
	o, err := c.prepareBatch(op, keys, optCF, opts)
	if err != nil {
		return err
	}
	size := func(i int) int { return len(keys[i]) }
	err = c.runBatches(ctx, keys, size, func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, ch []int) error {
		enc := make([][]byte, len(ch))
		for j, i := range ch {
			enc[j] = c.codec.EncodeKey(keys[i])
		}
		req := &kvrpcpb.RawBatchDeleteRequest{Context: c.reqCtx(), Keys: enc, Cf: o.cf, ForCas: c.cfg.Atomic}
		resp, err := region.SendToRegion[*kvrpcpb.RawBatchDeleteRequest, *kvrpcpb.RawBatchDeleteResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			return err
		}
		return serverError("RawBatchDelete", resp.Error)
	})
	if err != nil {
		return fmt.Errorf("raw: %s: %w", op, err)
	}
	return nil
}
