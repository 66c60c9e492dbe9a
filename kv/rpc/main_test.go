package rpc

import (
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// nullServerEnv makes the test binary serve a null TiKV instead of running tests; the
// remote benchmarks start it as a child process so that the client's costs are measured
// alone.
const nullServerEnv = "TIKVSQL_RPC_NULL_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(nullServerEnv) == "1" {
		os.Exit(serveNull())
	}
	goleak.VerifyTestMain(m)
}

// serveNull prints its address and serves until its standard input closes.
func serveNull() int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(newWireCodec(mem.DefaultBufferPool())))
	tikvpb.RegisterTikvServer(srv, &nullTiKV{})
	fmt.Println(lis.Addr().String())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); srv.Stop() }()
	_ = srv.Serve(lis)
	return 0
}
