package main

import (
	"strings"
	"testing"
)

// A DSN with a password given as a flag is visible in process listings:
// every command that takes one warns on stderr, naming the flag and the
// environment variable to use instead, without echoing the DSN. The
// commands here stop at a usage error or an unreachable port, so no server
// is needed.
func TestSecretDSNFlagWarning(t *testing.T) {
	const prodFlagDSN = "admin:Hunter2-prod@tcp(127.0.0.1:1)/"
	const rbFlagDSN = "admin:Hunter2-rb@tcp(127.0.0.1:1)/"
	envDSNs := map[string]string{
		"SWITCHBACK_PRODUCTION_DSN": "admin:Hunter2-env@tcp(127.0.0.1:1)/",
		"SWITCHBACK_ROLLBACK_DSN":   "admin:Hunter2-env@tcp(127.0.0.1:1)/",
	}
	prodWarning := "--production carries a password"
	rbWarning := "--rollback carries a password"
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     []string // in stderr
		notWant  []string
	}{
		{"production flag", envDSNs, []string{"status", "--production", prodFlagDSN, "--dialect", "oracle"}, 2,
			[]string{prodWarning, "set SWITCHBACK_PRODUCTION_DSN instead of passing --production", "process list", "--dialect"}, []string{rbWarning}},
		{"both flags, = form, flags after a usage error", nil, []string{"configure", "--production=" + prodFlagDSN, "--rollback=" + rbFlagDSN, "--binlog-position", "x"}, 2,
			[]string{prodWarning, "SWITCHBACK_PRODUCTION_DSN", rbWarning, "set SWITCHBACK_ROLLBACK_DSN instead of passing --rollback"}, nil},
		{"rollback flag, rollback command reaching no server", envDSNs, []string{"rollback", "--rollback", rbFlagDSN}, 1,
			[]string{rbWarning, "SWITCHBACK_ROLLBACK_DSN"}, []string{prodWarning}},
		{"DSNs from the environment", envDSNs, []string{"status", "--dialect", "oracle"}, 2,
			nil, []string{"warning"}},
		{"flags without a password", nil, []string{"status", "--production", "admin@tcp(127.0.0.1:1)/", "--rollback", "root@tcp(127.0.0.1:1)/", "--dialect", "oracle"}, 2,
			nil, []string{"warning"}},
		{"a DSN the driver cannot parse still warns", envDSNs, []string{"status", "--production", "admin:Hunter2-prod@db.example.com:3306", "--dialect", "oracle"}, 2,
			[]string{prodWarning}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.env, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d; want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(errOut, w) {
					t.Errorf("stderr %q contains %q", errOut, w)
				}
			}
			if strings.Count(errOut, prodWarning) > 1 || strings.Count(errOut, rbWarning) > 1 {
				t.Errorf("a warning is repeated: %q", errOut)
			}
			if strings.Contains(out+errOut, "Hunter2") {
				t.Errorf("a password appears in the output: %q", out+errOut)
			}
			if strings.Contains(out, "warning") {
				t.Errorf("the warning went to stdout: %q", out)
			}
		})
	}
}

func TestDSNHasPassword(t *testing.T) {
	for dsn, want := range map[string]bool{
		"admin:pw@tcp(db:3306)/":        true,
		"admin:p@ss:w@rd@tcp(db:3306)/": true,
		"admin@tcp(db:3306)/":           false,
		"admin:@tcp(db:3306)/":          false,
		"tcp(db:3306)/":                 false,
		"admin:pw@db:3306":              true, // not a valid DSN, still a password
		"":                              false,
	} {
		if got := dsnHasPassword(dsn); got != want {
			t.Errorf("dsnHasPassword(%q) = %v; want %v", dsn, got, want)
		}
	}
}
