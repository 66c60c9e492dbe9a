package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Server is a running shim.
type Server struct {
	g   *grpc.Server
	hs  *http.Server
	lis net.Listener
	up  *grpc.ClientConn
	don chan error
}

// Start serves the shim on listen (host:port, port 0 = any) in front of the
// PD at upstream. Like PD, it answers gRPC and HTTP on one port: gRPC
// (HTTP/2 without TLS) goes to the shim, everything else is proxied to PD's
// HTTP API unchanged. Close stops it.
func Start(listen, upstream string) (*Server, error) {
	up, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		_ = up.Close()
		return nil, err
	}
	s := &shim{up: up, selfURL: selfURL(lis.Addr().String())}
	s.gc = &gcStates{s: s, all: map[uint32]*gcState{}, now: time.Now}
	s.overrides = map[string]handler{
		"/pdpb.PD/GetMembers":          unary(func() *pdpb.GetMembersRequest { return &pdpb.GetMembersRequest{} }, s.getMembers),
		"/pdpb.PD/BatchScanRegions":    unary(func() *pdpb.BatchScanRegionsRequest { return &pdpb.BatchScanRegionsRequest{} }, s.batchScanRegions),
		"/pdpb.PD/QueryRegion":         s.queryRegion,
		"/pdpb.PD/GetGCState":          unary(func() *pdpb.GetGCStateRequest { return &pdpb.GetGCStateRequest{} }, s.gc.getGCState),
		"/pdpb.PD/AdvanceTxnSafePoint": unary(func() *pdpb.AdvanceTxnSafePointRequest { return &pdpb.AdvanceTxnSafePointRequest{} }, s.gc.advanceTxnSafePoint),
		"/pdpb.PD/AdvanceGCSafePoint":  unary(func() *pdpb.AdvanceGCSafePointRequest { return &pdpb.AdvanceGCSafePointRequest{} }, s.gc.advanceGCSafePoint),
		"/pdpb.PD/SetGCBarrier":        unary(func() *pdpb.SetGCBarrierRequest { return &pdpb.SetGCBarrierRequest{} }, s.gc.setGCBarrier),
		"/pdpb.PD/DeleteGCBarrier":     unary(func() *pdpb.DeleteGCBarrierRequest { return &pdpb.DeleteGCBarrierRequest{} }, s.gc.deleteGCBarrier),
	}
	// Served through net/http (see below), so HTTP/2 keepalive policy is
	// net/http's, which never answers pings with GOAWAY.
	g := grpc.NewServer(grpc.UnknownServiceHandler(s.serve), grpc.ForceServerCodec(rawCodec{}))
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			g.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: route, Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second}
	srv := &Server{g: g, hs: hs, lis: lis, up: up, don: make(chan error, 1)}
	go func() { srv.don <- hs.Serve(lis) }()
	return srv, nil
}

// Addr returns the address the shim listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the shim and waits for its serving goroutine. Open streams
// (TSO, region router) get a few seconds to finish, then are cut.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		_ = s.hs.Close()
	}
	s.g.Stop()
	<-s.don
	_ = s.up.Close()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:23791", "address to serve the shim on")
	upstream := flag.String("pd", "127.0.0.1:23790", "address of the PD server")
	readyFile := flag.String("ready-file", "", "file to write the shim address to once serving")
	flag.Parse()
	if err := run(*listen, *upstream, *readyFile); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster-pdshim:", err)
		os.Exit(1)
	}
}

func run(listen, upstream, readyFile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := Start(listen, upstream)
	if err != nil {
		return err
	}
	defer srv.Close()
	if readyFile != "" {
		if err := os.WriteFile(readyFile, []byte(srv.Addr()+"\n"), 0o644); err != nil {
			return errors.Join(err)
		}
	}
	fmt.Println("PD shim ready at", srv.Addr(), "in front of", upstream)
	<-ctx.Done()
	return nil
}
