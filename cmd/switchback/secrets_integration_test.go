//go:build integration

package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/sandbox"
)

// TestIntegrationCLISecretsGeneralLogRefused: on the Aurora procedure path
// as the admin user, who may not set sql_log_off, a rollback target whose
// general query log is on makes configure refuse (exit 3) with the cause
// and the fix, before anything changes; with the log off it configures.
func TestIntegrationCLISecretsGeneralLogRefused(t *testing.T) {
	const password = "cli-GenLog-Secret-5wq"
	blue, green, coords := switchedOver(t)
	pa, err := green.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := blue.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
	if err != nil {
		t.Fatal(err)
	}
	blueDB := blue.DBT(t)
	for _, q := range []string{"SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = ON"} {
		if _, err := blueDB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"SWITCHBACK_PRODUCTION_DSN":       pa.DSN(""),
		"SWITCHBACK_ROLLBACK_DSN":         ra.DSN(""),
		"SWITCHBACK_REPLICATION_PASSWORD": password,
	}
	configure := []string{"configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position, 10), "--dialect", "aurora-mysql-3"}

	code, out, errOut := runCLI(t, "", env, configure...)
	if code != 3 {
		t.Fatalf("configure with the rollback target's general log on: exit %d; want 3 (refused)\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"switchback configure: refused: rollback target at " + blue.Addr(), "general query log (general_log=ON, log_output=TABLE)",
		`user "admin" may not turn it off`, "turn general_log off", "DB cluster parameter group", "sql_log_off"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not say %q", errOut, want)
		}
	}
	for _, secret := range []string{password, pa.Password, ra.Password} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("a password appears in the output:\n%s\n%s", out, errOut)
		}
	}
	var configured, logged int
	if err := blueDB.QueryRow("SELECT COUNT(*) FROM mysql.rds_history WHERE action LIKE 'set %'").Scan(&configured); err != nil || configured != 0 {
		t.Errorf("the refused configure set a replication source (%d rds_set_external_* calls, %v)", configured, err)
	}
	// Read back whole: a query naming the password would itself be logged.
	rows, err := blueDB.Query("SELECT argument FROM mysql.general_log")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var arg []byte
		if err := rows.Scan(&arg); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(arg), password) {
			logged++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if logged != 0 {
		t.Errorf("the replication password is in mysql.general_log %d times", logged)
	}

	if _, err := blueDB.Exec("SET GLOBAL general_log = OFF"); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "", env, configure...); code != 0 {
		t.Fatalf("configure with the general log off: exit %d\n%s\n%s", code, out, errOut)
	}
}
