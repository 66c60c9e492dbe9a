package region

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// One retryable region error, then success, for every read mode (and a write): where the
// retry goes and which backoff it sleeps. Paths as in TestReplicaReadAccessPaths.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByBasicCase
// (the retryable errors; the errors that end the request are rows of errtable_test.go)
func TestPortAccessPathsBasicRetryable(t *testing.T) {
	retryable := []struct {
		name    string
		err     *errorpb.Error
		backoff string // slept by any read mode
		leader  string // slept only by leader reads and writes
	}{
		{"ServerIsBusy", errBusy, "", "tikvServerBusy"},
		{"ServerIsBusyWithEstimatedWait", errBusyWait, "", "tikvServerBusy"},
		{"StaleCommand", errStaleCommand, "", ""},
		{"MaxTimestampNotSynced", &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, "maxTsNotSynced", ""},
		{"ProposalInMergingMode", &errorpb.Error{ProposalInMergingMode: &errorpb.ProposalInMergingMode{}}, "regionScheduling", ""},
		{"ReadIndexNotReady", &errorpb.Error{ReadIndexNotReady: &errorpb.ReadIndexNotReady{}}, "regionScheduling", ""},
		{"RegionNotInitialized", &errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}, "regionNotInitialized", ""},
		{"DiskFull", &errorpb.Error{DiskFull: &errorpb.DiskFull{}}, "tikvDiskFull", ""},
	}
	modes := []struct {
		name  string
		write bool
		opts  Options
		path  string
	}{
		{"write", true, Options{}, "1:leader 1:leader"},
		{"leader", false, Options{}, "1:leader 1:leader"},
		{"follower", false, Options{ReplicaRead: ReadFollower}, "2:replica 3:replica"},
		// A mixed or prefer-leader read on the leader stays a replica read (by design).
		{"mixed", false, Options{ReplicaRead: ReadMixed}, "1:replica 2:replica"},
		{"prefer-leader", false, Options{ReplicaRead: ReadPreferLeader}, "1:replica 2:replica"},
		{"stale", false, Options{ReplicaRead: ReadMixed, StaleRead: true}, "1:stale 2:replica"},
	}
	for _, m := range modes {
		for _, e := range retryable {
			t.Run(fmt.Sprintf("%s/%s", m.name, e.name), func(t *testing.T) {
				f := newFakeCluster(3)
				f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
				f.leaders[1] = 0
				env := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
				loc := mustLocate(t, env.cache, "a")
				n := 0
				f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
					defer func() { n++ }()
					if n == 0 {
						return e.err
					}
					return nil
				}
				bo := env.bo()
				opts := m.opts
				var err error
				if m.write {
					_, err = SendToRegion[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](context.Background(), env.s, bo, loc,
						&kvrpcpb.RawPutRequest{Key: []byte("a"), Value: []byte("v")}, &opts)
				} else {
					_, err = SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), env.s, bo, loc,
						&kvrpcpb.RawGetRequest{Key: []byte("a")}, &opts)
				}
				if err != nil {
					t.Fatal(err)
				}
				path := m.path
				if m.name == "prefer-leader" && e.leader == "" {
					// Differs by design: a prefer-leader read keeps preferring the leader
					// after a retryable error other than ServerIsBusy (client-go moves on
					// to a follower: it asks each replica once).
					path = "1:replica 1:replica"
				}
				if got := accessPath(f); got != path {
					t.Errorf("path %q, want %q", got, path)
				}
				want := e.backoff
				if m.write || m.name == "leader" {
					want = strings.TrimSpace(want + " " + e.leader)
				}
				var kinds []string
				for _, h := range bo.History() {
					kinds = append(kinds, h.Kind)
				}
				if got := strings.Join(kinds, " "); got != want {
					t.Errorf("backoffs %q, want %q", got, want)
				}
				if env.cache.TryLocate([]byte("a")) == nil {
					t.Error("region dropped after a retryable error")
				}
			})
		}
	}
}

// One region error that ends the request, for every read mode (and a write): the request
// makes one attempt and returns an error; the backoff slept and whether the region stays
// cached depend on the error. A follower's RegionNotFound is retried on the leader.
// client-go: internal/locate/replica_selector_test.go TestReplicaReadAccessPathByBasicCase
// (the errors that are not retried)
func TestPortAccessPathsBasicNoRetry(t *testing.T) {
	noRetry := []struct {
		name    string
		err     *errorpb.Error
		backoff string
		valid   bool
	}{
		{"RegionNotFound", errRegionNotFound, "", false},
		{"KeyNotInRegion", &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}}, "", false},
		{"EpochNotMatch", &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, "", false},
		{"StoreNotMatch", &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}}, "", false},
		{"RaftEntryTooLarge", &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, "", true},
		{"RecoveryInProgress", &errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}}, "regionRecoveryInProgress", false},
		{"FlashbackNotPrepared", &errorpb.Error{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}}, "", true},
		{"IsWitness", &errorpb.Error{IsWitness: &errorpb.IsWitness{}}, "isWitness", false},
		{"MismatchPeerId", &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}}, "", false},
		{"BucketVersionNotMatch", &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{Version: 9}}, "", true},
	}
	modes := []struct {
		name  string
		write bool
		opts  Options
		path  string
	}{
		{"write", true, Options{}, "1:leader"},
		{"leader", false, Options{}, "1:leader"},
		{"follower", false, Options{ReplicaRead: ReadFollower}, "2:replica"},
		{"mixed", false, Options{ReplicaRead: ReadMixed}, "1:replica"}, // by design a replica read
		{"prefer-leader", false, Options{ReplicaRead: ReadPreferLeader}, "1:replica"},
		{"stale", false, Options{ReplicaRead: ReadMixed, StaleRead: true}, "1:stale"},
	}
	for _, m := range modes {
		for _, e := range noRetry {
			t.Run(fmt.Sprintf("%s/%s", m.name, e.name), func(t *testing.T) {
				f := newFakeCluster(3)
				f.safeTS = map[uint64]bool{1: true, 2: true, 3: true}
				f.leaders[1] = 0
				env := newEnv(t, f, Config{Rand: func(int64) int64 { return 1 }})
				loc := mustLocate(t, env.cache, "a")
				n := 0
				f.inject = func(uint64, *kvrpcpb.Context) *errorpb.Error {
					defer func() { n++ }()
					if n == 0 {
						return e.err
					}
					return nil
				}
				bo := env.bo()
				opts := m.opts
				var err error
				if m.write {
					_, err = SendToRegion[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse](context.Background(), env.s, bo, loc,
						&kvrpcpb.RawPutRequest{Key: []byte("a"), Value: []byte("v")}, &opts)
				} else {
					_, err = SendToRegion[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), env.s, bo, loc,
						&kvrpcpb.RawGetRequest{Key: []byte("a")}, &opts)
				}
				path, wantErr, valid := m.path, true, e.valid
				if m.name == "follower" && e.name == "RegionNotFound" {
					// Retried on the leader, which serves it; the follower's copy of the
					// region is gone, so the cached region is dropped (client-go keeps it).
					path, wantErr = "2:replica 1:leader", false
				}
				if (err != nil) != wantErr {
					t.Errorf("err = %v, want an error: %v", err, wantErr)
				}
				if got := accessPath(f); got != path {
					t.Errorf("path %q, want %q", got, path)
				}
				var kinds []string
				for _, h := range bo.History() {
					kinds = append(kinds, h.Kind)
				}
				if got := strings.Join(kinds, " "); got != e.backoff {
					t.Errorf("backoffs %q, want %q", got, e.backoff)
				}
				if got := env.cache.TryLocate([]byte("a")) != nil; got != valid {
					t.Errorf("region cached %v after the error, want %v", got, valid)
				}
			})
		}
	}
}
