//go:build integration && soak

package functions_test

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// The event-chaos soak (make soak-events): SOAK_EVENTS_SEQUENCES sequences
// (default 120) from seeds SOAK_EVENTS_SEED, SOAK_EVENTS_SEED+1, … (a
// random seed, logged, when unset: rerun a failure with the seed it
// names), then every race five times, through the real functions. It ends
// with one figures line; every sequence that must configure configured
// exactly once.
func TestSoakEvents(t *testing.T) {
	n := 120
	if v := os.Getenv("SOAK_EVENTS_SEQUENCES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("SOAK_EVENTS_SEQUENCES=%q: not a positive number", v)
		}
	}
	var seed uint64
	if v := os.Getenv("SOAK_EVENTS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SOAK_EVENTS_SEED=%q: %v", v, err)
		}
	} else {
		var b [4]byte
		_, _ = rand.Read(b[:])
		seed = uint64(binary.BigEndian.Uint32(b[:]))
	}
	fmt.Printf("soak-events: %d sequences from seed %d (rerun: SOAK_EVENTS_SEED=%d SOAK_EVENTS_SEQUENCES=%d make soak-events)\n", n, seed, seed, n)
	h := newChaosHarness(t)
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = seed + uint64(i)
	}
	t.Run("sequences", func(t *testing.T) { h.runChaosSequences(t, seeds) })
	seqs := h.figures
	if t.Failed() {
		fmt.Printf("soak-events: FAILED after %s\n", seqs)
		return
	}
	h.figures = chaosFigures{}
	t.Run("race", func(t *testing.T) { h.runRaces(t, 5) })
	races := h.figures
	fmt.Printf("soak-events figures: seed %d; %s; races: %d rounds, %d configurations; machine %s\n",
		seed, seqs, races.Sequences, races.Configurations, chaosMachine())
	if seqs.Configurations != seqs.Configured || races.Configurations != races.Sequences {
		t.Fatalf("configurations %d for %d sequences that must configure; %d for %d races", seqs.Configurations, seqs.Configured, races.Configurations, races.Sequences)
	}
}

// chaosMachine names the OS, architecture, CPU count and the Go version the soak ran on.
func chaosMachine() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}
