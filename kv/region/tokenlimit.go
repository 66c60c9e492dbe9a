package region

import (
	"errors"
	"fmt"
)

// ErrStoreTokenLimit is the error of a request refused before it was sent because
// SenderConfig.StoreLimit requests were already in flight to its store (RC-13). Nothing
// was sent; retrying later is safe. It sheds load at the client instead of queueing
// behind an overloaded store.
var ErrStoreTokenLimit = errors.New("region: store token limit reached")

// storeToken takes one of the limit in-flight slots of st, or fails with an error
// wrapping ErrStoreTokenLimit when all are taken. The returned function gives the slot
// back. limit <= 0 means no limit.
func storeToken(st *Store, limit int) (release func(), err error) {
	if limit <= 0 {
		return func() {}, nil
	}
	for {
		n := st.inflight.Load()
		if n >= int64(limit) {
			return nil, fmt.Errorf("%w: %d requests in flight to store %d", ErrStoreTokenLimit, n, st.id)
		}
		if st.inflight.CompareAndSwap(n, n+1) {
			return func() { st.inflight.Add(-1) }, nil
		}
	}
}

// InFlight returns how many requests the Sender has in flight to the store.
func (s *Store) InFlight() int64 { return s.inflight.Load() }
