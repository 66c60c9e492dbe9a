package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	uspd "github.com/pingcap/tidb/pkg/store/mockstore/unistore/pd"
	"github.com/pingcap/tidb/pkg/store/mockstore/unistore/tikv"
	"github.com/tikvsql/tikvsql/tools/devcluster/store/rawkv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// process owns everything the stores run: listeners, gRPC and status
// servers, the PD client, the engines, the region cluster and the TTL purge
// loop. stop releases it all in reverse order.
type process struct {
	pdc      uspd.Client
	eng      *engine
	raw      *rawkv.Store
	cl       *cluster
	grpcLis  []net.Listener
	httpLis  []net.Listener
	grpcs    []*grpc.Server
	https    []*http.Server
	servers  []*storeServer
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

func listenN(host string, base, n int) ([]net.Listener, error) {
	var out []net.Listener
	for i := 0; i < n; i++ {
		port := 0
		if base != 0 {
			port = base + i
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			for _, o := range out {
				_ = o.Close()
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// startCluster builds and starts all stores. On error everything already
// started is stopped.
func startCluster(ctx context.Context, o options, splitKeys [][]byte) (p *process, err error) {
	p = &process{raw: rawkv.New(nil)}
	defer func() {
		if err != nil {
			p.stop()
			p = nil
		}
	}()
	if p.grpcLis, err = listenN(o.host, o.port, o.stores); err != nil {
		return p, fmt.Errorf("listen: %w", err)
	}
	if p.httpLis, err = listenN(o.host, o.statusPort, o.stores); err != nil {
		return p, fmt.Errorf("listen status: %w", err)
	}
	if p.pdc, err = uspd.NewClient([]string{o.pdAddr}, "devcluster-store"); err != nil {
		return p, fmt.Errorf("connect PD %s: %w", o.pdAddr, err)
	}
	var addrs, statusAddrs []string
	for i := range p.grpcLis {
		addrs = append(addrs, p.grpcLis[i].Addr().String())
		statusAddrs = append(statusAddrs, p.httpLis[i].Addr().String())
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dial := func() (uspd.Client, error) { return uspd.NewClient([]string{o.pdAddr}, "devcluster-store") }
	if p.cl, err = bootstrapCluster(bctx, p.pdc, dial, addrs, statusAddrs, splitKeys); err != nil {
		return p, err
	}
	if p.eng, err = openEngine(ctx, o.dataDir, p.pdc); err != nil {
		return p, err
	}
	mem := newMemLocks()
	safe := &storeSafeTS{tso: p.pdc, locks: p.eng.mvcc, mem: mem}
	for i, st := range p.cl.stores {
		view := &storeView{c: p.cl, storeID: st.Id, addr: st.Address}
		inner := tikv.NewServer(view, p.pdc, p.eng.mvcc, p.eng.inner)
		srv := newStoreServer(inner, view, p.raw, mem)
		srv.safe = safe
		p.servers = append(p.servers, srv)
		g := grpc.NewServer(
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
			grpc.MaxRecvMsgSize(256<<20),
			grpc.MaxSendMsgSize(256<<20),
			grpc.ChainUnaryInterceptor(unaryRecover),
			grpc.ChainStreamInterceptor(streamRecover),
		)
		tikvpb.RegisterTikvServer(g, srv)
		p.grpcs = append(p.grpcs, g)
		h := &http.Server{Handler: statusHandler(), ReadHeaderTimeout: 5 * time.Second}
		p.https = append(p.https, h)
		p.wg.Add(2)
		go func(l net.Listener) { defer p.wg.Done(); _ = g.Serve(l) }(p.grpcLis[i])
		go func(l net.Listener) { defer p.wg.Done(); _ = h.Serve(l) }(p.httpLis[i])
	}
	pctx, pcancel := context.WithCancel(context.Background())
	p.cancel = pcancel
	p.wg.Add(1)
	go p.purgeLoop(pctx)
	return p, nil
}

// addrs returns the gRPC addresses of the stores.
func (p *process) addrs() []string {
	out := make([]string, len(p.grpcLis))
	for i, l := range p.grpcLis {
		out[i] = l.Addr().String()
	}
	return out
}

// purgeLoop drops expired raw entries every few seconds.
func (p *process) purgeLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.raw.Purge()
		}
	}
}

// stop shuts everything down; it is safe to call on a partly built process
// and more than once.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		for _, g := range p.grpcs {
			stopGRPC(g)
		}
		for _, h := range p.https {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = h.Shutdown(sctx)
			cancel()
		}
		for _, l := range append(p.grpcLis, p.httpLis...) {
			_ = l.Close()
		}
		p.wg.Wait()
		if p.cl != nil {
			p.cl.Close()
		}
		switch {
		case len(p.servers) > 0:
			// Stopping one server closes the shared MVCC store and engine.
			p.servers[0].Stop()
		case p.eng != nil:
			_ = p.eng.mvcc.Close()
			_ = p.eng.inner.Stop()
		}
		if p.eng != nil {
			p.eng.removeTmp()
		}
		if p.pdc != nil {
			p.pdc.Close()
		}
	})
}

// stopGRPC stops g gracefully, forcing it after a few seconds (clients keep
// BatchCommands streams open forever).
func stopGRPC(g *grpc.Server) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		g.Stop()
		<-done
	}
}

// statusHandler serves the part of TiKV's status API that clients and test
// harnesses read: /status and /config (API version and TTL support).
func statusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"storage": map[string]any{"api-version": 1, "enable-ttl": true},
		})
	})
	return mux
}

// createKeyspace creates an API v2 keyspace through PD's HTTP API.
func createKeyspace(ctx context.Context, pdAddr, name string) error {
	body, _ := json.Marshal(map[string]any{"name": name})
	url := "http://" + pdAddr + "/pd/api/v2/keyspaces"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create keyspace %q: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return errors.New("create keyspace " + name + ": " + resp.Status + ": " + buf.String())
	}
	return nil
}
