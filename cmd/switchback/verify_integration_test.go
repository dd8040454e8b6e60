//go:build integration

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// verifyPair is switchedOver plus configure through the CLI and 100,000
// rows in shop.big written on production (they replicate).
func verifyPair(t *testing.T, env map[string]string, configureArgs ...string) (blue, green *sandbox.Server) {
	t.Helper()
	blue, green, coords := switchedOver(t)
	if env["SWITCHBACK_PRODUCTION_DSN"] == "" {
		env["SWITCHBACK_PRODUCTION_DSN"], env["SWITCHBACK_ROLLBACK_DSN"] = green.RootDSN(), blue.RootDSN()
	}
	args := append([]string{"configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position, 10)}, configureArgs...)
	if code, out, errOut := runCLI(t, "", env, args...); code != 0 {
		t.Fatalf("configure exit %d\n%s\n%s", code, out, errOut)
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS seq",
		"CREATE TABLE shop.big (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)",
		"INSERT INTO shop.big SELECT seq, CONCAT('v', seq) FROM seq.seq_1_to_100000",
		"INSERT INTO shop.orders VALUES (2, 'marker')",
	} {
		if _, err := green.DBT(t).Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	waitForRow(t, blue.DBT(t), 2, "marker")
	return blue, green
}

type verifyJSON struct {
	RunID   string `json:"run_id"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Resumed bool   `json:"resumed"`
	Tables  []struct {
		Table  string `json:"table"`
		Status string `json:"status"`
		Rows   int64  `json:"rows"`
		Chunks int64  `json:"chunks"`
	} `json:"tables"`
	MaxLockMS float64 `json:"max_production_lock_ms"`
}

// TestIntegrationCLIVerify runs verify as a user would: equal, then a row
// changed by hand on the rollback target found with its key (exit 1), and
// usage errors (exit 2) that touch nothing.
func TestIntegrationCLIVerify(t *testing.T) {
	env := map[string]string{}
	blue, _ := verifyPair(t, env)

	code, out, errOut := runCLI(t, "", env, "verify")
	if code != 0 || !strings.Contains(out, "EQUAL: all 2 tables are equal") || !strings.Contains(out, "shop.big") {
		t.Fatalf("verify on equal data: exit %d\n%s\n%s", code, out, errOut)
	}

	// The rollback dry run shows the latest result.
	if _, out, _ := runCLI(t, "", env, "rollback"); !strings.Contains(out, "Data verified: EQUAL") {
		t.Errorf("the rollback dry run does not show the verify result:\n%s", out)
	}

	db := blue.DBT(t)
	for _, q := range []string{"STOP SLAVE", "SET GLOBAL read_only = 0", "UPDATE shop.big SET v = 'by hand' WHERE id = 61234",
		"SET GLOBAL read_only = 1", "START SLAVE"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = runCLI(t, "", env, "verify", "--rows", "--tables", "shop.big")
	t.Logf("verify --rows:\n%s\n%s", out, errOut)
	if code != 1 || !strings.Contains(out, "id=61234: changed") || !strings.Contains(out, "DIFFERING") {
		t.Fatalf("verify --rows with one row changed: exit %d; want 1 naming id=61234\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "by hand") {
		t.Errorf("verify printed a row's value:\n%s", out)
	}
	code, out, _ = runCLI(t, "", env, "verify", "--output", "json", "--tables", "shop.big")
	var rep verifyJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Outcome != "differing" || len(rep.Tables) != 1 || rep.Tables[0].Rows != 100000 {
		t.Fatalf("verify --output json: exit %d, %+v (%v)\n%s", code, rep, err, out)
	}

	for _, args := range [][]string{{"--tables", "big"}, {"--chunk-rows", "0"}, {"--max-lock", "2s"}, {"--tables", "mysql.user"}} {
		code, _, errOut := runCLI(t, "", env, append([]string{"verify"}, args...)...)
		if code != 2 {
			t.Errorf("verify %v: exit %d; want 2\n%s", args, code, errOut)
		}
	}
}

// TestIntegrationCLIVerifyAsAuroraAdmin verifies with Aurora's
// administrative user on both sides: no SUPER, no REPLICATION SLAVE ADMIN,
// no CONNECTION ADMIN.
func TestIntegrationCLIVerifyAsAuroraAdmin(t *testing.T) {
	blue, green, coords := switchedOver(t)
	pa, err := green.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := blue.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SWITCHBACK_PRODUCTION_DSN": pa.DSN(""), "SWITCHBACK_ROLLBACK_DSN": ra.DSN(""), "SWITCHBACK_REPLICATION_PASSWORD": "verify-Repl-9"}
	if code, out, errOut := runCLI(t, "", env, "configure", "--dialect", "aurora-mysql-3", "--binlog-file", coords.File,
		"--binlog-position", strconv.FormatUint(coords.Position, 10)); code != 0 {
		t.Fatalf("configure exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := green.DBT(t).Exec("INSERT INTO shop.orders VALUES (3, 'x')"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", env, "verify", "--output", "json")
	var rep verifyJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Outcome != "equal" {
		t.Fatalf("verify as the admin user: exit %d %+v (%v)\n%s\n%s", code, rep, err, out, errOut)
	}
	for _, s := range []string{pa.Password, ra.Password} {
		if strings.Contains(out+errOut, s) {
			t.Fatal("verify printed a password")
		}
	}
}

// TestIntegrationCLIVerifyKilledThenResumed SIGKILLs a verify mid-run: its
// locks die with it, replication keeps running, and the same command run
// again continues the run (no chunk compared twice, none skipped) to the
// end.
func TestIntegrationCLIVerifyKilledThenResumed(t *testing.T) {
	bin := buildCLI(t)
	env := map[string]string{}
	blue, green := verifyPair(t, env)
	cmd := func(ctx context.Context, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = append(os.Environ(), "SWITCHBACK_PRODUCTION_DSN="+env["SWITCHBACK_PRODUCTION_DSN"], "SWITCHBACK_ROLLBACK_DSN="+env["SWITCHBACK_ROLLBACK_DSN"])
		return c
	}
	args := []string{"verify", "--chunk-rows", "100", "--output", "json"}
	first := cmd(t.Context(), args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	prod := green.DBT(t)
	var runID string
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		err := prod.QueryRow("SELECT run_id, COUNT(*) FROM switchback.verify_chunk WHERE table_name = 'shop.big' GROUP BY run_id").Scan(&runID, &n)
		if err == nil && n >= 50 {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("verify compared no 50 chunks of shop.big in 60s (%v)", err)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()

	// Nothing of the killed run holds replication back.
	if _, err := prod.Exec("INSERT INTO shop.orders VALUES (4, 'after the kill')"); err != nil {
		t.Fatal(err)
	}
	waitForRow(t, blue.DBT(t), 4, "after the kill")

	out, err := cmd(t.Context(), args...).Output()
	var rep verifyJSON
	if jerr := json.Unmarshal(out, &rep); err != nil || jerr != nil || rep.Outcome != "equal" || !rep.Resumed || rep.RunID != runID {
		t.Fatalf("re-run after the kill: %v %v %+v; want equal, resumed run %s\n%s", err, jerr, rep, runID, out)
	}
	var chunks, maxSeq int
	if err := prod.QueryRow("SELECT COUNT(*), MAX(seq) FROM switchback.verify_chunk WHERE run_id = ? AND table_name = 'shop.big'", runID).Scan(&chunks, &maxSeq); err != nil {
		t.Fatal(err)
	}
	// 1,000 chunks of 100 rows, then the open-ended one after the last
	// key (where rows only the rollback target has would be).
	if chunks != 1001 || maxSeq != 1001 {
		t.Errorf("shop.big compared in %d chunks numbered up to %d; want exactly 1001 (none twice, none skipped)", chunks, maxSeq)
	}
	for _, tr := range rep.Tables {
		if tr.Table == "shop.big" && tr.Rows != 100000 {
			t.Errorf("shop.big: %d rows compared over both runs; want 100000", tr.Rows)
		}
	}
	if _, err := prod.Exec("INSERT INTO shop.orders VALUES (5, 'after the re-run')"); err != nil {
		t.Fatal(err)
	}
	waitForRow(t, blue.DBT(t), 5, "after the re-run")
}
