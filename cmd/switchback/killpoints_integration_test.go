//go:build integration

package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// The kill points each scenario of the harness reaches, deterministically
// (the first pass of a wait is reached at its start).
var (
	// kpPlainPoints: a cutover that completes.
	kpPlainPoints = []string{
		"rollback/lock:before", "rollback/lock:held", "rollback/preconditions:before", "rollback/predict:wait",
		"rollback/close-in:wait", "rollback/preconditions:after", "rollback/fence:before", "rollback/fence:marked",
		"rollback/fence:after", "rollback/settle:before", "rollback/settle:after", "rollback/catch-up:before",
		"rollback/catch-up:wait", "rollback/catch-up:after", "rollback/stop-replication:before",
		"rollback/stop-replication:after", "rollback/unfence-target:before", "rollback/unfence-target:unfenced",
		"rollback/unfence-target:after", "rollback/reset-source:before", "rollback/reset-source:after",
	}
	// kpReversePoints: a cutover with --reverse.
	kpReversePoints = []string{"rollback/reverse:before", "rollback/reverse:after"}
	// kpAbortPoints: a cutover with --kill-privileged-sessions (an
	// enabled event, an idle root session) whose fenced catch-up is held
	// up by a table lock until it aborts. catch-up:wait#2 is the middle of
	// that wait.
	kpAbortPoints = []string{
		"rollback/stop-events:before", "rollback/stop-events:after", "rollback/kill-sessions:before",
		"rollback/kill-sessions:after", "rollback/catch-up:wait#2", "rollback/abort-confirm:before",
		"rollback/abort-confirm:after", "rollback/abort-unfence:before", "rollback/abort-unfence:after",
		"rollback/restart-events:before", "rollback/restart-events:after",
	}
	// kpChainPoints: a re-run that resumes a cutover killed after it
	// stopped replication, and aborts (see kpRollback.chain).
	kpChainPoints = []string{"rollback/abort-restart:before", "rollback/abort-restart:after"}
	// kpConfigurePoints: configure on its own, from scratch.
	kpConfigurePoints = []string{
		"configure/lock:before", "configure/lock:held", "configure/check-target:before", "configure/check-target:after",
		"configure/fence-target:before", "configure/fence-target:after", "configure/ensure-user:before",
		"configure/ensure-user:after", "configure/ensure-retention:before", "configure/ensure-retention:after",
		"configure/ensure-schema:before", "configure/ensure-schema:after", "configure/record-baseline:before",
		"configure/record-baseline:after", "configure/ensure-parallel:before", "configure/ensure-parallel:after",
		"configure/set-source:before", "configure/set-source:after", "configure/wait-threads:before",
		"configure/wait-threads:wait", "configure/wait-threads:probe", "configure/wait-threads:after",
	}
	// kpUnexercised are registered points no scenario reaches: the
	// target's re-fence in an abort runs only when its unfence failed.
	// refence-old is reached only when production was restarted after the
	// promotion (the server-fault tests in shared/replication reach it).
	kpUnexercised = []string{"rollback/abort-refence:before", "rollback/abort-refence:after",
		"rollback/refence-old:before", "rollback/refence-old:after"}
)

// kpRounds is one round per rollback kill point, each followed by a
// configure (killed at the next configure point while any is left) that
// readies the pair for the next round the other way.
func kpRounds() []kpRollback {
	var rounds []kpRollback
	cfg := slices.Clone(kpConfigurePoints)
	next := func() string {
		if len(cfg) == 0 {
			return ""
		}
		p := cfg[0]
		cfg = cfg[1:]
		return p
	}
	for _, p := range kpPlainPoints {
		rounds = append(rounds, kpRollback{point: p, configurePoint: next()})
	}
	for _, p := range kpReversePoints {
		rounds = append(rounds, kpRollback{point: p, reverse: true})
	}
	for _, p := range kpAbortPoints {
		rounds = append(rounds, kpRollback{point: p, abort: true, privileged: true, configurePoint: next()})
	}
	for _, p := range kpChainPoints {
		rounds = append(rounds, kpRollback{point: p, chain: true, configurePoint: next()})
	}
	return rounds
}

// TestIntegrationKillAtEveryPoint kills the real switchback process
// (SIGKILL, through SWITCHBACK_KILL_AT) at every kill point of rollback
// --execute and of configure, once each, on one pair rolled back and forth
// under an application write load (a user without SUPER), and runs the
// same command again each time (see the harness): it converges, no step
// is applied twice, production is fenced after a kill only while a
// cutover is in progress, both sides are never writable, no write is
// acknowledged by a fenced production, and no acknowledged write is lost.
// Every registered kill point but kpUnexercised is exercised.
func TestIntegrationKillAtEveryPoint(t *testing.T) {
	bin := buildCLI(t)
	start := time.Now()
	h := newKPHarness(t, bin, 200)
	for i, k := range kpRounds() {
		r := h.rollback(k)
		if len(r.NotReached) > 0 {
			t.Errorf("round %d (%s): the run was never killed at %s", i+1, k, strings.Join(r.NotReached, ", "))
		}
		if r.Outcome != replication.OutcomeCompleted {
			// Each scenario releases what held its cutover up before the
			// re-run: the re-run must finish the job.
			t.Errorf("round %d (%s): the re-run ended %s; want completed", i+1, k, r.Outcome)
		}
		t.Logf("round %2d  %-70s  kills %d  re-run %s  configure %s", i+1, k, r.Kills, r.Outcome, orDash(r.Configure))
	}
	res, v := h.finish()
	var missing []string
	for _, p := range replication.KillPoints {
		if h.Points[p.Name] == 0 && !slices.Contains(kpUnexercised, p.Name) {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("kill points never exercised: %s", strings.Join(missing, ", "))
	}
	if h.Completed == 0 || h.watch.Fences() == 0 {
		t.Errorf("%d cutovers completed, %d fences seen: the harness did not cut over", h.Completed, h.watch.Fences())
	}
	t.Logf("kill figures: %d kills at %d of %d kill points (%d never reached by any scenario), %d re-runs: %d completed, %d aborted cleanly; writes %d acknowledged, %d rejected by a fence, %d ambiguous (%d of them present); acknowledged but missing %d; acknowledged by a fenced production 0; both writable 0; %s",
		h.Kills, len(h.Points), len(replication.KillPoints), len(kpUnexercised), h.Reruns, h.Completed, h.Aborted,
		len(res.Acknowledged), len(res.Rejected), len(res.Failed), v.FailedPresent, len(v.Missing), time.Since(start).Round(time.Second))
}
