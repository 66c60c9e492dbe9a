// Command memcluster serves an in-process TiKV + PD (package memcluster) on 127.0.0.1 so
// that any TiKV client can connect to it. It prints the PD address (and each store's) and
// runs until SIGINT or SIGTERM.
//
// Usage:
//
//	memcluster [-stores N] [-keyspace NAME]... [-split KEY]... [-split-txn KEY]... [-log-requests]
//
// -split splits regions at a plain key (how API v1 RawKV keys route), -split-txn at a
// transactional key (split at its memcomparable form). -log-requests prints one line per
// TiKV request to stderr: "request METHOD store=ID" followed by "async-commit" and
// "one-pc" for prewrites that ask for them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsql/tikvsql/memcluster"
)

// multi collects a repeated string flag.
type multi []string

func (k *multi) String() string     { return strings.Join(*k, ",") }
func (k *multi) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "memcluster:", err)
		os.Exit(1)
	}
}

// run starts the cluster described by args, reports its addresses on out (and requests on
// log when asked) and serves until ctx ends.
func run(ctx context.Context, args []string, out, log io.Writer) error {
	fs := flag.NewFlagSet("memcluster", flag.ContinueOnError)
	fs.SetOutput(log)
	stores := fs.Int("stores", 1, "number of TiKV stores")
	logRequests := fs.Bool("log-requests", false, "print every TiKV request to stderr")
	var ks, splits, txnSplits multi
	fs.Var(&ks, "keyspace", "create an API v2 keyspace with this name (repeatable)")
	fs.Var(&splits, "split", "split regions at this plain (API v1 raw) key (repeatable)")
	fs.Var(&txnSplits, "split-txn", "split regions at this transactional key (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := memcluster.New(memcluster.Options{Stores: *stores})
	if err != nil {
		return err
	}
	defer c.Close()
	var rks [][]byte
	for _, k := range splits {
		rks = append(rks, []byte(k))
	}
	for _, k := range txnSplits {
		rks = append(rks, memcluster.RegionKey([]byte(k)))
	}
	if _, err := c.Split(rks...); err != nil {
		return err
	}
	if *logRequests {
		c.AddHook(requestLogger(log))
	}
	for _, name := range ks {
		id, err := c.CreateKeyspace(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "keyspace %s id %d\n", name, id)
	}
	for _, id := range c.StoreIDs() {
		addr, _ := c.StoreAddr(id)
		fmt.Fprintf(out, "store %d %s\n", id, addr)
	}
	fmt.Fprintf(out, "PD %s\n", c.PDAddr())
	<-ctx.Done()
	return nil
}

// requestLogger returns a hook that prints each request on w.
func requestLogger(w io.Writer) memcluster.Hook {
	var mu sync.Mutex
	return func(_ context.Context, r *memcluster.Request) *memcluster.Fault {
		line := fmt.Sprintf("request %s store=%d", r.Method, r.StoreID)
		if pw, ok := r.Body.(*kvrpcpb.PrewriteRequest); ok {
			if pw.UseAsyncCommit {
				line += " async-commit"
			}
			if pw.TryOnePc {
				line += " one-pc"
			}
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, line)
		return nil
	}
}
