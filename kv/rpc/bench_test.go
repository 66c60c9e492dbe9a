package rpc

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"net"
)

// nullTiKV answers every batched RawGet with an empty response, in one message per
// received message, decoding and encoding with the generated types.
type nullTiKV struct {
	tikvpb.UnimplementedTikvServer
}

func (*nullTiKV) BatchCommands(srv tikvpb.Tikv_BatchCommandsServer) error {
	empty := &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: &kvrpcpb.RawGetResponse{}}}
	var out tikvpb.BatchCommandsResponse
	for {
		msg, err := srv.Recv()
		if err != nil {
			return err
		}
		out.Responses = out.Responses[:0]
		for range msg.Requests {
			out.Responses = append(out.Responses, empty)
		}
		out.RequestIds = msg.RequestIds
		if err := srv.Send(&out); err != nil {
			return err
		}
	}
}

func startNull(b *testing.B) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(newWireCodec(mem.DefaultBufferPool())))
	tikvpb.RegisterTikvServer(srv, &nullTiKV{})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	b.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String()
}

// startRemoteNull runs the null server in a child process and returns its address.
func startRemoteNull(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), nullServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// BenchmarkBatchClient measures one RawGet through the batch client against a null
// server in the same process, with parallel callers (b.SetParallelism multiplies
// GOMAXPROCS). ns/op and allocs/op include the server's work.
func BenchmarkBatchClient(b *testing.B) { benchBatchClient(b, startNull(b)) }

// BenchmarkBatchClientRemote is BenchmarkBatchClient with the null server in a child
// process: allocs/op and B/op are the client's alone.
func BenchmarkBatchClientRemote(b *testing.B) { benchBatchClient(b, startRemoteNull(b)) }

func benchBatchClient(b *testing.B, addr string) {
	for _, bc := range []struct {
		name   string
		par    int
		policy BatchPolicy
	}{
		{"adaptive/c=1xGOMAXPROCS", 1, BatchAdaptive},
		{"nowait/c=1xGOMAXPROCS", 1, BatchNoWait},
		{"adaptive/c=32xGOMAXPROCS", 32, BatchAdaptive},
		{"nowait/c=32xGOMAXPROCS", 32, BatchNoWait},
	} {
		par := bc.par
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(Config{BatchPolicy: bc.policy})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(context.Background())
			ctx := context.Background()
			if _, err := Call(ctx, c, addr, RawGet, &kvrpcpb.RawGetRequest{Key: []byte("warm")}, CallOptions{}); err != nil {
				b.Fatal(err)
			}
			var failed atomic.Int64
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := &kvrpcpb.RawGetRequest{Key: []byte("key"), Context: &kvrpcpb.Context{}}
				for pb.Next() {
					if _, err := Call(ctx, c, addr, RawGet, req, CallOptions{}); err != nil {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if failed.Load() > 0 {
				b.Fatalf("%d calls failed", failed.Load())
			}
			st := c.Stats(addr)
			b.ReportMetric(float64(st.Requests)/float64(max(st.Messages, 1)), "reqs/msg")
		})
	}
}
