package conn

import (
	"context"

	"github.com/tikvsql/tikvsql/stmt"
)

// TxnOptions are per-transaction choices passed to BeginTx through the context (see
// WithTxnOptions). Zero fields keep the DSN's settings.
type TxnOptions struct {
	// Mode overrides the DSN's txnMode: stmt.TxnOptimistic or stmt.TxnPessimistic.
	Mode stmt.TxnMode
	// RequestSource labels the transaction's requests in TiKV's metrics.
	RequestSource string
	// ResourceGroup charges the transaction's requests to a resource group.
	ResourceGroup string
}

type txnOptionsKey struct{}

// WithTxnOptions returns a context that makes BeginTx (db.BeginTx(ctx, ...)) use o.
func WithTxnOptions(ctx context.Context, o TxnOptions) context.Context {
	return context.WithValue(ctx, txnOptionsKey{}, o)
}

func txnOptionsFrom(ctx context.Context) (TxnOptions, bool) {
	o, ok := ctx.Value(txnOptionsKey{}).(TxnOptions)
	return o, ok
}
