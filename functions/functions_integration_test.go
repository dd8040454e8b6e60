//go:build integration

// Package functions_test runs each Lambda function's real binary through a
// local Lambda Runtime API against one switched-over deployment (real
// MariaDB servers, dynalite, and local AWS endpoints that speak the real
// wire formats): the functions are built, configured from the environment
// and driven exactly as Lambda drives them.
package functions_test

import (
	"encoding/json"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	fixtures "github.com/switchback/switchback/events"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/emf"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/preflight"
)

// EventBridge delivers the coordinates and the switchover to capture,
// capture invokes configure through the Lambda API, and the configure
// binary, given that payload, fences the old cluster, deletes the
// deployment and configures replication; reconcile then finds nothing to
// do. Each run's logs are JSON and carry the request id, and no secret.
func TestIntegrationFunctionBinaries(t *testing.T) {
	w := awstest.New(t)
	capture := lambdatest.Start(t, lambdatest.Build(t, "./capture"), w.Env())
	for _, ev := range [][]byte{w.CoordinatesEvent(true, w.Coords.File, w.Coords.Position), w.SwitchoverEvent()} {
		res, err := capture.Invoke(ev)
		if err != nil || res.Error != nil {
			t.Fatalf("capture: %v %+v\n%s", err, res.Error, capture.Output())
		}
		var out orchestrate.CaptureResult
		if err := json.Unmarshal(res.Response, &out); err != nil || out.Deployment != awstest.DeploymentID {
			t.Fatalf("capture answered %s (%v)", res.Response, err)
		}
	}
	calls := w.Lambda.Calls(awstest.ConfigureFn)
	if len(calls) != 1 || calls[0].InvocationType != "Event" {
		t.Fatalf("capture invoked configure %d times (%+v); want once, asynchronously", len(calls), calls)
	}

	configure := lambdatest.Start(t, lambdatest.Build(t, "./configure"), w.Env())
	res, err := configure.Invoke(calls[0].Payload)
	if err != nil || res.Error != nil {
		t.Fatalf("configure: %v %+v\n%s", err, res.Error, configure.Output())
	}
	var out orchestrate.ConfigureOutcome
	if err := json.Unmarshal(res.Response, &out); err != nil || out.Outcome != "configured" {
		t.Fatalf("configure answered %s (%v)", res.Response, err)
	}
	w.SkipInvocations()
	w.AssertConfiguredOnce(w.Coords)

	reconcile := lambdatest.Start(t, lambdatest.Build(t, "./reconcile"), w.Env())
	res, err = reconcile.Invoke([]byte(`{"version":"0","id":"sched","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
	if err != nil || res.Error != nil {
		t.Fatalf("reconcile: %v %+v\n%s", err, res.Error, reconcile.Output())
	}
	var rep orchestrate.ReconcileReport
	if err := json.Unmarshal(res.Response, &rep); err != nil || len(rep.Items) != 0 {
		t.Fatalf("reconcile answered %s (%v); want nothing to do", res.Response, err)
	}
	if n := len(w.Lambda.Calls(awstest.ConfigureFn)); n != 1 {
		t.Fatalf("configure invoked %d times in all; want once", n)
	}

	for name, f := range map[string]*lambdatest.Function{"capture": capture, "configure": configure, "reconcile": reconcile} {
		logs := f.Stop().Output // after the process ended: every line copied
		if strings.Contains(logs, awstest.AdminPassword) {
			t.Errorf("%s logged the admin password", name)
		}
		found := false
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Errorf("%s logged a line that is not JSON: %q", name, line)
				continue
			}
			if id, _ := entry["request_id"].(string); id != "" && entry["function"] == name {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no log line carries the function name and the request id:\n%s", name, logs)
		}
	}
}

// A function whose configuration is wrong fails its cold start with one
// error naming every bad variable.
func TestIntegrationFunctionConfigurationErrors(t *testing.T) {
	bin := lambdatest.Build(t, "./capture")
	f := lambdatest.Start(t, bin, []string{"SWITCHBACK_TOPIC_ARN=not-an-arn", "SWITCHBACK_RETENTION_HOURS=9999"})
	exit, err := f.Wait()
	if err == nil && exit.Code == 0 {
		t.Fatalf("capture started with a broken configuration: %+v", exit)
	}
	for _, want := range []string{"SWITCHBACK_TABLE", "SWITCHBACK_TOPIC_ARN", "SWITCHBACK_CONFIGURE_FUNCTION", "SWITCHBACK_RETENTION_HOURS"} {
		if !strings.Contains(exit.Output, want) {
			t.Errorf("cold start error does not name %s:\n%s", want, exit.Output)
		}
	}
}

// Every fixture in events/ (the story of deployment bgd-4kq8w2m7r1x9zt3c,
// plus events switchback ignores and malformed ones) goes through the
// capture binary in order. None fails the invocation (a malformed event
// is dropped, not retried); events that do not concern configure are
// ignored with a reason; and since the fixtures' cluster and instance
// coordinates disagree, the deployment ends in needs-attention, on-call is
// told, and the configure run capture asked for does nothing.
func TestIntegrationCaptureEveryFixture(t *testing.T) {
	w := awstest.New(t)
	// The fixtures tell their story on 2026-03-10: the deployment was
	// created before it (coordinates older than a deployment are ignored).
	w.Deployment.CreateTime = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	w.RDS.AddDeployment(w.Deployment)
	capture := lambdatest.Start(t, lambdatest.Build(t, "./capture"), w.Env())
	var names []string
	for _, dir := range []string{".", "malformed"} {
		entries, err := fs.ReadDir(fixtures.FS, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			// Lambda refuses a payload that is not JSON at Invoke
			// (InvalidRequestContentException): it never reaches a function.
			if strings.HasSuffix(e.Name(), ".json") && e.Name() != "not-json.json" {
				names = append(names, path.Join(dir, e.Name()))
			}
		}
	}
	if len(names) < 15 {
		t.Fatalf("only %d fixtures found", len(names))
	}
	for _, name := range names {
		body, err := fs.ReadFile(fixtures.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := capture.Invoke(body)
		if err != nil || res.Error != nil {
			t.Fatalf("%s: capture failed: %v %+v\n%s", name, err, res.Error, capture.Output())
		}
		var out orchestrate.CaptureResult
		if err := json.Unmarshal(res.Response, &out); err != nil {
			t.Fatalf("%s: %s (%v)", name, res.Response, err)
		}
		if out.Action == "ignored" && out.Reason == "" {
			t.Errorf("%s: ignored without a reason", name)
		}
		if strings.HasPrefix(name, "malformed/") && out.Action != "ignored" {
			t.Errorf("%s: %+v; want ignored", name, out)
		}
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != orchestrate.PhaseNeedsAttention || !strings.Contains(rec.PhaseDetail, "mysql-bin-changelog.000003:40134574") || !strings.Contains(rec.PhaseDetail, "mysql-bin-changelog.000017:1574") {
		t.Fatalf("record phase %q, detail %q; want needs-attention naming both coordinates", rec.Phase, rec.PhaseDetail)
	}
	if msgs := w.SNS.Published(awstest.TopicARN); len(msgs) != 1 {
		t.Fatalf("%d notifications; want 1", len(msgs))
	}
	for _, out := range w.Drain() {
		if out.Outcome != "skipped" {
			t.Fatalf("configure for a deployment that needs attention: %+v; want skipped", out)
		}
	}
	if replicas, err := w.Blue.DBT(t).Query("SHOW ALL SLAVES STATUS"); err != nil || replicas.Next() {
		t.Fatalf("the rollback cluster replicates (%v) although the coordinates conflict", err)
	}
}

// The monitor binary, run by a schedule against a configured pair, logs
// one EMF document per pair that validates against the CloudWatch embedded
// metric format (namespace Switchback, dimension Deployment, every metric
// a top-level number) and says the rollback is ready; its other log lines
// are JSON with the function and request id.
func TestIntegrationMonitorBinary(t *testing.T) {
	w := configuredForBinaries(t)
	env := append(w.Env(), "SWITCHBACK_MIN_HEADROOM_HOURS=1", "SWITCHBACK_MONITOR_PAIR_TIMEOUT_SECONDS=15")
	monitor := lambdatest.Start(t, lambdatest.Build(t, "./monitor"), env)
	res, err := monitor.Invoke([]byte(`{"version":"0","id":"sched","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
	if err != nil || res.Error != nil {
		t.Fatalf("monitor: %v %+v\n%s", err, res.Error, monitor.Output())
	}
	var rep orchestrate.MonitorReport
	if err := json.Unmarshal(res.Response, &rep); err != nil || len(rep.Pairs) != 1 || !rep.Pairs[0].Ready {
		t.Fatalf("monitor answered %s (%v); want one ready pair", res.Response, err)
	}
	logs := monitor.Stop().Output
	var docs []emf.Document
	requestID := false
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("monitor logged a line that is not JSON: %q", line)
			continue
		}
		if id, _ := entry["request_id"].(string); id != "" && entry["function"] == "monitor" {
			requestID = true
		}
		if _, ok := entry["_aws"]; !ok {
			continue
		}
		doc, err := emf.Validate([]byte(line))
		if err != nil {
			t.Fatalf("EMF document does not validate: %v\n%s", err, line)
		}
		docs = append(docs, doc)
	}
	if !requestID {
		t.Errorf("no log line carries the function name and the request id:\n%s", logs)
	}
	if len(docs) != 1 || docs[0].Dimensions["Deployment"] != awstest.DeploymentID || docs[0].Namespaces[0] != "Switchback" {
		t.Fatalf("EMF documents %+v; want one for %s", docs, awstest.DeploymentID)
	}
	for _, name := range []string{"RollbackReady", "ReplicationRunning", "ReplicaLagSeconds", "ProbeLagSeconds", "BytesBehind", "BinlogRetentionHeadroomHours"} {
		if _, ok := docs[0].Value(name); !ok {
			t.Errorf("metric %s missing from %v", name, docs[0].Members)
		}
	}
	if v, _ := docs[0].Value("RollbackReady"); v != 1 {
		t.Errorf("RollbackReady = %v; want 1", v)
	}
	if strings.Contains(logs, awstest.AdminPassword) {
		t.Error("monitor logged the admin password")
	}
}

// The teardown binary: a payload with an unknown field ("dryRun"), the
// wrong types or a malformed id is refused with the field named and no
// side effect; then the pair is torn down (replication reset, user
// dropped, fence kept, record closed, on-call told), and a second
// invocation reports closed without changing anything.
func TestIntegrationTeardownBinary(t *testing.T) {
	w := configuredForBinaries(t)
	teardown := lambdatest.Start(t, lambdatest.Build(t, "./teardown"), w.Env())
	sent := len(w.SNS.Published(awstest.TopicARN))
	before := w.Snapshot()
	dep := awstest.DeploymentID
	// Decoded strictly: each refused with the field named, nothing run.
	for _, r := range []struct{ payload, want string }{
		{`{"deployment": 42, "releaseFence": "yes"}`, `"deployment" must be a string, not a number`},
		{`{"deployment": "` + dep + `", "releaseFence": "yes"}`, `"releaseFence" must be true or false, not a string`},
		{`{"deployment": "` + dep + `", "dryRun": true}`, `unknown field "dryRun"`},
		{`{"deployment": "` + dep + `", "releasefence": true}`, `did you mean "releaseFence"`},
		{`{"Deployment": "` + dep + `"}`, `unknown field "Deployment": did you mean "deployment"?`},
		{`{"deployment": "` + dep + `", "due": "true"}`, `"due" must be true or false, not a string`},
		{`{"deployment": "orders-prod"}`, `"deployment" "orders-prod" is not a blue/green deployment id`},
		{`{"deployment": null}`, `"deployment" must be a string, not null`},
		{`{}`, `"deployment" is required`},
		{`[]`, `must be a JSON object, not an array`},
	} {
		res, err := teardown.Invoke([]byte(r.payload))
		if err != nil || res.Error == nil || res.Error.Type != "InvalidTeardownRequest" || !strings.Contains(res.Error.Message, r.want) {
			t.Errorf("%s: answered %s %+v (%v); want an InvalidTeardownRequest error containing %q", r.payload, res.Response, res.Error, err, r.want)
		}
	}
	if diff := before.Diff(w.Snapshot()); diff != "" {
		t.Fatalf("a refused payload changed:\n%s", diff)
	}
	if rec, err := w.Store.Get(t.Context(), awstest.DeploymentID); err != nil || rec.Phase != orchestrate.PhaseConfigured {
		t.Fatalf("after a refused payload: %v %+v", err, rec.Phase)
	}
	res, err := teardown.Invoke([]byte(`{"deployment": "` + awstest.DeploymentID + `", "reason": "upgrade verified", "caller": "oncall"}`))
	if err != nil || res.Error != nil {
		t.Fatalf("teardown: %v %+v\n%s", err, res.Error, teardown.Output())
	}
	var out orchestrate.TeardownOutcome
	if err := json.Unmarshal(res.Response, &out); err != nil || out.Outcome != "closed" || out.Unchanged || out.FenceReleased {
		t.Fatalf("teardown answered %s (%v)", res.Response, err)
	}
	rows, err := w.Blue.DBT(t).Query("SHOW ALL SLAVES STATUS")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("the rollback cluster still replicates")
	}
	rows.Close()
	var users int
	if err := w.Green.DBT(t).QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = 'switchback_repl'").Scan(&users); err != nil || users != 0 {
		t.Errorf("production still has the replication user (%d, %v)", users, err)
	}
	if got := w.RDS.ParameterGroup(awstest.OldGroup)["read_only"]; got != "1" {
		t.Errorf("the fence was released (read_only=%q) although not asked", got)
	}
	if rec, err := w.Store.Get(t.Context(), awstest.DeploymentID); err != nil || rec.Phase != orchestrate.PhaseClosed {
		t.Fatalf("record after teardown: %v %+v", err, rec.Phase)
	}
	if n := w.SNS.Published(awstest.TopicARN); len(n) != sent+1 || !strings.Contains(n[sent].Subject, "closed") {
		t.Errorf("notifications %+v; want one saying the rollback path is closed", n[sent:])
	}
	res, err = teardown.Invoke([]byte(`{"deployment": "` + awstest.DeploymentID + `"}`))
	if err != nil || res.Error != nil {
		t.Fatalf("second teardown: %v %+v", err, res.Error)
	}
	if err := json.Unmarshal(res.Response, &out); err != nil || out.Outcome != "closed" || !out.Unchanged {
		t.Fatalf("second teardown answered %s (%v); want closed, unchanged", res.Response, err)
	}
	logs := teardown.Stop().Output
	if !strings.Contains(logs, `"deployment":"`+awstest.DeploymentID+`"`) || !strings.Contains(logs, `"request_id"`) {
		t.Errorf("teardown's logs lack the deployment or the request id:\n%s", logs)
	}
}

// configuredForBinaries is a world whose pair capture and configure have
// set up (in process), with a 24 h binlog retention on production.
func configuredForBinaries(t *testing.T) *awstest.World {
	t.Helper()
	w := awstest.New(t)
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	if outs := w.Drain(); len(outs) != 1 || outs[0].Outcome != "configured" {
		t.Fatalf("configure: %+v", outs)
	}
	w.Green.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 86400")
	return w
}

// preSwitchover gives the world's RDS the shape it has when RDS-EVENT-0244
// arrives: the deployment is AVAILABLE, its Source is the blue cluster
// orders-prod (the world's Blue server) and its Target the green cluster
// orders-prod-green-3rnukl (the Green server), each with its own DB cluster
// parameter group; green's lacks binlog_format. Green has no admin secret
// of its own (it is a clone of blue).
func preSwitchover(w *awstest.World) (greenID, greenGroup string) {
	greenID, greenGroup = "orders-prod-green-3rnukl", "orders-prod-green-params"
	tags := map[string]string{"switchback:enabled": "true", "team": "orders"}
	w.RDS.RemoveCluster(awstest.OldID)
	w.RDS.AddParameterGroup("orders-prod-params", map[string]string{"read_only": "0", "binlog_format": "ROW"})
	w.RDS.DefineParameters("orders-prod-params", awstest.Aurora2ParallelParameters...) // blue is Aurora MySQL 2.12.1
	w.RDS.AddParameterGroup(greenGroup, map[string]string{"read_only": "0"})
	w.RDS.AddCluster(awsfake.RDSCluster{ID: awstest.ProdID, Engine: "aurora-mysql", EngineVersion: "5.7.mysql_aurora.2.12.1",
		Endpoint: w.Blue.Host, Port: w.Blue.Port, ParameterGroup: "orders-prod-params", Tags: tags,
		Members: []awsfake.RDSClusterMember{{Instance: awstest.ProdWriter, Writer: true}}})
	w.RDS.AddCluster(awsfake.RDSCluster{ID: greenID, Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
		Endpoint: w.Green.Host, Port: w.Green.Port, ParameterGroup: greenGroup, Tags: tags,
		Members: []awsfake.RDSClusterMember{{Instance: awstest.GreenWriter, Writer: true}}})
	w.RDS.AddDeployment(awsfake.RDSDeployment{ID: awstest.DeploymentID, Name: "orders-upgrade",
		Source: awstest.AccountPrefix + "cluster:" + awstest.ProdID, Target: awstest.AccountPrefix + "cluster:" + greenID,
		Status: "AVAILABLE", CreateTime: time.Now().Add(-time.Hour)})
	return greenID, greenGroup
}

// The preflight binary, given the RDS-EVENT-0244 fixture through the
// Lambda Runtime API, checks green (the new production) and blue (the
// rollback side) of the deployment on real servers: it reads green's
// parameter group and finds binlog_format missing, publishes a short FAIL
// report naming that check and its fix to SNS, and returns the report.
// Once the group says ROW, a manual invocation by source passes. Other
// events are ignored, and nothing is ever changed.
func TestIntegrationPreflightFunction(t *testing.T) {
	w := awstest.New(t)
	greenID, greenGroup := preSwitchover(w)
	fn := lambdatest.Start(t, lambdatest.Build(t, "./preflight"), w.Env())
	invoke := func(payload []byte) preflight.Outcome {
		t.Helper()
		res, err := fn.Invoke(payload)
		if err != nil || res.Error != nil {
			t.Fatalf("preflight: %v %+v\n%s", err, res.Error, fn.Output())
		}
		var out preflight.Outcome
		if err := json.Unmarshal(res.Response, &out); err != nil {
			t.Fatalf("preflight answered %s (%v)", res.Response, err)
		}
		return out
	}
	event, err := fs.ReadFile(fixtures.FS, "bluegreen-deployment-created.json")
	if err != nil {
		t.Fatal(err)
	}

	out := invoke(event)
	if out.Action != "checked" || out.Trigger != "RDS-EVENT-0244" || out.Deployment != awstest.DeploymentID || !out.Notified || out.Report == nil {
		t.Fatalf("outcome %+v", out)
	}
	rep := out.Report
	if rep.Production != greenID || rep.Rollback != awstest.ProdID || rep.Verdict != preflight.Fail {
		t.Fatalf("report: production %s, rollback %s, verdict %s", rep.Production, rep.Rollback, rep.Verdict)
	}
	for _, c := range rep.Checks {
		want := preflight.Pass
		if c.ID == preflight.CheckBinlogFormatGroup {
			want = preflight.Fail
		}
		if c.Status != want {
			t.Errorf("%s: %s (%s); want %s", c.ID, c.Status, c.Evidence, want)
		}
	}
	if c, _ := rep.Check(preflight.CheckBinlogFormatGroup); !strings.Contains(c.Evidence, "binlog_format is not set") || !strings.Contains(c.Fix, "--db-cluster-parameter-group-name "+greenGroup) || !strings.Contains(c.Fix, awstest.GreenWriter) {
		t.Errorf("binlog_format check: %+v", c)
	}
	if c, _ := rep.Check(preflight.CheckRollbackGroup); !strings.Contains(c.Evidence, "orders-prod-params is a custom DB cluster parameter group that only cluster orders-prod uses") {
		t.Errorf("rollback group check: %+v", c)
	}
	if c, _ := rep.Check(preflight.CheckProductionGroup); c.Status != preflight.Pass || !strings.Contains(c.Evidence, "only cluster "+greenID+" uses") {
		t.Errorf("production group check: %+v", c)
	}
	// Blue's group does not hold parallel apply yet; configure sets it there.
	if c, _ := rep.Check(preflight.CheckRollbackParallel); !strings.Contains(c.Evidence, "configure sets slave_parallel_type=LOGICAL_CLOCK, slave_preserve_commit_order=1, slave_parallel_workers=4 there before it starts replication") {
		t.Errorf("parallel apply check: %+v", c)
	}
	msgs := w.SNS.Published(awstest.TopicARN)
	if len(msgs) != 1 {
		t.Fatalf("%d notifications; want 1", len(msgs))
	}
	t.Logf("notification:\n%s\n%s", msgs[0].Subject, msgs[0].Message)
	if msgs[0].Subject != "switchback preflight FAIL: "+awstest.DeploymentID+" (1 failing)" {
		t.Errorf("subject %q", msgs[0].Subject)
	}
	for _, want := range []string{
		awstest.DeploymentID + ": preflight FAIL — 1 failing, 0 warning, 15 passed (production " + greenID + " → rollback orders-prod).",
		"FAIL binlog_format in production's DB cluster parameter group: binlog_format is not set (the engine default, OFF) in " + greenGroup,
		`Next: apply each failing check's fix (in the report) and run preflight again (payload {"deployment": "` + awstest.DeploymentID + `"})`,
	} {
		if !strings.Contains(msgs[0].Message, want) {
			t.Errorf("message lacks %q:\n%s", want, msgs[0].Message)
		}
	}
	if n := len([]rune(msgs[0].Message)); n > preflight.MaxMessageChars {
		t.Errorf("message of %d characters", n)
	}
	if calls := w.RDS.Calls("DescribeDBClusterParameters"); len(calls) == 0 || calls[0].Params.Get("DBClusterParameterGroupName") != greenGroup {
		t.Errorf("green's parameter group not read: %+v", calls)
	}

	// Fixed: a manual run by the blue cluster's name passes.
	w.RDS.AddParameterGroup(greenGroup, map[string]string{"read_only": "0", "binlog_format": "ROW"})
	out = invoke([]byte(`{"source": "orders-prod"}`))
	if out.Action != "checked" || out.Trigger != "manual" || out.Report == nil || out.Report.Verdict != preflight.Pass {
		t.Fatalf("after the fix: %+v", out)
	}
	if msgs = w.SNS.Published(awstest.TopicARN); len(msgs) != 2 || msgs[1].Subject != "switchback preflight PASS: "+awstest.DeploymentID {
		t.Errorf("notifications %+v", msgs)
	}

	// Events preflight does not act on.
	switchover, err := fs.ReadFile(fixtures.FS, "bluegreen-switchover-completed.json")
	if err != nil {
		t.Fatal(err)
	}
	if out = invoke(switchover); out.Action != "ignored" || out.Report != nil || !strings.Contains(out.Reason, "RDS-EVENT-0244") {
		t.Errorf("switchover event: %+v", out)
	}
	res, err := fn.Invoke([]byte(`{"deployment": "bgd-4kq8w2m7r1x9zt3c", "dryRun": true}`))
	if err != nil || res.Error == nil || !strings.Contains(res.Error.Message, `unknown field "dryRun"`) {
		t.Errorf("unknown field: %v %+v", err, res.Error)
	}
	if n := len(w.SNS.Published(awstest.TopicARN)); n != 2 {
		t.Errorf("%d notifications in all; want 2", n)
	}
	if n := len(w.RDS.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("preflight modified a parameter group %d times", n)
	}
	if logs := fn.Stop().Output; strings.Contains(logs, awstest.AdminPassword) {
		t.Error("preflight logged the admin password")
	}
}
