//go:build integration

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/sandbox"
)

// switchback preflight against two real MariaDB servers: a healthy pair
// exits 0 with every check in the JSON report; STATEMENT binlog format
// exits 3 and names the check and its fix; a retention shorter than
// --retention-hours fails until --fix sets it in place.
func TestIntegrationCLIPreflight(t *testing.T) {
	s := sandbox.StartT(t, 2, sandbox.Options{})
	prod, rb := s[0], s[1]
	prod.ExecT(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64))")
	env := map[string]string{"SWITCHBACK_PRODUCTION_DSN": prod.RootDSN(), "SWITCHBACK_ROLLBACK_DSN": rb.RootDSN()}
	type report struct {
		Verdict string `json:"verdict"`
		Checks  []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Evidence string `json:"evidence"`
			Fix      string `json:"fix"`
			Fixed    bool   `json:"fixed"`
		} `json:"checks"`
	}
	preflight := func(args ...string) (int, report, string) {
		t.Helper()
		code, out, errOut := runCLI(t, "", env, append([]string{"preflight", "--output", "json"}, args...)...)
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("exit %d, output not JSON: %v\n%s\n%s", code, err, out, errOut)
		}
		return code, r, out
	}
	check := func(r report, id string) (status, evidence, fix string, fixed bool) {
		for _, c := range r.Checks {
			if c.ID == id {
				return c.Status, c.Evidence, c.Fix, c.Fixed
			}
		}
		t.Fatalf("no %s check", id)
		return
	}

	code, r, out := preflight()
	if code != 0 || r.Verdict != "pass" || len(r.Checks) != 16 {
		t.Fatalf("healthy pair: exit %d, verdict %s, %d checks\n%s", code, r.Verdict, len(r.Checks), out)
	}
	// No RDS API: the rollback server's own settings, which configure sets
	// before it starts replication.
	if st, ev, _, _ := check(r, "rollback-parallel-apply"); st != "pass" || !strings.Contains(ev, "configure sets 4 workers with commit order preserved") {
		t.Errorf("parallel apply: %s %q", st, ev)
	}

	prod.ExecT(t, "SET GLOBAL binlog_format = 'STATEMENT'")
	code, textOut, _ := runCLI(t, "", env, "preflight")
	if code != 3 || !strings.Contains(textOut, "FAIL    binlog_format on the production writer") || !strings.Contains(textOut, "Fixes:") {
		t.Errorf("STATEMENT: exit %d\n%s", code, textOut)
	}
	prod.ExecT(t, "SET GLOBAL binlog_format = 'ROW'")

	prod.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 7200")
	code, r, out = preflight("--retention-hours", "48")
	if st, ev, fix, _ := check(r, "binlog-retention"); code != 3 || st != "fail" || !strings.Contains(ev, "2 h is shorter than the 48 h") || !strings.Contains(fix, "172800") {
		t.Errorf("short retention: exit %d, %s %q %q", code, st, ev, fix)
	}
	code, r, out = preflight("--retention-hours", "48", "--fix")
	if st, ev, _, fixed := check(r, "binlog-retention"); code != 0 || !fixed || st == "fail" || !strings.Contains(ev, "set it to 48 h") {
		t.Errorf("--fix: exit %d, %s fixed=%v %q\n%s", code, st, fixed, ev, out)
	}
	var secs int
	if err := prod.DBT(t).QueryRow("SELECT @@global.binlog_expire_logs_seconds").Scan(&secs); err != nil || secs != 48*3600 {
		t.Errorf("retention after --fix: %d (%v)", secs, err)
	}
	if code, r, _ = preflight("--retention-hours", "48"); code != 0 || r.Verdict != "pass" {
		t.Errorf("after the fix: exit %d, verdict %s", code, r.Verdict)
	}
}
