package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/orchestrate"
)

// Bad invocations of history exit 2 naming the problem, before any AWS
// call.
func TestHistoryUsageErrors(t *testing.T) {
	withTable := map[string]string{envTable: "switchback-state"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"no deployment", withTable, []string{"history"}, "--deployment is required"},
		{"no table", nil, []string{"history", "--deployment", "bgd-1"}, "pass --table or set SWITCHBACK_TABLE"},
		{"deployment as an argument", withTable, []string{"history", "bgd-1"}, `unexpected argument "bgd-1" (pass the deployment as --deployment ID)`},
		{"bad output", withTable, []string{"history", "--deployment", "bgd-1", "--output", "yaml"}, "yaml"},
		{"unknown flag", withTable, []string{"history", "--deployment", "bgd-1", "--region", "x"}, "not defined: -region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.env, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d stderr %q; want 2 naming %q", code, errOut, tc.wantErr)
			}
			if out != "" {
				t.Errorf("stdout should be empty, got %q", out)
			}
		})
	}
}

func TestHistoryHelp(t *testing.T) {
	code, out, _ := runCLI(t, "", nil, "history", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--deployment", "--table", "--output", "SWITCHBACK_TABLE", "AWS_ENDPOINT_URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %s:\n%s", want, out)
		}
	}
}

func TestHistoryTextRendering(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 10, 0, 0, time.UTC)
	rec := orchestrate.Record{
		Deployment: "unmatched:shop-prod",
		Phase:      orchestrate.PhaseUnmatched,
		Coords: &orchestrate.Coordinates{
			File: "mysql-bin-changelog.000002", Position: 4, Source: "shop-prod", Via: "describe-events",
			Message: "Binary log coordinates in green environment after switchover:\nfile mysql-bin-changelog.000002 and position 4",
			Time:    now.Add(-time.Hour),
		},
		Version:   2,
		UpdatedAt: now.Add(-time.Minute),
		Lease:     &orchestrate.Lease{Holder: "reconcile/req-7", Expires: now.Add(-30 * time.Second)},
	}
	var buf bytes.Buffer
	writeHistory(&buf, "t1", rec, nil, now)
	out := buf.String()
	for _, want := range []string{
		"unmatched:shop-prod", "(table t1)", "phase        unmatched\n", "detail       -\n",
		"production   not known yet",
		"mysql-bin-changelog.000002:4", "from shop-prod via describe-events at 2026-11-24T02:10:00.000Z",
		"switchover: file mysql-bin-changelog.000002", // the message's newline does not break the row
		"version      2, updated 2026-11-24T03:09:00.000Z", "free (expired: reconcile/req-7 until 2026-11-24T03:09:30.000Z, 30s ago)",
		"history: 0 entries, oldest first",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "TIME") {
		t.Errorf("an empty history printed a table header:\n%s", out)
	}
}
