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

// binlogEventRow is one row of SHOW BINLOG EVENTS, as the tests read it
// themselves (independently of the code under test).
type binlogEventRow struct {
	Pos, End uint64
	Type     string
	Info     string
}

// binlogEventsFrom lists the events of file on db from pos on.
func binlogEventsFrom(t *testing.T, db *sql.DB, file string, pos uint64) []binlogEventRow {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d", file, pos))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []binlogEventRow
	for rows.Next() {
		var e binlogEventRow
		var name string
		var serverID uint64
		if err := rows.Scan(&name, &e.Pos, &e.Type, &serverID, &e.End, &e.Info); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventOfType returns the first event of type typ in events.
func eventOfType(t *testing.T, events []binlogEventRow, typ string) binlogEventRow {
	t.Helper()
	for _, e := range events {
		if e.Type == typ {
			return e
		}
	}
	t.Fatalf("no %s event among %+v", typ, events)
	return binlogEventRow{}
}

// pairState is everything a refused configure must leave as it was: the
// rollback target's replica status and fence, production's binlog position,
// and that neither the replication user nor switchback's schema exists.
func pairState(t *testing.T, p *pair) string {
	t.Helper()
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	rows, err := blueDB.Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	slave := 0
	for rows.Next() {
		slave++
	}
	rows.Close()
	var users, schemas int
	if err := greenDB.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = ?", DefaultReplicationUser).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if err := greenDB.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'switchback'").Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("target: %d replica status rows, read_only %v; production: binlog %s, %d replication users, %d switchback schemas",
		slave, readOnly(t, blueDB), masterPos(t, greenDB), users, schemas)
}

// assertRefused runs Configure from req.Start and checks that it is
// refused with a reason that names the coordinates, contains every one of
// want and says where correct coordinates come from, and that nothing
// changed on either server.
func assertRefused(t *testing.T, p *pair, req ConfigureRequest, want ...string) {
	t.Helper()
	assertRefusedNaming(t, p, req, append(want, "explain-event")...)
}

// assertRefusedNaming is assertRefused without the advice on coordinates.
func assertRefusedNaming(t *testing.T, p *pair, req ConfigureRequest, want ...string) {
	t.Helper()
	before := pairState(t, p)
	if !strings.HasPrefix(before, "target: 0 replica status rows") || !strings.Contains(before, " 0 replication users, 0 switchback schemas") {
		t.Fatalf("the pair is not fresh before the attempt: %s", before)
	}
	res, err := Configure(t.Context(), req)
	if !errors.Is(err, ErrRefused) || res.Outcome != OutcomeRefused {
		t.Fatalf("configure from %s: err %v, outcome %q; want refused\n%+v", req.Start, err, res.Outcome, res.Steps)
	}
	for _, s := range append(want, req.Start.String()) {
		if !strings.Contains(res.Reason, s) {
			t.Errorf("reason %q does not contain %q", res.Reason, s)
		}
	}
	for _, st := range res.Steps {
		if st.Outcome == StepDone {
			t.Errorf("step %q ran (%s) in a refused configure", st.Name, st.Detail)
		}
	}
	if after := pairState(t, p); after != before {
		t.Errorf("refused configure changed the servers:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("refused: %s", res.Reason)
}

// coordinatesPair is a switched-over pair where production has, after the
// switchover coordinates, one DDL and one row transaction (ids 500, 501).
func coordinatesPair(t *testing.T, opts sandbox.Options) (*pair, []binlogEventRow, *Server, *Server) {
	t.Helper()
	p := newSwitchedOverPair(t, opts)
	p.green.ExecT(t,
		"CREATE TABLE shop.more (id INT PRIMARY KEY)",
		"INSERT INTO shop.orders VALUES (500, 'after-a'), (501, 'after-b')",
	)
	events := binlogEventsFrom(t, p.green.DBT(t), p.coords.File, p.coords.Position)
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	return p, events, prod, rb
}

// TestIntegrationCoordinatesRefused: coordinates that cannot be right are
// refused before anything changes, each with a reason that names the
// problem, the position and the event found there.
func TestIntegrationCoordinatesRefused(t *testing.T) {
	p, events, prod, rb := coordinatesPair(t, sandbox.Options{})
	// events: Gtid, Query (CREATE TABLE), Gtid, Annotate_rows, Table_map,
	// Write_rows_v1, Xid.
	firstGtid := eventOfType(t, events, "Gtid")
	ddl := eventOfType(t, events, "Query")
	rowEvents := events[2:]
	if rowEvents[0].Type != "Gtid" {
		t.Fatalf("unexpected events after the coordinates: %+v", events)
	}
	at := func(pos uint64) ConfigureRequest {
		return ConfigureRequest{Production: prod, Rollback: rb, Start: BinlogPosition{File: p.coords.File, Position: pos}, WaitTimeout: 10 * time.Second}
	}
	var size uint64
	rows, err := p.green.DBT(t).Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var s uint64
		if err := rows.Scan(&name, &s); err != nil {
			t.Fatal(err)
		}
		if name == p.coords.File {
			size = s
		}
	}
	rows.Close()
	if size == 0 {
		t.Fatalf("SHOW BINARY LOGS does not list %s", p.coords.File)
	}

	t.Run("position at or above 2^32", func(t *testing.T) {
		// Truncated to 32 bits this is the Gtid event, a boundary: CHANGE
		// MASTER would have "worked" and replicated from the wrong place.
		assertRefused(t, p, at(1<<32+firstGtid.Pos), "4294967295", "rollback target (mariadb)",
			fmt.Sprintf("truncate it to %d", firstGtid.Pos))
		assertRefused(t, p, at(1<<32), "4294967295", "truncate it to 0")
	})
	t.Run("Xid event", func(t *testing.T) {
		xid := eventOfType(t, rowEvents, "Xid")
		assertRefused(t, p, at(xid.Pos), "inside a transaction", "of type Xid", fmt.Sprintf("bytes %d..%d", xid.Pos, xid.End))
	})
	for _, typ := range []string{"Table_map", "Write_rows_v1", "Annotate_rows"} {
		t.Run(typ+" event", func(t *testing.T) {
			e := eventOfType(t, rowEvents, typ)
			assertRefused(t, p, at(e.Pos), "inside a transaction", "of type "+typ)
		})
	}
	t.Run("DDL Query event after its Gtid", func(t *testing.T) {
		assertRefused(t, p, at(ddl.Pos), "inside a transaction", "of type Query")
	})
	t.Run("middle of an event", func(t *testing.T) {
		assertRefused(t, p, at(firstGtid.Pos+1), "not the start of an event")
		w := eventOfType(t, rowEvents, "Write_rows_v1")
		assertRefused(t, p, at((w.Pos+w.End)/2), "not the start of an event")
	})
	t.Run("past the end of the file", func(t *testing.T) {
		assertRefused(t, p, at(size+1), "past the end", fmt.Sprintf("%d bytes", size))
		assertRefused(t, p, at(p.coords.Position+1_000_000), "past the end")
	})
	t.Run("file production does not have", func(t *testing.T) {
		req := at(4)
		req.Start.File = "mysql-bin-changelog.000099"
		assertRefused(t, p, req, "not on production", "purged")
	})
}

// TestIntegrationCoordinatesGtidEventAccepted: the start of a Gtid event
// inside the file is a boundary: configure succeeds and replicates exactly
// the transactions from there on.
func TestIntegrationCoordinatesGtidEventAccepted(t *testing.T) {
	p, events, prod, rb := coordinatesPair(t, sandbox.Options{})
	// The second Gtid begins the row transaction: start there, skipping the
	// CREATE TABLE before it.
	var gtid binlogEventRow
	for _, e := range events {
		if e.Type == "Gtid" {
			gtid = e
		}
	}
	start := BinlogPosition{File: p.coords.File, Position: gtid.Pos}
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: start, WaitTimeout: 10 * time.Second})
	if err != nil || res.Outcome != OutcomeConfigured {
		t.Fatalf("configure from the Gtid event at %s: %v %q\n%+v", start, err, res.Outcome, res.Steps)
	}
	if d := res.Steps[0].Detail; !strings.Contains(d, start.String()+" starts an event of type Gtid") {
		t.Errorf("check step detail %q does not say why the start is a boundary", d)
	}
	blueDB := p.blue.DBT(t)
	waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 501", "after-b")
	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (502, 'later')")
	waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 502", "later")
	var n int
	if err := blueDB.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'more'").Scan(&n); err != nil || n != 0 {
		t.Errorf("shop.more on the rollback target: %d (%v); the CREATE TABLE before the start must not replicate", n, err)
	}
}

// TestIntegrationCoordinatesEndOfFileAccepted: the current end of
// production's binlog is a boundary even though nothing starts there yet.
func TestIntegrationCoordinatesEndOfFileAccepted(t *testing.T) {
	p, _, prod, rb := coordinatesPair(t, sandbox.Options{})
	greenDB := p.green.DBT(t)
	var end BinlogPosition
	var doDB, ignoreDB sql.NullString
	if err := greenDB.QueryRow("SHOW MASTER STATUS").Scan(&end.File, &end.Position, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}
	if end.File != p.coords.File || end.Position <= p.coords.Position {
		t.Fatalf("production at %s; want later in %s", end, p.coords.File)
	}
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: end, WaitTimeout: 10 * time.Second})
	if err != nil || res.Outcome != OutcomeConfigured {
		t.Fatalf("configure from the end of the file %s: %v %q\n%+v", end, err, res.Outcome, res.Steps)
	}
	if d := res.Steps[0].Detail; !strings.Contains(d, end.String()+" is the current end of production's binlog") {
		t.Errorf("check step detail %q does not say why the start is a boundary", d)
	}
	blueDB := p.blue.DBT(t)
	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (600, 'after-end')")
	waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 600", "after-end")
	var n int
	if err := blueDB.QueryRow("SELECT COUNT(*) FROM shop.orders WHERE id IN (500, 501)").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows written before the start on the rollback target: %d (%v); want 0", n, err)
	}
}

// TestIntegrationCoordinatesBoundaryWithAutoPosition: with GTID
// auto-position the same rule holds for the position MariaDB translates to
// a GTID position: inside a transaction is refused, a Gtid event accepted.
func TestIntegrationCoordinatesBoundaryWithAutoPosition(t *testing.T) {
	p, events, prod, rb := coordinatesPair(t, sandbox.Options{GTID: true})
	at := func(pos uint64) ConfigureRequest {
		return ConfigureRequest{Production: prod, Rollback: rb, Start: BinlogPosition{File: p.coords.File, Position: pos}, AutoPosition: true, WaitTimeout: 10 * time.Second}
	}
	xid := eventOfType(t, events, "Xid")
	assertRefused(t, p, at(xid.Pos), "inside a transaction", "of type Xid")
	assertRefused(t, p, at(xid.Pos+3), "not the start of an event")

	var gtid binlogEventRow
	for _, e := range events {
		if e.Type == "Gtid" {
			gtid = e
		}
	}
	res, err := Configure(t.Context(), at(gtid.Pos))
	if err != nil || res.Outcome != OutcomeConfigured {
		t.Fatalf("auto-position configure from the Gtid event at %d: %v %q\n%+v", gtid.Pos, err, res.Outcome, res.Steps)
	}
	waitRow(t, p.blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 501", "after-b")
}

// TestIntegrationCoordinatesBoundaryNeedsPrivilege: a production user that
// may not read the binary log gets a refusal naming BINLOG MONITOR, and
// nothing changes.
func TestIntegrationCoordinatesBoundaryNeedsPrivilege(t *testing.T) {
	p, _, _, rb := coordinatesPair(t, sandbox.Options{})
	p.green.ExecT(t,
		"CREATE USER 'nobinlog'@'%' IDENTIFIED BY 'Nobinlog-Pw-1'",
		"GRANT ALL PRIVILEGES ON *.* TO 'nobinlog'@'%'",
		"REVOKE BINLOG MONITOR, SUPER ON *.* FROM 'nobinlog'@'%'",
	)
	prod := connectDSN(t, "production", p.green.DSN("nobinlog", "Nobinlog-Pw-1", ""), DialectAuto)
	assertRefusedNaming(t, p, ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second},
		"BINLOG MONITOR privilege", `"nobinlog"`, "SHOW BINARY LOGS")
}
