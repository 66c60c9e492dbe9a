package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestRunPrintsAddressesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-stores", "2", "-keyspace", "ks1", "-split", "m", "-split-txn", "t", "-log-requests"}, w, io.Discard)
		w.Close()
	}()
	sc := bufio.NewScanner(r)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "PD ") {
			break
		}
	}
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "keyspace ks1 id 1") || !strings.HasPrefix(lines[3], "PD 127.0.0.1:") {
		t.Fatalf("unexpected output %q", lines)
	}
	cancel()
	go io.Copy(io.Discard, r)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestRunBadFlag(t *testing.T) {
	if err := run(context.Background(), []string{"-nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("want a flag error")
	}
}
