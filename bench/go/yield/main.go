// SPDX-License-Identifier: MIT
// yield_roundtrip peer: one goroutine calling runtime.Gosched() in a loop
// with GOMAXPROCS=1, i.e. a round trip goroutine -> scheduler -> the same
// goroutine.  Prints the best of REPS repetitions in ns per Gosched.
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

func main() {
	runtime.GOMAXPROCS(1)
	n := envInt("BENCH_YIELD_N", 200000)
	reps := envInt("BENCH_REPS", 20)
	for i := 0; i < 10000; i++ {
		runtime.Gosched()
	}
	best := -1.0
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
		if best < 0 || ns < best {
			best = ns
		}
	}
	fmt.Printf("%.2f\n", best)
}
