//go:build integration

package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlErrno returns the server error number in err, or 0.
func mysqlErrno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// waitFor polls cond until it returns true, failing the test at the deadline.
// cond returns a description of the current state for the failure message.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s; last state: %s", what, timeout, state)
		}
		<-tick.C
	}
}

// processGone reports whether pid no longer runs (zombies count as gone: a
// reparented zombie may wait for a reaper that is slow or absent).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// state is the field after "(comm)"
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

func queryString(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var v sql.NullString
	if err := db.QueryRowContext(t.Context(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

type masterStatus struct {
	File string
	Pos  int64
}

func showMasterStatus(t *testing.T, db *sql.DB) masterStatus {
	t.Helper()
	var st masterStatus
	var doDB, ignoreDB sql.NullString
	if err := db.QueryRowContext(t.Context(), "SHOW MASTER STATUS").Scan(&st.File, &st.Pos, &doDB, &ignoreDB); err != nil {
		t.Fatalf("SHOW MASTER STATUS: %v", err)
	}
	return st
}

// slaveStatus returns SHOW SLAVE STATUS as column → value, or nil when the
// server has no replica configuration (no row).
func slaveStatus(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SHOW SLAVE STATUS")
	if err != nil {
		t.Fatalf("SHOW SLAVE STATUS: %v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		m[c] = vals[i].String
	}
	return m
}

func countRows(t *testing.T, db *sql.DB, table string) (int, error) {
	t.Helper()
	var n int
	err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n)
	return n, err
}

// waitRows waits until table on db has want rows, reporting replica status
// on timeout.
func waitRows(t *testing.T, db *sql.DB, table string, want int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%s has %d rows", table, want), func() (bool, string) {
		n, err := countRows(t, db, table)
		if err == nil && n == want {
			return true, ""
		}
		st := slaveStatus(t, db)
		return false, fmt.Sprintf("count=%d err=%v io=%s sql=%s io_err=%q sql_err=%q", n, err,
			st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"], st["Last_SQL_Error"])
	})
}

func TestStartN(t *testing.T) {
	Require(t)
	t.Parallel()
	servers, err := StartN(t.Context(), 3, Options{NamePrefix: "startn"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Close()
		}
	})

	ports, ids, tmpdirs := map[int]bool{}, map[uint32]bool{}, map[string]bool{}
	for _, s := range servers {
		ports[s.Port], ids[s.ServerID] = true, true
		db := s.DBT(t)

		var serverID uint32
		var logBin int
		var format, basename, tmpdir, logSlaveUpdates string
		err := db.QueryRowContext(t.Context(),
			"SELECT @@server_id, @@log_bin, @@binlog_format, @@log_bin_basename, @@tmpdir, @@log_slave_updates").
			Scan(&serverID, &logBin, &format, &basename, &tmpdir, &logSlaveUpdates)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if serverID != s.ServerID {
			t.Errorf("%s: @@server_id = %d; want %d", s.Name, serverID, s.ServerID)
		}
		if logBin != 1 || format != "ROW" || logSlaveUpdates != "1" {
			t.Errorf("%s: log_bin=%d binlog_format=%s log_slave_updates=%s; want 1, ROW, 1", s.Name, logBin, format, logSlaveUpdates)
		}
		if filepath.Base(basename) != BinlogBasename {
			t.Errorf("%s: @@log_bin_basename = %s; want …/%s", s.Name, basename, BinlogBasename)
		}
		if !strings.HasPrefix(tmpdir, s.Dir) {
			t.Errorf("%s: @@tmpdir = %s; want under %s", s.Name, tmpdir, s.Dir)
		}
		tmpdirs[tmpdir] = true
		if st := showMasterStatus(t, db); st.File != "mysql-bin-changelog.000001" {
			t.Errorf("%s: SHOW MASTER STATUS file = %s; want mysql-bin-changelog.000001", s.Name, st.File)
		}
	}
	if len(ports) != 3 || len(ids) != 3 || len(tmpdirs) != 3 {
		t.Errorf("ports %v, server ids %v, tmpdirs %v; want 3 distinct each", ports, ids, tmpdirs)
	}

	for _, s := range servers {
		pid := s.PID()
		if pid == 0 {
			t.Fatalf("%s: PID() = 0 while running", s.Name)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", s.Name, err)
		}
		if !processGone(pid) {
			t.Errorf("%s: pid %d still running after Close", s.Name, pid)
		}
		if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: dir %s still exists after Close (stat err %v)", s.Name, s.Dir, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: second Close = %v; want nil", s.Name, err)
		}
	}
}

func TestStartTime(t *testing.T) {
	Require(t)
	// Not parallel: the figure should not include other tests' load.
	const runs = 3
	var total time.Duration
	for i := range runs {
		begin := time.Now()
		s, err := Start(t.Context(), fmt.Sprintf("timing-%d", i), Options{})
		took := time.Since(begin)
		if err != nil {
			t.Fatal(err)
		}
		closeBegin := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("start %d: ready in %s, closed in %s", i, took.Round(time.Millisecond), time.Since(closeBegin).Round(time.Millisecond))
		total += took
	}
	t.Logf("mean start: %s", (total / runs).Round(time.Millisecond))

	begin := time.Now()
	servers, err := StartN(t.Context(), 3, Options{NamePrefix: "timing-n"})
	took := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if rss, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID())); err == nil {
			for _, line := range strings.Split(string(rss), "\n") {
				if strings.HasPrefix(line, "VmRSS:") {
					t.Logf("%s %s", s.Name, strings.Join(strings.Fields(line), " "))
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
	// Timings are reported, not asserted: a loaded machine is slower, and
	// performance is measured in benchmarks.
	t.Logf("StartN(3): all ready in %s", took.Round(time.Millisecond))
}

func TestNativeReplication(t *testing.T) {
	t.Parallel()
	servers := StartT(t, 2, Options{GTID: true})
	src, rep := servers[0], servers[1]
	srcDB, repDB := src.DBT(t), rep.DBT(t)

	src.ExecT(t,
		"CREATE USER 'repl'@'%' IDENTIFIED BY 'replpw'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%'")
	pos := showMasterStatus(t, srcDB)
	src.ExecT(t,
		"CREATE DATABASE app",
		"CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO app.t VALUES (1, 'one'), (2, 'two')")

	rep.ExecT(t,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='replpw', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_USE_GTID=no",
			src.Port, pos.File, pos.Pos),
		"START SLAVE")
	waitRows(t, repDB, "app.t", 2)
	src.ExecT(t, "INSERT INTO app.t VALUES (3, 'three')")
	waitRows(t, repDB, "app.t", 3)

	if st := slaveStatus(t, repDB); st["Master_Server_Id"] != fmt.Sprint(src.ServerID) {
		t.Errorf("Master_Server_Id = %q; want %d", st["Master_Server_Id"], src.ServerID)
	}
	// CHANGE MASTER while the replica runs fails with 1198 (ER_SLAVE_MUST_STOP).
	if _, err := repDB.ExecContext(t.Context(), "CHANGE MASTER TO MASTER_CONNECT_RETRY=1"); mysqlErrno(err) != 1198 {
		t.Errorf("CHANGE MASTER while running: err = %v; want 1198", err)
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	s := StartT(t, 1, Options{})[0]
	s.ExecT(t, "CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1)")
	pid := s.PID()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Fatalf("pid %d still running after Kill", pid)
	}
	if s.PID() != 0 {
		t.Errorf("PID() = %d after Kill; want 0", s.PID())
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "data")); err != nil {
		t.Fatalf("data dir gone after Kill: %v", err)
	}
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.PID() == 0 || s.PID() == pid {
		t.Errorf("PID() after Restart = %d (old %d)", s.PID(), pid)
	}
	if n, err := countRows(t, s.DBT(t), "k.t"); err != nil || n != 1 {
		t.Errorf("rows after crash+restart = %d, %v; want 1", n, err)
	}
	if err := s.Restart(t.Context()); err == nil {
		t.Error("Restart of a running server succeeded; want error")
	}
}

func TestStartCanceled(t *testing.T) {
	Require(t)
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := Start(ctx, "canceled", Options{}); err == nil {
		s.Close()
		t.Fatal("Start with a canceled context succeeded")
	}
}

func TestStartBadFlagReportsLog(t *testing.T) {
	Require(t)
	t.Parallel()
	s, err := Start(t.Context(), "badflag", Options{ExtraArgs: []string{"--no-such-option-xyz"}})
	if err == nil {
		s.Close()
		t.Fatal("Start with an unknown mariadbd flag succeeded")
	}
	if !strings.Contains(err.Error(), "no-such-option-xyz") {
		t.Errorf("error does not include the server's complaint:\n%v", err)
	}
}
