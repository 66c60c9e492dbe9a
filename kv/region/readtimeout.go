package region

import (
	"errors"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
)

// Read timeouts (RPC-6, TXN-19).
//
// A read may ask for a short first round (Options.ReadTimeout, client-go's
// SetKVReadTimeout): while the round lasts every attempt is bounded by ReadTimeout and
// tells TiKV the same bound (Context.MaxExecutionDurationMs). A replica that does not
// answer in time, or answers that the deadline was exceeded, is left for the rest of the
// round and the read moves to the next replica at once: no backoff, no health probe, no
// unreachable mark, because a slow answer is not a dead store. A leader read whose
// leader timed out continues on the followers as replica reads (TiKV's read index keeps
// them consistent). When every replica has been tried the round ends, the marks are
// dropped and the read goes on as usual with its normal attempt bound, starting again
// from the leader. client-go does the same over two SendReqCtx calls
// (region_request.go onSendFail and onRegionError, replica_selector.go
// onReadReqConfigurableTimeout; tested by TestSendReqFirstTimeout and
// TestTiKVClientReadTimeout).

// isDeadlineRegionError reports whether TiKV refused an attempt because its
// MaxExecutionDurationMs passed: the "Deadline is exceeded" message TiKV sets on the
// region error, or ServerIsBusy with a "deadline is exceeded" reason.
func isDeadlineRegionError(e *errorpb.Error) bool {
	if strings.Contains(e.GetMessage(), "Deadline is exceeded") {
		return true
	}
	return strings.Contains(strings.ToLower(e.GetServerIsBusy().GetReason()), "deadline is exceeded")
}

// readRound reports whether the attempt is in its short first round.
func (a *attempt) readRound() bool { return a.opts.ReadTimeout > 0 && !a.roundDone }

// onReadTimeout handles an attempt of the first round that timed out (sendErr wraps
// ErrAttemptTimeout) or that TiKV refused for its deadline (deadline): the replica is
// left for the round and the read retries at once. It reports whether it handled the
// attempt.
func (a *attempt) onReadTimeout(sendErr error, deadline bool) bool {
	if !a.readRound() || a.opts.NoResend || a.target == nil {
		return false
	}
	if !deadline && !errors.Is(sendErr, ErrAttemptTimeout) {
		return false
	}
	a.target.r.timedOut = true
	cause := sendErr
	if cause == nil {
		cause = ErrAttemptTimeout
	}
	a.lastErr = &Error{Kind: "ReadTimeout", RegionID: a.region.meta.GetId(), Err: kv.ErrRegionUnavailable, Cause: cause}
	return true
}

// endReadRound ends the first round once no replica is left in it: the timeout marks
// are dropped so that every replica is a candidate again. It reports whether there was
// a round to end.
func (a *attempt) endReadRound() bool {
	if !a.readRound() {
		return false
	}
	a.roundDone = true
	for _, r := range a.sel.replicas {
		r.timedOut = false
	}
	a.sel.triedUnreach = false
	return true
}

// attemptTimeout returns the bound of the next attempt of req: the read timeout during
// the first round; otherwise Options.AttemptTimeout, else the Sender's default for the
// request's kind (transactional reads), else SenderConfig.AttemptTimeout. Zero or
// negative means none.
func (s *Sender) attemptTimeout(a *attempt, req Request) time.Duration {
	if a.readRound() {
		return a.opts.ReadTimeout
	}
	if a.opts.AttemptTimeout != 0 {
		return a.opts.AttemptTimeout
	}
	if d := s.readDefault(req); d != 0 {
		return d
	}
	return s.cfg.AttemptTimeout
}

// readDefault is the Sender's default bound for transactional reads, which never wait
// on the server: ReadAttemptTimeout for KvGet, BatchReadAttemptTimeout for KvBatchGet
// and KvScan (client-go's ReadTimeoutShort and ReadTimeoutMedium).
func (s *Sender) readDefault(req Request) time.Duration {
	switch req.(type) {
	case *kvrpcpb.GetRequest:
		return s.cfg.ReadAttemptTimeout
	case *kvrpcpb.BatchGetRequest, *kvrpcpb.ScanRequest:
		return s.cfg.BatchReadAttemptTimeout
	}
	return 0
}

// stampDeadline tells TiKV the first round's bound (Context.MaxExecutionDurationMs), so
// that it gives up on the read too. With a ReadTimeout the Sender owns the field: the
// round's bound during the round, none after it (also when the same request is sent
// again after a Resplit). Requests without a ReadTimeout keep the caller's value.
func (a *attempt) stampDeadline(c *kvrpcpb.Context) {
	switch {
	case a.opts.ReadTimeout <= 0:
	case a.readRound():
		c.MaxExecutionDurationMs = uint64(max(a.opts.ReadTimeout.Milliseconds(), 1))
	default:
		c.MaxExecutionDurationMs = 0
	}
}
