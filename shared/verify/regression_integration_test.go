//go:build integration

package verify

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// Regression tests for the findings of the review of shared/verify: each
// asserts the correct behaviour on two real MariaDB servers (see newPair).
// Run one at a time:
//
//	go test -tags integration -count=1 -v -run 'TestIntegrationVerify<Name>$' ./shared/verify/

// logReport logs a report's outcome and every table's result, so that a
// failure shows what verify said.
func logReport(t *testing.T, rep *Report) {
	t.Helper()
	if rep == nil {
		t.Log("no report")
		return
	}
	t.Logf("outcome %s (exit %d): %s", rep.Outcome, rep.ExitCode(), rep.Reason)
	for _, r := range rep.Tables {
		t.Logf("  %-20s %-32s chunks %d rows %d/%d differing chunks %d %s %v", r.Table, r.Status, r.Chunks, r.Rows, r.RollbackRows, len(r.Differences), r.Reason, r.Definition)
	}
}

// connectAs connects to a server with dsn (another login, a proxy, session
// variables), closed when the test ends.
func connectAs(t *testing.T, role, dsn string) *replication.Server {
	t.Helper()
	s, err := replication.Connect(t.Context(), role, dsn, replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// differingRows maps "key,key" to how each listed differing row of a
// table differs.
func differingRows(r TableResult) map[string]string {
	out := map[string]string{}
	for _, d := range r.Differences {
		for _, row := range d.Rows {
			out[strings.Join(row.Key, ",")] = row.Difference
		}
	}
	return out
}

// A value larger than half of max_allowed_packet (a 9 MB blob here, where
// the packet limit is 16 MB; over 2 MB on MySQL 5.7 and Aurora 2 defaults),
// changed on the rollback target, is found: the run is differing (exit 1)
// and names the row. The same large value on both sides is equal.
func TestIntegrationVerifyLargeValueDiffers(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.docs (id INT PRIMARY KEY, body LONGBLOB NOT NULL, note VARCHAR(10) NULL)",
		"INSERT INTO shop.docs VALUES (1, REPEAT('a', 9000000), 'n'), (2, 'small', 'n')",
		"CREATE TABLE shop.same (id INT PRIMARY KEY, body LONGTEXT NOT NULL) DEFAULT CHARSET=utf8mb4",
		"INSERT INTO shop.same VALUES (1, REPEAT('c', 9000000)), (2, 'small')",
	)
	onTarget(t, p, "UPDATE shop.docs SET body = REPEAT('b', 9000000) WHERE id = 1")
	rep := run(t, p, Request{Rows: true})
	logReport(t, rep)
	if rep.Outcome != OutcomeDiffering || rep.ExitCode() != 1 {
		t.Fatalf("outcome %s (exit %d); want %s (exit 1): row 1's 9 MB body differs", rep.Outcome, rep.ExitCode(), OutcomeDiffering)
	}
	docs := tableResult(t, rep, "shop.docs")
	if got := differingRows(docs); docs.Status != StatusDiffering || len(got) != 1 || got["1"] != RowChanged {
		t.Errorf("shop.docs: %s, differing rows %v; want differing, exactly row 1 %s", docs.Status, got, RowChanged)
	}
	if same := tableResult(t, rep, "shop.same"); same.Status != StatusEqual || same.Rows != 2 {
		t.Errorf("shop.same (equal 9 MB values): %s (%s), %d rows; want equal, 2 rows", same.Status, same.Reason, same.Rows)
	}
	replicationRunning(t, p)
}

// A row whose values together exceed max_allowed_packet (two 5 MB
// columns) and that differs only in a small INT column is found: the run
// is differing (exit 1). The same wide row on both sides is equal.
func TestIntegrationVerifyLargeRowDiffers(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.wide (id INT PRIMARY KEY, a LONGBLOB NOT NULL, b LONGBLOB NOT NULL, flag INT NOT NULL)",
		"INSERT INTO shop.wide VALUES (1, REPEAT('a', 5000000), REPEAT('b', 5000000), 0), (2, 'a', 'b', 0)",
		"CREATE TABLE shop.same (id INT PRIMARY KEY, a LONGBLOB NOT NULL, b LONGBLOB NOT NULL, flag INT NOT NULL)",
		"INSERT INTO shop.same VALUES (1, REPEAT('a', 5000000), REPEAT('b', 5000000), 0)",
	)
	onTarget(t, p, "UPDATE shop.wide SET flag = 1 WHERE id = 1")
	rep := run(t, p, Request{Rows: true})
	logReport(t, rep)
	if rep.Outcome != OutcomeDiffering || rep.ExitCode() != 1 {
		t.Fatalf("outcome %s (exit %d); want %s (exit 1): row 1's flag is 0 on production, 1 on the rollback target", rep.Outcome, rep.ExitCode(), OutcomeDiffering)
	}
	wide := tableResult(t, rep, "shop.wide")
	if got := differingRows(wide); wide.Status != StatusDiffering || len(got) != 1 || got["1"] != RowChanged {
		t.Errorf("shop.wide: %s, differing rows %v; want differing, exactly row 1 %s", wide.Status, got, RowChanged)
	}
	if same := tableResult(t, rep, "shop.same"); same.Status != StatusEqual || same.Rows != 1 {
		t.Errorf("shop.same (an equal 10 MB row): %s (%s), %d rows; want equal, 1 row", same.Status, same.Reason, same.Rows)
	}
	replicationRunning(t, p)
}

// Two tables whose names differ only in letter case (shop.T and shop.t:
// lower_case_table_names = 0, the Linux default) keep their own progress
// across invocations of one run (each stopped by its Budget): the
// difference found in shop.T early on is still reported when the run
// ends, and every table's rows are counted exactly once.
func TestIntegrationVerifyTableNamesDifferingOnlyInCase(t *testing.T) {
	const bigRows = 30_000
	p := newPair(t,
		"CREATE DATABASE IF NOT EXISTS seq",
		"CREATE DATABASE shop",
		"CREATE TABLE shop.T (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO shop.T SELECT seq, seq FROM seq.seq_1_to_2000",
		"CREATE TABLE shop.t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO shop.t SELECT seq, seq FROM seq.seq_1_to_300",
		// shop.u is there so that an invocation stops after shop.t's
		// chunks are recorded: the next one reads both tables' back.
		"CREATE TABLE shop.u (id INT PRIMARY KEY, v INT NOT NULL)",
		fmt.Sprintf("INSERT INTO shop.u SELECT seq, seq FROM seq.seq_1_to_%d", bigRows),
	)
	onTarget(t, p, "UPDATE shop.T SET v = -1 WHERE id = 50")
	var rep *Report
	resumedAfterBoth := false
	for i := 0; ; i++ {
		if i == 60 {
			t.Fatalf("the run did not end in 60 invocations")
		}
		var err error
		rep, err = Run(t.Context(), Request{Production: p.prod, Rollback: p.rb, ChunkRows: 100, Budget: 600 * time.Millisecond})
		if err != nil {
			logReport(t, rep)
			t.Fatalf("invocation %d: %v", i, err)
		}
		st := map[string]string{}
		for _, r := range rep.Tables {
			st[r.Table] = fmt.Sprintf("%s/%d chunks", r.Status, r.Chunks)
		}
		t.Logf("invocation %d (resumed %v): %s %v", i, rep.Resumed, rep.Outcome, st)
		if rep.Outcome != OutcomeIncomplete {
			break
		}
		for _, r := range rep.Tables {
			if r.Table == "shop.t" && r.Status != StatusPending {
				resumedAfterBoth = true
			}
		}
	}
	logReport(t, rep)
	if !resumedAfterBoth {
		t.Fatalf("no invocation stopped after shop.t was compared, so none read both tables' progress back: the test did not exercise what it is about (lower the Budget)")
	}
	if rep.Outcome != OutcomeDiffering || !rep.Resumed {
		t.Errorf("final invocation: outcome %s, resumed %v; want %s (shop.T row 50 differs), resumed", rep.Outcome, rep.Resumed, OutcomeDiffering)
	}
	upper := tableResult(t, rep, "shop.T")
	if upper.Status != StatusDiffering || len(upper.Differences) != 1 || upper.Differences[0].After != nil ||
		len(upper.Differences[0].Through) != 1 || upper.Differences[0].Through[0] != "100" {
		t.Errorf("shop.T: %s, differing chunks %+v; want differing, the one chunk through key 100", upper.Status, upper.Differences)
	}
	for name, rows := range map[string]int64{"shop.T": 2000, "shop.t": 300, "shop.u": bigRows} {
		r := tableResult(t, rep, name)
		if r.Rows != rows || r.RollbackRows != rows {
			t.Errorf("%s: %d production rows, %d rollback rows counted; it has %d", name, r.Rows, r.RollbackRows, rows)
		}
		if name != "shop.T" && r.Status != StatusEqual {
			t.Errorf("%s: %s; want equal", name, r.Status)
		}
	}
	if rep.Rows != 2000+300+bigRows {
		t.Errorf("the run counted %d rows; the tables hold %d", rep.Rows, 2000+300+bigRows)
	}
	replicationRunning(t, p)
}

// A MariaDB system-versioned table (TABLE_TYPE 'SYSTEM VERSIONED') is
// compared like any other: a difference in its current rows makes the run
// differing, and the table appears in the report; an identical one is
// equal (its period columns, set by each server when it applies a change,
// are not what the table holds). Naming it in Tables works too.
func TestIntegrationVerifySystemVersionedTable(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.prices (id INT PRIMARY KEY, cents INT NOT NULL) WITH SYSTEM VERSIONING",
		"INSERT INTO shop.prices VALUES (1, 100), (2, 200)",
		"CREATE TABLE shop.rates (id INT PRIMARY KEY, pct INT NOT NULL) WITH SYSTEM VERSIONING",
		"INSERT INTO shop.rates VALUES (1, 5), (2, 7)",
		"UPDATE shop.rates SET pct = 6 WHERE id = 1",
		"CREATE TABLE shop.plain (id INT PRIMARY KEY, v INT)",
		"INSERT INTO shop.plain VALUES (1, 1)",
	)
	onTarget(t, p, "UPDATE shop.prices SET cents = 999 WHERE id = 2")
	rep := run(t, p, Request{Rows: true})
	logReport(t, rep)
	if rep.Outcome != OutcomeDiffering {
		t.Errorf("outcome %s; want %s: shop.prices row 2 differs", rep.Outcome, OutcomeDiffering)
	}
	var names []string
	for _, r := range rep.Tables {
		names = append(names, r.Table)
	}
	if strings.Join(names, " ") != "shop.plain shop.prices shop.rates" {
		t.Fatalf("tables in the report: %v; want shop.plain shop.prices shop.rates", names)
	}
	if prices := tableResult(t, rep, "shop.prices"); prices.Status != StatusDiffering || differingRows(prices)["2"] != RowChanged || len(differingRows(prices)) != 1 {
		t.Errorf("shop.prices: %s (%s), differing rows %v; want differing, row 2 changed", prices.Status, prices.Reason, differingRows(prices))
	}
	if rates := tableResult(t, rep, "shop.rates"); rates.Status != StatusEqual || rates.Rows != 2 {
		t.Errorf("shop.rates (identical, system-versioned): %s (%s) %v, %d rows; want equal, 2 rows", rates.Status, rates.Reason, rates.Definition, rates.Rows)
	}
	rep, err := Run(t.Context(), Request{Production: p.prod, Rollback: p.rb, Tables: []string{"shop.prices"}})
	if err != nil || rep.Outcome != OutcomeDiffering {
		logReport(t, rep)
		t.Errorf("Tables shop.prices: %v, outcome %v; want differing", err, rep)
	}
	replicationRunning(t, p)
}

// A login that cannot see every table (SELECT on shop.* only) asked for
// every table is refused, naming the missing global SELECT, instead of
// calling the tables it can see "all tables"; naming the tables it can see
// (Tables) runs normally.
func TestIntegrationVerifyRefusesALoginThatCannotSeeEveryTable(t *testing.T) {
	p := newPair(t, append(hotSeed(100),
		"CREATE DATABASE billing",
		"CREATE TABLE billing.invoices (id INT PRIMARY KEY, cents INT)",
		"INSERT INTO billing.invoices VALUES (1, 100)",
		"CREATE USER 'v'@'127.0.0.1' IDENTIFIED BY 'pw'",
		"GRANT SELECT, LOCK TABLES ON shop.* TO 'v'@'127.0.0.1'",
		"GRANT ALL ON switchback.* TO 'v'@'127.0.0.1'",
		"GRANT BINLOG MONITOR, REPLICA MONITOR ON *.* TO 'v'@'127.0.0.1'",
	)...)
	onTarget(t, p, "UPDATE billing.invoices SET cents = 1")
	prod := connectAs(t, "production", p.prodS.DSN("v", "pw", ""))
	rb := connectAs(t, "rollback target", p.rbS.DSN("v", "pw", ""))
	rep, err := Run(t.Context(), Request{Production: prod, Rollback: rb})
	logReport(t, rep)
	if !errors.Is(err, ErrRefused) || rep == nil || rep.Outcome != OutcomeRefused || rep.ExitCode() != 3 || !strings.Contains(rep.Reason, "SELECT on *.*") {
		t.Fatalf("every table, as a login that sees only shop.*: %v; want refused (exit 3), the reason naming SELECT on *.* (billing.invoices differs and is invisible to it)", err)
	}
	rep, err = Run(t.Context(), Request{Production: prod, Rollback: rb, Tables: []string{"shop.hot"}})
	logReport(t, rep)
	if err != nil || rep.Outcome != OutcomeEqual || tableResult(t, rep, "shop.hot").Rows != 100 {
		t.Fatalf("Tables shop.hot, as that login: %v; want equal, 100 rows", err)
	}
	replicationRunning(t, p)
}

// TIMESTAMP values are compared as instants: servers (and sessions) in
// different time zones holding the same instants are equal.
func TestIntegrationVerifyTimestampsAcrossTimeZones(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.events (id INT PRIMARY KEY, at TIMESTAMP(3) NULL DEFAULT NULL, day DATE NULL)",
		"SET time_zone = '+00:00'",
		"INSERT INTO shop.events VALUES (1, '2024-01-01 12:00:00.125', '2024-01-01'), (2, '2024-07-01 23:30:00', NULL), (3, NULL, '1999-12-31')",
	)
	if _, err := p.rbS.DBT(t).Exec("SET GLOBAL time_zone = '+01:00'"); err != nil {
		t.Fatal(err)
	}
	// The rollback target's sessions take its global time zone; those of
	// verify's production pool are set to another one by the DSN.
	p.rb = connect(t, "rollback target", p.rbS)
	p.prod = connectAs(t, "production", p.prodS.RootDSN()+"&time_zone=%27-03%3A00%27")
	var ptz, rtz string
	if err := p.prod.DB().QueryRow("SELECT @@session.time_zone").Scan(&ptz); err != nil {
		t.Fatal(err)
	}
	if err := p.rb.DB().QueryRow("SELECT @@session.time_zone").Scan(&rtz); err != nil {
		t.Fatal(err)
	}
	if ptz != "-03:00" || rtz != "+01:00" {
		t.Fatalf("test setup: session time zones %s on production, %s on the rollback target; want -03:00, +01:00", ptz, rtz)
	}
	rep := run(t, p, Request{Rows: true})
	logReport(t, rep)
	if ev := tableResult(t, rep, "shop.events"); rep.Outcome != OutcomeEqual || ev.Status != StatusEqual || ev.Rows != 3 {
		t.Fatalf("the same instants, time zones -03:00 (production) and +01:00 (rollback target): %s, shop.events %s %v; want equal", rep.Outcome, ev.Status, differingRows(ev))
	}
	replicationRunning(t, p)
}

// loadTimeZone loads America/New_York into a server's time zone tables
// (not binlogged) and makes it the server's time zone.
func loadTimeZone(t *testing.T, s *sandbox.Server) {
	t.Helper()
	cmd := exec.Command("sh", "-c", fmt.Sprintf(
		"mariadb-tzinfo-to-sql /usr/share/zoneinfo/America/New_York America/New_York | mariadb --init-command='SET sql_log_bin=0' -h127.0.0.1 -P%d -uroot mysql", s.Port))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load time zone: %v\n%s", err, out)
	}
	if _, err := s.DBT(t).Exec("SET GLOBAL time_zone = 'America/New_York'"); err != nil {
		t.Fatal(err)
	}
}

// With a daylight-saving time zone as both servers' time zone, two
// TIMESTAMP values an hour apart in the autumn's repeated hour (printed
// alike in local time) are different instants: differing, row named.
func TestIntegrationVerifyTimestampInTheRepeatedHourDiffers(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.events (id INT PRIMARY KEY, at TIMESTAMP(0) NULL DEFAULT NULL)",
		"SET time_zone = '+00:00'",
		"INSERT INTO shop.events VALUES (1, '2023-11-05 05:30:00'), (2, '2024-01-01 00:00:00')",
	)
	// On the rollback target, row 1 is an hour later, by hand: 01:30 EDT
	// on production, 01:30 EST there.
	onTarget(t, p, "SET time_zone = '+00:00'", "UPDATE shop.events SET at = '2023-11-05 06:30:00' WHERE id = 1")
	loadTimeZone(t, p.prodS)
	loadTimeZone(t, p.rbS)
	// verify's sessions open after the time zone is set, as on servers
	// configured that way.
	p.prod, p.rb = connect(t, "production", p.prodS), connect(t, "rollback target", p.rbS)
	var pu, ru int64
	var pt, rt string
	if err := p.prod.DB().QueryRow("SELECT UNIX_TIMESTAMP(at), CAST(at AS CHAR) FROM shop.events WHERE id = 1").Scan(&pu, &pt); err != nil {
		t.Fatal(err)
	}
	if err := p.rb.DB().QueryRow("SELECT UNIX_TIMESTAMP(at), CAST(at AS CHAR) FROM shop.events WHERE id = 1").Scan(&ru, &rt); err != nil {
		t.Fatal(err)
	}
	if ru-pu != 3600 || pt != rt {
		t.Fatalf("test setup: row 1 is %d (%s) on production, %d (%s) on the rollback target; want an hour apart, printed alike", pu, pt, ru, rt)
	}
	rep := run(t, p, Request{Rows: true})
	logReport(t, rep)
	ev := tableResult(t, rep, "shop.events")
	if got := differingRows(ev); rep.Outcome != OutcomeDiffering || ev.Status != StatusDiffering || len(got) != 1 || got["1"] != RowChanged {
		t.Fatalf("row 1 an hour later (%s local on both): %s, differing rows %v; want differing, row 1 %s", pt, rep.Outcome, got, RowChanged)
	}
	replicationRunning(t, p)
}

// blockApplier makes the rollback target's applier wait, as a reporting
// session's LOCK TABLES would: it locks shop.other there and writes it on
// production. release (idempotent) lets the applier go on.
func blockApplier(t *testing.T, p *pair) (release func()) {
	t.Helper()
	blocker, err := p.rbS.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.ExecContext(t.Context(), "LOCK TABLES shop.other READ"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.prodS.DBT(t).Exec("UPDATE shop.other SET v = v + 1"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := blocker.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
				t.Errorf("release the blocker: %v", err)
			}
			blocker.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// mdlWatch polls the rollback target's process list every 100 ms, from
// now until stop is called, for sessions waiting for a metadata lock
// (the applier at a held marker, or anyone else), and returns the longest
// continuous wait it saw, with that session's description. (The process
// list's TIME of the applier is its lag, not how long it has waited.)
func mdlWatch(t *testing.T, p *pair) (stop func() (time.Duration, string)) {
	t.Helper()
	db := p.rbS.DBT(t)
	quit, done := make(chan struct{}), make(chan struct{})
	var longest time.Duration
	var who string
	go func() {
		defer close(done)
		since := map[int64]time.Time{}
		for {
			seen := map[int64]bool{}
			rows, err := db.Query("SELECT ID, USER, STATE, COALESCE(INFO, '') FROM information_schema.PROCESSLIST WHERE STATE LIKE '%metadata lock%'")
			if err == nil {
				for rows.Next() {
					var id int64
					var user, state, info string
					if rows.Scan(&id, &user, &state, &info) != nil {
						continue
					}
					seen[id] = true
					if _, ok := since[id]; !ok {
						since[id] = time.Now()
					}
					if d := time.Since(since[id]); d > longest {
						longest, who = d, fmt.Sprintf("session %d (%s): %s [%s]", id, user, state, info)
					}
				}
				rows.Close()
			}
			for id := range since {
				if !seen[id] {
					delete(since, id)
				}
			}
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() (time.Duration, string) {
		close(quit)
		<-done
		return longest, who
	}
}

// canaryDelay writes a row on production and returns how long it took to
// appear on the rollback target (limit when it did not within limit).
func canaryDelay(t *testing.T, p *pair, id int, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	if _, err := p.prodS.DBT(t).Exec("INSERT INTO shop.canary VALUES (?)", id); err != nil {
		t.Fatal(err)
	}
	rb := p.rbS.DBT(t)
	start := time.Now()
	for time.Since(start) < limit {
		var n int
		if err := rb.QueryRow("SELECT COUNT(*) FROM shop.canary WHERE id = ?", id).Scan(&n); err == nil && n == 1 {
			return time.Since(start), true
		}
		time.Sleep(20 * time.Millisecond) // polling the target, bounded by limit
	}
	return limit, false
}

type runResult struct {
	rep *Report
	err error
}

// goRun starts Run in the background. done is closed when it returns;
// wait cancels it (if still running) and returns its result. The test's
// cleanup waits for it too.
func goRun(t *testing.T, req Request, timeout time.Duration) (done <-chan struct{}, wait func() runResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	finished := make(chan struct{})
	var res runResult
	go func() {
		defer close(finished)
		res.rep, res.err = Run(ctx, req)
	}()
	wait = func() runResult {
		cancel()
		<-finished
		return res
	}
	t.Cleanup(func() { wait() })
	return finished, wait
}

// staleMarkerSeed is shop.hot with rows rows (enough for a run to last a
// few seconds), shop.other for blockApplier, and shop.canary for
// canaryDelay.
func staleMarkerSeed(rows int) []string {
	return append(hotSeed(rows),
		"CREATE TABLE shop.other (id INT PRIMARY KEY, v INT)",
		"INSERT INTO shop.other VALUES (1, 1)",
		"CREATE TABLE shop.canary (id INT PRIMARY KEY)",
	)
}

// blockMidRun starts req in the background and, once it is comparing
// rows, holds the rollback target's applier (blockApplier): the run's
// next sync point, within a second (a snapshot's span), writes its marker
// after the held transaction and waits.
func blockMidRun(t *testing.T, p *pair, req Request, timeout time.Duration) (done <-chan struct{}, wait func() runResult, release func(), blockedAt time.Time) {
	t.Helper()
	progressed := make(chan struct{}, 1)
	user := req.OnProgress
	req.OnProgress = func(pr Progress) {
		select {
		case progressed <- struct{}{}:
		default:
		}
		if user != nil {
			user(pr)
		}
	}
	done, wait = goRun(t, req, timeout)
	select {
	case <-progressed:
	case <-done:
		r := wait()
		logReport(t, r.rep)
		t.Fatalf("the run ended before it got going: %v", r.err)
	}
	release = blockApplier(t, p)
	if err := p.prod.DB().QueryRow("SELECT UTC_TIMESTAMP(6)").Scan(&blockedAt); err != nil {
		t.Fatal(err)
	}
	return done, wait, release, blockedAt
}

// A sync point that fails (the rollback target's applier, held by someone
// else's lock, did not get there within the sync timeout) leaves its
// marker in production's binary log. verify's retry must not hold the
// applier at that stale marker: once the other lock is released, the
// target catches up at once (a row written on production appears within
// seconds), no session on the target waits for a metadata lock for more
// than a few seconds, and the run then ends equal. The first attempt's
// wait is the sync timeout (30 s at any --max-lag up to 15 s), so this
// test takes about that long.
func TestIntegrationVerifyFailedSyncPointDoesNotHoldReplication(t *testing.T) {
	p := newPair(t, staleMarkerSeed(200_000)...)
	failed := make(chan string, 1)
	req := Request{Production: p.prod, Rollback: p.rb, Tables: []string{"shop.hot"}, ChunkRows: 200,
		OnProgress: func(pr Progress) {
			if strings.Contains(pr.Paused, "fail") {
				select {
				case failed <- pr.Paused:
				default:
				}
			}
		}}
	done, wait, release, _ := blockMidRun(t, p, req, 3*time.Minute)
	start := time.Now()
	select {
	case msg := <-failed:
		t.Logf("%5.1fs after the applier was held: %s", time.Since(start).Seconds(), msg)
		// The retry takes its locks right away (after a short backoff).
		time.Sleep(600 * time.Millisecond) // letting the retry start, not waiting for a condition
	case <-done:
		r := wait()
		logReport(t, r.rep)
		t.Fatalf("verify returned before any sync point failed: %v", r.err)
	case <-time.After(45 * time.Second):
		t.Logf("no sync point failed in 45 s while the applier was held")
	}
	watch := mdlWatch(t, p)
	release()
	t.Logf("%5.1fs: the other lock released", time.Since(start).Seconds())
	checkCatchUp(t, p, watch)
	if t.Failed() {
		return
	}
	select {
	case <-done:
		r := wait()
		logReport(t, r.rep)
		if r.err != nil || r.rep.Outcome != OutcomeEqual {
			t.Errorf("verify after the retry: %v; want equal", r.err)
		}
	case <-time.After(90 * time.Second):
		r := wait()
		logReport(t, r.rep)
		t.Errorf("verify did not finish within 90 s of the release: %v", r.err)
	}
	replicationRunning(t, p)
}

// checkCatchUp, right after the other lock is released, writes a row on
// production and fails the test unless it reaches the rollback target
// within 10 s, or if a session there waits for a metadata lock for more
// than 3 s (watch, started before the release, says).
func checkCatchUp(t *testing.T, p *pair, watch func() (time.Duration, string)) {
	t.Helper()
	delay, ok := canaryDelay(t, p, 1, 11*time.Second)
	time.Sleep(time.Second) // watching a little longer
	longest, who := watch()
	t.Logf("a row written on production reached the rollback target in %s; longest metadata-lock wait there since the release: %s %s", delay, longest, who)
	if !ok || delay > 10*time.Second {
		t.Errorf("the rollback target took %s (or more) to apply a row written on production after the other lock was released; want < 10 s: verify's own marker held its applier", delay)
	}
	if longest > 3*time.Second {
		t.Errorf("a session on the rollback target waited %s for a metadata lock after the other lock was released: %s", longest.Round(100*time.Millisecond), who)
	}
}

// The same stale marker, left by a run interrupted (its context ended: a
// Lambda deadline, ^C) while its sync point waited: the next run must not
// hold the rollback target's applier at it either.
func TestIntegrationVerifyInterruptedRunDoesNotHoldReplication(t *testing.T) {
	p := newPair(t, staleMarkerSeed(200_000)...)
	req := Request{Production: p.prod, Rollback: p.rb, Tables: []string{"shop.hot"}, ChunkRows: 200}
	_, wait, release, blockedAt := blockMidRun(t, p, req, time.Minute)
	time.Sleep(2500 * time.Millisecond) // the run takes its next sync point within a second (a snapshot's span), which waits
	r := wait()
	t.Logf("first run interrupted: %v", r.err)
	var markedAt time.Time
	if err := p.prod.DB().QueryRow("SELECT MAX(written_at) FROM switchback.verify_marker").Scan(&markedAt); err != nil {
		t.Fatal(err)
	}
	if !markedAt.After(blockedAt) {
		t.Fatalf("test setup: the last marker (%s) was written before the applier was held (%s): no stale marker", markedAt, blockedAt)
	}
	done, wait := goRun(t, req, 2*time.Minute)
	time.Sleep(time.Second) // the second run takes its first locks
	watch := mdlWatch(t, p)
	release()
	checkCatchUp(t, p, watch)
	if t.Failed() {
		return
	}
	select {
	case <-done:
		r := wait()
		logReport(t, r.rep)
		if r.err != nil || r.rep.Outcome != OutcomeEqual {
			t.Errorf("the second run: %v; want equal", r.err)
		}
	case <-time.After(90 * time.Second):
		r := wait()
		logReport(t, r.rep)
		t.Errorf("the second run did not finish within 90 s of the release: %v", r.err)
	}
	replicationRunning(t, p)
}

// dropProxy forwards TCP connections to a server. The lock watchdog's
// session, recognised as the connection that sends a KILL, is then
// dropped by the network the way a NAT or load balancer drops an idle
// flow: once it has been idle longer than idle, its next packet and
// everything after it, either way, go nowhere, and the connection is
// never closed. Every other connection is forwarded as is.
type dropProxy struct {
	ln      net.Listener
	dropped atomic.Int32
	first   chan struct{} // closed at the first drop
	once    sync.Once
}

func newDropProxy(t *testing.T, addr string, idle time.Duration) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, first: make(chan struct{})}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, s)
			mu.Unlock()
			var last atomic.Int64
			var killer, dead atomic.Bool
			last.Store(time.Now().UnixNano())
			pipe := func(dst, src net.Conn, fromClient bool) {
				defer conns.Done()
				buf := make([]byte, 64<<10)
				for {
					k, err := src.Read(buf)
					if err != nil {
						if !dead.Load() {
							dst.Close()
						}
						return
					}
					if fromClient && killer.Load() && !dead.Load() && time.Since(time.Unix(0, last.Load())) > idle {
						dead.Store(true)
						p.dropped.Add(1)
						p.once.Do(func() { close(p.first) })
					}
					if fromClient && bytes.Contains(buf[:k], []byte("KILL ")) {
						killer.Store(true)
					}
					if dead.Load() {
						continue
					}
					last.Store(time.Now().UnixNano())
					if _, err := dst.Write(buf[:k]); err != nil {
						return
					}
				}
			}
			conns.Add(2)
			go pipe(s, c, true)
			go pipe(c, s, false)
		}
	}()
	return p
}

// The lock watchdog's session dropped silently by the network while idle
// (a NAT or load balancer timeout): production's table stays locked no
// longer than --max-lock (plus the kill) all the same, at every sync
// point attempt, and the run then completes.
func TestIntegrationVerifyLockBoundedWithADeadWatchdogConnection(t *testing.T) {
	const maxLock = 20 * time.Millisecond
	p := newPair(t, hotSeed(1000)...)
	run(t, p, Request{Tables: []string{"shop.hot"}}) // switchback's tables exist on both
	proxy := newDropProxy(t, p.prodS.Addr(), 350*time.Millisecond)
	prod := connectAs(t, "production", strings.Replace(p.prodS.RootDSN(), p.prodS.Addr(), proxy.ln.Addr().String(), 1))
	// A transaction holding shop.hot: every sync point's lock waits, and
	// the watchdog must end it.
	tx, err := p.prodS.DBT(t).BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("UPDATE shop.hot SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done, wait := goRun(t, Request{Production: prod, Rollback: p.rb, Tables: []string{"shop.hot"}, MaxLock: maxLock,
		OnProgress: func(pr Progress) {
			if pr.Paused != "" {
				t.Logf("%5.1fs: %s", time.Since(start).Seconds(), pr.Paused)
			}
		}}, 2*time.Minute)
	// The transaction ends a while after the watchdog's session was first
	// dropped (or after 6 s): the attempts in between ran with it dead.
	select {
	case <-proxy.first:
		t.Logf("%5.1fs: the watchdog's session was dropped", time.Since(start).Seconds())
		time.Sleep(3 * time.Second) // letting more attempts run with it dropped
	case <-time.After(6 * time.Second):
	case <-done:
		r := wait()
		logReport(t, r.rep)
		t.Fatalf("verify ended while the transaction held the table: %v", r.err)
	}
	tx.Rollback()
	t.Logf("%5.1fs: the transaction ended; %d watchdog sessions dropped", time.Since(start).Seconds(), proxy.dropped.Load())
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Errorf("verify did not finish within 60 s of the transaction's end")
	}
	r := wait()
	logReport(t, r.rep)
	if r.rep == nil {
		t.Fatalf("verify: %v", r.err)
	}
	t.Logf("max_production_lock_ms %.1f with --max-lock %s", r.rep.MaxLockMS, maxLock)
	if r.rep.MaxLockMS > float64(maxLock.Milliseconds())+50 {
		t.Errorf("production's table was locked %.1f ms with --max-lock %s and the watchdog's session dropped; want ≤ %d ms", r.rep.MaxLockMS, maxLock, maxLock.Milliseconds()+50)
	}
	if r.err != nil || r.rep.Outcome != OutcomeEqual {
		t.Errorf("verify after the transaction ended: %v, outcome %s; want equal", r.err, r.rep.Outcome)
	}
	replicationRunning(t, p)
}

// A DECIMAL primary key wider than 35 integer digits (DECIMAL(39,0)) is
// chunked by its exact values: the run finishes, equal on equal data, and
// finds a changed row by its key.
func TestIntegrationVerifyWideDecimalKey(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.ids (id DECIMAL(39,0) PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO shop.ids VALUES (-100000000000000000000000000000000000009, 0), (100000000000000000000000000000000000001, 1), (100000000000000000000000000000000000002, 2), (100000000000000000000000000000000000003, 3), (100000000000000000000000000000000000004, 4), (999999999999999999999999999999999999999, 5)",
	)
	runWithin := func(req Request) *Report {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		req.Production, req.Rollback, req.ChunkRows = p.prod, p.rb, 2
		rep, err := Run(ctx, req)
		logReport(t, rep)
		if err != nil {
			t.Fatalf("verify with a DECIMAL(39,0) key (20 s limit): %v", err)
		}
		return rep
	}
	rep := runWithin(Request{})
	if ids := tableResult(t, rep, "shop.ids"); rep.Outcome != OutcomeEqual || ids.Rows != 6 || ids.RollbackRows != 6 {
		t.Fatalf("equal data: %s, shop.ids %d/%d rows; want equal, 6 rows", rep.Outcome, ids.Rows, ids.RollbackRows)
	}
	onTarget(t, p, "UPDATE shop.ids SET v = 99 WHERE v = 3")
	rep = runWithin(Request{Rows: true, Restart: true})
	ids := tableResult(t, rep, "shop.ids")
	if got := differingRows(ids); rep.Outcome != OutcomeDiffering || ids.Rows != 6 || len(got) != 1 || got["100000000000000000000000000000000000003"] != RowChanged {
		t.Fatalf("one row changed: %s, %d rows, differing rows %v; want differing, 6 rows, key 100000000000000000000000000000000000003 changed", rep.Outcome, ids.Rows, got)
	}
	replicationRunning(t, p)
}

// MariaDB applies transactions of different GTID domains in parallel and
// out of production's order when it replicates by GTID: with one domain
// in production's binary log verify runs (equal); with a second one it
// refuses, naming the GTID domains.
func TestIntegrationVerifyRefusesSeveralGTIDDomains(t *testing.T) {
	p := newPair(t, hotSeed(1000)...)
	onTarget(t, p, "CHANGE MASTER TO MASTER_USE_GTID = slave_pos")
	rs, err := p.rb.ReplicaStatus(t.Context())
	if err != nil || strings.EqualFold(rs.UsingGTID, "No") || rs.UsingGTID == "" {
		t.Fatalf("test setup: Using_Gtid %q (%v)", rs.UsingGTID, err)
	}
	rep := run(t, p, Request{})
	if rep.Outcome != OutcomeEqual {
		logReport(t, rep)
		t.Fatalf("one GTID domain, replicating by GTID: %s; want equal", rep.Outcome)
	}
	load, err := sql.Open("mysql", p.prodS.RootDSN()+"&gtid_domain_id=7")
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()
	if _, err := load.Exec("UPDATE shop.hot SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	var pos string
	if err := p.prodS.DBT(t).QueryRow("SELECT @@global.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	rep, err = Run(t.Context(), Request{Production: p.prod, Rollback: p.rb})
	logReport(t, rep)
	if !errors.Is(err, ErrRefused) || rep == nil || rep.Outcome != OutcomeRefused || !strings.Contains(rep.Reason, "GTID domain") {
		t.Fatalf("production's binary log at %s (two domains), replicating by GTID: %v; want refused, naming the GTID domains", pos, err)
	}
}

// The rollback target's copy of a table is MyISAM where production's is
// InnoDB: a definition difference that names the engine, not a comparison.
func TestIntegrationVerifyTargetEngineDiffers(t *testing.T) {
	p := newPair(t, hotSeed(1000)...)
	onTarget(t, p, "ALTER TABLE shop.hot ENGINE=MyISAM")
	rep := run(t, p, Request{})
	logReport(t, rep)
	hot := tableResult(t, rep, "shop.hot")
	defs := strings.ToLower(strings.Join(hot.Definition, "; "))
	if rep.Outcome != OutcomeDiffering || hot.Status != StatusDefinition || !strings.Contains(defs, "engine") && !strings.Contains(defs, "myisam") {
		t.Fatalf("shop.hot MyISAM on the rollback target: %s, %s %v; want differing, %q naming the engine", rep.Outcome, hot.Status, hot.Definition, StatusDefinition)
	}
	replicationRunning(t, p)
}

// A replication filter on the rollback target (here one that skips
// verify's own marker table) is a refusal naming it: tables it skips
// cannot be compared, and verify's sync points cannot be proven.
func TestIntegrationVerifyRefusesReplicationFilters(t *testing.T) {
	p := newPair(t, hotSeed(100)...)
	run(t, p, Request{}) // switchback's tables exist on both
	onTarget(t, p, "SET GLOBAL replicate_wild_ignore_table = 'switchback.verify_marker'")
	rep, err := Run(t.Context(), Request{Production: p.prod, Rollback: p.rb})
	logReport(t, rep)
	if !errors.Is(err, ErrRefused) || rep == nil || rep.Outcome != OutcomeRefused || !strings.Contains(rep.Reason, "Replicate_") {
		t.Fatalf("a replication filter on the rollback target: %v; want refused, naming the filter (Replicate_…)", err)
	}
	// verify left replication alone (its IO thread may still be
	// connecting after onTarget's START SLAVE).
	sandbox.WaitFor(t, 10*time.Second, "replication running on the rollback target", func() (bool, error) {
		rs, err := p.rb.ReplicaStatus(t.Context())
		return err == nil && rs.IOThreadRunning && rs.SQLThreadRunning, err
	})
}

// A 5 MB text changed entirely on the rollback target is a real change:
// neither the chunk nor the row is labelled equal under the collation
// (which would read as "differs only in case, accents or trailing
// spaces").
func TestIntegrationVerifyLargeTextChangeIsNotACollationDifference(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.notes (id INT PRIMARY KEY, body MEDIUMTEXT COLLATE utf8mb4_general_ci NOT NULL) DEFAULT CHARSET=utf8mb4",
		"INSERT INTO shop.notes VALUES (1, REPEAT('a', 5000000)), (2, 'b')",
	)
	onTarget(t, p, "UPDATE shop.notes SET body = REPEAT('z', 5000000) WHERE id = 1")
	rep := run(t, p, Request{Rows: true})
	logReport(t, rep)
	notes := tableResult(t, rep, "shop.notes")
	if rep.Outcome != OutcomeDiffering || len(notes.Differences) != 1 {
		t.Fatalf("outcome %s, %d differing chunks; want differing, 1 chunk", rep.Outcome, len(notes.Differences))
	}
	d := notes.Differences[0]
	t.Logf("chunk equal_under_collation=%v rows=%+v", d.EqualUnderCollation, d.Rows)
	if d.EqualUnderCollation {
		t.Errorf("the chunk holding row 1 ('a'×5M on production, 'z'×5M on the rollback target) is labelled equal under the collation")
	}
	if got := differingRows(notes); len(got) != 1 || got["1"] != RowChanged {
		t.Errorf("differing rows %v; want row 1 %q", got, RowChanged)
	}
	replicationRunning(t, p)
}

// No session verify returns to either server's pool carries a setting
// verify changed: neither the production lock session's
// lock_wait_timeout = 1 nor any other (wait_timeout, time_zone,
// sql_mode) differs from the server's global value.
func TestIntegrationVerifyLeavesNoSessionSettingsInThePool(t *testing.T) {
	p := newPair(t, hotSeed(3000)...)
	// Pools of their own: the replication engine's configure ran on
	// newPair's, and only verify's sessions are in question here.
	p.prod, p.rb = connect(t, "production", p.prodS), connect(t, "rollback target", p.rbS)
	for range 2 {
		if rep := run(t, p, Request{ChunkRows: 100, Restart: true}); rep.Outcome != OutcomeEqual || rep.SyncPoints == 0 {
			t.Fatalf("outcome %s after %d sync points; want equal", rep.Outcome, rep.SyncPoints)
		}
	}
	for _, s := range []*replication.Server{p.prod, p.rb} {
		// The pool holds at most 4 sessions: taking 4 takes every one
		// verify left there.
		var conns []*sql.Conn
		for range 4 {
			c, err := s.DB().Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			var id int64
			var lwt, glwt, wt, gwt int64
			var tz, gtz, mode, gmode string
			if err := c.QueryRowContext(t.Context(), "SELECT CONNECTION_ID(), @@session.lock_wait_timeout, @@global.lock_wait_timeout, @@session.wait_timeout, @@global.wait_timeout, @@session.time_zone, @@global.time_zone, @@session.sql_mode, @@global.sql_mode").
				Scan(&id, &lwt, &glwt, &wt, &gwt, &tz, &gtz, &mode, &gmode); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s pool session %d: lock_wait_timeout %d, wait_timeout %d, time_zone %s, sql_mode %s", s.Role, id, lwt, wt, tz, mode)
			if lwt == 1 || lwt != glwt {
				t.Errorf("%s: pooled session %d has lock_wait_timeout %d (global %d)", s.Role, id, lwt, glwt)
			}
			if wt != gwt || tz != gtz || mode != gmode {
				t.Errorf("%s: pooled session %d has wait_timeout %d, time_zone %s, sql_mode %q; the server's are %d, %s, %q", s.Role, id, wt, tz, mode, gwt, gtz, gmode)
			}
		}
		for _, c := range conns {
			c.Close()
		}
	}
}
