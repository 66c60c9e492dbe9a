// Command memcluster serves an in-process TiKV + PD (package memcluster) on 127.0.0.1 so
// that any TiKV client can connect to it. It prints the PD address (and each store's) and
// runs until SIGINT or SIGTERM.
//
// Usage:
//
//	memcluster [-stores N] [-keyspace NAME]...
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tikvsql/tikvsql/memcluster"
)

// keyspaces collects repeated -keyspace flags.
type keyspaces []string

func (k *keyspaces) String() string     { return strings.Join(*k, ",") }
func (k *keyspaces) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memcluster:", err)
		os.Exit(1)
	}
}

// run starts the cluster described by args, reports its addresses on out and serves until
// ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("memcluster", flag.ContinueOnError)
	stores := fs.Int("stores", 1, "number of TiKV stores")
	var ks keyspaces
	fs.Var(&ks, "keyspace", "create an API v2 keyspace with this name (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := memcluster.New(memcluster.Options{Stores: *stores})
	if err != nil {
		return err
	}
	defer c.Close()
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
