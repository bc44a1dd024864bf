// SPDX-License-Identifier: MIT
// spawn_join peer: with GOMAXPROCS=1, each round starts N goroutines
// (`go f()`) that each call wg.Done(), then wg.Wait().  The first round warms
// the goroutine free lists; prints the best later round in ns per goroutine.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var results []uintptr

func main() {
	runtime.GOMAXPROCS(1)
	n := envInt("BENCH_SPAWN_N", 100000)
	rounds := envInt("BENCH_SPAWN_ROUNDS", 8)
	yield := envInt("BENCH_SPAWN_YIELD", 0) != 0 // each goroutine yields once (all alive at once)
	results = make([]uintptr, n)
	best := -1.0
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func(i int) {
				if yield {
					runtime.Gosched()
				}
				results[i] = uintptr(i + 1) // the task "returns" its argument
				wg.Done()
			}(i)
		}
		wg.Wait()
		ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
		if r > 0 && (best < 0 || ns < best) {
			best = ns
		}
	}
	for i := range results {
		if results[i] != uintptr(i+1) {
			fmt.Fprintln(os.Stderr, "spawn: wrong result")
			os.Exit(1)
		}
	}
	fmt.Printf("%.1f\n", best)
}
