//go:build integration

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/killpoint"
	"github.com/switchback/switchback/shared/killpoint/killtest"
	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// The harness of the kill-point tests (killpoints_integration_test.go, the
// fast subset in make test; killpoints_soak_test.go, make soak): one pair
// of real MariaDB servers that a real switchback process rolls back and
// forth (a cutover one way, then configure or --reverse the other way, a
// ping-pong), under an application write load as a user without SUPER,
// while a watcher polls both read_only flags the whole time. Each round
// kills the process (SWITCHBACK_KILL_AT) at one kill point, checks the
// state the kill left, runs the same command again without the variable
// and checks it converged: completed (or cleanly aborted), no step applied
// twice, never both sides writable, no acknowledged write lost, no write
// acknowledged by a fenced production.

const (
	kpAppUser     = "app"
	kpAppPassword = "app-Kill-pw-1"
	kpReplPass    = "kp-Repl-pw-1"
)

// kpHarness is the pair, the load and the watcher.
type kpHarness struct {
	t    *testing.T
	bin  string
	srv  [2]*sandbox.Server
	root [2]*sql.DB // root pools: setup and checks only, no idle sessions
	app  [2]*sql.DB // the application's pools (loadgen)

	prod      int          // index of production now; 1-prod is the rollback target
	appTarget atomic.Int32 // where the application writes (follows production once a cutover completes)
	load      *loadgen.Writer
	watch     *killtest.Watcher
	checked   int // writes of the timeline already checked against the fence

	// Figures over the harness's life.
	Kills, Reruns, Completed, Aborted, Refused int
	Points                                     map[string]int
}

// newKPHarness starts the pair (blue switched over to green), configures
// green → blue with the real CLI, and starts the load and the watcher.
func newKPHarness(t *testing.T, bin string, rate int) *kpHarness {
	t.Helper()
	s := sandbox.StartT(t, 2, sandbox.Options{})
	h := &kpHarness{t: t, bin: bin, srv: [2]*sandbox.Server{s[0], s[1]}, prod: 1, Points: map[string]int{}}
	coords, err := sandbox.SimulateSwitchover(t.Context(), s[0], s[1], func(db *sql.DB) error {
		for _, q := range []string{
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64))",
			"INSERT INTO shop.orders VALUES (1, 'seed')",
			loadgen.DDL,
			"CREATE USER '" + kpAppUser + "'@'%' IDENTIFIED BY '" + kpAppPassword + "'",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO '" + kpAppUser + "'@'%'",
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
	for i, srv := range h.srv {
		h.root[i] = srv.DBT(t)
		h.root[i].SetMaxIdleConns(0) // an idle root session on production is a privileged writer
		app, err := sql.Open("mysql", srv.DSN(kpAppUser, kpAppPassword, ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { app.Close() })
		h.app[i] = app
	}
	if r := h.cli("", "configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position, 10)); r.code != 0 {
		t.Fatalf("configure: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	h.appTarget.Store(int32(h.prod))
	h.watch = killtest.Watch(t, [2]string{s[0].DSN(kpAppUser, kpAppPassword, ""), s[1].DSN(kpAppUser, kpAppPassword, "")})
	h.load = loadgen.Start(context.WithoutCancel(t.Context()), func() *sql.DB { return h.app[h.appTarget.Load()] },
		loadgen.Options{Workers: 2, Rate: rate, Timeline: true})
	t.Cleanup(func() { h.load.Stop() })
	return h
}

// rb is the rollback target's index.
func (h *kpHarness) rb() int { return 1 - h.prod }

// cliRun is one switchback process.
type cliRun struct {
	code           int
	killed         bool // ended by SIGKILL
	stdout, stderr string
}

// cli runs the switchback binary against the pair (production and
// rollback target DSNs in the environment), with SWITCHBACK_KILL_AT=killAt
// when killAt is not empty.
func (h *kpHarness) cli(killAt string, args ...string) cliRun {
	h.t.Helper()
	return h.cliFor(h.prod, h.rb(), killAt, args...)
}

func (h *kpHarness) cliFor(prod, rb int, killAt string, args ...string) cliRun {
	h.t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, killpoint.Env+"=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"SWITCHBACK_PRODUCTION_DSN="+h.srv[prod].RootDSN(),
		"SWITCHBACK_ROLLBACK_DSN="+h.srv[rb].RootDSN(),
		envReplicationPassword+"="+kpReplPass)
	if killAt != "" {
		env = append(env, killpoint.Env+"="+killAt)
	}
	ctx, cancel := context.WithTimeout(h.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliRun{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed = true
		}
	case err != nil:
		h.t.Fatalf("switchback %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// readOnly reads both servers' read_only flags.
func (h *kpHarness) readOnly() (prodRO, rbRO bool) {
	h.t.Helper()
	return h.ro(h.prod), h.ro(h.rb())
}

func (h *kpHarness) ro(i int) bool {
	h.t.Helper()
	var v int
	if err := h.root[i].QueryRow("SELECT @@global.read_only").Scan(&v); err != nil {
		h.t.Fatalf("read_only of %s: %v", h.srv[i].Addr(), err)
	}
	return v == 1
}

// waitLoad waits until the application has had n more writes acknowledged.
func (h *kpHarness) waitLoad(n int) {
	h.t.Helper()
	start := h.load.Counts().Acknowledged
	deadline := time.Now().Add(20 * time.Second)
	for h.load.Counts().Acknowledged < start+n {
		if time.Now().After(deadline) {
			h.t.Fatalf("the application's writes do not progress: %+v", h.load.Counts())
		}
		time.Sleep(5 * time.Millisecond) // polling the load's progress, bounded by the deadline
	}
}

// stepLines returns the steps a text-output run printed (printStep), in
// order.
func stepLines(stdout string) []replication.Step {
	var steps []replication.Step
	for _, line := range strings.Split(stdout, "\n") {
		rest, ok := strings.CutPrefix(line, "  [")
		if !ok {
			continue
		}
		outcome, rest, ok := strings.Cut(rest, "]")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		for _, name := range kpStepNames {
			if strings.HasPrefix(rest, name) {
				// After the name: how long it took (not for a planned or
				// skipped step), two spaces, the detail.
				detail := strings.TrimSpace(strings.TrimPrefix(rest, name))
				switch replication.StepOutcome(outcome) {
				case replication.StepDone, replication.StepAlreadyDone, replication.StepFailed:
					_, detail, _ = strings.Cut(detail, "  ")
				}
				steps = append(steps, replication.Step{Name: name, Outcome: replication.StepOutcome(outcome), Detail: strings.TrimSpace(detail)})
				break
			}
		}
	}
	return steps
}

// kpStepNames are the step names of rollback and configure, longest first
// (so that a name that begins another is matched last).
var kpStepNames = func() []string {
	names := []string{
		"check preconditions", "stop event scheduler on production", "fence production",
		"end privileged sessions on production", "read production's final position",
		"wait for rollback target to catch up", "stop replication on rollback target", "unfence rollback target",
		"reset replication source on rollback target", "configure reverse replication",
		"abort: fence rollback target again", "abort: confirm rollback target is fenced and still a replica",
		"abort: unfence production", "abort: restart replication on rollback target", "restart event scheduler on production",
		"check rollback target", "fence rollback target read-only", "ensure replication user on production",
		"ensure binlog retention on production", "ensure heartbeat schema on production",
		"record rollback target's own transactions", "ensure parallel apply on rollback target",
		"set source and start replication", "wait for replication threads",
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	return names
}()

func countSteps(steps []replication.Step, name string, outcome replication.StepOutcome, detailPrefix string) int {
	n := 0
	for _, s := range steps {
		if s.Name == name && s.Outcome == outcome && strings.HasPrefix(s.Detail, detailPrefix) {
			n++
		}
	}
	return n
}

// kpRollback is one killed cutover: the kill point, and how it is run.
type kpRollback struct {
	point string // the kill point ("<point>[#n]"); "" runs without a kill
	// reverse adds --reverse (the roll-forward path set up by the
	// rollback itself); otherwise configure runs on its own after it.
	reverse bool
	// configurePoint kills the configure run that follows (without
	// reverse); "" runs it without a kill.
	configurePoint string
	// abort holds a table lock on the rollback target during the killed
	// run, so that its fenced catch-up times out and it aborts (with
	// --catchup-timeout 2s); privileged adds --kill-privileged-sessions
	// with an enabled event and an idle root session on production.
	abort, privileged bool
	// holdLock keeps abort's table lock through the re-run too, which
	// must then abort cleanly (production writable again, the target
	// fenced and replicating) or, held up before its fence, refuse with
	// nothing fenced; the lock is released and the command run once more,
	// which must complete.
	holdLock bool
	// chain first kills a run at rollback/stop-replication:after, then
	// writes on the fenced production as root (a writer that bypasses the
	// fence) while a table lock on the rollback target stops it from
	// applying: the killed run of the round (point) is the run that
	// resumes it, times out and aborts having stopped replication.
	chain bool
}

func (k kpRollback) String() string {
	s := k.point
	if s == "" {
		s = "no kill"
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{k.reverse, "reverse"}, {k.abort, "abort"}, {k.privileged, "privileged"}, {k.chain, "chain"}, {k.holdLock, "held through the re-run"}} {
		if f.on {
			s += " +" + f.name
		}
	}
	if k.configurePoint != "" {
		s += ", then configure killed at " + k.configurePoint
	}
	return s
}

// kpRoundResult is what one round did, for the summary lines.
type kpRoundResult struct {
	Kills int
	// CutoverKilled: a rollback run of the round was killed.
	CutoverKilled bool
	Outcome       string // the re-run's outcome
	Configure     string // the configure re-run's outcome, when one ran
	NotReached    []string
}

// rollback runs one round: the killed cutover, its re-run, and the
// configure (killed too, when asked) that readies the pair for the next
// round the other way.
func (h *kpHarness) rollback(k kpRollback) kpRoundResult {
	t := h.t
	t.Helper()
	var res kpRoundResult
	args := []string{"rollback", "--execute", "--catchup-timeout", "10s"}
	if k.abort || k.chain {
		args = []string{"rollback", "--execute", "--catchup-timeout", "2s"}
	}
	if k.privileged {
		args = append(args, "--kill-privileged-sessions")
	} else {
		args = append(args, "--allow-privileged-writers")
	}
	if k.reverse {
		args = append(args, "--reverse")
	}
	h.waitLoad(20)
	if k.privileged {
		h.privilegedWriters()
	}
	var unlock func()
	var earlier []replication.Step
	if k.chain {
		first := h.cli("rollback/stop-replication:after", append(args, "--output", "text")...)
		if !first.killed {
			t.Fatalf("chain: the run to kill at rollback/stop-replication:after ended with exit %d\n%s\n%s", first.code, first.stdout, first.stderr)
		}
		res.Kills++
		res.CutoverKilled = true
		h.Kills++
		h.Points["rollback/stop-replication:after"]++
		earlier = stepLines(first.stdout)
		unlock = h.lockTable(h.rb(), "shop.orders")
		if _, err := h.root[h.prod].Exec("INSERT INTO shop.orders VALUES (100000 + FLOOR(RAND() * 1000000000), 'through the fence')"); err != nil {
			t.Fatalf("chain: a root write through production's fence: %v", err)
		}
	} else if k.abort {
		unlock = h.lockTable(h.rb(), "switchback.cutover")
	}
	killed := cliRun{}
	if k.point != "" {
		killed = h.cli(k.point, append(args, "--output", "text")...)
	}
	if unlock != nil && !(k.abort && k.holdLock) {
		unlock()
		unlock = nil
	}
	if k.point != "" {
		name, n, _ := strings.Cut(k.point, "#")
		if n == "" {
			n = "1"
		}
		if !killed.killed {
			res.NotReached = append(res.NotReached, k.point)
		} else {
			if !strings.Contains(killed.stderr, "killed at "+name+"#"+n) {
				t.Fatalf("%s: killed, but stderr does not say where:\n%s", k, killed.stderr)
			}
			res.Kills++
			res.CutoverKilled = true
			h.Kills++
			h.Points[name]++
			wantProd, wantRB := killtest.ExpectAfterKill(k.point)
			if prodRO, rbRO := h.readOnly(); prodRO != wantProd || rbRO != wantRB {
				t.Fatalf("%s: after the kill production read_only=%v, rollback target read_only=%v; want %v and %v\n%s\n%s",
					k, prodRO, rbRO, wantProd, wantRB, killed.stdout, killed.stderr)
			}
		}
	}
	earlier = append(earlier, stepLines(killed.stdout)...)
	// The same command again, without the kill.
	rerun := h.cli("", append(args, "--output", "json")...)
	h.Reruns++
	var rep replication.RollbackReport
	if err := json.Unmarshal([]byte(rerun.stdout), &rep); err != nil {
		t.Fatalf("%s: re-run exit %d, report %v\n%s\n%s", k, rerun.code, err, rerun.stdout, rerun.stderr)
	}
	res.Outcome = rep.Outcome
	prodRO, rbRO := h.readOnly()
	switch {
	case rep.Outcome == replication.OutcomeCompleted && rerun.code == 0:
		if !prodRO || rbRO {
			t.Fatalf("%s: completed, but production read_only=%v and the rollback target read_only=%v", k, prodRO, rbRO)
		}
		h.Completed++
	case rep.Outcome == replication.OutcomeAborted && rerun.code == 1:
		if prodRO || !rbRO {
			t.Fatalf("%s: aborted, but production read_only=%v and the rollback target read_only=%v: not a clean abort\n%s", k, prodRO, rbRO, rerun.stdout)
		}
		h.Aborted++
	case rep.Outcome == replication.OutcomeRefused && rerun.code == 3 && unlock != nil:
		// Held up before its fence, the re-run refuses: nothing fenced.
		if prodRO || !rbRO {
			t.Fatalf("%s: refused, but production read_only=%v and the rollback target read_only=%v\n%s", k, prodRO, rbRO, rerun.stdout)
		}
		h.Refused++
	default:
		t.Fatalf("%s: re-run exit %d, outcome %q: %s\nkilled run:\n%s\n%s\nre-run:\n%s", k, rerun.code, rep.Outcome, rep.Reason, killed.stdout, killed.stderr, rerun.stderr)
	}
	h.checkNotReapplied(k, killed.killed, earlier, rep.Steps)
	if unlock != nil {
		// The re-run ran held up too: it must have aborted cleanly (checked
		// above); released, the same command once more completes.
		unlock()
		if rep.Outcome != replication.OutcomeAborted && rep.Outcome != replication.OutcomeRefused {
			t.Fatalf("%s: the re-run, held up as the killed run was, ended %s; want a clean abort or a refusal", k, rep.Outcome)
		}
		earlier = append(earlier, rep.Steps...)
		final := h.cli("", append(args, "--output", "json")...)
		h.Reruns++
		rep = replication.RollbackReport{}
		if err := json.Unmarshal([]byte(final.stdout), &rep); err != nil || final.code != 0 || rep.Outcome != replication.OutcomeCompleted {
			t.Fatalf("%s: the command run once more after the clean abort: exit %d, %v, %+v\n%s", k, final.code, err, rep, final.stderr)
		}
		res.Outcome = res.Outcome + ", then " + rep.Outcome
		h.Completed++
		h.checkNotReapplied(k, false, earlier, rep.Steps)
	}
	if rep.Outcome != replication.OutcomeCompleted {
		h.checkWrites(k.String())
		return res
	}
	// Coordinates for the way back are taken before the application moves:
	// what the cutover recorded — a re-run that finished a promotion does
	// not report it, a further run of the same command (which must change
	// nothing) does — or, when a kill lost it (killed between the unfence
	// and its record), the new production's position while nothing but
	// switchback has written to it yet.
	start := rep.RollbackPosition
	if start == "" && !k.reverse {
		third := h.cli("", append(args, "--output", "json")...)
		var again replication.RollbackReport
		if err := json.Unmarshal([]byte(third.stdout), &again); err != nil || third.code != 0 || again.Outcome != replication.OutcomeCompleted {
			t.Fatalf("%s: the command run once more after completing: exit %d, %v, %+v\n%s", k, third.code, err, again, third.stderr)
		}
		for _, st := range again.Steps {
			if st.Outcome == replication.StepDone {
				t.Fatalf("%s: the command run once more after completing changed something: %+v", k, again.Steps)
			}
		}
		start = again.RollbackPosition
	}
	if start == "" && !k.reverse {
		var file string
		var pos uint64
		var doDB, ignoreDB sql.NullString
		if err := h.root[h.rb()].QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
			t.Fatal(err)
		}
		start = fmt.Sprintf("%s:%d", file, pos)
	}
	oldProd := h.prod
	h.prod = h.rb()
	h.appTarget.Store(int32(h.prod)) // the application is re-pointed
	h.checkWrites(k.String())
	if !k.reverse {
		res.Configure = h.configure(start, k.configurePoint, &res)
	}
	h.checkReplicates(oldProd)
	return res
}

// configure sets up the way back (new production → old production) from
// start with the CLI, killed at point first when point is not empty, and
// checks it converged: configured (or unchanged), replication running,
// exactly one replication user on each side, the source set once.
func (h *kpHarness) configure(start, point string, res *kpRoundResult) string {
	t := h.t
	t.Helper()
	file, pos, ok := strings.Cut(start, ":")
	if !ok {
		t.Fatalf("no coordinates for configure: %q", start)
	}
	args := []string{"configure", "--binlog-file", file, "--binlog-position", pos}
	var earlier []replication.Step
	if point != "" {
		killed := h.cli(point, append(args, "--output", "text")...)
		name, n, _ := strings.Cut(point, "#")
		if n == "" {
			n = "1"
		}
		switch {
		case !killed.killed:
			res.NotReached = append(res.NotReached, point)
		case !strings.Contains(killed.stderr, "killed at "+name+"#"+n):
			t.Fatalf("configure killed, but stderr does not say at %s:\n%s", point, killed.stderr)
		default:
			res.Kills++
			h.Kills++
			h.Points[name]++
			if prodRO, rbRO := h.readOnly(); prodRO || !rbRO {
				t.Fatalf("configure killed at %s: production read_only=%v, rollback target read_only=%v; want writable and fenced", point, prodRO, rbRO)
			}
		}
		earlier = stepLines(killed.stdout)
	}
	rerun := h.cli("", append(args, "--output", "json")...)
	var out replication.ConfigureResult
	if err := json.Unmarshal([]byte(rerun.stdout), &out); err != nil || rerun.code != 0 ||
		(out.Outcome != replication.OutcomeConfigured && out.Outcome != replication.OutcomeUnchanged) {
		t.Fatalf("configure re-run after %q: exit %d, %v, outcome %q: %s\n%s", point, rerun.code, err, out.Outcome, out.Reason, rerun.stderr)
	}
	all := append(earlier, out.Steps...)
	if n := countSteps(all, "set source and start replication", replication.StepDone, "replicating from"); n != 1 {
		t.Fatalf("configure killed at %q: the source was set %d times over the killed run and its re-run; want once\nkilled: %+v\nre-run: %+v", point, n, earlier, out.Steps)
	}
	for i := range h.srv {
		var users int
		if err := h.root[i].QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = ?", replication.DefaultReplicationUser).Scan(&users); err != nil || users != 1 {
			t.Fatalf("configure killed at %q: %d replication users on %s (%v); want exactly one", point, users, h.srv[i].Addr(), err)
		}
	}
	return out.Outcome
}

// checkNotReapplied fails when a step that changes the cutover's state ran
// (done) in the killed run and again in the re-run: the fence of
// production (unless the killed run unfenced it again in its abort), the
// target's unfence, the reset of its source, the reverse path's set-up.
func (h *kpHarness) checkNotReapplied(k kpRollback, killedAtPoint bool, killed, rerun []replication.Step) {
	h.t.Helper()
	undone := countSteps(killed, "abort: unfence production", replication.StepDone, "")
	for _, name := range []string{"fence production", "unfence rollback target", "reset replication source on rollback target", "configure reverse replication"} {
		before := countSteps(killed, name, replication.StepDone, "")
		if name == "fence production" {
			before -= undone
		}
		if before > 0 && countSteps(rerun, name, replication.StepDone, "") > 0 {
			h.t.Fatalf("%s: %q was done by the killed run and done again by the re-run\nkilled: %+v\nre-run: %+v", k, name, killed, rerun)
		}
	}
	name, _, _ := strings.Cut(k.point, "#")
	if killedAtPoint && name == "rollback/unfence-target:unfenced" && countSteps(rerun, "unfence rollback target", replication.StepDone, "") > 0 {
		h.t.Fatalf("%s: the target was unfenced when the run was killed, and the re-run unfenced it again: %+v", k, rerun)
	}
}

// checkWrites checks the writes answered since the last check: none was
// acknowledged by a server the watcher saw fenced from before it was sent
// to after it was answered, and every write acknowledged so far is on
// production now (none lost), and no write rejected as read-only is.
func (h *kpHarness) checkWrites(round string) {
	h.t.Helper()
	writes := h.load.WritesSince(h.checked)
	h.checked += len(writes)
	if err := h.watch.CheckWrites(writes, h.app); err != nil {
		h.t.Fatalf("%s: %v", round, err)
	}
	snap := h.load.Snapshot()
	v, err := loadgen.Verify(h.t.Context(), h.root[h.prod], loadgen.DefaultTable, snap)
	if err != nil && len(v.Missing) == 0 && len(v.Unexpected) == 0 {
		h.t.Fatalf("%s: verify: %v", round, err)
	}
	if len(v.Missing) > 0 || len(v.Unexpected) > 0 {
		h.t.Fatalf("%s: on production %s: %v", round, h.srv[h.prod].Addr(), err)
	}
}

// checkReplicates proves the way back works end to end: a write on
// production arrives on the old production.
func (h *kpHarness) checkReplicates(old int) {
	h.t.Helper()
	id := 2_000_000_000 + h.Reruns
	if _, err := h.root[h.prod].Exec("INSERT INTO shop.orders VALUES (?, 'way back')", id); err != nil {
		h.t.Fatal(err)
	}
	waitForRow(h.t, h.root[old], id, "way back")
}

// lockTable holds LOCK TABLES table READ on server i, so that its SQL
// thread cannot apply writes to it, until the returned function is called.
func (h *kpHarness) lockTable(i int, table string) func() {
	h.t.Helper()
	conn, err := h.root[i].Conn(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := conn.ExecContext(h.t.Context(), "LOCK TABLES "+table+" READ"); err != nil {
		h.t.Fatal(err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "UNLOCK TABLES")
		conn.Close()
	}
}

// privilegedWriters gives production what --kill-privileged-sessions acts
// on: the event scheduler on with an enabled event defined by root, and an
// idle root session (ended by the cutover, or closed with the test).
func (h *kpHarness) privilegedWriters() {
	h.t.Helper()
	h.srv[h.prod].ExecT(h.t,
		"SET GLOBAL event_scheduler = ON",
		"CREATE EVENT IF NOT EXISTS shop.kp_tick ON SCHEDULE EVERY 1 DAY DO DO 1",
		"ALTER EVENT shop.kp_tick ENABLE")
	db, err := h.srv[h.prod].Open()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	if err := db.PingContext(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
}

// finish stops the load and checks the whole run: zero acknowledged writes
// missing from the final production, no rejected write present, and
// reports how many ambiguous writes (failed, outcome unknown) landed.
func (h *kpHarness) finish() (loadgen.Result, loadgen.Verification) {
	h.t.Helper()
	res := h.load.Stop()
	h.checkWrites("the whole run")
	v, err := loadgen.Verify(h.t.Context(), h.root[h.prod], loadgen.DefaultTable, res)
	if err != nil {
		h.t.Fatalf("the whole run: %v", err)
	}
	return res, v
}
