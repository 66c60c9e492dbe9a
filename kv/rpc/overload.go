package rpc

// Overload batching (RPC-3): TiKV reports the load of its gRPC transport layer with every
// batch response (TransportLayerLoad). When it is above Config.OverloadThreshold, the
// send loop waits up to Config.OverloadWait for Config.OverloadBatchSize requests before
// sending, so that an overloaded store receives fewer, fuller messages (client-go's
// OverloadThreshold, MaxBatchWaitTime and BatchWaitSize). Off unless both the threshold
// and the wait are set, as in client-go.

// DefaultOverloadBatchSize is the batch size an overloaded store's requests wait for
// (client-go's BatchWaitSize).
const DefaultOverloadBatchSize = 8

// overloaded reports whether the store's last reported load calls for overload batching.
func (b *batchConn) overloaded() bool {
	t := b.c.cfg.OverloadThreshold
	return t > 0 && b.c.cfg.OverloadWait > 0 && b.load.Load() > t
}

// waitOverloaded waits up to OverloadWait for the batch to reach OverloadBatchSize.
func (b *batchConn) waitOverloaded(high, normal []*entry) ([]*entry, []*entry) {
	size := b.c.cfg.OverloadBatchSize
	if size <= 0 {
		size = DefaultOverloadBatchSize
	}
	target := min(size, b.c.cfg.MaxBatchSize)
	return b.collect(high, normal, b.c.cfg.OverloadWait, func(n int) bool { return n >= target })
}
