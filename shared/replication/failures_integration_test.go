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

// hintOf returns the advice attached to err, or "".
func hintOf(err error) string {
	var h *HintedError
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}

// Coordinates past the end of production's binlog are refused before
// anything changes: nothing there can be replicated from.
func TestIntegrationFailureCoordinatesPastEnd(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	bad := BinlogPosition{File: p.coords.File, Position: p.coords.Position + 1_000_000}
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: bad, WaitTimeout: 10 * time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(res.Reason, "is past the end of the file") {
		t.Fatalf("err %v reason %q; want refused: past the end of the file", err, res.Reason)
	}
	rs, err := rb.ReplicaStatus(t.Context())
	if err != nil || rs.Configured {
		t.Fatalf("rollback target replicates after a refusal: %v %+v", err, rs)
	}
}

// purgeThrough purges every binlog of s before its current one, repeating
// PURGE until the first file left is not file (MariaDB keeps a binlog until
// its binlog checkpoint has moved past it).
func purgeThrough(t *testing.T, s *sandbox.Server, file string) {
	t.Helper()
	s.ExecT(t, "FLUSH BINARY LOGS", "INSERT INTO shop.orders VALUES (50, 'x')", "FLUSH BINARY LOGS")
	db := s.DBT(t)
	var current string
	var pos uint64
	var a, b any
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&current, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 10*time.Second, "the coordinates' binlog to be purged", func() (bool, error) {
		if _, err := db.Exec("PURGE BINARY LOGS TO '" + current + "'"); err != nil {
			return false, err
		}
		var first string
		var size int64
		err := db.QueryRow("SHOW BINARY LOGS").Scan(&first, &size)
		return err == nil && first != file, err
	})
}

// Coordinates in a purged binlog file are refused before anything changes;
// a running replica whose binlog is purged under it stops with IO error
// 1236, and status says so with purge advice.
func TestIntegrationFailurePurgedBinlog(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	if _, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p.blue.ExecT(t, "STOP SLAVE")
	purgeThrough(t, p.green, p.coords.File)
	p.blue.ExecT(t, "START SLAVE")
	sandbox.WaitFor(t, 10*time.Second, "IO error 1236 with purge advice in status", func() (bool, error) {
		obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, SkipProbe: true})
		return err == nil && obs.LastIOErrno == 1236 && strings.Contains(strings.Join(obs.Reasons, " "), "purged"), err
	})

	fresh := newSwitchedOverPair(t, sandbox.Options{})
	purgeThrough(t, fresh.green, fresh.coords.File)
	prod = connectRoot(t, "production", fresh.green, DialectAuto)
	rb = connectRoot(t, "rollback target", fresh.blue, DialectAuto)
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: fresh.coords, WaitTimeout: 10 * time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(res.Reason, "is not on production") {
		t.Fatalf("err %v reason %q; want refused: the file is not on production", err, res.Reason)
	}
}

// An apply error (duplicate key) stops the SQL thread; status names the
// table and the row.
func TestIntegrationFailureDuplicateKey(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	// The rollback target was written to outside replication...
	p.blue.ExecT(t, "SET SESSION sql_log_bin = 0", "SET GLOBAL read_only = 0", "INSERT INTO shop.orders VALUES (77, 'stray-on-old')")
	// ...and production inserts the same key after switchover.
	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (77, 'prod')")
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	// Configure may see the threads running before the SQL thread reaches
	// the row, so the error is checked where it lasts: in status.
	_, _ = Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second})
	var obs Observation
	sandbox.WaitFor(t, 10*time.Second, "SQL thread error 1062", func() (bool, error) {
		var err error
		obs, err = Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, SkipProbe: true})
		return err == nil && obs.LastSQLErrno == 1062, err
	})
	if obs.Ready || obs.SQLRunning {
		t.Errorf("status %+v; want not ready with the SQL thread stopped", obs)
	}
	joined := strings.Join(obs.Reasons, "\n")
	if !strings.Contains(joined, "shop.orders") || !strings.Contains(joined, "Duplicate entry '77'") {
		t.Errorf("reasons do not name the table and row:\n%s", joined)
	}
}

// A wrong replication password: IO error 1045 with advice.
func TestIntegrationFailureWrongReplicationPassword(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	if _, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, ReplicationPassword: "first-Password1"}); err != nil {
		t.Fatal(err)
	}
	// Someone changes the password on production; the replica reconnects.
	p.green.ExecT(t, "ALTER USER 'switchback_repl'@'%' IDENTIFIED BY 'rotated-Password2'")
	p.blue.ExecT(t, "STOP SLAVE", "START SLAVE")
	var obs Observation
	sandbox.WaitFor(t, 15*time.Second, "IO error 1045", func() (bool, error) {
		var err error
		obs, err = Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 200 * time.Millisecond})
		return err == nil && obs.LastIOErrno == 1045, err
	})
	joined := strings.Join(obs.Reasons, "\n")
	if obs.Ready || !strings.Contains(joined, "SWITCHBACK_REPLICATION_PASSWORD") {
		t.Errorf("want not ready with password advice; got ready=%v reasons:\n%s", obs.Ready, joined)
	}
	assertNoSecret(t, "rotated-Password2", obs)
}

// Production unreachable, from here and from the rollback target.
func TestIntegrationFailureProductionUnreachable(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	closed := p.green.Port + 10000
	_, err := Connect(t.Context(), "production", fmt.Sprintf("root:s3cret-pw@tcp(127.0.0.1:%d)/", closed), DialectAuto)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), fmt.Sprintf("production at 127.0.0.1:%d", closed)) {
		t.Fatalf("err %v; want ErrUnreachable naming production's address", err)
	}
	assertNoSecret(t, "s3cret-pw", err.Error())

	// The rollback target cannot reach production at the given source port.
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	_, err = Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, SourcePort: closed, WaitTimeout: 10 * time.Second})
	var re *ReplicationError
	if !errors.As(err, &re) || re.Errno != 2003 || !strings.Contains(hintOf(err), "--source-host") {
		t.Fatalf("err %v; want IO error 2003 with connectivity advice", err)
	}
}

// An admin user that lacks a privilege: the error says which.
func TestIntegrationFailureMissingPrivilege(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	p.green.ExecT(t,
		"CREATE USER 'limited'@'%' IDENTIFIED BY 'limited-pw'",
		"GRANT SELECT, BINLOG MONITOR, SLAVE MONITOR, REPLICATION SLAVE ON *.* TO 'limited'@'%' WITH GRANT OPTION",
		"GRANT ALL ON switchback.* TO 'limited'@'%'")
	prod := connectDSN(t, "production", p.green.DSN("limited", "limited-pw", ""), DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords})
	if err == nil {
		t.Fatal("configure succeeded without CREATE USER on production")
	}
	if h := hintOf(err); !strings.Contains(h, "CREATE USER") {
		t.Errorf("hint %q; want it to name the CREATE USER privilege (err: %v)", h, err)
	}
	if o := stepOutcomes(res.Steps); o["ensure replication user on production"] != StepFailed || o["set source and start replication"] != StepSkipped {
		t.Errorf("steps %+v; want the user step failed and later steps skipped", res.Steps)
	}
	assertNoSecret(t, "limited-pw", res, err.Error())
}

// The probe catches a stopped IO thread: the token never arrives.
func TestIntegrationProbeCatchesStoppedIOThread(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	if _, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords}); err != nil {
		t.Fatal(err)
	}
	p.blue.ExecT(t, "STOP SLAVE IO_THREAD")
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Ready || obs.ProbeLagMS != nil || !strings.Contains(strings.Join(obs.Reasons, "\n"), "probe token") {
		t.Fatalf("want not ready with a probe timeout; got %+v", obs)
	}
}

// The replication user exists on production but not on the rollback
// target, with another password: the password change replicates and must
// neither stop the rollback target nor put the password in any binlog or
// message.
func TestIntegrationPasswordNeverReplicatedInClear(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	p.green.ExecT(t, "SET SESSION sql_log_bin = 0", "CREATE USER 'switchback_repl'@'%' IDENTIFIED BY 'old-Password-0'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'switchback_repl'@'%'")
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	const secret = "Fresh-Secret-4242"
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, ReplicationPassword: secret, WaitTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil || !obs.Ready {
		t.Fatalf("status: %v %+v", err, obs)
	}
	assertNoSecret(t, secret, res, obs)
	for _, s := range []*sandbox.Server{p.green, p.blue} {
		rows, err := s.DBT(t).Query("SHOW BINLOG EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(sql.NullString)
		}
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			if info := vals[len(vals)-1].(*sql.NullString).String; strings.Contains(info, secret) {
				t.Errorf("%s binlog holds the password in clear: %s", s.Name, info)
			}
		}
		rows.Close()
	}
}

// After a failed configure (bad coordinates), the rollback target is reset
// and configured again from coordinates taken after switchback's schema was
// created on production: the schema must still reach the rollback target.
func TestIntegrationReconfigureFromLaterCoordinates(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	bad := BinlogPosition{File: p.coords.File, Position: p.coords.Position + 1_000_000}
	if _, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: bad, WaitTimeout: 10 * time.Second}); err == nil {
		t.Fatal("configure past the end of the binlog succeeded")
	}
	p.blue.ExecT(t, "STOP SLAVE", "RESET SLAVE ALL")
	var later BinlogPosition
	var doDB, ignoreDB sql.NullString
	if err := p.green.DBT(t).QueryRow("SHOW MASTER STATUS").Scan(&later.File, &later.Position, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: later, WaitTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("configure from later coordinates: %v %+v", err, res)
	}
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil || !obs.Ready {
		t.Fatalf("status: %v %+v", err, obs)
	}
}
