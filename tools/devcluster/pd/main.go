// The embedded etcd of this PD version registers HTTP patterns that the
// Go 1.22+ ServeMux rejects; the pre-1.22 mux behaviour accepts them.

//go:debug httpmuxgo121=1

// Command devcluster-pd runs one embedded PD server (the real PD from the
// github.com/tikv/pd module, with its embedded etcd) on 127.0.0.1 for the
// tikvsql development cluster.
//
// It is started by tools/devcluster/devcluster.sh together with
// devcluster-store. The scheduling limits are set so that PD never moves
// leaders or peers on its own: the stores of the development cluster are
// views of one shared engine and only execute split and leader-transfer
// operators. When the server is leader and its cluster is ready to be
// bootstrapped, the PD client address is written to the file named by
// -ready-file. SIGINT and SIGTERM stop the server cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pingcap/log"
	"github.com/spf13/pflag"
	"github.com/tikv/pd/pkg/schedule/schedulers"
	"github.com/tikv/pd/pkg/utils/logutil"
	"github.com/tikv/pd/server"
	"github.com/tikv/pd/server/api"
	"github.com/tikv/pd/server/apiv2"
	"github.com/tikv/pd/server/config"
	"go.uber.org/zap"
)

// options are the command-line settings of one PD server.
type options struct {
	clientAddr  string
	peerAddr    string
	dataDir     string
	logFile     string
	logLevel    string
	readyFile   string
	maxReplicas int
}

func main() {
	var o options
	flag.StringVar(&o.clientAddr, "client-addr", "127.0.0.1:2379", "host:port for client traffic (gRPC and HTTP)")
	flag.StringVar(&o.peerAddr, "peer-addr", "127.0.0.1:2380", "host:port for etcd peer traffic")
	flag.StringVar(&o.dataDir, "data-dir", "", "data directory; must be fresh (required)")
	flag.StringVar(&o.logFile, "log-file", "", "log file (default: stderr)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	flag.StringVar(&o.readyFile, "ready-file", "", "file to write the client address to once PD is leader")
	flag.IntVar(&o.maxReplicas, "max-replicas", 1, "replicas per region (set to the number of stores)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster-pd:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.dataDir == "" {
		return errors.New("-data-dir is required")
	}
	cfg, err := buildConfig(o)
	if err != nil {
		return err
	}
	if err := logutil.SetupLogger(cfg.Log, &cfg.Logger, &cfg.LogProps, cfg.Security.RedactInfoLog); err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	log.ReplaceGlobals(cfg.Logger, cfg.LogProps)
	defer func() { _ = log.Sync() }()

	schedulers.Register()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	svr, err := server.CreateServer(ctx, cfg, nil, api.NewHandler, apiv2.NewV2Handler)
	if err != nil {
		return fmt.Errorf("create PD server: %w", err)
	}
	defer svr.Close()
	if err := svr.Run(); err != nil {
		return fmt.Errorf("run PD server: %w", err)
	}
	if err := waitLeader(ctx, svr); err != nil {
		return err
	}
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte(o.clientAddr+"\n"), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	log.Warn("devcluster PD ready", zap.String("addr", o.clientAddr))
	fmt.Println("PD ready at", o.clientAddr)
	<-ctx.Done()
	return nil
}

// buildConfig turns the options into a PD configuration through PD's own
// flag parser so that every derived default is filled in.
func buildConfig(o options) (*config.Config, error) {
	fs := pflag.NewFlagSet("pd", pflag.ContinueOnError)
	for _, name := range []string{"config", "log-level", "log-file", "name", "data-dir", "client-urls",
		"advertise-client-urls", "peer-urls", "advertise-peer-urls", "initial-cluster", "join",
		"metrics-addr", "cacert", "cert", "key"} {
		fs.String(name, "", "")
	}
	fs.Bool("force-new-cluster", false, "")
	args := []string{
		"--name=devcluster-pd",
		"--data-dir=" + o.dataDir,
		"--client-urls=http://" + o.clientAddr,
		"--peer-urls=http://" + o.peerAddr,
		"--log-level=" + o.logLevel,
	}
	if o.logFile != "" {
		args = append(args, "--log-file="+o.logFile)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg := config.NewConfig()
	if err := cfg.Parse(fs); err != nil {
		return nil, fmt.Errorf("PD config: %w", err)
	}
	cfg.Replication.MaxReplicas = uint64(o.maxReplicas)
	// The stores are views of one engine: PD must not try to move peers or
	// balance leaders, merge regions or repair replicas.
	cfg.Schedule.LeaderScheduleLimit = 0
	cfg.Schedule.RegionScheduleLimit = 0
	cfg.Schedule.ReplicaScheduleLimit = 0
	cfg.Schedule.MergeScheduleLimit = 0
	cfg.Schedule.HotRegionScheduleLimit = 0
	cfg.Keyspace.WaitRegionSplit = false
	return cfg, nil
}

// waitLeader blocks until the embedded member is PD leader.
func waitLeader(ctx context.Context, svr *server.Server) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if !svr.IsClosed() && svr.GetMember().IsLeader() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("PD did not become leader within 60s")
}
