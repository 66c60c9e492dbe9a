// Command devcluster-workload runs a mixed raw + transactional workload with
// the official client-go against a running development cluster, for a fixed
// duration, and reports throughput, errors and the resident memory of the
// cluster's processes. It exits non-zero on any unexpected error or when a
// process exceeds -max-rss-mib.
//
// Write conflicts of optimistic transactions on the shared hot keys are
// expected and counted separately; everything else counts as an error. The
// key space is bounded (each worker cycles over its own 1000 keys) and the
// GC safe point is advanced every 30 s, as a TiDB GC worker would, so that
// old MVCC versions can be dropped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pingcap/log"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/oracle"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
)

type config struct {
	pd        string
	duration  time.Duration
	workers   int
	pidFiles  string
	maxRSSMiB int
}

// counters are updated by all workers.
type counters struct {
	ops, errs, conflicts atomic.Int64
	mu                   sync.Mutex
	samples              []string
}

func (c *counters) fail(op string, err error) {
	c.errs.Add(1)
	c.mu.Lock()
	if len(c.samples) < 10 {
		c.samples = append(c.samples, op+": "+err.Error())
	}
	c.mu.Unlock()
}

func main() {
	var cfg config
	flag.StringVar(&cfg.pd, "pd", os.Getenv("TIKV_PD_ADDRS"), "PD addresses, comma-separated (default $TIKV_PD_ADDRS)")
	flag.DurationVar(&cfg.duration, "duration", 2*time.Minute, "how long to run")
	flag.IntVar(&cfg.workers, "workers", 64, "concurrent goroutines")
	flag.StringVar(&cfg.pidFiles, "pids", "", "comma-separated pid files whose processes' memory is sampled")
	flag.IntVar(&cfg.maxRSSMiB, "max-rss-mib", 1024, "fail if a sampled process exceeds this resident size")
	logFile := flag.String("log-file", "", "client-go log file (default: errors only, to stderr)")
	flag.Parse()
	if err := quietLogs(*logFile); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster-workload:", err)
		os.Exit(1)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster-workload:", err)
		os.Exit(1)
	}
}

// quietLogs routes client-go's logs to file (info level) or keeps only
// fatal ones on stderr, so the report stays readable. Lock conflicts on the
// hot keys make client-go log a lot at info level.
func quietLogs(file string) error {
	cfg := &log.Config{Level: "fatal"}
	if file != "" {
		cfg = &log.Config{Level: "info", File: log.FileLogConfig{Filename: file}}
	}
	lg, props, err := log.InitLogger(cfg)
	if err != nil {
		return err
	}
	log.ReplaceGlobals(lg, props)
	return nil
}

func run(cfg config) error {
	if cfg.pd == "" {
		return errors.New("no PD address: pass -pd or set TIKV_PD_ADDRS")
	}
	pds := strings.Split(cfg.pd, ",")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	raw, err := rawkv.NewClientWithOpts(ctx, pds)
	if err != nil {
		return fmt.Errorf("raw client: %w", err)
	}
	defer raw.Close()
	raw.SetAtomicForCAS(true)
	txn, err := txnkv.NewClient(pds)
	if err != nil {
		return fmt.Errorf("txn client: %w", err)
	}
	defer txn.Close()

	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var c counters
	var wg sync.WaitGroup
	mem := newSampler(cfg.pidFiles)
	wg.Add(2)
	go func() { defer wg.Done(); mem.loop(runCtx) }()
	go func() { defer wg.Done(); gcLoop(runCtx, txn, &c) }()
	start := time.Now()
	prefix := fmt.Sprintf("wl/%d/", start.UnixNano())
	for w := 0; w < cfg.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(runCtx, w, prefix, raw, txn, &c)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("workload: %d workers, %v, %d ops (%.0f ops/s), %d errors, %d expected write conflicts\n",
		cfg.workers, elapsed.Round(time.Second), c.ops.Load(), float64(c.ops.Load())/elapsed.Seconds(),
		c.errs.Load(), c.conflicts.Load())
	fmt.Print(mem.report())
	for _, s := range c.samples {
		fmt.Println("  error:", s)
	}
	if c.errs.Load() > 0 {
		return fmt.Errorf("%d errors", c.errs.Load())
	}
	if peak := mem.peakMiB(); cfg.maxRSSMiB > 0 && peak > cfg.maxRSSMiB {
		return fmt.Errorf("peak resident memory %d MiB exceeds %d MiB", peak, cfg.maxRSSMiB)
	}
	return nil
}

// gcLoop advances the GC safe point to 10 s ago every 30 s.
func gcLoop(ctx context.Context, txn *txnkv.Client, c *counters) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ts, err := txn.GetTimestamp(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.fail("gc timestamp", err)
			}
			continue
		}
		sp := oracle.ComposeTS(oracle.ExtractPhysical(ts)-10_000, 0)
		if _, err := txn.GetPDClient().UpdateGCSafePoint(ctx, sp); err != nil && ctx.Err() == nil {
			c.fail("update gc safe point", err)
		}
	}
}

// worker runs random operations until ctx ends. Errors caused by the end of
// ctx are not counted.
func worker(ctx context.Context, id int, prefix string, raw *rawkv.Client, txn *txnkv.Client, c *counters) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	own := func(i int) []byte { return []byte(fmt.Sprintf("%sw%02d/%04d", prefix, id, i%1000)) }
	for i := 0; ctx.Err() == nil; i++ {
		op, err := step(ctx, rng.IntN(10), i, own, prefix, raw, txn)
		switch {
		case err == nil:
			c.ops.Add(1)
		case ctx.Err() != nil:
			return
		case tikverr.IsErrWriteConflict(err):
			c.conflicts.Add(1)
		default:
			c.fail(op, err)
		}
	}
}

// step performs one operation chosen by kind.
func step(ctx context.Context, kind, i int, own func(int) []byte, prefix string, raw *rawkv.Client, txn *txnkv.Client) (string, error) {
	val := []byte(strconv.Itoa(i))
	switch kind {
	case 0:
		return "raw put", raw.Put(ctx, own(i), val)
	case 1:
		_, err := raw.Get(ctx, own(i-1))
		return "raw get", err
	case 2:
		keys := [][]byte{own(i), own(i + 1), own(i + 2)}
		if err := raw.BatchPutWithTTL(ctx, keys, [][]byte{val, val, val}, []uint64{60, 60, 60}); err != nil {
			return "raw batch put", err
		}
		_, err := raw.BatchGet(ctx, keys)
		return "raw batch get", err
	case 3:
		_, _, err := raw.Scan(ctx, own(0), own(999), 20)
		return "raw scan", err
	case 4:
		cur, err := raw.Get(ctx, own(7))
		if err != nil {
			return "raw get for cas", err
		}
		_, _, err = raw.CompareAndSwap(ctx, own(7), cur, val)
		return "raw cas", err
	case 5, 6:
		t, err := txn.Begin()
		if err != nil {
			return "txn begin", err
		}
		for j := 0; j < 4; j++ {
			if err := t.Set(own(i+j), val); err != nil {
				return "txn set", err
			}
		}
		t.SetEnableAsyncCommit(kind == 6)
		t.SetEnable1PC(kind == 6)
		return "txn commit", t.Commit(ctx)
	case 7:
		// Optimistic write to a key shared by all workers: conflicts expected.
		t, err := txn.Begin()
		if err != nil {
			return "txn begin", err
		}
		if err := t.Set([]byte(fmt.Sprintf("%shot/%d", prefix, i%8)), val); err != nil {
			return "txn set", err
		}
		return "txn hot commit", t.Commit(ctx)
	case 8:
		t, err := txn.Begin()
		if err != nil {
			return "txn begin", err
		}
		t.SetPessimistic(true)
		k := []byte(fmt.Sprintf("%spess/%d", prefix, i%16))
		if err := t.LockKeys(ctx, kv.NewLockCtx(t.StartTS(), 2000, time.Now()), k); err != nil {
			_ = t.Rollback()
			return "txn pessimistic lock", err
		}
		if err := t.Set(k, val); err != nil {
			return "txn set", err
		}
		return "txn pessimistic commit", t.Commit(ctx)
	default:
		ts, err := txn.GetTimestamp(ctx)
		if err != nil {
			return "tso", err
		}
		it, err := txn.GetSnapshot(ts).Iter(own(0), own(999))
		if err != nil {
			return "snapshot iter", err
		}
		defer it.Close()
		for n := 0; n < 50 && it.Valid(); n++ {
			if err := it.Next(); err != nil {
				return "snapshot next", err
			}
		}
		return "snapshot scan", nil
	}
}
