package txn

import (
	"context"

	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
)

// Observation hooks of one transaction (TXN-32): the memory its write buffer holds and
// the goroutines it leaves running in the background. They let an embedding program
// account for what its transactions cost (client-go's SetMemoryFootprintChangeHook and
// SetBackgroundGoroutineLifecycleHooks).

// BackgroundHooks are called around every goroutine a transaction starts that outlives
// the call that started it: the commit RPCs of an async-commit transaction (which run
// after Commit returned), the lock heartbeat of a pessimistic transaction, and the
// flushes, heartbeat and lock resolution of a pipelined one. Start runs first in the new
// goroutine and End last, even if the work fails; either may be nil. Both run on that
// goroutine and must be quick and safe for concurrent use.
type BackgroundHooks struct {
	Start func()
	End   func()
}

// hooks are the observation hooks of one transaction.
type hooks struct {
	memory     func(bytes uint64)
	background BackgroundHooks
	end        func(kv.TxnEnd)
}

// WithEndCallback calls fn once when the transaction ends: after Commit (committed,
// failed or undetermined: see TxnEnd.Err and kv.IsUndetermined) or Rollback, with the
// same event the Client's Tracer gets (client-go's SetCommitCallback, which passes the
// event as JSON). fn runs on the goroutine that ended the transaction, before Commit or
// Rollback returns.
func WithEndCallback(fn func(kv.TxnEnd)) TxnOption {
	return func(o *txnOptions) { o.hooks.end = fn }
}

// traceEnd hands the end event to the Client's tracer and the transaction's callback.
func (tx *Txn) traceEnd(ev kv.TxnEnd) {
	if tx.c.tracer != nil {
		tx.c.tracer.TraceTxnEnd(tx.traceCx, ev)
	}
	if tx.opts.hooks.end != nil {
		tx.opts.hooks.end(ev)
	}
}

// WithMemoryFootprintHook calls fn with the bytes the transaction's write buffer holds
// whenever that changes by allocation (a new 64 KiB chunk of keys and values, a larger
// index) or by release (a pipelined transaction hands its buffer to a flush). fn runs on
// the goroutine that writes to the transaction, inside the write, and must be quick; it
// is not called once per write.
func WithMemoryFootprintHook(fn func(bytes uint64)) TxnOption {
	return func(o *txnOptions) { o.hooks.memory = fn }
}

// WithBackgroundHooks installs hooks around the transaction's background goroutines
// (see BackgroundHooks).
func WithBackgroundHooks(h BackgroundHooks) TxnOption {
	return func(o *txnOptions) { o.hooks.background = h }
}

// newBuffer returns an empty write buffer with the memory hook installed, reporting its
// (small) footprint when it replaces a larger one.
func (tx *Txn) newBuffer() *memdb.DB {
	db := memdb.New(tx.c.cfg.Limits)
	if fn := tx.opts.hooks.memory; fn != nil {
		db.SetGrowHook(func(mem int) { fn(uint64(mem)) })
		if tx.mem != nil {
			fn(uint64(db.Mem()))
		}
	}
	return db
}

// goBackground runs fn in a goroutine owned by the Client (see background.start),
// wrapped in the transaction's BackgroundHooks.
func (tx *Txn) goBackground(commit bool, fn func(ctx context.Context)) bool {
	h := tx.opts.hooks.background
	if h.Start == nil && h.End == nil {
		return tx.c.bg.start(commit, fn)
	}
	return tx.c.bg.start(commit, func(ctx context.Context) {
		if h.Start != nil {
			h.Start()
		}
		if h.End != nil {
			defer h.End()
		}
		fn(ctx)
	})
}
