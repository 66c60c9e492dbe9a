package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"testing"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"

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
	// Every route reaches the RPC client: on a closed client each call fails with
	// kv.ErrClosed, not with "no call registered".
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, typ := range m.RequestTypes() {
		req := reflect.New(typ.Elem()).Interface().(region.Request)
		if _, err := m.Invoke(t.Context(), "127.0.0.1:1", req); !errors.Is(err, kv.ErrClosed) {
			t.Errorf("%v: %v, want kv.ErrClosed", typ, err)
		}
	}
}

// The top-level fields override the layer configs; API version and keyspace agree.
func TestPDConfigMerge(t *testing.T) {
	tlsCfg := &tls.Config{ServerName: "x"}
	dial := func(context.Context, string) (net.Conn, error) { return nil, errors.New("no") }
	log := zap.NewNop()
	cfg := Config{
		Endpoints: []string{"a:1"}, Keyspace: "ks", Mode: Raw, TLS: tlsCfg, Dialer: dial, Logger: log,
		PD: pd.Config{Endpoints: []string{"ignored:1"}},
	}
	p, err := cfg.pdConfig()
	if err != nil {
		t.Fatal(err)
	}
	if p.Endpoints[0] != "a:1" || p.APIVersion != codec.V2 || p.Keyspace != "ks" || p.Mode != codec.ModeRaw ||
		p.TLS != tlsCfg || p.Dialer == nil || p.Logger != log {
		t.Fatalf("merged config %+v", p)
	}
	for v, want := range map[int]codec.Version{1: codec.V1, 2: codec.V2} {
		p, err := (&Config{Endpoints: []string{"a:1"}, APIVersion: v}).pdConfig()
		if err != nil || p.APIVersion != want || p.Mode != codec.ModeTxn {
			t.Errorf("API version %d: %v %v", v, p.APIVersion, err)
		}
	}
	// The layer config's endpoints are used when the top-level list is empty.
	if p, err := (&Config{PD: pd.Config{Endpoints: []string{"b:2"}}}).pdConfig(); err != nil || p.Endpoints[0] != "b:2" {
		t.Errorf("PD endpoints: %v %v", p.Endpoints, err)
	}
}
