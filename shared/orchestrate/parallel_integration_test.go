//go:build integration

package orchestrate_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

const (
	stepGroup   = "ensure parallel apply (parameter group)"
	stepRestart = "restart replication for parallel apply"
	stepSQL     = "ensure parallel apply on rollback target"
)

// parallelModifies are the ModifyDBClusterParameterGroup calls of the
// rollback cluster's group that set parallel-apply parameters, as
// name=value@method.
func parallelModifies(w *awstest.World) [][]string {
	var out [][]string
	for _, c := range w.RDS.Calls("ModifyDBClusterParameterGroup") {
		if c.Params.Get("DBClusterParameterGroupName") != awstest.OldGroup {
			continue
		}
		var set []string
		for i := 1; c.Params.Get("Parameters.Parameter."+strconv.Itoa(i)+".ParameterName") != ""; i++ {
			p := "Parameters.Parameter." + strconv.Itoa(i) + "."
			if name := c.Params.Get(p + "ParameterName"); name != "read_only" {
				set = append(set, name+"="+c.Params.Get(p+"ParameterValue")+"@"+c.Params.Get(p+"ApplyMethod"))
			}
		}
		if len(set) > 0 {
			out = append(out, set)
		}
	}
	return out
}

func step(t *testing.T, steps []replication.Step, name string) replication.Step {
	t.Helper()
	for _, s := range steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", name, steps)
	return replication.Step{}
}

func stepIndex(steps []replication.Step, name string) int {
	for i, s := range steps {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func globalInt(t *testing.T, w *awstest.World, name string) string {
	t.Helper()
	var v string
	if err := w.Blue.DBT(t).QueryRow("SELECT @@global." + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// configureOnce captures the deployment's facts and runs its configure
// invocation, returning the outcome.
func configureOnce(t *testing.T, w *awstest.World) orchestrate.ConfigureOutcome {
	t.Helper()
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	outs := w.Drain()
	if len(outs) != 1 || outs[0].Outcome != "configured" {
		t.Fatalf("configure: %+v", outs)
	}
	return outs[0]
}

// The old cluster (Aurora MySQL 2.12.1) lists the parallel-apply parameters
// at their defaults: configure sets the type, the commit order and the
// worker count in its own DB cluster parameter group — one change, all
// dynamic, immediate — before replication starts, reads the group back,
// sees the writer report them, and records it; the monitor then has no
// parallel-apply warning.
func TestIntegrationConfigureSetsParallelApplyInGroup(t *testing.T) {
	w := awstest.New(t)
	out := configureOnce(t, w)
	w.AssertConfiguredOnce(w.Coords)

	s := step(t, out.Steps, stepGroup)
	if s.Outcome != replication.StepDone {
		t.Fatalf("step %+v", s)
	}
	for _, want := range []string{
		"set slave_parallel_type=LOGICAL_CLOCK (was DATABASE, immediate), slave_preserve_commit_order=1 (was (engine default), immediate), slave_parallel_workers=4 (was 0, immediate) in " + awstest.OldGroup,
		"the writer reports 4 workers",
	} {
		if !strings.Contains(s.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, s.Detail)
		}
	}
	if i, j := stepIndex(out.Steps, stepGroup), stepIndex(out.Steps, "set source and start replication"); i < 0 || j < 0 || i > j {
		t.Errorf("the group was set at step %d, replication started at step %d: %+v", i, j, out.Steps)
	}
	if stepIndex(out.Steps, stepRestart) >= 0 {
		t.Error("replication restarted though it was not running")
	}
	// The SQL step finds the writer as the group made it.
	if s := step(t, out.Steps, stepSQL); s.Outcome != replication.StepAlreadyDone {
		t.Errorf("SQL step %+v", s)
	}
	if got := parallelModifies(w); len(got) != 1 || strings.Join(got[0], " ") != "slave_parallel_type=LOGICAL_CLOCK@immediate slave_preserve_commit_order=1@immediate slave_parallel_workers=4@immediate" {
		t.Errorf("parameter changes %q", got)
	}
	g := w.RDS.ParameterGroup(awstest.OldGroup)
	if g["slave_parallel_workers"] != "4" || g["slave_preserve_commit_order"] != "1" || g["slave_parallel_type"] != "LOGICAL_CLOCK" || g["read_only"] != "1" {
		t.Errorf("group %v", g)
	}
	if v := globalInt(t, w, "slave_parallel_threads"); v != "4" {
		t.Errorf("writer applies with %s threads", v)
	}
	// In the history, like every other step.
	hist, err := w.Store.History(t.Context(), awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range hist {
		if h.Step == stepGroup && h.Outcome == "done" && strings.Contains(h.Detail, "slave_parallel_workers=4") {
			found = true
		}
	}
	if !found {
		t.Errorf("no history entry for %q", stepGroup)
	}
	w.Green.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 86400")
	run := runMonitor(t, w.Orch)
	for _, warn := range run.rep.Pairs[0].Warnings {
		if strings.Contains(warn, "parallel") {
			t.Errorf("monitor warns about parallel apply: %s", warn)
		}
	}
}

// A group that already holds parallel apply with commit order preserved
// (an operator's 8 workers) is left as it is: no change, already-done.
func TestIntegrationConfigureParallelApplyAlreadyHeld(t *testing.T) {
	w := awstest.New(t)
	w.RDS.DefineParameters(awstest.OldGroup,
		awsfake.RDSGroupParameter{Name: "slave_parallel_workers", Value: "8", AllowedValues: "0-1024"},
		awsfake.RDSGroupParameter{Name: "slave_parallel_type", Value: "LOGICAL_CLOCK", AllowedValues: "DATABASE,LOGICAL_CLOCK"},
		awsfake.RDSGroupParameter{Name: "slave_preserve_commit_order", Value: "1", AllowedValues: "0,1"})
	w.Blue.ExecT(t, "SET GLOBAL slave_parallel_threads = 8") // what Aurora applied from the group
	out := configureOnce(t, w)
	s := step(t, out.Steps, stepGroup)
	if s.Outcome != replication.StepAlreadyDone || !strings.Contains(s.Detail, awstest.OldGroup+" holds slave_parallel_workers=8, slave_preserve_commit_order=1, slave_parallel_type=LOGICAL_CLOCK; the writer reports 8 workers") {
		t.Errorf("step %+v", s)
	}
	if got := parallelModifies(w); len(got) != 0 {
		t.Errorf("parameter changes %q; want none", got)
	}
}

// Aurora MySQL 3: replica_preserve_commit_order and
// replica_parallel_workers, in the group's own words.
func TestIntegrationConfigureParallelApplyAurora3(t *testing.T) {
	w := awstest.New(t)
	c, _ := w.RDS.Cluster(awstest.OldID)
	c.EngineVersion = "8.0.mysql_aurora.3.08.0"
	w.RDS.AddCluster(c)
	w.RDS.AddParameterGroup(awstest.OldGroup, map[string]string{"read_only": "0"})
	w.RDS.DefineParameters(awstest.OldGroup, awstest.Aurora3ParallelParameters...)
	out := configureOnce(t, w)
	w.AssertConfiguredOnce(w.Coords)
	if s := step(t, out.Steps, stepGroup); s.Outcome != replication.StepDone {
		t.Errorf("step %+v", s)
	}
	if got := parallelModifies(w); len(got) != 1 || strings.Join(got[0], " ") != "replica_preserve_commit_order=1@immediate replica_parallel_workers=4@immediate" {
		t.Errorf("parameter changes %q", got)
	}
	if v := globalInt(t, w, "slave_parallel_threads"); v != "4" {
		t.Errorf("writer applies with %s threads", v)
	}
}

// A static parameter: configure sets it pending-reboot — the worker count
// with it, so that it never applies ahead of commit order — reboots
// nothing, and records that the change waits for the writer's next reboot
// and what that costs.
func TestIntegrationConfigureParallelApplyStatic(t *testing.T) {
	w := awstest.New(t)
	params := append([]awsfake.RDSGroupParameter(nil), awstest.Aurora2ParallelParameters...)
	params[2].ApplyType = "static" // slave_preserve_commit_order
	w.RDS.DefineParameters(awstest.OldGroup, params...)
	out := configureOnce(t, w)
	w.AssertConfiguredOnce(w.Coords)
	s := step(t, out.Steps, stepGroup)
	for _, want := range []string{"slave_preserve_commit_order and slave_parallel_workers are static", "applies at the writer's next reboot", replication.ParallelOneThreadCost, "switchback never reboots the cluster"} {
		if !strings.Contains(s.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, s.Detail)
		}
	}
	if s.Outcome != replication.StepDone {
		t.Errorf("outcome %s", s.Outcome)
	}
	if got := parallelModifies(w); len(got) != 1 || strings.Join(got[0], " ") != "slave_parallel_type=LOGICAL_CLOCK@immediate slave_preserve_commit_order=1@pending-reboot slave_parallel_workers=4@pending-reboot" {
		t.Errorf("parameter changes %q", got)
	}
	if !w.RDS.PendingReboot(awstest.OldGroup) {
		t.Error("the group is not pending a reboot")
	}
}

// A group that cannot hold commit order preserved (no
// slave_preserve_commit_order): the worker count is not raised either,
// configure goes on, the step says why and what it costs — and so does
// the monitor, every run.
func TestIntegrationConfigureParallelApplyBlocked(t *testing.T) {
	w := awstest.New(t)
	w.RDS.AddParameterGroup(awstest.OldGroup, map[string]string{"read_only": "0"})
	w.RDS.DefineParameters(awstest.OldGroup, awstest.Aurora2ParallelParameters[:2]...)
	out := configureOnce(t, w)
	w.AssertConfiguredOnce(w.Coords)
	s := step(t, out.Steps, stepGroup)
	if s.Outcome != replication.StepSkipped || !strings.Contains(s.Detail, "has no slave_preserve_commit_order parameter") || !strings.Contains(s.Detail, replication.ParallelOneThreadCost) {
		t.Errorf("step %+v", s)
	}
	if got := parallelModifies(w); len(got) != 0 {
		t.Errorf("parameter changes %q; want none", got)
	}
	w.Green.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 86400")
	w.Orch.Settings.MonitorPairTimeout = 10 * time.Second
	run := runMonitor(t, w.Orch)
	var warn string
	for _, x := range run.rep.Pairs[0].Warnings {
		if strings.Contains(x, "DB cluster parameter group") {
			warn = x
		}
	}
	for _, want := range []string{"rollback cluster " + awstest.OldID + "'s DB cluster parameter group " + awstest.OldGroup + " does not hold parallel apply with commit order preserved",
		"slave_parallel_workers=0", "switchback cannot set it", "has no slave_preserve_commit_order parameter"} {
		if !strings.Contains(warn, want) {
			t.Errorf("monitor warning lacks %q: %q", want, warn)
		}
	}
}

// A configure run that died after starting replication: the next run
// finds replication running from production, stops it before changing
// the group (a dynamic change of the worker count applies at the next
// START REPLICA, and the writer refuses it while replication runs), starts
// it again as a step of its own, and the pair replicates with 4 workers.
func TestIntegrationConfigureParallelApplyRestartsRunningReplication(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	w.SkipInvocations()
	// What the dead run did: replication from production, parallel apply
	// not set yet.
	prod, err := replication.Connect(t.Context(), "production", w.Green.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	rb, err := replication.Connect(t.Context(), "rollback target", w.Blue.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	if _, err := replication.Configure(t.Context(), replication.ConfigureRequest{Production: prod, Rollback: rb,
		Start:      replication.BinlogPosition{File: w.Coords.File, Position: w.Coords.Position},
		SourceHost: w.Green.Host, SourcePort: w.Green.Port, ParallelWorkers: -1}); err != nil {
		t.Fatal(err)
	}
	if v := globalInt(t, w, "slave_parallel_threads"); v != "0" {
		t.Fatalf("threads %s before the run", v)
	}
	out, err := w.Orch.Configure(t.Context(), orchestrate.ConfigureRequest{Deployment: awstest.DeploymentID})
	if err != nil || out.Outcome != "configured" {
		t.Fatalf("configure: %v %+v", err, out)
	}
	s := step(t, out.Steps, stepGroup)
	if s.Outcome != replication.StepDone || !strings.Contains(s.Detail, "replication was stopped first") {
		t.Errorf("step %+v", s)
	}
	r := step(t, out.Steps, stepRestart)
	if r.Outcome != replication.StepDone || !strings.Contains(r.Detail, "takes effect at the next START REPLICA") {
		t.Errorf("restart step %+v", r)
	}
	if i, j := stepIndex(out.Steps, stepGroup), stepIndex(out.Steps, stepRestart); j != i+1 {
		t.Errorf("restart at step %d, group at %d", j, i)
	}
	if v := globalInt(t, w, "slave_parallel_threads"); v != "4" {
		t.Errorf("threads %s after the run", v)
	}
	rs, err := rb.ReplicaStatus(t.Context())
	if err != nil || !rs.IOThreadRunning || !rs.SQLThreadRunning {
		t.Fatalf("replication after the run: %+v %v", rs, err)
	}
	w.Green.ExecT(t, "INSERT INTO shop.orders VALUES (77, 'after the restart')")
	awstest.WaitRow(t, w.Blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 77", "after the restart")
}

// Replication that runs from somewhere else: the group is left alone and
// configure refuses the pair, as before.
func TestIntegrationConfigureParallelApplyForeignReplicationUntouched(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	w.SkipInvocations()
	// Blue replicates from a third server (here: green under another
	// address) that configure does not know.
	w.Blue.ExecT(t, "CHANGE MASTER TO MASTER_HOST='localhost', MASTER_PORT="+strconv.Itoa(w.Green.Port)+", MASTER_USER='root', MASTER_USE_GTID=no, MASTER_LOG_FILE='"+w.Coords.File+"', MASTER_LOG_POS=4",
		"START SLAVE IO_THREAD")
	out, err := w.Orch.Configure(t.Context(), orchestrate.ConfigureRequest{Deployment: awstest.DeploymentID})
	if out.Outcome != "needs-attention" {
		t.Fatalf("configure: %v %+v; want needs-attention", err, out)
	}
	s := step(t, out.Steps, stepGroup)
	if s.Outcome != replication.StepSkipped || !strings.Contains(s.Detail, "not from production") {
		t.Errorf("step %+v", s)
	}
	if got := parallelModifies(w); len(got) != 0 {
		t.Errorf("parameter changes %q; want none", got)
	}
}
