package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sampler records the resident memory (VmRSS) of processes named by pid
// files every few seconds.
type sampler struct {
	mu    sync.Mutex
	files []string
	peak  map[string]int // file -> KiB
	last  map[string]int
}

func newSampler(pidFiles string) *sampler {
	s := &sampler{peak: map[string]int{}, last: map[string]int{}}
	for _, f := range strings.Split(pidFiles, ",") {
		if f != "" {
			s.files = append(s.files, f)
		}
	}
	return s
}

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(pid string) (int, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "VmRSS:" {
			return strconv.Atoi(fields[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %s", pid)
}

func (s *sampler) sample() {
	for _, f := range s.files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		kib, err := rssKiB(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.last[f] = kib
		s.peak[f] = max(s.peak[f], kib)
		s.mu.Unlock()
	}
}

// loop samples every 2 s until ctx ends.
func (s *sampler) loop(ctx context.Context) {
	if len(s.files) == 0 {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	s.sample()
	for {
		select {
		case <-ctx.Done():
			s.sample()
			return
		case <-t.C:
			s.sample()
		}
	}
}

// peakMiB returns the largest resident size seen for any process.
func (s *sampler) peakMiB() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := 0
	for _, v := range s.peak {
		p = max(p, v/1024)
	}
	return p
}

func (s *sampler) report() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, f := range s.files {
		fmt.Fprintf(&b, "memory %s: peak %d MiB, at end %d MiB\n", f, s.peak[f]/1024, s.last[f]/1024)
	}
	return b.String()
}
