// SPDX-License-Identifier: MIT

// Go goroutines: a million of them, each blocked on a channel, as
// tools/bench/million.c does with taskscope tasks that sleep. Measures the time
// to create them all (go statement, then each runs until it blocks), the
// resident memory, page tables and kernel slab each costs (VmRSS and VmPTE of
// /proc/self/status, Slab of /proc/meminfo: system-wide, so an estimate), then
// the time to release and finish them all. GOMAXPROCS=1 by default, so that
// one thread does the work, as one taskscope loop does. Prints one line,
// "BENCH million-go tasks=... create_ns_per_task=... ...".
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// field returns a "Name:   1234 kB" field of a /proc file in bytes, -1 if absent.
func field(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, name+":") {
			continue
		}
		words := strings.Fields(line[len(name)+1:])
		if len(words) == 0 {
			return -1
		}
		kb, err := strconv.ParseInt(words[0], 10, 64)
		if err != nil {
			return -1
		}
		return kb * 1024
	}
	return -1
}

func main() {
	tasks := flag.Int("tasks", 1000000, "live blocked goroutines")
	procs := flag.Int("procs", 1, "GOMAXPROCS (0: the Go default, one per CPU)")
	flag.Parse()
	if *tasks < 1 {
		fmt.Fprintln(os.Stderr, "million-go: need at least one goroutine")
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	n := *tasks
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)

	runtime.GC()
	rss0, pte0 := field("/proc/self/status", "VmRSS"), field("/proc/self/status", "VmPTE")
	slab0 := field("/proc/meminfo", "Slab")

	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-release
			finished.Done()
		}()
	}
	t1 := time.Now()
	started.Wait()
	t2 := time.Now()

	rss1, pte1 := field("/proc/self/status", "VmRSS"), field("/proc/self/status", "VmPTE")
	slab1 := field("/proc/meminfo", "Slab")

	t3 := time.Now()
	close(release)
	finished.Wait()
	t4 := time.Now()

	per := func(a, b int64) float64 { return float64(b-a) / float64(n) }
	fmt.Printf("BENCH million-go tasks=%d gomaxprocs=%d create_s=%.3f create_ns_per_task=%.1f "+
		"spawn_ns_per_task=%.1f rss_bytes_per_task=%.0f pte_bytes_per_task=%.0f "+
		"kernel_slab_bytes_per_task=%.0f rss_total_mib=%.1f teardown_ns_per_task=%.1f\n",
		n, runtime.GOMAXPROCS(0), t2.Sub(t0).Seconds(),
		float64(t2.Sub(t0).Nanoseconds())/float64(n),
		float64(t1.Sub(t0).Nanoseconds())/float64(n),
		per(rss0, rss1), per(pte0, pte1), per(slab0, slab1),
		float64(rss1-rss0)/1048576.0, float64(t4.Sub(t3).Nanoseconds())/float64(n))
}
