//go:build integration

package orchestrate_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

func allRepoint(ttl int64) *orchestrate.RepointRequest {
	return &orchestrate.RepointRequest{
		Route53: &orchestrate.Route53Repoint{ZoneID: awstest.AppZone, RecordName: awstest.AppRecord, TTL: &ttl},
		Secret:  &orchestrate.SecretRepoint{SecretID: awstest.AppSecret},
		Rename:  &orchestrate.RenameRepoint{},
	}
}

func execute(confirm, reason string) orchestrate.RollbackRequest {
	f := false
	return orchestrate.RollbackRequest{Deployment: awstest.DeploymentID, DryRun: &f, Confirm: confirm, Reason: reason, Caller: "alice"}
}

// A dry run (the default: no dryRun at all, and even with a confirm)
// reads both servers and every re-pointing target and changes nothing:
// read_only, binlog positions, replica status, parameter groups, cluster
// names, the DNS record, the secret, the record and its history, and no
// notification.
func TestIntegrationRollbackDryRunChangesNothing(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	before := w.Snapshot()
	for _, req := range []orchestrate.RollbackRequest{
		{Deployment: awstest.DeploymentID, Caller: "alice", Repoint: allRepoint(5)},
		{Deployment: awstest.DeploymentID, Caller: "alice", Confirm: awstest.OldID, Reason: "check", Reverse: true},
	} {
		out, err := w.Orch.Rollback(t.Context(), req)
		if err != nil || out.Outcome != replication.OutcomePlanned || !out.DryRun || out.Report == nil {
			t.Fatalf("dry run: %v\n%+v", err, out)
		}
		for _, s := range out.Report.Steps {
			if s.Outcome != replication.StepPlanned || s.Error != "" {
				t.Errorf("engine step %+v; want planned, no error", s)
			}
		}
		if req.Repoint != nil {
			if len(out.Repoint) != 3 {
				t.Fatalf("re-pointing plan %+v; want 3 steps", out.Repoint)
			}
			for _, s := range out.Repoint {
				if s.Outcome != replication.StepPlanned || s.Error != "" {
					t.Errorf("re-pointing step %+v; want planned, no error", s)
				}
			}
			if d := out.Repoint[0].Detail; !strings.Contains(d, awstest.ProdID+" → "+awstest.ProdID+"-rolledback1") || !strings.Contains(d, "two minutes of DNS change") {
				t.Errorf("rename plan %q", d)
			}
		}
	}
	if diff := before.Diff(w.Snapshot()); diff != "" {
		t.Fatalf("a dry run changed:\n%s", diff)
	}
}

// Executing needs the rollback cluster's identifier as confirm and a
// reason; an unknown deployment, a record that is not configured and
// another worker's lease are refused too. Each refusal is a clear error
// and changes nothing; a refused execute of a known deployment leaves one
// history line naming the caller.
func TestIntegrationRollbackRefusals(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	ctx := t.Context()
	if _, err := w.Store.Create(ctx, orchestrate.Record{Deployment: "bgd-capturing", Phase: orchestrate.PhaseCapturing,
		Production: &orchestrate.Cluster{ID: "x"}, Rollback: &orchestrate.Cluster{ID: "y"}}); err != nil {
		t.Fatal(err)
	}
	before := w.Snapshot()
	cases := []struct {
		name    string
		req     orchestrate.RollbackRequest
		want    string
		history bool
	}{
		{"wrong confirm", execute(awstest.ProdID, "latency"), `"confirm" "orders-prod" is not the rollback cluster's identifier "orders-prod-old1"`, true},
		{"no confirm", execute("", "latency"), `executing needs "confirm": "orders-prod-old1"`, true},
		{"no reason", execute(awstest.OldID, " "), `executing needs a "reason"`, true},
		{"unknown deployment", func() orchestrate.RollbackRequest {
			r := execute(awstest.OldID, "latency")
			r.Deployment = "bgd-nosuchdeployment"
			return r
		}(), "no deployment bgd-nosuchdeployment in switchback's state table", false},
		{"not configured", func() orchestrate.RollbackRequest {
			r := execute("y", "latency")
			r.Deployment = "bgd-capturing"
			return r
		}(), "bgd-capturing is capturing, not configured", false},
		{"bad privileged writers", func() orchestrate.RollbackRequest {
			r := execute(awstest.OldID, "latency")
			r.PrivilegedWriters = "ignore"
			return r
		}(), `"privilegedWriters" "ignore" is not one of`, false},
	}
	histories := 0
	for _, c := range cases {
		out, err := w.Orch.Rollback(ctx, c.req)
		if err == nil || out.Outcome != orchestrate.RollbackRefused || out.Report != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (%+v); want a refusal containing %q", c.name, err, out, c.want)
		}
		if c.name != "bad privileged writers" && !errors.Is(err, replication.ErrRefused) {
			t.Errorf("%s: %v does not wrap ErrRefused", c.name, err)
		}
		if c.history {
			histories++
		}
	}
	// Another worker's lease.
	if _, err := w.Store.AcquireLease(ctx, awstest.DeploymentID, "teardown/req-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	out, err := w.Orch.Rollback(ctx, execute(awstest.OldID, "latency"))
	if !errors.Is(err, replication.ErrRefused) || !strings.Contains(err.Error(), "teardown/req-1") || out.Report != nil {
		t.Errorf("lease held: %v; want a refusal naming the holder", err)
	}
	histories++
	if err := w.Store.ReleaseLease(ctx, awstest.DeploymentID, "teardown/req-1"); err != nil {
		t.Fatal(err)
	}
	after := w.Snapshot()
	if after.History != before.History+histories {
		t.Errorf("history grew by %d; want %d (one line per refused execute)", after.History-before.History, histories)
	}
	after.History, after.Record = before.History, before.Record // the lease changed the version
	if diff := before.Diff(after); diff != "" {
		t.Fatalf("a refusal changed:\n%s", diff)
	}
	hist, _ := w.Store.History(ctx, awstest.DeploymentID)
	for _, h := range hist[before.History:] {
		if h.Step != "rollback" || h.Outcome != "refused" || !strings.Contains(h.Actor, "alice") {
			t.Errorf("history line %+v; want a refused rollback by alice", h)
		}
	}
	if h, _ := w.Store.History(ctx, "bgd-nosuchdeployment"); len(h) != 0 {
		t.Errorf("history written for an unknown deployment: %+v", h)
	}
}

// An executing rollback under load, with every re-pointing mode, whose
// second rename fails: the cutover completes with zero loss (every write
// acknowledged before the fence is on the new production), the first
// rename is recorded, Route 53 and the secret wait. Run again, it finishes
// the rename (renaming nothing twice) and re-points; a third run changes
// nothing.
func TestIntegrationRollbackExecuteRepointResume(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	green, blue := w.AddApp()
	ctx := t.Context()
	load := loadgen.Start(ctx, func() *sql.DB { return green }, loadgen.Options{Workers: 4})
	deadline := time.Now().Add(10 * time.Second)
	for load.Counts().Acknowledged < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the load's progress, bounded by the deadline
	}
	w.RDS.FailNextAfter("ModifyDBCluster", 1, 1, awsfake.RDSFault{Status: http.StatusBadRequest, Code: "InvalidDBClusterStateFault", Message: "DB cluster is not available for modification"})
	req := execute(awstest.OldID, "p99 latency doubled after the upgrade")
	req.Repoint = allRepoint(5)
	out, err := w.Orch.Rollback(ctx, req)
	for load.Counts().Rejected < 4 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(10 * time.Millisecond) // the application keeps trying the fenced production
	}
	res := load.Stop()
	if out.Report == nil || out.Report.Outcome != replication.OutcomeCompleted || !errors.Is(err, orchestrate.ErrRepointFailed) {
		t.Fatalf("first run: %v\n%+v", err, out)
	}
	if v, err := loadgen.Verify(ctx, blue, loadgen.DefaultTable, res); err != nil || !v.OK() {
		t.Fatalf("zero loss on the new production: %v %+v", err, v)
	}
	if len(res.Acknowledged) < 200 || len(res.Failed) > 0 {
		t.Errorf("load: %s", res)
	}
	steps := map[string]replication.StepOutcome{}
	for _, s := range out.Repoint {
		steps[s.Name] = s.Outcome
	}
	if steps["re-point rename"] != replication.StepFailed || steps["re-point route53"] != replication.StepSkipped || steps["re-point secret"] != replication.StepSkipped {
		t.Fatalf("first run's re-pointing: %+v", out.Repoint)
	}
	rec, err := w.Store.Get(ctx, awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != orchestrate.PhaseNeedsAttention || rec.Production.ID != awstest.ProdID+"-rolledback1" || rec.Rollback.ID != awstest.OldID ||
		rec.LastRollback == nil || rec.LastRollback.Rename == nil || rec.LastRollback.Rename.Done || rec.LastRollback.Caller != "alice" {
		t.Fatalf("record after the half-done rename: %+v %+v", rec, rec.LastRollback)
	}
	if got := w.RDS.ParameterGroup(awstest.ProdGroup)["read_only"]; got != "1" {
		t.Errorf("production's group read_only = %q; want 1 (fenced through its parameter group)", got)
	}

	// Run again: the rename finishes, then Route 53 and the secret.
	out, err = w.Orch.Rollback(ctx, req)
	if err != nil || out.Outcome != replication.OutcomeCompleted {
		t.Fatalf("second run: %v\n%+v", err, out)
	}
	for _, s := range out.Repoint {
		if s.Outcome != replication.StepDone {
			t.Errorf("second run: %+v; want done", s)
		}
	}
	renames := 0
	for _, c := range w.RDS.Calls("ModifyDBCluster") {
		if c.Status == http.StatusOK {
			renames++
		}
	}
	if renames != 2 {
		t.Errorf("%d successful renames; want 2 (production, then the rollback cluster, each once)", renames)
	}
	if c, ok := w.RDS.Cluster(awstest.ProdID); !ok || c.Port != w.Blue.Port {
		t.Errorf("%s is %+v; want the old blue cluster", awstest.ProdID, c)
	}
	if c, ok := w.RDS.Cluster(awstest.ProdID + "-rolledback1"); !ok || c.Port != w.Green.Port {
		t.Errorf("the old production is %+v", c)
	}
	if r, _ := w.R53.Record(awstest.AppZone, awstest.AppRecord, "CNAME"); r.TTL != 5 || r.Values[0] != w.Blue.Host {
		t.Errorf("DNS record %+v", r)
	}
	versions := w.SM.SecretVersions(awstest.AppSecret)
	if len(versions) != 2 || !strings.Contains(versions[0].Value, `"port":`+strconv.Itoa(w.Blue.Port)) ||
		!strings.Contains(versions[1].Value, `"port":`+strconv.Itoa(w.Green.Port)) || versions[1].Stages[0] != "AWSPREVIOUS" {
		t.Errorf("secret versions %+v", versions)
	}
	rec, _ = w.Store.Get(ctx, awstest.DeploymentID)
	if rec.Phase != orchestrate.PhaseRolledBack || rec.Rollback.ID != awstest.ProdID || !rec.LastRollback.Rename.Done || rec.LastRollback.Outcome != "completed" {
		t.Fatalf("record after the second run: %+v %+v", rec, rec.LastRollback)
	}

	// A third run (confirming the rollback cluster by its new name)
	// changes nothing.
	calls := len(w.RDS.Calls("ModifyDBCluster")) + len(w.R53.Calls("ChangeResourceRecordSets")) + len(w.SM.Calls(awstest.AppSecret))
	req.Confirm = awstest.ProdID
	out, err = w.Orch.Rollback(ctx, req)
	if err != nil || out.Outcome != replication.OutcomeCompleted {
		t.Fatalf("third run: %v\n%+v", err, out)
	}
	for _, s := range out.Repoint {
		if s.Outcome != replication.StepAlreadyDone {
			t.Errorf("third run: %+v; want already-done", s)
		}
	}
	puts := 0
	for _, c := range w.SM.Calls(awstest.AppSecret)[len(w.SM.Calls(awstest.AppSecret))-2:] {
		if c.Target == "secretsmanager.PutSecretValue" {
			puts++
		}
	}
	if n := len(w.RDS.Calls("ModifyDBCluster")) + len(w.R53.Calls("ChangeResourceRecordSets")) + len(w.SM.Calls(awstest.AppSecret)); n != calls+2 || puts > 0 {
		t.Errorf("the third run made %d changing calls; want only the secret's two reads", n-calls)
	}

	// Who and why: in the history and the notifications.
	hist, _ := w.Store.History(ctx, awstest.DeploymentID)
	var fence, started bool
	for _, h := range hist {
		if h.Step == "fence production" && h.Outcome == "done" && strings.Contains(h.Actor, "alice") && strings.Contains(h.Detail, "[reason: p99 latency") {
			fence = true
		}
		if h.Step == "rollback" && h.Outcome == "started" {
			started = true
		}
	}
	if !fence || !started {
		t.Errorf("history lacks the fence or the start with caller and reason:\n%s", describe(hist))
	}
	t.Logf("history:\n%s", describe(hist))
	var subjects []string
	for _, m := range w.SNS.Published(awstest.TopicARN) {
		if strings.HasSuffix(m.Subject, " configured") {
			continue // configure's own message, before the rollback
		}
		t.Logf("notified %q: %s", m.Subject, m.Message)
		subjects = append(subjects, m.Subject)
		if strings.Contains(m.Subject, "rollback") && (!strings.Contains(m.Message, "alice") || !strings.Contains(m.Message, "p99 latency")) {
			t.Errorf("notification %q does not say who and why: %s", m.Subject, m.Message)
		}
	}
	want := []string{"rollback started", "rollback completed, re-pointing FAILED", "needs attention", "rollback started", "rollback completed", "rollback started", "rollback completed"}
	if len(subjects) != len(want) {
		t.Fatalf("notifications %q; want %q", subjects, want)
	}
	for i := range want {
		if !strings.HasSuffix(subjects[i], want[i]) {
			t.Errorf("notification %d: %q; want … %q", i, subjects[i], want[i])
		}
	}
}

func describe(h []orchestrate.HistoryEntry) string {
	var b strings.Builder
	for _, e := range h {
		fmt.Fprintf(&b, "  %-32s %-44s %-12s %s\n", e.Actor, e.Step, e.Outcome, e.Detail)
	}
	return b.String()
}

// A rollback the engine refuses after it started (here: a root session on
// production, which read_only does not stop) fences nothing, puts the
// record back to configured, and tells on-call it started and was refused,
// with who and why.
func TestIntegrationRollbackEngineRefusal(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	root := w.Green.DBT(t)
	conn, err := root.Conn(t.Context()) // held open: a privileged session on production
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := w.Snapshot()
	out, err := w.Orch.Rollback(t.Context(), execute(awstest.OldID, "checkout errors"))
	if !errors.Is(err, replication.ErrRefused) || out.Outcome != replication.OutcomeRefused || out.Report == nil ||
		!strings.Contains(out.Reason, "writers that the fence does not stop") {
		t.Fatalf("%v\n%+v", err, out)
	}
	after := w.Snapshot()
	if before.Blue.ReadOnly != after.Blue.ReadOnly || before.Green.ReadOnly != after.Green.ReadOnly || after.Green.ReadOnly != "0" ||
		before.Groups[awstest.ProdGroup] != after.Groups[awstest.ProdGroup] {
		t.Fatalf("the refused rollback fenced something:\n%s", before.Diff(after))
	}
	rec, _ := w.Store.Get(t.Context(), awstest.DeploymentID)
	if rec.Phase != orchestrate.PhaseConfigured || rec.LastRollback == nil || rec.LastRollback.Outcome != replication.OutcomeRefused {
		t.Errorf("record %s %+v; want configured, the refusal recorded", rec.Phase, rec.LastRollback)
	}
	var msgs []awsfake.SNSMessage
	for _, m := range w.SNS.Published(awstest.TopicARN) {
		if !strings.HasSuffix(m.Subject, " configured") { // configure's own message
			msgs = append(msgs, m)
		}
	}
	if len(msgs) != 2 || !strings.HasSuffix(msgs[0].Subject, "rollback started") || !strings.HasSuffix(msgs[1].Subject, "rollback refused") ||
		!strings.Contains(msgs[1].Message, "alice") || !strings.Contains(msgs[1].Message, "checkout errors") || !strings.Contains(msgs[1].Message, "still production") {
		t.Errorf("notifications %+v", msgs)
	}
}
