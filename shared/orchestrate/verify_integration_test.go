//go:build integration

package orchestrate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awslambda"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/preflight"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

// verifyFn is the verify function's name: a verify invocation continues
// itself by invoking it.
const verifyFn = "switchback-verify"

// verifyRows rows compared one per chunk take several seconds: more than
// one invocation of a second or two.
const verifyRows = 4000

// seedVerifyTable creates shop.big with verifyRows rows on production and
// waits until the rollback cluster has them.
func seedVerifyTable(t *testing.T, w *awstest.World) {
	t.Helper()
	w.Green.ExecT(t,
		"CREATE TABLE shop.big (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)",
		fmt.Sprintf("INSERT INTO shop.big SELECT seq, CONCAT('row-', seq) FROM shop.seq_1_to_%d", verifyRows))
	awstest.WaitRow(t, w.Blue.DBT(t), "SELECT COUNT(*) FROM shop.big", fmt.Sprint(verifyRows))
}

// shortInvocation is a context with the deadline of a function invocation
// that leaves verify about budget to compare.
func shortInvocation(t *testing.T, budget time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), orchestrate.VerifyReserve+budget)
	t.Cleanup(cancel)
	return ctx
}

// A verify payload whose run needs more than one invocation: each
// invocation compares for its budget (the deadline less VerifyReserve),
// then queues the next one through the Lambda Invoke API (an Event
// invocation of the verify function, continuation+1, never a restart);
// run as Lambda would run them, the invocations continue the same run
// (resumed, chunks only ever growing) until it ends equal. On-call is
// told how the continued run ended, every invocation left history lines,
// and the record (its phase, its version) and the pair's replication are
// as they were. A chain bounded at zero continuations stops unfinished
// and says so.
//
// Then the dry run shows the latest result: equal; once a row is changed
// on the rollback cluster and verify runs again (no deadline: to the
// end), differing, said in the plan's reason without refusing it; and
// preflight shows it as a warning. A result that cannot be read leaves
// the dry run planned, saying so.
func TestIntegrationVerifyContinuesAcrossInvocations(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	seedVerifyTable(t, w)
	w.Lambda.AddFunction(verifyFn)
	o := w.Orch
	o.VerifyInvoker = awslambda.NewInvoker(w.Lambda.Client(), verifyFn)
	ctx := t.Context()
	recBefore, err := w.Store.Get(ctx, awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	histBefore, _ := w.Store.History(ctx, awstest.DeploymentID)
	notifiedBefore := len(w.SNS.Published(awstest.TopicARN))

	chunk := 1
	req := orchestrate.VerifyRequest{Deployment: awstest.DeploymentID, Caller: "alice",
		Verify: orchestrate.VerifyOptions{ChunkRows: &chunk}}
	out, err := o.Verify(shortInvocation(t, 1500*time.Millisecond), req)
	if err != nil || out.Outcome != verify.OutcomeIncomplete || !out.Continued || out.Verify == nil || out.Verify.Resumed || out.Continuation != 0 ||
		out.BudgetMS <= 0 || out.BudgetMS > 1500 {
		t.Fatalf("first invocation: %v\n%+v", err, out)
	}
	runID, chunks := out.Verify.RunID, out.Verify.Chunks
	invocations := 1
	for out.Outcome == verify.OutcomeIncomplete {
		calls := w.Lambda.Calls(verifyFn)
		if len(calls) != invocations {
			t.Fatalf("%d invocations of %s after %d runs; want one queued by each unfinished run", len(calls), verifyFn, invocations)
		}
		c := calls[len(calls)-1]
		if c.InvocationType != "Event" {
			t.Fatalf("continued with invocation type %q, not Event", c.InvocationType)
		}
		next, err := orchestrate.DecodeVerifyRequest(c.Payload)
		if err != nil {
			t.Fatalf("the continuation's payload %s: %v", c.Payload, err)
		}
		if next.Verify.Continuation != invocations || next.Verify.Restart || *next.Verify.ChunkRows != 1 {
			t.Fatalf("continuation payload %s after %d invocations", c.Payload, invocations)
		}
		if invocations > 40 {
			t.Fatalf("still unfinished after %d invocations: %+v", invocations, out.Verify)
		}
		// Lambda runs it: a new invocation, without the caller.
		out, err = o.Verify(shortInvocation(t, 1500*time.Millisecond), next)
		invocations++
		if err != nil || out.Verify == nil || out.Verify.RunID != runID || !out.Verify.Resumed || out.Verify.Chunks <= chunks || out.Continuation != invocations-1 {
			t.Fatalf("invocation %d: %v\n%+v\n(run %s had %d chunks)", invocations, err, out.Verify, runID, chunks)
		}
		chunks = out.Verify.Chunks
	}
	t.Logf("run %s: %d invocations, %d chunks", runID, invocations, chunks)
	if invocations < 2 || out.Outcome != verify.OutcomeEqual || out.Continued || out.Verify.Tables < 2 || out.Verify.Rows < verifyRows {
		t.Fatalf("last invocation %d: %+v\n%+v", invocations, out, out.Verify)
	}
	if n := len(w.Lambda.Calls(verifyFn)); n != invocations-1 {
		t.Errorf("%d continuations queued for %d invocations; want %d", n, invocations, invocations-1)
	}
	rec, err := w.Store.Get(ctx, awstest.DeploymentID)
	if err != nil || rec.Phase != orchestrate.PhaseConfigured || rec.Version != recBefore.Version {
		t.Errorf("record after verify: phase %s, version %d (%v); want configured, version %d", rec.Phase, rec.Version, err, recBefore.Version)
	}
	replicating(t, w)
	hist, _ := w.Store.History(ctx, awstest.DeploymentID)
	count := map[string]int{}
	for _, h := range hist[len(histBefore):] {
		if h.Step != "verify" {
			t.Errorf("history line %+v; want only verify lines", h)
		}
		count[h.Outcome]++
		if h.Outcome == "started" && strings.Contains(h.Detail, "continuation 0 ") && !strings.Contains(h.Detail, "requested by alice") {
			t.Errorf("first invocation's line %q does not name the caller", h.Detail)
		}
	}
	if count["started"] != invocations || count["continued"] != invocations-1 || count[verify.OutcomeEqual] != 1 {
		t.Errorf("history outcomes %v; want %d started, %d continued, 1 equal", count, invocations, invocations-1)
	}
	msgs := w.SNS.Published(awstest.TopicARN)[notifiedBefore:]
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "verify equal") || !strings.Contains(msgs[0].Message, "ended EQUAL after") {
		t.Errorf("notifications %+v; want one saying the continued run ended equal", msgs)
	}

	// A chain bounded at no continuation stops unfinished, and says so.
	zero := 0
	bounded := orchestrate.VerifyRequest{Deployment: awstest.DeploymentID, Caller: "alice",
		Verify: orchestrate.VerifyOptions{ChunkRows: &chunk, Restart: true, MaxContinuations: &zero}}
	queued := len(w.Lambda.Calls(verifyFn))
	out, err = o.Verify(shortInvocation(t, 1500*time.Millisecond), bounded)
	if err != nil || out.Outcome != verify.OutcomeIncomplete || out.Continued || !strings.Contains(out.Reason, "bound of 0 continuations") ||
		len(w.Lambda.Calls(verifyFn)) != queued {
		t.Errorf("bounded chain: %v %+v", err, out)
	}

	// The dry run shows the latest finished run.
	dry := orchestrate.RollbackRequest{Deployment: awstest.DeploymentID, Caller: "alice"}
	plan, err := o.Rollback(ctx, dry)
	if err != nil || plan.Outcome != replication.OutcomePlanned || plan.Verify == nil || plan.Verify.RunID != runID ||
		plan.Verify.Outcome != verify.OutcomeEqual || plan.VerifyError != "" || strings.Contains(plan.Reason, "DIFFERENT") {
		t.Fatalf("dry run after an equal verify: %v\n%+v\n%+v", err, plan, plan.Verify)
	}

	// One row changed on the rollback cluster: verify (no deadline: to
	// the end in one invocation) finds it.
	onRollback(t, w, "UPDATE shop.big SET v = 'tampered' WHERE id = 77")
	rows := 100
	out, err = o.Verify(ctx, orchestrate.VerifyRequest{Deployment: awstest.DeploymentID, Caller: "alice",
		Verify: orchestrate.VerifyOptions{Tables: []string{"shop.big"}, ChunkRows: &rows, Rows: true}})
	if err != nil || out.Outcome != verify.OutcomeDiffering || out.Continued || out.BudgetMS != 0 || out.Verify == nil ||
		len(out.Verify.Differing) != 1 || !strings.HasPrefix(out.Verify.Differing[0], "shop.big: differing (1 of ") {
		t.Fatalf("verify after the change: %v\n%+v\n%+v", err, out, out.Verify)
	}
	differingRun := out.Verify.RunID
	plan, err = o.Rollback(ctx, dry)
	if err != nil || plan.Outcome != replication.OutcomePlanned || plan.Verify == nil || plan.Verify.RunID != differingRun ||
		plan.Verify.Outcome != verify.OutcomeDiffering || !strings.Contains(plan.Reason, "found the rollback target DIFFERENT from production") ||
		!strings.Contains(plan.Reason, "shop.big") || !strings.Contains(plan.Reason, "does not block the rollback") {
		t.Fatalf("dry run after a differing verify: %v\nreason %q\n%+v", err, plan.Reason, plan.Verify)
	}

	// Preflight (after the switchover: production is the deployment's
	// target) shows it as a warning.
	w.RDS.AddDeployment(w.Deployment) // configure deleted it
	pf := preflight.AWS{Topology: o.Topology, Credentials: o.Credentials, Connect: o.Connect, OptedIn: o.OptedIn}
	pout, err := pf.Preflight(ctx, preflight.Request{Deployment: awstest.DeploymentID}, "manual")
	if err != nil || pout.Report == nil {
		t.Fatalf("preflight: %v %+v", err, pout)
	}
	c, ok := pout.Report.Check(preflight.CheckLatestVerify)
	if !ok || c.Status != preflight.Warn || !strings.Contains(c.Evidence, "run "+differingRun) || !strings.Contains(c.Evidence, "shop.big (differing)") || c.Fix == "" {
		t.Errorf("preflight's verify check: %v %+v", ok, c)
	}

	// A result that cannot be read does not break the dry run.
	w.Green.ExecT(t, "UPDATE switchback.verify_run SET report = 'not json' WHERE id = '"+differingRun+"'")
	plan, err = o.Rollback(ctx, dry)
	if err != nil || plan.Outcome != replication.OutcomePlanned || plan.Verify != nil || !strings.Contains(plan.VerifyError, "could not be read") {
		t.Errorf("dry run with an unreadable verify result: %v %q %+v", err, plan.VerifyError, plan.Verify)
	}
}

// Requests refused before verify runs: an unknown deployment, a pair that
// is not configured, a deadline too close. Each names the cause, wraps
// replication.ErrRefused and compares nothing.
func TestIntegrationVerifyRefusals(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	ctx := t.Context()
	if _, err := w.Store.Create(ctx, orchestrate.Record{Deployment: "bgd-capturing", Phase: orchestrate.PhaseCapturing,
		Production: &orchestrate.Cluster{ID: "x"}, Rollback: &orchestrate.Cluster{ID: "y"}}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, orchestrate.VerifyReserve)
	defer cancel()
	cases := []struct {
		name string
		ctx  context.Context
		req  orchestrate.VerifyRequest
		want string
	}{
		{"unknown deployment", ctx, orchestrate.VerifyRequest{Deployment: "bgd-nosuchdeployment"}, "no deployment bgd-nosuchdeployment"},
		{"not configured", ctx, orchestrate.VerifyRequest{Deployment: "bgd-capturing"}, "bgd-capturing is capturing, not configured"},
		{"deadline too close", short, orchestrate.VerifyRequest{Deployment: awstest.DeploymentID}, "too little to verify"},
	}
	for _, c := range cases {
		out, err := w.Orch.Verify(c.ctx, c.req)
		if !errors.Is(err, replication.ErrRefused) || out.Outcome != verify.OutcomeRefused || out.Verify != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v %+v; want a refusal containing %q", c.name, err, out, c.want)
		}
	}
	var n int
	if err := w.Green.DBT(t).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'switchback' AND TABLE_NAME = 'verify_run'").Scan(&n); err != nil || n != 0 {
		t.Errorf("a refused verify created its tables on production (%d, %v)", n, err)
	}
}

// replicating checks that the rollback cluster still replicates, fenced.
func replicating(t *testing.T, w *awstest.World) {
	t.Helper()
	var readOnly int
	if err := w.Blue.DBT(t).QueryRow("SELECT @@global.read_only").Scan(&readOnly); err != nil || readOnly != 1 {
		t.Errorf("rollback cluster read_only %d (%v); want 1", readOnly, err)
	}
	w.Green.ExecT(t, "INSERT INTO shop.orders VALUES (900, 'after verify')")
	awstest.WaitRow(t, w.Blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 900", "after verify")
}

// onRollback changes the rollback cluster behind replication's back (as
// root, whom read_only does not stop), on one session without binary
// logging.
func onRollback(t *testing.T, w *awstest.World, stmts ...string) {
	t.Helper()
	conn, err := w.Blue.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range append([]string{"SET SESSION sql_log_bin = 0"}, stmts...) {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("on the rollback cluster: %s: %v", q, err)
		}
	}
}
