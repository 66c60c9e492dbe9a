package pd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tikvsql/tikvsql/kv"
)

// grpcPD is an in-process PD speaking the real gRPC service on 127.0.0.1:0: enough of it
// (members, TSO stream, region and store lookups) for the official PD client to connect,
// find the leader and serve timestamps.
type grpcPD struct {
	pdpb.UnimplementedPDServer
	srv      *grpc.Server
	lis      net.Listener
	url      string
	leader   atomic.Pointer[string]   // URL of the member that claims leadership
	peers    atomic.Pointer[[]string] // URLs of the other members
	mu       sync.Mutex
	txnSP    uint64
	oldPD    bool // answer the 2025 GC API with Unimplemented, like PD before 2025
	barriers map[string]*pdpb.GCBarrierInfo
	physical int64
	logical  int64
	tsoReqs  atomic.Int64
}

const fakeClusterID = 42

// startGRPCPD starts a fake PD; with tlsCfg its listener serves TLS.
func startGRPCPD(t *testing.T, tlsCfg *tls.Config) *grpcPD {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	scheme := "http://"
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
		scheme = "https://"
	}
	p := &grpcPD{srv: grpc.NewServer(opts...), lis: lis, url: scheme + lis.Addr().String(), physical: time.Now().UnixMilli(),
		barriers: map[string]*pdpb.GCBarrierInfo{}}
	p.leader.Store(&p.url)
	pdpb.RegisterPDServer(p.srv, p)
	meta_storagepb.RegisterMetaStorageServer(p.srv, &emptyMetaStorage{})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(p.srv, hs)
	go func() { _ = p.srv.Serve(lis) }()
	t.Cleanup(p.srv.Stop)
	return p
}

func (p *grpcPD) header() *pdpb.ResponseHeader { return &pdpb.ResponseHeader{ClusterId: fakeClusterID} }

func (p *grpcPD) GetMembers(context.Context, *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	leaderURL := *p.leader.Load()
	urls := []string{p.url}
	if peers := p.peers.Load(); peers != nil {
		urls = append(urls, *peers...)
	}
	var members []*pdpb.Member
	var leader *pdpb.Member
	for i, u := range urls {
		m := &pdpb.Member{Name: "pd-" + u, MemberId: uint64(i + 1), ClientUrls: []string{u}}
		members = append(members, m)
		if u == leaderURL {
			leader = m
		}
	}
	if leader == nil {
		leader = &pdpb.Member{Name: "pd-" + leaderURL, MemberId: 99, ClientUrls: []string{leaderURL}}
		members = append(members, leader)
	}
	return &pdpb.GetMembersResponse{Header: p.header(), Members: members, Leader: leader, EtcdLeader: leader}, nil
}

func (p *grpcPD) Tso(stream pdpb.PD_TsoServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p.tsoReqs.Add(1)
		p.mu.Lock()
		p.logical += int64(req.GetCount())
		ts := &pdpb.Timestamp{Physical: p.physical, Logical: p.logical}
		p.mu.Unlock()
		if err := stream.Send(&pdpb.TsoResponse{Header: p.header(), Count: req.GetCount(), Timestamp: ts}); err != nil {
			return err
		}
	}
}

func (p *grpcPD) GetRegion(_ context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	peer := &metapb.Peer{Id: 11, StoreId: 1}
	return &pdpb.GetRegionResponse{Header: p.header(), Leader: peer,
		Region: &metapb.Region{Id: 10, RegionEpoch: &metapb.RegionEpoch{Version: 1, ConfVer: 1}, Peers: []*metapb.Peer{peer}}}, nil
}

func (p *grpcPD) GetAllStores(context.Context, *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	return &pdpb.GetAllStoresResponse{Header: p.header(), Stores: []*metapb.Store{{Id: 1, Address: "127.0.0.1:20160"}}}, nil
}

func (p *grpcPD) GetGCState(_ context.Context, req *pdpb.GetGCStateRequest) (*pdpb.GetGCStateResponse, error) {
	if p.oldPD {
		return nil, status.Error(codes.Unimplemented, "unknown method GetGCState for service pdpb.PD")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &pdpb.GCState{KeyspaceScope: req.GetKeyspaceScope(), TxnSafePoint: p.txnSP, GcSafePoint: p.txnSP}
	if !req.GetExcludeGcBarriers() {
		for _, b := range p.barriers {
			st.GcBarriers = append(st.GcBarriers, b)
		}
	}
	return &pdpb.GetGCStateResponse{Header: p.header(), GcState: st}, nil
}

func (p *grpcPD) SetGCBarrier(_ context.Context, req *pdpb.SetGCBarrierRequest) (*pdpb.SetGCBarrierResponse, error) {
	if p.oldPD {
		return nil, status.Error(codes.Unimplemented, "unknown method SetGCBarrier for service pdpb.PD")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := &pdpb.GCBarrierInfo{BarrierId: req.GetBarrierId(), BarrierTs: req.GetBarrierTs(), TtlSeconds: req.GetTtlSeconds()}
	p.barriers[b.BarrierId] = b
	return &pdpb.SetGCBarrierResponse{Header: p.header(), NewBarrierInfo: b}, nil
}

// emptyMetaStorage answers the PD client's service discovery with an empty meta storage
// (no microservices registered), so it settles at once instead of retrying.
type emptyMetaStorage struct {
	meta_storagepb.UnimplementedMetaStorageServer
}

func (*emptyMetaStorage) Get(context.Context, *meta_storagepb.GetRequest) (*meta_storagepb.GetResponse, error) {
	return &meta_storagepb.GetResponse{Header: &meta_storagepb.ResponseHeader{ClusterId: fakeClusterID}}, nil
}

// deadAddr returns an address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// grpcConfig is a Config for the real PD client with quiet background loops.
func grpcConfig(endpoints ...string) Config {
	return Config{Endpoints: endpoints, LowResolutionInterval: time.Hour, SafePointRefresh: time.Hour,
		SafePointRetry: time.Hour, PDServerTimeout: time.Second}
}

func TestRealClientFailoverFirstEndpointDown(t *testing.T) {
	pd := startGRPCPD(t, nil)
	pd.oldPD = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, grpcConfig(deadAddr(t), pd.lis.Addr().String()))
	if err != nil {
		t.Fatalf("New with the first endpoint down: %v", err)
	}
	defer func() { _ = c.Close() }()
	var prev uint64
	for range 20 {
		ts, err := c.Timestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ts <= prev {
			t.Fatalf("timestamp %d after %d", ts, prev)
		}
		prev = ts
	}
	if ts, err := c.TimestampAsync(ctx).Wait(); err != nil || ts <= prev {
		t.Fatalf("async = %d, %v", ts, err)
	}
	r, err := c.GetRegion(ctx, []byte("k"))
	if err != nil || r.Meta.Id != 10 || r.Leader.GetStoreId() != 1 {
		t.Fatalf("GetRegion = %+v, %v", r, err)
	}
	stores, err := c.GetAllStores(ctx)
	if err != nil || len(stores) != 1 {
		t.Fatalf("GetAllStores = %v, %v", stores, err)
	}
	// The fake PD has no GC states API: the error says so and visibility checks stand down.
	if _, err := c.GCState(ctx); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("GCState on an old PD: %v", err)
	}
	if err := c.CheckVisibility(1); err != nil {
		t.Fatalf("CheckVisibility on an old PD: %v", err)
	}
}

func TestRealClientFollowsLeader(t *testing.T) {
	leader := startGRPCPD(t, nil)
	follower := startGRPCPD(t, nil)
	follower.leader.Store(&leader.url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dialed sync.Map
	cfg := grpcConfig(follower.lis.Addr().String())
	cfg.KeepAliveTime, cfg.KeepAliveTimeout, cfg.EnableForwarding = 10*time.Second, 3*time.Second, true
	cfg.Dialer = func(ctx context.Context, addr string) (net.Conn, error) {
		dialed.Store(addr, true)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Timestamp(ctx); err != nil {
		t.Fatal(err)
	}
	if leader.tsoReqs.Load() == 0 || follower.tsoReqs.Load() != 0 {
		t.Fatalf("TSO served by leader %d / follower %d", leader.tsoReqs.Load(), follower.tsoReqs.Load())
	}
	if _, ok := dialed.Load(leader.lis.Addr().String()); !ok {
		t.Fatal("the dialer hook was not used for the leader")
	}
}

// The PD leader moves to another member mid-run: the client follows within the caller's
// deadline and timestamps stay monotonic.
func TestRealClientLeaderChange(t *testing.T) {
	a := startGRPCPD(t, nil)
	b := startGRPCPD(t, nil)
	b.physical = a.physical + 10_000
	a.peers.Store(&[]string{b.url})
	b.peers.Store(&[]string{a.url})
	b.leader.Store(&a.url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, grpcConfig(a.lis.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	before, err := c.Timestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.leader.Store(&b.url)
	a.leader.Store(&b.url)
	a.srv.Stop()
	after, err := c.Timestamp(ctx)
	if err != nil {
		t.Fatalf("Timestamp after the leader moved: %v", err)
	}
	if after <= before || b.tsoReqs.Load() == 0 {
		t.Fatalf("after = %d, before = %d, new leader served %d", after, before, b.tsoReqs.Load())
	}
}

func TestRealClientGCStates(t *testing.T) {
	pd := startGRPCPD(t, nil)
	pd.txnSP = 500
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, grpcConfig(pd.lis.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.CheckVisibility(499); !errors.Is(err, kv.ErrTxnAbortedByGC) {
		t.Fatalf("CheckVisibility before the safe point: %v", err)
	}
	if err := c.CheckVisibility(500); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetGCBarrier(ctx, "br", 600, time.Minute); err != nil {
		t.Fatal(err)
	}
	st, err := c.GCState(ctx)
	if err != nil || st.TxnSafePoint != 500 || len(st.Barriers) != 1 || st.Barriers[0].TS != 600 || st.Barriers[0].TTL != time.Minute {
		t.Fatalf("GCState = %+v, %v", st, err)
	}
}

func TestRealClientTLS(t *testing.T) {
	serverCfg, roots := selfSignedTLS(t)
	pd := startGRPCPD(t, serverCfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := grpcConfig(pd.url)
	cfg.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New over TLS: %v", err)
	}
	if _, err := c.Timestamp(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	// Without the right roots the handshake fails and New gives up within ctx.
	short, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if c, err := New(short, cfg); err == nil {
		_ = c.Close()
		t.Fatal("New succeeded with an untrusted server certificate")
	}
}

func TestRealClientNoEndpoints(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("New without endpoints succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := New(ctx, grpcConfig(deadAddr(t)))
	if err == nil {
		t.Fatal("New with every endpoint down succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, kv.ErrPDUnavailable) {
		t.Fatalf("all endpoints down: %v", err)
	}
	// Without a deadline construction gives up after ConnectAttempts: PD unavailable.
	cfg := grpcConfig(deadAddr(t))
	cfg.ConnectAttempts = 2
	if _, err := New(context.Background(), cfg); !errors.Is(err, kv.ErrPDUnavailable) {
		t.Fatalf("all endpoints down, no deadline: %v", err)
	}
}

// selfSignedTLS returns a server TLS config for 127.0.0.1 and a pool trusting it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pool
}
