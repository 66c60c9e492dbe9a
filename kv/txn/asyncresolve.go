package txn

import (
	"context"
	"slices"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

// Read-side lock cleanup in the background (TXN-16). A read that meets the lock of a
// transaction already decided (committed or rolled back) does not need the lock gone:
// it reads again telling TiKV to skip it (Context.ResolvedLocks) or to read through it
// (Context.CommittedLocks). Removing the lock (ResolveLock, or a pessimistic rollback)
// is for everyone else, so, as in client-go, it runs in a goroutine owned by the Client
// and the read returns without waiting for it; a failed cleanup only leaves the lock to
// the next reader or writer.

// DefaultAsyncResolveLimit bounds the read-side cleanups running at once; beyond it a
// read cleans up synchronously (still ignoring the cleanup's errors).
const DefaultAsyncResolveLimit = 1024

// decidedLock is a lock of a decided transaction, with that transaction's status.
type decidedLock struct {
	lock kv.Lock
	st   txnStatus
}

// cleanupForRead removes the locks of decided transactions a read met: in the
// background when a slot is free, else now. Errors are logged, never returned: the read
// has what it needs.
func (r *resolver) cleanupForRead(ctx context.Context, locks []decidedLock) {
	// Readers of a hot key meet the same lock until it is gone: one cleanup each.
	locks = slices.DeleteFunc(locks, func(d decidedLock) bool {
		_, running := r.cleaning.LoadOrStore(cleaningKey{d.lock.StartTS, string(d.lock.Key)}, struct{}{})
		return running
	})
	if len(locks) == 0 {
		return
	}
	run := func(ctx context.Context) {
		defer func() {
			for _, d := range locks {
				r.cleaning.Delete(cleaningKey{d.lock.StartTS, string(d.lock.Key)})
			}
		}()
		r.cleanup(ctx, locks)
	}
	select {
	case r.asyncSlots <- struct{}{}:
		if r.c.bg.start(false, func(bctx context.Context) {
			defer func() { <-r.asyncSlots }()
			run(bctx)
		}) {
			return
		}
		<-r.asyncSlots // the Client is closing: clean up here
	default:
	}
	run(ctx)
}

// cleaningKey names a lock whose cleanup is running.
type cleaningKey struct {
	startTS uint64
	key     string
}

// cleanup resolves locks of decided transactions within the async-resolve budget, which
// also bounds its time: a store that never answers must not hold a cleanup slot for good.
func (r *resolver) cleanup(ctx context.Context, locks []decidedLock) {
	budget := backoff.Weighted(backoff.BudgetAsyncResolve)
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	bo := r.c.newBackoffer(budget)
	cleaned := make(map[cleanedRegion]bool)
	lite := make(liteBatch)
	for _, d := range locks {
		if err := r.resolveDecided(ctx, bo, d.lock, d.st, cleaned, lite); err != nil {
			r.c.log.Debug("txn: read-side lock cleanup failed; the next reader or writer will resolve it",
				zap.Uint64("startTS", d.lock.StartTS), zap.Error(err))
			return
		}
	}
	if err := r.flush(ctx, lite); err != nil {
		r.c.log.Debug("txn: read-side lock cleanup failed; the next reader or writer will resolve it", zap.Error(err))
	}
}
