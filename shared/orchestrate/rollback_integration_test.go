//go:build integration

package orchestrate_test

import (
	"context"
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
	"github.com/switchback/switchback/shared/repoint"
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
	// Paced: an unthrottled load on 2 shared cores can leave the rollback
	// target seconds behind, and the gate then (rightly) refuses to fence.
	load := loadgen.Start(ctx, func() *sql.DB { return green }, loadgen.Options{Workers: 4, Rate: 1000})
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
	if n := len(w.RDS.Calls("ModifyDBCluster")) + len(w.R53.Calls("ChangeResourceRecordSets")) + len(w.SM.Calls(awstest.AppSecret)); n != calls+3 || puts > 0 {
		t.Errorf("the third run made %d calls; want only the secret's three reads (checked before the fence, then read and compared)", n-calls)
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

// assertRefusedUnchanged checks a refused execute: an error wrapping
// ErrRefused and containing want, no engine report, production still
// writable, and nothing changed but one history line per refusal (and the
// record's version, which the lease moved).
func assertRefusedUnchanged(t *testing.T, w *awstest.World, before awstest.Snapshot, refusals int, outs []orchestrate.RollbackOutcome, errs []error, wants []string) {
	t.Helper()
	for i := range outs {
		if !errors.Is(errs[i], replication.ErrRefused) || outs[i].Outcome != orchestrate.RollbackRefused || outs[i].Report != nil || !strings.Contains(errs[i].Error(), wants[i]) {
			t.Errorf("run %d: %v\n%+v; want a refusal before the engine ran, containing %q", i, errs[i], outs[i], wants[i])
		}
	}
	after := w.Snapshot()
	if after.Green.ReadOnly != "0" || after.Groups[awstest.ProdGroup] != "0" {
		t.Errorf("production was fenced: read_only %q, its group %q", after.Green.ReadOnly, after.Groups[awstest.ProdGroup])
	}
	if after.History != before.History+refusals {
		t.Errorf("history grew by %d; want %d (one line per refusal)", after.History-before.History, refusals)
	}
	after.History, after.Record = before.History, before.Record
	if diff := before.Diff(after); diff != "" {
		t.Fatalf("a refused rollback changed:\n%s", diff)
	}
	hist, _ := w.Store.History(t.Context(), awstest.DeploymentID)
	for _, h := range hist[before.History:] {
		if h.Step != "rollback" || h.Outcome != "refused" || !strings.Contains(h.Actor, "alice") {
			t.Errorf("history line %+v; want a refused rollback by alice", h)
		}
	}
}

// Every re-pointing target is read before production is fenced: a secret
// id with a typo, a hosted zone that does not exist, or a name that holds
// a record of another type refuses the rollback; nothing is fenced or
// changed, one history line says why.
func TestIntegrationRollbackRepointTargetsCheckedBeforeFence(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	w.R53.AddRecord(awstest.AppZone, awsfake.Route53Record{Name: "api." + awstest.AppDomain + ".", Type: "A", TTL: 60, Values: []string{"10.0.0.1"}})
	before := w.Snapshot()
	ttl := int64(5)
	cases := []struct {
		repoint *orchestrate.RepointRequest
		want    string
	}{
		{&orchestrate.RepointRequest{Secret: &orchestrate.SecretRepoint{SecretID: "orders/app-typo"}}, "secret: secret orders/app-typo"},
		{&orchestrate.RepointRequest{Route53: &orchestrate.Route53Repoint{ZoneID: "Z0NOSUCHZONE", RecordName: awstest.AppRecord, TTL: &ttl}}, "NoSuchHostedZone"},
		{&orchestrate.RepointRequest{Route53: &orchestrate.Route53Repoint{ZoneID: awstest.AppZone, RecordName: "api." + awstest.AppDomain, TTL: &ttl}}, "has a A record: a CNAME cannot share its name"},
		// One bad target among good ones is enough; every problem is named.
		{&orchestrate.RepointRequest{Rename: &orchestrate.RenameRepoint{}, Route53: &orchestrate.Route53Repoint{ZoneID: awstest.AppZone, RecordName: awstest.AppRecord, TTL: &ttl},
			Secret: &orchestrate.SecretRepoint{SecretID: "orders/app-typo"}}, "nothing was fenced: secret: secret orders/app-typo"},
	}
	var outs []orchestrate.RollbackOutcome
	var errs []error
	var wants []string
	for _, c := range cases {
		req := execute(awstest.OldID, "checkout errors")
		req.Repoint = c.repoint
		out, err := w.Orch.Rollback(t.Context(), req)
		outs, errs, wants = append(outs, out), append(errs, err), append(wants, c.want)
	}
	assertRefusedUnchanged(t, w, before, len(cases), outs, errs, wants)
	if n := len(w.RDS.Calls("ModifyDBCluster")) + len(w.R53.Calls("ChangeResourceRecordSets")); n != 0 {
		t.Errorf("%d changing calls to RDS or Route 53", n)
	}
}

// A deadline (the Lambda function's timeout) too close to fit the fence
// wait, the catch-up and the abort's reserve refuses the rollback before
// anything is fenced, saying how much time is left; a deadline that fits
// only a shorter catch-up clamps it, and the cutover completes.
func TestIntegrationRollbackDeadline(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	before := w.Snapshot()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	out, err := w.Orch.Rollback(ctx, execute(awstest.OldID, "checkout errors"))
	cancel()
	assertRefusedUnchanged(t, w, before, 1, []orchestrate.RollbackOutcome{out}, []error{err}, []string{"left before its deadline"})
	if !strings.Contains(err.Error(), "to abort and record before the deadline") || !strings.Contains(err.Error(), "function timeout of at least") {
		t.Errorf("refusal %q does not say what does not fit", err)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 70*time.Second)
	defer cancel()
	out, err = w.Orch.Rollback(ctx, execute(awstest.OldID, "checkout errors"))
	if err != nil || out.Outcome != replication.OutcomeCompleted {
		t.Fatalf("with 70 s left: %v\n%+v", err, out)
	}
	hist, _ := w.Store.History(t.Context(), awstest.DeploymentID)
	clamped := false
	for _, h := range hist {
		if h.Step == "rollback" && h.Outcome == "started" && strings.Contains(h.Detail, "clamped from 30s") {
			clamped = true
		}
	}
	if !clamped {
		t.Errorf("the start does not say the catch-up timeout was clamped:\n%s", describe(hist))
	}
}

// leaseHook is a Store that runs hook (once) before the first lease is
// taken: what another run could do between the rollback's first read of
// the record and its lease.
type leaseHook struct {
	orchestrate.Store
	hook func()
}

func (s *leaseHook) AcquireLease(ctx context.Context, deployment, holder string, ttl time.Duration) (orchestrate.Lease, error) {
	if h := s.hook; h != nil {
		s.hook = nil
		h()
	}
	return s.Store.AcquireLease(ctx, deployment, holder, ttl)
}

// confirm is checked again against the record read under the lease: a
// record whose rollback cluster changed after the first read is refused.
func TestIntegrationRollbackConfirmRecheckedUnderLease(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	ctx := t.Context()
	o := w.Orch
	o.Store = &leaseHook{Store: w.Store, hook: func() {
		rec, err := w.Store.Get(ctx, awstest.DeploymentID)
		if err != nil {
			t.Error(err)
			return
		}
		c := *rec.Rollback
		c.ID = "orders-prod-other"
		rec.Rollback = &c
		if _, err := w.Store.Update(ctx, rec); err != nil {
			t.Error(err)
		}
	}}
	before := w.Snapshot()
	out, err := o.Rollback(ctx, execute(awstest.OldID, "checkout errors"))
	after := w.Snapshot()
	if !errors.Is(err, replication.ErrRefused) || out.Report != nil || !strings.Contains(err.Error(), `is not the rollback cluster's identifier "orders-prod-other"`) {
		t.Fatalf("%v\n%+v; want a refusal: confirm no longer names the rollback cluster", err, out)
	}
	if after.Green.ReadOnly != "0" || after.Groups[awstest.ProdGroup] != "0" || after.History != before.History+1 || after.Notified != before.Notified {
		t.Errorf("the refusal changed something:\n%s", before.Diff(after))
	}
}

// A Route 53 change accepted but not seen INSYNC is recorded with its id;
// the next run finds the record already pointing at the rollback cluster
// and waits for that change instead of reporting it already done.
func TestIntegrationRollbackRoute53WaitsForPendingChange(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	ctx := t.Context()
	rp := w.Repointers()
	dns := repoint.NewRoute53(w.R53.Client())
	dns.MinDelay, dns.MaxDelay, dns.MaxWait = 5*time.Millisecond, 10*time.Millisecond, 100*time.Millisecond
	rp.DNS = dns
	o := w.Orch
	o.Repoint = rp
	w.R53.PendingPolls = 1000000
	ttl := int64(5)
	req := execute(awstest.OldID, "checkout errors")
	req.Repoint = &orchestrate.RepointRequest{Route53: &orchestrate.Route53Repoint{ZoneID: awstest.AppZone, RecordName: awstest.AppRecord, TTL: &ttl}}
	out, err := o.Rollback(ctx, req)
	if !errors.Is(err, orchestrate.ErrRepointFailed) || out.Report == nil || out.Report.Outcome != replication.OutcomeCompleted ||
		len(out.Repoint) != 1 || out.Repoint[0].Outcome != replication.StepFailed || !strings.Contains(out.Repoint[0].Error, "not INSYNC") {
		t.Fatalf("first run: %v\n%+v", err, out)
	}
	rec, _ := w.Store.Get(ctx, awstest.DeploymentID)
	if rec.LastRollback == nil || rec.LastRollback.DNSChange == nil || !strings.HasPrefix(rec.LastRollback.DNSChange.ID, "/change/") {
		t.Fatalf("the pending change is not recorded: %+v", rec.LastRollback)
	}
	id := rec.LastRollback.DNSChange.ID

	// Still not INSYNC: the second run waits again and fails again.
	out, err = o.Rollback(ctx, req)
	if !errors.Is(err, orchestrate.ErrRepointFailed) || len(out.Repoint) != 1 || !strings.Contains(out.Repoint[0].Error, id) {
		t.Fatalf("second run, change still pending: %v\n%+v", err, out)
	}
	// INSYNC now: the third run waits for it (no new UPSERT) and clears it.
	w.R53.PendingPolls = -1
	upserts := len(w.R53.Calls("ChangeResourceRecordSets"))
	out, err = o.Rollback(ctx, req)
	if err != nil || out.Outcome != replication.OutcomeCompleted || len(out.Repoint) != 1 || out.Repoint[0].Outcome != replication.StepDone ||
		!strings.Contains(out.Repoint[0].Detail, id+", made by an earlier run, is INSYNC now") {
		t.Fatalf("third run: %v\n%+v", err, out)
	}
	if n := len(w.R53.Calls("ChangeResourceRecordSets")); n != upserts {
		t.Errorf("%d more UPSERTs; want none", n-upserts)
	}
	rec, _ = w.Store.Get(ctx, awstest.DeploymentID)
	if rec.LastRollback.DNSChange != nil || rec.Phase != orchestrate.PhaseRolledBack {
		t.Errorf("after the change is INSYNC: phase %s, %+v", rec.Phase, rec.LastRollback)
	}
	// And then it is already done.
	out, err = o.Rollback(ctx, req)
	if err != nil || len(out.Repoint) != 1 || out.Repoint[0].Outcome != replication.StepAlreadyDone {
		t.Fatalf("fourth run: %v\n%+v", err, out)
	}
}
