package raw

import (
	"fmt"
	"time"
)

// Option adjusts one call. Options that do not apply to the operation they are given to
// make the call fail with an error wrapping ErrInvalidArgument, so a misplaced option is
// never silently ignored.
type Option func(*options)

// optKind is a bit set of the options a call received.
type optKind uint8

const (
	optTTL optKind = 1 << iota
	optTTLs
	optCF
	optKeyOnly
	optReverse
)

var optNames = map[optKind]string{
	optTTL: "WithTTL", optTTLs: "WithTTLs", optCF: "WithColumnFamily",
	optKeyOnly: "WithKeyOnly", optReverse: "WithReverse",
}

type options struct {
	set     optKind
	ttl     time.Duration
	ttls    []time.Duration
	cf      string
	keyOnly bool
	reverse bool
}

// WithTTL gives the written key(s) a time to live (Put, BatchPut, CompareAndSwap). TiKV
// counts TTLs in whole seconds: d must be a non-negative multiple of time.Second, else
// the call fails with ErrInvalidTTL. Zero means no TTL. TTLs need a TiKV running API
// v1 with TTL enabled or API v2; otherwise the call fails with ErrTTLNotEnabled.
func WithTTL(d time.Duration) Option {
	return func(o *options) { o.set |= optTTL; o.ttl = d }
}

// WithTTLs gives each key of a BatchPut its own TTL; ds must have one entry per key.
// Each entry follows WithTTL's rules. It cannot be combined with WithTTL.
func WithTTLs(ds []time.Duration) Option {
	return func(o *options) { o.set |= optTTLs; o.ttls = ds }
}

// WithColumnFamily runs the call on column family cf instead of the client's
// Config.ColumnFamily (RAW-14). API v2 has only the default column family.
func WithColumnFamily(cf string) Option {
	return func(o *options) { o.set |= optCF; o.cf = cf }
}

// WithKeyOnly makes Scan, ReverseScan and Iter return keys without values (Value is
// nil), which saves TiKV reading and sending them.
func WithKeyOnly() Option {
	return func(o *options) { o.set |= optKeyOnly; o.keyOnly = true }
}

// WithReverse makes Iter walk its range from the last key down to the first.
func WithReverse() Option {
	return func(o *options) { o.set |= optReverse; o.reverse = true }
}

// collect applies opts and checks that only the allowed ones were given.
func (c *Client) collect(op string, allowed optKind, opts []Option) (*options, error) {
	o := &options{cf: c.cfg.ColumnFamily}
	for _, f := range opts {
		if f != nil {
			f(o)
		}
	}
	if bad := o.set &^ allowed; bad != 0 {
		for k, name := range optNames {
			if bad&k != 0 {
				return nil, fmt.Errorf("%w: %s does not apply to %s", ErrInvalidArgument, name, op)
			}
		}
	}
	if o.set&optCF != 0 {
		if err := c.checkCF(o.cf); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	if o.set&optTTL != 0 && o.set&optTTLs != 0 {
		return nil, fmt.Errorf("%w: %s: WithTTL and WithTTLs together", ErrInvalidArgument, op)
	}
	if o.set&optTTL != 0 {
		if _, err := ttlSeconds(o.ttl); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	for _, d := range o.ttls {
		if _, err := ttlSeconds(d); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return o, nil
}

// ttlSeconds converts a TTL to TiKV's seconds.
func ttlSeconds(d time.Duration) (uint64, error) {
	if d < 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("%w: got %v", ErrInvalidTTL, d)
	}
	return uint64(d / time.Second), nil
}
