package conn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/stmt"
)

// rawExec runs plans as raw calls (mode=raw). Raw mode has no transactions: a statement
// over several keys is not atomic, and BEGIN, LOCK and FOR UPDATE are errors.
// Statements that must see the previous value (INSERT, INSERT IGNORE, CAS, conditional
// UPDATE) need atomic=true and use compare-and-swap per key.
type rawExec struct {
	sh *Shared
	c  *raw.Client
}

func keys2bytes(keys []kv.Key) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

func (e *rawExec) BatchGet(ctx context.Context, keys []kv.Key, keysOnly, forUpdate bool) ([]kv.KeyValue, error) {
	if forUpdate {
		return nil, fmt.Errorf("%w: FOR UPDATE", ErrRawMode)
	}
	if len(keys) == 1 { // GET, k = ?: a point read skips the batch machinery
		v, err := e.c.Get(ctx, keys[0])
		if errors.Is(err, kv.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []kv.KeyValue{{Key: keys[0], Value: v}}, nil
	}
	vals, err := e.c.BatchGet(ctx, keys2bytes(keys))
	if err != nil {
		return nil, err
	}
	out := make([]kv.KeyValue, 0, len(keys))
	for i, v := range vals {
		if v != nil {
			out = append(out, kv.KeyValue{Key: keys[i], Value: v})
		}
	}
	return out, nil
}

func rawScanOptions(req stmt.ScanRequest) []raw.Option {
	if req.KeysOnly {
		return []raw.Option{raw.WithKeyOnly()}
	}
	return nil
}

func (e *rawExec) Scan(ctx context.Context, req stmt.ScanRequest) ([]kv.KeyValue, error) {
	if req.ForUpdate {
		return nil, fmt.Errorf("%w: FOR UPDATE", ErrRawMode)
	}
	if req.Reverse {
		return e.c.ReverseScan(ctx, req.Range.Start, req.Range.End, req.Limit, rawScanOptions(req)...)
	}
	return e.c.Scan(ctx, req.Range.Start, req.Range.End, req.Limit, rawScanOptions(req)...)
}

func (e *rawExec) iter(ctx context.Context, req stmt.ScanRequest) (pairIter, error) {
	opts := rawScanOptions(req)
	if req.Reverse {
		opts = append(opts, raw.WithReverse())
	}
	return e.c.Iter(ctx, req.Range.Start, req.Range.End, opts...), nil
}

// Put writes pairs. Blind writes are one BatchPut; INSERT and INSERT IGNORE swap each
// key from absent (atomic=true), so an INSERT of several keys that meets an existing
// key has written the keys before it.
func (e *rawExec) Put(ctx context.Context, pairs []kv.KeyValue, mode stmt.PutMode, ttl time.Duration) (int64, error) {
	var opts []raw.Option
	if ttl > 0 {
		opts = append(opts, raw.WithTTL(ttl))
	}
	if mode == stmt.PutBlind {
		if len(pairs) == 1 {
			return 1, e.c.Put(ctx, pairs[0].Key, pairs[0].Value, opts...)
		}
		keys, vals := make([][]byte, len(pairs)), make([][]byte, len(pairs))
		for i, p := range pairs {
			keys[i], vals[i] = p.Key, p.Value
		}
		if err := e.c.BatchPut(ctx, keys, vals, opts...); err != nil {
			return 0, err
		}
		return int64(len(pairs)), nil
	}
	if !e.sh.cfg.Atomic {
		return 0, fmt.Errorf("%w: INSERT", ErrNeedsAtomic)
	}
	var n int64
	for _, p := range pairs {
		res, err := e.c.CompareAndSwap(ctx, p.Key, nil, p.Value, opts...)
		if err != nil {
			return n, err
		}
		if !res.Swapped {
			if mode == stmt.PutIfAbsent {
				return n, &kv.KeyExistsError{Key: p.Key}
			}
			continue
		}
		n++
	}
	return n, nil
}

// casRetries bounds how often a conditional update retries when the value changes
// between its read and its swap.
const casRetries = 16

// UpdateIfExists writes value when key exists. With atomic=true it swaps from the value
// read (retrying when another writer changed it in between); without, it reads and
// writes, so a concurrent delete may be overwritten.
func (e *rawExec) UpdateIfExists(ctx context.Context, key kv.Key, value []byte) (bool, error) {
	cur, err := e.c.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !e.sh.cfg.Atomic {
		return true, e.c.Put(ctx, key, value)
	}
	for range casRetries {
		res, err := e.c.CompareAndSwap(ctx, key, cur, value)
		if err != nil {
			return false, err
		}
		if res.Swapped {
			return true, nil
		}
		if !res.PreviousExists {
			return false, nil
		}
		cur = res.Previous
	}
	return false, fmt.Errorf("tikv: UPDATE of %v lost %d compare-and-swap races", key, casRetries)
}

func (e *rawExec) CompareAndSwap(ctx context.Context, key kv.Key, expected []byte, expectAbsent bool, value []byte) (bool, []byte, error) {
	if !e.sh.cfg.Atomic {
		return false, nil, fmt.Errorf("%w: CAS", ErrNeedsAtomic)
	}
	if expectAbsent {
		expected = nil
	} else if expected == nil {
		expected = []byte{}
	}
	res, err := e.c.CompareAndSwap(ctx, key, expected, value)
	if err != nil {
		return false, nil, err
	}
	var prev []byte
	if res.PreviousExists {
		prev = res.Previous
		if prev == nil {
			prev = []byte{}
		}
	}
	return res.Swapped, prev, nil
}

// Delete deletes keys and counts those that existed when read just before (raw mode
// cannot make the count exact under concurrent writers).
func (e *rawExec) Delete(ctx context.Context, keys []kv.Key) (int64, error) {
	ks := keys2bytes(keys)
	vals, err := e.c.BatchGet(ctx, ks)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, v := range vals {
		if v != nil {
			n++
		}
	}
	if len(ks) == 1 {
		return n, e.c.Delete(ctx, ks[0])
	}
	return n, e.c.BatchDelete(ctx, ks)
}

func (e *rawExec) DeleteRange(ctx context.Context, r kv.KeyRange) error {
	return e.c.DeleteRange(ctx, r.Start, r.End)
}

func (e *rawExec) Checksum(ctx context.Context, r kv.KeyRange) (stmt.Checksum, error) {
	sum, err := e.c.Checksum(ctx, r.Start, r.End)
	if err != nil {
		return stmt.Checksum{}, err
	}
	return stmt.Checksum{CRC64Xor: sum.Crc64Xor, TotalKVs: sum.TotalKVs, TotalBytes: sum.TotalBytes}, nil
}

func (e *rawExec) TTL(ctx context.Context, key kv.Key) (time.Duration, bool, error) {
	d, err := e.c.TTL(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return d, true, nil
}

func (e *rawExec) Lock(context.Context, []kv.Key, stmt.LockWait) error {
	return fmt.Errorf("%w: LOCK", ErrRawMode)
}

func (e *rawExec) Begin(context.Context, stmt.TxnOptions) error {
	return fmt.Errorf("%w: BEGIN", ErrRawMode)
}

func (e *rawExec) begin(context.Context, beginOptions) error {
	return fmt.Errorf("%w: BeginTx", ErrRawMode)
}

// Commit and Rollback have no transaction to end in raw mode; like MySQL outside a
// transaction, they do nothing.
func (e *rawExec) Commit(context.Context) error   { return nil }
func (e *rawExec) Rollback(context.Context) error { return nil }

func (e *rawExec) Version(ctx context.Context) (string, error) {
	return clusterVersion(ctx, e.c.Cluster())
}

func (e *rawExec) inTxn() bool { return false }

func (e *rawExec) ping(ctx context.Context) error {
	_, err := e.c.Cluster().PD().Timestamp(ctx)
	return err
}

func (e *rawExec) close(context.Context) error { return nil }
