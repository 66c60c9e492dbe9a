package main

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

type fakeTSO struct {
	ts  uint64
	err error
}

func (f *fakeTSO) GetTS(context.Context) (int64, int64, error) {
	return int64(f.ts >> 18), int64(f.ts & (1<<18 - 1)), f.err
}

type fakeLocks []*kvrpcpb.LockInfo

func (f fakeLocks) PhysicalScanLock([]byte, uint64, int) []*kvrpcpb.LockInfo { return f }

func TestStoreSafeTS(t *testing.T) {
	ctx := context.Background()
	tso := &fakeTSO{ts: 1000 << 18}
	locks := fakeLocks{}
	mem := newMemLocks()
	s := &storeSafeTS{tso: tso, locks: &locks, mem: mem}
	if got, err := s.get(ctx); err != nil || got != 1000<<18 {
		t.Fatalf("no locks: %d %v", got, err)
	}
	tso.ts = 2000 << 18
	locks = fakeLocks{{LockVersion: 1500 << 18}, {SharedLockInfos: []*kvrpcpb.LockInfo{{LockVersion: 1200 << 18}}}}
	if got, _ := s.get(ctx); got != 1200<<18-1 {
		t.Fatalf("locks: %d, want %d", got, 1200<<18-1)
	}
	// Never backwards: an older lock appearing later does not lower the answer.
	unlock := mem.lock(1100<<18, []*kvrpcpb.Mutation{{Key: []byte("k")}})
	if got, _ := s.get(ctx); got != 1200<<18-1 {
		t.Fatalf("older in-memory lock: %d", got)
	}
	unlock()
	locks = nil
	tso.ts = 3000 << 18
	if got, _ := s.get(ctx); got != 3000<<18 {
		t.Fatalf("locks gone: %d", got)
	}
	unlock = mem.lock(3500<<18, nil)
	tso.ts = 4000 << 18
	if got, _ := s.get(ctx); got != 3500<<18-1 {
		t.Fatalf("in-memory lock: %d", got)
	}
	unlock()
	tso.err = errors.New("pd down")
	if _, err := s.get(ctx); err == nil {
		t.Fatal("TSO error not returned")
	}
}

func TestGetStoreSafeTSServer(t *testing.T) {
	ctx := context.Background()
	s := &storeServer{}
	if resp, err := s.GetStoreSafeTS(ctx, &kvrpcpb.StoreSafeTSRequest{}); err != nil || resp.GetSafeTs() != 0 {
		t.Fatalf("unistore's answer: %v %v", resp, err)
	}
	tso := &fakeTSO{ts: 7 << 18}
	s.safe = &storeSafeTS{tso: tso, locks: fakeLocks{}}
	if resp, err := s.GetStoreSafeTS(ctx, &kvrpcpb.StoreSafeTSRequest{}); err != nil || resp.GetSafeTs() != 7<<18 {
		t.Fatalf("wrapper's answer: %v %v", resp, err)
	}
	tso.err = errors.New("pd down")
	if _, err := s.GetStoreSafeTS(ctx, &kvrpcpb.StoreSafeTSRequest{}); err == nil {
		t.Fatal("TSO error not returned")
	}
}
