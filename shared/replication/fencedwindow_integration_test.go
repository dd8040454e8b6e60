//go:build integration

package replication

import (
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/sandbox"
)

// The single read of production's position after the fence relies on
// "SET GLOBAL read_only = 1 returned ⇒ no writer without READ ONLY ADMIN
// commits any more" on MariaDB 10.11. It holds for an XA transaction the
// application prepared before the fence (its XA COMMIT is refused), for a
// session holding LOCK TABLES … WRITE (the fence waits for UNLOCK TABLES;
// writes after it are refused) and for commits queued for group commit
// (binlog_commit_wait_count/usec: the fence waits for them).
func TestIntegrationFenceFreezesNonPrivilegedWriters(t *testing.T) {
	s := sandbox.StartT(t, 1, sandbox.Options{})[0]
	db := s.DBT(t)
	must := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	must("CREATE DATABASE shop")
	must("CREATE TABLE shop.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64)) ENGINE=InnoDB")
	must("CREATE TABLE shop.m (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64)) ENGINE=MyISAM")
	must("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'")
	must("GRANT SELECT, INSERT, UPDATE, DELETE, LOCK TABLES ON shop.* TO 'app'@'%'")
	app, err := sql.Open("mysql", s.DSN("app", "app-pw", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	// XA prepared before the fence, committed after it.
	conn, err := app.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"XA START 'x1'", "INSERT INTO shop.t (v) VALUES ('xa')", "XA END 'x1'", "XA PREPARE 'x1'"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	must("SET GLOBAL read_only = 1")
	frozen := masterPos(t, db)
	if _, err := conn.ExecContext(t.Context(), "XA COMMIT 'x1'"); err == nil {
		t.Error("the application committed a prepared XA transaction through read_only")
	}
	if got := masterPos(t, db); got != frozen {
		t.Errorf("XA COMMIT after the fence moved the binlog from %s to %s", frozen, got)
	}
	must("SET GLOBAL read_only = 0")
	if _, err := conn.ExecContext(t.Context(), "XA ROLLBACK 'x1'"); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// LOCK TABLES … WRITE held across the fence, MyISAM and InnoDB.
	for _, tbl := range []string{"shop.m", "shop.t"} {
		conn, err := app.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "LOCK TABLES "+tbl+" WRITE"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := db.ExecContext(t.Context(), "SET GLOBAL read_only = 1"); done <- err }()
		select {
		case err := <-done:
			t.Errorf("%s: read_only = 1 returned (%v) while the application holds LOCK TABLES WRITE", tbl, err)
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := conn.ExecContext(t.Context(), "INSERT INTO "+tbl+" (v) VALUES ('before the fence returned')"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		frozen := masterPos(t, db)
		if _, err := conn.ExecContext(t.Context(), "INSERT INTO "+tbl+" (v) VALUES ('after')"); err == nil {
			t.Errorf("%s: the application wrote after the fence returned", tbl)
		}
		if got := masterPos(t, db); got != frozen {
			t.Errorf("%s: the binlog moved from %s to %s after the fence returned", tbl, frozen, got)
		}
		conn.Close()
		must("SET GLOBAL read_only = 0")
	}

	// Commits queued for group commit when the fence starts.
	must("SET GLOBAL binlog_commit_wait_count = 10")
	must("SET GLOBAL binlog_commit_wait_usec = 1500000")
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { _, err := app.Exec("INSERT INTO shop.t (v) VALUES ('group')"); errs <- err }()
	}
	time.Sleep(200 * time.Millisecond)
	must("SET GLOBAL read_only = 1")
	frozen = masterPos(t, db)
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Logf("queued commit: %v", err)
		}
	}
	if got := masterPos(t, db); got != frozen {
		t.Errorf("commits queued for group commit moved the binlog from %s to %s after the fence returned", frozen, got)
	}
	must("SET GLOBAL read_only = 0")
	must("SET GLOBAL binlog_commit_wait_count = 0")
}

// catchUp falls back to polling, silently and for good, when the position
// wait query errors: it must answer on the dialect's servers. 0 (caught
// up) at production's position, -1 (timeout) beyond it.
func TestIntegrationPositionWaitAnswers(t *testing.T) {
	p, _, rb := configuredPair(t)
	pos, err := connectRoot(t, "production", p.green, DialectAuto).BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 10*time.Second, "the rollback target to catch up", func() (bool, error) {
		rs, err := rb.ReplicaStatus(t.Context())
		return err == nil && ComparePositions(rs.ExecutedPosition(), pos) >= 0, err
	})
	for _, c := range []struct {
		pos  uint64
		want int64
	}{{pos.Position, 0}, {pos.Position + 100_000, -1}} {
		w := rb.Dialect.WaitForPosition(pos.File, c.pos, 500*time.Millisecond, rb.Info)
		var got sql.NullInt64
		if err := rb.db.QueryRowContext(t.Context(), w.SQL, w.Args...).Scan(&got); err != nil || !got.Valid || got.Int64 != c.want {
			t.Errorf("%s %v: %v %v; want %d", w.SQL, w.Args, got, err, c.want)
		}
	}
}

// A binlog rotation shortly before the fence — max_binlog_size reached by
// the last application write or by the cutover marker; FLUSH BINARY LOGS
// here — makes MariaDB append a Binlog_checkpoint event to the new file
// up to a second later (once InnoDB has flushed its log), with no client
// write. The position read once after the fence is then not final, and a
// catch-up that takes a moment (it may take up to --max-write-downtime)
// sees production "move": the cutover must not abort for an event that
// carries no transaction.
func TestIntegrationRotationBeforeFenceCompletes(t *testing.T) {
	p, prod, rb := configuredPair(t)
	greenDB := p.green.DBT(t)
	var settled string
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true,
		PrivilegedWriters: PrivilegedAllow, CatchupTimeout: 5 * time.Second,
		beforeFence: func() {
			if _, err := greenDB.Exec("FLUSH BINARY LOGS"); err != nil {
				t.Error(err)
			}
		},
		afterStep: func(name string) {
			if name != stepSettle {
				return
			}
			// The catch-up takes a second, as a rollback target applying a
			// backlog within --max-write-downtime does.
			settled = masterPos(t, greenDB)
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) && masterPos(t, greenDB) == settled {
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("production's position after the fence: %s, then %s with nothing written", settled, masterPos(t, greenDB))
		},
	})
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("a rotation before the fence: %v, outcome %q, reason %q; want completed", err, rep.Outcome, rep.Reason)
	}
}

// slowTrigger makes the rollback target take perRow to apply each row
// inserted into table: a trigger created without binary logging (so it is
// not a write of the target's own), which MariaDB runs for row events too
// with slave_run_triggers_for_rbr. A target that cannot follow a write
// load, or a transaction of a few bytes that takes long to apply (as an
// UPDATE of a table without a primary key does), on demand.
func slowTrigger(t *testing.T, target *sandbox.Server, table string, perRow time.Duration) {
	t.Helper()
	conn, err := target.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE TRIGGER " + table + "_slow BEFORE INSERT ON " + table + " FOR EACH ROW SET @slow_apply = SLEEP(" + strconv.FormatFloat(perRow.Seconds(), 'f', 3, 64) + ")",
		"STOP SLAVE SQL_THREAD",
		"SET GLOBAL slave_run_triggers_for_rbr = 'YES'",
		"START SLAVE SQL_THREAD",
	} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A rollback target that applied a burst and then stalls: it was held
// (a lock on the target), is released, drains its backlog in a burst past
// the gate's goal, and then sits in a transaction of a few bytes that
// takes seconds to apply. Bytes behind are tiny and the apply rate over
// the last second is the burst's, so the prediction is a few ms; but the
// target does not reach production's position within --max-write-downtime
// (closeIn), so production is not fenced until the stall is over.
func TestIntegrationBurstThenStallDoesNotFence(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, append(append([]string{}, appSeed...),
		"CREATE TABLE shop.slow (id INT PRIMARY KEY)")...)
	prod, rb, app := appPair(t, p)
	const stall = 5 * time.Second
	slowTrigger(t, p.blue, "shop.slow", stall)

	// Hold the target's SQL thread on the load table.
	holder, err := p.blue.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, Rate: 200, FirstID: 1})
	sandbox.WaitFor(t, 10*time.Second, "the application's writes to be acknowledged", func() (bool, error) {
		return w.Counts().Acknowledged >= 20, nil
	})
	if _, err := holder.ExecContext(t.Context(), "LOCK TABLES "+"shop.load_events READ"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var progress progressLines
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow,
		CatchupTimeout: 20 * time.Second, MaxWriteDowntime: time.Second,
		OnProgress: func(line string) {
			progress.add(line)
			if !strings.HasPrefix(line, "before fencing") {
				return
			}
			// The gate is waiting, its goal taken: an expensive transaction
			// of a few bytes commits on production, then the target is
			// released and drains its backlog at once.
			once.Do(func() {
				if _, err := app.Exec("INSERT INTO shop.slow VALUES (1)"); err != nil {
					t.Error(err)
				}
				if _, err := holder.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
					t.Error(err)
				}
			})
		}})
	res := w.Stop()
	for _, l := range progress.lines {
		t.Log(l)
	}
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("rollback: %v %q %q", err, rep.Outcome, rep.Reason)
	}
	if v, err := loadgen.Verify(t.Context(), p.blue.DBT(t), loadgen.DefaultTable, res); err != nil || !v.OK() {
		t.Fatalf("acknowledged writes missing on the new production: %v %v", v, err)
	}
	t.Logf("prediction at the fence: %v; write downtime %d ms", rep.Prediction, rep.WriteUnavailableMS)
	if rep.WriteUnavailableMS > 2500 {
		t.Errorf("production was fenced for %d ms with --max-write-downtime 1s (predicted %v): the gate fenced a rollback target that was stalled in a transaction", rep.WriteUnavailableMS, rep.Prediction)
	}
}

// Under a write load with frequent rotations (a small max_binlog_size
// stands in for a busy production's 1 GiB files), MariaDB appends a
// Binlog_checkpoint event to the active binlog about a second after each
// rotation (when InnoDB's log is flushed), with no transaction. One that
// lands during the fenced catch-up moves production's position with
// nothing written: the cutover goes on to the new position.
func TestIntegrationRotationsUnderLoadComplete(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{ExtraArgs: []string{"--max-binlog-size=32768"}}, appSeed...)
	servers := map[*sandbox.Server]*Server{
		p.green: connectRoot(t, "production", p.green, DialectAuto),
		p.blue:  connectRoot(t, "rollback target", p.blue, DialectAuto),
	}
	apps := map[*sandbox.Server]*sql.DB{}
	for s := range servers {
		db, err := sql.Open("mysql", s.DSN("app", "app-pw", ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		apps[s] = db
	}
	if res, err := Configure(t.Context(), ConfigureRequest{Production: servers[p.green], Rollback: servers[p.blue], Start: p.coords, WaitTimeout: 10 * time.Second}); err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}
	prod, rb := p.green, p.blue
	var aborted []string
	const rounds = 6
	nextID := int64(1)
	for i := 0; i < rounds; i++ {
		app := apps[prod]
		w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 4, Rate: 500, FirstID: nextID})
		sandbox.WaitFor(t, 10*time.Second, "the load", func() (bool, error) { return w.Counts().Acknowledged >= 1000, nil })
		rep, err := Rollback(t.Context(), RollbackRequest{Production: servers[prod], Rollback: servers[rb], Execute: true,
			PrivilegedWriters: PrivilegedAllow, Reverse: &ReverseOptions{}})
		res := w.Stop()
		nextID += int64(res.Attempted())
		switch {
		case err == nil && rep.Outcome == OutcomeCompleted:
			if v, err := loadgen.Verify(t.Context(), rb.DBT(t), loadgen.DefaultTable, res); err != nil || !v.OK() {
				t.Fatalf("round %d: acknowledged writes missing on the new production: %v %v", i, v, err)
			}
			prod, rb = rb, prod
		case rep.Outcome == OutcomeAborted:
			aborted = append(aborted, rep.Reason)
			sandbox.WaitFor(t, 10*time.Second, "replication to run again", func() (bool, error) {
				rs, err := servers[rb].ReplicaStatus(t.Context())
				return err == nil && rs.IOThreadRunning && rs.SQLThreadRunning, err
			})
		default:
			t.Fatalf("round %d: %v %q %q", i, err, rep.Outcome, rep.Reason)
		}
	}
	if len(aborted) > 0 {
		t.Errorf("%d of %d cutovers under a load with binlog rotations aborted, though the fence stopped every writer; first: %s", len(aborted), rounds, aborted[0])
	}
}
