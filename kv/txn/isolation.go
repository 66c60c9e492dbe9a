package txn

import (
	"context"
	"errors"
	"fmt"

	"github.com/tikvsql/tikvsql/kv"
)

// readSnapshot returns the snapshot a read of the transaction uses (TXN-18): the
// start-ts snapshot under snapshot isolation; under ReadCommitted a snapshot at a fresh
// timestamp, taken for each read; under ReadCommittedCheckTS a snapshot at the newest
// timestamp the transaction holds (its start or latest for-update ts), or a fresh one
// when fresh is set (after TiKV refused the cheaper read). Range reads under
// ReadCommittedCheckTS always take a fresh timestamp: a scan cannot be retried key by key.
func (tx *Txn) readSnapshot(ctx context.Context, fresh bool) (*Snapshot, error) {
	level := tx.opts.proto.isolation
	if level == SnapshotIsolation {
		return tx.snap, nil
	}
	o := tx.opts
	var ts uint64
	if level == ReadCommittedCheckTS && !fresh {
		tx.mu.Lock()
		ts = max(tx.startTS, tx.pess.forUpdateTS)
		tx.mu.Unlock()
	} else {
		var err error
		if ts, err = tx.c.cl.PD().Timestamp(ctx); err != nil {
			return nil, fmt.Errorf("txn: read-committed timestamp: %w", err)
		}
		o.proto.isolation = ReadCommitted
	}
	return newSnapshot(tx.c, ts, o), nil
}

// isCheckTSConflict reports TiKV refusing a ReadCommittedCheckTS read that would miss a
// newer version or a lock.
func isCheckTSConflict(err error) bool {
	var wc *kv.WriteConflictError
	if errors.As(err, &wc) && wc.Reason == kv.ConflictRCCheckTS {
		return true
	}
	return false
}

// readGet reads key from the transaction's read snapshot.
func (tx *Txn) readGet(ctx context.Context, key []byte) ([]byte, error) {
	s, err := tx.readSnapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	v, err := s.Get(ctx, key)
	if isCheckTSConflict(err) {
		if s, err = tx.readSnapshot(ctx, true); err != nil {
			return nil, err
		}
		return s.Get(ctx, key)
	}
	return v, err
}

// readBatchGet is readGet for several keys.
func (tx *Txn) readBatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	s, err := tx.readSnapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	got, err := s.BatchGet(ctx, keys)
	if isCheckTSConflict(err) {
		if s, err = tx.readSnapshot(ctx, true); err != nil {
			return nil, err
		}
		return s.BatchGet(ctx, keys)
	}
	return got, err
}
