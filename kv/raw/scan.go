package raw

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// scanner walks [lo, hi) region by region, forward or backward, one RawScan RPC per
// call of next. It is the engine of Scan, ReverseScan and Iterator. Not safe for
// concurrent use.
type scanner struct {
	c       *Client
	lo, hi  []byte // what is left to read, user keys; an empty hi is the end of the keyspace
	reverse bool
	keyOnly bool
	cf      string
	done    bool
}

// checkRange validates a scan range. A reverse walk from the end of the key space needs
// a concrete upper bound on the wire, which API v1 does not have: TiKV's reverse raw scan
// seeks below its StartKey, and an empty StartKey finds nothing (client-go documents the
// same limitation), so that case is refused instead of returning nothing.
func (c *Client) checkRange(op string, start, end []byte, reverse bool) error {
	if err := (kv.KeyRange{Start: start, End: end}).Validate(); err != nil {
		return fmt.Errorf("raw: %s: %w", op, err)
	}
	if reverse && len(end) == 0 && !c.apiV2 {
		return fmt.Errorf("raw: %w: %s: under API v1 a reverse scan needs a non-empty end key: %w",
			ErrInvalidArgument, op, kv.ErrInvalidRange)
	}
	return nil
}

// next returns the next non-empty batch of at most n pairs in scan order, or nil when the
// range is exhausted. It retries region moves within one retry budget.
func (s *scanner) next(ctx context.Context, n int) ([]kv.KeyValue, error) {
	bo := s.c.cl.Sender().NewBackoffer(nil)
	for !s.done {
		var (
			kvs []kv.KeyValue
			err error
		)
		if s.reverse {
			kvs, err = s.stepBackward(ctx, bo, n)
		} else {
			kvs, err = s.stepForward(ctx, bo, n)
		}
		if err != nil {
			if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
				return nil, rerr
			}
			continue
		}
		if len(kvs) > 0 {
			return kvs, nil
		}
	}
	return nil, nil
}

// stepForward reads from lo within lo's region and advances lo.
func (s *scanner) stepForward(ctx context.Context, bo *backoff.Backoffer, n int) ([]kv.KeyValue, error) {
	if len(s.hi) > 0 && bytes.Compare(s.lo, s.hi) >= 0 {
		s.done = true
		return nil, nil
	}
	loc, err := s.c.cl.Cache().Locate(ctx, s.lo)
	if err != nil {
		return nil, err
	}
	hi, clipped := s.hi, false
	if len(loc.EndKey) > 0 && (len(s.hi) == 0 || bytes.Compare(loc.EndKey, s.hi) < 0) {
		hi, clipped = loc.EndKey, true
	}
	ws, we := s.c.codec.EncodeRange(s.lo, hi)
	kvs, err := s.send(ctx, bo, loc, &kvrpcpb.RawScanRequest{StartKey: ws, EndKey: we, Limit: uint32(n)})
	if err != nil {
		return nil, err
	}
	switch {
	case len(kvs) >= n:
		s.lo = kvs[len(kvs)-1].Key.Next()
	case clipped:
		s.lo = loc.EndKey
	default:
		s.done = true
	}
	return kvs, nil
}

// stepBackward reads below hi within the region that ends at or above hi and lowers hi.
// TiKV's reverse convention: RawScanRequest.StartKey is the exclusive upper bound and
// EndKey the inclusive lower bound.
func (s *scanner) stepBackward(ctx context.Context, bo *backoff.Backoffer, n int) ([]kv.KeyValue, error) {
	if len(s.hi) > 0 && bytes.Compare(s.hi, s.lo) <= 0 {
		s.done = true
		return nil, nil
	}
	var loc *region.Location
	if len(s.hi) == 0 {
		locs, err := s.c.cl.Cache().LocateRange(ctx, s.lo, nil)
		if err != nil {
			return nil, err
		}
		if len(locs) == 0 {
			return nil, fmt.Errorf("no region after %v: %w", kv.Key(s.lo), kv.ErrRegionUnavailable)
		}
		loc = locs[len(locs)-1]
	} else {
		var err error
		if loc, err = s.c.cl.Cache().LocateEnd(ctx, s.hi); err != nil {
			return nil, err
		}
	}
	lo, clipped := s.lo, false
	if bytes.Compare(loc.StartKey, s.lo) > 0 {
		lo, clipped = loc.StartKey, true
	}
	ws, we := s.c.codec.EncodeRange(lo, s.hi)
	kvs, err := s.send(ctx, bo, loc, &kvrpcpb.RawScanRequest{StartKey: we, EndKey: ws, Limit: uint32(n), Reverse: true})
	if err != nil {
		return nil, err
	}
	switch {
	case len(kvs) >= n:
		s.hi = kvs[len(kvs)-1].Key
	case clipped:
		s.hi = loc.StartKey
	default:
		s.done = true
	}
	return kvs, nil
}

// send completes req, sends it to loc and decodes the pairs.
func (s *scanner) send(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, req *kvrpcpb.RawScanRequest) ([]kv.KeyValue, error) {
	req.Context, req.KeyOnly, req.Cf = s.c.reqCtx(), s.keyOnly, s.cf
	resp, err := region.SendToRegion[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse](ctx, s.c.cl.Sender(), bo, loc, req, nil)
	if err != nil {
		return nil, err
	}
	out := make([]kv.KeyValue, len(resp.Kvs))
	for i, p := range resp.Kvs {
		if err := pairError("RawScan", p); err != nil {
			return nil, err
		}
		k, err := s.c.codec.DecodeKey(p.Key)
		if err != nil {
			return nil, fmt.Errorf("RawScan returned key %v: %w", kv.Key(p.Key), err)
		}
		out[i].Key = k
		if !s.keyOnly {
			out[i].Value = nonNil(p.Value)
		}
	}
	return out, nil
}

// Scan returns the pairs of [start, end) in ascending key order; an empty end means the
// end of the keyspace. It walks the regions of the range, clipping each RPC to its region.
// A limit > 0 returns at most limit pairs; a limit <= 0 returns them all, but fails with
// an error wrapping kv.ErrScanLimitExceeded when there are more than Config.MaxScan
// (never a silent truncation), as does a limit above MaxScan. Use Iter for long ranges.
// Options: WithKeyOnly (values are nil), WithColumnFamily.
//
// Errors: kv.ErrInvalidRange (start after end), kv.ErrScanLimitExceeded,
// ErrInvalidArgument, *ServerError, the region layer's errors, ctx's error, kv.ErrClosed.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int, opts ...Option) ([]kv.KeyValue, error) {
	return c.scan(ctx, "Scan", start, end, limit, false, opts)
}

// ReverseScan returns the pairs of [start, end) in descending key order: the same range
// as Scan with the same argument order, read from the top. (TiKV's RawScan with Reverse
// takes the exclusive upper bound as StartKey and the inclusive lower bound as EndKey,
// and client-go's ReverseScan(startKey, endKey) reads [endKey, startKey); the client does
// that mapping, so callers never swap arguments.) Under API v2 an empty end reads from
// the end of the keyspace; under API v1 end must not be empty (ErrInvalidArgument).
// Limits and options as Scan.
//
// Errors: as Scan.
func (c *Client) ReverseScan(ctx context.Context, start, end []byte, limit int, opts ...Option) ([]kv.KeyValue, error) {
	return c.scan(ctx, "ReverseScan", start, end, limit, true, opts)
}

func (c *Client) scan(ctx context.Context, op string, start, end []byte, limit int, reverse bool, opts []Option) ([]kv.KeyValue, error) {
	if err := c.check(op); err != nil {
		return nil, err
	}
	o, err := c.collect(op, optCF|optKeyOnly, opts)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	if err := c.checkRange(op, start, end, reverse); err != nil {
		return nil, err
	}
	if limit > c.cfg.MaxScan {
		return nil, fmt.Errorf("raw: %s: limit %d above MaxScan %d: %w", op, limit, c.cfg.MaxScan, kv.ErrScanLimitExceeded)
	}
	want := limit
	if limit <= 0 {
		want = c.cfg.MaxScan + 1
	}
	s := &scanner{c: c, lo: start, hi: end, reverse: reverse, keyOnly: o.keyOnly, cf: o.cf}
	var out []kv.KeyValue
	for len(out) < want {
		b, err := s.next(ctx, min(c.cfg.ScanBatchSize, want-len(out)))
		if err != nil {
			return nil, fmt.Errorf("raw: %s: %w", op, err)
		}
		if b == nil {
			break
		}
		out = append(out, b...)
	}
	if len(out) > c.cfg.MaxScan {
		return nil, fmt.Errorf("raw: %s: more than MaxScan (%d) pairs in range; use a limit or Iter: %w",
			op, c.cfg.MaxScan, kv.ErrScanLimitExceeded)
	}
	return out, nil
}

// eachRegion calls fn with the wire range of [start, end) clipped to each region in turn,
// locating again and retrying a region after a region error.
func (c *Client) eachRegion(ctx context.Context, start, end []byte,
	fn func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, ws, we []byte) error) error {
	lo := start
	for len(end) == 0 || bytes.Compare(lo, end) < 0 {
		bo := c.cl.Sender().NewBackoffer(nil)
		for {
			loc, err := c.cl.Cache().Locate(ctx, lo)
			if err != nil {
				return err
			}
			hi, clipped := end, false
			if len(loc.EndKey) > 0 && (len(end) == 0 || bytes.Compare(loc.EndKey, end) < 0) {
				hi, clipped = loc.EndKey, true
			}
			ws, we := c.codec.EncodeRange(lo, hi)
			if err := fn(ctx, bo, loc, ws, we); err != nil {
				if rerr := region.RetryRegionError(ctx, bo, err); rerr != nil {
					return rerr
				}
				continue
			}
			if !clipped {
				return nil
			}
			lo = loc.EndKey
			break
		}
	}
	return nil
}

// DeleteRange removes every key of [start, end); an empty end means the end of the
// keyspace, so DeleteRange(ctx, nil, nil) empties it (under API v1: the whole raw key
// space). The range is split per region and deleted region by region, in key order; on
// error a prefix of the range may already be deleted. An empty range is a no-op. It does
// not carry ForCas (TiKV's delete-range is not a CAS-ordered write). Options:
// WithColumnFamily.
//
// Errors: kv.ErrInvalidRange, ErrInvalidArgument, *ServerError, the region layer's errors,
// ctx's error, kv.ErrClosed.
func (c *Client) DeleteRange(ctx context.Context, start, end []byte, opts ...Option) error {
	const op = "DeleteRange"
	if err := c.check(op); err != nil {
		return err
	}
	o, err := c.collect(op, optCF, opts)
	if err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	if err := c.checkRange(op, start, end, false); err != nil {
		return err
	}
	err = c.eachRegion(ctx, start, end, func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, ws, we []byte) error {
		req := &kvrpcpb.RawDeleteRangeRequest{Context: c.reqCtx(), StartKey: ws, EndKey: we, Cf: o.cf}
		resp, err := region.SendToRegion[*kvrpcpb.RawDeleteRangeRequest, *kvrpcpb.RawDeleteRangeResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			return err
		}
		return serverError("RawDeleteRange", resp.Error)
	})
	if err != nil {
		return fmt.Errorf("raw: %s: %w", op, err)
	}
	return nil
}

// Checksum is TiKV's checksum of the pairs in [start, end) (an empty end is the end of the
// keyspace), computed by TiKV region by region and merged (RAW-11): Crc64Xor is the XOR
// over all pairs of CRC64-ECMA(key || value), TotalKVs the number of pairs and TotalBytes
// the sum of len(key) + len(value). Keys are the wire keys, so under API v2 they include
// the 4-byte keyspace prefix, as TiKV computes it. TiKV checksums the default column
// family only: WithColumnFamily (or Config.ColumnFamily) naming another one is refused.
//
// Errors: kv.ErrInvalidRange, ErrInvalidArgument, *ServerError, the region layer's errors,
// ctx's error, kv.ErrClosed.
func (c *Client) Checksum(ctx context.Context, start, end []byte, opts ...Option) (Checksum, error) {
	const op = "Checksum"
	if err := c.check(op); err != nil {
		return Checksum{}, err
	}
	o, err := c.collect(op, optCF, opts)
	if err != nil {
		return Checksum{}, fmt.Errorf("raw: %w", err)
	}
	if o.cf != "" && o.cf != "default" {
		return Checksum{}, fmt.Errorf("raw: %w: %s covers the default column family only, not %q", ErrInvalidArgument, op, o.cf)
	}
	if err := c.checkRange(op, start, end, false); err != nil {
		return Checksum{}, err
	}
	var sum Checksum
	err = c.eachRegion(ctx, start, end, func(ctx context.Context, bo *backoff.Backoffer, loc *region.Location, ws, we []byte) error {
		req := &kvrpcpb.RawChecksumRequest{Context: c.reqCtx(), Algorithm: kvrpcpb.ChecksumAlgorithm_Crc64_Xor,
			Ranges: []*kvrpcpb.KeyRange{{StartKey: ws, EndKey: we}}}
		resp, err := region.SendToRegion[*kvrpcpb.RawChecksumRequest, *kvrpcpb.RawChecksumResponse](ctx, c.cl.Sender(), bo, loc, req, nil)
		if err != nil {
			return err
		}
		if err := serverError("RawChecksum", resp.Error); err != nil {
			return err
		}
		sum.Crc64Xor ^= resp.Checksum
		sum.TotalKVs += resp.TotalKvs
		sum.TotalBytes += resp.TotalBytes
		return nil
	})
	if err != nil {
		return Checksum{}, fmt.Errorf("raw: %s: %w", op, err)
	}
	return sum, nil
}

// Checksum is the result of Client.Checksum.
type Checksum struct {
	Crc64Xor   uint64 // XOR of CRC64-ECMA(wire key || value) over the pairs
	TotalKVs   uint64 // number of pairs
	TotalBytes uint64 // sum of len(wire key) + len(value)
}
