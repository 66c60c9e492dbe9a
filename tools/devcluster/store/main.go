// Command devcluster-store runs one or more TiKV-compatible stores on
// 127.0.0.1 for the tikvsql development cluster, registered with a real PD
// (devcluster-pd).
//
// Transactions are served by TiDB's unistore (its MVCC engine and
// tikv.Server); raw commands by the rawkv engine of this module; regions by
// a multi-store region manager that bootstraps PD, splits regions for real
// and reports everything to PD. All stores are views of one engine: every
// region has a peer on every store, one of them leader, and requests sent
// to a follower get NotLeader (unless they are replica or stale reads).
//
// Once every store listens and PD knows them, the store addresses are
// written to -ready-file. SIGINT and SIGTERM stop the stores cleanly.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pingcap/log"
	"github.com/pingcap/tidb/pkg/util/codec"
	"go.uber.org/zap"
)

// options are the command-line settings.
type options struct {
	pdAddr     string
	stores     int
	host       string
	port       int
	statusPort int
	dataDir    string
	splitKeys  string
	splitMode  string
	keyspace   string
	readyFile  string
	logFile    string
	logLevel   string
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.pdAddr, "pd", "127.0.0.1:2379", "PD client address (host:port)")
	flag.IntVar(&o.stores, "stores", 1, "number of stores")
	flag.StringVar(&o.host, "host", "127.0.0.1", "address the stores listen on (keep it loopback)")
	flag.IntVar(&o.port, "port", 20160, "gRPC port of the first store; store i uses port+i (0 = pick free ports)")
	flag.IntVar(&o.statusPort, "status-port", 20180, "status HTTP port of the first store; store i uses status-port+i (0 = pick free ports)")
	flag.StringVar(&o.dataDir, "data-dir", "", "directory for the transactional engine (empty = in memory)")
	flag.StringVar(&o.splitKeys, "split-keys", "", "comma-separated keys to split the first region at")
	flag.StringVar(&o.splitMode, "split-mode", "txn", "split key space: txn (user keys, memcomparable-encoded like a v1 txn client) or raw (used as is)")
	flag.StringVar(&o.keyspace, "keyspace", "", "create this API v2 keyspace in PD once the stores are up")
	flag.StringVar(&o.readyFile, "ready-file", "", "file to write the store addresses to once ready")
	flag.StringVar(&o.logFile, "log-file", "", "log file (default stderr)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	if err := setupLog(o); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster-store:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster-store:", err)
		os.Exit(1)
	}
}

func setupLog(o options) error {
	cfg := &log.Config{Level: o.logLevel}
	if o.logFile != "" {
		cfg.File = log.FileLogConfig{Filename: o.logFile}
	}
	lg, props, err := log.InitLogger(cfg)
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	log.ReplaceGlobals(lg, props)
	return nil
}

// splitKeyList parses -split-keys into region-space keys.
func splitKeyList(o options) ([][]byte, error) {
	if o.splitKeys == "" {
		return nil, nil
	}
	var keys [][]byte
	for _, k := range strings.Split(o.splitKeys, ",") {
		switch o.splitMode {
		case "txn":
			keys = append(keys, codec.EncodeBytes(nil, []byte(k)))
		case "raw":
			keys = append(keys, []byte(k))
		default:
			return nil, fmt.Errorf("unknown -split-mode %q", o.splitMode)
		}
	}
	return keys, nil
}

func run(ctx context.Context, o options) error {
	if o.stores < 1 {
		return fmt.Errorf("-stores must be at least 1")
	}
	keys, err := splitKeyList(o)
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := startCluster(ctx, o, keys)
	if err != nil {
		return err
	}
	defer c.stop()
	if o.keyspace != "" {
		if err := createKeyspace(ctx, o.pdAddr, o.keyspace); err != nil {
			return err
		}
		c.cl.reportAll() // lets PD hand out the keyspace's split operators now
	}
	addrs := strings.Join(c.addrs(), "\n") + "\n"
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte(addrs), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	log.Warn("devcluster stores ready", zap.Strings("addrs", c.addrs()), zap.Duration("took", time.Since(start)))
	fmt.Printf("%d store(s) ready in %v: %s", o.stores, time.Since(start).Round(time.Millisecond), strings.ReplaceAll(addrs, "\n", " "))
	fmt.Println()
	<-ctx.Done()
	return nil
}
