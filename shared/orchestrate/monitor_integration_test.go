//go:build integration

package orchestrate_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsclients"
	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/emf"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// configuredWorld is the awstest world after capture and configure, with a
// binlog retention of 24 h on production (MariaDB's default, never purge,
// would publish no headroom) and monitor settings short enough for tests.
func configuredWorld(t *testing.T) *awstest.World {
	t.Helper()
	w := awstest.New(t)
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	if outs := w.Drain(); len(outs) != 1 || outs[0].Outcome != "configured" {
		t.Fatalf("configure: %+v", outs)
	}
	w.AssertConfiguredOnce(w.Coords)
	w.Green.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 86400")
	w.Orch.Settings.MaxLag = time.Second
	w.Orch.Settings.MinHeadroom = time.Hour
	w.Orch.Settings.MonitorPairTimeout = 10 * time.Second
	return w
}

// monitorRun is one Monitor run and what it logged.
type monitorRun struct {
	rep  orchestrate.MonitorReport
	logs string
	// docs are the EMF documents logged, by deployment, each validated
	// against the EMF specification.
	docs map[string]emf.Document
}

func runMonitor(t *testing.T, o orchestrate.Orchestrator) monitorRun {
	t.Helper()
	var buf syncBuffer
	o.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	rep, err := o.Monitor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	run := monitorRun{rep: rep, logs: buf.String(), docs: map[string]emf.Document{}}
	for _, line := range strings.Split(strings.TrimSpace(run.logs), "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		doc, err := emf.Validate([]byte(line))
		if err != nil {
			t.Fatalf("EMF line does not validate: %v\n%s", err, line)
		}
		if !slices.Equal(doc.Namespaces, []string{"Switchback"}) || len(doc.Dimensions) != 1 {
			t.Fatalf("EMF line: namespaces %v, dimensions %v; want Switchback and Deployment only\n%s", doc.Namespaces, doc.Dimensions, line)
		}
		dep := doc.Dimensions["Deployment"]
		if _, dup := run.docs[dep]; dup {
			t.Fatalf("two EMF lines for %s in one run", dep)
		}
		run.docs[dep] = doc
	}
	for _, p := range rep.Pairs {
		if _, ok := run.docs[p.Deployment]; !ok {
			t.Fatalf("no EMF line for %s:\n%s", p.Deployment, run.logs)
		}
	}
	return run
}

// metric returns a metric's value, failing when it is not published.
func (r monitorRun) metric(t *testing.T, dep, name string) float64 {
	t.Helper()
	v, ok := r.docs[dep].Value(name)
	if !ok {
		t.Fatalf("%s: metric %s not published; line: %v", dep, name, r.docs[dep].Members)
	}
	return v
}

// absent fails when a metric is published.
func (r monitorRun) absent(t *testing.T, dep string, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, ok := r.docs[dep].Value(name); ok {
			t.Errorf("%s: metric %s published although unknown: %v", dep, name, r.docs[dep].Members)
		}
	}
}

func (r monitorRun) pair(t *testing.T, dep string) orchestrate.PairStatus {
	t.Helper()
	for _, p := range r.rep.Pairs {
		if p.Deployment == dep {
			return p
		}
	}
	t.Fatalf("pair %s not in the report %+v", dep, r.rep)
	return orchestrate.PairStatus{}
}

// units are the units each metric must be published with.
var units = map[string]string{
	"ReplicaLagSeconds": "Seconds", "ProbeLagSeconds": "Seconds", "ReplicationRunning": "None",
	"BytesBehind": "Bytes", "BinlogRetentionHeadroomHours": "None", "RollbackReady": "None",
}

func (r monitorRun) checkUnits(t *testing.T, dep string) {
	t.Helper()
	for name, unit := range r.docs[dep].Metrics {
		if units[name] != unit {
			t.Errorf("metric %s has unit %s; want %q", name, unit, units[name])
		}
	}
}

func notifications(w *awstest.World) []string {
	var out []string
	for _, m := range w.SNS.Published(awstest.TopicARN) {
		out = append(out, m.Subject+" | "+m.Message)
	}
	return out
}

// One pair through every state on-call must tell apart, each read back
// from the EMF line the monitor logged: healthy (ready), headroom below
// the threshold, lagging (the rollback replica's applier blocked while
// production writes), broken (a replication error) and unreachable (the
// rollback cluster's server stopped). Readiness changes are notified, once
// each way; the record keeps its phase and gets LastSeen.
func TestIntegrationMonitorStates(t *testing.T) {
	w := configuredWorld(t)
	dep := awstest.DeploymentID
	sent := len(notifications(w))

	// Healthy.
	run := runMonitor(t, w.Orch)
	if len(run.rep.Pairs) != 1 {
		t.Fatalf("%d pairs observed; want 1: %+v", len(run.rep.Pairs), run.rep)
	}
	p := run.pair(t, dep)
	if !p.Ready || run.metric(t, dep, "RollbackReady") != 1 || run.metric(t, dep, "ReplicationRunning") != 1 {
		t.Fatalf("healthy pair not ready: %+v\n%s", p, run.logs)
	}
	if lag := run.metric(t, dep, "ReplicaLagSeconds"); lag > 1 {
		t.Errorf("ReplicaLagSeconds %v on a healthy pair", lag)
	}
	if probe := run.metric(t, dep, "ProbeLagSeconds"); probe < 0 || probe > 1 {
		t.Errorf("ProbeLagSeconds %v on a healthy pair", probe)
	}
	if h := run.metric(t, dep, "BinlogRetentionHeadroomHours"); h < 23.5 || h > 24 {
		t.Errorf("BinlogRetentionHeadroomHours %v; want just under the 24 h retention", h)
	}
	_ = run.metric(t, dep, "BytesBehind")
	run.checkUnits(t, dep)
	rec, err := w.Store.Get(t.Context(), dep)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != orchestrate.PhaseConfigured || rec.LastSeen == nil || !rec.LastSeen.Ready || rec.LastSeen.HeadroomHours == nil || time.Since(rec.LastSeen.Time) > time.Minute {
		t.Fatalf("record after a healthy run: phase %s, last seen %+v", rec.Phase, rec.LastSeen)
	}
	if n := notifications(w); len(n) != sent {
		t.Fatalf("a healthy first observation notified: %v", n[sent:])
	}

	// Headroom below the threshold: not ready; back above it: ready again.
	o := w.Orch
	o.Settings.MinHeadroom = 30 * time.Hour
	run = runMonitor(t, o)
	if p := run.pair(t, dep); p.Ready || run.metric(t, dep, "RollbackReady") != 0 || !strings.Contains(strings.Join(p.Reasons, " "), "headroom") {
		t.Fatalf("headroom under 30 h: %+v", p)
	}
	if run.metric(t, dep, "ReplicationRunning") != 1 {
		t.Error("replication reported not running")
	}
	run = runMonitor(t, w.Orch)
	if p := run.pair(t, dep); !p.Ready || p.Notified != "ready" {
		t.Fatalf("headroom restored: %+v", p)
	}
	n := notifications(w)
	if len(n) != sent+2 || !strings.Contains(n[sent], "NOT ready") || !strings.Contains(n[sent], "headroom") || !strings.Contains(n[sent+1], "ready again") {
		t.Fatalf("notifications %q; want not ready (headroom), then ready again", n[sent:])
	}
	sent = len(n)

	// Lagging: a session on the rollback cluster holds the table the
	// replica must write; production writes on.
	blueDB := w.Blue.DBT(t)
	lock, err := blueDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(t.Context(), "LOCK TABLES shop.orders WRITE"); err != nil {
		t.Fatal(err)
	}
	w.Green.ExecT(t, "INSERT INTO shop.orders VALUES (300, 'while the replica is blocked')")
	waitLag(t, blueDB, 3)
	run = runMonitor(t, w.Orch)
	p = run.pair(t, dep)
	if p.Ready || run.metric(t, dep, "RollbackReady") != 0 || run.metric(t, dep, "ReplicationRunning") != 1 || run.metric(t, dep, "ReplicaLagSeconds") < 3 {
		t.Fatalf("lagging pair: %+v\n%v", p, run.docs[dep].Members)
	}
	if !strings.Contains(strings.Join(p.Reasons, " "), "behind") {
		t.Errorf("lagging pair's reasons do not say it is behind: %q", p.Reasons)
	}
	run.absent(t, dep, "ProbeLagSeconds") // the probe did not arrive: no lag to publish
	run.checkUnits(t, dep)
	if _, err := lock.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	awstest.WaitRow(t, blueDB, "SELECT item FROM shop.orders WHERE id = 300", "while the replica is blocked")
	run = runMonitor(t, w.Orch)
	if p := run.pair(t, dep); !p.Ready {
		t.Fatalf("caught up but not ready: %+v", p)
	}
	n = notifications(w)
	if len(n) != sent+2 || !strings.Contains(n[sent], "NOT ready") || !strings.Contains(n[sent], "behind") || !strings.Contains(n[sent+1], "ready again") {
		t.Fatalf("notifications %q; want not ready (behind), then ready again", n[sent:])
	}
	sent = len(n)

	// Broken: a row only the rollback cluster has collides with the same
	// key written on production.
	w.Blue.ExecT(t, "SET SESSION sql_log_bin = 0", "INSERT INTO shop.orders VALUES (500, 'only on the rollback cluster')")
	w.Green.ExecT(t, "INSERT INTO shop.orders VALUES (500, 'on production')")
	waitSQLError(t, blueDB)
	run = runMonitor(t, w.Orch)
	p = run.pair(t, dep)
	if p.Ready || run.metric(t, dep, "RollbackReady") != 0 || run.metric(t, dep, "ReplicationRunning") != 0 || !strings.Contains(strings.Join(p.Reasons, " "), "1062") {
		t.Fatalf("broken pair: %+v", p)
	}
	run.absent(t, dep, "ReplicaLagSeconds", "ProbeLagSeconds") // NULL while the SQL thread is stopped
	if !strings.Contains(run.logs, "1062") || !strings.Contains(run.logs, `"rollback not ready"`) {
		t.Errorf("the error is not in the logs:\n%s", run.logs)
	}
	n = notifications(w)
	if len(n) != sent+1 || !strings.Contains(n[sent], "NOT ready") || !strings.Contains(n[sent], "1062") || !strings.Contains(n[sent], "Next:") {
		t.Fatalf("notifications %q; want one saying not ready, the error and what to do", n[sent:])
	}
	sent = len(n)

	// Unreachable: the rollback cluster's server is gone.
	if err := w.Blue.Kill(); err != nil {
		t.Fatal(err)
	}
	run = runMonitor(t, w.Orch)
	p = run.pair(t, dep)
	if p.Ready || p.Reachable || run.metric(t, dep, "RollbackReady") != 0 || run.metric(t, dep, "ReplicationRunning") != 0 {
		t.Fatalf("unreachable pair: %+v", p)
	}
	if !strings.Contains(strings.Join(p.Reasons, " "), "unreachable") || !strings.Contains(run.logs, "unreachable") {
		t.Fatalf("the reason is not logged: %+v\n%s", p, run.logs)
	}
	run.absent(t, dep, "ReplicaLagSeconds", "ProbeLagSeconds", "BytesBehind", "BinlogRetentionHeadroomHours")
	if n := notifications(w); len(n) != sent {
		t.Errorf("still not ready, notified again: %q", n[sent:])
	}
	rec, err = w.Store.Get(t.Context(), dep)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != orchestrate.PhaseConfigured || rec.LastSeen == nil || rec.LastSeen.Ready || !strings.Contains(strings.Join(rec.LastSeen.Reasons, " "), "unreachable") {
		t.Fatalf("record: phase %s, last seen %+v", rec.Phase, rec.LastSeen)
	}
	hist, err := w.Store.History(t.Context(), dep)
	if err != nil {
		t.Fatal(err)
	}
	flips := 0
	for _, h := range hist {
		if h.Step == "monitor" {
			flips++
		}
	}
	if flips != 5 {
		t.Errorf("%d readiness changes in the history; want 5", flips)
	}
}

// waitLag waits until the replica reports at least secs seconds behind.
func waitLag(t *testing.T, db *sql.DB, secs int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var lag sql.NullInt64
		rows, err := db.Query("SHOW SLAVE STATUS")
		if err == nil {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(sql.RawBytes)
			}
			if rows.Next() && rows.Scan(vals...) == nil {
				for i, c := range cols {
					if c == "Seconds_Behind_Master" {
						_ = lag.Scan(string(*vals[i].(*sql.RawBytes)))
					}
				}
			}
			rows.Close()
		}
		if lag.Valid && lag.Int64 >= secs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never fell %d s behind (last %v, %v)", secs, lag, err)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// waitSQLError waits until the replica's SQL thread reports an error.
func waitSQLError(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var errno sql.NullInt64
		rows, err := db.Query("SHOW SLAVE STATUS")
		if err == nil {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(sql.RawBytes)
			}
			if rows.Next() && rows.Scan(vals...) == nil {
				for i, c := range cols {
					if c == "Last_SQL_Errno" {
						_ = errno.Scan(string(*vals[i].(*sql.RawBytes)))
					}
				}
			}
			rows.Close()
		}
		if errno.Valid && errno.Int64 != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never reported an SQL error (%v)", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// blackHole accepts TCP connections and never answers, like a cluster
// whose network path is broken: a client waits until its own deadline. It
// records when each connection arrived.
type blackHole struct {
	ln      net.Listener
	mu      sync.Mutex
	arrived []time.Time
}

func startBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.arrived = append(b.arrived, time.Now())
			conns = append(conns, c)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return b
}

func (b *blackHole) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

func (b *blackHole) arrivals() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.arrived)
}

// Three pairs whose production never answers and one healthy pair, two
// observed at a time with a 2 s pair timeout: each dead pair is given up
// after its timeout (RollbackReady 0, the reason logged), the third dead
// pair starts only when a slot frees, and the healthy pair is observed and
// ready without waiting for any dead one past the timeout.
func TestIntegrationMonitorBoundsEachPair(t *testing.T) {
	w := configuredWorld(t)
	hole := startBlackHole(t)
	for i := range 3 {
		dead := orchestrate.Cluster{ID: fmt.Sprintf("dead-%d", i), Endpoint: "127.0.0.1", Port: hole.port(),
			Tags: map[string]string{awsclients.AdminSecretTag: w.SecretARN}}
		rb := dead
		rb.ID += "-old1"
		if _, err := w.Store.Create(t.Context(), orchestrate.Record{Deployment: fmt.Sprintf("bgd-dead%d", i), Phase: orchestrate.PhaseConfigured,
			Production: &dead, Rollback: &rb, ConfiguredAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	const timeout = 2 * time.Second
	o := w.Orch
	o.Settings.MonitorConcurrency = 2
	o.Settings.MonitorPairTimeout = timeout
	start := time.Now()
	run := runMonitor(t, o)
	took := time.Since(start)
	if len(run.rep.Pairs) != 4 {
		t.Fatalf("%d pairs observed; want 4", len(run.rep.Pairs))
	}
	for i := range 3 {
		dep := fmt.Sprintf("bgd-dead%d", i)
		p := run.pair(t, dep)
		if p.Ready || p.Reachable || run.metric(t, dep, "RollbackReady") != 0 || run.metric(t, dep, "ReplicationRunning") != 0 {
			t.Errorf("%s: %+v", dep, p)
		}
		if !strings.Contains(strings.Join(p.Reasons, " "), "no answer within the pair timeout") {
			t.Errorf("%s: reasons %q", dep, p.Reasons)
		}
		if p.MS < timeout.Milliseconds()-50 || p.MS > timeout.Milliseconds()+1000 {
			t.Errorf("%s: observed for %d ms; want about the %s timeout", dep, p.MS, timeout)
		}
	}
	healthy := run.pair(t, awstest.DeploymentID)
	if !healthy.Ready || healthy.MS > timeout.Milliseconds() || run.metric(t, awstest.DeploymentID, "RollbackReady") != 1 {
		t.Fatalf("healthy pair next to dead ones: %+v", healthy)
	}
	// At most two at once: the third dead pair reached the cluster only
	// after one of the first two timed out.
	arr := hole.arrivals()
	if len(arr) != 3 {
		t.Fatalf("%d connections to the dead clusters; want 3 (one per pair: production first)", len(arr))
	}
	if gap := arr[2].Sub(arr[0]); gap < timeout-200*time.Millisecond {
		t.Errorf("the third dead pair started %s after the first; want it to wait for a free slot (%s)", gap, timeout)
	}
	if took > 2*timeout+3*time.Second {
		t.Errorf("the run took %s; want about two timeouts (%s each, two at a time)", took, timeout)
	}
	if !strings.Contains(run.logs, "bgd-dead0") || !strings.Contains(run.logs, "no answer within the pair timeout") {
		t.Errorf("the dead pairs' reasons are not logged:\n%s", run.logs)
	}
}

// A pair whose rollback window has ended is observed by the monitor as
// any other and listed as due, never torn down by it; the scheduled
// teardown ({"due": true}) closes it (fence kept); asked later, teardown
// releases the fence; asked again, it changes nothing.
func TestIntegrationMonitorTearsDownDuePairs(t *testing.T) {
	w := configuredWorld(t)
	dep := awstest.DeploymentID
	o := w.Orch
	o.Settings.RollbackWindow = time.Millisecond
	run := runMonitor(t, o)
	if len(run.rep.Pairs) != 1 || !slices.Equal(run.rep.Due, []string{dep}) || !run.rep.Pairs[0].Ready || run.metric(t, dep, "RollbackReady") != 1 {
		t.Fatalf("monitor with the window ended: %+v", run.rep)
	}
	if !strings.Contains(strings.Join(run.rep.Pairs[0].Warnings, " "), "the scheduled teardown") {
		t.Errorf("the due pair is not flagged: %+v", run.rep.Pairs[0])
	}
	if rec, err := w.Store.Get(t.Context(), dep); err != nil || rec.Phase != orchestrate.PhaseConfigured {
		t.Fatalf("the monitor changed the due pair: %+v %v", rec.Phase, err)
	}
	out, err := o.Teardown(t.Context(), orchestrate.TeardownRequest{Due: true})
	if err != nil || len(out.Deployments) != 1 || out.Deployments[0].Outcome != orchestrate.TeardownClosed || out.Deployments[0].FenceReleased {
		t.Fatalf("due teardown: %+v %v", out, err)
	}
	assertTornDown(t, w, true)

	o.Actor = "teardown/req-2"
	out, err = o.Teardown(t.Context(), orchestrate.TeardownRequest{Deployment: dep, ReleaseFence: true, Caller: "bob", Reason: "old cluster to be reused"})
	if err != nil || out.Outcome != orchestrate.TeardownClosed || !out.FenceReleased || out.Unchanged {
		t.Fatalf("release the fence of a closed pair: %+v %v", out, err)
	}
	if got := w.RDS.ParameterGroup(awstest.OldGroup)["read_only"]; got != "0" {
		t.Errorf("parameter group read_only = %q after releasing the fence", got)
	}
	var ro int
	if err := w.Blue.DBT(t).QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil || ro != 0 {
		t.Errorf("rollback writer read_only = %d (%v) after releasing the fence", ro, err)
	}
	out, err = o.Teardown(t.Context(), orchestrate.TeardownRequest{Deployment: dep, ReleaseFence: true, Caller: "bob"})
	if err != nil || out.Outcome != orchestrate.TeardownClosed || !out.Unchanged {
		t.Fatalf("again: %+v %v; want closed, unchanged", out, err)
	}
	if n := notifications(w); !strings.Contains(n[len(n)-1], "fence released") {
		t.Errorf("last notification %q", n[len(n)-1])
	}
}

// A due pair whose clusters never answer next to a healthy pair: the
// monitor does not tear it down (nothing waits on it beyond its pair
// timeout), the healthy pair publishes RollbackReady=1 within the timeout,
// and the hung one RollbackReady=0, flagged as due.
func TestIntegrationMonitorHungDuePair(t *testing.T) {
	w := configuredWorld(t)
	hole := startBlackHole(t)
	dead := orchestrate.Cluster{ID: "hung", Endpoint: "127.0.0.1", Port: hole.port(), Tags: map[string]string{awsclients.AdminSecretTag: w.SecretARN}}
	rb := dead
	rb.ID += "-old1"
	if _, err := w.Store.Create(t.Context(), orchestrate.Record{Deployment: "bgd-hung", Phase: orchestrate.PhaseConfigured,
		Production: &dead, Rollback: &rb, ConfiguredAt: time.Now().Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const timeout = 2 * time.Second
	o := w.Orch
	o.Settings.RollbackWindow = 24 * time.Hour
	o.Settings.MonitorPairTimeout = timeout
	start := time.Now()
	run := runMonitor(t, o)
	if took := time.Since(start); took > timeout+3*time.Second {
		t.Errorf("the run took %s; want about one pair timeout (%s)", took, timeout)
	}
	if !slices.Equal(run.rep.Due, []string{"bgd-hung"}) {
		t.Errorf("due %v; want the hung pair only", run.rep.Due)
	}
	healthy := run.pair(t, awstest.DeploymentID)
	if !healthy.Ready || run.metric(t, awstest.DeploymentID, "RollbackReady") != 1 || healthy.MS > timeout.Milliseconds() {
		t.Fatalf("healthy pair next to a hung due pair: %+v", healthy)
	}
	if hung := run.pair(t, "bgd-hung"); hung.Ready || run.metric(t, "bgd-hung", "RollbackReady") != 0 {
		t.Errorf("hung pair: %+v", hung)
	}
	rec, err := w.Store.Get(t.Context(), "bgd-hung")
	if err != nil || rec.Phase != orchestrate.PhaseConfigured {
		t.Fatalf("the monitor acted on the hung due pair: %+v %v", rec.Phase, err)
	}
	hist, _ := w.Store.History(t.Context(), "bgd-hung")
	for _, h := range hist {
		if h.Step != "monitor" {
			t.Errorf("the monitor did more than observe the hung pair: %+v", h)
		}
	}
}

// Production's DB cluster parameter group shared with another cluster:
// the rollback would refuse to fence production through it, so the pair
// is not ready although it replicates, with the reason; unshared again,
// it is ready.
func TestIntegrationMonitorProductionGroupShared(t *testing.T) {
	w := configuredWorld(t)
	dep := awstest.DeploymentID
	w.RDS.AddCluster(awsfake.RDSCluster{ID: "orders-reporting", Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
		Endpoint: "127.0.0.1", Port: 1, ParameterGroup: awstest.ProdGroup})
	run := runMonitor(t, w.Orch)
	p := run.pair(t, dep)
	reasons := strings.Join(p.Reasons, " ")
	if p.Ready || run.metric(t, dep, "RollbackReady") != 0 || run.metric(t, dep, "ReplicationRunning") != 1 ||
		!strings.Contains(reasons, "production "+awstest.ProdID+" cannot be fenced") || !strings.Contains(reasons, "also used by orders-reporting") {
		t.Fatalf("shared production group: %+v", p)
	}
	if n := notifications(w); !strings.Contains(n[len(n)-1], "NOT ready") || !strings.Contains(n[len(n)-1], "own custom DB cluster parameter group") {
		t.Errorf("last notification %q", n[len(n)-1])
	}
	w.RDS.AddCluster(awsfake.RDSCluster{ID: "orders-reporting", Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
		Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "reporting-params"})
	if run := runMonitor(t, w.Orch); !run.pair(t, dep).Ready || run.metric(t, dep, "RollbackReady") != 1 {
		t.Fatalf("unshared again: %+v", run.pair(t, dep))
	}
}

// Records that are not configured (nor closed) but name clusters publish
// RollbackReady=0 with their phase as the reason, without the servers
// being touched; a rolling-back record whose lease expired (a killed
// rollback run) is told to on-call once, not at every run.
func TestIntegrationMonitorPublishesOtherPhases(t *testing.T) {
	w := configuredWorld(t)
	ctx := t.Context()
	prod, rb := orchestrate.Cluster{ID: "p"}, orchestrate.Cluster{ID: "p-old1"}
	for dep, phase := range map[string]orchestrate.Phase{"bgd-rolling": orchestrate.PhaseRollingBack, "bgd-attention": orchestrate.PhaseNeedsAttention,
		"bgd-rolledback": orchestrate.PhaseRolledBack, "bgd-closed": orchestrate.PhaseClosed} {
		rec := orchestrate.Record{Deployment: dep, Phase: phase, Production: &prod, Rollback: &rb, PhaseDetail: "detail of " + dep}
		if phase == orchestrate.PhaseRollingBack {
			rec.LastRollback = &orchestrate.RollbackState{Caller: "alice", StartedAt: time.Now().Add(-time.Hour)}
		}
		if _, err := w.Store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Store.Create(ctx, orchestrate.Record{Deployment: "unmatched:x", Phase: orchestrate.PhaseUnmatched}); err != nil {
		t.Fatal(err)
	}
	sent := len(notifications(w))
	run := runMonitor(t, w.Orch)
	if len(run.rep.Pairs) != 4 || len(run.docs) != 4 {
		t.Fatalf("%d pairs, %d EMF lines; want the configured pair and the three open ones: %+v", len(run.rep.Pairs), len(run.docs), run.rep)
	}
	for _, dep := range []string{"bgd-rolling", "bgd-attention", "bgd-rolledback"} {
		p := run.pair(t, dep)
		if p.Ready || run.metric(t, dep, "RollbackReady") != 0 || !strings.Contains(strings.Join(p.Reasons, " "), "detail of "+dep) {
			t.Errorf("%s: %+v", dep, p)
		}
	}
	if p := run.pair(t, "bgd-attention"); !strings.Contains(p.Reasons[0], "the pair is needs-attention") {
		t.Errorf("reason %q", p.Reasons)
	}
	if p := run.pair(t, "bgd-rolling"); p.Notified != "rollback-stalled" {
		t.Errorf("rolling-back with no lease: %+v", p)
	}
	n := notifications(w)
	if len(n) != sent+1 || !strings.Contains(n[sent], "bgd-rolling rollback STALLED") || !strings.Contains(n[sent], "p may be fenced read-only") || !strings.Contains(n[sent], "alice") {
		t.Fatalf("notifications %q; want one about the stalled rollback", n[sent:])
	}
	run = runMonitor(t, w.Orch)
	if got := len(notifications(w)); got != sent+1 || run.metric(t, "bgd-rolling", "RollbackReady") != 0 {
		t.Errorf("the stalled rollback was told again (%d notifications)", got-sent)
	}
	// A rollback run that holds its lease is not stalled.
	if _, err := w.Store.Create(ctx, orchestrate.Record{Deployment: "bgd-running", Phase: orchestrate.PhaseRollingBack, Production: &prod, Rollback: &rb}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Store.AcquireLease(ctx, "bgd-running", "rollback/req-9", time.Minute); err != nil {
		t.Fatal(err)
	}
	run = runMonitor(t, w.Orch)
	if p := run.pair(t, "bgd-running"); p.Ready || p.Notified != "" || len(notifications(w)) != sent+1 {
		t.Errorf("a running rollback: %+v", p)
	}
}

// Teardown refuses a pair a rollback acted on — here "rollback completed
// but re-pointing failed" — changing nothing: replication, the replication
// user (which running the rollback again needs), the fence, the record,
// and no page. It also refuses while another switchback run holds the
// engine's pair lock on the servers.
func TestIntegrationTeardownRefusesAfterRollback(t *testing.T) {
	w := configuredWorld(t)
	dep := awstest.DeploymentID
	ctx := t.Context()
	o := w.Orch
	o.Actor = "teardown/req-1"
	put := func(f func(*orchestrate.Record)) {
		t.Helper()
		rec, err := w.Store.Get(ctx, dep)
		if err != nil {
			t.Fatal(err)
		}
		f(&rec)
		if _, err := w.Store.Update(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	put(func(r *orchestrate.Record) {
		r.Phase, r.PhaseDetail = orchestrate.PhaseNeedsAttention, "rollback completed but re-pointing failed: route53 throttled; run the rollback again to finish re-pointing"
		r.LastRollback = &orchestrate.RollbackState{Caller: "alice", StartedAt: time.Now().Add(-time.Minute), Outcome: "completed"}
	})
	before := w.Snapshot()
	for _, req := range []orchestrate.TeardownRequest{{Deployment: dep, Caller: "bob"}, {Deployment: dep, ReleaseFence: true}} {
		out, err := o.Teardown(ctx, req)
		if err != nil || out.Outcome != orchestrate.TeardownRefused || len(out.Steps) != 0 ||
			!strings.Contains(out.Reason, "needs attention after a rollback") || !strings.Contains(out.Reason, "run the rollback again") {
			t.Fatalf("teardown after a rollback: %+v %v", out, err)
		}
	}
	after := w.Snapshot()
	if after.History != before.History+2 {
		t.Errorf("history grew by %d; want 2 (the refusals)", after.History-before.History)
	}
	after.History = before.History
	if diff := before.Diff(after); diff != "" {
		t.Fatalf("a refused teardown changed:\n%s", diff)
	}
	for _, phase := range []orchestrate.Phase{orchestrate.PhaseRollingBack, orchestrate.PhaseRolledBack} {
		put(func(r *orchestrate.Record) { r.Phase, r.PhaseDetail = phase, "" })
		if out, err := o.Teardown(ctx, orchestrate.TeardownRequest{Deployment: dep}); err != nil || out.Outcome != orchestrate.TeardownRefused || !strings.Contains(out.Reason, string(phase)) {
			t.Fatalf("%s: %+v %v", phase, out, err)
		}
	}

	// Back to configured after a refused rollback: teardown may go on,
	// but not while another run holds the engine's lock.
	put(func(r *orchestrate.Record) {
		r.Phase, r.PhaseDetail = orchestrate.PhaseConfigured, ""
		r.LastRollback.Outcome = "refused"
	})
	prodSrv, err := replication.Connect(ctx, "production", w.Green.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer prodSrv.Close()
	rbSrv, err := replication.Connect(ctx, "rollback target", w.Blue.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer rbSrv.Close()
	release, err := replication.LockPair(ctx, prodSrv, rbSrv, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := o.Teardown(ctx, orchestrate.TeardownRequest{Deployment: dep})
	if err != nil || out.Outcome != orchestrate.TeardownRefused || !strings.Contains(out.Reason, "another switchback run holds the lock") || len(out.Steps) != 0 {
		t.Fatalf("teardown under another run's lock: %+v %v", out, err)
	}
	if rec, _ := w.Store.Get(ctx, dep); rec.Phase != orchestrate.PhaseConfigured {
		t.Fatalf("phase %s after a locked-out teardown", rec.Phase)
	}
	var users int
	if err := w.Green.DBT(t).QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = 'switchback_repl'").Scan(&users); err != nil || users != 1 {
		t.Fatalf("replication user count %d (%v) after a locked-out teardown", users, err)
	}
	release()
	out, err = o.Teardown(ctx, orchestrate.TeardownRequest{Deployment: dep, Caller: "bob", Reason: "rollback not needed"})
	if err != nil || out.Outcome != orchestrate.TeardownClosed {
		t.Fatalf("teardown after a refused rollback: %+v %v", out, err)
	}
	assertTornDown(t, w, true)
}

// assertTornDown checks the end state of a teardown: no replication on the
// rollback cluster, no replication user on production, the record closed,
// the fence kept (or not).
func assertTornDown(t *testing.T, w *awstest.World, fenced bool) {
	t.Helper()
	rows, err := w.Blue.DBT(t).Query("SHOW ALL SLAVES STATUS")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("the rollback cluster still has a replication source")
	}
	rows.Close()
	var n int
	if err := w.Green.DBT(t).QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = 'switchback_repl'").Scan(&n); err != nil || n != 0 {
		t.Errorf("production still has %d switchback_repl accounts (%v)", n, err)
	}
	want := map[bool]string{true: "1", false: "0"}[fenced]
	if got := w.RDS.ParameterGroup(awstest.OldGroup)["read_only"]; got != want {
		t.Errorf("parameter group read_only = %q; want %s", got, want)
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != orchestrate.PhaseClosed {
		t.Errorf("record phase %s; want closed", rec.Phase)
	}
}

// Manual teardown: refused for an unknown deployment and not done when the
// window never ends by itself; then replication is reset, the replication
// user dropped, the fence kept, the record closed, every step in the
// history with the caller and the reason, on-call told; a second run
// changes nothing and reports closed; the monitor no longer watches it.
func TestIntegrationTeardown(t *testing.T) {
	w := configuredWorld(t)
	dep := awstest.DeploymentID
	o := w.Orch
	o.Actor = "teardown/req-1"
	if out, err := o.Teardown(t.Context(), orchestrate.TeardownRequest{Deployment: "bgd-doesnotexist"}); err != nil || out.Outcome != orchestrate.TeardownRefused {
		t.Fatalf("unknown deployment: %+v %v", out, err)
	}
	if out, err := o.Teardown(t.Context(), orchestrate.TeardownRequest{}); err == nil || out.Outcome != orchestrate.TeardownFailed {
		t.Fatalf("no deployment: %+v %v", out, err)
	}
	if out, err := o.Teardown(t.Context(), orchestrate.TeardownRequest{Due: true}); err != nil || out.Outcome != orchestrate.TeardownSkipped || len(out.Deployments) != 0 {
		t.Fatalf("due with a window of 0: %+v %v", out, err)
	}
	sent := len(notifications(w))

	out, err := o.Teardown(t.Context(), orchestrate.TeardownRequest{Deployment: dep, Caller: "alice", Reason: "upgrade verified"})
	if err != nil || out.Outcome != orchestrate.TeardownClosed || out.Unchanged || out.FenceReleased {
		t.Fatalf("teardown: %+v %v", out, err)
	}
	assertTornDown(t, w, true)
	var ro int
	if err := w.Blue.DBT(t).QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil || ro != 1 {
		t.Errorf("rollback writer read_only = %d (%v); the fence must stay", ro, err)
	}
	hist, err := w.Store.History(t.Context(), dep)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, h := range hist {
		if strings.HasPrefix(h.Actor, "teardown/req-1") {
			if h.Actor != "teardown/req-1 for alice" {
				t.Errorf("history actor %q; want the function, request and caller", h.Actor)
			}
			steps = append(steps, h.Step+"="+h.Outcome)
			if h.Step == "teardown" && !strings.Contains(h.Detail, "upgrade verified") {
				t.Errorf("teardown entry without the reason: %+v", h)
			}
		}
	}
	want := []string{"teardown=started", "stop and reset replication on " + awstest.OldID + "=done", "drop replication user on " + awstest.ProdID + "=done", "keep fence on " + awstest.OldID + "=skipped", "teardown=done"}
	if !slices.Equal(steps, want) {
		t.Errorf("history %q; want %q", steps, want)
	}
	n := notifications(w)
	if len(n) != sent+1 || !strings.Contains(n[sent], "rollback path closed") || !strings.Contains(n[sent], "alice") || !strings.Contains(n[sent], "stays read-only") {
		t.Fatalf("notifications %q", n[sent:])
	}

	again, err := o.Teardown(t.Context(), orchestrate.TeardownRequest{Deployment: dep, Caller: "alice"})
	if err != nil || again.Outcome != orchestrate.TeardownClosed || !again.Unchanged || len(again.Steps) != 0 {
		t.Fatalf("second teardown: %+v %v; want closed, unchanged", again, err)
	}
	if got := len(notifications(w)); got != sent+1 {
		t.Errorf("second teardown notified again")
	}
	if run := runMonitor(t, w.Orch); len(run.rep.Pairs) != 0 || len(run.docs) != 0 {
		t.Errorf("the monitor still watches a closed pair: %+v", run.rep)
	}
}
