package conn

import (
	"fmt"
	"testing"

	"github.com/tikvsql/tikvsql/dsn"
)

func TestStmtCacheEvictsLeastRecentlyUsed(t *testing.T) {
	sh := &Shared{cfg: dsn.NewConfig(), cache: newStmtCache(3)}
	parse := func(i int) {
		t.Helper()
		if _, err := sh.parse(fmt.Sprintf("GET 'k%d'", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		parse(i)
	}
	parse(0) // 0 is now the most recent; 1 the least
	parse(3) // evicts 1
	if sh.cache.len() != 3 {
		t.Fatalf("len = %d", sh.cache.len())
	}
	if sh.cache.get("GET 'k1'") != nil {
		t.Error("k1 was not evicted")
	}
	for _, i := range []int{0, 2, 3} {
		if sh.cache.get(fmt.Sprintf("GET 'k%d'", i)) == nil {
			t.Errorf("k%d was evicted", i)
		}
	}
	if _, err := sh.parse("NOT A STATEMENT"); err == nil {
		t.Error("bad statement parsed")
	}
	if sh.cache.len() != 3 {
		t.Error("an error was cached")
	}
}

func TestNewSharedChecksClients(t *testing.T) {
	if _, err := NewShared(dsn.NewConfig(), nil, nil); err == nil {
		t.Error("no client accepted")
	}
}
