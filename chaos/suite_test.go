package chaos

import (
	"flag"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var seedsFlag = flag.String("chaos.seeds", "", "comma-separated seeds for TestFaultSuite (default: its fixed seeds)")

// wallLimit bounds one seed's wall time (a seed takes seconds).
const wallLimit = 3 * time.Minute

// fixedSeeds run in every CI run.
var fixedSeeds = []uint64{1, 2, 3}

func suiteSeeds(t *testing.T) []uint64 {
	if *seedsFlag == "" {
		return fixedSeeds
	}
	var out []uint64
	for _, s := range strings.Split(*seedsFlag, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			t.Fatalf("-chaos.seeds: %v", err)
		}
		out = append(out, n)
	}
	return out
}

// TestFaultSuite runs the fault suite's seeds (see the package doc).
func TestFaultSuite(t *testing.T) {
	for _, seed := range suiteSeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			wall := time.Now()
			// A bubble whose clock cannot advance (a goroutine blocked on a
			// mutex held across a timed wait is not durably blocked) would
			// hang until go test's timeout: fail sooner, with every stack.
			dog := time.AfterFunc(wallLimit, func() {
				debug.SetTraceback("all")
				panic(fmt.Sprintf("chaos: seed %d made no progress in %v of wall time (the goroutines below say where it waits)", seed, wallLimit))
			})
			defer dog.Stop()
			var r *Result
			synctest.Test(t, func(t *testing.T) { r = RunSeed(t, seed, Options{}) })
			r.Check() // outside the bubble: porcupine's time bound is a real timer
			report(t, r)
			t.Logf("seed %d: %v of wall time", seed, time.Since(wall).Truncate(time.Millisecond))
		})
	}
}

// report logs a run's figures and fails t with its problems.
func report(t *testing.T, r *Result) {
	t.Helper()
	for _, d := range r.Digests {
		t.Logf("digest %s", d)
	}
	for _, l := range r.Streams {
		t.Logf("stream %s", l)
	}
	for _, l := range r.Throughput {
		t.Logf("during %s", l)
	}
	if r.Report != nil {
		t.Logf("seed %d: %s", r.Seed, r.Report)
	}
	t.Logf("seed %d: %v on the cluster's clock", r.Seed, r.Elapsed.Truncate(time.Millisecond))
	if !r.Failed() {
		return
	}
	for _, h := range r.MapHistory {
		t.Logf("map %s", h)
	}
	dir := t.ArtifactDir()
	if err := r.Artifacts(dir); err != nil {
		t.Logf("artifacts: %v", err)
	}
	t.Errorf("seed %d: %d problems (history and porcupine's HTML in %s; replay: go test ./chaos -run 'TestFaultSuite/seed=%d' -chaos.seeds=%d -count=1 -v -artifacts):\n%s",
		r.Seed, len(r.Problems), dir, r.Seed, r.Seed, strings.Join(r.Problems, "\n"))
}
