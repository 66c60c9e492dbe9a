package txn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/region"
)

// Limits of async commit (client-go's defaults): the primary lock lists every secondary,
// so transactions with many or large keys use 2PC.
const (
	asyncCommitMaxKeys    = 256
	asyncCommitMaxKeySize = 4 << 10
	// asyncCommitSafeWindow bounds how far the commit ts of an async-commit or 1PC
	// transaction may lie beyond its start plus elapsed time (SB-8).
	asyncCommitSafeWindow = 2 * time.Second
)

// errOnePCSplit: the single batch of a 1PC transaction was regrouped after a region
// change; 1PC of one part would commit it without the others, so the transaction
// prewrites again with 2PC. Nothing was written: the batch's request got a region error.
var errOnePCSplit = errors.New("txn: 1PC batch split by a region change")

// chooseProtocol decides between 1PC, async commit and 2PC (TXN-10, TXN-11). 1PC needs
// every mutation in one prewrite batch; async commit at most 256 keys of at most 4 KiB
// in total. Both take their min commit ts from a fresh timestamp (so that the commit ts
// is above every read that finished before the commit began) and bound the commit ts by
// start ts + elapsed + 2 s.
func (cm *committer) chooseProtocol(ctx context.Context) error {
	cfg, o := cm.c.cfg, cm.tx.opts
	if !cm.hasLocks {
		return nil
	}
	if cfg.Enable1PC || o.onePC {
		fits, err := cm.fitsOneBatch(ctx)
		if err != nil {
			return fmt.Errorf("txn: commit: %w", err)
		}
		cm.onePC = fits
	}
	if !cm.onePC && (cfg.EnableAsyncCommit || o.asyncCommit) && len(cm.muts) <= asyncCommitMaxKeys {
		size := 0
		for _, m := range cm.muts {
			size += len(m.key)
		}
		cm.async = size <= asyncCommitMaxKeySize
	}
	if !cm.onePC && !cm.async {
		return nil
	}
	ts, err := cm.c.cl.PD().Timestamp(ctx)
	if err != nil {
		return fmt.Errorf("txn: commit: %w", err)
	}
	cm.minCommitTS = max(ts, cm.startTS) + 1
	elapsed := time.Since(cm.tx.begun) + asyncCommitSafeWindow
	cm.maxCommitTS = kv.ComposeTS(kv.PhysicalMs(cm.startTS)+elapsed.Milliseconds(), 0)
	return nil
}

// fitsOneBatch reports whether every mutation lives in one region and one batch.
func (cm *committer) fitsOneBatch(ctx context.Context) (bool, error) {
	loc, err := cm.c.cl.Cache().Locate(ctx, cm.muts[0].key)
	if err != nil {
		return false, err
	}
	size := 0
	for _, m := range cm.muts {
		if !loc.Contains(m.key) {
			return false, nil
		}
		size += len(m.key) + len(m.value)
	}
	return size < cm.c.cfg.CommitBatchSize, nil
}

// protocolFields sets the async-commit / 1PC fields of a prewrite. Such a prewrite may
// itself commit the transaction, so it is never resent once it may have reached TiKV: a
// lost answer is kv.ErrUndetermined (TXN-34).
func (cm *committer) protocolFields(req *kvrpcpb.PrewriteRequest, hasPrimary bool, route *region.Options) {
	if !cm.async && !cm.onePC {
		return
	}
	route.NoResend = true
	req.MinCommitTs, req.MaxCommitTs = cm.minCommitTS, cm.maxCommitTS
	req.TryOnePc = cm.onePC
	req.UseAsyncCommit = cm.async
	if cm.async && hasPrimary {
		cd := cm.c.cl.Codec()
		for _, m := range cm.muts {
			if m.committed() && string(m.key) != string(cm.primary) {
				req.Secondaries = append(req.Secondaries, cd.EncodeKey(m.key))
			}
		}
	}
}

// prewritten records what a successful prewrite says about the commit: the async
// commit ts candidate, the 1PC commit ts, or that TiKV fell back to ordinary locks
// (MinCommitTs or OnePcCommitTs 0), in which case the transaction commits with 2PC.
func (cm *committer) prewritten(resp *kvrpcpb.PrewriteResponse) {
	if !cm.async && !cm.onePC {
		return
	}
	cm.protoMu.Lock()
	defer cm.protoMu.Unlock()
	switch {
	case cm.onePC && resp.GetOnePcCommitTs() > 0:
		cm.onePCCommitTS = resp.GetOnePcCommitTs()
	case cm.async && resp.GetMinCommitTs() > 0:
		cm.asyncCommitTS = max(cm.asyncCommitTS, resp.GetMinCommitTs())
	default:
		cm.fallback = true
	}
}

// finishFastPath ends a 1PC or async-commit transaction after its prewrite and reports
// whether it did. A 1PC transaction is committed by its prewrite. An async-commit
// transaction is committed once every prewrite succeeded, at the largest MinCommitTs;
// its locks are then committed (primary included) as secondaries are in 2PC: failures
// are left to lock resolution. After a fallback the caller runs 2PC.
func (cm *committer) finishFastPath(ctx context.Context) bool {
	cm.protoMu.Lock()
	fallback := cm.fallback
	cm.protoMu.Unlock()
	switch {
	case fallback:
		return false
	case cm.onePC:
		cm.commitTS = cm.onePCCommitTS
		return true
	case cm.async:
		cm.commitTS = cm.asyncCommitTS
		cm.commitSecondaries(ctx, nil)
		return true
	}
	return false
}

// protocol names the commit protocol used, for tracing.
func (cm *committer) protocol() string {
	switch {
	case cm.fallback || (!cm.async && !cm.onePC):
		return "2pc"
	case cm.onePC:
		return "1pc"
	}
	return "async-commit"
}
