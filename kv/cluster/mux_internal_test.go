package cluster

import (
	"testing"

	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
)

// Every generated registration lands in the Mux (no request type registered twice).
func TestRegisterAll(t *testing.T) {
	c, err := rpc.New(rpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(t.Context()) }()
	m := &region.Mux{}
	registerAll(m, c)
	if m.Len() != methodCount {
		t.Fatalf("registered %d request types, want %d", m.Len(), methodCount)
	}
}
