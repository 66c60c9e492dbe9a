package conn

import (
	"container/list"
	"sync"

	"github.com/tikvsql/tikvsql/stmt"
)

// stmtCacheSize is how many parsed statements a connector keeps.
const stmtCacheSize = 1024

// stmtCache is an LRU of parsed statements keyed by text, shared by a connector's
// sessions (statements are immutable).
type stmtCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *cacheEntry
	byKey map[string]*list.Element
}

type cacheEntry struct {
	text string
	st   *stmt.Statement
}

func newStmtCache(max int) *stmtCache {
	return &stmtCache{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (c *stmtCache) get(text string) *stmt.Statement {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[text]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry).st
	}
	return nil
}

func (c *stmtCache) put(text string, st *stmt.Statement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[text]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[text] = c.order.PushFront(&cacheEntry{text: text, st: st})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).text)
	}
}

func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// parse returns the statement of text from the cache, parsing it on a miss. Errors
// are not cached.
func (sh *Shared) parse(text string) (*stmt.Statement, error) {
	if st := sh.cache.get(text); st != nil {
		return st, nil
	}
	st, err := stmt.Parse(text, stmt.Options{Table: sh.cfg.EffectiveTable()})
	if err != nil {
		return nil, err
	}
	sh.cache.put(text, st)
	return st, nil
}
