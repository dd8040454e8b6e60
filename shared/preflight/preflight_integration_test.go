//go:build integration

package preflight_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/preflight"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// mysql57 stands for a named older target that is not reachable here: a
// part of MySQL 5.7's information_schema.COLLATIONS, which has none of
// MariaDB 10.10's uca1400 collations (as it has none of MySQL 8.0's
// utf8mb4_0900_* ones).
var mysql57 = []string{"latin1_swedish_ci", "latin1_bin", "binary", "utf8_general_ci", "utf8_bin", "utf8_unicode_ci",
	"utf8mb4_general_ci", "utf8mb4_bin", "utf8mb4_unicode_ci", "utf8mb4_unicode_520_ci"}

func connect(t *testing.T, role, dsn string, d replication.Dialect) preflight.Side {
	t.Helper()
	s, err := replication.Connect(t.Context(), role, dsn, d)
	side := preflight.Side{Server: s, ConnectErr: err}
	if s != nil {
		side.Name = s.Addr
		t.Cleanup(func() { s.Close() })
	}
	return side
}

func status(t *testing.T, r preflight.Report, id string, want preflight.Status, evidence ...string) preflight.Check {
	t.Helper()
	c, ok := r.Check(id)
	if !ok {
		t.Fatalf("report has no %s check", id)
	}
	if c.Status != want {
		t.Errorf("%s: %s (%s; fix: %s); want %s", id, c.Status, c.Evidence, c.Fix, want)
	}
	for _, e := range evidence {
		if !strings.Contains(c.Evidence, e) {
			t.Errorf("%s: evidence %q lacks %q", id, c.Evidence, e)
		}
	}
	return c
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Preflight against two real MariaDB servers: a healthy pair passes, and
// each hazard MariaDB can hold is caught by its check, with the evidence
// and a fix — STATEMENT binlog format, retention shorter than the window
// (fixed in place when asked), a table without a primary key, a collation
// the rollback side lacks, missing privileges on either side, an
// unreachable writer and a refused login, a replication user that cannot
// log in over TCP, and the Aurora procedure path.
func TestIntegrationPreflightHazards(t *testing.T) {
	servers := sandbox.StartT(t, 2, sandbox.Options{})
	prodSrv, rbSrv := servers[0], servers[1]
	prodSrv.ExecT(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL)")
	prodDB := prodSrv.DBT(t)
	ctx := t.Context()
	prod := connect(t, "production", prodSrv.RootDSN(), replication.DialectAuto)
	rb := connect(t, "rollback target", rbSrv.RootDSN(), replication.DialectAuto)
	run := func(in preflight.Inputs) preflight.Report {
		t.Helper()
		if in.Production.Server == nil && in.Production.ConnectErr == nil {
			in.Production = prod
		}
		if in.Rollback.Server == nil && in.Rollback.ConnectErr == nil {
			in.Rollback = rb
		}
		if in.Settings.RetentionHours == 0 {
			in.Settings.RetentionHours = 24
		}
		return preflight.Run(ctx, in)
	}

	t.Run("healthy pair", func(t *testing.T) {
		r := run(preflight.Inputs{})
		for _, id := range []string{preflight.CheckProductionReachable, preflight.CheckRollbackReachable, preflight.CheckProductionLogin, preflight.CheckRollbackLogin,
			preflight.CheckProductionPrivileges, preflight.CheckRollbackPrivileges, preflight.CheckBinlogFormatServer, preflight.CheckBinlogRetention,
			preflight.CheckVersions, preflight.CheckCollations, preflight.CheckPrimaryKeys, preflight.CheckReplicationUserAuth} {
			status(t, r, id, preflight.Pass)
		}
		status(t, r, preflight.CheckBinlogFormatGroup, preflight.Skip, "no RDS API")
		status(t, r, preflight.CheckRollbackGroup, preflight.Skip, "no RDS API")
		status(t, r, preflight.CheckReplicationUserAuth, preflight.Pass, "does not exist yet", "mysql_native_password")
		if r.Verdict != preflight.Pass {
			t.Errorf("verdict %s; want pass: %+v", r.Verdict, r.Checks)
		}
	})

	t.Run("STATEMENT binlog format", func(t *testing.T) {
		prodSrv.ExecT(t, "SET GLOBAL binlog_format = 'STATEMENT'")
		defer prodSrv.ExecT(t, "SET GLOBAL binlog_format = 'ROW'")
		r := run(preflight.Inputs{})
		c := status(t, r, preflight.CheckBinlogFormatServer, preflight.Fail, "binlog_format=STATEMENT")
		if !strings.Contains(c.Fix, "binlog_format=ROW") {
			t.Errorf("fix %q", c.Fix)
		}
		if r.Verdict != preflight.Fail {
			t.Errorf("verdict %s; want fail", r.Verdict)
		}
		prodSrv.ExecT(t, "SET GLOBAL binlog_format = 'MIXED'")
		status(t, run(preflight.Inputs{}), preflight.CheckBinlogFormatServer, preflight.Warn, "MIXED")
	})

	t.Run("retention shorter than the window, fixed in place", func(t *testing.T) {
		prodSrv.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 3600")
		defer prodSrv.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 0")
		c := status(t, run(preflight.Inputs{}), preflight.CheckBinlogRetention, preflight.Fail, "retention 1 h is shorter than the 24 h rollback window")
		if !strings.Contains(c.Fix, "SET GLOBAL binlog_expire_logs_seconds = 86400") || c.Fixed {
			t.Errorf("without fix: %+v", c)
		}
		var secs int
		if err := prodDB.QueryRow("SELECT @@global.binlog_expire_logs_seconds").Scan(&secs); err != nil || secs != 3600 {
			t.Fatalf("preflight without fix changed the retention: %d (%v)", secs, err)
		}
		// Configure raising it at the switchover makes it a warning.
		status(t, run(preflight.Inputs{Settings: preflight.Settings{ConfigureRetentionHours: 24}}), preflight.CheckBinlogRetention, preflight.Warn, "configure sets 24 h")

		r := run(preflight.Inputs{Settings: preflight.Settings{Fix: true}})
		c = status(t, r, preflight.CheckBinlogRetention, preflight.Warn, "retention was 1 h; preflight set it to 24 h, and it now reads 24 h", "does not persist")
		if !c.Fixed || r.Verdict == preflight.Fail {
			t.Errorf("fixed %v, verdict %s", c.Fixed, r.Verdict)
		}
		if err := prodDB.QueryRow("SELECT @@global.binlog_expire_logs_seconds").Scan(&secs); err != nil || secs != 86400 {
			t.Errorf("retention after the fix: %d s (%v); want 86400", secs, err)
		}
		status(t, run(preflight.Inputs{}), preflight.CheckBinlogRetention, preflight.Pass, "24 h covers")
	})

	t.Run("table without a primary key", func(t *testing.T) {
		prodSrv.ExecT(t, "CREATE TABLE shop.audit (at DATETIME, note TEXT)")
		defer prodSrv.ExecT(t, "DROP TABLE shop.audit")
		c := status(t, run(preflight.Inputs{}), preflight.CheckPrimaryKeys, preflight.Warn, "1 table(s) without a primary key: shop.audit")
		if !strings.Contains(c.Fix, "ADD PRIMARY KEY") {
			t.Errorf("fix %q", c.Fix)
		}
	})

	t.Run("collation the rollback side lacks", func(t *testing.T) {
		prodSrv.ExecT(t, "CREATE TABLE shop.names (id INT PRIMARY KEY, name VARCHAR(32) COLLATE utf8mb4_uca1400_ai_ci)")
		defer prodSrv.ExecT(t, "DROP TABLE shop.names")
		// The MariaDB rollback side has it (listed by its full name in
		// COLLATION_CHARACTER_SET_APPLICABILITY, not in COLLATIONS).
		status(t, run(preflight.Inputs{}), preflight.CheckCollations, preflight.Pass)
		// A 5.7 rollback side does not.
		r := run(preflight.Inputs{RollbackCollations: mysql57})
		c := status(t, r, preflight.CheckCollations, preflight.Fail, "utf8mb4_uca1400_ai_ci (column shop.names.name)")
		if strings.Contains(c.Evidence, "utf8mb4_general_ci") || !strings.Contains(c.Fix, "utf8mb4_uca1400_ai_ci → utf8mb4_unicode_520_ci") {
			t.Errorf("evidence %q, fix %q", c.Evidence, c.Fix)
		}
		if r.Verdict != preflight.Fail {
			t.Errorf("verdict %s; want fail", r.Verdict)
		}
	})

	t.Run("missing privileges", func(t *testing.T) {
		for _, s := range []*sandbox.Server{prodSrv, rbSrv} {
			s.ExecT(t, "CREATE USER 'weak'@'%' IDENTIFIED BY 'Weak-pw-1'", "GRANT SELECT ON *.* TO 'weak'@'%'")
		}
		defer func() {
			for _, s := range []*sandbox.Server{prodSrv, rbSrv} {
				s.ExecT(t, "DROP USER 'weak'@'%'")
			}
		}()
		r := run(preflight.Inputs{
			Production: connect(t, "production", prodSrv.DSN("weak", "Weak-pw-1", ""), replication.DialectAuto),
			Rollback:   connect(t, "rollback target", rbSrv.DSN("weak", "Weak-pw-1", ""), replication.DialectAuto),
		})
		c := status(t, r, preflight.CheckProductionPrivileges, preflight.Fail, "weak lacks CREATE USER", "REPLICATION SLAVE WITH GRANT OPTION", "reading the binlog status", "1227")
		if !strings.Contains(c.Fix, "GRANT CREATE USER, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO weak WITH GRANT OPTION") {
			t.Errorf("production fix %q", c.Fix)
		}
		c = status(t, r, preflight.CheckRollbackPrivileges, preflight.Fail, "reading the replica status", "SLAVE MONITOR")
		if !strings.Contains(c.Fix, "GRANT SLAVE MONITOR ON *.* TO weak") {
			t.Errorf("rollback fix %q", c.Fix)
		}
		// The privilege alone is enough once granted.
		prodSrv.ExecT(t, "GRANT CREATE USER, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'weak'@'%' WITH GRANT OPTION", "GRANT INSERT, UPDATE, DELETE, CREATE ON switchback.* TO 'weak'@'%'")
		r = run(preflight.Inputs{Production: connect(t, "production", prodSrv.DSN("weak", "Weak-pw-1", ""), replication.DialectAuto)})
		status(t, r, preflight.CheckProductionPrivileges, preflight.Pass)
	})

	t.Run("privileges through a role", func(t *testing.T) {
		prodSrv.ExecT(t,
			"CREATE ROLE repl_grantor",
			"GRANT CREATE USER, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO repl_grantor WITH GRANT OPTION",
			"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON switchback.* TO repl_grantor",
			"CREATE USER 'via_role'@'%' IDENTIFIED BY 'Role-pw-1'",
			"GRANT repl_grantor TO 'via_role'@'%'",
			"SET DEFAULT ROLE repl_grantor FOR 'via_role'@'%'")
		defer prodSrv.ExecT(t, "DROP USER 'via_role'@'%'", "DROP ROLE repl_grantor")
		r := run(preflight.Inputs{Production: connect(t, "production", prodSrv.DSN("via_role", "Role-pw-1", ""), replication.DialectAuto)})
		status(t, r, preflight.CheckProductionPrivileges, preflight.Pass)
	})

	t.Run("unreachable writer and refused login", func(t *testing.T) {
		r := run(preflight.Inputs{
			Production: connect(t, "production", prodSrv.DSN("root", "wrong-password", ""), replication.DialectAuto),
			Rollback:   connect(t, "rollback target", "root@tcp("+closedAddr(t)+")/", replication.DialectAuto),
		})
		status(t, r, preflight.CheckProductionReachable, preflight.Pass, "refused the login")
		status(t, r, preflight.CheckProductionLogin, preflight.Fail, "1045")
		status(t, r, preflight.CheckRollbackReachable, preflight.Fail, "cannot reach rollback target")
		status(t, r, preflight.CheckRollbackLogin, preflight.Skip)
		status(t, r, preflight.CheckBinlogFormatServer, preflight.Skip)
		if r.Verdict != preflight.Fail {
			t.Errorf("verdict %s; want fail", r.Verdict)
		}
	})

	t.Run("replication user that cannot log in over TCP", func(t *testing.T) {
		prodSrv.ExecT(t, "CREATE USER 'switchback_repl'@'%' IDENTIFIED VIA unix_socket")
		defer prodSrv.ExecT(t, "DROP USER 'switchback_repl'@'%'")
		c := status(t, run(preflight.Inputs{}), preflight.CheckReplicationUserAuth, preflight.Fail, "exists with unix_socket", "cannot log in with a password over TCP")
		if !strings.Contains(c.Fix, "DROP USER 'switchback_repl'@'%'") {
			t.Errorf("fix %q", c.Fix)
		}
	})

	// Last: it installs the Aurora procedure fixture on both servers.
	t.Run("aurora procedures: retention NULL fixed, procedures visible", func(t *testing.T) {
		pa, err := prodSrv.InstallAuroraProcedures(ctx, sandbox.AuroraV3)
		if err != nil {
			t.Fatal(err)
		}
		ra, err := rbSrv.InstallAuroraProcedures(ctx, sandbox.AuroraV3)
		if err != nil {
			t.Fatal(err)
		}
		in := preflight.Inputs{
			Production: connect(t, "production", pa.DSN(""), replication.AuroraMySQL3),
			Rollback:   connect(t, "rollback target", ra.DSN(""), replication.AuroraMySQL3),
			Settings:   preflight.Settings{RetentionHours: 168},
		}
		r := run(in)
		c := status(t, r, preflight.CheckBinlogRetention, preflight.Fail, "not set (NULL")
		if !strings.Contains(c.Fix, "CALL mysql.rds_set_configuration('binlog retention hours', 168)") {
			t.Errorf("fix %q", c.Fix)
		}
		status(t, r, preflight.CheckRollbackPrivileges, preflight.Pass, "mysql.rds_set_external_source", "mysql.rds_stop_replication")
		status(t, r, preflight.CheckProductionPrivileges, preflight.Pass)

		in.Settings.Fix = true
		r = run(in)
		c = status(t, r, preflight.CheckBinlogRetention, preflight.Pass, "preflight set it to 168 h")
		if !c.Fixed {
			t.Error("not marked fixed")
		}
		var v string
		if err := prodDB.QueryRow("SELECT value FROM mysql.rds_configuration WHERE name = 'binlog retention hours'").Scan(&v); err != nil || v != strconv.Itoa(168) {
			t.Errorf("rds_configuration binlog retention hours = %q (%v); want 168", v, err)
		}

		// An Aurora v2 rollback side lacks the v3 names: checked by name.
		in.Rollback = connect(t, "rollback target", ra.DSN(""), replication.AuroraMySQL2)
		status(t, run(in), preflight.CheckRollbackPrivileges, preflight.Fail, "mysql.rds_set_external_master")
	})
}

// Against the awstest world (real servers, the RDS API served by the local
// fake, read through the real awsrds client): production's DB cluster
// parameter group shared with another cluster fails the
// production-parameter-group check — a rollback fences production there
// and would be refused — while the rollback side's own group passes; with
// the group unshared the check passes.
func TestIntegrationPreflightProductionGroup(t *testing.T) {
	w := awstest.New(t)
	rdsClient := awsrds.New(w.RDS.Client())
	ctx := t.Context()
	prodC, err := rdsClient.Deployment(ctx, awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	run := func() preflight.Report {
		t.Helper()
		prod, rb := prodC.Production, prodC.Rollback
		pside := connect(t, "production", w.Green.RootDSN(), replication.DialectAuto)
		pside.Cluster = &prod
		rside := connect(t, "rollback target", w.Blue.RootDSN(), replication.DialectAuto)
		rside.Cluster = &rb
		return preflight.Run(ctx, preflight.Inputs{Deployment: awstest.DeploymentID, Production: pside, Rollback: rside,
			Parameters: rdsClient, Groups: rdsClient, Settings: preflight.Settings{RetentionHours: 1}})
	}
	r := run()
	status(t, r, preflight.CheckProductionGroup, preflight.Pass, awstest.ProdGroup, "only cluster "+awstest.ProdID)
	status(t, r, preflight.CheckRollbackGroup, preflight.Pass)

	w.RDS.AddCluster(awsfake.RDSCluster{ID: "orders-reporting", Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
		Endpoint: "127.0.0.1", Port: 1, ParameterGroup: awstest.ProdGroup})
	r = run()
	c := status(t, r, preflight.CheckProductionGroup, preflight.Fail, "also used by orders-reporting", "a rollback fences production through this group")
	if !strings.Contains(c.Fix, "modify-db-cluster --db-cluster-identifier "+awstest.ProdID) {
		t.Errorf("fix %q", c.Fix)
	}
	status(t, r, preflight.CheckRollbackGroup, preflight.Pass)
	if r.Verdict != preflight.Fail {
		t.Errorf("verdict %s; want fail", r.Verdict)
	}
}

// Against the awstest world: the rollback cluster's DB cluster parameter
// group, read through the real awsrds client. Configure will set parallel
// apply there (dynamic parameters): pass, saying what it sets; a static
// one: warn, with the reboot and its cost; a group without the commit
// order: warn, switchback cannot set it; once configured: pass, the group
// holds it and the writer reports it.
func TestIntegrationPreflightRollbackParallelApply(t *testing.T) {
	w := awstest.New(t)
	rdsClient := awsrds.New(w.RDS.Client())
	ctx := t.Context()
	d, err := rdsClient.Deployment(ctx, awstest.DeploymentID) // configure deletes it
	if err != nil {
		t.Fatal(err)
	}
	run := func() preflight.Check {
		t.Helper()
		prod, rb := d.Production, d.Rollback
		pside := connect(t, "production", w.Green.RootDSN(), replication.DialectAuto)
		pside.Cluster = &prod
		rside := connect(t, "rollback target", w.Blue.RootDSN(), replication.DialectAuto)
		rside.Cluster = &rb
		r := preflight.Run(ctx, preflight.Inputs{Deployment: awstest.DeploymentID, Production: pside, Rollback: rside,
			Parameters: rdsClient, Groups: rdsClient, Parallel: rdsClient, Settings: preflight.Settings{RetentionHours: 1}})
		c, ok := r.Check(preflight.CheckRollbackParallel)
		if !ok {
			t.Fatal("no parallel-apply check")
		}
		return c
	}
	if c := run(); c.Status != preflight.Pass || !strings.Contains(c.Evidence, "configure sets slave_parallel_type=LOGICAL_CLOCK, slave_preserve_commit_order=1, slave_parallel_workers=4 there before it starts replication (dynamic: no reboot)") {
		t.Errorf("fresh group: %+v", c)
	}
	static := append([]awsfake.RDSGroupParameter(nil), awstest.Aurora2ParallelParameters...)
	static[0].ApplyType = "static"
	w.RDS.DefineParameters(awstest.OldGroup, static...)
	if c := run(); c.Status != preflight.Warn || !strings.Contains(c.Evidence, "slave_parallel_workers is static") || !strings.Contains(c.Evidence, replication.ParallelOneThreadCost) || !strings.Contains(c.Fix, "reboot the writer of "+awstest.OldID) {
		t.Errorf("static worker count: %+v", c)
	}
	w.RDS.AddParameterGroup(awstest.OldGroup, map[string]string{"read_only": "0"})
	w.RDS.DefineParameters(awstest.OldGroup, awstest.Aurora2ParallelParameters[:2]...)
	if c := run(); c.Status != preflight.Warn || !strings.Contains(c.Evidence, "switchback cannot set it") || !strings.Contains(c.Evidence, "has no slave_preserve_commit_order parameter") {
		t.Errorf("group without commit order: %+v", c)
	}
	w.RDS.DefineParameters(awstest.OldGroup, awstest.Aurora2ParallelParameters...)
	w.ConfigureNow()
	if c := run(); c.Status != preflight.Pass || !strings.Contains(c.Evidence, "holds slave_parallel_workers=4, slave_preserve_commit_order=1, slave_parallel_type=LOGICAL_CLOCK; the writer reports 4 workers") {
		t.Errorf("configured: %+v", c)
	}
}
