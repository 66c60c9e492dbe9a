package txn

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/memdb"
)

// KVFilter decides, when a transaction commits (or a pipelined one flushes), whether a
// buffered write needs to reach TiKV at all (client-go's KVFilter, TXN-32). It is called
// with each written key and its value (empty for a delete) and returns skip = true for a
// write that changes nothing worth committing, e.g. an index entry rewritten with the
// value it already had. A skipped key that the transaction locked pessimistically is
// still committed as a lock (so the lock is released by the commit, as client-go does for
// puts; we do the same for deletes rather than leave the lock to expire). An error fails
// the commit (or the write that triggered a pipelined flush) before the affected
// mutations are sent. f runs on the committing goroutine, once per write per commit.
type KVFilter func(key, value []byte) (skip bool, err error)

// WithKVFilter sets the transaction's KVFilter.
func WithKVFilter(f KVFilter) TxnOption { return func(o *txnOptions) { o.kvFilter = f } }

// filterMutations applies the transaction's KVFilter to the writes of muts (of total
// size bytes), returning the mutations to send and their size.
func (tx *Txn) filterMutations(muts []mutation, size int) ([]mutation, int, error) {
	f := tx.opts.kvFilter
	if f == nil {
		return muts, size, nil
	}
	out := muts[:0]
	for _, m := range muts {
		switch m.op {
		case kvrpcpb.Op_Put, kvrpcpb.Op_Insert, kvrpcpb.Op_Del:
			skip, err := f(m.key, m.value)
			if err != nil {
				return nil, 0, fmt.Errorf("txn: kv filter: %w", err)
			}
			if skip {
				size -= len(m.value)
				if !m.flags.Has(memdb.FlagKeyLocked) {
					size -= len(m.key)
					continue
				}
				m.op, m.value = kvrpcpb.Op_Lock, nil
			}
		}
		out = append(out, m)
	}
	return out, size, nil
}
