//go:build integration && soak

package main

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// TestSoakKillCLI kills the real switchback process at every kill point of
// every scenario of the harness once (the fast subset's rounds, shuffled),
// then at kill points chosen at random (a seed that is logged: SOAK_SEED
// repeats a run) over every scenario, with a random pass (1 to 3) of the
// waits and, for aborts, the hold-up kept through the re-run (which must
// then abort cleanly) a quarter of the time, until
// SOAK_KILL_CUTOVERS (default 100) cutovers were killed, on one pair
// rolled back and forth under an application write load, and checks each
// round as the fast subset does; it ends with the Jepsen-style accounting
// of the whole run: acknowledged but missing (must be 0), unacknowledged
// (ambiguous) but present (counted), writes acknowledged by a fenced
// production (must be 0), both sides writable (must be 0). Each round
// logs one summary line, the run one "soak-kill figures" line
// (RELIABILITY.md quotes it). Run it with make soak-kill.
func TestSoakKillCLI(t *testing.T) {
	want := 100
	if v, err := strconv.Atoi(os.Getenv("SOAK_KILL_CUTOVERS")); err == nil && v > 0 {
		want = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("soak-kill: seed %d (SOAK_SEED=%d repeats it), %d killed cutovers wanted", seed, seed, want)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	waitPass := func(p string) string {
		if strings.HasSuffix(p, ":wait") {
			return p + "#" + strconv.Itoa(1+rng.IntN(3))
		}
		return p
	}
	pick := func() kpRollback {
		cfg := ""
		if rng.IntN(2) == 0 {
			cfg = waitPass(kpConfigurePoints[rng.IntN(len(kpConfigurePoints))])
		}
		switch n := rng.IntN(20); {
		case n < 12:
			return kpRollback{point: waitPass(kpPlainPoints[rng.IntN(len(kpPlainPoints))]), configurePoint: cfg}
		case n < 14:
			p := kpPlainPoints[rng.IntN(len(kpPlainPoints))]
			if p == "rollback/unfence-target:unfenced" {
				// The promotion's position is lost there: --reverse cannot
				// set up the way back (configure on its own does).
				return kpRollback{point: p, configurePoint: cfg}
			}
			if rng.IntN(2) == 0 {
				p = kpReversePoints[rng.IntN(len(kpReversePoints))]
			}
			return kpRollback{point: waitPass(p), reverse: true}
		case n < 18:
			p := kpAbortPoints[rng.IntN(len(kpAbortPoints))]
			if rng.IntN(3) == 0 {
				p = kpPlainPoints[rng.IntN(len(kpPlainPoints))]
			}
			return kpRollback{point: waitPass(p), abort: true, privileged: rng.IntN(4) != 0, holdLock: rng.IntN(4) == 0, configurePoint: cfg}
		default:
			return kpRollback{point: kpChainPoints[rng.IntN(len(kpChainPoints))], chain: true, configurePoint: cfg}
		}
	}
	// First every scenario's every point once (kpRounds), in an order of
	// the seed's; then points chosen at random.
	first := kpRounds()
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	bin := buildCLI(t)
	start := time.Now()
	h := newKPHarness(t, bin, 100)
	rounds, cutoverKills, notReached := 0, 0, 0
	for cutoverKills < want || rounds < len(first) {
		var k kpRollback
		if rounds < len(first) {
			k = first[rounds]
		} else {
			k = pick()
		}
		rounds++
		before := h.Kills
		r := h.rollback(k)
		if r.CutoverKilled {
			cutoverKills++
		}
		notReached += len(r.NotReached)
		c := h.load.Counts()
		t.Logf("soak-kill round %3d  %-75s  kills %d  re-run %-9s  configure %-10s  not reached %s  writes %d ack %d rejected %d ambiguous  (%s)",
			rounds, k, h.Kills-before, r.Outcome, orDash(r.Configure), orDash(strings.Join(r.NotReached, ",")),
			c.Acknowledged, c.Rejected, c.Failed, time.Since(start).Round(time.Second))
	}
	res, v := h.finish()
	var never []string
	for _, p := range replication.KillPoints {
		if h.Points[p.Name] == 0 {
			never = append(never, p.Name)
		}
	}
	t.Logf("soak-kill figures: seed %d; %d rounds, %d killed cutovers, %d kills in all at %d of %d kill points (never: %s), %d chosen points not reached; re-runs %d completed, %d aborted cleanly, %d refused with nothing fenced (held up); writes %d acknowledged, %d rejected by a fence, %d ambiguous, %d ambiguous present; acknowledged but missing %d; acknowledged by a fenced production 0; both writable 0; %s",
		seed, rounds, cutoverKills, h.Kills, len(h.Points), len(replication.KillPoints), orDash(strings.Join(never, ", ")), notReached,
		h.Completed, h.Aborted, h.Refused, len(res.Acknowledged), len(res.Rejected), len(res.Failed), v.FailedPresent, len(v.Missing),
		time.Since(start).Round(time.Second))
}
