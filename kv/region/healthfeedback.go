package region

import (
	"context"
	"time"
)

// DefaultHealthFeedbackInterval is how old a store's TiKV slow score may get before the
// background loop asks the store for a fresh one (client-go's 15 s).
const DefaultHealthFeedbackInterval = 15 * time.Second

// HealthFeedbackRequester asks the store at addr for its health feedback
// (GetHealthFeedback) and returns it: its slow score, or an error. kv/cluster provides one
// over kv/rpc.
type HealthFeedbackRequester func(ctx context.Context, addr string) (slowScore int, err error)

// staleFeedback reports whether TiKV said the store was slow (score above 1) and has not
// said anything since interval: TiKV attaches its score to batch responses, so a store
// that looked slow and is no longer used would otherwise keep its score until it decays.
func (s *slowScore) staleFeedback(now time.Time, interval time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tikv > 1 && !s.tikvAt.IsZero() && now.Sub(s.tikvAt) >= interval
}

// refreshFeedback asks every reachable store whose TiKV slow score is stale for a fresh
// one, each within timeout (RC-10). Failures leave the score to decay.
func (c *storeCache) refreshFeedback(ctx context.Context, req HealthFeedbackRequester, interval, timeout time.Duration) {
	now := c.clock()
	for _, s := range c.all() {
		if !s.slow.staleFeedback(now, interval) || !s.Reachable(now) {
			continue
		}
		addr, ok, _ := s.cached()
		if !ok || addr == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		score, err := req(rctx, addr)
		cancel()
		if err == nil {
			s.slow.feedback(score, c.clock())
		}
	}
}
