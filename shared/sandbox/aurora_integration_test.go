//go:build integration

package sandbox

import (
	"database/sql"
	"fmt"
	"testing"
)

// MariaDB error numbers the fixture tests rely on.
const (
	errSpecificAccessDenied = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR: missing SUPER / REPLICATION SLAVE ADMIN / READ_ONLY ADMIN …
	errOptionPrevents       = 1290 // ER_OPTION_PREVENTS_STATEMENT: --read-only
	errSPDoesNotExist       = 1305 // ER_SP_DOES_NOT_EXIST
	errSignalException      = 1644 // ER_SIGNAL_EXCEPTION: SIGNAL SQLSTATE '45000'
	errSlaveMustStop        = 1198 // ER_SLAVE_MUST_STOP
)

func openAdmin(t *testing.T, a AuroraAdmin) *sql.DB {
	t.Helper()
	db, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func wantErrno(t *testing.T, db *sql.DB, want uint16, q string, args ...any) {
	t.Helper()
	_, err := db.ExecContext(t.Context(), q, args...)
	if got := mysqlErrno(err); got != want {
		t.Errorf("%s: err = %v (errno %d); want errno %d", q, err, got, want)
	}
}

func TestAuroraProcedures(t *testing.T) {
	for _, v := range []AuroraVersion{AuroraV2, AuroraV3} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			testAurora(t, v)
		})
	}
}

func testAurora(t *testing.T, v AuroraVersion) {
	servers := StartT(t, 2, Options{GTID: true})
	src, rep := servers[0], servers[1]
	before := showMasterStatus(t, src.DBT(t))
	srcAdmin, err := src.InstallAuroraProcedures(t.Context(), v)
	if err != nil {
		t.Fatal(err)
	}
	repAdmin, err := rep.InstallAuroraProcedures(t.Context(), v)
	if err != nil {
		t.Fatal(err)
	}
	srcDB, repDB := openAdmin(t, srcAdmin), openAdmin(t, repAdmin)
	term, other := "source", "master"
	if v == AuroraV2 {
		term, other = "master", "source"
	}

	// The fixture itself must not reach the binary log.
	if after := showMasterStatus(t, srcDB); after != before {
		t.Errorf("SHOW MASTER STATUS moved from %v to %v while installing the fixture; want it unlogged", before, after)
	}

	// The admin can create a replication user with the two privileges
	// Aurora documents, and read the source's coordinates.
	mustExec(t, srcDB, "CREATE USER 'repl'@'%' IDENTIFIED BY 'replpw'")
	mustExec(t, srcDB, "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%'")
	pos := showMasterStatus(t, srcDB)
	mustExec(t, srcDB, "CREATE DATABASE app")
	mustExec(t, srcDB, "CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, srcDB, "INSERT INTO app.t VALUES (1, 'one'), (2, 'two')")

	// Only this version's names exist.
	wantErrno(t, repDB, errSPDoesNotExist, fmt.Sprintf("CALL mysql.rds_set_external_%s('127.0.0.1', 1, 'u', 'p', 'f', 4, 0)", other))
	wantErrno(t, repDB, errSPDoesNotExist, fmt.Sprintf("CALL mysql.rds_reset_external_%s()", other))

	// File/position replication through the procedures, placeholders included.
	mustExec(t, repDB, fmt.Sprintf("CALL mysql.rds_set_external_%s(?, ?, ?, ?, ?, ?, ?)", term),
		src.Host, src.Port, "repl", "replpw", pos.File, pos.Pos, 0)
	if st := slaveStatus(t, repDB); st["Master_Port"] != fmt.Sprint(src.Port) || st["Using_Gtid"] != "No" ||
		st["Master_Log_File"] != pos.File || st["Read_Master_Log_Pos"] != fmt.Sprint(pos.Pos) {
		t.Errorf("after rds_set_external_%s: slave status %v", term, st)
	}
	mustExec(t, repDB, "CALL mysql.rds_start_replication()")
	waitRows(t, repDB, "app.t", 2)

	// Aurora refuses to reconfigure a running replica; here CHANGE MASTER's
	// 1198 propagates through the procedure.
	wantErrno(t, repDB, errSlaveMustStop, fmt.Sprintf("CALL mysql.rds_set_external_%s(?, ?, ?, ?, ?, ?, ?)", term),
		src.Host, src.Port, "repl", "replpw", pos.File, pos.Pos, 0)
	wantErrno(t, repDB, errSignalException, fmt.Sprintf("CALL mysql.rds_set_external_%s(?, ?, ?, ?, ?, ?, ?)", term),
		src.Host, src.Port, "repl", "replpw", pos.File, pos.Pos, 1)

	// read_only: the admin cannot write, replication still applies, and the
	// procedures still work (they run as their definer).
	// rds_set_read_only exists from Aurora MySQL 3.06; on v2 the fence is
	// the DB cluster parameter group, played here by root.
	setReadOnly := func(mode int) {
		t.Helper()
		if v == AuroraV2 {
			wantErrno(t, repDB, errSPDoesNotExist, fmt.Sprintf("CALL mysql.rds_set_read_only(%d)", mode))
			rep.ExecT(t, fmt.Sprintf("SET GLOBAL read_only = %d", mode))
			return
		}
		mustExec(t, repDB, fmt.Sprintf("CALL mysql.rds_set_read_only(%d)", mode))
	}
	setReadOnly(1)
	if ro := queryString(t, repDB, "SELECT @@GLOBAL.read_only"); ro != "1" {
		t.Errorf("@@read_only after rds_set_read_only(1) = %s", ro)
	}
	wantErrno(t, repDB, errOptionPrevents, "INSERT INTO app.t VALUES (100, 'admin write')")
	wantErrno(t, repDB, errOptionPrevents, "CREATE DATABASE nope")
	mustExec(t, srcDB, "INSERT INTO app.t VALUES (3, 'three')")
	waitRows(t, repDB, "app.t", 3)

	mustExec(t, repDB, "CALL mysql.rds_stop_replication()")
	if st := slaveStatus(t, repDB); st["Slave_IO_Running"] != "No" || st["Slave_SQL_Running"] != "No" {
		t.Errorf("after rds_stop_replication: io=%s sql=%s", st["Slave_IO_Running"], st["Slave_SQL_Running"])
	}
	mustExec(t, repDB, fmt.Sprintf("CALL mysql.rds_reset_external_%s()", term))
	if st := slaveStatus(t, repDB); st != nil {
		t.Errorf("SHOW SLAVE STATUS after rds_reset_external_%s = %v; want no row", term, st)
	}

	// GTID auto-position: MASTER_USE_GTID=slave_pos continues from the
	// replica's gtid_slave_pos, which file/position replication also kept.
	mustExec(t, repDB, fmt.Sprintf("CALL mysql.rds_set_external_%s_with_auto_position(?, ?, ?, ?, ?)", term),
		src.Host, src.Port, "repl", "replpw", 0)
	mustExec(t, repDB, "CALL mysql.rds_start_replication()")
	mustExec(t, srcDB, "INSERT INTO app.t VALUES (4, 'four')")
	waitRows(t, repDB, "app.t", 4)
	if st := slaveStatus(t, repDB); st["Using_Gtid"] != "Slave_Pos" || st["Last_SQL_Errno"] != "0" {
		t.Errorf("auto position: Using_Gtid=%s Last_SQL_Errno=%s Last_SQL_Error=%s", st["Using_Gtid"], st["Last_SQL_Errno"], st["Last_SQL_Error"])
	}
	setReadOnly(0)
	mustExec(t, repDB, "CREATE DATABASE local_ok")
	if v == AuroraV3 {
		wantErrno(t, repDB, errSignalException, "CALL mysql.rds_set_read_only(2)")
	}

	// The admin is denied the direct statements the procedures wrap.
	for _, q := range []string{
		"CHANGE MASTER TO MASTER_CONNECT_RETRY=1",
		"STOP SLAVE",
		"START SLAVE",
		"SET GLOBAL read_only = 1",
		"SET GLOBAL gtid_slave_pos = ''",
		"SET SESSION sql_log_bin = 0",
		"PURGE BINARY LOGS BEFORE NOW()",
	} {
		wantErrno(t, repDB, errSpecificAccessDenied, q)
	}
	var replicating string
	if st := slaveStatus(t, repDB); st != nil {
		replicating = st["Slave_SQL_Running"]
	}
	if replicating != "Yes" {
		t.Errorf("replication stopped by a denied statement: Slave_SQL_Running=%q", replicating)
	}

	// Configuration: NULL by default, 1..2160 accepted, 0 and 2161 rejected.
	if got := retentionHours(t, srcDB); got.Valid {
		t.Errorf("default binlog retention hours = %v; want NULL", got.String)
	}
	mustExec(t, srcDB, "CALL mysql.rds_set_configuration('binlog retention hours', 24)")
	if got := retentionHours(t, srcDB); got.String != "24" {
		t.Errorf("binlog retention hours = %q; want 24", got.String)
	}
	if got := queryString(t, srcDB, "SELECT @@binlog_expire_logs_seconds"); got != "86400" {
		t.Errorf("binlog_expire_logs_seconds = %s; want 86400", got)
	}
	wantErrno(t, srcDB, errSignalException, "CALL mysql.rds_set_configuration('binlog retention hours', 0)")
	wantErrno(t, srcDB, errSignalException, "CALL mysql.rds_set_configuration('binlog retention hours', 2161)")
	wantErrno(t, srcDB, errSignalException, "CALL mysql.rds_set_configuration('no such setting', 1)")
	mustExec(t, srcDB, "CALL mysql.rds_set_configuration('binlog retention hours', 2160)")
	if got := retentionHours(t, srcDB); got.String != "2160" {
		t.Errorf("binlog retention hours = %q; want 2160 (0 and 2161 must not change it)", got.String)
	}
	// Configuring the source did not replicate: the replica keeps NULL.
	// Wait for a marker row first so that "not replicated" is not "not yet".
	mustExec(t, srcDB, "INSERT INTO app.t VALUES (5, 'marker')")
	waitRows(t, repDB, "app.t", 5)
	if got := retentionHours(t, repDB); got.Valid {
		t.Errorf("replica's binlog retention hours = %q; want NULL (set on the source only)", got.String)
	}

	// History: one row per call, without passwords; in session sql_log_bin
	// is back on after the calls.
	var n int
	if err := repDB.QueryRowContext(t.Context(),
		"SELECT COUNT(*) FROM mysql.rds_history WHERE action IN (?, ?, ?, 'start slave', 'stop slave')",
		"set "+term, "reset "+term, "set "+term+" auto position").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 { // set, start, stop, reset, set auto, start
		t.Errorf("rds_history rows = %d; want 6", n)
	}
	if got := queryString(t, repDB, "SELECT @@SESSION.sql_log_bin"); got != "1" {
		t.Errorf("session sql_log_bin after calls = %s; want 1", got)
	}
}

func retentionHours(t *testing.T, db *sql.DB) sql.NullString {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "CALL mysql.rds_show_configuration()")
	if err != nil {
		t.Fatalf("rds_show_configuration: %v", err)
	}
	defer rows.Close()
	var found bool
	var value sql.NullString
	for rows.Next() {
		var name, desc string
		var v sql.NullString
		if err := rows.Scan(&name, &v, &desc); err != nil {
			t.Fatal(err)
		}
		if name == "binlog retention hours" {
			found, value = true, v
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("rds_show_configuration has no 'binlog retention hours' row")
	}
	return value
}

// TestAuroraAdminPrivileges pins what the admin can do besides replication.
func TestAuroraAdminPrivileges(t *testing.T) {
	t.Parallel()
	s := StartT(t, 1, Options{})[0]
	admin, err := s.InstallAuroraProcedures(t.Context(), AuroraV3)
	if err != nil {
		t.Fatal(err)
	}
	db := openAdmin(t, admin)
	mustExec(t, db, "CREATE DATABASE d")
	mustExec(t, db, "CREATE TABLE d.t (id INT PRIMARY KEY)")
	mustExec(t, db, "CREATE USER 'u'@'%' IDENTIFIED BY 'pw'")
	mustExec(t, db, "GRANT SELECT ON d.* TO 'u'@'%'")
	showMasterStatus(t, db)
	if _, err := db.ExecContext(t.Context(), "SHOW BINARY LOGS"); err != nil {
		t.Errorf("SHOW BINARY LOGS: %v", err)
	}
	slaveStatus(t, db)

	// Definers other than itself would hand the admin root's privileges.
	wantErrno(t, db, errSpecificAccessDenied, "CREATE DEFINER = 'root'@'localhost' PROCEDURE d.p() SELECT 1")
	wantErrno(t, db, errSpecificAccessDenied, "SHUTDOWN")
	// Not denied: on MariaDB the RELOAD privilege (which Aurora's admin has
	// too) allows RESET SLAVE [ALL], RESET MASTER and FLUSH BINARY LOGS. The
	// fixture does not emulate Aurora here; pinned so a change is noticed.
	mustExec(t, db, "FLUSH BINARY LOGS")
	mustExec(t, db, "RESET SLAVE ALL")
	mustExec(t, db, "RESET MASTER")
	// Re-installing (here as the other version) issues a new password and
	// swaps the names.
	admin2, err := s.InstallAuroraProcedures(t.Context(), AuroraV2)
	if err != nil {
		t.Fatal(err)
	}
	if admin2.Password == admin.Password {
		t.Error("re-install kept the password")
	}
	db2 := openAdmin(t, admin2)
	wantErrno(t, db2, errSPDoesNotExist, "CALL mysql.rds_reset_external_source()")
	mustExec(t, db2, "CALL mysql.rds_reset_external_master()")
	if admin2.DSN("d") == "" || admin2.Addr != s.Addr() {
		t.Errorf("admin DSN/Addr: %q %q", admin2.DSN("d"), admin2.Addr)
	}
}
