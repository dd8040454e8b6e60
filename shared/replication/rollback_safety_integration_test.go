//go:build integration

package replication

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// A fence that cannot be taken (a table lock held on production) is bounded
// by the catch-up timeout and withdrawn: production is not fenced later,
// when the lock goes.
func TestIntegrationRollbackFenceBlockedIsWithdrawn(t *testing.T) {
	p, prod, rb := configuredPair(t)
	greenDB := p.green.DBT(t)
	lock, err := greenDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(t.Context(), "LOCK TABLES shop.orders WRITE"); err != nil {
		t.Fatal(err)
	}
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true, CatchupTimeout: time.Second})
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("err %v report %+v; want aborted", err, rep)
	}
	if _, err := lock.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	// Had the fence statement survived, it would take effect now.
	var ro int
	for range 10 {
		if err := greenDB.QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil || ro != 0 {
			t.Fatalf("production read_only=%d (%v) after the aborted fence; want 0", ro, err)
		}
		time.Sleep(20 * time.Millisecond) // observing that nothing changes over a short window
	}
	if rep.WriteUnavailableMS > 3000 {
		t.Errorf("write_unavailable_ms = %d; want about the 1 s timeout", rep.WriteUnavailableMS)
	}
}

// Production read-only for a reason that is not a switchback cutover is not
// "resumed": refused, and neither side is touched.
func TestIntegrationRollbackRefusesFenceItDidNotSet(t *testing.T) {
	p, prod, rb := configuredPair(t)
	p.green.ExecT(t, "SET GLOBAL read_only = 1")
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	before := serverState(t, greenDB) + " | " + serverState(t, blueDB)
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
	if !errors.Is(err, ErrRefused) || !strings.Contains(rep.Reason, "did not start a cutover") {
		t.Fatalf("err %v reason %q; want refused: no cutover marker", err, rep.Reason)
	}
	if after := serverState(t, greenDB) + " | " + serverState(t, blueDB); after != before {
		t.Fatalf("refused rollback changed the servers: %s → %s", before, after)
	}
}

// A "completed" state switchback cannot prove (here: the DSNs name a
// writable server without a replication source and a fenced one that never
// had a cutover) is refused, not reported as done.
func TestIntegrationRollbackRefusesUnprovenCompletion(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	// blue is fenced by the switchover; green is writable with no source.
	prod := connectRoot(t, "production", p.blue, DialectAuto)
	rb := connectRoot(t, "rollback target", p.green, DialectAuto)
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
	if !errors.Is(err, ErrRefused) || !strings.Contains(rep.Reason, "no record of a completed switchback cutover") {
		t.Fatalf("err %v reason %q; want refused: unproven completion", err, rep.Reason)
	}
}

// An Aurora v2 rollback target has no mysql.rds_set_read_only: the cutover
// is refused before production is fenced.
func TestIntegrationRollbackRefusesUnfenceableTarget(t *testing.T) {
	p, _, _ := configuredPair(t)
	admin, err := p.blue.InstallAuroraProcedures(t.Context(), sandbox.AuroraV2)
	if err != nil {
		t.Fatal(err)
	}
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectDSN(t, "rollback target", admin.DSN(""), AuroraMySQL2)
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
	if !errors.Is(err, ErrRefused) || !strings.Contains(rep.Reason, "rds_set_read_only") {
		t.Fatalf("err %v reason %q; want refused: cannot unfence", err, rep.Reason)
	}
	if readOnly(t, p.green.DBT(t)) {
		t.Error("production fenced by a refused rollback")
	}
}

// Status with production fenced: not ready, and the probe does not write
// through read_only (production's position stays frozen).
func TestIntegrationStatusWithProductionFenced(t *testing.T) {
	p, prod, rb := configuredPair(t)
	p.green.ExecT(t, "SET GLOBAL read_only = 1")
	greenDB := p.green.DBT(t)
	before := masterPos(t, greenDB)
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Ready || !strings.Contains(strings.Join(obs.Reasons, "\n"), "production is read-only") {
		t.Errorf("ready=%v reasons %v; want not ready: production fenced", obs.Ready, obs.Reasons)
	}
	if after := masterPos(t, greenDB); after != before {
		t.Errorf("status wrote to a fenced production: %s → %s", before, after)
	}
}

// Replication set up by hand, without switchback configure (no switchback
// schema on production, source given as "localhost"-style loopback): the
// cutover still completes.
func TestIntegrationRollbackOfHandMadeReplication(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	p.blue.ExecT(t,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d",
			p.green.Port, p.coords.File, p.coords.Position),
		"START SLAVE")
	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (42, 'by hand')")
	prod := connectDSN(t, "production", p.green.DSN("root", "", ""), DialectAuto)
	rb := connectDSN(t, "rollback target", strings.Replace(p.blue.RootDSN(), "127.0.0.1", "localhost", 1), DialectAuto)
	waitRow(t, p.blue.DBT(t), "SELECT item FROM shop.orders WHERE id = 42", "by hand")
	rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow, Production: prod, Rollback: rb, Execute: true})
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("rollback: %v %+v", err, rep)
	}
	assertCutoverDone(t, p)
}
