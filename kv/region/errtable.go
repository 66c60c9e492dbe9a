package region

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

// ErrInvalidMaxTSUpdate: TiKV refused a request whose timestamp would push its max_ts
// too far (a timestamp far in the future). Not retryable.
var ErrInvalidMaxTSUpdate = errors.New("region: invalid max_ts update")

// Error is a region error the Sender did not (or could no longer) handle by retrying
// within the region: the caller decides. When Resplit is true the region moved (split,
// merge, leader or store change, no usable replica): locate the keys again and retry; the
// helpers Send and RunBatches do this. Err is the sentinel for errors.Is:
// kv.ErrRegionUnavailable when Resplit, otherwise the final condition
// (kv.ErrRaftEntryTooLarge, kv.ErrRegionFlashback, kv.ErrUndetermined,
// ErrInvalidMaxTSUpdate). Cause, when set, is the error that made the region unusable.
type Error struct {
	Kind     string // region error kind, such as "EpochNotMatch", or "NoReplica"
	RegionID uint64
	Message  string // TiKV's message, if any
	Resplit  bool
	// CacheUpdated: the cache already holds the new layout (EpochNotMatch with the
	// current regions), so the retry needs no backoff (SB-1, BO-22).
	CacheUpdated bool
	Err          error
	Cause        error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("region %d: %s", e.RegionID, e.Kind)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	msg += ": " + e.Err.Error()
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// action is what the Sender does after a region error.
type action uint8

const (
	actRetry  action = iota + 1 // send again inside the Sender (same or other replica)
	actReturn                   // hand back to the caller to locate again (Resplit)
	actFail                     // a final error
)

func (a action) String() string {
	return [...]string{"", "retry", "return", "fail"}[a]
}

// decision is the effect of one region error.
type decision struct {
	invalidate   Reason        // ReasonNone keeps the cached region
	backoff      *backoff.Kind // nil: no sleep
	action       action
	cacheUpdated bool
}

// errorRule is one row of the region-error table (inventory §1.D, checked in order).
// Static rows give the decision in fields; rows whose effect depends on the answer or
// on the replica selector have a decide function.
type errorRule struct {
	kind   string
	match  func(*errorpb.Error) bool
	static decision
	err    error // sentinel of actFail rows
	decide func(s *Sender, a *attempt, e *errorpb.Error) (decision, error)
}

func msgHas(sub string) func(*errorpb.Error) bool {
	return func(e *errorpb.Error) bool { return strings.Contains(e.GetMessage(), sub) }
}

func retryWith(k *backoff.Kind) decision { return decision{backoff: k, action: actRetry} }

// errorTable is the region-error dispatch table. Order matters: the first matching row
// wins, as in TiKV's client.
var errorTable = []errorRule{
	{kind: "UndeterminedResult", match: func(e *errorpb.Error) bool { return e.UndeterminedResult != nil },
		static: decision{action: actFail}, err: kv.ErrUndetermined},
	{kind: "NotLeader", match: func(e *errorpb.Error) bool { return e.NotLeader != nil }, decide: decideNotLeader},
	{kind: "DiskFull", match: func(e *errorpb.Error) bool { return e.DiskFull != nil }, static: retryWith(backoff.DiskFull)},
	{kind: "RecoveryInProgress", match: func(e *errorpb.Error) bool { return e.RecoveryInProgress != nil },
		static: decision{invalidate: ReasonOther, backoff: backoff.RegionRecoveryInProgress, action: actReturn}},
	{kind: "IsWitness", match: func(e *errorpb.Error) bool { return e.IsWitness != nil },
		static: decision{invalidate: ReasonOther, backoff: backoff.IsWitness, action: actReturn}},
	{kind: "FlashbackInProgress", match: func(e *errorpb.Error) bool { return e.FlashbackInProgress != nil },
		decide: decideFlashback, err: kv.ErrRegionFlashback},
	{kind: "FlashbackNotPrepared", match: func(e *errorpb.Error) bool { return e.FlashbackNotPrepared != nil },
		static: decision{action: actFail}, err: kv.ErrRegionFlashback},
	{kind: "RegionNotFound", match: func(e *errorpb.Error) bool { return e.RegionNotFound != nil }, decide: decideRegionNotFound},
	{kind: "KeyNotInRegion", match: func(e *errorpb.Error) bool { return e.KeyNotInRegion != nil },
		static: decision{invalidate: ReasonOther, action: actReturn}},
	{kind: "EpochNotMatch", match: func(e *errorpb.Error) bool { return e.EpochNotMatch != nil }, decide: decideEpochNotMatch},
	{kind: "BucketVersionNotMatch", match: func(e *errorpb.Error) bool { return e.BucketVersionNotMatch != nil }, decide: decideBuckets},
	{kind: "ServerIsBusy", match: func(e *errorpb.Error) bool { return e.ServerIsBusy != nil }, decide: decideServerBusy},
	{kind: "StaleCommand", match: func(e *errorpb.Error) bool { return e.StaleCommand != nil }, static: decision{action: actRetry}},
	{kind: "StoreNotMatch", match: func(e *errorpb.Error) bool { return e.StoreNotMatch != nil }, decide: decideStoreNotMatch},
	{kind: "RaftEntryTooLarge", match: func(e *errorpb.Error) bool { return e.RaftEntryTooLarge != nil },
		static: decision{action: actFail}, err: kv.ErrRaftEntryTooLarge},
	{kind: "MaxTimestampNotSynced", match: func(e *errorpb.Error) bool { return e.MaxTimestampNotSynced != nil },
		static: retryWith(backoff.MaxTSNotSynced)},
	{kind: "RegionNotInitialized", match: func(e *errorpb.Error) bool { return e.RegionNotInitialized != nil },
		static: retryWith(backoff.RegionNotInitialized)},
	{kind: "ReadIndexNotReady", match: func(e *errorpb.Error) bool { return e.ReadIndexNotReady != nil },
		static: retryWith(backoff.RegionScheduling)},
	{kind: "ProposalInMergingMode", match: func(e *errorpb.Error) bool { return e.ProposalInMergingMode != nil },
		static: retryWith(backoff.RegionScheduling)},
	{kind: "DataIsNotReady", match: func(e *errorpb.Error) bool { return e.DataIsNotReady != nil }, decide: decideDataNotReady},
	{kind: "DeadlineExceeded", match: msgHas("Deadline is exceeded"), decide: decideOtherReplica},
	{kind: "MismatchPeerId", match: func(e *errorpb.Error) bool { return e.MismatchPeerId != nil },
		static: decision{invalidate: ReasonOther, action: actReturn}},
	{kind: "InvalidMaxTSUpdate", match: msgHas("invalid max_ts update"), static: decision{action: actFail}, err: ErrInvalidMaxTSUpdate},
	{kind: "Unknown", match: func(*errorpb.Error) bool { return true }, decide: decideOtherReplica},
}

// classify returns the table row for e.
func classify(e *errorpb.Error) *errorRule {
	for i := range errorTable {
		if errorTable[i].match(e) {
			return &errorTable[i]
		}
	}
	return &errorTable[len(errorTable)-1]
}

// decideNotLeader: a usable leader hint switches the leader and retries it at once with a
// leader read; a hint to a replica this request cannot use retries the others at once;
// no hint (an election) backs off RegionScheduling and tries the other voters; a hint
// naming a store the cached region does not have means the cache is stale: return
// (SB-17, RS-1).
func decideNotLeader(s *Sender, a *attempt, e *errorpb.Error) (decision, error) {
	hint := e.NotLeader.GetLeader().GetStoreId()
	if a.sel.onNotLeader(hint) {
		s.cache.UpdateLeader(a.ctx, a.region.VerID(), hint)
		return decision{action: actRetry}, nil
	}
	if hint != 0 && a.region.peerIndexByStore(hint) < 0 {
		return decision{invalidate: ReasonOther, action: actReturn}, nil
	}
	if hint != 0 {
		return decision{action: actRetry}, nil // the new leader is out for this request: try the others
	}
	return retryWith(backoff.RegionScheduling), nil
}

// decideFlashback: a replica read is retried as a leader read; otherwise it fails.
func decideFlashback(_ *Sender, a *attempt, _ *errorpb.Error) (decision, error) {
	if a.target.replicaRead || a.target.staleRead {
		a.sel.forceLeader = true
		return decision{action: actRetry}, nil
	}
	return decision{action: actFail}, nil
}

// decideRegionNotFound: if the leader has not been asked, drop the cached region but ask
// the leader once on this request; otherwise return (SB-17).
func decideRegionNotFound(_ *Sender, a *attempt, _ *errorpb.Error) (decision, error) {
	if a.target.r != a.sel.leaderReplica() && !a.sel.forceLeader {
		a.sel.forceLeader = true
		return decision{invalidate: ReasonRegionNotFound, action: actRetry}, nil
	}
	return decision{invalidate: ReasonRegionNotFound, action: actReturn}, nil
}

// decideEpochNotMatch updates the cache from the error (SB-2).
func decideEpochNotMatch(s *Sender, a *attempt, e *errorpb.Error) (decision, error) {
	cur := e.EpochNotMatch.GetCurrentRegions()
	behind, err := s.cache.onEpochNotMatch(a.ctx, a.region, a.target.r.store.id, cur)
	if err != nil {
		return decision{}, err
	}
	if behind {
		return retryWith(backoff.RegionMiss), nil
	}
	return decision{action: actReturn, cacheUpdated: len(cur) > 0}, nil
}

// decideBuckets installs the newer buckets from the error and returns: the caller
// re-splits by the new buckets without sleeping (RC-7).
func decideBuckets(s *Sender, a *attempt, e *errorpb.Error) (decision, error) {
	b := e.BucketVersionNotMatch
	s.cache.updateBuckets(a.region, b.GetVersion(), b.GetKeys())
	return decision{action: actReturn, cacheUpdated: true}, nil
}

// decideServerBusy records the store's load and leaves a pending backoff on the replica:
// the next attempt goes to another replica at once when one is available, and sleeps
// only when it comes back to a busy one (RS-9, RC-12).
func decideServerBusy(s *Sender, a *attempt, e *errorpb.Error) (decision, error) {
	wait := time.Duration(e.ServerIsBusy.GetEstimatedWaitMs()) * time.Millisecond
	st := a.target.r.store
	if wait > 0 {
		s.cache.stores.setEstimatedWait(st, wait)
	} else {
		st.slow.markSlow(s.cache.cfg.Now())
	}
	a.sel.onServerBusy(wait)
	return decision{action: actRetry}, nil
}

// decideStoreNotMatch: the address now serves another store; re-resolve it, drop the
// region and the connections (SB-1).
func decideStoreNotMatch(s *Sender, a *attempt, _ *errorpb.Error) (decision, error) {
	a.target.r.store.needCheck.Store(true)
	if c, ok := s.t.(AddrCloser); ok {
		c.CloseAddr(a.targetAddr())
	}
	return decision{invalidate: ReasonStoreNotFound, action: actReturn}, nil
}

// decideDataNotReady: the replica's safe ts is behind the stale read; retry without
// backoff, on the leader next (RS-7).
func decideDataNotReady(_ *Sender, a *attempt, _ *errorpb.Error) (decision, error) {
	a.target.r.dataNotReady = true
	return decision{action: actRetry}, nil
}

// decideOtherReplica: do not come back to this replica; try the next one.
func decideOtherReplica(_ *Sender, a *attempt, _ *errorpb.Error) (decision, error) {
	a.target.r.failed = true
	return decision{action: actRetry}, nil
}

// onRegionError applies the table row for e. It returns nil to retry, or the error to
// return.
func (s *Sender) onRegionError(a *attempt, e *errorpb.Error) error {
	if isDeadlineRegionError(e) && a.onReadTimeout(nil, true) {
		return nil // TiKV gave up at the read timeout: the next replica, at once
	}
	row := classify(e)
	d := row.static
	if row.decide != nil {
		var err error
		if d, err = row.decide(s, a, e); err != nil {
			return err
		}
	}
	cause := &Error{Kind: row.kind, RegionID: a.region.meta.GetId(), Message: e.GetMessage(), Err: kv.ErrRegionUnavailable}
	if d.invalidate != ReasonNone {
		s.cache.Invalidate(a.ctx, a.region.VerID(), d.invalidate)
	}
	if d.backoff != nil {
		if err := a.bo.Backoff(a.ctx, d.backoff, cause); err != nil {
			return err
		}
	}
	switch d.action {
	case actRetry:
		a.lastErr = cause
		return nil
	case actReturn:
		cause.Resplit, cause.CacheUpdated = true, d.cacheUpdated
		return cause
	}
	cause.Err = row.err
	return cause
}

// ctxErr wraps ctx's error so that errors.Is(err, context.DeadlineExceeded) holds.
func ctxErr(ctx context.Context, what string) error {
	return fmt.Errorf("region: %s: %w", what, ctx.Err())
}
