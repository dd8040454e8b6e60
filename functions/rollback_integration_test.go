//go:build integration

package functions_test

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// The rollback function's real bootstrap, invoked as on-call invokes it
// (the caller in the client context), against a configured deployment on
// real servers:
//   - a dry run (no "dryRun" at all) changes nothing anywhere: read_only,
//     binlog positions and replica status on both servers, parameter
//     groups, clusters, the application's secret, the record and its
//     history, notifications;
//   - an execute without the right confirm, for an unknown deployment, or
//     with wrong types fails the invocation with an error naming the
//     cause, and changes nothing (a refused execute of the deployment
//     leaves one history line);
//   - an execute with the right confirm completes under load with zero
//     loss (every write acknowledged before the fence is on the new
//     production), re-points the application's secret, and records every
//     step with the caller and the reason.
func TestIntegrationRollbackFunction(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	green, blue := w.AddApp()
	fn := lambdatest.Start(t, lambdatest.Build(t, "./rollback"), w.Env())
	// Room for the three catch-up waits (clamped to 5 s each) and the
	// abort's reserve: a shorter deadline is refused before anything is
	// fenced (TestIntegrationRollbackDeadline).
	fn.Timeout = 90 * time.Second
	fn.Server().SetClientContext(`{"custom":{"caller":"alice@oncall"},"env":{},"Client":{}}`)
	invoke := func(payload string) lambdatest.Result {
		t.Helper()
		res, err := fn.Invoke([]byte(payload))
		if err != nil {
			t.Fatalf("invoke %s: %v\n%s", payload, err, fn.Output())
		}
		return res
	}
	outcome := func(res lambdatest.Result) orchestrate.RollbackOutcome {
		t.Helper()
		if res.Error != nil {
			t.Fatalf("function error %+v\n%s", res.Error, fn.Output())
		}
		var out orchestrate.RollbackOutcome
		if err := json.Unmarshal(res.Response, &out); err != nil {
			t.Fatalf("response %s: %v", res.Response, err)
		}
		return out
	}

	before := w.Snapshot()
	out := outcome(invoke(`{"deployment":"` + awstest.DeploymentID + `","repoint":{"secret":{"secretId":"` + awstest.AppSecret + `"},"rename":{}}}`))
	if !out.DryRun || out.Outcome != replication.OutcomePlanned || out.Caller != "alice@oncall" || out.Report == nil || len(out.Repoint) != 2 {
		t.Fatalf("dry run answered %+v", out)
	}
	if diff := before.Diff(w.Snapshot()); diff != "" {
		t.Fatalf("the dry run changed:\n%s", diff)
	}

	refusals := []struct{ payload, errType, want string }{
		{`{"deployment":"` + awstest.DeploymentID + `","dryRun":false,"confirm":"orders-prod","reason":"latency"}`, "RollbackRefused", `"confirm" "orders-prod" is not the rollback cluster's identifier "orders-prod-old1"`},
		{`{"deployment":"` + awstest.DeploymentID + `","dryRun":false,"reason":"latency"}`, "RollbackRefused", `executing needs "confirm"`},
		{`{"deployment":"bgd-nosuchdeployment","dryRun":false,"confirm":"orders-prod-old1","reason":"latency"}`, "RollbackRefused", "no deployment bgd-nosuchdeployment"},
		{`{"deployment":"` + awstest.DeploymentID + `","dryRun":"false","confirm":"orders-prod-old1","reason":"latency"}`, "InvalidRollbackRequest", `"dryRun" must be true or false, not a string`},
		{`{"deployment":"` + awstest.DeploymentID + `","dryRun":false,"confirm":"orders-prod-old1","reason":"latency","maxLagSeconds":"5"}`, "InvalidRollbackRequest", `"maxLagSeconds" must be an integer, not a string`},
		{`{"deployment":"` + awstest.DeploymentID + `","dry_run":false,"confirm":"orders-prod-old1","reason":"latency"}`, "InvalidRollbackRequest", `unknown field "dry_run"`},
	}
	for _, r := range refusals {
		res := invoke(r.payload)
		if res.Error == nil || res.Error.Type != r.errType || !strings.Contains(res.Error.Message, r.want) {
			t.Errorf("%s: answered %s %+v; want a %s error containing %q", r.payload, res.Response, res.Error, r.errType, r.want)
		}
	}
	after := w.Snapshot()
	if after.History != before.History+2 {
		t.Errorf("history grew by %d; want 2 (the two refused executes of the deployment)", after.History-before.History)
	}
	after.History = before.History
	if diff := before.Diff(after); diff != "" {
		t.Fatalf("a refusal changed:\n%s", diff)
	}

	// Paced: an unthrottled load on 2 shared cores can leave the rollback
	// target seconds behind, and the gate then (rightly) refuses to fence.
	load := loadgen.Start(t.Context(), func() *sql.DB { return green }, loadgen.Options{Workers: 4, Rate: 1000})
	deadline := time.Now().Add(10 * time.Second)
	for load.Counts().Acknowledged < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the load's progress, bounded by the deadline
	}
	res := invoke(`{"deployment":"` + awstest.DeploymentID + `","dryRun":false,"confirm":"orders-prod-old1","reason":"p99 latency doubled","repoint":{"secret":{"secretId":"` + awstest.AppSecret + `"}}}`)
	for load.Counts().Rejected < 4 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(10 * time.Millisecond) // the application keeps trying the fenced production
	}
	result := load.Stop()
	out = outcome(res)
	if out.Outcome != replication.OutcomeCompleted || out.DryRun || len(out.Repoint) != 1 || out.Repoint[0].Outcome != replication.StepDone {
		t.Fatalf("execute answered %+v\n%s", out, fn.Output())
	}
	if v, err := loadgen.Verify(t.Context(), blue, loadgen.DefaultTable, result); err != nil || !v.OK() {
		t.Fatalf("zero loss on the new production: %v %+v (%s)", err, v, result)
	}
	if len(result.Acknowledged) < 200 || len(result.Failed) > 0 {
		t.Errorf("load: %s", result)
	}
	st := awstest.ReadServerState(t, w.Green)
	if st.ReadOnly != "1" || awstest.ReadServerState(t, w.Blue).ReadOnly != "0" {
		t.Errorf("old production read_only %s, new production read_only %s; want 1 and 0", st.ReadOnly, awstest.ReadServerState(t, w.Blue).ReadOnly)
	}
	if v := w.SM.SecretVersions(awstest.AppSecret); len(v) != 2 || !strings.Contains(v[0].Value, `"port":`+strconv.Itoa(w.Blue.Port)) {
		t.Errorf("application secret %+v", v)
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil || rec.Phase != orchestrate.PhaseRolledBack || rec.Lease != nil && rec.Lease.Expires.After(time.Now()) {
		t.Fatalf("record %+v (%v): want rolled-back, lease released", rec, err)
	}
	hist, _ := w.Store.History(t.Context(), awstest.DeploymentID)
	steps := 0
	for _, h := range hist {
		if strings.HasPrefix(h.Actor, "rollback/"+res.RequestID+" for alice@oncall") && strings.Contains(h.Detail, "[reason: p99 latency doubled]") {
			steps++
		}
	}
	if steps < 8 {
		t.Errorf("%d history lines carry the request, the caller and the reason; want every step", steps)
	}
	logs := fn.Stop().Output
	if strings.Contains(logs, awstest.AdminPassword) {
		t.Error("the rollback function logged the admin password")
	}
}
