// SPDX-License-Identifier: MIT
// timer_add_cancel peer: with 1,000,000 time.AfterFunc timers pending
// (delays uniform over 60 s .. 1 h), time NOPS pairs of time.AfterFunc(d, f)
// + Stop().  Prints the best of REPS repetitions in ns per pair.
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

var fired int64

func never() { fired++ }

func main() {
	runtime.GOMAXPROCS(1)
	npending := envInt("BENCH_TIMERS_PENDING", 1000000)
	nops := envInt("BENCH_GO_TIMERS_OPS", 200000)
	reps := envInt("BENCH_GO_REPS", 10)
	rng := uint64(42)
	rnd := func() uint64 {
		rng += 0x9e3779b97f4a7c15
		z := rng
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	delay := func() time.Duration {
		return 60*time.Second + time.Duration(rnd()%3540000000)*time.Microsecond
	}
	const ndelays = 65536
	delays := make([]time.Duration, ndelays)
	for i := range delays {
		delays[i] = delay()
	}
	pending := make([]*time.Timer, npending)
	for i := range pending {
		pending[i] = time.AfterFunc(delay(), never)
	}
	for i := 0; i < ndelays; i++ {
		time.AfterFunc(delays[i], never).Stop()
	}
	best := -1.0
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		for i := 0; i < nops; i++ {
			t := time.AfterFunc(delays[i&(ndelays-1)], never)
			t.Stop()
		}
		ns := float64(time.Since(t0).Nanoseconds()) / float64(nops)
		if best < 0 || ns < best {
			best = ns
		}
	}
	runtime.KeepAlive(pending)
	fmt.Printf("%.1f\n", best)
}
