package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/internal/memdb"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Commit protocols. The committer starts from what the transaction allows and the
// eligibility rules below, and falls back to two-phase commit when TiKV declines.
//
// Async commit (TXN-10): the primary lock lists every secondary key, and every lock
// carries use_async_commit. TiKV picks each key's commit ts floor (above every read it
// served, the start ts and our min commit ts) and returns it; once every prewrite
// succeeded the transaction is committed at the largest floor, with no further write on
// the critical path: anyone who meets a lock can decide the transaction by checking all
// its keys (CheckSecondaryLocks). The commit RPCs then only clean up, in the background.
// A floor above max_commit_ts (start ts + age + AsyncCommitSafeWindow) makes TiKV write
// ordinary locks and return 0; we then commit with two-phase commit.
//
// 1PC (TXN-11): a transaction whose whole prewrite is one request to one region asks
// TiKV (try_one_pc) to prewrite and commit in the same write; TiKV returns the commit ts,
// or 0 when it wrote ordinary locks instead, after which two-phase commit finishes.
//
// For both, the min commit ts sent is a fresh timestamp + 1 (linearizability: a
// transaction that began after this commit started must see it), and an RPC error on
// prewrite is an undetermined result (TXN-34): TiKV may have committed.

// commitProto is the protocol state of one committer.
type commitProto struct {
	forUpdateTS uint64 // pessimistic transactions that locked something
	async       bool   // trying async commit
	onePC       bool   // trying 1PC
	minCommitTS uint64 // floor sent with every prewrite
	maxCommitTS uint64 // async commit / 1PC bound

	mu        sync.Mutex
	assertion error  // first assertion failure of a prewrite batch (assertion.go)
	floor     uint64 // largest MinCommitTs TiKV returned
	fellBack  bool   // some async prewrite returned 0
	onePCTS   uint64 // 1PC commit ts
}

// protocol names the protocol the commit used, for tracing.
func (cm *committer) protocol() string {
	switch {
	case cm.p.onePCTS > 0:
		return "1pc"
	case cm.p.async && !cm.p.fellBack:
		return "async-commit"
	}
	return "2pc"
}

// choosePrimary makes a pessimistic transaction's primary lock the commit's primary:
// the other locks already point to it.
func (cm *committer) choosePrimary() {
	if pp := cm.tx.pess.primary; pp != nil && cm.hasLocks {
		cm.primary = pp
	}
	cm.p.forUpdateTS = cm.tx.pess.forUpdateTS
}

// chooseProtocol applies the eligibility rules (SB-8) and, for async commit or 1PC,
// takes the fresh min commit ts and computes the max commit ts.
func (cm *committer) chooseProtocol(ctx context.Context) error {
	o := &cm.tx.opts.proto
	cfg := &cm.c.cfg
	if err := cm.checkTxnAge(); err != nil {
		return err
	}
	if !cm.hasLocks || o.upperBound != nil || cm.deferredAssertion() != nil || cm.shared {
		// TiKV would choose a commit ts we cannot check, or a successful prewrite would be
		// a commit although the client already found an assertion failure; shared locks
		// take two-phase commit only (TXN-9).
		return nil
	}
	keySize := 0
	for _, m := range cm.muts {
		keySize += len(m.key)
	}
	cm.p.async = cm.c.asyncCommitOn(o) && len(cm.muts) <= cfg.AsyncCommitKeysLimit &&
		keySize <= cfg.AsyncCommitTotalKeySizeLimit
	if cm.c.onePCOn(o) {
		one, err := cm.fitsOneRequest(ctx)
		if err != nil {
			return err
		}
		cm.p.onePC = one
	}
	if !cm.p.async && !cm.p.onePC {
		return nil
	}
	if o.causal && o.waitUntilTSO == 0 {
		// Causal consistency: no fresh timestamp (SB-8); decorate's floor of start /
		// for-update ts + 1 applies.
		cm.p.minCommitTS = 0
	} else {
		ts, err := cm.commitTimestamp(ctx, 0)
		if err != nil {
			return err
		}
		cm.p.minCommitTS = ts + 1
	}
	age := time.Since(cm.tx.begun) + cfg.AsyncCommitSafeWindow
	cm.p.maxCommitTS = cm.startTS + uint64(age.Milliseconds())<<18
	if cm.p.forUpdateTS > 0 && cm.p.async {
		// A pessimistic async-commit lock must not expire before max commit ts could
		// be reached (tidb#33641).
		cm.ttl = max(cm.ttl, uint64(kv.TSDiff(cm.startTS, cm.p.maxCommitTS).Milliseconds())+1)
	}
	return nil
}

// fitsOneRequest reports whether every mutation goes to one region in one batch.
func (cm *committer) fitsOneRequest(ctx context.Context) (bool, error) {
	parts := batchBySize(cm.muts, cm.c.cfg.CommitBatchSize, func(m mutation) int { return len(m.key) + len(m.value) })
	if len(parts) != 1 {
		return false, nil
	}
	loc, err := cm.c.cl.Cache().Locate(ctx, cm.muts[0].key)
	if err != nil {
		return false, fmt.Errorf("txn: commit: %w", err)
	}
	return loc.Contains(cm.muts[len(cm.muts)-1].key), nil
}

// prewriteRoute is the Sender options of prewrite: with async commit or 1PC a prewrite
// that may have reached TiKV is never resent blindly (TXN-34).
func (cm *committer) prewriteRoute() *region.Options {
	r := cm.route(0)
	r.NoResend = cm.p.async || cm.p.onePC
	return r
}

// decorate adds the protocol fields to a prewrite request of batch.
func (cm *committer) decorate(req *kvrpcpb.PrewriteRequest, batch []mutation, hasPrimary bool) {
	p := &cm.p
	req.MinCommitTs = max(cm.startTS+1, p.forUpdateTS+1, p.minCommitTS)
	level := cm.tx.opts.proto.assertion
	if level != AssertionOff {
		req.AssertionLevel = level.pb()
		for i, m := range batch {
			req.Mutations[i].Assertion = assertionOf(m.flags)
		}
	}
	if p.forUpdateTS > 0 {
		req.ForUpdateTs = p.forUpdateTS
		req.PessimisticActions = make([]kvrpcpb.PrewriteRequest_PessimisticAction, len(batch))
		for i, m := range batch {
			switch {
			case m.flags.Has(memdb.FlagKeyLocked):
				req.PessimisticActions[i] = kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK
				if ts, ok := cm.tx.pess.constraints[string(m.key)]; ok {
					// Locked in an aggressive stage: TiKV checks the lock's for-update ts.
					req.ForUpdateTsConstraints = append(req.ForUpdateTsConstraints,
						&kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{Index: uint32(i), ExpectedForUpdateTs: ts})
				}
			case m.flags.Has(memdb.FlagPresumeKNE):
				// An Insert of a key the transaction did not lock: its uniqueness is checked
				// now, against the start ts like an optimistic write (TiDB's lazy
				// uniqueness check, TXN-25).
				req.PessimisticActions[i] = kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK
			default:
				req.PessimisticActions[i] = kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
			}
		}
	}
	if p.onePC {
		req.TryOnePc = true
		req.MaxCommitTs = p.maxCommitTS
		return
	}
	if p.async {
		req.UseAsyncCommit = true
		req.MaxCommitTs = p.maxCommitTS
		if hasPrimary {
			cd := cm.c.cl.Codec()
			for _, m := range cm.muts {
				if m.committed() && !bytes.Equal(m.key, cm.primary) {
					req.Secondaries = append(req.Secondaries, cd.EncodeKey(m.key))
				}
			}
		}
	}
}

// notePrewrite records what a successful prewrite response says about the protocol.
func (cm *committer) notePrewrite(resp *kvrpcpb.PrewriteResponse) {
	p := &cm.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.onePC:
		p.onePCTS = resp.GetOnePcCommitTs() // 0: TiKV wrote ordinary locks (SB-8)
	case p.async:
		if resp.GetMinCommitTs() == 0 {
			p.fellBack = true
		}
		p.floor = max(p.floor, resp.GetMinCommitTs())
	}
}

// prewriteAll runs prewrite with the chosen protocol. A 1PC attempt is one request to
// the region found by fitsOneRequest; if the region moved meanwhile (TiKV answered with a
// region error, so nothing was written) the commit goes on with the other protocols.
func (cm *committer) prewriteAll(ctx context.Context) error {
	if err := cm.prewriteProtocol(ctx); err != nil {
		return err
	}
	return cm.deferredAssertion()
}

func (cm *committer) prewriteProtocol(ctx context.Context) error {
	if !cm.p.onePC {
		return cm.prewrite(ctx)
	}
	bo := cm.c.newBackoffer(backoff.Weighted(backoff.BudgetPrewrite))
	loc, err := cm.c.cl.Cache().Locate(ctx, cm.muts[0].key)
	if err != nil {
		return fmt.Errorf("txn: prewrite: %w", err)
	}
	if loc.Contains(cm.muts[len(cm.muts)-1].key) {
		err = cm.prewriteBatch(ctx, bo, loc, cm.muts, uint64(len(cm.muts)), false)
		if err == nil || !isResplit(err) {
			if err != nil {
				err = fmt.Errorf("txn: prewrite: %w", err)
			}
			return err
		}
		cm.p.onePC = false
		return cm.prewriteBatches(ctx, true)
	}
	cm.p.onePC = false
	return cm.prewrite(ctx)
}

// finishEarly ends a commit that needs no commit of the primary: 1PC committed
// everything, and a successful async commit is committed once prewritten; its commit
// RPCs run in the background (owned by the Client). It reports whether it did.
func (cm *committer) finishEarly() bool {
	p := &cm.p
	if p.onePCTS > 0 {
		cm.commitTS = p.onePCTS
		return true
	}
	if p.onePC {
		// TiKV declined 1PC and wrote ordinary locks: finish with 2PC, async off (SB-8).
		p.onePC, p.async = false, false
		return false
	}
	if !p.async || p.fellBack || p.floor == 0 {
		return false
	}
	cm.commitTS = p.floor
	bg := &committer{tx: cm.tx, c: cm.c, muts: cm.muts, primary: cm.primary, startTS: cm.startTS,
		commitTS: cm.commitTS}
	if !cm.tx.goBackground(true, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, backoff.BudgetCommitSecondary)
		defer cancel()
		bg.commitSecondaries(ctx, nil)
	}) {
		// The client is closing: commit here; the transaction is committed either way.
		ctx, cancel := context.WithTimeout(context.Background(), cm.c.cfg.CleanupTimeout)
		defer cancel()
		bg.commitSecondaries(ctx, nil)
	}
	return true
}

// isResplit reports a region error after which the keys must be located again (the
// request was not applied).
func isResplit(err error) bool {
	var re *region.Error
	return errors.As(err, &re) && re.Resplit
}
