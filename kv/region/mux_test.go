package region

import (
	"context"
	"reflect"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

func TestMuxRoutesTypedCalls(t *testing.T) {
	f := newFakeCluster(3)
	m := &Mux{ProbeFunc: f.Probe, CloseFunc: f.CloseAddr}
	Handle(m, func(ctx context.Context, addr string, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
		resp, err := f.Invoke(ctx, addr, req)
		if err != nil {
			return nil, err
		}
		return resp.(*kvrpcpb.RawGetResponse), nil
	})
	c := New(f, Config{Prober: m})
	defer c.Close()
	s := NewSender(c, m, SenderConfig{})
	f.data["k"] = []byte("v")
	resp, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, []byte("k"), &kvrpcpb.RawGetRequest{Key: []byte("k")}, nil)
	if err != nil || string(resp.Value) != "v" {
		t.Fatalf("get through Mux: %v %v", resp, err)
	}
	if _, err := m.Invoke(context.Background(), "store1", &kvrpcpb.RawPutRequest{}); err == nil {
		t.Errorf("unregistered request type accepted")
	}
	if err := m.Probe(context.Background(), "store1"); err != nil {
		t.Errorf("probe: %v", err)
	}
	m.CloseAddr("store1")
	if len(f.closed) != 1 {
		t.Errorf("CloseFunc not called")
	}
	var bare Mux
	if bare.Probe(context.Background(), "x") == nil {
		t.Errorf("probe without ProbeFunc succeeded")
	}
	bare.CloseAddr("x")
}

func TestMuxRequestTypes(t *testing.T) {
	m := &Mux{}
	Handle(m, func(context.Context, string, *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
		return nil, nil
	})
	types := m.RequestTypes()
	if len(types) != 1 || types[0] != reflect.TypeOf((*kvrpcpb.RawGetRequest)(nil)) || m.Len() != 1 {
		t.Fatalf("RequestTypes = %v, Len = %d", types, m.Len())
	}
}
