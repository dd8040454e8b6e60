//go:build integration

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// rollback --deployment resolves the clusters, their admin secrets and
// their parameter-group fencers through the same adapters as the rollback
// function (the SDK's default configuration, pointed at the local AWS
// endpoints): its dry run changes nothing, a wrong --confirm is refused
// (exit 3) with nothing changed, DSN flags do not mix with it (exit 2), and
// the execute completes and re-points the application's secret.
func TestRollbackDeploymentCommand(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	dir := t.TempDir()
	env := map[string]string{"USER": "bob"}
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v) // the SDK reads the process environment
		} else {
			env[k] = v
		}
	}
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDCLI", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	id := awstest.DeploymentID

	before := w.Snapshot()
	code, out, errOut := runCLI(t, "", env, "rollback", "--deployment", id, "--repoint-secret", awstest.AppSecret, "--repoint-rename")
	if code != 0 || !strings.Contains(out, "Planning (dry run") || !strings.Contains(out, "[planned]") || !strings.Contains(out, "two minutes of DNS change") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("dry run:\n%s", out)
	if !strings.Contains(out, "Data verified: never") {
		t.Errorf("the dry run does not say the data was never verified:\n%s", out)
	}
	code, out, errOut = runCLI(t, "", env, "rollback", "--deployment", id, "--output", "json")
	var plan orchestrate.RollbackOutcome
	if err := json.Unmarshal([]byte(out), &plan); code != 0 || err != nil || plan.Outcome != replication.OutcomePlanned || plan.Caller == "" || plan.Report == nil {
		t.Fatalf("dry run, JSON: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if diff := before.Diff(w.Snapshot()); diff != "" {
		t.Fatalf("the dry run changed:\n%s", diff)
	}

	code, _, errOut = runCLI(t, "", env, "rollback", "--deployment", id, "--execute", "--confirm", awstest.ProdID, "--reason", "latency")
	if code != 3 || !strings.Contains(errOut, `is not the rollback cluster's identifier "orders-prod-old1"`) {
		t.Fatalf("wrong --confirm: exit %d, %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", env, "rollback", "--deployment", id, "--production", "u:p@tcp(127.0.0.1:1)/")
	if code != 2 || !strings.Contains(errOut, "--deployment resolves the clusters itself") {
		t.Fatalf("--deployment with a DSN: exit %d, %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", env, "rollback", "--confirm", awstest.OldID)
	if code != 2 || !strings.Contains(errOut, "go with --deployment") {
		t.Fatalf("--confirm without --deployment: exit %d, %s", code, errOut)
	}
	after := w.Snapshot()
	if after.History != before.History+1 {
		t.Errorf("history grew by %d; want 1 (the refused execute)", after.History-before.History)
	}
	after.History = before.History
	if diff := before.Diff(after); diff != "" {
		t.Fatalf("a refusal changed:\n%s", diff)
	}

	code, out, errOut = runCLI(t, "", env, "rollback", "--deployment", id, "--execute", "--confirm", awstest.OldID, "--reason", "checkout errors", "--repoint-secret", awstest.AppSecret)
	if code != 0 || !strings.Contains(out, "Outcome: completed") || !strings.Contains(out, "re-point secret") || strings.Contains(out, "Next: re-point") {
		t.Fatalf("execute: exit %d\n%s\n%s", code, out, errOut)
	}
	if st := awstest.ReadServerState(t, w.Blue); st.ReadOnly != "0" || len(st.Replicas) != 0 {
		t.Errorf("the rollback cluster after the cutover: %+v", st)
	}
	hist, _ := w.Store.History(t.Context(), id)
	last := hist[len(hist)-1]
	if last.Step != "rollback" || last.Outcome != "completed" || !strings.HasPrefix(last.Actor, "cli/") || !strings.Contains(last.Detail, "[reason: checkout errors]") {
		t.Errorf("last history line %+v", last)
	}
}
