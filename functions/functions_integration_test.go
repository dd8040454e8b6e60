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

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
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
