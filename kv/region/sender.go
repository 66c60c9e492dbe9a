package region

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

// Options are the per-request routing choices. The zero value (or nil) is a leader read
// (or a write) with the Sender's default budget. The Sender only reads it, so one Options
// value may serve concurrent calls.
type Options struct {
	ReplicaRead ReplicaRead
	// StaleRead sends the first attempt as a stale read to the best replica (RS-7); the
	// request's timestamp must be a stale-read timestamp.
	StaleRead bool
	// MatchLabels and MatchStores prefer replicas on stores with all these labels or with
	// these IDs (RS-6).
	MatchLabels []*metapb.StoreLabel
	MatchStores []uint64
	// BusyThreshold enables load-based replica read for leader reads (RS-8): when the
	// leader's estimated wait exceeds it, an idle follower serves the read, and TiKV is
	// asked to refuse the read at once when it would queue longer.
	BusyThreshold time.Duration
	// RequestSource is the caller's request source label; the Sender prefixes it with
	// the replica kind of each attempt (RS-10).
	RequestSource string
	// Budget is the retry budget of Send and RunBatches (default SenderConfig.Budget).
	Budget time.Duration
	// NoResend marks a request that must not be sent twice once it may have reached
	// TiKV: after a transport error, or when ctx ends while it is in flight, the Sender
	// returns an error wrapping kv.ErrUndetermined (and the transport or ctx error)
	// instead of resending. Region errors are still retried: TiKV did not apply a request
	// it answered with one.
	NoResend bool
	// Retry marks every attempt as a retry (Context.IsRetryRequest): the caller sent the
	// same request before, for example to a region that has split since (Batch.Retry), so
	// TiKV may have applied part of it already. The Sender marks its own resends anyway.
	Retry bool
	// AttemptTimeout bounds one attempt (RPC-6): an attempt that gets no answer in time
	// counts as a send failure, so the request goes to another replica (or, with
	// NoResend, fails with kv.ErrUndetermined) instead of waiting for a store that
	// accepted the connection but stopped answering. Zero means SenderConfig's; negative
	// means none. Requests that wait on the server by design (pessimistic lock waits)
	// need a bound above their wait, or none.
	AttemptTimeout time.Duration
	// ReadTimeout, when positive, bounds every attempt of a short first round over the
	// replicas (client-go's KV read timeout, see readtimeout.go): a replica that does not
	// answer in time is left and the read moves to the next one at once, without
	// backoff; a leader read continues on followers as replica reads. After the round
	// the read goes on with AttemptTimeout. For reads only.
	ReadTimeout time.Duration
}

// ErrAttemptTimeout is the cause recorded when an attempt outlived its AttemptTimeout.
var ErrAttemptTimeout = errors.New("region: attempt timed out")

// SenderConfig tunes a Sender. The zero value gives the defaults.
type SenderConfig struct {
	// Budget is the default retry budget (sleep time, excluding ServerIsBusy waits) of one
	// Send or RunBatches call: backoff.Weighted(backoff.BudgetRaw), 40 s. The caller's ctx
	// deadline bounds it too.
	Budget time.Duration
	// Clock replaces the backoff clock in tests.
	Clock backoff.Clock
	// Tracer receives RPC and backoff events when it implements kv.RPCTracer or
	// kv.BackoffTracer.
	Tracer kv.Tracer
	// AttemptTimeout is the default Options.AttemptTimeout. Zero means none: only the
	// caller's ctx bounds an attempt.
	AttemptTimeout time.Duration
	// StoreLimit caps the requests in flight to one store (client-go's StoreLimit,
	// RC-13); a request beyond it fails at once with an error wrapping
	// ErrStoreTokenLimit instead of being sent. Zero (the default) means no limit.
	StoreLimit int
	// ReadAttemptTimeout and BatchReadAttemptTimeout are the default Options.AttemptTimeout
	// of transactional reads: KvGet, and KvBatchGet and KvScan (they take precedence
	// over AttemptTimeout for those requests). Zero means none.
	ReadAttemptTimeout      time.Duration
	BatchReadAttemptTimeout time.Duration
	// EnableForwarding sends leader requests whose leader store is unreachable through
	// a follower's store, which relays them (RPC-7, see proxy.go and the package doc).
	// The Transport must then honour ForwardedHost. Off by default, as in client-go.
	EnableForwarding bool
}

// Sender routes typed requests to region replicas through a Transport, classifies every
// region error by table, backs off and retries (see the package doc for who retries
// what). Safe for concurrent use; it owns no goroutines.
type Sender struct {
	cache  *Cache
	t      Transport
	cfg    SenderConfig
	rpc    kv.RPCTracer
	boOpts []backoff.Option
}

// NewSender returns a Sender over cache and t.
func NewSender(cache *Cache, t Transport, cfg SenderConfig) *Sender {
	if cfg.Budget <= 0 {
		cfg.Budget = backoff.Weighted(backoff.BudgetRaw)
	}
	s := &Sender{cache: cache, t: t, cfg: cfg}
	if cfg.Clock != nil {
		s.boOpts = append(s.boOpts, backoff.WithClock(cfg.Clock))
	}
	if bt, ok := cfg.Tracer.(kv.BackoffTracer); ok {
		s.boOpts = append(s.boOpts, backoff.WithTracer(bt))
	}
	if rt, ok := cfg.Tracer.(kv.RPCTracer); ok {
		s.rpc = rt
	}
	return s
}

// Cache returns the Sender's region cache.
func (s *Sender) Cache() *Cache { return s.cache }

// NewBackoffer returns a backoffer with the budget of opts (or the Sender's default).
func (s *Sender) NewBackoffer(opts *Options) *backoff.Backoffer {
	budget := s.cfg.Budget
	if opts != nil && opts.Budget > 0 {
		budget = opts.Budget
	}
	return backoff.New(budget, s.boOpts...)
}

// attempt is the state of one SendToRegion call.
type attempt struct {
	ctx    context.Context
	bo     *backoff.Backoffer
	opts   *Options
	region *entry
	sel    *selector
	target *target
	addr   string // where the attempt is sent: the target's store, or the proxy's
	// forwardedHost is the target's address when the attempt goes through a proxy.
	forwardedHost string
	lastErr       error
	first         *target

	roundDone bool // the ReadTimeout round is over (readtimeout.go)
}

// SendToRegion sends req to the region at loc and returns its response, retrying inside
// the region as the region-error table says (other replica, new leader, busy stores,
// send failures) with bo's budget and within ctx. It never returns a response carrying a
// region error.
//
// Errors: a *Error with Resplit when the region moved or has no usable replica (locate
// again and retry, see RetryRegionError); a *Error with a final sentinel; a
// *kv.BackoffError when bo's budget ran out; an error wrapping ctx's error.
func SendToRegion[Req Request, Resp Response](ctx context.Context, s *Sender, bo *backoff.Backoffer, loc *Location, req Req, opts *Options) (Resp, error) {
	var zero Resp
	resp, err := s.send(ctx, bo, loc, req, opts)
	if err != nil {
		return zero, err
	}
	out, ok := resp.(Resp)
	if !ok {
		return zero, fmt.Errorf("region: transport returned %T for %T, want %T", resp, req, zero)
	}
	return out, nil
}

// Send sends req to the region holding key: it locates the region, sends, and locates
// again after a Resplit error (backing off as RetryRegionError says) until it succeeds,
// the budget of opts runs out or ctx ends. For single-key requests.
//
// Errors: as SendToRegion, except that Resplit errors are retried; Locate's errors.
func Send[Req Request, Resp Response](ctx context.Context, s *Sender, key []byte, req Req, opts *Options) (Resp, error) {
	var zero Resp
	bo := s.NewBackoffer(opts)
	for {
		loc, err := s.cache.Locate(ctx, key)
		if err == nil {
			var resp Resp
			if resp, err = SendToRegion[Req, Resp](ctx, s, bo, loc, req, opts); err == nil {
				return resp, nil
			}
		}
		if err := RetryRegionError(ctx, bo, err); err != nil {
			return zero, err
		}
	}
}

// RetryRegionError decides whether a caller should locate its keys again after err
// (client-go's MayBackoffForRegionError, SB-1, BO-22): it returns nil after backing off
// when err is a Resplit *Error (no sleep when the cache already holds the new layout,
// RegionMiss otherwise) or a region lookup that found nothing; otherwise it returns err
// (or the backoff's budget/ctx error).
func RetryRegionError(ctx context.Context, bo *backoff.Backoffer, err error) error {
	var re *Error
	switch {
	case errors.As(err, &re) && re.Resplit:
		if re.CacheUpdated {
			return ctx.Err()
		}
	case errors.As(err, &re), !errors.Is(err, kv.ErrRegionUnavailable):
		return err
	}
	return bo.Backoff(ctx, backoff.RegionMiss, err)
}

// send is the non-generic body of SendToRegion.
func (s *Sender) send(ctx context.Context, bo *backoff.Backoffer, loc *Location, req Request, opts *Options) (Response, error) {
	if opts == nil {
		opts = &Options{}
	}
	r := s.cache.region(loc.Region)
	if r == nil || r.reason() != ReasonNone {
		return nil, &Error{Kind: "StaleLocation", RegionID: loc.Region.ID, Resplit: true, Err: kv.ErrRegionUnavailable}
	}
	a := &attempt{ctx: ctx, bo: bo, region: r, opts: opts,
		sel: newSelector(r, opts, s.cache.cfg.Now, s.cache.cfg.Rand)}
	s.initForwarding(a.sel)
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			return nil, ctxErr(ctx, "send")
		}
		t := a.sel.next()
		if t == nil && a.endReadRound() {
			t = a.sel.next()
		}
		if t == nil {
			return nil, s.noReplica(a)
		}
		if a.first == nil {
			a.first = t
		}
		a.target = t
		if t.r.busyPending {
			t.r.busyPending = false
			if err := bo.Backoff(ctx, backoff.ServerBusy, a.lastErr); err != nil {
				return nil, err
			}
		}
		addr, err := s.resolveTarget(ctx, a, t)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctxErr(ctx, "resolve store")
			}
			a.lastErr = err
			continue
		}
		a.addr = addr
		s.stamp(req, a, n > 0, opts)
		release, err := storeToken(a.target.r.store, s.cfg.StoreLimit)
		if err != nil {
			return nil, err
		}
		resp, err := s.invoke(ctx, a, n+1, req)
		release()
		if err != nil {
			if err := s.onSendFail(a, err); err != nil {
				return nil, err
			}
			continue
		}
		a.sel.onRelayed()
		re := resp.GetRegionError()
		if re == nil {
			if id, ok := a.sel.onSuccess(); ok {
				s.cache.UpdateLeader(ctx, r.VerID(), id)
			}
			return resp, nil
		}
		if err := s.onRegionError(a, re); err != nil {
			return nil, err
		}
	}
}

// invoke sends one attempt, reporting it to the RPC tracer and the store's slow score.
func (s *Sender) invoke(ctx context.Context, a *attempt, n int, req Request) (Response, error) {
	start := time.Now()
	var ev kv.RPCStart
	if s.rpc != nil {
		ev = kv.RPCStart{Method: fmt.Sprintf("%T", req), RegionID: a.region.meta.GetId(),
			StoreID: a.target.r.store.id, Addr: a.addr, Attempt: n, Replicas: replicaNumber(a.region.meta)}
		if labels := a.opts.MatchLabels; len(labels) > 0 {
			ev.Access = kv.AccessCrossZone
			if a.target.r.store.matchLabels(labels) {
				ev.Access = kv.AccessLocalZone
			}
		}
		ctx = s.rpc.TraceRPCStart(ctx, ev)
	}
	ctx = WithForwardedHost(ctx, a.forwardedHost)
	timeout := s.attemptTimeout(a, req)
	var resp Response
	var err error
	if timeout > 0 {
		actx, cancel := context.WithTimeout(ctx, timeout)
		resp, err = s.t.Invoke(actx, a.addr, req)
		if err != nil && ctx.Err() == nil && actx.Err() != nil {
			// Our own bound, not the caller's: a send failure of this replica.
			err = fmt.Errorf("%w after %v: %w", ErrAttemptTimeout, timeout, err)
		}
		cancel()
	} else {
		resp, err = s.t.Invoke(ctx, a.addr, req)
	}
	d := time.Since(start)
	if err == nil {
		a.target.r.store.slow.observe(d)
	}
	if s.rpc != nil {
		end := kv.RPCEnd{RPCStart: ev, Duration: d, Err: err}
		if err == nil && resp.GetRegionError() != nil {
			end.RegionError = classify(resp.GetRegionError()).kind
		}
		s.rpc.TraceRPCEnd(ctx, end)
	}
	return resp, err
}

// noReplica ends a request whose replicas are all exhausted and the caller locates again.
// When some replicas are only busy, the pending ServerBusy backoff is slept once and the
// cached region kept; otherwise the region is invalidated (NoLeader when every voter
// refused leadership, so the reload starts at the next peer).
func (s *Sender) noReplica(a *attempt) error {
	if a.sel.anyBusy() {
		// Out of replicas because they are busy: the region is fine. Sleep the pending
		// ServerBusy backoff once and let the caller come back.
		if err := a.bo.Backoff(a.ctx, backoff.ServerBusy, a.lastErr); err != nil {
			return err
		}
	} else {
		reason := ReasonOther
		if a.sel.allRejectedLeadership() {
			reason = ReasonNoLeader
		}
		s.cache.Invalidate(a.ctx, a.region.VerID(), reason)
	}
	return &Error{Kind: "NoReplica", RegionID: a.region.meta.GetId(), Resplit: true,
		Err: kv.ErrRegionUnavailable, Cause: a.lastErr}
}

// onSendFail handles a transport error: ctx's end is returned; otherwise the store is
// checked (health probe), marked unreachable if it does not answer (which invalidates the
// regions cached on it), the replica is skipped, and the request backs off TiKVRPC and
// goes to the next replica (inventory §1.D send-error dispatch). With forwarding, a
// leader that was sent to directly stays the target and its regions stay cached: the
// next attempt goes through a proxy (proxy.go). A forwarded attempt's failure is the
// proxy's: the proxy is probed, marked and skipped.
func (s *Sender) onSendFail(a *attempt, sendErr error) error {
	ctx := a.ctx
	// ctxDone reports the end of ctx; a request that must not be resent may have been
	// applied, whatever happened after the send (the server may even have seen the
	// deadline before our own timer fired), so it is undetermined.
	ctxDone := func(what string) error {
		if a.opts.NoResend {
			return fmt.Errorf("region: %s: %w: %w (after: %w)", what, kv.ErrUndetermined, ctx.Err(), sendErr)
		}
		return ctxErr(ctx, what)
	}
	if ctx.Err() != nil {
		return ctxDone(fmt.Sprintf("send to store %d", a.target.r.store.id))
	}
	if a.onReadTimeout(sendErr, false) {
		return nil // a slow replica in the read-timeout round: the next one, at once
	}
	sent := a.contacted()
	st := sent.store
	sent.failed = true
	alive := false
	if p := s.cache.prober; p != nil {
		alive = s.cache.stores.probe(ctx, p, a.addr, s.cache.cfg.StoreLivenessTimeout) == nil
		if ctx.Err() != nil {
			return ctxDone(fmt.Sprintf("probe store %d", st.id))
		}
	}
	if alive {
		st.needCheck.Store(true) // alive but failing: maybe another store took the address
	} else if a.sel.keepLeaderForProxy(sent, a.forwardedHost != "") {
		// Forwarding: keep the leader's regions cached and reach it through a proxy.
		sent.failed = false
		s.cache.stores.markUnreachableKeepRegions(st, s.cache.cfg.UnreachableRetry)
	} else {
		s.cache.stores.markUnreachable(st, s.cache.cfg.UnreachableRetry)
		// The store may have moved: ask PD now, so that a new address is used (and the
		// unreachable mark of the old one dropped) by the next attempt (RC-8).
		if _, err := s.cache.stores.resolve(ctx, st); err != nil && ctx.Err() != nil {
			return ctxDone(fmt.Sprintf("resolve store %d", st.id))
		}
	}
	cause := fmt.Errorf("region: send to store %d at %s: %w: %w", st.id, a.addr, kv.ErrStoreUnavailable, sendErr)
	if a.opts.NoResend {
		return fmt.Errorf("region: request may have reached store %d: %w: %w", st.id, kv.ErrUndetermined, cause)
	}
	a.lastErr = cause
	return a.bo.Backoff(ctx, backoff.TiKVRPC, cause)
}

// stamp writes the routing fields of req's Context for the attempt (RPC-11, RS-10).
func (s *Sender) stamp(req Request, a *attempt, retry bool, opts *Options) {
	c := req.GetContext()
	if c == nil {
		c = &kvrpcpb.Context{}
		setContext(req, c)
	}
	t := a.target
	c.RegionId = a.region.meta.GetId()
	c.RegionEpoch = a.region.meta.GetRegionEpoch()
	c.Peer = t.r.peer
	c.ReplicaRead = t.replicaRead
	c.StaleRead = t.staleRead
	c.IsRetryRequest = retry || opts.Retry
	a.stampDeadline(c)
	c.BusyThresholdMs = 0
	if opts.BusyThreshold > 0 && t.leaderRead && !a.sel.loadBasedDone {
		c.BusyThresholdMs = uint32(opts.BusyThreshold.Milliseconds())
	}
	if opts.RequestSource != "" {
		c.RequestSource = requestSource(a.first, t, retry, opts.RequestSource)
	}
}

// requestSource builds <kind>_<input> for first attempts and
// retry_<first kind>_<kind>_<input> for retries (RS-10).
func requestSource(first, cur *target, retry bool, input string) string {
	if !retry {
		return cur.kind() + "_" + input
	}
	return "retry_" + first.kind() + "_" + cur.kind() + "_" + input
}

func (t *target) kind() string {
	switch {
	case t.staleRead:
		return "stale_read"
	case t.replicaRead:
		return "follower"
	}
	return "leader"
}

// setContext sets the Context field of a kvproto request that has none.
func setContext(req Request, c *kvrpcpb.Context) {
	v := reflect.ValueOf(req)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	f := v.Elem().FieldByName("Context")
	if f.IsValid() && f.CanSet() && f.Type() == reflect.TypeOf(c) {
		f.Set(reflect.ValueOf(c))
	}
}
