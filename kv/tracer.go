package kv

import (
	"context"
	"time"
)

// Tracer receives events from a client. It is an empty interface on purpose: a tracer
// implements any subset of RPCTracer, BackoffTracer, RegionTracer and TxnTracer, and the
// client checks which once, when it is built, so an unimplemented hook costs nothing.
// Hooks run synchronously on the client's goroutines: they must be fast, must not block
// and must be safe for concurrent use. Metrics and tracing adapters (Prometheus,
// OpenTelemetry) are built on these hooks outside the core.
type Tracer interface{}

// RPCTracer observes every request sent to a TiKV store.
type RPCTracer interface {
	// TraceRPCStart is called before a request is sent; the returned ctx is used for the
	// request and handed to TraceRPCEnd.
	TraceRPCStart(ctx context.Context, ev RPCStart) context.Context
	// TraceRPCEnd is called when the request finished, failed or was abandoned.
	TraceRPCEnd(ctx context.Context, ev RPCEnd)
}

// RPCStart describes a request about to be sent.
type RPCStart struct {
	Method   string // the TiKV method, such as "KvPrewrite" or "RawGet"
	RegionID uint64
	StoreID  uint64
	Addr     string
	Attempt  int // 1 for the first try of this request, then 2, 3, ...
	// Replicas is the number of voters and learners of the region (client-go's
	// ReplicaNumber, the factor of a write's request-unit cost).
	Replicas int
	// Access says whether the target store is in the caller's zone: known only when the
	// request matches store labels (replica reads with MatchLabels), as in client-go.
	Access AccessLocation
	// StaleRead marks a stale read; ReqBytes is the encoded size of the request (0 when
	// unknown). With Access and RPCEnd.RespBytes they give client-go's network
	// accounting: bytes sent and received, in total and across zones, for stale reads
	// apart.
	StaleRead bool
	ReqBytes  int
}

// AccessLocation is where a request's target store is relative to the caller.
type AccessLocation uint8

const (
	// AccessUnknown: the request named no labels to compare with.
	AccessUnknown AccessLocation = iota
	// AccessLocalZone: the target store matches the request's labels.
	AccessLocalZone
	// AccessCrossZone: the target store does not match them.
	AccessCrossZone
)

// String names the location.
func (a AccessLocation) String() string {
	switch a {
	case AccessLocalZone:
		return "local-zone"
	case AccessCrossZone:
		return "cross-zone"
	}
	return "unknown"
}

// RPCEnd describes how a request ended.
type RPCEnd struct {
	RPCStart
	Duration    time.Duration
	RegionError string // the kind of region error TiKV returned, or ""
	Err         error  // a transport or context error, or nil
	RespBytes   int    // the encoded size of the response (0 without one)
}

// BackoffTracer observes retry waits.
type BackoffTracer interface {
	TraceBackoff(ctx context.Context, ev BackoffEvent)
}

// BackoffEvent describes one wait of a retry loop, reported before the sleep.
type BackoffEvent struct {
	Kind    string        // backoff kind, such as "regionMiss"
	Sleep   time.Duration // the planned sleep
	Attempt int           // how many waits of this kind this loop made before
	Total   time.Duration // total slept so far by this loop
	Cause   error         // the error being retried
}

// RegionTracer observes the region cache.
type RegionTracer interface {
	TraceRegion(ctx context.Context, ev RegionEvent)
}

// RegionEventKind says what happened to a cached region.
type RegionEventKind uint8

// Region events.
const (
	RegionLoaded       RegionEventKind = iota + 1 // loaded from PD or from a TiKV error
	RegionInvalidated                             // dropped from the cache
	RegionLeaderChange                            // the cached leader changed
)

// RegionEvent describes a change of the region cache.
type RegionEvent struct {
	Kind     RegionEventKind
	RegionID uint64
	Reason   string // why a region was invalidated or reloaded
}

// TxnTracer observes transactions.
type TxnTracer interface {
	// TraceTxnStart is called when a transaction begins; the returned ctx is handed to
	// TraceTxnEnd.
	TraceTxnStart(ctx context.Context, ev TxnStart) context.Context
	// TraceTxnEnd is called after commit or rollback.
	TraceTxnEnd(ctx context.Context, ev TxnEnd)
}

// TxnStart describes a transaction that began.
type TxnStart struct {
	StartTS     uint64
	Pessimistic bool
}

// TxnEnd describes how a transaction ended.
type TxnEnd struct {
	StartTS   uint64
	CommitTS  uint64 // 0 when rolled back or failed
	Protocol  string // "2pc", "async-commit", "1pc", "pipelined" or "" for a rollback
	Keys      int    // number of keys written
	Duration  time.Duration
	Committed bool
	Err       error
}
