package pd

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
)

// Region is a region as PD reports it, translated to the client's user-key space.
//
// Meta is a copy of PD's metapb.Region whose StartKey and EndKey are user keys, clamped to
// the keyspace (an empty EndKey means the end of the keyspace, an empty StartKey its
// start); epoch and peers are PD's. Bucket keys are translated the same way. Leader may be
// nil when PD does not know it. A Region is an immutable snapshot; do not modify it.
type Region struct {
	Meta         *metapb.Region
	Leader       *metapb.Peer
	DownPeers    []*metapb.Peer
	PendingPeers []*metapb.Peer
	Buckets      *metapb.Buckets
}

// RegionOption adjusts a region lookup.
type RegionOption func(*regionOptions)

type regionOptions struct{ buckets bool }

// WithBuckets asks PD for the region's buckets as well.
func WithBuckets() RegionOption { return func(o *regionOptions) { o.buckets = true } }

// pdOptions converts options for the PD client. Lookups may be served by a PD follower or
// the router service; the PD client falls back to the leader itself.
func pdOptions(opts []RegionOption) []opt.GetRegionOption {
	var o regionOptions
	for _, f := range opts {
		f(&o)
	}
	out := []opt.GetRegionOption{opt.WithAllowFollowerHandle(), opt.WithAllowRouterServiceHandle()}
	if o.buckets {
		out = append(out, opt.WithBuckets())
	}
	return out
}

// GetRegion returns the region containing the user key key (PD-16). Safe for concurrent
// use.
//
// Errors: ErrRegionNotFound (wraps kv.ErrRegionUnavailable), a *kv.BackoffError wrapping
// kv.ErrPDUnavailable, ctx's error, kv.ErrClosed.
func (c *Client) GetRegion(ctx context.Context, key []byte, opts ...RegionOption) (*Region, error) {
	rk := c.codec.EncodeRegionKey(key)
	return c.oneRegion(ctx, fmt.Sprintf("get region of key %v", kv.Key(key)), func(ctx context.Context) (*router.Region, error) {
		return c.b.GetRegion(ctx, rk, pdOptions(opts)...)
	})
}

// GetPrevRegion returns the region just before the one containing key. For the first
// region of the keyspace it fails with ErrRegionNotFound.
//
// Errors: as GetRegion.
func (c *Client) GetPrevRegion(ctx context.Context, key []byte, opts ...RegionOption) (*Region, error) {
	rk := c.codec.EncodeRegionKey(key)
	return c.oneRegion(ctx, fmt.Sprintf("get region before key %v", kv.Key(key)), func(ctx context.Context) (*router.Region, error) {
		return c.b.GetPrevRegion(ctx, rk, pdOptions(opts)...)
	})
}

// GetRegionByID returns the region with the given ID.
//
// Errors: as GetRegion (ErrRegionNotFound when PD no longer knows the region, for example
// after a merge).
func (c *Client) GetRegionByID(ctx context.Context, id uint64, opts ...RegionOption) (*Region, error) {
	return c.oneRegion(ctx, fmt.Sprintf("get region %d", id), func(ctx context.Context) (*router.Region, error) {
		return c.b.GetRegionByID(ctx, id, pdOptions(opts)...)
	})
}

// oneRegion runs a single-region lookup with retries and decodes its answer.
func (c *Client) oneRegion(ctx context.Context, op string, f func(context.Context) (*router.Region, error)) (*Region, error) {
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	var r *router.Region
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		return c.breaker.do(func() error {
			var err error
			r, err = f(ctx)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if r == nil || r.Meta == nil {
		return nil, fmt.Errorf("pd: %s: %w", op, ErrRegionNotFound)
	}
	out, err := c.decodeRegion(r)
	if err != nil {
		return nil, fmt.Errorf("pd: %s: %w", op, err)
	}
	return out, nil
}

// ScanRegions returns up to limit regions overlapping the user range [start, end), in key
// order (an empty end means the end of the keyspace). limit <= 0 means no limit.
//
// Errors: as GetRegion, except that an empty result is not an error.
func (c *Client) ScanRegions(ctx context.Context, start, end []byte, limit int, opts ...RegionOption) ([]*Region, error) {
	op := fmt.Sprintf("scan regions [%v, %v)", kv.Key(start), kv.Key(end))
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	rs, re := c.codec.EncodeRegionRange(start, end)
	var got []*router.Region
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		return c.breaker.do(func() error {
			var err error
			got, err = c.b.ScanRegions(ctx, rs, re, max(limit, 0), pdOptions(opts)...)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return c.decodeRegions(got)
}

// BatchScanRegions returns up to limit regions overlapping any of the user ranges, which
// must be sorted and not overlap. Against a PD without BatchScanRegions it falls back to one
// ScanRegions per range (and remembers to do so).
//
// Errors: as ScanRegions.
func (c *Client) BatchScanRegions(ctx context.Context, ranges []kv.KeyRange, limit int, opts ...RegionOption) ([]*Region, error) {
	op := fmt.Sprintf("batch scan regions (%d ranges)", len(ranges))
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	if len(ranges) == 0 {
		return nil, nil
	}
	if !c.batchScanUnsupported.Load() {
		krs := make([]router.KeyRange, len(ranges))
		for i, r := range ranges {
			krs[i].StartKey, krs[i].EndKey = c.codec.EncodeRegionRange(r.Start, r.End)
		}
		var got []*router.Region
		err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
			return c.breaker.do(func() error {
				var err error
				got, err = c.b.BatchScanRegions(ctx, krs, max(limit, 0), pdOptions(opts)...)
				return err
			})
		})
		if err == nil {
			return c.decodeRegions(got)
		}
		if !errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		c.batchScanUnsupported.Store(true)
	}
	return c.batchScanFallback(ctx, ranges, limit, opts)
}

// batchScanFallback scans the ranges one by one, skipping regions already returned.
func (c *Client) batchScanFallback(ctx context.Context, ranges []kv.KeyRange, limit int, opts []RegionOption) ([]*Region, error) {
	var out []*Region
	seen := make(map[uint64]bool)
	for _, r := range ranges {
		left := 0
		if limit > 0 {
			left = limit - len(out)
			if left <= 0 {
				break
			}
		}
		got, err := c.ScanRegions(ctx, r.Start, r.End, left, opts...)
		if err != nil {
			return nil, err
		}
		for _, g := range got {
			if !seen[g.Meta.GetId()] {
				seen[g.Meta.GetId()] = true
				out = append(out, g)
			}
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// decodeRegions decodes a scan result, dropping regions wholly outside the keyspace.
func (c *Client) decodeRegions(got []*router.Region) ([]*Region, error) {
	out := make([]*Region, 0, len(got))
	for _, r := range got {
		if r == nil || r.Meta == nil {
			continue
		}
		d, err := c.decodeRegion(r)
		if errors.Is(err, codec.ErrOutsideKeyspace) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pd: scan regions: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// decodeRegion translates a PD region into user-key space (SB-19): the region's range is
// clamped to the keyspace; a region wholly outside it is ErrRegionNotFound wrapping
// codec.ErrOutsideKeyspace.
func (c *Client) decodeRegion(r *router.Region) (*Region, error) {
	start, end, err := c.codec.DecodeRegionRange(r.Meta.GetStartKey(), r.Meta.GetEndKey())
	if err != nil {
		if errors.Is(err, codec.ErrOutsideKeyspace) {
			return nil, fmt.Errorf("region %d: %w: %w", r.Meta.GetId(), ErrRegionNotFound, err)
		}
		return nil, fmt.Errorf("region %d: %w", r.Meta.GetId(), err)
	}
	meta := &metapb.Region{
		Id:               r.Meta.GetId(),
		StartKey:         start,
		EndKey:           end,
		RegionEpoch:      r.Meta.GetRegionEpoch(),
		Peers:            r.Meta.GetPeers(),
		EncryptionMeta:   r.Meta.GetEncryptionMeta(),
		IsInFlashback:    r.Meta.GetIsInFlashback(),
		FlashbackStartTs: r.Meta.GetFlashbackStartTs(),
	}
	out := &Region{Meta: meta, Leader: r.Leader, DownPeers: r.DownPeers, PendingPeers: r.PendingPeers}
	if r.Buckets != nil {
		out.Buckets = c.decodeBuckets(r.Buckets)
	}
	return out, nil
}

// decodeBuckets translates bucket boundaries into user keys. Boundaries before the keyspace
// become the empty start, boundaries at or after its end the empty end; the ones in between
// are kept in order and duplicates dropped.
func (c *Client) decodeBuckets(b *metapb.Buckets) *metapb.Buckets {
	out := &metapb.Buckets{RegionId: b.GetRegionId(), Version: b.GetVersion(), PeriodInMs: b.GetPeriodInMs(), Stats: b.GetStats()}
	keys := b.GetKeys()
	for i, k := range keys {
		uk, err := c.bucketKey(k, i == len(keys)-1)
		if err != nil {
			continue
		}
		if n := len(out.Keys); n > 0 && string(out.Keys[n-1]) == string(uk) && len(uk) > 0 {
			continue
		}
		out.Keys = append(out.Keys, uk)
	}
	return out
}

// bucketKey decodes one bucket boundary; last marks the final boundary (the region end).
func (c *Client) bucketKey(k []byte, last bool) ([]byte, error) {
	if len(k) == 0 {
		return []byte{}, nil
	}
	start, _, err := c.codec.DecodeRegionRange(k, nil)
	if errors.Is(err, codec.ErrOutsideKeyspace) && last {
		return []byte{}, nil // at or after the keyspace end
	}
	if err != nil {
		return nil, err
	}
	if len(start) == 0 && c.codec.Version() == codec.V2 && !last {
		// Before the keyspace: only meaningful as the first boundary.
		return []byte{}, nil
	}
	return start, nil
}
