//go:build integration

package functions_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/killpoint"
	"github.com/switchback/switchback/shared/killpoint/killtest"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// The rollback and configure functions' real bootstraps, killed (SIGKILL
// through SWITCHBACK_KILL_AT) at a few representative kill points each,
// then invoked again with the same payload by a fresh process, as Lambda
// retries or on-call runs it again: the cutover converges to completed (the
// configure to configured), no step is applied twice (the deployment's
// history holds each once), production is fenced after the kill only while
// a cutover is in progress, both sides are never writable, no write is
// acknowledged by a fenced production, and no acknowledged write is lost.
// Every kill point is exercised on the bootstraps in make soak
// (killpoints_soak_test.go).
func TestIntegrationKillRollbackFunction(t *testing.T) {
	bin := lambdatest.Build(t, "./rollback")
	for _, point := range []string{"rollback/fence:after", "rollback/catch-up:wait", "rollback/unfence-target:unfenced"} {
		t.Run(point, func(t *testing.T) { killRollbackFunction(t, bin, point) })
	}
}

func TestIntegrationKillConfigureFunction(t *testing.T) {
	bin := lambdatest.Build(t, "./configure")
	for _, point := range []string{"configure/set-source:after", "configure/wait-threads:wait"} {
		t.Run(point, func(t *testing.T) { killConfigureFunction(t, bin, point) })
	}
}

// killRollbackFunction runs one killed rollback of a configured deployment
// under load, and its re-run, and checks them. It reports whether the
// function was killed (false: it finished before reaching point).
func killRollbackFunction(t *testing.T, bin, point string) bool {
	w := awstest.New(t)
	w.ConfigureNow()
	green, blue := w.AddApp()
	watch := killtest.Watch(t, [2]string{w.Green.DSN(awstest.AppUser, awstest.AppPassword, ""), w.Blue.DSN(awstest.AppUser, awstest.AppPassword, "")})
	pools := [2]*sql.DB{green, blue}
	var target atomic.Pointer[sql.DB] // where the application writes
	target.Store(green)
	load := loadgen.Start(t.Context(), target.Load, loadgen.Options{Workers: 2, Rate: 200, Timeline: true})
	defer load.Stop()
	waitAcknowledged(t, load, 50)

	payload := []byte(`{"deployment":"` + awstest.DeploymentID + `","dryRun":false,"confirm":"` + awstest.OldID + `","reason":"kill test"}`)
	first := lambdatest.Start(t, bin, append(w.Env(), killpoint.Env+"="+point))
	first.Timeout = 90 * time.Second
	res, err := first.Invoke(payload)
	var exit *lambdatest.ExitError
	killed := errors.As(err, &exit) && exit.Exit.Signaled
	switch {
	case killed:
		name, n, _ := strings.Cut(point, "#")
		if n == "" {
			n = "1"
		}
		if !strings.Contains(exit.Exit.Output, "killed at "+name+"#"+n) {
			t.Fatalf("the function was killed, but not at %s:\n%s", point, exit.Exit.Output)
		}
		wantProd, wantRB := killtest.ExpectAfterKill(point)
		if prod, rb := awstest.ReadServerState(t, w.Green).ReadOnly == "1", awstest.ReadServerState(t, w.Blue).ReadOnly == "1"; prod != wantProd || rb != wantRB {
			t.Fatalf("after the kill at %s: production read_only=%v, rollback cluster read_only=%v; want %v and %v", point, prod, rb, wantProd, wantRB)
		}
	case err != nil:
		t.Fatalf("invoke: %v\n%s", err, first.Output())
	default:
		t.Logf("%s was not reached: the function answered %s", point, res.Response)
	}
	first.Stop()
	// A killed run's lease lasts until it expires (SWITCHBACK_LEASE_SECONDS,
	// at least 60 s): the test lets that time pass by releasing it.
	expireLease(t, w)

	again := lambdatest.Start(t, bin, w.Env())
	again.Timeout = 90 * time.Second
	res, err = again.Invoke(payload)
	if err != nil || res.Error != nil {
		t.Fatalf("re-run after the kill at %s: %v %+v\n%s", point, err, res.Error, again.Output())
	}
	var out orchestrate.RollbackOutcome
	if err := json.Unmarshal(res.Response, &out); err != nil || out.Outcome != replication.OutcomeCompleted {
		t.Fatalf("re-run after the kill at %s: %v %s\n%s", point, err, res.Response, again.Output())
	}
	target.Store(blue) // the application is re-pointed
	waitAcknowledged(t, load, 20)
	result := load.Stop()
	if err := watch.CheckWrites(result.Writes, pools); err != nil {
		t.Fatal(err)
	}
	if v, err := loadgen.Verify(t.Context(), blue, loadgen.DefaultTable, result); err != nil {
		t.Fatalf("after the kill at %s: %v (%+v)", point, err, v)
	}
	if st := awstest.ReadServerState(t, w.Green); st.ReadOnly != "1" || awstest.ReadServerState(t, w.Blue).ReadOnly != "0" {
		t.Fatalf("after the re-run: old production read_only %s; want 1, and the new one 0", st.ReadOnly)
	}
	hist, err := w.Store.History(t.Context(), awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	for step, most := range map[string]int{"fence production": 1, "unfence rollback target": 1, "reset replication source on rollback target": 1} {
		if n := historyCount(hist, step, replication.StepDone); n > most || (step == "fence production" && n != 1) {
			t.Errorf("after the kill at %s: %q done %d times in the history; want once at most (the fence exactly once)", point, step, n)
		}
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil || rec.Phase != orchestrate.PhaseRolledBack {
		t.Fatalf("record after the re-run: %+v %v; want rolled-back", rec.Phase, err)
	}
	return killed
}

// killConfigureFunction kills the configure function that capture invoked
// at point, runs it again with the same payload, and checks the pair was
// configured once.
func killConfigureFunction(t *testing.T, bin, point string) bool {
	w := awstest.New(t)
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	calls := w.Lambda.Calls(awstest.ConfigureFn)
	if len(calls) != 1 {
		t.Fatalf("capture invoked configure %d times; want once", len(calls))
	}
	first := lambdatest.Start(t, bin, append(w.Env(), killpoint.Env+"="+point))
	res, err := first.Invoke(calls[0].Payload)
	var exit *lambdatest.ExitError
	killed := errors.As(err, &exit) && exit.Exit.Signaled
	switch {
	case killed:
		name, n, _ := strings.Cut(point, "#")
		if n == "" {
			n = "1"
		}
		if !strings.Contains(exit.Exit.Output, "killed at "+name+"#"+n) {
			t.Fatalf("the function was killed, but not at %s:\n%s", point, exit.Exit.Output)
		}
		if prod, rb := awstest.ReadServerState(t, w.Green).ReadOnly == "1", awstest.ReadServerState(t, w.Blue).ReadOnly == "1"; prod || !rb {
			t.Fatalf("after the kill at %s: production read_only=%v, rollback cluster read_only=%v; want writable and fenced", point, prod, rb)
		}
	case err != nil:
		t.Fatalf("invoke: %v\n%s", err, first.Output())
	default:
		t.Logf("%s was not reached: the function answered %s", point, res.Response)
	}
	first.Stop()
	expireLease(t, w)
	again := lambdatest.Start(t, bin, w.Env())
	res, err = again.Invoke(calls[0].Payload)
	if err != nil || res.Error != nil {
		t.Fatalf("re-run after the kill at %s: %v %+v\n%s", point, err, res.Error, again.Output())
	}
	var out orchestrate.ConfigureOutcome
	if err := json.Unmarshal(res.Response, &out); err != nil || (out.Outcome != replication.OutcomeConfigured && out.Outcome != replication.OutcomeUnchanged) {
		t.Fatalf("re-run after the kill at %s: %v %s\n%s", point, err, res.Response, again.Output())
	}
	w.SkipInvocations()
	// Configured from the coordinates, replication set up exactly once over
	// both runs, the old cluster fenced and replicating.
	w.AssertConfiguredOnce(w.Coords)
	var users int
	if err := w.Green.DBT(t).QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = ?", replication.DefaultReplicationUser).Scan(&users); err != nil || users != 1 {
		t.Fatalf("%d replication users on production (%v); want exactly one", users, err)
	}
	return killed
}

// expireLease ends the lease a killed run left on the deployment, as its
// expiry would.
func expireLease(t *testing.T, w *awstest.World) {
	t.Helper()
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Lease != nil {
		if err := w.Store.ReleaseLease(t.Context(), awstest.DeploymentID, rec.Lease.Holder); err != nil {
			t.Fatal(err)
		}
	}
}

func historyCount(hist []orchestrate.HistoryEntry, step string, outcome replication.StepOutcome) int {
	n := 0
	for _, h := range hist {
		if h.Step == step && h.Outcome == string(outcome) {
			n++
		}
	}
	return n
}

func waitAcknowledged(t *testing.T, load *loadgen.Writer, n int) {
	t.Helper()
	start := load.Counts().Acknowledged
	deadline := time.Now().Add(15 * time.Second)
	for load.Counts().Acknowledged < start+n {
		if time.Now().After(deadline) {
			t.Fatalf("the application's writes do not progress: %+v", load.Counts())
		}
		time.Sleep(5 * time.Millisecond) // polling the load's progress, bounded by the deadline
	}
}
