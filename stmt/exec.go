package stmt

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// ScanRequest is a range read.
type ScanRequest struct {
	Range     kv.KeyRange
	Limit     int  // at most this many pairs; 0 = no limit
	Reverse   bool // descending order, from the range's end
	KeysOnly  bool // values may be left nil
	ForUpdate bool // lock the keys read (pessimistic transactions)
}

// Checksum is the result of a raw checksum over a range.
type Checksum struct {
	CRC64Xor   uint64
	TotalKVs   uint64
	TotalBytes uint64
}

// Executor is the KV surface a Plan runs on. The conn package implements it over the
// raw or transactional client of a session, so that stmt imports no client layer; tests
// implement it with a map. Methods receive the statement's ctx and return the client's
// errors unchanged. Which operations a mode supports is the Executor's business: an
// Executor returns an error for, say, Checksum in txn mode.
type Executor interface {
	// BatchGet returns the pairs of keys that exist, in any order.
	BatchGet(ctx context.Context, keys []kv.Key, keysOnly, forUpdate bool) ([]kv.KeyValue, error)
	// Scan returns the pairs of a range in the requested order.
	Scan(ctx context.Context, req ScanRequest) ([]kv.KeyValue, error)
	// Put writes pairs according to mode (blind, fail if any key exists with
	// *kv.KeyExistsError, or skip existing keys), with a TTL when ttl > 0, and returns the
	// number of keys written.
	Put(ctx context.Context, pairs []kv.KeyValue, mode PutMode, ttl time.Duration) (int64, error)
	// UpdateIfExists writes value to key if key exists and reports whether it did.
	UpdateIfExists(ctx context.Context, key kv.Key, value []byte) (bool, error)
	// CompareAndSwap writes value if the key's value equals expected (or the key is
	// absent when expectAbsent) and returns whether it did and the previous value (nil if
	// absent).
	CompareAndSwap(ctx context.Context, key kv.Key, expected []byte, expectAbsent bool, value []byte) (bool, []byte, error)
	// Delete deletes keys and returns the number of keys deleted (implementations may
	// count every key without checking existence, and must document it).
	Delete(ctx context.Context, keys []kv.Key) (int64, error)
	// DeleteRange deletes every key in the range.
	DeleteRange(ctx context.Context, r kv.KeyRange) error
	// Checksum computes the raw checksum of a range.
	Checksum(ctx context.Context, r kv.KeyRange) (Checksum, error)
	// TTL returns the remaining time to live of key (0: no TTL) and whether it exists.
	TTL(ctx context.Context, key kv.Key) (time.Duration, bool, error)
	// Lock takes pessimistic locks on keys in the session's transaction.
	Lock(ctx context.Context, keys []kv.Key, wait LockWait) error
	// Begin, Commit and Rollback control the session's transaction.
	Begin(ctx context.Context, opts TxnOptions) error
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// Version returns the cluster version for SELECT version().
	Version(ctx context.Context) (string, error)
}

// Result is what a Plan's execution produced: rows for statements that return rows,
// otherwise the number of keys affected (-1 when unknown, as for DELETE RANGE).
type Result struct {
	Columns      []Column
	Rows         [][]driver.Value
	RowsAffected int64
}

// Exec runs the plan on ex. Reads are bounded by the plan (LIMIT or the maxScan guard,
// which fails with kv.ErrScanLimitExceeded), so rows are returned materialized.
func (p *Plan) Exec(ctx context.Context, ex Executor) (*Result, error) {
	res := &Result{Columns: p.Columns}
	var err error
	switch p.Op {
	case OpNone:
		if p.Count {
			res.Rows = [][]driver.Value{{int64(0)}}
		}
	case OpGet, OpScan:
		err = p.execRead(ctx, ex, res)
	case OpPut:
		res.RowsAffected, err = ex.Put(ctx, p.Pairs, p.PutMode, p.TTL)
	case OpUpdate:
		var ok bool
		ok, err = ex.UpdateIfExists(ctx, p.Keys[0], p.Value)
		res.RowsAffected = boolCount(ok)
	case OpCAS:
		err = p.execCAS(ctx, ex, res)
	case OpDelete:
		res.RowsAffected, err = ex.Delete(ctx, p.Keys)
	case OpDeleteRange:
		res.RowsAffected = -1
		err = ex.DeleteRange(ctx, p.Range)
	case OpLock:
		res.RowsAffected = int64(len(p.Keys))
		err = ex.Lock(ctx, p.Keys, p.Wait)
	default:
		err = p.execOther(ctx, ex, res)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func boolCount(ok bool) int64 {
	if ok {
		return 1
	}
	return 0
}

func (p *Plan) execOther(ctx context.Context, ex Executor, res *Result) error {
	switch p.Op {
	case OpChecksum:
		sum, err := ex.Checksum(ctx, p.Range)
		if err != nil {
			return err
		}
		res.Rows = [][]driver.Value{{int64(sum.CRC64Xor), int64(sum.TotalKVs), int64(sum.TotalBytes)}}
	case OpTTL:
		ttl, ok, err := ex.TTL(ctx, p.Keys[0])
		if err != nil || !ok {
			return err
		}
		var v driver.Value
		if ttl > 0 {
			v = int64((ttl + time.Second - 1) / time.Second)
		}
		res.Rows = [][]driver.Value{{[]byte(p.Keys[0]), v}}
	case OpBegin:
		return ex.Begin(ctx, p.Txn)
	case OpCommit:
		return ex.Commit(ctx)
	case OpRollback:
		return ex.Rollback(ctx)
	case OpConst:
		res.Rows = [][]driver.Value{{int64(1)}}
	case OpVersion:
		v, err := ex.Version(ctx)
		if err != nil {
			return err
		}
		res.Rows = [][]driver.Value{{v}}
	case OpExplain:
		for _, line := range p.Inner.Explain() {
			res.Rows = append(res.Rows, []driver.Value{line})
		}
	}
	return nil
}

func (p *Plan) execCAS(ctx context.Context, ex Executor, res *Result) error {
	swapped, prev, err := ex.CompareAndSwap(ctx, p.Keys[0], p.Expected, p.ExpectAbsent, p.Value)
	if err != nil {
		return err
	}
	if p.Kind != KindCAS {
		res.RowsAffected = boolCount(swapped)
		return nil
	}
	var pv driver.Value
	if prev != nil {
		pv = prev
	}
	res.Rows = [][]driver.Value{{swapped, pv}}
	return nil
}

// execRead runs point reads and scans, applies OFFSET, the guard and count(*), and
// projects the columns.
func (p *Plan) execRead(ctx context.Context, ex Executor, res *Result) error {
	var pairs []kv.KeyValue
	var err error
	if p.Op == OpGet {
		pairs, err = p.orderedGet(ctx, ex)
	} else {
		pairs, err = ex.Scan(ctx, ScanRequest{Range: p.Range, Limit: p.scanLimit(), Reverse: p.Reverse, KeysOnly: p.KeysOnly, ForUpdate: p.ForUpdate})
	}
	if err != nil {
		return err
	}
	if p.LimitIsGuard && len(pairs) > p.Offset+p.Limit {
		return fmt.Errorf("%w: more than %d rows; add a LIMIT or raise the maxScan DSN parameter", kv.ErrScanLimitExceeded, p.Limit)
	}
	if p.Offset > 0 {
		pairs = pairs[min(p.Offset, len(pairs)):]
	}
	if p.Limit > 0 && len(pairs) > p.Limit {
		pairs = pairs[:p.Limit]
	}
	if p.Count {
		res.Rows = [][]driver.Value{{int64(len(pairs))}}
		return nil
	}
	res.Rows = make([][]driver.Value, len(pairs))
	for i, kvp := range pairs {
		res.Rows[i] = p.Row(kvp, nil)
	}
	return nil
}

// Row projects one pair read by an OpGet or OpScan plan onto the plan's columns, in
// dest when it has room (a driver.Rows.Next destination) or in a new slice. Drivers
// that stream a scan instead of calling Exec use it, together with Offset, Limit and
// LimitIsGuard, to produce exactly the rows Exec would.
func (p *Plan) Row(kvp kv.KeyValue, dest []driver.Value) []driver.Value {
	if len(dest) < len(p.Columns) {
		dest = make([]driver.Value, len(p.Columns))
	}
	for j, c := range p.Columns {
		if c.src == srcKey {
			dest[j] = []byte(kvp.Key)
		} else {
			dest[j] = kvp.Value
		}
	}
	return dest[:len(p.Columns)]
}

// orderedGet reads p.Keys and returns the found pairs in the order of p.Keys. The
// Executor sees each key once; a key listed twice, as BATCH GET allows, is returned twice.
func (p *Plan) orderedGet(ctx context.Context, ex Executor) ([]kv.KeyValue, error) {
	keys := p.Keys
	if len(keys) > 1 {
		seen := make(map[string]bool, len(keys))
		uniq := make([]kv.Key, 0, len(keys))
		for _, k := range keys {
			if !seen[string(k)] {
				seen[string(k)] = true
				uniq = append(uniq, k)
			}
		}
		keys = uniq
	}
	found, err := ex.BatchGet(ctx, keys, p.KeysOnly, p.ForUpdate)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string][]byte, len(found))
	for _, f := range found {
		byKey[string(f.Key)] = f.Value
	}
	out := make([]kv.KeyValue, 0, len(found))
	for _, k := range p.Keys {
		if v, ok := byKey[string(k)]; ok {
			out = append(out, kv.KeyValue{Key: k, Value: v})
		}
	}
	return out, nil
}
