package region

import (
	"math"
	"sync"
	"time"
)

// slowScore is a store's slowness (RC-10, RC-11): a client-side score derived from the
// latency and volume of the requests sent to the store, and TiKV's own score from its
// health feedback, each from 1 to 100; a store is slow when either reaches
// slowThreshold. It follows client-go's rules:
//
//   - Requests are accounted per interval (the cache's health tick, every
//     Config.HealthTickInterval): their count and average latency enter sliding windows
//     of the last slowWindow intervals. When the count fell by at least 10 % against the
//     window's average while the latency rose by at least 10 %, the store is getting
//     slower, not busier: the score is multiplied by the ratio of the two changes (at
//     most 5.43) plus one. Otherwise it falls by 1 + |count change| (2 to 3 points),
//     down to 1. A request of 30 s or more, ServerIsBusy without an estimated wait, or an
//     unreachable store set the score to 100 at once.
//   - TiKV's score is taken as reported and decays linearly by 20 points a minute.
type slowScore struct {
	mu sync.Mutex

	client        float64       // client-side score
	started       bool          // a request or a tick initialised the windows
	intervalCount int           // requests observed since the last tick
	intervalCost  time.Duration // their summed latency
	counts        slidingWindow
	costs         slidingWindow

	tikv   int
	tikvAt time.Time
}

const (
	slowThreshold = 80
	maxSlowScore  = 100
	slowWindow    = 10               // intervals in the sliding windows
	slowRequest   = 30 * time.Second // a request this long makes the store slow at once
)

// slidingWindow keeps the average of the last slowWindow values.
type slidingWindow struct {
	hist []float64
	sum  float64
	avg  float64
}

// push adds v and returns its relative change against the previous average (a tiny
// positive number when there is nothing to compare with).
func (w *slidingWindow) push(v float64) float64 {
	prev := w.avg
	if len(w.hist) == slowWindow {
		w.sum -= w.hist[0]
		w.hist = w.hist[1:]
	}
	w.hist = append(w.hist, v)
	w.sum += v
	w.avg = w.sum / float64(len(w.hist))
	if prev > 0 && v != prev {
		return (v - prev) / prev
	}
	return 1e-6
}

// observe records one request's latency.
func (s *slowScore) observe(latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started, s.client = true, 1
	}
	s.intervalCount++
	if latency >= slowRequest {
		s.client = maxSlowScore
		return
	}
	s.intervalCost += latency
}

// tick closes an accounting interval and updates the client score.
func (s *slowScore) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started, s.client = true, 1
		return
	}
	countChange, costChange := 1.0, 1.0
	if s.intervalCount > 0 {
		countChange = s.counts.push(float64(s.intervalCount))
		costChange = s.costs.push(float64(s.intervalCost) / float64(s.intervalCount))
	}
	if countChange <= -0.1 && costChange >= 0.1 {
		ratio := math.Min(5.43, math.Abs(costChange/countChange))
		s.client = math.Min(math.Ceil(s.client*ratio+1), maxSlowScore)
	} else {
		fall := math.Ceil(math.Max(1, math.Min(2.71, 1+math.Abs(countChange))))
		s.client = math.Max(s.client-fall, 1)
	}
	s.intervalCount, s.intervalCost = 0, 0
}

// markSlow sets the client score to the maximum (ServerIsBusy without an estimated wait,
// an unreachable store).
func (s *slowScore) markSlow(time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started, s.client = true, maxSlowScore
}

// feedback records TiKV's own slow score (HealthFeedback).
func (s *slowScore) feedback(score int, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tikv = min(max(score, 1), maxSlowScore)
	s.tikvAt = now
}

// score returns the combined score at now.
func (s *slowScore) score(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tikv
	if t > 1 {
		decayed := float64(t) - 20*now.Sub(s.tikvAt).Seconds()/60
		t = max(int(math.Round(decayed)), 1)
	}
	return max(int(s.client), t, 1)
}

func (s *slowScore) isSlow(now time.Time) bool { return s.score(now) >= slowThreshold }

// tickSlowScores closes the accounting interval of every store's slow score.
func (c *storeCache) tickSlowScores() {
	for _, s := range c.all() {
		s.slow.tick()
	}
}
