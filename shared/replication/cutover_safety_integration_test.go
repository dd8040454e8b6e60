//go:build integration

package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/sandbox"
)

// appSeed creates the application's table and a user without SUPER or
// READ_ONLY ADMIN, whom read_only stops as it stops an application on
// Aurora.
var appSeed = []string{
	loadgen.DDL,
	"CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%'",
}

// appPair is a configured pair whose production has an application user.
func appPair(t *testing.T, p *pair) (prod, rb *Server, app *sql.DB) {
	t.Helper()
	prod = connectRoot(t, "production", p.green, DialectAuto)
	rb = connectRoot(t, "rollback target", p.blue, DialectAuto)
	if res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second}); err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}
	app, err := sql.Open("mysql", p.green.DSN("app", "app-pw", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return prod, rb, app
}

// refusedUntouched runs a rollback while the application writes to
// production and checks that it was refused for want, that production
// stayed writable (the application saw no read-only rejection) and that
// status is not ready for the same reason when statusWant is set.
func refusedUntouched(t *testing.T, p *pair, prod, rb *Server, app *sql.DB, req RollbackRequest, want, statusWant string) RollbackReport {
	t.Helper()
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, Rate: 200, FirstID: 1})
	sandbox.WaitFor(t, 10*time.Second, "the application's writes to be acknowledged", func() (bool, error) {
		return w.Counts().Acknowledged >= 20, nil
	})
	req.Production, req.Rollback, req.Execute = prod, rb, true
	rep, err := Rollback(t.Context(), req)
	before := w.Counts().Acknowledged
	sandbox.WaitFor(t, 10*time.Second, "the application to keep writing after the refusal", func() (bool, error) {
		return w.Counts().Acknowledged >= before+20, nil
	})
	res := w.Stop()
	if !errors.Is(err, ErrRefused) || rep.Outcome != OutcomeRefused || !strings.Contains(rep.Reason, want) {
		t.Fatalf("rollback: err %v, outcome %q, reason %q; want refused with %q", err, rep.Outcome, rep.Reason, want)
	}
	for _, s := range rep.Steps {
		if s.Name == stepFenceProd {
			t.Errorf("a refused rollback ran %q: %+v", s.Name, s)
		}
	}
	if c := res.Counts(); c.Rejected != 0 || c.Failed != 0 {
		t.Errorf("the application saw %d read-only rejections and %d failures during a refused rollback; want none", c.Rejected, c.Failed)
	}
	if readOnly(t, p.green.DBT(t)) {
		t.Error("production is read-only after a refused rollback")
	}
	if statusWant != "" {
		obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if obs.Ready || !strings.Contains(strings.Join(obs.Reasons, "\n"), statusWant) {
			t.Errorf("status: ready %v, reasons %q; want not ready with %q", obs.Ready, obs.Reasons, statusWant)
		}
	}
	return rep
}

// Every way a rollback target can hold less than production wrote, or hold
// production fenced for long, is refused by rollback and status alike,
// before anything is fenced.
func TestIntegrationCutoverRefusesUntrustworthyTarget(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, p *pair, third *sandbox.Server)
		want  string
		// allowPrivileged: the check comes after the one for writers
		// that bypass the fence (the test's own root sessions).
		allowPrivileged bool
		catchup         time.Duration
	}{
		{"replication filter", func(t *testing.T, p *pair, _ *sandbox.Server) {
			p.blue.ExecT(t, "STOP SLAVE", "SET GLOBAL replicate_ignore_db = 'audit'", "START SLAVE")
		}, "filters replicated events (Replicate_Ignore_DB=audit)", false, 0},
		{"idempotent apply", func(t *testing.T, p *pair, _ *sandbox.Server) {
			p.blue.ExecT(t, "SET GLOBAL slave_exec_mode = 'IDEMPOTENT'")
		}, "applies events in IDEMPOTENT mode", false, 0},
		{"delayed replication", func(t *testing.T, p *pair, _ *sandbox.Server) {
			p.blue.ExecT(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 60", "START SLAVE")
		}, "applies events 60 s late on purpose", false, 0},
		{"errant write on the target", func(t *testing.T, p *pair, _ *sandbox.Server) {
			// root writes through read_only on the rollback target.
			p.blue.ExecT(t, "DELETE FROM shop.orders WHERE id = 1")
		}, "has writes of its own that production does not have (newest GTID", false, 0},
		{"another replication connection", func(t *testing.T, p *pair, third *sandbox.Server) {
			addOtherConnection(t, p.blue, third, "third")
		}, "has another replication connection, connection 'other'", false, 0},
		{"SQL thread blocked", func(t *testing.T, p *pair, _ *sandbox.Server) {
			conn, err := p.blue.DBT(t).Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			if _, err := conn.ExecContext(t.Context(), "LOCK TABLES shop.orders WRITE"); err != nil {
				t.Fatal(err)
			}
			p.green.ExecT(t, "INSERT INTO shop.orders VALUES (900, 'blocked')")
		}, "did not even execute the position production had", true, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, third := newSwitchedOverTrio(t)
			p.green.ExecT(t, appSeed...)
			prod, rb, app := appPair(t, p)
			c.setup(t, p, third)
			req := RollbackRequest{CatchupTimeout: c.catchup}
			if c.allowPrivileged {
				req.PrivilegedWriters = PrivilegedAllow
			}
			statusWant := c.want
			if c.name == "SQL thread blocked" {
				statusWant = "probe" // status proves application with its heartbeat probe
			}
			refusedUntouched(t, p, prod, rb, app, req, c.want, statusWant)
		})
	}
}

// A pending skip is reported by status, and a replica that would skip
// cannot be cut over.
func TestIntegrationStatusReportsPendingSkip(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod, rb, _ := appPairNoSeed(t, p)
	p.blue.ExecT(t, "STOP SLAVE", "SET GLOBAL sql_slave_skip_counter = 1")
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, SkipProbe: true})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Ready || !strings.Contains(strings.Join(obs.Reasons, "\n"), "will skip the next 1 replicated event group") {
		t.Fatalf("status: ready %v, reasons %q; want the pending skip named", obs.Ready, obs.Reasons)
	}
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow})
	if !errors.Is(err, ErrRefused) || readOnly(t, p.green.DBT(t)) {
		t.Fatalf("rollback: %v %+v; want refused, production writable", err, rep)
	}
}

func appPairNoSeed(t *testing.T, p *pair) (prod, rb *Server, app *sql.DB) {
	t.Helper()
	p.green.ExecT(t, appSeed...)
	return appPair(t, p)
}

// A second cutover while one runs is refused and names the holder; so are
// configure and the status probe. Nothing is fenced.
func TestIntegrationCutoverLockHeldRefuses(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, app := appPair(t, p)
	holder, err := p.green.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var id int64
	var got int
	if err := holder.QueryRowContext(t.Context(), "SELECT CONNECTION_ID(), GET_LOCK('switchback.cutover', 0)").Scan(&id, &got); err != nil || got != 1 {
		t.Fatalf("take the lock: %d %v", got, err)
	}
	rep := refusedUntouched(t, p, prod, rb, app, RollbackRequest{PrivilegedWriters: PrivilegedAllow, LockWait: 100 * time.Millisecond},
		fmt.Sprintf("held by connection %d of root", id), "a switchback cutover or configure is running")
	if len(rep.Steps) != 1 {
		t.Errorf("steps %+v; want only the refused preconditions", rep.Steps)
	}
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, LockWait: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || res.Outcome != OutcomeRefused {
		t.Errorf("configure while locked: %v %+v; want refused (locked)", err, res)
	}
}

// Two cutovers started at the same moment: one completes, the other is
// refused (the lock) or finds the cutover complete; never both sides
// writable, never contradicting outcomes. The pair revolves (--reverse).
func TestIntegrationConcurrentCutovers(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	a, b, _ := appPair(t, p)
	dbs := map[*Server]*sql.DB{a: p.green.DBT(t), b: p.blue.DBT(t)}
	prod, rb := a, b
	for round := 1; round <= 4; round++ {
		start := make(chan struct{})
		type result struct {
			rep RollbackReport
			err error
		}
		results := make([]result, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true,
					PrivilegedWriters: PrivilegedAllow, Reverse: &ReverseOptions{}, LockWait: time.Millisecond})
				results[i] = result{rep, err}
			}()
		}
		close(start)
		wg.Wait()
		completed, lockedOut := 0, 0
		for _, r := range results {
			switch {
			case r.err == nil && r.rep.Outcome == OutcomeCompleted:
				completed++
			case errors.Is(r.err, ErrLocked) && r.rep.Outcome == OutcomeRefused && strings.Contains(r.rep.Reason, "held by connection"):
				lockedOut++
			default:
				t.Fatalf("round %d: outcome %q, err %v, reason %q; want completed, or refused because the other run holds the lock", round, r.rep.Outcome, r.err, r.rep.Reason)
			}
		}
		if completed < 1 || completed+lockedOut != 2 {
			t.Fatalf("round %d: %d completed, %d locked out", round, completed, lockedOut)
		}
		if !readOnly(t, dbs[prod]) || readOnly(t, dbs[rb]) {
			t.Fatalf("round %d: old production read-only %v, new production read-only %v; want exactly the new one writable", round, readOnly(t, dbs[prod]), readOnly(t, dbs[rb]))
		}
		prod, rb = rb, prod
		sandbox.WaitFor(t, 10*time.Second, "reverse replication to run", func() (bool, error) {
			rs, err := rb.ReplicaStatus(t.Context())
			return err == nil && rs.IOThreadRunning && rs.SQLThreadRunning, err
		})
	}
}

// An abort never unfences production unless the rollback target is proven
// fenced and still a replica: here something else promoted it (its
// replication reset) after the preconditions passed.
func TestIntegrationAbortKeepsProductionFencedWhenTargetPromoted(t *testing.T) {
	p, prod, rb := configuredPair(t)
	promote := func() {
		p.blue.ExecT(t, "STOP SLAVE", "RESET SLAVE ALL")
	}
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow,
		CatchupTimeout: time.Second, beforeFence: promote})
	if !errors.Is(err, ErrAborted) || !strings.Contains(rep.Reason, "PRODUCTION WAS LEFT READ-ONLY") {
		t.Fatalf("err %v reason %q; want aborted with production left fenced", err, rep.Reason)
	}
	if !readOnly(t, p.green.DBT(t)) {
		t.Fatal("abort unfenced production although the rollback target no longer replicates from it")
	}
	if stepOutcomes(rep.Steps)[stepAbortUnfence] != "" {
		t.Errorf("abort ran %q: %+v", stepAbortUnfence, rep.Steps)
	}
}

// Writers that bypass the fence: refused by default, naming the session
// and the event; with PrivilegedKill the scheduler is stopped before the
// fence and the sessions ended after it.
func TestIntegrationPrivilegedWritersRefusedThenKilled(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, app := appPair(t, p)
	p.green.ExecT(t,
		"CREATE TABLE shop.ticks (id INT AUTO_INCREMENT PRIMARY KEY)",
		"CREATE EVENT shop.tick ON SCHEDULE EVERY 1 HOUR DO INSERT INTO shop.ticks VALUES ()",
		"SET GLOBAL event_scheduler = ON")
	console, err := p.green.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	var id int64
	if err := console.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	rep := refusedUntouched(t, p, prod, rb, app, RollbackRequest{}, fmt.Sprintf("connection %d of root", id), "")
	if !strings.Contains(rep.Reason, "shop.tick (definer root@") || !strings.Contains(rep.Reason, "--kill-privileged-sessions") {
		t.Errorf("reason %q; want the event named and the options", rep.Reason)
	}
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil || !obs.Ready || !strings.Contains(strings.Join(obs.Warnings, "\n"), fmt.Sprintf("connection %d of root", id)) {
		t.Errorf("status: %v ready %v warnings %q; want ready with the session warned about", err, obs.Ready, obs.Warnings)
	}

	rep, err = Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedKill})
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("with PrivilegedKill: %v %+v", err, rep)
	}
	got := stepOutcomes(rep.Steps)
	if got[stepStopEvents] != StepDone || got[stepKillSessions] != StepDone {
		t.Errorf("steps %v; want the event scheduler stopped and the sessions ended", got)
	}
	var sched string
	if err := p.green.DBT(t).QueryRow("SELECT @@global.event_scheduler").Scan(&sched); err != nil || sched != "OFF" {
		t.Errorf("event_scheduler on the old production = %q (%v); want OFF", sched, err)
	}
	if err := console.PingContext(t.Context()); err == nil {
		t.Error("the privileged console session survived the cutover")
	}
}

// A privileged writer keeps writing through the fence, 10 writes/s as in
// the review: whatever the policy, the cutover never reports "completed"
// with one of its acknowledged writes missing from the new production. It
// aborts (production writable again), reports "diverged" with the range, or
// completes with everything there. Each round is a fresh pair: writes the
// writer makes on the old production after a cutover are that pair's
// divergence (a later rollback refuses them as errant).
func TestIntegrationPrivilegedWriterNeverSilentLoss(t *testing.T) {
	outcomes := map[string]int{}
	for round := 1; round <= 6; round++ {
		policy := PrivilegedAllow
		if round%2 == 0 {
			policy = PrivilegedKill
		}
		outcome := privilegedWriterRound(t, round, policy)
		outcomes[string(policy)+" "+outcome]++
	}
	t.Logf("outcomes: %v", outcomes)
}

func privilegedWriterRound(t *testing.T, round int, policy PrivilegedWriters) string {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, _ := appPair(t, p)
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	p.green.ExecT(t, "CREATE TABLE shop.privileged (id INT PRIMARY KEY)")
	waitRow(t, blueDB, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'privileged'", "1")
	ctx, stop := context.WithCancel(t.Context())
	type ack struct {
		id int
		at time.Time
	}
	acks := make(chan []ack, 1)
	go func() {
		var got []ack
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for id := 1; ctx.Err() == nil; id++ {
			if _, err := greenDB.ExecContext(ctx, "INSERT INTO shop.privileged VALUES (?)", id); err == nil {
				got = append(got, ack{id, time.Now()})
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		acks <- got
	}()
	sandbox.WaitFor(t, 5*time.Second, "the privileged writer to write", func() (bool, error) {
		var n int
		err := greenDB.QueryRow("SELECT COUNT(*) FROM shop.privileged").Scan(&n)
		return n >= 3, err
	})
	var checkedAt time.Time
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: policy,
		CatchupTimeout: 2 * time.Second,
		OnStep: func(s Step) {
			if s.Name == stepReset {
				checkedAt = time.Now() // production's position is read again after this
			}
		}})
	stop()
	got := <-acks
	switch rep.Outcome {
	case OutcomeCompleted:
		var missing []int
		for _, a := range got {
			if a.at.After(checkedAt) {
				continue // acknowledged by the old production after the cutover was checked
			}
			var n int
			if err := blueDB.QueryRow("SELECT COUNT(*) FROM shop.privileged WHERE id = ?", a.id).Scan(&n); err != nil || n != 1 {
				missing = append(missing, a.id)
			}
		}
		if len(missing) > 0 {
			t.Fatalf("round %d (%s): completed, but %d acknowledged writes are missing from the new production: %v", round, policy, len(missing), missing)
		}
	case OutcomeAborted:
		if !errors.Is(err, ErrAborted) || readOnly(t, greenDB) {
			t.Fatalf("round %d (%s): aborted (%v) but production read-only %v", round, policy, err, readOnly(t, greenDB))
		}
	case OutcomeDiverged:
		if !errors.Is(err, ErrDiverged) || !strings.Contains(rep.Reason, "moved from") {
			t.Fatalf("round %d (%s): diverged without the range: %v %q", round, policy, err, rep.Reason)
		}
	default:
		t.Fatalf("round %d (%s): outcome %q: %v %q", round, policy, rep.Outcome, err, rep.Reason)
	}
	t.Logf("round %d (%s): %s %s", round, policy, rep.Outcome, rep.Reason)
	return rep.Outcome
}

// A privileged write that lands after production's position settled, or
// after replication stopped, never ends in "completed": the cutover aborts
// and production is writable again, the write on both sides.
func TestIntegrationPrivilegedWriteAfterFreezeAborts(t *testing.T) {
	for _, after := range []string{stepSettle, stepStop} {
		t.Run(after, func(t *testing.T) {
			p, prod, rb := configuredPair(t)
			greenDB := p.green.DBT(t)
			write := func(name string) {
				if name == after {
					if _, err := greenDB.Exec("INSERT INTO shop.orders VALUES (777, 'through the fence')"); err != nil {
						t.Error(err)
					}
				}
			}
			rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true,
				PrivilegedWriters: PrivilegedAllow, CatchupTimeout: 2 * time.Second, afterStep: write})
			if !errors.Is(err, ErrAborted) || rep.Outcome != OutcomeAborted {
				t.Fatalf("err %v, outcome %q, reason %q; want aborted", err, rep.Outcome, rep.Reason)
			}
			if readOnly(t, greenDB) || !readOnly(t, p.blue.DBT(t)) {
				t.Fatal("after the abort production must be writable and the rollback target fenced")
			}
			waitRow(t, p.blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 777", "through the fence")
		})
	}
}

// A cutover resumed after a kill reports the write outage from the fence's
// real start, recorded with the marker, not from the resume.
func TestIntegrationResumedCutoverReportsWholeOutage(t *testing.T) {
	p, prod, rb := configuredPair(t)
	_, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow, crashAfter: stepFenceProd})
	if !errors.Is(err, errCrashed) || !readOnly(t, p.green.DBT(t)) {
		t.Fatalf("crash after the fence: %v", err)
	}
	const outage = 400 * time.Millisecond
	time.Sleep(outage) // the outage being measured: production stays fenced this long
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow})
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("resume: %v %+v", err, rep)
	}
	if rep.WriteUnavailableMS < outage.Milliseconds() {
		t.Errorf("resumed run reports %d ms of write outage; production was fenced for more than %d ms", rep.WriteUnavailableMS, outage.Milliseconds())
	}
	again, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow})
	if err != nil || again.WriteUnavailableMS < outage.Milliseconds() || again.WriteUnavailableMS > rep.WriteUnavailableMS+50 {
		t.Errorf("re-run after completion reports %d ms (%v); want the recorded %d ms", again.WriteUnavailableMS, err, rep.WriteUnavailableMS)
	}
}

// A late or duplicated coordinates event after a completed cutover does not
// turn the promoted server back into a fenced replica.
func TestIntegrationConfigureRefusesPromotedTarget(t *testing.T) {
	p, prod, rb := configuredPair(t)
	if rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow}); err != nil {
		t.Fatalf("rollback: %v %+v", err, rep)
	}
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 5 * time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(res.Reason, "became production in a switchback cutover") {
		t.Fatalf("configure after the cutover: %v %q; want refused", err, res.Reason)
	}
	if readOnly(t, p.blue.DBT(t)) {
		t.Fatal("the promoted server was fenced by a refused configure")
	}
}

// A write that slips into production after the promotion is reported as
// "diverged", and so is every re-run: it never turns into "completed", and
// --reverse does not hide it.
func TestIntegrationDivergedStaysDiverged(t *testing.T) {
	p, prod, rb := configuredPair(t)
	slip := func(name string) {
		if name == stepReset {
			p.green.ExecT(t, "INSERT INTO shop.orders VALUES (777, 'after the promotion')")
		}
	}
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow, afterStep: slip})
	if !errors.Is(err, ErrDiverged) || rep.Outcome != OutcomeDiverged || !strings.Contains(rep.Reason, "moved from") {
		t.Fatalf("err %v outcome %q reason %q; want diverged with the range", err, rep.Outcome, rep.Reason)
	}
	for _, reverse := range []*ReverseOptions{nil, {}} {
		again, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow, Reverse: reverse})
		if !errors.Is(err, ErrDiverged) || again.Outcome != OutcomeDiverged {
			t.Fatalf("re-run (reverse %v): err %v outcome %q; want diverged again", reverse != nil, err, again.Outcome)
		}
	}
	if rs, err := prod.ReplicaStatus(t.Context()); err != nil || rs.Configured {
		t.Fatalf("--reverse configured the diverged old production (%v)", err)
	}
}

// Production that leaves a database out of its binary log: status is not
// ready and the rollback refused, nothing fenced.
func TestIntegrationProductionBinlogFilterRefused(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{ExtraArgs: []string{"--binlog-ignore-db=audit"}}, appSeed...)
	prod, rb, app := appPair(t, p)
	refusedUntouched(t, p, prod, rb, app, RollbackRequest{}, "Binlog_Ignore_DB=audit", "Binlog_Ignore_DB=audit")
}

// A rollback target that drops events marked with @@skip_replication.
func TestIntegrationMarkedForSkipRefused(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, app := appPair(t, p)
	p.blue.ExecT(t, "STOP SLAVE", "SET GLOBAL replicate_events_marked_for_skip = 'FILTER_ON_SLAVE'", "START SLAVE")
	refusedUntouched(t, p, prod, rb, app, RollbackRequest{}, "replicate_events_marked_for_skip=FILTER_ON_SLAVE", "replicate_events_marked_for_skip")
}

// The lock's session is lost before the fence and another session takes
// the lock: the run refuses instead of fencing without it.
func TestIntegrationLockLostBeforeFenceRefuses(t *testing.T) {
	p, prod, rb := configuredPair(t)
	greenDB := p.green.DBT(t)
	thief, err := greenDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	steal := func() {
		var holder int64
		if err := greenDB.QueryRow("SELECT IS_USED_LOCK('switchback.cutover')").Scan(&holder); err != nil {
			t.Error(err)
			return
		}
		if _, err := greenDB.Exec(fmt.Sprintf("KILL CONNECTION %d", holder)); err != nil {
			t.Error(err)
		}
		sandbox.WaitFor(t, 5*time.Second, "the other session to take the lock", func() (bool, error) {
			var got sql.NullInt64
			err := thief.QueryRowContext(t.Context(), "SELECT GET_LOCK('switchback.cutover', 0)").Scan(&got)
			return got.Int64 == 1, err
		})
	}
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow, beforeFence: steal})
	if !errors.Is(err, ErrRefused) || !errors.Is(err, ErrLockLost) && !strings.Contains(rep.Reason, "lock was lost") {
		t.Fatalf("err %v reason %q; want refused: the lock was lost", err, rep.Reason)
	}
	if readOnly(t, greenDB) {
		t.Fatal("production fenced without the lock")
	}
}

// A user whose READ_ONLY ADMIN comes through a role (default or not) is a
// writer that bypasses the fence.
func TestIntegrationPrivilegedThroughRoleDetected(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, _ := appPair(t, p)
	p.green.ExecT(t,
		"CREATE ROLE ops_role", "GRANT READ_ONLY ADMIN ON *.* TO ops_role",
		"CREATE ROLE nested", "GRANT ops_role TO nested",
		"CREATE USER 'ops'@'%' IDENTIFIED BY 'ops-pw'", "GRANT nested TO 'ops'@'%'", "GRANT INSERT ON shop.* TO 'ops'@'%'")
	ops, err := sql.Open("mysql", p.green.DSN("ops", "ops-pw", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	conn, err := ops.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var id int64
	if err := conn.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	w, err := findBypassingWriters(t.Context(), prod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.describe(), fmt.Sprintf("connection %d of ops", id)) {
		t.Fatalf("bypassing writers %q; want the ops session (READ_ONLY ADMIN through a nested role)", w.describe())
	}
	_ = rb
}

// An aborted cutover turns the event scheduler it stopped back on.
func TestIntegrationAbortRestoresEventScheduler(t *testing.T) {
	p, prod, rb := configuredPair(t)
	p.green.ExecT(t,
		"CREATE EVENT shop.tick ON SCHEDULE EVERY 1 HOUR DO DELETE FROM shop.orders WHERE id < 0",
		"SET GLOBAL event_scheduler = ON")
	lock, err := p.blue.DBT(t).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	block := func() {
		if _, err := lock.ExecContext(t.Context(), "LOCK TABLES shop.orders WRITE"); err != nil {
			t.Error(err)
		}
		p.green.ExecT(t, "INSERT INTO shop.orders VALUES (900, 'blocked')")
	}
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedKill, CatchupTimeout: time.Second, beforeFence: block})
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("err %v %+v; want aborted", err, rep)
	}
	var sched string
	if err := p.green.DBT(t).QueryRow("SELECT @@global.event_scheduler").Scan(&sched); err != nil || sched != "ON" {
		t.Fatalf("event_scheduler after the abort = %q (%v); want ON again", sched, err)
	}
	if _, err := lock.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
}

// A rollback target without a binary log is refused before configure
// changes anything: writes made on it could not be found.
func TestIntegrationConfigureRefusesTargetWithoutBinlog(t *testing.T) {
	prodSrv := sandbox.StartT(t, 1, sandbox.Options{})[0]
	rbSrv := sandbox.StartT(t, 1, sandbox.Options{ExtraArgs: []string{"--skip-log-bin"}})[0]
	prod := connectRoot(t, "production", prodSrv, DialectAuto)
	rb := connectRoot(t, "rollback target", rbSrv, DialectAuto)
	start, err := prod.BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := masterPos(t, prodSrv.DBT(t))
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: start, WaitTimeout: 5 * time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(res.Reason, "must write a binary log") {
		t.Fatalf("err %v reason %q; want refused: no binary log", err, res.Reason)
	}
	if after := masterPos(t, prodSrv.DBT(t)); after != before {
		t.Fatalf("production's binlog moved %s → %s: a refused configure changed it", before, after)
	}
}

// Without GTIDs the rollback target's own writes are found by reading its
// binary log from the recorded baseline, which advances past what was
// proven clean. Exercised on MariaDB through the same functions the MySQL
// and Aurora paths use.
func TestIntegrationOwnEventsScanAndBaselineAdvance(t *testing.T) {
	p, prod, rb := configuredPair(t)
	base, err := readBaseline(t.Context(), prod, rb)
	if err != nil || base == nil {
		t.Fatalf("baseline: %v %v", base, err)
	}
	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (300, 'replicated')")
	waitRow(t, p.blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 300", "replicated")
	own := func(sid uint64) bool { return sid == base.ServerID }
	found, end, err := transactionEventsSince(t.Context(), rb, base.Binlog, own)
	if err != nil || found != "" || ComparePositions(end, base.Binlog) <= 0 {
		t.Fatalf("replicated writes only: found %q, end %s (from %s), %v; want nothing found and the end past the baseline", found, end, base.Binlog, err)
	}
	advanceBaseline(t.Context(), prod, rb, nil, end)
	sandbox.WaitFor(t, 10*time.Second, "the advanced baseline", func() (bool, error) {
		b, err := readBaseline(t.Context(), prod, rb)
		return err == nil && b != nil && b.Binlog == end, err
	})
	p.blue.ExecT(t, "UPDATE shop.orders SET item = 'changed on the target' WHERE id = 2") // root writes through read_only
	found, _, err = transactionEventsSince(t.Context(), rb, end, own)
	if err != nil || !strings.Contains(found, p.coords.File[:strings.LastIndex(p.coords.File, ".")]) {
		t.Fatalf("own write: found %q, %v; want its position", found, err)
	}
}
