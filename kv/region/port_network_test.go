package region

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/kv"
)

// netTracer adds up request and response bytes from the RPC hooks the way client-go's
// network collector does: in total, across zones, and for stale reads in the local zone.
type netTracer struct {
	mu                               sync.Mutex
	sent, sentCross, recv, recvCross int
	staleLocalReqs, staleLocalOut    int
	staleLocalIn                     int
}

func (n *netTracer) TraceRPCStart(ctx context.Context, ev kv.RPCStart) context.Context {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent += ev.ReqBytes
	if ev.Access == kv.AccessCrossZone {
		n.sentCross += ev.ReqBytes
	}
	if ev.StaleRead && ev.Access == kv.AccessLocalZone {
		n.staleLocalReqs++
		n.staleLocalOut += ev.ReqBytes
	}
	return ctx
}

func (n *netTracer) TraceRPCEnd(_ context.Context, ev kv.RPCEnd) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recv += ev.RespBytes
	if ev.Access == kv.AccessCrossZone {
		n.recvCross += ev.RespBytes
	}
	if ev.StaleRead && ev.Access == kv.AccessLocalZone {
		n.staleLocalIn += ev.RespBytes
	}
}

// The RPC hooks carry what network accounting needs: the encoded size of each request
// and response, whether the target is in the caller's zone, and whether it is a stale
// read. A local-zone stale read counts as local stale-read traffic; a cross-zone read
// counts as cross-zone bytes.
// client-go: internal/locate/metrics_collector_test.go TestNetworkCollectorOnReq,
// TestNetworkCollectorOnResp
func TestPortNetworkAccounting(t *testing.T) {
	f := newFakeCluster(3)
	f.safeTS[2] = true
	f.data["key"] = []byte("stale-value")
	tr := &netTracer{}
	c := New(f, Config{Prober: f})
	defer c.Close()
	s := NewSender(c, f, SenderConfig{Tracer: tr, Clock: &fakeClock{}})
	req := &kvrpcpb.RawGetRequest{Key: []byte("key")}
	get := func(opts *Options) *kvrpcpb.RawGetResponse {
		t.Helper()
		resp, err := Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), s, []byte("key"), req, opts)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// A stale read from zone z2, served there.
	resp := get(&Options{StaleRead: true, MatchLabels: zone(2)})
	reqSize, respSize := req.Size(), resp.Size()
	if reqSize == 0 || respSize == 0 {
		t.Fatal("empty messages")
	}
	tr.mu.Lock()
	if tr.sent != reqSize || tr.recv != respSize || tr.sentCross != 0 || tr.recvCross != 0 {
		t.Errorf("local stale read: sent %d (cross %d) recv %d (cross %d), want %d and %d, none cross-zone",
			tr.sent, tr.sentCross, tr.recv, tr.recvCross, reqSize, respSize)
	}
	if tr.staleLocalReqs != 1 || tr.staleLocalOut != reqSize || tr.staleLocalIn != respSize {
		t.Errorf("local stale read counters: %d requests, %d out, %d in", tr.staleLocalReqs, tr.staleLocalOut, tr.staleLocalIn)
	}
	tr.sent, tr.sentCross, tr.recv, tr.recvCross = 0, 0, 0, 0
	tr.staleLocalReqs, tr.staleLocalOut, tr.staleLocalIn = 0, 0, 0
	tr.mu.Unlock()

	// A follower read from a zone no store is in: all of it crosses zones.
	get(&Options{ReplicaRead: ReadFollower, MatchLabels: zone(9)})
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.sent == 0 || tr.sentCross != tr.sent || tr.recv == 0 || tr.recvCross != tr.recv || tr.staleLocalReqs != 0 {
		t.Errorf("cross-zone read: sent %d (cross %d) recv %d (cross %d), stale %d",
			tr.sent, tr.sentCross, tr.recv, tr.recvCross, tr.staleLocalReqs)
	}
}
