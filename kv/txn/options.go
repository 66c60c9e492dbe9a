package txn

import "github.com/pingcap/kvproto/pkg/kvrpcpb"

// Miscellaneous transaction options (TXN-32) that only set fields of the requests'
// kvrpcpb.Context.

// DiskFullOpt says whether TiKV may apply a transaction's writes when its disk is
// (almost) full.
type DiskFullOpt uint8

const (
	// DiskFullNotAllowed (the default): writes fail when a store's disk is almost full.
	DiskFullNotAllowed DiskFullOpt = iota
	// DiskFullAllowedOnAlmostFull: writes proceed on almost-full disks (for
	// maintenance transactions that free space).
	DiskFullAllowedOnAlmostFull
	// DiskFullAllowedOnAlreadyFull: writes proceed even on full disks.
	DiskFullAllowedOnAlreadyFull
)

func (d DiskFullOpt) pb() kvrpcpb.DiskFullOpt {
	switch d {
	case DiskFullAllowedOnAlmostFull:
		return kvrpcpb.DiskFullOpt_AllowedOnAlmostFull
	case DiskFullAllowedOnAlreadyFull:
		return kvrpcpb.DiskFullOpt_AllowedOnAlreadyFull
	}
	return kvrpcpb.DiskFullOpt_NotAllowedOnFull
}

// miscOptions are the Context-only choices of a transaction.
type miscOptions struct {
	syncLog   bool
	txnSource uint64
	diskFull  DiskFullOpt
}

// WithSyncLog asks TiKV to sync its raft log to disk before acknowledging the
// transaction's writes (client-go's EnableForceSyncLog).
func WithSyncLog() TxnOption { return func(o *txnOptions) { o.proto.misc.syncLog = true } }

// WithTxnSource tags the transaction's writes with source (TiCDC filters changes by it,
// e.g. to break replication loops).
func WithTxnSource(source uint64) TxnOption {
	return func(o *txnOptions) { o.proto.misc.txnSource = source }
}

// WithDiskFullOpt sets what the transaction's writes do on stores whose disk is
// (almost) full (default DiskFullNotAllowed).
func WithDiskFullOpt(d DiskFullOpt) TxnOption {
	return func(o *txnOptions) { o.proto.misc.diskFull = d }
}

// apply sets the fields in rc.
func (m *miscOptions) apply(rc *kvrpcpb.Context) {
	rc.SyncLog = m.syncLog
	rc.TxnSource = m.txnSource
	rc.DiskFullOpt = m.diskFull.pb()
}
