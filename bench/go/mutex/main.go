// SPDX-License-Identifier: MIT
// lock_handoff peer: with GOMAXPROCS=1, two goroutines each run N times
// mu.Lock(), runtime.Gosched() (so that the other one runs while the mutex
// is held and blocks on it), mu.Unlock().  Go's sync.Mutex is not FIFO: an
// unlocking goroutine may take it straight back (barging) until a waiter has
// starved for 1 ms and the mutex switches to hand-off mode, so the holder
// changes far less often than with a fair lock (the "#" line counts it).
// Prints ns per Lock/Unlock pair over both goroutines (best of REPS).
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

var (
	mu       sync.Mutex
	last     int
	switches int
)

func round(n int) float64 {
	var wg sync.WaitGroup
	switches, last = 0, 0
	t0 := time.Now()
	wg.Add(2)
	for g := 1; g <= 2; g++ {
		go func(id int) {
			for i := 0; i < n; i++ {
				mu.Lock()
				if last != id {
					switches++
					last = id
				}
				runtime.Gosched()
				mu.Unlock()
			}
			wg.Done()
		}(g)
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(2*n)
}

func main() {
	runtime.GOMAXPROCS(1)
	n := envInt("BENCH_LOCK_N", 500000)
	reps := envInt("BENCH_REPS", 5)
	round(n/10 + 1) // warm up
	best := -1.0
	for r := 0; r < reps; r++ {
		if ns := round(n); best < 0 || ns < best {
			best = ns
		}
	}
	fmt.Printf("%.2f\n", best)
	fmt.Printf("# lock_handoff: go sync.Mutex holder changed %d times in %d acquires (last round)\n", switches, 2*n)
}
