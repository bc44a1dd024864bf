// SPDX-License-Identifier: MIT
// sem_contend peer: with GOMAXPROCS=1, N goroutines contend on a semaphore
// of P permits, a buffered channel of capacity P (golang.org/x/sync is not
// available offline): each sends to take a permit, runtime.Gosched() while
// holding it, receives to give it back, then wg.Done().  The clock runs from
// before the first `go` to after wg.Wait().  Prints goroutines per second
// (best of REPS).
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

func round(n, permits int) float64 {
	sem := make(chan struct{}, permits)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			sem <- struct{}{}
			runtime.Gosched()
			<-sem
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(t0).Seconds()
}

func main() {
	runtime.GOMAXPROCS(1)
	n := envInt("BENCH_SEM_N", 100000)
	permits := envInt("BENCH_SEM_PERMITS", 100)
	reps := envInt("BENCH_REPS", 3)
	round(n, permits) // warm up
	best := -1.0
	for r := 0; r < reps; r++ {
		if tps := round(n, permits); tps > best {
			best = tps
		}
	}
	fmt.Printf("%.0f\n", best)
}
