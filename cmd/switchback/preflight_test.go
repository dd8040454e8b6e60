package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPreflightUsageErrors(t *testing.T) {
	env := map[string]string{
		"SWITCHBACK_PRODUCTION_DSN": "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
		"SWITCHBACK_ROLLBACK_DSN":   "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"no production DSN", nil, []string{"preflight"}, "production DSN missing"},
		{"no rollback DSN", map[string]string{"SWITCHBACK_PRODUCTION_DSN": env["SWITCHBACK_PRODUCTION_DSN"]}, []string{"preflight"}, "rollback DSN missing"},
		{"retention zero", env, []string{"preflight", "--retention-hours", "0"}, "--retention-hours 0 must be between 1 and 2160"},
		{"retention too long", env, []string{"preflight", "--retention-hours", "2161"}, "--retention-hours 2161"},
		{"unknown dialect", env, []string{"preflight", "--dialect", "oracle"}, "--dialect"},
		{"DSN as an argument", nil, []string{"preflight", "admin:Hunter2-secret@tcp(db:3306)/"}, "unexpected argument #1"},
	} {
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

// Unreachable writers are failed checks: exit 3 with the report, not an
// error, and no password anywhere.
func TestPreflightUnreachable(t *testing.T) {
	env := map[string]string{
		"SWITCHBACK_PRODUCTION_DSN": "admin:Hunter2-secret@tcp(127.0.0.1:1)/",
		"SWITCHBACK_ROLLBACK_DSN":   "admin:Hunter2-secret@tcp(127.0.0.1:2)/",
	}
	code, out, errOut := runCLI(t, "", env, "preflight", "--output", "json")
	if code != 3 {
		t.Fatalf("exit %d; want 3\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Production string `json:"production"`
		Rollback   string `json:"rollback"`
		Verdict    string `json:"verdict"`
		Checks     []struct {
			ID, Status, Evidence, Fix string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Verdict != "fail" || rep.Production != "127.0.0.1:1" || rep.Rollback != "127.0.0.1:2" {
		t.Errorf("report %+v", rep)
	}
	got := map[string]string{}
	for _, c := range rep.Checks {
		got[c.ID] = c.Status
	}
	for id, want := range map[string]string{"production-reachable": "fail", "rollback-reachable": "fail", "production-login": "skip", "binlog-format-parameter-group": "skip", "binlog-retention": "skip"} {
		if got[id] != want {
			t.Errorf("%s: %q; want %s", id, got[id], want)
		}
	}
	if strings.Contains(out+errOut, "Hunter2") {
		t.Errorf("a password appears in the output")
	}

	code, out, _ = runCLI(t, "", env, "preflight")
	if code != 3 || !strings.Contains(out, "FAIL    production writer reachable") || !strings.Contains(out, "Fixes:") || !strings.Contains(out, "FAIL: 2 failing") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}
}
