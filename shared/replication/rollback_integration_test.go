//go:build integration

package replication

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// configuredPair is a switched-over pair with reverse replication running.
func configuredPair(t *testing.T) (*pair, *Server, *Server) {
	t.Helper()
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	if res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second}); err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}
	return p, prod, rb
}

// serverState is what a dry run must leave untouched.
func serverState(t *testing.T, db *sql.DB) string {
	t.Helper()
	return masterPos(t, db) + " ro=" + map[bool]string{true: "1", false: "0"}[readOnly(t, db)]
}

func TestIntegrationRollbackDryRunChangesNothing(t *testing.T) {
	p, prod, rb := configuredPair(t)
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	before := serverState(t, greenDB) + " | " + serverState(t, blueDB)
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb})
	if err != nil || rep.Outcome != OutcomePlanned {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	if after := serverState(t, greenDB) + " | " + serverState(t, blueDB); after != before {
		t.Fatalf("dry run changed the servers: %s → %s", before, after)
	}
	names := []string{}
	for _, s := range rep.Steps {
		if s.Outcome != StepPlanned || s.Detail == "" {
			t.Errorf("step %+v; want planned with its gate and current values", s)
		}
		names = append(names, s.Name)
	}
	for _, want := range []string{stepPreconditions, stepFenceProd, stepSettle, stepCatchup, stepStop, stepUnfenceRB, stepReset} {
		if !strings.Contains(strings.Join(names, "|"), want) {
			t.Errorf("plan lacks step %q: %v", want, names)
		}
	}
}

func TestIntegrationRollbackRefusedWhenNotReplicating(t *testing.T) {
	p, prod, rb := configuredPair(t)
	p.blue.ExecT(t, "STOP SLAVE")
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	before := serverState(t, greenDB) + " | " + serverState(t, blueDB)
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
	if !errors.Is(err, ErrRefused) || rep.Outcome != OutcomeRefused || !strings.Contains(rep.Reason, "not running") {
		t.Fatalf("err %v report %+v; want refused: replication not running", err, rep)
	}
	if after := serverState(t, greenDB) + " | " + serverState(t, blueDB); after != before {
		t.Fatalf("refused rollback changed the servers: %s → %s", before, after)
	}
}

// A catch-up blocked on the rollback target (a held table lock) aborts
// within the timeout and leaves production writable.
func TestIntegrationRollbackAbortsOnBlockedCatchup(t *testing.T) {
	p, prod, rb := configuredPair(t)
	blueDB := p.blue.DBT(t)
	lock, err := blueDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// Blocked once the preconditions (which prove the rollback target
	// applies production's writes) have passed, just before the fence.
	block := func() {
		if _, err := lock.ExecContext(t.Context(), "LOCK TABLES shop.orders WRITE"); err != nil {
			t.Error(err)
		}
		p.green.ExecT(t, "INSERT INTO shop.orders VALUES (900, 'blocked')")
	}
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true, CatchupTimeout: 2 * time.Second, beforeFence: block})
	if !errors.Is(err, ErrAborted) || rep.Outcome != OutcomeAborted {
		t.Fatalf("err %v report %+v; want aborted", err, rep)
	}
	greenDB := p.green.DBT(t)
	if readOnly(t, greenDB) {
		t.Fatal("production left read-only after an aborted rollback")
	}
	if !readOnly(t, blueDB) {
		t.Error("rollback target made writable by an aborted rollback")
	}
	if rep.WriteUnavailableMS < 2000 || rep.WriteUnavailableMS > 5000 {
		t.Errorf("write_unavailable_ms = %d; want the catch-up timeout (2 s) plus a little", rep.WriteUnavailableMS)
	}
	// Once the lock goes, replication continues: the pair is as before.
	if _, err := lock.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	waitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 900", "blocked")
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil || !obs.Ready {
		t.Fatalf("after abort: %v %+v", err, obs)
	}
}

// A run killed after any step converges when the same command runs again.
func TestIntegrationRollbackConvergesAfterCrash(t *testing.T) {
	for _, crash := range []string{stepFenceProd, stepSettle, stepCatchup, stepStop, stepUnfenceRB, stepReset} {
		t.Run(crash, func(t *testing.T) {
			p, prod, rb := configuredPair(t)
			p.green.ExecT(t, "INSERT INTO shop.orders VALUES (500, 'before-crash')")
			_, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true, crashAfter: crash})
			if crash != stepReset && !errors.Is(err, errCrashed) {
				t.Fatalf("first run: %v; want the simulated crash", err)
			}
			rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
			if err != nil || rep.Outcome != OutcomeCompleted {
				t.Fatalf("re-run after crash: %v %+v", err, rep)
			}
			for _, s := range rep.Steps {
				if s.Name == stepFenceProd && s.Outcome == StepDone {
					t.Errorf("re-run fenced production again: %+v", s)
				}
			}
			assertCutoverDone(t, p)
			// And once more: nothing left to do.
			again, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
			if err != nil || again.Outcome != OutcomeCompleted {
				t.Fatalf("third run: %v %+v", err, again)
			}
			for _, s := range again.Steps {
				if s.Outcome == StepDone {
					t.Errorf("third run changed something: %+v", s)
				}
			}
		})
	}
}

// assertCutoverDone checks the end state of a cutover from green to blue.
func assertCutoverDone(t *testing.T, p *pair) {
	t.Helper()
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	if !readOnly(t, greenDB) || readOnly(t, blueDB) {
		t.Errorf("after cutover: production read-only=%v (want true), rollback target read-only=%v (want false)", readOnly(t, greenDB), readOnly(t, blueDB))
	}
	rows, err := blueDB.Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("rollback target still has a replication source after cutover")
	}
	rows.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	a, b := checksum(ctx, t, greenDB, "shop.orders"), checksum(ctx, t, blueDB, "shop.orders")
	if a != b {
		t.Errorf("CHECKSUM TABLE differs: production %s, rollback target %s", a, b)
	}
}

func checksum(ctx context.Context, t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var name string
	var sum sql.NullInt64
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return strings.Join([]string{name, sqlInt(sum), "rows", itoa(n)}, " ")
}

func sqlInt(v sql.NullInt64) string {
	if !v.Valid {
		return "NULL"
	}
	return itoa(int(v.Int64))
}

func itoa(n int) string { return strconv.Itoa(n) }
