// SPDX-License-Identifier: MIT
// parked_1m peer: N goroutines each blocked receiving from one shared
// channel.  Prints the VmRSS delta per goroutine (bytes) measured from
// /proc/self/status once all are parked, then a "#" line with the runtime's
// MemStats.Sys delta; closing the channel wakes them all and the program
// checks that every one finished.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[6:])
			if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return -1
}

func main() {
	n := envInt("BENCH_PARKED_N", 1000000)
	gate := make(chan struct{})
	var parked, woken int64
	var wg sync.WaitGroup
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0 := vmRSS()
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			<-gate
			atomic.AddInt64(&woken, 1)
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // the last ones reach the receive
	spawn := time.Since(t0)
	rss1 := vmRSS()
	runtime.ReadMemStats(&ms1)
	t1 := time.Now()
	close(gate)
	wg.Wait()
	wake := time.Since(t1)
	if woken != int64(n) {
		fmt.Fprintln(os.Stderr, "parked: not all goroutines finished")
		os.Exit(1)
	}
	fmt.Printf("%.0f\n", float64(rss1-rss0)/float64(n))
	fmt.Printf("# parked_1m: go %d goroutines on one channel: VmRSS +%.1f MiB, MemStats.Sys +%.1f MiB (%.0f B/goroutine), StackInuse %.1f MiB; spawn+park %.2f s, wake+finish %.2f s\n",
		n, float64(rss1-rss0)/1048576, float64(ms1.Sys-ms0.Sys)/1048576, float64(ms1.Sys-ms0.Sys)/float64(n),
		float64(ms1.StackInuse)/1048576, spawn.Seconds(), wake.Seconds())
}
