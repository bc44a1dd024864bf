// SPDX-License-Identifier: MIT
// queue_handoff peer: with GOMAXPROCS=1, a producer goroutine sends the
// integers 1..N on a channel and the main goroutine receives them, checking
// the order.  Prints two numbers on one line, ns per item (best of REPS):
// the unbuffered channel (a direct hand-off: every item is a rendezvous),
// then a channel buffered for all N items (the closest to an unbounded
// queue: the producer never blocks).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func round(n, capacity int) float64 {
	ch := make(chan uintptr, capacity)
	t0 := time.Now()
	go func() {
		for i := 1; i <= n; i++ {
			ch <- uintptr(i)
		}
	}()
	for i := 1; i <= n; i++ {
		if v := <-ch; v != uintptr(i) {
			fmt.Fprintln(os.Stderr, "chan: wrong item")
			os.Exit(1)
		}
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func main() {
	runtime.GOMAXPROCS(1)
	n := envInt("BENCH_QUEUE_N", 1000000)
	reps := envInt("BENCH_REPS", 5)
	round(n/10+1, 0) // warm up
	round(n/10+1, n/10+1)
	best0, bestN := -1.0, -1.0
	for r := 0; r < reps; r++ {
		if ns := round(n, 0); best0 < 0 || ns < best0 {
			best0 = ns
		}
		if ns := round(n, n); bestN < 0 || ns < bestN {
			bestN = ns
		}
	}
	fmt.Printf("%.2f %.2f\n", best0, bestN)
}
