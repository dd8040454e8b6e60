//go:build integration

package replication

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// newSwitchedOverTrio is newSwitchedOverPair plus a third server that is
// neither production nor the rollback target: the source of a replication
// connection switchback did not make.
func newSwitchedOverTrio(t *testing.T) (*pair, *sandbox.Server) {
	t.Helper()
	servers := sandbox.StartT(t, 3, sandbox.Options{})
	blue, green, third := servers[0], servers[1], servers[2]
	sw, err := sandbox.SimulateSwitchover(t.Context(), blue, green, func(db *sql.DB) error {
		for _, q := range []string{
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL)",
			"INSERT INTO shop.orders VALUES (1, 'seed-a'), (2, 'seed-b')",
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
	return &pair{blue: blue, green: green, coords: BinlogPosition{File: sw.File, Position: sw.Position}}, third
}

// addOtherConnection points blue's named connection 'other' at third's
// current binlog position (not by GTID: blue's gtid_slave_pos holds
// production's GTIDs, which third never wrote), starts it, and waits until
// a write on third has arrived through it.
func addOtherConnection(t *testing.T, blue, third *sandbox.Server, marker string) {
	t.Helper()
	file, pos, _ := strings.Cut(masterPos(t, third.DBT(t)), ":")
	blue.ExecT(t,
		fmt.Sprintf("CHANGE MASTER 'other' TO MASTER_HOST = '%s', MASTER_PORT = %d, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_LOG_FILE = '%s', MASTER_LOG_POS = %s, MASTER_CONNECT_RETRY = 1",
			third.Host, third.Port, file, pos),
		"START SLAVE 'other'")
	third.ExecT(t, "CREATE DATABASE IF NOT EXISTS third_party", "CREATE TABLE IF NOT EXISTS third_party.t (v VARCHAR(64) PRIMARY KEY)",
		"INSERT INTO third_party.t VALUES ('"+marker+"')")
	waitRow(t, blue.DBT(t), "SELECT v FROM third_party.t WHERE v = '"+marker+"'", marker)
}

// connectionTestState is what must not change when configure refuses: the
// server's own binlog position, its fence, every replication connection,
// and switchback's user and schema.
type connectionTestState struct {
	BinlogPos   string
	ReadOnly    bool
	Connections []string
	ReplUsers   int
	Schemas     int
}

func connectionStateOf(t *testing.T, s *sandbox.Server) connectionTestState {
	t.Helper()
	db := s.DBT(t)
	st := connectionTestState{BinlogPos: masterPos(t, db), ReadOnly: readOnly(t, db)}
	rows, err := db.Query("SHOW ALL SLAVES STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		st.Connections = append(st.Connections, fmt.Sprintf("%q %s:%s io=%s sql=%s read=%s:%s exec=%s:%s gtid=%s delay=%s",
			m["Connection_name"], m["Master_Host"], m["Master_Port"], m["Slave_IO_Running"], m["Slave_SQL_Running"],
			m["Master_Log_File"], m["Read_Master_Log_Pos"], m["Relay_Master_Log_File"], m["Exec_Master_Log_Pos"], m["Using_Gtid"], m["SQL_Delay"]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = ?", DefaultReplicationUser).Scan(&st.ReplUsers); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'switchback'").Scan(&st.Schemas); err != nil {
		t.Fatal(err)
	}
	return st
}

// assertRefusedForOther runs configure, which must refuse because of the
// connection 'other' and change nothing on either server.
func assertRefusedForOther(t *testing.T, p *pair, req ConfigureRequest, third *sandbox.Server) {
	t.Helper()
	beforeBlue, beforeGreen := connectionStateOf(t, p.blue), connectionStateOf(t, p.green)
	res, err := Configure(t.Context(), req)
	if !errors.Is(err, ErrRefused) || res.Outcome != OutcomeRefused {
		t.Fatalf("configure with a connection 'other' = %q, %v; want refused", res.Outcome, err)
	}
	for _, want := range []string{
		fmt.Sprintf("connection 'other' from %s (IO Yes, SQL Yes)", third.Addr()),
		"STOP SLAVE 'other'; RESET SLAVE 'other' ALL",
	} {
		if !strings.Contains(res.Reason, want) {
			t.Errorf("refusal %q does not contain %q", res.Reason, want)
		}
	}
	for _, s := range res.Steps {
		if s.Outcome == StepDone {
			t.Errorf("refused configure did step %q", s.Name)
		}
	}
	if after := connectionStateOf(t, p.blue); !reflect.DeepEqual(after, beforeBlue) {
		t.Errorf("refused configure changed the rollback target:\nbefore %+v\nafter  %+v", beforeBlue, after)
	}
	if after := connectionStateOf(t, p.green); !reflect.DeepEqual(after, beforeGreen) {
		t.Errorf("refused configure changed production:\nbefore %+v\nafter  %+v", beforeGreen, after)
	}
}

// TestIntegrationReplicaStatusOtherConnection: a MariaDB named connection
// to a third server is invisible to SHOW SLAVE STATUS but is listed in
// OtherConnections, with and without a default connection, and configure
// refuses such a rollback target without changing either server.
func TestIntegrationReplicaStatusOtherConnection(t *testing.T) {
	p, third := newSwitchedOverTrio(t)
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, ReplicationPassword: "Repl-Secret-9c1d", WaitTimeout: 10 * time.Second}
	wantOther := []string{fmt.Sprintf("connection 'other' from %s (IO Yes, SQL Yes)", third.Addr())}

	// Without a default connection: what the review found. SHOW SLAVE
	// STATUS says nothing at all.
	addOtherConnection(t, p.blue, third, "before-configure")
	var n int
	rows, err := p.blue.DBT(t).Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		n++
	}
	rows.Close()
	if n != 0 {
		t.Fatalf("SHOW SLAVE STATUS shows %d rows with only a named connection; this test assumes it shows none", n)
	}
	rs, err := rb.ReplicaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rs.Configured || !reflect.DeepEqual(rs.OtherConnections, wantOther) || !reflect.DeepEqual(rs.OtherConnectionNames, []string{"other"}) {
		t.Fatalf("status with only 'other': Configured %v, OtherConnections %q, names %q; want false, %q, [other]",
			rs.Configured, rs.OtherConnections, rs.OtherConnectionNames, wantOther)
	}
	assertRefusedForOther(t, p, req, third)

	// The refusal's own advice clears the way.
	p.blue.ExecT(t, "STOP SLAVE 'other'", "RESET SLAVE 'other' ALL")
	res, err := Configure(t.Context(), req)
	if err != nil || res.Outcome != OutcomeConfigured {
		t.Fatalf("configure after removing 'other' = %q, %v; want configured", res.Outcome, err)
	}
	rs, err = rb.ReplicaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Configured || rs.ConnectionName != "" || rs.OtherConnections != nil || rs.Filters != nil || rs.SQLDelay != 0 || rs.SkipCounter != 0 {
		t.Fatalf("status after configure = %+v; want the default connection alone, no filters, delay or skip", describeStatus(rs))
	}

	// With a default connection: 'other' comes back next to it.
	addOtherConnection(t, p.blue, third, "after-configure")
	rs, err = rb.ReplicaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	host, port := prod.HostPort()
	if !rs.Configured || rs.ConnectionName != "" || rs.SourceHost != host || rs.SourcePort != port || !rs.IOThreadRunning || !rs.SQLThreadRunning {
		t.Errorf("default connection = %+v; want production's, running", describeStatus(rs))
	}
	if !reflect.DeepEqual(rs.OtherConnections, wantOther) || !reflect.DeepEqual(rs.OtherConnectionNames, []string{"other"}) {
		t.Errorf("OtherConnections = %q, names %q; want %q, [other]", rs.OtherConnections, rs.OtherConnectionNames, wantOther)
	}
	// A re-run that said "unchanged" before now refuses.
	assertRefusedForOther(t, p, req, third)

	// A stopped connection is still listed: START SLAVE would revive it.
	p.blue.ExecT(t, "STOP SLAVE 'other'")
	rs, err = rb.ReplicaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("connection 'other' from %s (IO No, SQL No)", third.Addr())}
	if !rs.Configured || !reflect.DeepEqual(rs.OtherConnections, want) {
		t.Errorf("stopped 'other': Configured %v, OtherConnections %q; want true, %q", rs.Configured, rs.OtherConnections, want)
	}
}

// TestIntegrationReplicaStatusFiltersDelaySkip: on real MariaDB, a filter,
// a delay and a pending skip on the default connection show in Filters,
// SQLDelay and SkipCounter.
func TestIntegrationReplicaStatusFiltersDelaySkip(t *testing.T) {
	servers := sandbox.StartT(t, 2, sandbox.Options{})
	replica, source := servers[0], servers[1]
	rb := connectRoot(t, "rollback target", replica, DialectAuto)
	replica.ExecT(t, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '%s', MASTER_PORT = %d, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_LOG_FILE = '%s', MASTER_LOG_POS = 4, MASTER_CONNECT_RETRY = 1",
		source.Host, source.Port, sandbox.BinlogBasename+".000001"), "START SLAVE")
	status := func() ReplicaStatus {
		t.Helper()
		rs, err := rb.ReplicaStatus(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	sandbox.WaitFor(t, 10*time.Second, "replica running", func() (bool, error) {
		rs := status()
		return rs.IOThreadRunning && rs.SQLThreadRunning, nil
	})
	if rs := status(); rs.Filters != nil || rs.SQLDelay != 0 || rs.SkipCounter != 0 {
		t.Fatalf("fresh replica: Filters %q, SQLDelay %d, SkipCounter %d; want none, 0, 0", rs.Filters, rs.SQLDelay, rs.SkipCounter)
	}

	// Filters can only change on a stopped replica (error 1198 otherwise).
	db := replica.DBT(t)
	if _, err := db.Exec("SET GLOBAL replicate_ignore_db = 'x'"); mysqlErrno(err) != 1198 {
		t.Errorf("SET GLOBAL replicate_ignore_db on a running replica: %v; want error 1198", err)
	}
	replica.ExecT(t, "STOP SLAVE", "SET GLOBAL replicate_ignore_db = 'x'", "CHANGE MASTER TO MASTER_DELAY = 60")
	// After CHANGE MASTER: it resets the skip counter.
	replica.ExecT(t, "SET GLOBAL sql_slave_skip_counter = 1")
	rs := status()
	if !reflect.DeepEqual(rs.Filters, []string{"Replicate_Ignore_DB=x"}) || rs.SQLDelay != 60 || rs.SkipCounter != 1 {
		t.Errorf("stopped replica: Filters %q, SQLDelay %d, SkipCounter %d; want [Replicate_Ignore_DB=x], 60, 1", rs.Filters, rs.SQLDelay, rs.SkipCounter)
	}
	if !rs.Configured || rs.IOThreadRunning || rs.SQLThreadRunning || rs.OtherConnections != nil {
		t.Errorf("stopped replica = %+v", describeStatus(rs))
	}

	// Filters and delay stay when it runs again.
	replica.ExecT(t, "START SLAVE")
	sandbox.WaitFor(t, 10*time.Second, "replica running again", func() (bool, error) {
		rs := status()
		return rs.IOThreadRunning && rs.SQLThreadRunning, nil
	})
	if rs := status(); !reflect.DeepEqual(rs.Filters, []string{"Replicate_Ignore_DB=x"}) || rs.SQLDelay != 60 {
		t.Errorf("running replica: Filters %q, SQLDelay %d; want [Replicate_Ignore_DB=x], 60", rs.Filters, rs.SQLDelay)
	}
}
