//go:build integration

package functions_test

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/leaktest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// rotatePassword gives user a new password on s, outside the binary log
// (the servers replicate from each other, and a write of root's on the
// rollback target would be an errant write).
func rotatePassword(t *testing.T, s *sandbox.Server, user, password string) {
	t.Helper()
	db, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION sql_log_bin = 0", "ALTER USER '" + user + "'@'%' IDENTIFIED BY '" + password + "'"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestIntegrationSecretsNeverLeaveTheFunctions runs the real bootstraps
// through a deployment's life with distinctive passwords in the fake
// Secrets Manager: the admin login of both clusters, the replication
// secret (SWITCHBACK_REPLICATION_SECRET_ARN) and the application's
// connection secret (re-pointed by the rollback). capture (coordinates,
// switchover) → preflight → configure → monitor → the CLI's rollback
// --deployment dry run and history → the rollback function's dry run and
// its execute with reverse and the secret re-pointing → teardown (refused
// after a rollback, and due) → reconcile → monitor again. No password, in
// any common spelling (see leaktest.Forms), is in any function's log line
// (EMF metric documents included), any response or function error, any
// CLI output, any state table item, any SNS message, any configure
// invocation payload or any request RDS received.
func TestIntegrationSecretsNeverLeaveTheFunctions(t *testing.T) {
	secrets := map[string]string{
		"admin":       leaktest.Password("admin"),
		"replication": leaktest.Password("repl"),
		"app":         leaktest.Password("app"),
	}
	w := awstest.New(t)
	for _, s := range []*sandbox.Server{w.Blue, w.Green} {
		rotatePassword(t, s, awstest.AdminUser, secrets["admin"])
	}
	adminSecret, _ := json.Marshal(map[string]string{"username": awstest.AdminUser, "password": secrets["admin"], "engine": "mysql"})
	if arn := w.SM.PutSecret("orders-admin", string(adminSecret)); arn != w.SecretARN {
		t.Fatalf("the admin secret moved: %s, not %s", arn, w.SecretARN)
	}
	replSecret, _ := json.Marshal(map[string]string{"username": replication.DefaultReplicationUser, "password": secrets["replication"]})
	replARN := w.SM.PutSecret("switchback/replication", string(replSecret))
	appSecret, _ := json.Marshal(map[string]any{"engine": "mysql", "host": w.Green.Host, "port": w.Green.Port, "username": "app", "password": secrets["app"], "dbname": "shop"})
	w.SM.PutSecret(awstest.AppSecret, string(appSecret))
	env := append(w.Env(), "SWITCHBACK_REPLICATION_SECRET_ARN="+replARN,
		"SWITCHBACK_MIN_HEADROOM_HOURS=1", "SWITCHBACK_MONITOR_PAIR_TIMEOUT_SECONDS=15")
	dep := awstest.DeploymentID

	var collected strings.Builder
	collect := func(what, text string) { fmt.Fprintf(&collected, "=== %s\n%s\n", what, text) }
	fns := map[string]*lambdatest.Function{}
	start := func(name string) *lambdatest.Function {
		f := lambdatest.Start(t, lambdatest.Build(t, "./"+name), env)
		fns[name] = f
		return f
	}
	invoke := func(f *lambdatest.Function, name, payload string) lambdatest.Result {
		t.Helper()
		res, err := f.Invoke([]byte(payload))
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, payload, err, f.Output())
		}
		collect(name+" response", string(res.Response))
		if res.Error != nil {
			collect(name+" error", string(res.Error.Body))
		}
		return res
	}
	ok := func(res lambdatest.Result, name string, v any) {
		t.Helper()
		if res.Error != nil {
			t.Fatalf("%s failed: %s", name, res.Error)
		}
		if err := json.Unmarshal(res.Response, v); err != nil {
			t.Fatalf("%s answered %s: %v", name, res.Response, err)
		}
	}

	capture := start("capture")
	invoke(capture, "capture", string(w.CoordinatesEvent(true, w.Coords.File, w.Coords.Position)))
	invoke(capture, "capture", string(w.SwitchoverEvent()))
	calls := w.Lambda.Calls(awstest.ConfigureFn)
	if len(calls) != 1 {
		t.Fatalf("capture invoked configure %d times", len(calls))
	}

	var pre struct {
		Action string `json:"action"`
	}
	ok(invoke(start("preflight"), "preflight", `{"deployment":"`+dep+`"}`), "preflight", &pre)
	if pre.Action != "checked" {
		t.Fatalf("preflight %+v; want checked", pre)
	}

	var conf orchestrate.ConfigureOutcome
	ok(invoke(start("configure"), "configure", string(calls[0].Payload)), "configure", &conf)
	if conf.Outcome != "configured" {
		t.Fatalf("configure: %+v", conf)
	}
	w.Green.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 86400")
	monitor := start("monitor")
	schedule := `{"version":"0","id":"sched","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`
	var rep orchestrate.MonitorReport
	ok(invoke(monitor, "monitor", schedule), "monitor", &rep)
	if len(rep.Pairs) != 1 || !rep.Pairs[0].Ready {
		t.Errorf("monitor: %+v; want one ready pair", rep.Pairs)
	}

	// The CLI on the same deployment, through the same adapters.
	cli := filepath.Join(t.TempDir(), "switchback")
	if out, err := exec.Command("go", "build", "-o", cli, "../cmd/switchback").CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}
	home := t.TempDir()
	cliEnv := append(append([]string{}, env...), "PATH=/usr/local/bin:/usr/bin:/bin", "HOME="+home, "USER=bob",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDCLI", "AWS_SECRET_ACCESS_KEY=cli-secret", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"))
	for _, args := range [][]string{
		{"rollback", "--deployment", dep, "--repoint-secret", awstest.AppSecret},
		{"rollback", "--deployment", dep, "--output", "json"},
		{"rollback", "--deployment", dep, "--execute", "--confirm", awstest.ProdID, "--reason", "wrong confirm"},
		{"history", "--deployment", dep},
		{"history", "--deployment", dep, "--output", "json"},
	} {
		cmd := exec.Command(cli, args...)
		cmd.Env = cliEnv
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 0 && !(slices.Contains(args, "--execute") && code == 3) {
			t.Fatalf("switchback %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		collect("switchback "+strings.Join(args, " "), string(out))
	}

	rollback := start("rollback")
	rollback.Timeout = 90 * time.Second
	rollback.Server().SetClientContext(`{"custom":{"caller":"alice@oncall"},"env":{},"Client":{}}`)
	var rb orchestrate.RollbackOutcome
	ok(invoke(rollback, "rollback", `{"deployment":"`+dep+`","repoint":{"secret":{"secretId":"`+awstest.AppSecret+`"}}}`), "rollback dry run", &rb)
	if rb.Outcome != replication.OutcomePlanned {
		t.Fatalf("dry run: %+v", rb)
	}
	ok(invoke(rollback, "rollback", `{"deployment":"`+dep+`","dryRun":false,"confirm":"`+awstest.OldID+`","reason":"p99 latency","reverse":true,"privilegedWriters":"allow","repoint":{"secret":{"secretId":"`+awstest.AppSecret+`"}}}`), "rollback", &rb)
	if rb.Outcome != replication.OutcomeCompleted || len(rb.Repoint) != 1 || rb.Repoint[0].Outcome != replication.StepDone {
		t.Fatalf("rollback: %+v\n%s", rb, rollback.Output())
	}

	teardown := start("teardown")
	var td orchestrate.TeardownOutcome
	ok(invoke(teardown, "teardown", `{"deployment":"`+dep+`","reason":"verified","caller":"alice"}`), "teardown", &td)
	if td.Outcome != orchestrate.TeardownRefused {
		t.Errorf("teardown after a rollback: %+v; want refused", td)
	}
	ok(invoke(teardown, "teardown", `{"due":true}`), "teardown due", &td)
	invoke(start("reconcile"), "reconcile", schedule)
	ok(invoke(monitor, "monitor", schedule), "monitor", &rep)

	// The passwords were in play: the old login no longer works, the
	// distinctive one does; switchback_repl logs in with the replication
	// password on both servers (configure made it on the new production,
	// the reverse on the old one); the application's secret still holds
	// its password after the re-pointing rewrote its host and port.
	for _, s := range []*sandbox.Server{w.Blue, w.Green} {
		for user, pw := range map[string]string{awstest.AdminUser: secrets["admin"], replication.DefaultReplicationUser: secrets["replication"]} {
			db, err := sql.Open("mysql", s.DSN(user, pw, ""))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.PingContext(t.Context()); err != nil {
				t.Errorf("%s does not log in to %s with its distinctive password: %v", user, s.Addr(), err)
			}
			db.Close()
		}
		db, _ := sql.Open("mysql", s.DSN(awstest.AdminUser, awstest.AdminPassword, ""))
		if err := db.PingContext(t.Context()); err == nil {
			t.Errorf("the admin's old password still works on %s", s.Addr())
		}
		db.Close()
	}
	if v := w.SM.SecretVersions(awstest.AppSecret); len(v) != 2 || !strings.Contains(v[0].Value, secrets["app"]) || !strings.Contains(v[0].Value, strconv.Itoa(w.Blue.Port)) {
		t.Errorf("application secret versions %+v; want a new one pointing at the old cluster, password kept", v)
	}

	// Everything the functions left behind.
	logLines, emf := 0, 0
	for name, f := range fns {
		logs := f.Stop().Output // after the process ended: every line copied
		collect(name+" logs", logs)
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			logLines++
			if strings.Contains(line, `"_aws"`) {
				emf++
			}
		}
	}
	records, history := stateItems(t, w)
	collect("state table records", strings.Join(records, "\n"))
	collect("state table history", strings.Join(history, "\n"))
	msgs := w.SNS.Published("")
	for _, m := range msgs {
		collect("sns "+m.TopicARN, m.Subject+"\n"+m.Message)
	}
	for _, c := range w.Lambda.Calls("") {
		collect("lambda invoke "+c.Function, string(c.Payload))
	}
	for _, c := range w.RDS.Calls("") {
		collect("rds "+c.Action, c.Params.Encode())
	}
	for _, c := range w.R53.Calls("") {
		collect("route53 "+c.Operation, c.Query.Encode()+"\n"+c.Body)
	}
	if logLines < 15 || emf < 2 || len(msgs) < 4 || len(records) < 1 || len(history) < 20 {
		t.Errorf("collected %d log lines, %d EMF documents, %d notifications, %d records, %d history items: too few to mean anything",
			logLines, emf, len(msgs), len(records), len(history))
	}
	if len(leaktest.Find("…"+base64.StdEncoding.EncodeToString(adminSecret)+"…", secrets)) == 0 {
		t.Fatal("the detector misses the admin secret, base64-encoded")
	}
	if found := leaktest.Find(collected.String(), secrets); len(found) > 0 {
		t.Errorf("passwords leaked: %v\n%s", found, collected.String())
	}
	t.Logf("checked %d bytes: %d log lines (%d EMF), %d notifications, %d records, %d history items, %d RDS requests",
		collected.Len(), logLines, emf, len(msgs), len(records), len(history), len(w.RDS.Calls("")))
}
