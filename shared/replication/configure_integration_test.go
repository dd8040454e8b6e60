//go:build integration

package replication

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// TestIntegrationConfigureMariaDBNative configures reverse replication as
// root on the native MariaDB path, checks that writes flow, that status says
// ready, that a re-run changes nothing, and that other coordinates are
// refused without any change.
func TestIntegrationConfigureMariaDBNative(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	if prod.Dialect != MariaDB || rb.Dialect != MariaDB {
		t.Fatalf("detected dialects %s/%s; want mariadb", prod.Dialect, rb.Dialect)
	}
	const password = "Repl-Secret-7f3a"
	req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, ReplicationPassword: password, WaitTimeout: 10 * time.Second}

	res, err := Configure(t.Context(), req)
	if err != nil {
		t.Fatalf("configure: %v\n%+v", err, res)
	}
	if res.Outcome != OutcomeConfigured {
		t.Fatalf("outcome %q; want configured", res.Outcome)
	}
	// Blue is already read-only after switchover and MariaDB's default
	// binlog expiry (0, never) covers any window: those steps find their
	// state in place. The rest must do their work.
	for _, name := range []string{"ensure replication user on production", "ensure heartbeat schema on production", "set source and start replication", "wait for replication threads"} {
		if got := stepOutcomes(res.Steps)[name]; got != StepDone {
			t.Errorf("first run: step %q = %s; want done", name, got)
		}
	}
	assertNoSecret(t, password, res)

	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	if !readOnly(t, blueDB) {
		t.Error("rollback target is not read-only after configure")
	}
	if _, err := greenDB.Exec("INSERT INTO shop.orders VALUES (100, 'after-switchover')"); err != nil {
		t.Fatal(err)
	}
	waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 100", "after-switchover")

	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil {
		t.Fatal(err)
	}
	if !obs.Ready || obs.ProbeLagMS == nil || *obs.ProbeLagMS > 2000 || !obs.IORunning || !obs.SQLRunning {
		t.Fatalf("status not ready with a fast probe: %+v", obs)
	}
	if obs.SecondsBehind == nil || obs.BytesBehind == nil || obs.SourceFile == "" {
		t.Errorf("status misses values: %+v", obs)
	}

	// Re-run: nothing changes, not even production's binlog position.
	before := masterPos(t, greenDB)
	again, err := Configure(t.Context(), req)
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if again.Outcome != OutcomeUnchanged {
		t.Errorf("re-run outcome %q; want unchanged; steps %+v", again.Outcome, again.Steps)
	}
	for name, outcome := range stepOutcomes(again.Steps) {
		if outcome != StepAlreadyDone {
			t.Errorf("re-run: step %q = %s; want already-done", name, outcome)
		}
	}
	if after := masterPos(t, greenDB); after != before {
		t.Errorf("re-run wrote to production: binlog %s → %s", before, after)
	}

	// Other coordinates: refused, nothing touched.
	other := req
	other.Start = BinlogPosition{File: p.coords.File, Position: p.coords.Position + 1}
	rsBefore, _ := rb.ReplicaStatus(t.Context())
	refused, err := Configure(t.Context(), other)
	if !errors.Is(err, ErrRefused) || refused.Outcome != OutcomeRefused {
		t.Fatalf("other coordinates: err %v outcome %q; want refused", err, refused.Outcome)
	}
	if !strings.Contains(refused.Reason, p.coords.String()) {
		t.Errorf("refusal reason %q does not name the configured coordinates %s", refused.Reason, p.coords)
	}
	rsAfter, _ := rb.ReplicaStatus(t.Context())
	if rsAfter.SourceHost != rsBefore.SourceHost || !rsAfter.IOThreadRunning || masterPos(t, greenDB) != before {
		t.Error("refused configure changed something")
	}
}

// TestIntegrationConfigureRefusesOtherSource: a rollback target that
// replicates from a third server is refused and left alone.
func TestIntegrationConfigureRefusesOtherSource(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	third := sandbox.StartT(t, 1, sandbox.Options{})[0]
	blueDB := p.blue.DBT(t)
	if _, err := blueDB.Exec(fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_LOG_FILE='mysql-bin-changelog.000001', MASTER_LOG_POS=4", third.Port)); err != nil {
		t.Fatal(err)
	}
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords})
	if !errors.Is(err, ErrRefused) || !strings.Contains(res.Reason, third.Addr()) {
		t.Fatalf("err %v reason %q; want a refusal naming %s", err, res.Reason, third.Addr())
	}
	blueDB.Exec("SET GLOBAL read_only = 0")
	res, err = Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("second attempt: %v; want refused", err)
	}
	if readOnly(t, blueDB) {
		t.Error("refused configure fenced the rollback target")
	}
}

// TestIntegrationConfigureGTID takes the MariaDB GTID path: the coordinates
// are translated to production's GTID position there.
func TestIntegrationConfigureGTID(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{GTID: true})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, AutoPosition: true, WaitTimeout: 10 * time.Second}
	if res, err := Configure(t.Context(), req); err != nil {
		t.Fatalf("configure: %v\n%+v", err, res)
	}
	var usingGTID string
	rs, err := rb.ReplicaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	usingGTID = rs.UsingGTID
	if !strings.EqualFold(usingGTID, "Slave_Pos") {
		t.Errorf("Using_Gtid = %q; want Slave_Pos", usingGTID)
	}
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	if _, err := greenDB.Exec("INSERT INTO shop.orders VALUES (200, 'gtid')"); err != nil {
		t.Fatal(err)
	}
	waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 200", "gtid")
	var n int
	if err := blueDB.QueryRow("SELECT COUNT(*) FROM shop.orders").Scan(&n); err != nil || n != 3 {
		t.Fatalf("rollback target has %d rows (%v); want 3: seed rows must not be replayed", n, err)
	}
	again, err := Configure(t.Context(), req)
	if err != nil || again.Outcome != OutcomeUnchanged {
		t.Fatalf("GTID re-run: %v %q", err, again.Outcome)
	}
}

// TestIntegrationConfigureAurora drives the Aurora procedure path through the
// test fixture, as the Aurora-like admin user who has no SUPER, for a v2 and
// a v3 rollback target (production is v3, as after a 2 → 3 upgrade).
func TestIntegrationConfigureAurora(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version sandbox.AuroraVersion
		dialect Dialect
		gtid    bool
	}{
		{"v3 file position", sandbox.AuroraV3, AuroraMySQL3, false},
		{"v2 file position", sandbox.AuroraV2, AuroraMySQL2, false},
		{"v3 auto position", sandbox.AuroraV3, AuroraMySQL3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSwitchedOverPair(t, sandbox.Options{GTID: tc.gtid})
			prodAdmin, err := p.green.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
			if err != nil {
				t.Fatal(err)
			}
			rbAdmin, err := p.blue.InstallAuroraProcedures(t.Context(), tc.version)
			if err != nil {
				t.Fatal(err)
			}
			prod := connectDSN(t, "production", prodAdmin.DSN(""), AuroraMySQL3)
			rb := connectDSN(t, "rollback target", rbAdmin.DSN(""), tc.dialect)
			req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, AutoPosition: tc.gtid, RetentionHours: 48, WaitTimeout: 10 * time.Second}
			res, err := Configure(t.Context(), req)
			if err != nil {
				t.Fatalf("configure: %v\n%+v", err, res)
			}
			assertNoSecret(t, prodAdmin.Password, res)
			assertNoSecret(t, rbAdmin.Password, res)

			greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
			var hours sql.NullString
			if err := greenDB.QueryRow("SELECT value FROM mysql.rds_configuration WHERE name = 'binlog retention hours'").Scan(&hours); err != nil || hours.String != "48" {
				t.Errorf("binlog retention hours = %v (%v); want 48 set through rds_set_configuration", hours, err)
			}
			if !readOnly(t, blueDB) {
				t.Error("rollback target not read-only")
			}
			// The replication source was set through the procedures, as the
			// admin: the fixture records each call in mysql.rds_history.
			var calls int
			if err := blueDB.QueryRow("SELECT COUNT(*) FROM mysql.rds_history WHERE action LIKE 'set %' AND called_by_user LIKE 'admin@%'").Scan(&calls); err != nil || calls != 1 {
				t.Errorf("rds_set_external_* calls by admin recorded: %d (%v); want 1", calls, err)
			}
			if _, err := greenDB.Exec("INSERT INTO shop.orders VALUES (300, 'aurora')"); err != nil {
				t.Fatal(err)
			}
			waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 300", "aurora")
			// The admin user cannot write to the fenced rollback target.
			rbDB, _ := rbAdmin.Open()
			defer rbDB.Close()
			if _, err := rbDB.Exec("INSERT INTO shop.orders VALUES (301, 'stray')"); mysqlErrno(err) != errnoReadOnly {
				t.Errorf("admin write on fenced rollback target: %v; want error 1290", err)
			}
			obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
			if err != nil || !obs.Ready {
				t.Fatalf("status: %v %+v", err, obs)
			}
			again, err := Configure(t.Context(), req)
			if err != nil || again.Outcome != OutcomeUnchanged {
				t.Fatalf("re-run: %v %q %+v", err, again.Outcome, again.Steps)
			}
		})
	}
}
