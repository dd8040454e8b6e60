//go:build integration

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestIntegrationRollbackKilledMidCutover kills the real switchback process
// (SIGKILL) while its cutover waits with production fenced — the rollback
// target's SQL thread held by a table lock on the cutover record the fence
// writes — and runs the same command again once the lock is gone: it
// converges to a completed cutover from the servers' own state, with every
// acknowledged write on the new production.
func TestIntegrationRollbackKilledMidCutover(t *testing.T) {
	bin := buildCLI(t)
	blue, green, coords := switchedOver(t)
	env := append(os.Environ(),
		"SWITCHBACK_PRODUCTION_DSN="+green.RootDSN(),
		"SWITCHBACK_ROLLBACK_DSN="+blue.RootDSN())
	run := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		return cmd
	}
	if out, err := run(t.Context(), "configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position, 10)).CombinedOutput(); err != nil {
		t.Fatalf("configure: %v\n%s", err, out)
	}
	greenDB, blueDB := green.DBT(t), blue.DBT(t)
	if _, err := greenDB.Exec("INSERT INTO shop.orders VALUES (7, 'in flight')"); err != nil {
		t.Fatal(err)
	}
	waitForRow(t, blueDB, 7, "in flight")
	// The cutover's record, written on production just before the fence,
	// cannot be applied on the rollback target while this lock is held:
	// the catch-up waits, production fenced.
	holder, err := blueDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(t.Context(), "LOCK TABLES switchback.cutover READ"); err != nil {
		t.Fatal(err)
	}

	first := run(t.Context(), "rollback", "--execute", "--catchup-timeout", "60s", "--allow-privileged-writers")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitReadOnly(t, greenDB, 1) // the cutover fenced production and now waits for the rollback target
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if _, err := holder.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}

	out, err := run(t.Context(), "rollback", "--execute", "--output", "json").Output()
	if err != nil {
		t.Fatalf("re-run after the kill: %v\n%s", err, out)
	}
	var rep struct {
		Outcome string `json:"outcome"`
		Steps   []struct {
			Name, Outcome string
		} `json:"steps"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Outcome != "completed" {
		t.Fatalf("re-run: %v %s", err, out)
	}
	for _, s := range rep.Steps {
		if s.Name == "fence production" && s.Outcome != "already-done" {
			t.Errorf("re-run fenced production again: %+v", s)
		}
	}
	waitReadOnly(t, greenDB, 1)
	waitReadOnly(t, blueDB, 0)
	var item string
	if err := blueDB.QueryRow("SELECT item FROM shop.orders WHERE id = 7").Scan(&item); err != nil || item != "in flight" {
		t.Fatalf("the write acknowledged before the fence is not on the new production: %q %v", item, err)
	}
	rows, err := blueDB.Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("rollback target still has a replication source")
	}
}

// buildCLI builds the switchback binary for tests that run it as a process.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchback")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func waitReadOnly(t *testing.T, db *sql.DB, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ro int
		if err := db.QueryRow("SELECT @@global.read_only").Scan(&ro); err == nil && ro == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read_only never became %d", want)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}
