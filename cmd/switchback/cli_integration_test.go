//go:build integration

package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// switchedOver starts blue and green, seeds shop.orders on blue, and plays
// a blue/green switchover; it returns green's coordinates.
func switchedOver(t *testing.T) (blue, green *sandbox.Server, coords sandbox.Coordinates) {
	t.Helper()
	s := sandbox.StartT(t, 2, sandbox.Options{})
	coords, err := sandbox.SimulateSwitchover(t.Context(), s[0], s[1], func(db *sql.DB) error {
		for _, q := range []string{
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64))",
			"INSERT INTO shop.orders VALUES (1, 'seed')",
		} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s[0], s[1], coords
}

func waitForRow(t *testing.T, db *sql.DB, id int, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got string
		err := db.QueryRow("SELECT item FROM shop.orders WHERE id = ?", id).Scan(&got)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("row %d never reached the rollback target (last: %q, %v)", id, got, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// TestIntegrationCLIConfigureStatus runs the configure and status commands
// as a user would, on the native MariaDB path as root and on the Aurora v3
// procedure path as an admin user without SUPER.
func TestIntegrationCLIConfigureStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		aurora bool
	}{{"mariadb native as root", false}, {"aurora v3 procedures as admin", true}} {
		t.Run(tc.name, func(t *testing.T) {
			blue, green, coords := switchedOver(t)
			prodDSN, rbDSN := green.RootDSN(), blue.RootDSN()
			secrets := []string{"cli-Repl-Secret-9"}
			args := []string{}
			if tc.aurora {
				pa, err := green.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
				if err != nil {
					t.Fatal(err)
				}
				ra, err := blue.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
				if err != nil {
					t.Fatal(err)
				}
				prodDSN, rbDSN = pa.DSN(""), ra.DSN("")
				secrets = append(secrets, pa.Password, ra.Password)
				args = append(args, "--dialect", "aurora-mysql-3")
			}
			env := map[string]string{
				"SWITCHBACK_PRODUCTION_DSN":       prodDSN,
				"SWITCHBACK_ROLLBACK_DSN":         rbDSN,
				"SWITCHBACK_REPLICATION_PASSWORD": secrets[0],
			}
			var outputs []string
			cli := func(args ...string) (int, string) {
				code, out, errOut := runCLI(t, "", env, args...)
				outputs = append(outputs, out, errOut)
				return code, out
			}
			configure := append([]string{"configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position, 10), "--output", "json"}, args...)

			code, out := cli(configure...)
			if code != 0 {
				t.Fatalf("configure exit %d\n%s\n%s", code, out, strings.Join(outputs, "\n"))
			}
			var res struct {
				Outcome string `json:"outcome"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.Outcome != "configured" {
				t.Fatalf("configure output %q (%v); want outcome configured", out, err)
			}
			greenDB, blueDB := green.DBT(t), blue.DBT(t)
			if _, err := greenDB.Exec("INSERT INTO shop.orders VALUES (2, 'after')"); err != nil {
				t.Fatal(err)
			}
			waitForRow(t, blueDB, 2, "after")
			var ro int
			if err := blueDB.QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil || ro != 1 {
				t.Errorf("rollback target read_only = %d (%v); want 1", ro, err)
			}

			code, out = cli(append([]string{"status", "--output", "json"}, args...)...)
			var st map[string]any
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("status output not JSON: %v\n%s", err, out)
			}
			for _, k := range []string{"io_running", "sql_running", "seconds_behind", "probe_lag_ms", "bytes_behind", "source_file", "source_position", "executed_file", "executed_position", "last_io_errno", "last_io_error", "last_sql_errno", "last_sql_error", "ready", "reasons"} {
				if _, ok := st[k]; !ok {
					t.Errorf("status JSON lacks %q", k)
				}
			}
			if code != 0 || st["ready"] != true {
				t.Errorf("status exit %d, ready %v, reasons %v; want ready", code, st["ready"], st["reasons"])
			}
			if lag, ok := st["probe_lag_ms"].(float64); !ok || lag >= 2000 {
				t.Errorf("probe_lag_ms = %v; want under 2000", st["probe_lag_ms"])
			}
			// Caught up and idle: nothing to apply, so the prediction is 0 ms.
			if pred, ok := st["write_downtime_prediction"].(map[string]any); !ok || pred["predicted_ms"] != float64(0) || pred["window_ms"].(float64) < 900 {
				t.Errorf("write_downtime_prediction = %v; want 0 ms predicted over the default 1 s window", st["write_downtime_prediction"])
			}

			// Re-running changes nothing.
			before := pairSnapshot(t, greenDB, blueDB)
			code, out = cli(configure...)
			if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Outcome != "unchanged" {
				t.Errorf("re-run: exit %d outcome %q; want 0 and unchanged\n%s", code, res.Outcome, out)
			}
			if after := pairSnapshot(t, greenDB, blueDB); after != before {
				t.Errorf("re-run changed the servers:\nbefore %s\nafter  %s", before, after)
			}

			// Other coordinates: refused, exit 3, nothing changed.
			other := []string{"configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position+7, 10)}
			if code, _ := cli(append(other, args...)...); code != 3 {
				t.Errorf("configure at other coordinates exit %d; want 3 (refused)", code)
			}
			if after := pairSnapshot(t, greenDB, blueDB); after != before {
				t.Errorf("refused configure changed the servers:\nbefore %s\nafter  %s", before, after)
			}
			// Text forms too.
			if _, out := cli(append([]string{"status"}, args...)...); !strings.Contains(out, "predicted 0 ms: 0 B behind") {
				t.Errorf("status does not show the write downtime prediction:\n%s", out)
			}
			if _, out := cli(append([]string{"rollback", "--allow-privileged-writers"}, args...)...); !strings.Contains(out, "predicted write downtime 0 ms") {
				t.Errorf("the dry run does not show the write downtime prediction:\n%s", out)
			}

			all := strings.Join(outputs, "\n")
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("a password appears in the CLI output")
				}
			}
		})
	}
}

// pairSnapshot renders what configure may change: production's binlog
// position, the replication user's grants and switchback's records; the
// rollback target's fence and replication source and positions.
func pairSnapshot(t *testing.T, green, blue *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []struct {
		db    *sql.DB
		query string
	}{
		{green, "SHOW MASTER STATUS"},
		{green, "SHOW GRANTS FOR 'switchback_repl'@'%'"},
		{green, "SELECT target, source_host, source_port, replication_user, start_file, start_position, auto_position FROM switchback.rollback_source"},
		{blue, "SELECT @@global.read_only"},
		{blue, "SHOW SLAVE STATUS"},
	} {
		rows, err := q.db.Query(q.query)
		if err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, c := range cols {
				if c == "Seconds_Behind_Master" || c == "Slave_SQL_Running_State" || c == "Slave_IO_State" {
					continue // moment-to-moment, not configuration
				}
				fmt.Fprintf(&b, "%s=%s ", c, vals[i].String)
			}
		}
		rows.Close()
		b.WriteString("| ")
	}
	return b.String()
}
