//go:build integration && soak

package replication

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fault soak (make soak-faults; reliability/faults.md): every cutover
// point × each fault, repeated SOAK_FAULT_ROUNDS times (default 3), and
// the other faults repeated as often. Each run asserts what the fast
// subset asserts (faults_integration_test.go); the tallies are logged for
// reliability/faults.md.

// cutoverPoints are where a fault meets a cutover: before the fence, at
// the fence statement, and after each step up to the promotion's cleanup.
var cutoverPoints = []string{"before fence", "fence statement", stepFenceProd, stepSettle, stepCatchup, stepStop, stepUnfenceRB, stepReset}

// configureSteps are configure's steps, after each of which production is
// restarted.
var configureSteps = []string{
	"check rollback target", "fence rollback target read-only", "ensure replication user on production",
	"ensure binlog retention on production", "ensure heartbeat schema on production",
	"record rollback target's own transactions", "ensure parallel apply on rollback target",
	"set source and start replication", "wait for replication threads",
}

func soakRounds(t *testing.T) int {
	n := 3
	if v := os.Getenv("SOAK_FAULT_ROUNDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("SOAK_FAULT_ROUNDS=%q: want a positive number", v)
		}
	}
	return n
}

// tally counts outcomes and logs them at the end of the test.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func newTally(t *testing.T) *tally {
	tl := &tally{m: map[string]int{}}
	t.Cleanup(func() {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		keys := make([]string, 0, len(tl.m))
		total := 0
		for k, n := range tl.m {
			keys = append(keys, k)
			total += n
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %-70s %d", k, tl.m[k])
		}
		t.Logf("FAULT TALLY %s: %d runs, failed %v:%s", t.Name(), total, t.Failed(), b.String())
	})
	return tl
}

func (tl *tally) add(key string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.m[key]++
}

// Production hangs at every cutover point, for longer than the catch-up
// timeout, then resumes.
func TestSoakFaultsProductionHung(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t); round++ {
		for _, point := range cutoverPoints {
			t.Run(fmt.Sprintf("%s/round-%d", point, round), func(t *testing.T) {
				tl.add(point + ": " + runFaultAt(t, point, false, hang(t, faultHold)))
			})
		}
	}
}

// Production hangs at the fence for longer than the abort's own patience
// (30 s): the abort gives up with production's state unknown and says so;
// once production answers, a re-run finishes the job.
func TestSoakFaultsProductionHungBeyondAbort(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t); round++ {
		for _, point := range []string{"fence statement", stepFenceProd} {
			t.Run(fmt.Sprintf("%s/round-%d", point, round), func(t *testing.T) {
				tl.add(point + ": " + runFaultAt(t, point, false, hang(t, abortPatience+5*time.Second)))
			})
		}
		t.Run(fmt.Sprintf("fence in flight/round-%d", round), func(t *testing.T) {
			tl.add("fence in flight, engine's own timeouts: " + runFenceInFlight(t, 0, DefaultCatchupTimeout+killConfirmWait+abortPatience+30*time.Second, 0))
		})
	}
}

// A fence statement in flight when production hangs, short timeouts.
func TestSoakFaultsFenceInFlight(t *testing.T) {
	defer func(w time.Duration) { killConfirmWait = w }(killConfirmWait)
	killConfirmWait = 500 * time.Millisecond
	tl := newTally(t)
	for round := 1; round <= soakRounds(t)*2; round++ {
		t.Run(fmt.Sprintf("resumes after the run/round-%d", round), func(t *testing.T) {
			tl.add("fence in flight, production resumes after the run: " + runFenceInFlight(t, 2*time.Second, 20*time.Second, 0))
		})
		t.Run(fmt.Sprintf("resumes during the abort/round-%d", round), func(t *testing.T) {
			tl.add("fence in flight, production resumes during the abort: " + runFenceInFlight(t, 10*time.Second, 20*time.Second, 3*time.Second))
		})
	}
}

// Production crashes (or shuts down cleanly) and restarts at every cutover
// point.
func TestSoakFaultsProductionRestartedDuringCutover(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t); round++ {
		for _, crash := range []bool{true, false} {
			kind := map[bool]string{true: "crash", false: "clean restart"}[crash]
			for _, point := range cutoverPoints {
				t.Run(fmt.Sprintf("%s/%s/round-%d", kind, point, round), func(t *testing.T) {
					tl.add(kind + " at " + point + ": " + runFaultAt(t, point, true, crashRestart(t, crash)))
				})
			}
		}
	}
}

// Production crashes (or shuts down cleanly) and restarts after every
// configure step.
func TestSoakFaultsProductionRestartedDuringConfigure(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t); round++ {
		for _, crash := range []bool{true, false} {
			kind := map[bool]string{true: "crash", false: "clean restart"}[crash]
			for _, after := range configureSteps {
				t.Run(fmt.Sprintf("%s/%s/round-%d", kind, after, round), func(t *testing.T) {
					took := runRestartDuringConfigure(t, after, crash)
					tl.add(fmt.Sprintf("%s after %s: ready after the re-run within %s", kind, after, bucket(took)))
				})
			}
		}
	}
}

// The rollback target restarts while it replicates under load.
func TestSoakFaultsRollbackTargetRestart(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t)*2; round++ {
		for _, crash := range []bool{false, true} {
			kind := map[bool]string{true: "crash", false: "clean restart"}[crash]
			t.Run(fmt.Sprintf("%s/round-%d", kind, round), func(t *testing.T) {
				tl.add(fmt.Sprintf("%s: recovered within %s", kind, bucket(runRollbackTargetRestart(t, crash))))
			})
		}
	}
}

// The replication connection is cut for various lengths of time.
func TestSoakFaultsReplicationConnectionCut(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t); round++ {
		for _, cut := range []time.Duration{500 * time.Millisecond, 2 * time.Second, 5 * time.Second} {
			t.Run(fmt.Sprintf("%s/round-%d", cut, round), func(t *testing.T) {
				tl.add(fmt.Sprintf("cut %s: recovered within %s", cut, bucket(runConnectionCut(t, cut))))
			})
		}
	}
}

// Status on a hung production or rollback target, repeated.
func TestSoakFaultsStatusOnHungServer(t *testing.T) {
	tl := newTally(t)
	for round := 1; round <= soakRounds(t); round++ {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			TestIntegrationFaultStatusOnHungServer(t)
			if !t.Failed() {
				tl.add("status on a hung production and a hung rollback target: bounded, ready again")
			}
		})
	}
}

// bucket rounds a recovery time up to a coarse bound for the tally.
func bucket(d time.Duration) string {
	for _, b := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, 70 * time.Second} {
		if d <= b {
			return b.String()
		}
	}
	return "more than 70s"
}
