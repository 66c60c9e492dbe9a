package region

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/internal/backoff"
	"github.com/tikvsql/tikvsql/kv"
)

// errRow is one region-error kind: what TiKV answers once, and what must follow.
type errRow struct {
	kind        string // errorTable row that must match
	name        string // subtest name (defaults to kind)
	err         *errorpb.Error
	opts        *Options
	action      action
	backoff     *backoff.Kind // nil: no sleep at all
	invalidated bool
	sentinel    error // for actFail
	check       func(t *testing.T, e *env, loc *Location, err error)
}

func epochRegions(f *fakeCluster, delta int64) []*metapb.Region {
	r := cloneRegion(f.regions[1])
	r.RegionEpoch.Version = uint64(int64(r.RegionEpoch.Version) + delta)
	return []*metapb.Region{r}
}

// One row per region-error kind of inventory §1.D. client-go:
// internal/locate/region_request_test.go TestOnRegionError (StaleCommand retried),
// region_request3_test.go TestReplicaReadWithFlashbackInProgress (flashback rows).
func errRows(f *fakeCluster) []errRow {
	leader2 := &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: &metapb.Peer{Id: 102, StoreId: 2}}}
	return []errRow{
		{kind: "UndeterminedResult", err: &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, action: actFail, sentinel: kv.ErrUndetermined},
		{kind: "NotLeader", name: "NotLeader/hint", err: leader2, action: actRetry,
			check: func(t *testing.T, e *env, loc *Location, _ error) {
				if _, s := e.cache.region(loc.Region).leaderPeer(); s.id != 2 {
					t.Errorf("cached leader store %d, want 2", s.id)
				}
			}},
		{kind: "NotLeader", name: "NotLeader/no-hint", err: &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1}},
			action: actRetry, backoff: backoff.RegionScheduling},
		{kind: "DiskFull", err: &errorpb.Error{DiskFull: &errorpb.DiskFull{StoreId: []uint64{1}}}, action: actRetry, backoff: backoff.DiskFull},
		{kind: "RecoveryInProgress", err: &errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}},
			action: actReturn, backoff: backoff.RegionRecoveryInProgress, invalidated: true},
		{kind: "IsWitness", err: &errorpb.Error{IsWitness: &errorpb.IsWitness{}}, action: actReturn, backoff: backoff.IsWitness, invalidated: true},
		{kind: "FlashbackInProgress", name: "FlashbackInProgress/leader", err: &errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{}},
			action: actFail, sentinel: kv.ErrRegionFlashback},
		{kind: "FlashbackInProgress", name: "FlashbackInProgress/follower", err: &errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{}},
			opts: &Options{ReplicaRead: ReadFollower}, action: actRetry,
			check: func(t *testing.T, e *env, _ *Location, _ error) {
				if c := e.f.contexts(); c[len(c)-1].ReplicaRead || e.f.sent()[1] != 1 {
					t.Errorf("flashback retry was not a leader read")
				}
			}},
		{kind: "FlashbackNotPrepared", err: &errorpb.Error{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}}, action: actFail, sentinel: kv.ErrRegionFlashback},
		{kind: "RegionNotFound", name: "RegionNotFound/leader", err: &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}, action: actReturn, invalidated: true},
		{kind: "RegionNotFound", name: "RegionNotFound/follower", err: &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}},
			opts: &Options{ReplicaRead: ReadFollower}, action: actRetry, invalidated: true,
			check: func(t *testing.T, e *env, _ *Location, _ error) {
				if s := e.f.sent(); s[1] != 1 {
					t.Errorf("retry went to store %d, want the leader", s[1])
				}
			}},
	}
}

// errRowsLater are the rows from KeyNotInRegion on, in table order.
func errRowsLater(f *fakeCluster) []errRow {
	return []errRow{
		{kind: "KeyNotInRegion", err: &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}}, action: actReturn, invalidated: true},
		{kind: "EpochNotMatch", name: "EpochNotMatch/newer", err: &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: epochRegions(f, 1)}},
			action: actReturn, invalidated: true,
			check: func(t *testing.T, e *env, _ *Location, err error) {
				var re *Error
				if !errors.As(err, &re) || !re.CacheUpdated {
					t.Errorf("EpochNotMatch with regions: CacheUpdated not set: %v", err)
				}
				loc := e.cache.TryLocate([]byte("a"))
				if loc == nil || loc.Region.Ver != 2 {
					t.Errorf("cache not updated from the error: %+v", loc)
				}
				if _, s := e.cache.region(loc.Region).leaderPeer(); s.id != 1 {
					t.Errorf("new region led by store %d, want the responder", s.id)
				}
			}},
		{kind: "EpochNotMatch", name: "EpochNotMatch/tikv-behind", err: &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: epochRegions(f, -1)}},
			action: actRetry, backoff: backoff.RegionMiss},
		{kind: "EpochNotMatch", name: "EpochNotMatch/empty", err: &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}},
			action: actReturn, invalidated: true},
		{kind: "BucketVersionNotMatch", err: &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{Version: 5,
			Keys: [][]byte{nil, []byte("k"), nil}}}, action: actReturn,
			check: func(t *testing.T, e *env, loc *Location, err error) {
				var re *Error
				now := e.cache.TryLocate([]byte("a"))
				if !errors.As(err, &re) || !re.CacheUpdated || now == nil || now.Buckets.GetVersion() != 5 ||
					now.Bucket([]byte("z")).String() != `["k", +inf)` {
					t.Errorf("buckets not updated from the error: %v %+v", err, now)
				}
			}},
		{kind: "ServerIsBusy", err: &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 100}}, action: actRetry, backoff: backoff.ServerBusy,
			check: func(t *testing.T, e *env, _ *Location, _ error) {
				s, _ := e.cache.Store(context.Background(), 1)
				if s.busyUntil.Load() == 0 {
					t.Errorf("estimated wait not recorded")
				}
			}},
		{kind: "StaleCommand", err: &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}, action: actRetry},
		{kind: "StoreNotMatch", err: &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}}, action: actReturn, invalidated: true,
			check: func(t *testing.T, e *env, _ *Location, _ error) {
				s, _ := e.cache.Store(context.Background(), 1)
				if len(e.f.closed) != 1 || e.f.pdStore.Load() < 4 || s == nil {
					t.Errorf("StoreNotMatch: closed %v, store lookups %d", e.f.closed, e.f.pdStore.Load())
				}
			}},
		{kind: "RaftEntryTooLarge", err: &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, action: actFail, sentinel: kv.ErrRaftEntryTooLarge},
		{kind: "MaxTimestampNotSynced", err: &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, action: actRetry, backoff: backoff.MaxTSNotSynced},
		{kind: "RegionNotInitialized", err: &errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}, action: actRetry, backoff: backoff.RegionNotInitialized},
		{kind: "ReadIndexNotReady", err: &errorpb.Error{ReadIndexNotReady: &errorpb.ReadIndexNotReady{}}, action: actRetry, backoff: backoff.RegionScheduling},
		{kind: "ProposalInMergingMode", err: &errorpb.Error{ProposalInMergingMode: &errorpb.ProposalInMergingMode{}}, action: actRetry, backoff: backoff.RegionScheduling},
		{kind: "DataIsNotReady", err: &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}, opts: &Options{StaleRead: true}, action: actRetry,
			check: func(t *testing.T, e *env, _ *Location, _ error) {
				c := e.f.contexts()
				if !c[0].StaleRead || c[1].StaleRead || c[1].ReplicaRead || e.f.sent()[1] != 1 {
					t.Errorf("stale read fallback: first %+v then %+v to %v", c[0], c[1], e.f.sent())
				}
			}},
		{kind: "DeadlineExceeded", err: &errorpb.Error{Message: "Deadline is exceeded"}, opts: &Options{ReplicaRead: ReadMixed}, action: actRetry,
			check: func(t *testing.T, e *env, _ *Location, _ error) {
				if s := e.f.sent(); s[0] == s[1] {
					t.Errorf("retried the same replica %v", s)
				}
			}},
		{kind: "MismatchPeerId", err: &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}}, action: actReturn, invalidated: true},
		{kind: "InvalidMaxTSUpdate", err: &errorpb.Error{Message: "invalid max_ts update: too far"}, action: actFail, sentinel: ErrInvalidMaxTSUpdate},
		{kind: "Unknown", name: "Unknown/mixed", err: &errorpb.Error{Message: "something new"}, opts: &Options{ReplicaRead: ReadMixed}, action: actRetry},
		// Leader fails with an unknown error; followers name it as leader, but it is out for
		// this request: no sleep, return.
		{kind: "Unknown", name: "Unknown/leader", err: &errorpb.Error{Message: "something new"}, action: actReturn, invalidated: true},
	}
}

func TestRegionErrorTable(t *testing.T) {
	covered := map[string]bool{}
	rows := append(errRows(newFakeCluster(3)), errRowsLater(newFakeCluster(3))...)
	for _, row := range rows {
		name := row.name
		if name == "" {
			name = row.kind
		}
		t.Run(name, func(t *testing.T) {
			if got := classify(row.err).kind; got != row.kind {
				t.Fatalf("classified as %s, want %s", got, row.kind)
			}
			covered[row.kind] = true
			f := newFakeCluster(3)
			e := newEnv(t, f, Config{})
			loc := mustLocate(t, e.cache, "a")
			var injected bool
			f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
				if injected {
					return nil
				}
				injected = true
				return row.err
			}
			if row.kind == "NotLeader" && row.err.NotLeader.Leader != nil {
				f.leaders[1] = 2
			}
			if row.kind == "DataIsNotReady" {
				f.inject = nil // the fake TiKV answers it itself: store 2 has no safe ts
			}
			if row.opts != nil && row.opts.StaleRead {
				f.safeTS[1] = true // only the leader's store can serve it
				f.safeTS[2], f.safeTS[3] = false, false
				row.opts.MatchStores = []uint64{2}
			}
			bo := e.bo()
			_, err := SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), e.s, bo, loc,
				&kvrpcpb.RawGetRequest{Key: []byte("a")}, row.opts)
			var re *Error
			switch row.action {
			case actRetry:
				if err != nil {
					t.Fatalf("want retry then success, got %v", err)
				}
			case actReturn:
				if !errors.As(err, &re) || !re.Resplit || !errors.Is(err, kv.ErrRegionUnavailable) || re.Kind == "" {
					t.Fatalf("want a Resplit *Error, got %v", err)
				}
			case actFail:
				if !errors.As(err, &re) || re.Resplit || !errors.Is(err, row.sentinel) {
					t.Fatalf("want final %v, got %v", row.sentinel, err)
				}
			}
			if row.backoff == nil && bo.Total() != 0 {
				t.Errorf("slept %v, want no backoff (%v)", bo.Total(), bo.History())
			}
			if row.backoff != nil && bo.Slept(row.backoff) == 0 {
				t.Errorf("no %s backoff (history %v)", row.backoff, bo.History())
			}
			r := e.cache.region(loc.Region)
			if inv := r == nil || r.reason() != ReasonNone; inv != row.invalidated {
				t.Errorf("invalidated = %v, want %v", inv, row.invalidated)
			}
			if row.check != nil {
				row.check(t, e, loc, err)
			}
		})
	}
	for _, r := range errorTable {
		if !covered[r.kind] {
			t.Errorf("table row %s has no test row", r.kind)
		}
	}
	if len(errorTable) != 24 {
		t.Errorf("table has %d rows, want the 24 kinds of §1.D", len(errorTable))
	}
}

func TestErrorFormatting(t *testing.T) {
	e := &Error{Kind: "EpochNotMatch", RegionID: 7, Message: "m", Err: kv.ErrRegionUnavailable, Cause: errors.New("c")}
	if e.Error() == "" || !errors.Is(e, kv.ErrRegionUnavailable) || !kv.IsRetryable(e) {
		t.Errorf("error %v", e)
	}
	for a := actRetry; a <= actFail; a++ {
		if a.String() == "" {
			t.Errorf("action %d unnamed", a)
		}
	}
}

// Random region errors of every kind: each call either succeeds or returns a typed error
// (a *Error, a *kv.BackoffError or ctx's error) — never a raw errorpb or string error.
func TestRandomRegionErrorsGiveTypedResults(t *testing.T) {
	f := newFakeCluster(3, "m")
	rows := append(errRows(f), errRowsLater(f)...)
	e := newEnv(t, f, Config{})
	rnd := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
		mu.Lock()
		defer mu.Unlock()
		if rnd.IntN(3) == 0 {
			return nil
		}
		return rows[rnd.IntN(len(rows))].err
	}
	ok := 0
	for i := 0; i < 300; i++ {
		_, err := e.get(t, "a", &Options{ReplicaRead: ReplicaRead(i % 5), StaleRead: i%7 == 0})
		var re *Error
		var be *kv.BackoffError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re), errors.As(err, &be):
		default:
			t.Fatalf("untyped error: %v", err)
		}
	}
	if ok == 0 {
		t.Errorf("no call succeeded")
	}
}
