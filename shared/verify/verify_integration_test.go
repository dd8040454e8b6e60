//go:build integration

package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// pair is production replicating into the rollback target, configured by
// the engine as after a switchover, on two real MariaDB servers.
type pair struct {
	prodS, rbS *sandbox.Server
	prod, rb   *replication.Server
}

// newPair starts two servers, seeds the blue one (the rollback target to
// be), switches over and configures replication back into it.
func newPair(t *testing.T, seed ...string) *pair {
	t.Helper()
	servers := sandbox.StartT(t, 2, sandbox.Options{})
	blue, green := servers[0], servers[1]
	sw, err := sandbox.SimulateSwitchover(t.Context(), blue, green, func(db *sql.DB) error {
		for _, q := range seed {
			if _, err := db.Exec(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{prodS: green, rbS: blue, prod: connect(t, "production", green), rb: connect(t, "rollback target", blue)}
	if res, err := replication.Configure(t.Context(), replication.ConfigureRequest{Production: p.prod, Rollback: p.rb,
		Start: replication.BinlogPosition{File: sw.File, Position: sw.Position}}); err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}
	return p
}

func connect(t *testing.T, role string, s *sandbox.Server) *replication.Server {
	t.Helper()
	srv, err := replication.Connect(t.Context(), role, s.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// onTarget runs statements on the rollback target with its replication
// stopped around them, as a DBA fixing (or breaking) a row by hand would.
func onTarget(t *testing.T, p *pair, stmts ...string) {
	t.Helper()
	db := p.rbS.DBT(t)
	all := append(append([]string{"STOP SLAVE", "SET GLOBAL read_only = 0"}, stmts...), "SET GLOBAL read_only = 1", "START SLAVE")
	for _, q := range all {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("on the rollback target: %s: %v", q, err)
		}
	}
}

func run(t *testing.T, p *pair, req Request) *Report {
	t.Helper()
	req.Production, req.Rollback = p.prod, p.rb
	rep, err := Run(t.Context(), req)
	if err != nil {
		t.Fatalf("verify: %v\n%+v", err, rep)
	}
	return rep
}

func tableResult(t *testing.T, rep *Report, name string) TableResult {
	t.Helper()
	for _, r := range rep.Tables {
		if r.Table == name {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", name, rep.Tables)
	return TableResult{}
}

func replicationRunning(t *testing.T, p *pair) {
	t.Helper()
	rs, err := p.rb.ReplicaStatus(t.Context())
	if err != nil || !rs.IOThreadRunning || !rs.SQLThreadRunning {
		t.Fatalf("replication on the rollback target is not running afterwards: %+v %v", rs, err)
	}
}

var shopSeed = []string{
	"CREATE DATABASE IF NOT EXISTS seq",
	"CREATE DATABASE shop",
	"CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(64) COLLATE utf8mb4_general_ci NOT NULL, note TEXT NULL) DEFAULT CHARSET=utf8mb4",
	"INSERT INTO shop.customers SELECT seq, CONCAT('customer-', seq), IF(seq % 3 = 0, NULL, 'n') FROM seq.seq_1_to_5000",
	"CREATE TABLE shop.lines (order_id INT NOT NULL, line SMALLINT NOT NULL, sku VARBINARY(16) NOT NULL, qty DECIMAL(10,2), PRIMARY KEY (order_id, line))",
	"INSERT INTO shop.lines SELECT seq DIV 4, seq MOD 4, UNHEX(MD5(seq)), seq / 7 FROM seq.seq_1_to_3000",
	"CREATE TABLE shop.audit (at DATETIME NOT NULL, what VARCHAR(32)) ENGINE=InnoDB",
	"INSERT INTO shop.audit VALUES (NOW(), 'seed')",
}

// Identical data under a concurrent write load is equal, every time; the
// table without a primary key is reported, never skipped.
func TestIntegrationVerifyEqualUnderLoad(t *testing.T) {
	p := newPair(t, append(shopSeed, loadgen.DDL)...)
	app := p.prodS.DBT(t)
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, Rate: 300})
	defer w.Stop()
	for i := range 3 {
		rep := run(t, p, Request{ChunkRows: 500, Restart: true})
		if rep.Outcome != OutcomeUnverified {
			t.Fatalf("run %d: outcome %s (%s); want %s (only shop.audit unverifiable)\n%+v", i, rep.Outcome, rep.Reason, OutcomeUnverified, rep.Tables)
		}
		for _, r := range rep.Tables {
			want := StatusEqual
			if r.Table == "shop.audit" {
				want = StatusUnverifiable
			}
			if r.Status != want {
				t.Errorf("run %d: %s is %s (%s); want %s", i, r.Table, r.Status, r.Reason, want)
			}
		}
		if got := tableResult(t, rep, "shop.audit").Reason; !strings.Contains(got, "no primary key") {
			t.Errorf("shop.audit reason %q does not say it has no primary key", got)
		}
		if c := tableResult(t, rep, "shop.customers"); c.Rows != 5000 || c.Chunks != 11 {
			t.Errorf("shop.customers: %d rows in %d chunks; want 5000 in 11", c.Rows, c.Chunks)
		}
		t.Logf("run %d: %d tables, %d chunks, %d rows, %d sync points, production lock ≤ %.1f ms, replication paused ≤ %.1f ms",
			i, len(rep.Tables), rep.Chunks, rep.Rows, rep.SyncPoints, rep.MaxLockMS, rep.MaxPauseMS)
	}
	replicationRunning(t, p)
}

// A row changed, deleted, added and one differing only in case on the
// rollback target, while the application writes another table: each
// found, with its key, and the written table equal.
func TestIntegrationVerifyFindsEachDifference(t *testing.T) {
	p := newPair(t, append(append(shopSeed, "CREATE TABLE shop.defs (id INT PRIMARY KEY, name VARCHAR(64) COLLATE utf8mb4_general_ci) DEFAULT CHARSET=utf8mb4",
		"INSERT INTO shop.defs VALUES (1, 'a')"), hotSeed(5000)...)...)
	// The application keeps writing shop.hot throughout.
	stop := churn(t, p.prodS.DBT(t), 5000)
	defer stop()
	onTarget(t, p,
		"ALTER TABLE shop.defs MODIFY name VARCHAR(64) COLLATE utf8mb4_bin",
		"UPDATE shop.customers SET note = 'changed' WHERE id = 1234",
		"DELETE FROM shop.customers WHERE id = 2345",
		"INSERT INTO shop.customers VALUES (9999, 'extra', NULL)",
		"UPDATE shop.customers SET name = UPPER(name) WHERE id = 4000",
		"UPDATE shop.lines SET qty = qty + 1 WHERE order_id = 100 AND line = 2",
	)
	rep := run(t, p, Request{Rows: true, Tables: []string{"shop.customers", "shop.lines", "shop.hot"}})
	if hot := tableResult(t, rep, "shop.hot"); hot.Status != StatusEqual {
		t.Errorf("shop.hot, written throughout: %s (%s); want equal", hot.Status, hot.Reason)
	}
	if rep.Outcome != OutcomeDiffering || rep.ExitCode() != 1 {
		t.Fatalf("outcome %s exit %d; want differing, 1: %s", rep.Outcome, rep.ExitCode(), rep.Reason)
	}
	got := map[string]string{}
	for _, r := range rep.Tables {
		for _, d := range r.Differences {
			for _, row := range d.Rows {
				got[r.Table+" "+strings.Join(row.Key, ",")] = row.Difference
			}
		}
	}
	want := map[string]string{
		"shop.customers 1234": RowChanged,
		"shop.customers 2345": RowMissing,
		"shop.customers 9999": RowExtra,
		"shop.customers 4000": RowChangedCollation,
		"shop.lines 100,2":    RowChanged,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q; want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("differences %v; want exactly %v", got, want)
	}
	rep = run(t, p, Request{Tables: []string{"shop.defs"}})
	defs := tableResult(t, rep, "shop.defs")
	if rep.Outcome != OutcomeDiffering || defs.Status != StatusDefinition ||
		!strings.Contains(strings.Join(defs.Definition, ";"), "column name has collation utf8mb4_general_ci on production, utf8mb4_bin on the rollback target") {
		t.Errorf("shop.defs with another collation on the target: %s, %+v", rep.Outcome, defs)
	}
	replicationRunning(t, p)
}

// churn writes to shop.hot on production until stopped: updates, deletes
// and inserts on random keys, paced, from two sessions.
func churn(t *testing.T, db *sql.DB, rows int) (stop func() int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int64, 2)
	for w := range 2 {
		go func() {
			var n int64
			tick := time.NewTicker(4 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					done <- n
					return
				case <-tick.C:
				}
				id := (i*7919 + w*104729) % rows
				var q string
				switch i % 4 {
				case 0, 1:
					q = fmt.Sprintf("UPDATE shop.hot SET v = v + 1, s = CONCAT('u', v) WHERE id = %d", id)
				case 2:
					q = fmt.Sprintf("DELETE FROM shop.hot WHERE id = %d", id)
				default:
					q = fmt.Sprintf("INSERT INTO shop.hot VALUES (%d, 0, 'again') ON DUPLICATE KEY UPDATE v = v - 1", id)
				}
				if _, err := db.ExecContext(ctx, q); err == nil {
					n++
				}
			}
		}()
	}
	return func() int64 {
		cancel()
		return <-done + <-done
	}
}

func hotSeed(rows int) []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS seq",
		"CREATE DATABASE IF NOT EXISTS shop",
		"CREATE TABLE shop.hot (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(32) COLLATE utf8mb4_general_ci) DEFAULT CHARSET=utf8mb4",
		fmt.Sprintf("INSERT INTO shop.hot SELECT seq, seq, CONCAT('row-', seq) FROM seq.seq_0_to_%d", rows-1),
	}
}

// Identical data under a write load that updates, deletes and inserts the
// very rows being compared: equal in every one of 20 runs — no false
// positive — with production locked for milliseconds per sync point.
func TestIntegrationVerifyNoFalsePositiveUnderChurn(t *testing.T) {
	p := newPair(t, hotSeed(20_000)...)
	stop := churn(t, p.prodS.DBT(t), 20_000)
	var maxLock float64
	for i := range 20 {
		rep := run(t, p, Request{ChunkRows: 2000, Restart: true})
		if rep.Outcome != OutcomeEqual {
			stop()
			t.Fatalf("run %d under churn: %s (%s)\n%+v", i, rep.Outcome, rep.Reason, rep.Tables)
		}
		maxLock = max(maxLock, rep.MaxLockMS)
		if rep.MaxLockMS > float64(DefaultMaxLock.Milliseconds())+50 {
			t.Errorf("run %d locked a production table for %.1f ms; the bound is --max-lock %s plus the kill", i, rep.MaxLockMS, DefaultMaxLock)
		}
	}
	n := stop()
	t.Logf("20 runs equal while %d writes changed the compared rows; longest production lock %.1f ms", n, maxLock)
	if n < 200 {
		t.Errorf("only %d writes ran during the runs; the test needs a real load", n)
	}
	replicationRunning(t, p)
}

// One row changed by hand on the rollback target among 100,000, under a
// write load: found, with its key, and nothing else.
func TestIntegrationVerifyFindsOneRowIn100k(t *testing.T) {
	p := newPair(t, hotSeed(100_000)...)
	stop := churn(t, p.prodS.DBT(t), 50_000) // the load writes the lower half
	defer stop()
	onTarget(t, p, "UPDATE shop.hot SET s = 'tampered' WHERE id = 77777")
	rep := run(t, p, Request{Rows: true})
	if rep.Outcome != OutcomeDiffering {
		t.Fatalf("outcome %s (%s); want differing", rep.Outcome, rep.Reason)
	}
	hot := tableResult(t, rep, "shop.hot")
	if hot.Chunks != 100 || len(hot.Differences) != 1 {
		t.Fatalf("shop.hot: %d chunks, %d differing; want 100 chunks, 1 differing: %+v", hot.Chunks, len(hot.Differences), hot.Differences)
	}
	d := hot.Differences[0]
	if len(d.Rows) != 1 || d.Rows[0].Key[0] != "77777" || d.Rows[0].Difference != RowChanged {
		t.Fatalf("differing rows %+v; want key 77777 changed", d.Rows)
	}
	after, _ := strconv.Atoi(d.After[0])
	through, _ := strconv.Atoi(d.Through[0])
	if after >= 77777 || through < 77777 || d.EqualUnderCollation {
		t.Errorf("chunk after %v through %v does not hold 77777, or claims collation equality", d.After, d.Through)
	}
	replicationRunning(t, p)
}

// A stopped applier is a refusal naming it, and verify leaves replication
// as it found it (stopped); a table without a definition match is reported.
func TestIntegrationVerifyRefusesWithoutApplier(t *testing.T) {
	p := newPair(t, hotSeed(100)...)
	if _, err := p.rbS.DBT(t).Exec("STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(t.Context(), Request{Production: p.prod, Rollback: p.rb})
	if !errors.Is(err, ErrRefused) || rep.Outcome != OutcomeRefused || rep.ExitCode() != 3 || !strings.Contains(rep.Reason, "SQL thread) is not running") {
		t.Fatalf("verify with the applier stopped: %v %+v", err, rep)
	}
	rs, err := p.rb.ReplicaStatus(t.Context())
	if err != nil || rs.SQLThreadRunning || !rs.IOThreadRunning {
		t.Fatalf("verify changed replication: %+v %v", rs, err)
	}
}

// A transaction holding the table on production: the lock is given up
// after --max-lock each time, the table is reported not verified, and the
// application's writes were never held longer than the bound.
func TestIntegrationVerifyGivesUpTheLockOnALongTransaction(t *testing.T) {
	p := newPair(t, hotSeed(1000)...)
	tx, err := p.prodS.DBT(t).BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("UPDATE shop.hot SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	// Another writer of the same table, timed.
	var worst time.Duration
	var written int
	writes := make(chan error, 1)
	go func() {
		db := p.prodS.DBT(t)
		for i := 2; i < 400; i++ {
			start := time.Now()
			if _, err := db.Exec("UPDATE shop.hot SET v = v + 1 WHERE id = ?", i); err != nil {
				writes <- err
				return
			}
			worst = max(worst, time.Since(start))
			written++
			time.Sleep(5 * time.Millisecond) // pacing the writer, not waiting for a condition
		}
		writes <- nil
	}()
	rep, err := Run(t.Context(), Request{Production: p.prod, Rollback: p.rb, MaxLock: 30 * time.Millisecond})
	if werr := <-writes; werr != nil || written < 398 {
		t.Fatalf("the other writer stopped after %d writes: %v", written, werr)
	}
	if err != nil || rep.Outcome != OutcomeUnverified {
		t.Fatalf("outcome %s (%v); want unverified", rep.Outcome, err)
	}
	hot := tableResult(t, rep, "shop.hot")
	if hot.Status != StatusNotVerified || !strings.Contains(hot.Reason, "--max-lock") {
		t.Fatalf("shop.hot: %s (%s); want not verified, naming --max-lock", hot.Status, hot.Reason)
	}
	if rep.MaxLockMS > 30+50 {
		t.Errorf("production's table was locked %.1f ms with --max-lock 30ms", rep.MaxLockMS)
	}
	t.Logf("lock attempts gave up after ≤ %.1f ms; the other writer's slowest of %d writes took %s", rep.MaxLockMS, written, worst)
	replicationRunning(t, p)
}

// A rollback target more than --max-lag behind pauses the run, with
// progress saying so; the budget then stops it resumable, and once the
// target has caught up the same request continues it to the end.
func TestIntegrationVerifyPausesOnLagThenResumes(t *testing.T) {
	p := newPair(t, hotSeed(5000)...)
	rb := p.rbS.DBT(t)
	for _, q := range []string{"STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 4", "START SLAVE"} {
		if _, err := rb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	stop := churn(t, p.prodS.DBT(t), 5000)
	sandbox.WaitFor(t, 20*time.Second, "the rollback target to fall 2 s behind", func() (bool, error) {
		rs, err := p.rb.ReplicaStatus(t.Context())
		return err == nil && rs.SecondsBehind != nil && *rs.SecondsBehind >= 2, err
	})
	var paused []string
	req := Request{Production: p.prod, Rollback: p.rb, MaxLag: time.Second, ChunkRows: 500, Budget: 3 * time.Second,
		OnProgress: func(pr Progress) {
			if pr.Paused != "" {
				paused = append(paused, pr.Paused)
			}
		}}
	rep, err := Run(t.Context(), req)
	stop()
	if err != nil || rep.Outcome != OutcomeIncomplete || rep.ExitCode() != 3 {
		t.Fatalf("lagging target: %v, outcome %s (%s); want %s", err, rep.Outcome, rep.Reason, OutcomeIncomplete)
	}
	if len(paused) == 0 || !strings.Contains(paused[0], "behind (--max-lag 1s)") {
		t.Fatalf("no pause reported: %q\n%+v", paused, rep)
	}
	first := rep.RunID

	for _, q := range []string{"STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE"} {
		if _, err := rb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	req.Budget, req.OnProgress = 0, nil
	rep = run(t, p, req)
	if rep.Outcome != OutcomeEqual || !rep.Resumed || rep.RunID != first {
		t.Fatalf("after catching up: outcome %s, resumed %v, run %s (first %s); want equal, resumed, same run", rep.Outcome, rep.Resumed, rep.RunID, first)
	}
	latest, err := Latest(t.Context(), p.prod.DB(), "")
	if err != nil || latest == nil || latest.RunID != first || latest.Outcome != OutcomeEqual {
		t.Fatalf("Latest: %+v %v; want run %s equal", latest, err, first)
	}
	replicationRunning(t, p)
}

// While a cutover holds switchback's lock on production, verify writes
// nothing there: it stops, naming the cutover.
func TestIntegrationVerifyStopsForACutover(t *testing.T) {
	p := newPair(t, hotSeed(100)...)
	holder, err := p.prodS.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got int
	if err := holder.QueryRowContext(t.Context(), "SELECT GET_LOCK('switchback.cutover', 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the cutover lock: %d %v", got, err)
	}
	rep, err := Run(t.Context(), Request{Production: p.prod, Rollback: p.rb})
	if !errors.Is(err, ErrRefused) || rep.Outcome != OutcomeRefused || !strings.Contains(rep.Reason, "cutover or configure holds production's lock") {
		t.Fatalf("verify during a cutover: %v %+v", err, rep)
	}
	var n int
	if err := p.prodS.DBT(t).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'switchback' AND TABLE_NAME LIKE 'verify%'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("verify wrote on production during a cutover: %d verify tables (%v)", n, err)
	}
}

// A child table written by its parent's ON DELETE CASCADE while parents
// are deleted compares equal every time. (Its sync points lock the parent
// too; MariaDB 10.11 also locks the child for a cascade, so here this test
// would pass without that — it guards against false differences, the
// parent lock is for servers whose cascades take no lock on the child.)
func TestIntegrationVerifyCascadingChildUnderDeletes(t *testing.T) {
	p := newPair(t,
		"CREATE DATABASE IF NOT EXISTS seq",
		"CREATE DATABASE shop",
		"CREATE TABLE shop.parent (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE TABLE shop.child (id INT PRIMARY KEY, parent_id INT NOT NULL, FOREIGN KEY (parent_id) REFERENCES shop.parent (id) ON DELETE CASCADE) ENGINE=InnoDB",
		"INSERT INTO shop.parent SELECT seq FROM seq.seq_1_to_4000",
		"INSERT INTO shop.child SELECT seq, seq FROM seq.seq_1_to_4000",
	)
	db := p.prodS.DBT(t)
	ctx, cancel := context.WithCancel(t.Context())
	deleted := make(chan int)
	go func() {
		n := 0
		for id := 1; id <= 4000 && ctx.Err() == nil; id += 3 {
			if _, err := db.ExecContext(ctx, "DELETE FROM shop.parent WHERE id = ?", id); err == nil {
				n++
			}
		}
		deleted <- n
	}()
	for i := range 5 {
		rep := run(t, p, Request{ChunkRows: 500, Restart: true, Tables: []string{"shop.child"}})
		if rep.Outcome != OutcomeEqual {
			cancel()
			<-deleted
			t.Fatalf("run %d while parents are deleted: %s (%s)", i, rep.Outcome, rep.Reason)
		}
	}
	cancel()
	if n := <-deleted; n < 50 {
		t.Errorf("only %d parents were deleted during the runs", n)
	}
}
