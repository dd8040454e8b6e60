//go:build integration

package replication

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

const stepParallel = "ensure parallel apply on rollback target"

func parallelSettings(t *testing.T, p *pair) (threads, mode string) {
	t.Helper()
	if err := p.blue.DBT(t).QueryRow("SELECT @@global.slave_parallel_threads, @@global.slave_parallel_mode").Scan(&threads, &mode); err != nil {
		t.Fatal(err)
	}
	return threads, mode
}

func stepNamed(steps []Step, name string) Step {
	for _, s := range steps {
		if s.Name == name {
			return s
		}
	}
	return Step{}
}

// TestIntegrationConfigureParallelApply: configure sets 4 optimistic
// applier threads on a fresh MariaDB rollback target before replication
// starts, a re-run changes nothing, writes still flow and a rollback
// still completes exactly.
func TestIntegrationConfigureParallelApply(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second}
	res, err := Configure(t.Context(), req)
	if err != nil {
		t.Fatalf("configure: %v\n%+v", err, res)
	}
	if s := stepNamed(res.Steps, stepParallel); s.Outcome != StepDone {
		t.Errorf("step %q = %+v; want done", stepParallel, s)
	}
	if threads, mode := parallelSettings(t, p); threads != "4" || mode != "optimistic" {
		t.Errorf("slave_parallel_threads=%s slave_parallel_mode=%s; want 4 optimistic", threads, mode)
	}

	// Concurrent-looking load: many small transactions replicate in order.
	greenDB := p.green.DBT(t)
	for i := 0; i < 200; i++ {
		if _, err := greenDB.Exec(fmt.Sprintf("INSERT INTO shop.orders VALUES (%d, 'parallel-%d')", 1000+i, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitRow(t, p.blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 1199", "parallel-199")

	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil || !obs.Ready {
		t.Fatalf("status: %v %+v", err, obs)
	}
	for _, w := range obs.Warnings {
		if strings.Contains(w, "one thread") || strings.Contains(w, "parallel") {
			t.Errorf("status warns about parallel apply that is set: %q", w)
		}
	}

	again, err := Configure(t.Context(), req)
	if err != nil || again.Outcome != OutcomeUnchanged {
		t.Fatalf("re-run: %v %q %+v", err, again.Outcome, again.Steps)
	}
	if s := stepNamed(again.Steps, stepParallel); s.Outcome != StepAlreadyDone {
		t.Errorf("re-run step %q = %+v; want already-done", stepParallel, s)
	}

	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (2000, 'before-rollback')")
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("rollback: %v %+v", err, rep)
	}
	assertCutoverDone(t, p)
}

// TestIntegrationConfigureParallelApplyLeavesRunningReplica: a rollback
// target that already replicates with one thread is left as it is (changing
// it would need replication stopped); configure says so without failing,
// and status warns what it costs.
func TestIntegrationConfigureParallelApplyLeavesRunningReplica(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second, ParallelWorkers: -1}
	res, err := Configure(t.Context(), req)
	if err != nil {
		t.Fatalf("configure: %v\n%+v", err, res)
	}
	if s := stepNamed(res.Steps, stepParallel); s.Outcome != StepSkipped {
		t.Errorf("parallel apply off by request: step = %+v; want skipped", s)
	}
	if threads, _ := parallelSettings(t, p); threads != "0" {
		t.Fatalf("slave_parallel_threads=%s; want the server default 0 left alone", threads)
	}
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil || !obs.Ready {
		t.Fatalf("status: %v %+v (a one-thread applier must not make the pair not ready)", err, obs)
	}
	if !strings.Contains(strings.Join(obs.Warnings, "\n"), "applies with one thread") {
		t.Errorf("status warnings %q; want the one-thread warning", obs.Warnings)
	}

	req.ParallelWorkers = 0 // the default, 4, while replication runs
	again, err := Configure(t.Context(), req)
	if err != nil || again.Outcome != OutcomeUnchanged {
		t.Fatalf("re-run: %v %q %+v", err, again.Outcome, again.Steps)
	}
	s := stepNamed(again.Steps, stepParallel)
	if s.Outcome != StepSkipped || !strings.Contains(s.Detail, "replication already runs") || !strings.Contains(s.Detail, "one thread") {
		t.Errorf("re-run step = %+v; want skipped, saying replication runs and what it costs", s)
	}
	if threads, _ := parallelSettings(t, p); threads != "0" {
		t.Errorf("slave_parallel_threads=%s; want it left at 0 under a running replica", threads)
	}
}
