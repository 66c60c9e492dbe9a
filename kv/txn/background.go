package txn

import (
	"context"
	"sync"
)

// background owns the goroutines a Client runs beyond one call: the commit phase of
// async-commit transactions (which finishes after Commit returned) and the TTL
// heartbeats of open pessimistic transactions. Close waits for the commits (they leave
// nothing to clean up when they finish) and stops the heartbeats, then joins them all.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	all     sync.WaitGroup // every goroutine
	commits sync.WaitGroup // async commits only
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// start runs fn in a goroutine owned by the client, with a ctx that ends on Close.
// commit marks work that Close should let finish. It returns false, running nothing,
// after Close.
func (b *background) start(commit bool, fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.all.Add(1)
	if commit {
		b.commits.Add(1)
	}
	go func() {
		defer b.all.Done()
		if commit {
			defer b.commits.Done()
		}
		fn(b.ctx)
	}()
	return true
}

// close lets running commits finish within ctx, then cancels everything and waits.
func (b *background) close(ctx context.Context) {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.commits.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	b.cancel()
	<-done
	b.all.Wait()
}
