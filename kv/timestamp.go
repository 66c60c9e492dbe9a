package kv

import (
	"math"
	"time"
)

// Timestamps.
//
// TiKV orders transactions by 64-bit timestamps issued by PD's TSO: the high 46 bits are a
// physical time in milliseconds since the Unix epoch, the low 18 bits a logical counter
// within that millisecond. The helpers below compose and split such values; they never
// contact PD. (inventory PD-3)
const (
	// LogicalBits is the number of low bits that hold the logical counter.
	LogicalBits = 18
	// logicalMask selects the logical counter.
	logicalMask = 1<<LogicalBits - 1
	// MaxTS is the largest timestamp. As a read timestamp it means "the latest committed
	// data"; as a lock TTL check it means "resolve unconditionally".
	MaxTS uint64 = math.MaxUint64
)

// ComposeTS builds a timestamp from a physical time in milliseconds and a logical counter.
// The logical part is truncated to LogicalBits bits.
func ComposeTS(physicalMs, logical int64) uint64 {
	return uint64(physicalMs)<<LogicalBits | uint64(logical)&logicalMask
}

// PhysicalMs returns the physical part of ts in milliseconds since the Unix epoch.
func PhysicalMs(ts uint64) int64 { return int64(ts >> LogicalBits) }

// Logical returns the logical counter of ts.
func Logical(ts uint64) int64 { return int64(ts & logicalMask) }

// TimeOf returns the wall-clock time encoded in the physical part of ts.
func TimeOf(ts uint64) time.Time { return time.UnixMilli(PhysicalMs(ts)) }

// TSOf returns the smallest timestamp whose physical part is t (logical counter zero).
func TSOf(t time.Time) uint64 { return ComposeTS(t.UnixMilli(), 0) }

// TSAgo returns the timestamp of now minus d, with logical counter zero. It is the lower
// bound used for stale reads ("data as of d ago") and for deciding whether a transaction
// that started at some ts may still be running after d.
func TSAgo(now time.Time, d time.Duration) uint64 { return TSOf(now.Add(-d)) }

// TSDiff returns the wall-clock distance from the physical part of a to that of b (b - a).
func TSDiff(a, b uint64) time.Duration {
	return time.Duration(PhysicalMs(b)-PhysicalMs(a)) * time.Millisecond
}
