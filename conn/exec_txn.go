package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tikvsql/tikvsql/dsn"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/stmt"
)

// txnExec runs plans on the transactional client (mode=txn). Inside a transaction
// (BeginTx or BEGIN) statements use it; outside, reads use a snapshot at a fresh
// timestamp and writes run in their own transaction through txn.Client.Transact, which
// retries write conflicts (re-running the statement's reads) and never an undetermined
// commit.
type txnExec struct {
	sh *Shared
	c  *txn.Client

	tx   *txn.Txn      // the open read-write transaction
	snap *txn.Snapshot // the open read-only transaction
}

func (e *txnExec) inTxn() bool { return e.tx != nil || e.snap != nil }

// txnOptions are the options of transactions begun by this session: the shared ones
// (replica read), the DSN's request source, resource group and lock wait, overridden per
// transaction.
func (e *txnExec) txnOptions(x TxnOptions) []txn.TxnOption {
	opts := append([]txn.TxnOption(nil), e.sh.txnOpts...)
	src, rg := e.sh.cfg.RequestSource, e.sh.cfg.ResourceGroup
	if x.RequestSource != "" {
		src = x.RequestSource
	}
	if x.ResourceGroup != "" {
		rg = x.ResourceGroup
	}
	if src != "" {
		opts = append(opts, txn.WithRequestSource(src))
	}
	if rg != "" {
		opts = append(opts, txn.WithResourceGroup(rg))
	}
	if w := lockWaitFromDSN(e.sh.cfg.LockWait); w.Kind != txn.LockWaitDefault {
		opts = append(opts, txn.WithLockWait(w))
	}
	return opts
}

// lockWaitFromDSN maps the DSN's lockWaitTimeout to the client's policy.
func lockWaitFromDSN(w dsn.LockWait) txn.LockWait {
	switch w.Kind {
	case dsn.LockWaitNoWait:
		return txn.LockWait{Kind: txn.LockWaitNoWait}
	case dsn.LockWaitForever:
		return txn.LockWait{Kind: txn.LockWaitForever}
	case dsn.LockWaitTimeout:
		return txn.LockWait{Kind: txn.LockWaitTimeout, Timeout: w.Timeout}
	}
	return txn.LockWait{}
}

// lockWaitFromStmt maps a LOCK statement's NOWAIT / WAIT d; the zero value keeps the
// transaction's policy.
func lockWaitFromStmt(w stmt.LockWait) txn.LockWait {
	switch {
	case w.NoWait:
		return txn.LockWait{Kind: txn.LockWaitNoWait}
	case w.Timeout > 0:
		return txn.LockWait{Kind: txn.LockWaitTimeout, Timeout: w.Timeout}
	}
	return txn.LockWait{}
}

// reader is what reads go to: the open transaction or snapshot, or a snapshot at a
// fresh timestamp.
func (e *txnExec) reader(ctx context.Context) (txn.Reader, error) {
	switch {
	case e.tx != nil:
		return e.tx, nil
	case e.snap != nil:
		return e.snap, nil
	}
	ts, err := e.c.CurrentTS(ctx)
	if err != nil {
		return nil, err
	}
	return e.c.Snapshot(ts, e.sh.txnOpts...), nil
}

// write runs fn in the open transaction, or in a transaction of its own.
func (e *txnExec) write(ctx context.Context, fn func(ctx context.Context, tx *txn.Txn) error) error {
	switch {
	case e.tx != nil:
		return fn(ctx, e.tx)
	case e.snap != nil:
		return ErrReadOnly
	}
	return e.c.Transact(ctx, fn, e.txnOptions(TxnOptions{})...)
}

func (e *txnExec) BatchGet(ctx context.Context, keys []kv.Key, keysOnly, forUpdate bool) ([]kv.KeyValue, error) {
	r, err := e.reader(ctx)
	if err != nil {
		return nil, err
	}
	ks := keys2bytes(keys)
	if forUpdate && e.tx != nil {
		// In a pessimistic transaction the locks return the latest committed values,
		// which later reads of these keys then see; in an optimistic one the keys are
		// checked for conflicting writes at commit.
		if err := e.tx.LockKeysWithOptions(ctx, txn.LockOptions{ReturnValues: e.tx.IsPessimistic()}, ks...); err != nil {
			return nil, err
		}
	}
	if len(ks) == 1 { // GET, k = ?: a point read skips the batch machinery
		v, err := r.Get(ctx, ks[0])
		if errors.Is(err, kv.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []kv.KeyValue{{Key: keys[0], Value: v}}, nil
	}
	m, err := r.BatchGet(ctx, ks)
	if err != nil {
		return nil, err
	}
	out := make([]kv.KeyValue, 0, len(m))
	for _, k := range keys {
		if v, ok := m[string(k)]; ok {
			out = append(out, kv.KeyValue{Key: k, Value: v})
		}
	}
	return out, nil
}

func txnScanOptions(req stmt.ScanRequest) []txn.IterOption {
	var opts []txn.IterOption
	if req.Reverse {
		opts = append(opts, txn.Reverse())
	}
	if req.KeysOnly {
		opts = append(opts, txn.KeyOnly())
	}
	return opts
}

func (e *txnExec) Scan(ctx context.Context, req stmt.ScanRequest) ([]kv.KeyValue, error) {
	r, err := e.reader(ctx)
	if err != nil {
		return nil, err
	}
	pairs, err := r.Scan(ctx, req.Range.Start, req.Range.End, req.Limit, txnScanOptions(req)...)
	if err != nil {
		return nil, err
	}
	if !req.ForUpdate || e.tx == nil || len(pairs) == 0 {
		return pairs, nil
	}
	ks := make([][]byte, len(pairs))
	for i, p := range pairs {
		ks[i] = p.Key
	}
	if !e.tx.IsPessimistic() {
		return pairs, e.tx.LockKeys(ctx, ks...)
	}
	// Pessimistic: lock what the scan found and return the values under the locks
	// (a key deleted since the snapshot drops out). Keys inserted into the range since
	// then are not locked: like TiDB, FOR UPDATE locks the rows it returns.
	vals := make(map[string][]byte, len(pairs))
	if err := e.tx.LockKeysWithOptions(ctx, txn.LockOptions{ReturnValues: true, Values: vals}, ks...); err != nil {
		return nil, err
	}
	out := pairs[:0]
	for _, p := range pairs {
		if v, ok := vals[string(p.Key)]; ok {
			if !req.KeysOnly {
				p.Value = v
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func (e *txnExec) iter(ctx context.Context, req stmt.ScanRequest) (pairIter, error) {
	r, err := e.reader(ctx)
	if err != nil {
		return nil, err
	}
	return r.Iter(ctx, req.Range.Start, req.Range.End, txnScanOptions(req)...), nil
}

// exists reads key in tx: its value and true, or nil and false.
func exists(ctx context.Context, tx *txn.Txn, key []byte) ([]byte, bool, error) {
	v, err := tx.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Put writes pairs in one transaction. INSERT fails with *kv.KeyExistsError when a key
// exists (read now, and checked again by TiKV at prewrite); INSERT IGNORE skips keys
// that exist. A key inserted concurrently makes the commit conflict and, outside an
// explicit transaction, the statement re-run.
func (e *txnExec) Put(ctx context.Context, pairs []kv.KeyValue, mode stmt.PutMode, ttl time.Duration) (int64, error) {
	if ttl > 0 {
		return 0, fmt.Errorf("%w: TTL", ErrTxnMode)
	}
	var n int64
	err := e.write(ctx, func(ctx context.Context, tx *txn.Txn) error {
		n = 0
		for _, p := range pairs {
			switch mode {
			case stmt.PutBlind:
				if err := tx.Set(p.Key, p.Value); err != nil {
					return err
				}
			case stmt.PutIfAbsent:
				if _, ok, err := exists(ctx, tx, p.Key); err != nil {
					return err
				} else if ok {
					return &kv.KeyExistsError{Key: p.Key}
				}
				if err := tx.Insert(p.Key, p.Value); err != nil {
					return err
				}
			case stmt.PutIgnoreExist:
				if _, ok, err := exists(ctx, tx, p.Key); err != nil {
					return err
				} else if ok {
					continue
				}
				if err := tx.Set(p.Key, p.Value); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	return n, err
}

func (e *txnExec) UpdateIfExists(ctx context.Context, key kv.Key, value []byte) (bool, error) {
	var found bool
	err := e.write(ctx, func(ctx context.Context, tx *txn.Txn) error {
		var err error
		if _, found, err = exists(ctx, tx, key); err != nil || !found {
			return err
		}
		return tx.Set(key, value)
	})
	return found, err
}

// CompareAndSwap reads and writes in one transaction: a concurrent writer makes the
// commit conflict, so the comparison holds at commit.
func (e *txnExec) CompareAndSwap(ctx context.Context, key kv.Key, expected []byte, expectAbsent bool, value []byte) (bool, []byte, error) {
	var swapped bool
	var prev []byte
	err := e.write(ctx, func(ctx context.Context, tx *txn.Txn) error {
		v, ok, err := exists(ctx, tx, key)
		if err != nil {
			return err
		}
		prev, swapped = nil, false
		if ok {
			prev = v
			if prev == nil {
				prev = []byte{}
			}
		}
		if expectAbsent == ok || (ok && !bytes.Equal(v, expected)) {
			return nil
		}
		swapped = true
		return tx.Set(key, value)
	})
	if err != nil {
		return false, nil, err
	}
	return swapped, prev, nil
}

// Delete deletes keys in one transaction and counts those that existed in it.
func (e *txnExec) Delete(ctx context.Context, keys []kv.Key) (int64, error) {
	var n int64
	err := e.write(ctx, func(ctx context.Context, tx *txn.Txn) error {
		ks := keys2bytes(keys)
		m, err := tx.BatchGet(ctx, ks)
		if err != nil {
			return err
		}
		n = int64(len(m))
		for _, k := range ks {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// DeleteRange deletes every key of r in one transaction (its size is bounded by the
// transaction limits, kv.ErrTxnTooLarge).
func (e *txnExec) DeleteRange(ctx context.Context, r kv.KeyRange) error {
	return e.write(ctx, func(ctx context.Context, tx *txn.Txn) error {
		it := tx.Iter(ctx, r.Start, r.End, txn.KeyOnly())
		defer it.Close()
		var keys [][]byte
		for it.Next() {
			keys = append(keys, clone(it.Key()))
		}
		if err := it.Err(); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *txnExec) Checksum(context.Context, kv.KeyRange) (stmt.Checksum, error) {
	return stmt.Checksum{}, fmt.Errorf("%w: CHECKSUM", ErrTxnMode)
}

func (e *txnExec) TTL(context.Context, kv.Key) (time.Duration, bool, error) {
	return 0, false, fmt.Errorf("%w: TTL", ErrTxnMode)
}

// Lock locks keys in the transaction: in a pessimistic transaction it acquires the
// locks now, waiting as the statement (NOWAIT, WAIT d) or the transaction says; in an
// optimistic one the keys are checked for conflicting writes at commit.
func (e *txnExec) Lock(ctx context.Context, keys []kv.Key, wait stmt.LockWait) error {
	switch {
	case e.snap != nil:
		return fmt.Errorf("%w: LOCK", ErrReadOnly)
	case e.tx == nil:
		return fmt.Errorf("%w: LOCK", ErrNoTxn)
	}
	// Pessimistic locks also fetch the values under them, so that later reads of the keys
	// in the transaction see the latest committed data, not the start snapshot.
	return e.tx.LockKeysWithOptions(ctx, txn.LockOptions{Wait: lockWaitFromStmt(wait), ReturnValues: e.tx.IsPessimistic()}, keys2bytes(keys)...)
}

// Begin handles a BEGIN statement.
func (e *txnExec) Begin(ctx context.Context, o stmt.TxnOptions) error {
	b := beginOptions{readOnly: o.ReadOnly, pessimistic: e.sh.cfg.TxnMode == dsn.TxnPessimistic}
	switch o.Mode {
	case stmt.TxnPessimistic:
		b.pessimistic = true
	case stmt.TxnOptimistic:
		b.pessimistic = false
	}
	return e.begin(ctx, b)
}

func (e *txnExec) begin(ctx context.Context, o beginOptions) error {
	if e.inTxn() {
		return ErrTxnOpen
	}
	if o.readOnly {
		var ts uint64
		var err error
		opts := e.sh.txnOpts
		if d := e.sh.cfg.StaleRead; d > 0 {
			// A stale read: point reads are served by the nearest replica from its own
			// data (TiKV's stale read), not only by the leader.
			ts, err = e.c.Cluster().PD().StaleTimestamp(ctx, d)
			opts = append(slices.Clip(opts), txn.WithStaleRead())
		} else {
			ts, err = e.c.CurrentTS(ctx)
		}
		if err != nil {
			return err
		}
		e.snap = e.c.Snapshot(ts, opts...)
		return nil
	}
	opts := e.txnOptions(o.extra)
	if o.pessimistic {
		opts = append(opts, txn.WithPessimistic())
	}
	if o.rc {
		opts = append(opts, txn.WithIsolation(txn.ReadCommitted))
	}
	if e.sh.cfg.Pipelined {
		// Explicit read-write transactions flush their writes while they run (large
		// DML); one-statement transactions stay ordinary. Combined with a pessimistic
		// or read-committed transaction, Begin fails with *txn.IncompatibleOptionError.
		opts = append(opts, txn.WithPipelined(txn.PipelinedOptions{}))
	}
	tx, err := e.c.Begin(ctx, opts...)
	if err != nil {
		return err
	}
	e.tx = tx
	return nil
}

// Commit commits the open transaction; without one it does nothing, like MySQL.
func (e *txnExec) Commit(ctx context.Context) error {
	tx := e.tx
	e.tx, e.snap = nil, nil
	if tx == nil {
		return nil
	}
	return tx.Commit(ctx)
}

// Rollback rolls the open transaction back; without one it does nothing.
func (e *txnExec) Rollback(ctx context.Context) error {
	tx := e.tx
	e.tx, e.snap = nil, nil
	if tx == nil {
		return nil
	}
	return tx.Rollback(ctx)
}

func (e *txnExec) Version(ctx context.Context) (string, error) {
	return clusterVersion(ctx, e.c.Cluster())
}

func (e *txnExec) ping(ctx context.Context) error {
	_, err := e.c.CurrentTS(ctx)
	return err
}

func (e *txnExec) close(ctx context.Context) error { return e.Rollback(ctx) }
