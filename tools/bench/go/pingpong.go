// SPDX-License-Identifier: MIT

// Go goroutines: two goroutines ping-ponging with runtime.Gosched on one P
// (GOMAXPROCS=1, so each Gosched hands the thread to the other goroutine, as a
// yield does on a taskscope loop); ns per switch. Prints one machine-readable
// line, "BENCH switch impl=go ns_per_switch=... median=...". With -trace FILE the
// execution tracer (runtime/trace) records the timed rounds into FILE ("impl=go-trace").
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/trace"
	"sort"
	"sync"
	"time"
)

func pinger(n int, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
}

func oneRound(perTask int) time.Duration {
	var wg sync.WaitGroup
	wg.Add(2)
	t0 := time.Now()
	go pinger(perTask, &wg)
	go pinger(perTask, &wg)
	wg.Wait()
	return time.Since(t0)
}

func main() {
	switches := flag.Int("switches", 1000000, "switches per round")
	rounds := flag.Int("rounds", 7, "timed rounds; the best and the median are printed")
	warmup := flag.Int("warmup", 1, "untimed rounds first")
	traceFile := flag.String("trace", "", "record the timed rounds with runtime/trace into this file")
	flag.Parse()
	if *switches < 2 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "pingpong: need at least 2 switches and 1 round")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	perTask := *switches / 2
	for r := 0; r < *warmup; r++ {
		oneRound(perTask)
	}
	impl := "go"
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pingpong:", err)
			os.Exit(1)
		}
		defer f.Close()
		impl = "go-trace"
	}
	ns := make([]float64, *rounds)
	for r := range ns {
		ns[r] = float64(oneRound(perTask).Nanoseconds()) / float64(2*perTask)
	}
	if *traceFile != "" {
		trace.Stop()
	}
	sort.Float64s(ns)
	med := ns[len(ns)/2]
	if len(ns)%2 == 0 {
		med = (ns[len(ns)/2-1] + ns[len(ns)/2]) / 2
	}
	fmt.Printf("BENCH switch impl=%s ns_per_switch=%.3f median=%.3f rounds=%d switches=%d\n",
		impl, ns[0], med, *rounds, 2*perTask)
}
