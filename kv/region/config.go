package region

import (
	"math/rand/v2"
	"time"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
)

// Config tunes a Cache and the Senders built on it. The zero value gives the defaults
// noted on each field. New copies it; changing it afterwards has no effect.
type Config struct {
	// TTL is how long an unused region stays cached (600 s), plus a random jitter in
	// [0, TTLJitter) (60 s) so that entries loaded together do not expire together. Each
	// access slides the TTL, except for regions with down peers (RC-4).
	TTL       time.Duration
	TTLJitter time.Duration
	// GCInterval is how often the background loop scans for expired regions (1 s) and
	// GCBatch how many regions it checks per round (50).
	GCInterval time.Duration
	GCBatch    int
	// JoinWait bounds how long a cache miss waits for loads of other keys already in
	// flight before loading itself (100 ms); see Cache.Locate.
	JoinWait time.Duration
	// Buckets asks PD for region buckets (RC-7).
	Buckets bool
	// MaxPDLoads bounds how many region loads from PD run at once (32); more misses
	// queue, within their ctx. It caps the PD load a cold cache can cause.
	MaxPDLoads int
	// RefreshRanges, when set, are reloaded from PD every RefreshInterval (60 s) with
	// batched calls, so their regions stay warm (periodic refresh, RC-4; user-asks §7).
	// Call Cache.LoadRanges once at start to preload them.
	RefreshRanges   []kv.KeyRange
	RefreshInterval time.Duration
	// BatchLimit is the largest number of regions one BatchScanRegions call loads (128).
	BatchLimit int
	// StoreLivenessTimeout bounds one health probe (1 s) (RC-9).
	StoreLivenessTimeout time.Duration
	// UnreachableRetry is how long a store that failed stays unreachable unless a probe
	// finds it alive earlier (1 s); the background loop probes unreachable stores at this
	// interval when the transport is a Prober.
	UnreachableRetry time.Duration
	// StoreRefreshInterval is how often the background loop re-reads every cached store
	// from PD (15 s), so that address and label changes and tombstones are noticed
	// without waiting for a failure (RC-8).
	StoreRefreshInterval time.Duration
	// HealthTickInterval is how often the background loop closes the accounting interval
	// of every store's slow score and asks stores with stale TiKV feedback for a fresh one
	// (15 s, client-go's store health tick) (RC-10, RC-11).
	HealthTickInterval time.Duration
	// Codec decodes region keys that TiKV reports in EpochNotMatch errors into user keys;
	// use the PD client's Codec(). Nil means TiKV's keys are already user keys.
	Codec codec.Codec
	// Prober checks store liveness (usually the transport, see Prober); nil disables
	// probing.
	Prober Prober
	// Tracer receives region events when it implements kv.RegionTracer.
	Tracer kv.Tracer
	// RequestHealthFeedback, when not nil, is how the background loop asks a store for
	// its health feedback when TiKV last reported it slow more than
	// HealthFeedbackInterval (15 s) ago (RC-10); fresh feedback normally arrives with
	// batch responses through Cache.ReportHealth.
	RequestHealthFeedback  HealthFeedbackRequester
	HealthFeedbackInterval time.Duration

	// Now and Rand replace the clock and random source in tests (time.Now,
	// math/rand/v2.Int64N).
	Now  func() time.Time
	Rand func(n int64) int64
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.TTL, 600*time.Second)
	def(&c.TTLJitter, 60*time.Second)
	def(&c.GCInterval, time.Second)
	def(&c.JoinWait, 100*time.Millisecond)
	def(&c.StoreLivenessTimeout, time.Second)
	def(&c.UnreachableRetry, time.Second)
	def(&c.HealthTickInterval, 15*time.Second)
	def(&c.StoreRefreshInterval, 15*time.Second)
	def(&c.HealthFeedbackInterval, DefaultHealthFeedbackInterval)
	if c.GCBatch <= 0 {
		c.GCBatch = 50
	}
	def(&c.RefreshInterval, time.Minute)
	if c.MaxPDLoads <= 0 {
		c.MaxPDLoads = 32
	}
	if c.BatchLimit <= 0 {
		c.BatchLimit = 128
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Int64N
	}
	return c
}
