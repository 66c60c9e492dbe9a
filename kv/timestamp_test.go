package kv

import (
	"testing"
	"time"
)

// client-go: oracle/oracle.go helpers (ComposeTS, ExtractPhysical, ExtractLogical, GetTimeFromTS, GoTimeToTS)
func TestTimestampParts(t *testing.T) {
	ts := ComposeTS(1_700_000_000_123, 42)
	if PhysicalMs(ts) != 1_700_000_000_123 || Logical(ts) != 42 {
		t.Fatalf("parts of %d: %d %d", ts, PhysicalMs(ts), Logical(ts))
	}
	if ts != 1_700_000_000_123<<18|42 {
		t.Fatal("layout")
	}
	// The logical part is truncated to 18 bits.
	if Logical(ComposeTS(1, 1<<18+5)) != 5 || PhysicalMs(ComposeTS(1, 1<<18+5)) != 1 {
		t.Fatal("logical overflow must not spill into the physical part")
	}
	now := time.UnixMilli(1_700_000_000_500)
	if got := TimeOf(TSOf(now)); !got.Equal(now) {
		t.Fatalf("TimeOf(TSOf) = %v", got)
	}
	if TSAgo(now, time.Second) != TSOf(now.Add(-time.Second)) {
		t.Fatal("TSAgo")
	}
	if d := TSDiff(TSOf(now), TSOf(now.Add(1500*time.Millisecond))); d != 1500*time.Millisecond {
		t.Fatalf("TSDiff = %v", d)
	}
	if PhysicalMs(MaxTS) <= 0 {
		t.Fatal("MaxTS physical")
	}
}
