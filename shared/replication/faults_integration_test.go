//go:build integration

package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/sandbox"
)

// Server faults on real servers (RELIABILITY.md, reliability/faults.md):
// a production that hangs (SIGSTOP) at a cutover step for longer than the
// catch-up timeout and then resumes, a fence statement in flight when it
// hangs, production restarted during configure and during a cutover, the
// rollback target restarted while it replicates, the replication
// connection cut, and a binlog purged before configure. This file is the
// fast subset (make test); faults_soak_test.go repeats every step × fault.

const (
	// faultCatchup is the CatchupTimeout of the cutovers under fault.
	faultCatchup = time.Second
	// faultHold is how long a hung production stays stopped: longer than
	// faultCatchup, shorter than the abort's patience.
	faultHold = 2500 * time.Millisecond
)

// faultPair is a configured pair whose production has the application's
// table and user; both servers are resumed before they are closed.
func faultPair(t *testing.T) (*pair, *Server, *Server, *sql.DB) {
	t.Helper()
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	resumeAtEnd(t, p.green, p.blue)
	prod, rb, app := appPair(t, p)
	return p, prod, rb, app
}

// resumeAtEnd resumes stopped servers before they are closed (a stopped
// mariadbd does not act on SIGTERM). Cleanups run last-in first-out, so
// this runs before the sandbox's Close.
func resumeAtEnd(t *testing.T, servers ...*sandbox.Server) {
	t.Cleanup(func() {
		for _, s := range servers {
			_ = s.Cont()
		}
	})
}

// holdStopped freezes s now and resumes it after d: the hang being
// injected. The channel is closed once s runs again.
func holdStopped(t *testing.T, s *sandbox.Server, d time.Duration) <-chan struct{} {
	if err := s.Stop(); err != nil {
		t.Errorf("stop %s: %v", s.Name, err)
	}
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(d) // the server stays hung this long
		if err := s.Cont(); err != nil {
			t.Errorf("resume %s: %v", s.Name, err)
		}
	}()
	return resumed
}

// rollbackWithin runs Rollback and fails the test when it has not returned
// within limit: a cutover must end whatever a server does.
func rollbackWithin(t *testing.T, limit time.Duration, req RollbackRequest) (RollbackReport, error) {
	t.Helper()
	type result struct {
		rep RollbackReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Rollback(t.Context(), req)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-time.After(limit):
		t.Fatalf("the cutover had not ended %s after it started", limit)
	}
	return RollbackReport{}, nil
}

// settledReadOnly waits until no SET GLOBAL read_only statement runs on
// the server of db (a fence sent to a hung server runs when it answers
// again), over five polls in a row, and returns its read_only.
func settledReadOnly(t *testing.T, db *sql.DB) bool {
	t.Helper()
	quiet := 0
	sandbox.WaitFor(t, 20*time.Second, "no fence statement in flight", func() (bool, error) {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SET GLOBAL read_only%'").Scan(&n)
		if err != nil || n > 0 {
			quiet = 0
			return false, err
		}
		quiet++
		return quiet >= 5, nil
	})
	return readOnly(t, db)
}

// settleFault checks a cutover that met a fault, once both servers answer
// again, and returns the final outcome. It must have completed
// (production fenced, the rollback target promoted) or aborted
// (production writable, the rollback target a fenced replica again). An
// abort after which production is read-only must have said so, and a
// re-run must then finish the job.
//
// With allowDiverged (production restarted after the promotion: it comes
// back writable, and the application's writes may land on it before the
// cutover fences it again) "diverged" is accepted too, with the range
// named, the old production fenced again and the rollback target promoted.
func settleFault(t *testing.T, p *pair, prod, rb *Server, rep RollbackReport, err error, allowDiverged bool) string {
	t.Helper()
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	switch {
	case rep.Outcome == OutcomeCompleted && err == nil:
	case rep.Outcome == OutcomeAborted && errors.Is(err, ErrAborted):
	case allowDiverged && rep.Outcome == OutcomeDiverged && errors.Is(err, ErrDiverged) && strings.Contains(rep.Reason, "moved from"):
	default:
		t.Fatalf("outcome %q (%v): %s; want completed or aborted", rep.Outcome, err, rep.Reason)
	}
	prodRO := settledReadOnly(t, greenDB)
	if rep.Outcome == OutcomeAborted && prodRO {
		if !strings.Contains(rep.Reason, "READ-ONLY") {
			t.Errorf("aborted, and production is read-only once it answers again, but the report did not say so: %q", rep.Reason)
		}
		again, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true,
			PrivilegedWriters: PrivilegedAllow, CatchupTimeout: 10 * time.Second})
		t.Logf("re-run after the abort left production read-only: %s (%v) %s", again.Outcome, err, again.Reason)
		if again.Outcome != OutcomeCompleted && again.Outcome != OutcomeAborted {
			t.Fatalf("re-run: outcome %q (%v): %s; want the job finished", again.Outcome, err, again.Reason)
		}
		rep = again
		prodRO = settledReadOnly(t, greenDB)
	}
	rbRO := readOnly(t, blueDB)
	rs, rerr := rb.ReplicaStatus(t.Context())
	if rerr != nil {
		t.Fatal(rerr)
	}
	switch rep.Outcome {
	case OutcomeCompleted, OutcomeDiverged:
		if !prodRO || rbRO || rs.Configured {
			t.Fatalf("%s, but production read-only %v, rollback target read-only %v, replication configured %v; want fenced, promoted, none", rep.Outcome, prodRO, rbRO, rs.Configured)
		}
	case OutcomeAborted:
		if prodRO || !rbRO || !rs.Configured {
			t.Fatalf("aborted, but production read-only %v, rollback target read-only %v, replication configured %v; want writable, fenced, configured (%s)", prodRO, rbRO, rs.Configured, rep.Reason)
		}
		sandbox.WaitFor(t, 15*time.Second, "replication to run again after the abort", func() (bool, error) {
			rs, err := rb.ReplicaStatus(t.Context())
			return err == nil && rs.IOThreadRunning && rs.SQLThreadRunning, err
		})
	}
	return rep.Outcome
}

// startLoad starts the application's writes to production and waits until
// some are acknowledged.
func startLoad(t *testing.T, app *sql.DB) *loadgen.Writer {
	t.Helper()
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, Rate: 200, FirstID: 1})
	sandbox.WaitFor(t, 10*time.Second, "the application's writes to be acknowledged", func() (bool, error) {
		return w.Counts().Acknowledged >= 20, nil
	})
	return w
}

// verifyLoad checks zero loss once a fault's outcome is final: every
// acknowledged write is on each of sides (through replication where it
// must get there), and no rejected write is. allowFailed accepts ambiguous
// writes (a restart breaks connections mid-write).
func verifyLoad(t *testing.T, res loadgen.Result, allowFailed bool, sides ...*sandbox.Server) {
	t.Helper()
	if len(res.Failed) > 0 && !allowFailed {
		t.Errorf("%d writes failed with a non-read-only error (ambiguous), first: %+v", len(res.Failed), res.Failed[0])
	}
	for _, s := range sides {
		sandbox.WaitFor(t, 15*time.Second, "every acknowledged write on "+s.Name, func() (bool, error) {
			v, err := loadgen.Verify(t.Context(), s.DBT(t), loadgen.DefaultTable, res)
			return err == nil && v.OK(), err
		})
	}
}

// holders are the servers that must hold every acknowledged write after a
// cutover's outcome: the new production after a completed one, both after
// an abort (production takes the writes, the rollback target replicates).
func holders(p *pair, outcome string) []*sandbox.Server {
	if outcome == OutcomeCompleted {
		return []*sandbox.Server{p.blue}
	}
	return []*sandbox.Server{p.green, p.blue}
}

// faultAt builds the request whose production meets fault at a cutover
// point: "before fence" (after the preconditions), "fence statement" (as
// the fence is asked for), or after a named step. fired reports whether
// (and, through its channel, when) the fault is over; nil before it happened.
func faultAt(t *testing.T, p *pair, prod, rb *Server, point string, fault func() <-chan struct{}) (RollbackRequest, func() <-chan struct{}) {
	var mu sync.Mutex
	var over <-chan struct{}
	inject := func() {
		mu.Lock()
		defer mu.Unlock()
		if over == nil {
			over = fault()
		}
	}
	req := RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow, CatchupTimeout: faultCatchup}
	switch point {
	case "before fence":
		req.beforeFence = inject
	case "fence statement":
		req.ProductionFence = hangingFencer{SQLFencer: SQLFencer{Server: prod}, onFence: inject}
	default:
		req.afterStep = func(name string) {
			if name == point {
				inject()
			}
		}
	}
	return req, func() <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		return over
	}
}

// hangingFencer calls onFence just before it fences (not when it unfences).
type hangingFencer struct {
	SQLFencer
	onFence func()
}

func (f hangingFencer) SetReadOnly(ctx context.Context, on bool) error {
	if on {
		f.onFence()
	}
	return f.SQLFencer.SetReadOnly(ctx, on)
}

// runFaultAt runs one cutover under load whose production meets a fault
// at point, and checks its outcome and zero loss once the fault is over.
// A restart breaks the application's connections mid-write (ambiguous
// writes allowed); a hang does not.
func runFaultAt(t *testing.T, point string, restart bool, fault func(p *pair) func() <-chan struct{}) string {
	p, prod, rb, app := faultPair(t)
	w := startLoad(t, app)
	var beforeFault loadgen.Result
	inject := fault(p)
	req, fired := faultAt(t, p, prod, rb, point, func() <-chan struct{} {
		beforeFault = w.Snapshot()
		return inject()
	})
	// What "completed" guarantees: every write acknowledged before
	// production's position was read for the last time, just after the
	// promotion (the reset step ends right before it).
	var checked *loadgen.Result
	req.OnStep = func(s Step) {
		if s.Name == stepReset && s.Outcome == StepDone {
			snap := w.Snapshot()
			checked = &snap
		}
	}
	rep, err := rollbackWithin(t, 3*time.Minute, req)
	if fired() == nil {
		w.Stop()
		t.Fatalf("the cutover never reached %q: %s (%v) %s", point, rep.Outcome, err, rep.Reason)
	}
	<-fired()
	t.Logf("fault at %q: %s, write outage %d ms: %s", point, rep.Outcome, rep.WriteUnavailableMS, rep.Reason)
	outcome := settleFault(t, p, prod, rb, rep, err, restart)
	if outcome != OutcomeAborted {
		sandbox.WaitFor(t, 10*time.Second, "the application's writes to be rejected by the fenced old production", func() (bool, error) {
			return w.Counts().Rejected >= 1, nil
		})
	}
	res := w.Stop()
	if outcome == OutcomeDiverged {
		// The writes past the reported range exist only on the old
		// production; everything acknowledged before the fault is on the new.
		verifyLoad(t, beforeFault, restart, p.blue)
		return outcome
	}
	if outcome == OutcomeCompleted && checked != nil {
		verifyLoad(t, *checked, restart, p.blue)
	}
	verifyLoad(t, res, restart, holders(p, outcome)...)
	return outcome
}

// hang stops production for hold: a fault for runFaultAt.
func hang(t *testing.T, hold time.Duration) func(p *pair) func() <-chan struct{} {
	return func(p *pair) func() <-chan struct{} {
		return func() <-chan struct{} { return holdStopped(t, p.green, hold) }
	}
}

// crashRestart kills production and starts it again (crash) or shuts it
// down cleanly and starts it again: a fault for runFaultAt.
func crashRestart(t *testing.T, crash bool) func(p *pair) func() <-chan struct{} {
	return func(p *pair) func() <-chan struct{} {
		return func() <-chan struct{} {
			restartServer(t, p.green, crash)
			done := make(chan struct{})
			close(done)
			return done
		}
	}
}

// Production hangs (SIGSTOP) for longer than the catch-up timeout at each
// cutover step, then resumes: the run ends, completed or aborted; after an
// abort production is writable once it answers again (or the report says
// it is not, and a re-run finishes the job); no acknowledged write is lost.
func TestIntegrationFaultProductionHungAtCutoverStep(t *testing.T) {
	for _, point := range []string{"before fence", "fence statement", stepFenceProd, stepCatchup, stepUnfenceRB} {
		t.Run(point, func(t *testing.T) { runFaultAt(t, point, false, hang(t, faultHold)) })
	}
}

// runFenceInFlight: a fence statement that production received but had
// not carried out when it hung (SET GLOBAL read_only = 1 waits for a table
// lock here) must never take effect later unnoticed. The cutover ends
// while production is still hung (within limit); when production answers
// again and the lock is gone, production is writable, or the report said
// it may not be and a re-run finishes the job. abortTimeout 0 keeps the
// engine's own patience. With resumeAfter > 0 production answers again that
// long after it hung, while the abort waits for it: the abort must end the
// pending fence statement, then unfence production, which stays writable.
func runFenceInFlight(t *testing.T, abortTimeout, limit, resumeAfter time.Duration) string {
	p, prod, rb, _ := faultPair(t)
	greenDB := p.green.DBT(t)
	locker, err := greenDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(t.Context(), "LOCK TABLES shop.orders WRITE"); err != nil {
		t.Fatal(err)
	}
	watcher, err := sql.Open("mysql", p.green.RootDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	stopped := make(chan struct{})
	stopWhenFenceWaits := func() {
		go func() {
			defer close(stopped)
			for deadline := time.Now().Add(10 * time.Second); ; {
				var n int
				err := watcher.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SET GLOBAL read_only = 1%'").Scan(&n)
				if err == nil && n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("the fence never waited for the table lock (%v)", err)
					return
				}
				time.Sleep(5 * time.Millisecond) // polling the process list
			}
			if err := p.green.Stop(); err != nil {
				t.Error(err)
			}
			if resumeAfter > 0 {
				time.Sleep(resumeAfter) // production stays hung this long
				if err := p.green.Cont(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	req := RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow,
		CatchupTimeout: faultCatchup, abortTimeout: abortTimeout, beforeFence: stopWhenFenceWaits}
	start := time.Now()
	rep, err := rollbackWithin(t, limit, req)
	<-stopped
	t.Logf("ended after %s (production resumed after %s): %s (%v) %s", time.Since(start).Round(time.Millisecond), resumeAfter, rep.Outcome, err, rep.Reason)
	switch {
	case resumeAfter == 0 && (rep.Outcome != OutcomeAborted || !strings.Contains(rep.Reason, "READ-ONLY")):
		t.Errorf("outcome %q, reason %q; want aborted, saying production may be read-only when it answers", rep.Outcome, rep.Reason)
	case resumeAfter > 0 && (rep.Outcome != OutcomeAborted || strings.Contains(rep.Reason, "READ-ONLY")):
		t.Errorf("outcome %q, reason %q; want aborted with production unfenced", rep.Outcome, rep.Reason)
	}
	if err := p.green.Cont(); err != nil {
		t.Fatal(err)
	}
	// The lock goes: a fence statement still pending would take effect now.
	if _, err := locker.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	if resumeAfter > 0 && settledReadOnly(t, greenDB) {
		t.Fatal("the fence statement sent while production was hung took effect after the abort unfenced production")
	}
	return settleFault(t, p, prod, rb, rep, err, false)
}

// A fence statement in flight when production hangs: production answers
// again only after the cutover ended, or while its abort waits.
func TestIntegrationFaultFenceInFlightWhenProductionHangs(t *testing.T) {
	defer func(w time.Duration) { killConfirmWait = w }(killConfirmWait)
	killConfirmWait = 500 * time.Millisecond
	t.Run("resumes after the run", func(t *testing.T) { runFenceInFlight(t, 2*time.Second, 20*time.Second, 0) })
	t.Run("resumes during the abort", func(t *testing.T) { runFenceInFlight(t, 10*time.Second, 20*time.Second, 3*time.Second) })
}

// Status must not hang on a hung server: it reports the server unreadable
// within its bound, and ready again once the server answers.
func TestIntegrationFaultStatusOnHungServer(t *testing.T) {
	p, prod, rb, _ := faultPair(t)
	for _, hung := range []*sandbox.Server{p.green, p.blue} {
		role := map[*sandbox.Server]string{p.green: "production", p.blue: "rollback target"}[hung]
		t.Run(role, func(t *testing.T) {
			if err := hung.Stop(); err != nil {
				t.Fatal(err)
			}
			type result struct {
				obs Observation
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 500 * time.Millisecond, readTimeout: time.Second})
				done <- result{obs, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(15 * time.Second):
				hung.Cont()
				t.Fatalf("status had not returned 15 s after it started, with the %s hung", role)
			}
			took := time.Since(start)
			if err := hung.Cont(); err != nil {
				t.Fatal(err)
			}
			if r.err == nil || !strings.Contains(r.err.Error(), role) {
				t.Fatalf("status with the %s hung: %v (%+v); want an error naming it", role, r.err, r.obs)
			}
			t.Logf("status with the %s hung returned in %s: %v", role, took.Round(time.Millisecond), r.err)
			sandbox.WaitFor(t, 15*time.Second, "status ready once it answers again", func() (bool, error) {
				obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: time.Second})
				return err == nil && obs.Ready, err
			})
		})
	}
}

// restartServer kills s (a crash) or shuts it down cleanly, and starts it
// again on the same data.
func restartServer(t *testing.T, s *sandbox.Server, crash bool) {
	t.Helper()
	var err error
	if crash {
		err = s.Kill()
	} else {
		err = s.Shutdown()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// readyWithin waits until status is ready and a write on production has
// reached the rollback target, and returns how long that took.
func readyWithin(t *testing.T, p *pair, prod, rb *Server, limit time.Duration, marker int) time.Duration {
	t.Helper()
	start := time.Now()
	p.green.ExecT(t, fmt.Sprintf("INSERT INTO shop.orders VALUES (%d, 'after the fault')", marker))
	sandbox.WaitFor(t, limit, "status ready with the write replicated", func() (bool, error) {
		obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 500 * time.Millisecond})
		if err != nil || !obs.Ready {
			return false, fmt.Errorf("%v; reasons %q", err, obs.Reasons)
		}
		var n int
		err = p.blue.DBT(t).QueryRow("SELECT COUNT(*) FROM shop.orders WHERE id = ?", marker).Scan(&n)
		return n == 1, err
	})
	return time.Since(start)
}

// runRestartDuringConfigure restarts production (crash or clean) once
// configure has finished step after: configure ends configured or failed
// naming production; run again, it configures, and replication is proven
// end to end. It returns how long the pair took to be ready after the
// re-run.
func runRestartDuringConfigure(t *testing.T, after string, crash bool) time.Duration {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	restarted := false
	req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second,
		OnStep: func(s Step) {
			if s.Name == after && !restarted {
				restarted = true
				restartServer(t, p.green, crash)
			}
		}}
	res, err := Configure(t.Context(), req)
	t.Logf("configure with production restarted after %q: %s (%v)", after, res.Outcome, err)
	if !restarted {
		t.Fatalf("configure never reached %q: %v %+v", after, err, res)
	}
	if err != nil && !strings.Contains(err.Error(), "production") {
		t.Errorf("configure failed without naming production: %v", err)
	}
	req.OnStep = nil
	res, err = Configure(t.Context(), req)
	if err != nil || (res.Outcome != OutcomeConfigured && res.Outcome != OutcomeUnchanged) {
		t.Fatalf("configure again: %v %+v", err, res)
	}
	took := readyWithin(t, p, prod, rb, 90*time.Second, 901)
	t.Logf("ready %s after the re-run", took.Round(time.Millisecond))
	return took
}

// Production crashed and restarted during configure.
func TestIntegrationFaultProductionRestartDuringConfigure(t *testing.T) {
	for _, after := range []string{"ensure heartbeat schema on production", "set source and start replication"} {
		t.Run(after, func(t *testing.T) { runRestartDuringConfigure(t, after, true) })
	}
}

// Production restarted (crashed, then started again) during a cutover,
// under load: the fence (SET GLOBAL) does not survive a restart, so a
// cutover that fenced production must notice it and abort, or complete
// only with every acknowledged write on the new production and the old
// production fenced again (diverged, with the range, when the
// application's writes reached the restarted old production first).
func TestIntegrationFaultProductionRestartDuringCutover(t *testing.T) {
	for _, point := range []string{stepFenceProd, stepStop, stepUnfenceRB} {
		t.Run(point, func(t *testing.T) { runFaultAt(t, point, true, crashRestart(t, true)) })
	}
}

// runRollbackTargetRestart restarts the rollback target (crash or clean)
// while it replicates under load: status shows the gap (the rollback target
// unreadable while it is down, not ready while it has not caught up) and
// the recovery (replication resumes from where it stopped, every write
// arrives, ready again). It returns how long recovery took after the
// restart.
func runRollbackTargetRestart(t *testing.T, crash bool) time.Duration {
	p, prod, rb, app := faultPair(t)
	w := startLoad(t, app)
	var err error
	if crash {
		err = p.blue.Kill()
	} else {
		err = p.blue.Shutdown()
	}
	if err != nil {
		t.Fatal(err)
	}
	before := w.Counts().Acknowledged
	sandbox.WaitFor(t, 10*time.Second, "production to take writes while the rollback target is down", func() (bool, error) {
		return w.Counts().Acknowledged >= before+50, nil
	})
	_, err = Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "rollback target") {
		t.Fatalf("status with the rollback target down: %v; want an error naming it", err)
	}
	if err := p.blue.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 500 * time.Millisecond})
	t.Logf("status right after the restart: ready %v, read-only %v, reasons %q (%v)", obs.Ready, obs.RollbackReadOnly, obs.Reasons, err)
	if err == nil && !obs.RollbackReadOnly && obs.Ready {
		t.Fatal("status ready with a writable rollback target")
	}
	if !readOnly(t, p.blue.DBT(t)) {
		// A restart loses a SET GLOBAL fence; configure, run again, restores it.
		if res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second}); err != nil {
			t.Fatalf("configure after the restart: %v %+v", err, res)
		}
	}
	took := readyWithin(t, p, prod, rb, 90*time.Second, 902)
	res := w.Stop()
	t.Logf("ready again %s after the restart", took.Round(time.Millisecond))
	verifyLoad(t, res, crash, p.green, p.blue)
	return took
}

// The rollback target restarted while it replicates: cleanly, and crashed.
func TestIntegrationFaultRollbackTargetRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "clean restart", true: "crash"}[crash]
		t.Run(name, func(t *testing.T) { runRollbackTargetRestart(t, crash) })
	}
}

// faultProxy forwards TCP connections to a server and can cut them: the
// replication connection goes through it.
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	refuse bool
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); fp.cut(false) })
	go fp.serve()
	return fp
}

func (fp *faultProxy) port() int { return fp.ln.Addr().(*net.TCPAddr).Port }

func (fp *faultProxy) serve() {
	for {
		c, err := fp.ln.Accept()
		if err != nil {
			return
		}
		fp.mu.Lock()
		refuse := fp.refuse
		fp.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", fp.target)
		if err != nil {
			c.Close()
			continue
		}
		fp.mu.Lock()
		fp.conns[c], fp.conns[s] = true, true
		fp.mu.Unlock()
		go func() { io.Copy(s, c); s.Close(); c.Close() }()
		go func() { io.Copy(c, s); s.Close(); c.Close() }()
	}
}

// cut closes every forwarded connection; while refuse holds, new ones are
// closed at once.
func (fp *faultProxy) cut(refuse bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.refuse = refuse
	for c := range fp.conns {
		c.Close()
		delete(fp.conns, c)
	}
}

// runConnectionCut cuts the replication connection (and refuses it) for
// cut: status sees the probe lag rise (the token does not arrive) and turns
// not ready, then ready again once the connection is back, with every
// write. It returns how long recovery took once the connection was back.
func runConnectionCut(t *testing.T, cut time.Duration) time.Duration {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	fp := startFaultProxy(t, p.green.Addr())
	if res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second,
		SourceHost: "127.0.0.1", SourcePort: fp.port()}); err != nil {
		t.Fatalf("configure through the proxy: %v %+v", err, res)
	}
	readyWithin(t, p, prod, rb, 10*time.Second, 903)
	fp.cut(true)
	start := time.Now()
	p.green.ExecT(t, "INSERT INTO shop.orders VALUES (904, 'while cut')")
	var obs Observation
	sandbox.WaitFor(t, 10*time.Second, "status not ready with the probe timing out", func() (bool, error) {
		var err error
		obs, err = Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, ProbeTimeout: 300 * time.Millisecond})
		return err == nil && !obs.Ready && obs.ProbeLagMS == nil && strings.Contains(strings.Join(obs.Reasons, "\n"), "probe"), err
	})
	t.Logf("cut: ready %v, IO %q, reasons %q", obs.Ready, obs.IOState, obs.Reasons)
	time.Sleep(cut - time.Since(start)) // the connection stays cut this long
	fp.cut(false)
	took := readyWithin(t, p, prod, rb, 90*time.Second, 905)
	t.Logf("ready again %s after the connection came back", took.Round(time.Millisecond))
	var n int
	if err := p.blue.DBT(t).QueryRow("SELECT COUNT(*) FROM shop.orders WHERE id = 904").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the write made while cut did not arrive: %d %v", n, err)
	}
	return took
}

// The replication connection is cut for two seconds.
func TestIntegrationFaultReplicationConnectionCut(t *testing.T) {
	runConnectionCut(t, 2*time.Second)
}

// Production purged the binlog holding the switchover's coordinates before
// configure ran: a clear refusal that names binlog retention, nothing
// changed on either server.
func TestIntegrationFaultBinlogPurgedBeforeConfigure(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	purgeThrough(t, p.green, p.coords.File)
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	before := connectionStateOf(t, p.blue)
	res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, WaitTimeout: 10 * time.Second})
	if !errors.Is(err, ErrRefused) || res.Outcome != OutcomeRefused {
		t.Fatalf("configure from purged coordinates: %v %+v; want refused", err, res)
	}
	for _, want := range []string{p.coords.File, "purged", "retention"} {
		if !strings.Contains(res.Reason, want) {
			t.Errorf("refusal %q does not name %q", res.Reason, want)
		}
	}
	if after := connectionStateOf(t, p.blue); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the refused configure changed the rollback target: %+v → %+v", before, after)
	}
}
