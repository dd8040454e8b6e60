package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// runCLI runs one in-process CLI invocation and returns its exit code and output.
func runCLI(t *testing.T, stdin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &cliEnv{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errOut.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := runCLI(t, "", nil, "--help")
	if code != 0 {
		t.Fatalf("--help exit = %d; want 0", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("--help does not mention %q:\n%s", c.name, out)
		}
		code, sub, _ := runCLI(t, "", nil, c.name, "--help")
		if code != 0 || !strings.Contains(sub, "Usage: switchback "+c.name) || !strings.Contains(sub, "--output") {
			t.Errorf("%s --help = %d, %q; want usage with flags", c.name, code, sub)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCLI(t, "", nil, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, stderr %q; want 2 and the unknown command named", code, errOut)
	}
}

func TestExplainEventJSON(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want map[string]any
	}{
		{
			name: "cluster coordinates file",
			args: []string{"explain-event", "../../events/cluster-binlog-coordinates.json", "--output", "json"},
			want: map[string]any{"kind": "binlog-coordinates"},
		},
		{
			name: "flags before the file",
			args: []string{"explain-event", "--output", "json", "../../events/bluegreen-switchover-completed.json"},
			want: map[string]any{"kind": "switchover-completed"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out)
			}
			for _, k := range []string{"kind", "event_id", "source_id", "source_type", "deployment", "binlog_file", "binlog_position", "old_name", "new_name", "reason"} {
				if _, ok := got[k]; !ok {
					t.Errorf("key %q missing from %s", k, out)
				}
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v; want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestExplainEventStdin(t *testing.T) {
	event := `{"version":"0","id":"7e1f3c2a-0000-4000-8000-000000000001","detail-type":"RDS DB Instance Event",
	"source":"aws.rds","account":"123456789012","time":"2026-11-01T03:04:05Z","region":"eu-west-1",
	"resources":["arn:aws:rds:eu-west-1:123456789012:db:shop-instance-1"],
	"detail":{"EventCategories":["notification"],"SourceType":"DB_INSTANCE",
	"SourceArn":"arn:aws:rds:eu-west-1:123456789012:db:shop-instance-1","Date":"2026-11-01T03:04:05.123Z",
	"Message":"Binary log coordinates in green environment after switchover: file mysql-bin-changelog.004242 and position 9876543210123",
	"SourceIdentifier":"shop-instance-1","EventID":"RDS-EVENT-0999"}}`
	code, out, errOut := runCLI(t, event, nil, "explain-event", "-", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got explainJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "binlog-coordinates" || got.BinlogFile != "mysql-bin-changelog.004242" ||
		got.BinlogPosition == nil || *got.BinlogPosition != 9876543210123 || got.SourceID != "shop-instance-1" {
		t.Fatalf("got %+v", got)
	}

	code, text, _ := runCLI(t, event, nil, "explain-event", "-")
	if code != 0 || !strings.Contains(text, "file mysql-bin-changelog.004242, position 9876543210123") {
		t.Fatalf("text form: exit %d\n%s", code, text)
	}
}

func TestExplainEventErrors(t *testing.T) {
	cases := []struct {
		name, stdin string
		args        []string
		wantCode    int
		wantErr     string
	}{
		{"not json", "{nope", []string{"explain-event", "-"}, 1, "standard input"},
		{"missing detail", `{"source":"aws.rds","detail-type":"RDS DB Cluster Event"}`, []string{"explain-event", "-"}, 1, "detail"},
		{"coordinates overflow", `{"source":"aws.rds","detail-type":"RDS DB Cluster Event","detail":{"SourceType":"CLUSTER","Message":"Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000001 and position 18446744073709551616"}}`, []string{"explain-event", "-", "--output", "json"}, 1, "18446744073709551616"},
		{"no such file", "", []string{"explain-event", "does-not-exist.json"}, 1, "does-not-exist.json"},
		{"no argument", "", []string{"explain-event"}, 2, "exactly one FILE"},
		{"bad output", "", []string{"explain-event", "-", "--output", "yaml"}, 2, "yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.stdin, nil, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d stderr %q; want exit %d and stderr naming %q", code, errOut, tc.wantCode, tc.wantErr)
			}
			if out != "" {
				t.Errorf("stdout should be empty on failure, got %q", out)
			}
		})
	}
}

// Bad invocations of the commands that talk to servers fail with exit 2 and
// a message naming the problem, before any connection is attempted (the
// DSNs point at a closed port, so reaching a server would fail differently).
func TestServerCommandUsageErrors(t *testing.T) {
	env := map[string]string{
		"SWITCHBACK_PRODUCTION_DSN": "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
		"SWITCHBACK_ROLLBACK_DSN":   "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"no production DSN", nil, []string{"status"}, "production DSN missing"},
		{"position not a number", env, []string{"configure", "--binlog-file", "mysql-bin-changelog.000003", "--binlog-position", "12x"}, `"12x" is not a 64-bit unsigned number`},
		{"position in the file header", env, []string{"configure", "--binlog-file", "mysql-bin-changelog.000003", "--binlog-position", "0"}, "position 0 is not valid"},
		{"file is not a binlog name", env, []string{"configure", "--binlog-file", "x;drop", "--binlog-position", "4"}, `"x;drop" is not a binary log file name`},
		{"no file", env, []string{"configure", "--binlog-position", "4"}, "binlog file is required"},
		{"retention out of range", env, []string{"configure", "--binlog-file", "mysql-bin-changelog.000003", "--binlog-position", "4", "--retention-hours", "0"}, "--retention-hours 0"},
		{"unknown dialect", env, []string{"status", "--dialect", "oracle"}, "--dialect"},
		{"negative catch-up timeout", env, []string{"rollback", "--catchup-timeout", "-5s"}, "--catchup-timeout -5s must be more than zero"},
		{"zero probe timeout", env, []string{"status", "--probe-timeout", "0s"}, "--probe-timeout 0s must be more than zero"},
		{"DSN given as an argument", nil, []string{"status", "admin:Hunter2-secret@tcp(db:3306)/"}, "unexpected argument #1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.env, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d stderr %q; want 2 naming %q", code, errOut, tc.wantErr)
			}
			if strings.Contains(out+errOut, "Hunter2") {
				t.Errorf("a password appears in the output: %q", out+errOut)
			}
		})
	}
}

// An unreachable server is exit 1 with its role and address, not the DSN.
func TestServerCommandUnreachable(t *testing.T) {
	env := map[string]string{
		"SWITCHBACK_PRODUCTION_DSN": "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
		"SWITCHBACK_ROLLBACK_DSN":   "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
	}
	code, _, errOut := runCLI(t, "", env, "status")
	if code != 1 || !strings.Contains(errOut, "cannot reach production at 127.0.0.1:1") || strings.Contains(errOut, "Hunter2") {
		t.Fatalf("exit %d stderr %q; want 1 naming production's address and no password", code, errOut)
	}
}
