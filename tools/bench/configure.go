package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchback/switchback/shared/capture"
	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// Configure latency: "coordinates event in → both replication threads
// running". Two servers are reused across runs; before every run the
// benchmark resets them to the state a fresh pair has right after a
// blue/green switchover (no replication configured, the rollback target
// read-only, no switchback schema or user, one applier thread), so that
// every run, the tool's and the floor's, starts from the same state.

// benchReplUser is the replication user the floors use (bare SQL has no
// tool to create one); it exists before any run and is not timed.
const benchReplUser = "bench_repl"

// cfgCluster is the production cluster's name in the coordinates event of
// the capture path.
const cfgCluster = "bench-prod"

// pollEvery is how often the benchmarks poll a server for a condition
// (SHOW SLAVE STATUS until both threads run, and the like): the same
// cadence for the tool's observer and for the floor.
const pollEvery = time.Millisecond

// cfgPair is the configure benchmark's two servers.
type cfgPair struct {
	prod, tgt     *sandbox.Server
	prodDB, tgtDB *sql.DB // the benchmark's own root pools
	// prodEng and tgtEng are the engine's connections, reused by every
	// run (as a long-running Lambda container or CLI session would).
	prodEng, tgtEng *replication.Server
	replPassword    string
}

// cfgTimes is one configure run as measured.
type cfgTimes struct {
	threads time.Duration // call → both threads observed running
	done    time.Duration // call → return
	steps   []replication.Step
}

// benchConfigure measures replication.Configure and the in-process
// capture path (event JSON → decode → Configure) against bare SQL.
func benchConfigure(ctx context.Context, cfg benchConfig) (section, error) {
	started := time.Now()
	sec := section{
		Title: "Configure latency: coordinates in → both replication threads running",
		What: "The engine's `replication.Configure` (what `switchback configure` and the configure Lambda run) on a pair " +
			"that looks fresh after a blue/green switchover: fence the rollback target, ensure the replication user, " +
			"binlog retention and heartbeat schema on production, record the target's baseline, set parallel apply, " +
			"CHANGE MASTER + START SLAVE, then wait for both threads and prove replication with a heartbeat. " +
			"\"Threads running\" is seen by a separate session polling SHOW SLAVE STATUS every 1 ms from the call on; " +
			"\"return\" is when Configure returns (threads running and a heartbeat arrived). The capture path row " +
			"starts from the RDS coordinates event as JSON and runs the capture Lambda's code in process " +
			"(`capture.ConfigureFromEvent`: decode, check the source, Configure). Two servers are reused: before every " +
			"run (tool and floor alike, interleaved) replication is reset (STOP SLAVE, RESET SLAVE ALL, one applier thread, " +
			"target read-only) and switchback's schema and user are dropped, untimed.",
		Floor: "on the same pair, reset the same way: `CHANGE MASTER TO … MASTER_LOG_FILE, MASTER_LOG_POS` (a replication " +
			"user created beforehand), `START SLAVE`, then poll `SHOW SLAVE STATUS` every 1 ms until IO and SQL both say Yes.",
		Header: floorHeader,
	}
	cfg.Progress("starting 2 MariaDB servers")
	p, err := startCfgPair(ctx)
	if err != nil {
		return sec, err
	}
	defer p.close()

	var (
		toolThreads, toolDone, captureDone, floor []float64
		steps                                     stepTimes
	)
	kinds := []string{"tool", "capture", "floor"}
	for i := range cfg.Runs {
		// Rotate the order, so that no kind always runs right after another.
		for k := range kinds {
			kind := kinds[(i+k)%len(kinds)]
			if err := p.reset(ctx); err != nil {
				return sec, fmt.Errorf("run %d: reset before %s: %w", i+1, kind, err)
			}
			switch kind {
			case "tool", "capture":
				t, err := p.runTool(ctx, kind == "capture")
				if err != nil {
					return sec, fmt.Errorf("run %d (%s): %w", i+1, kind, err)
				}
				if kind == "capture" {
					captureDone = append(captureDone, ms(t.done))
					continue
				}
				toolThreads = append(toolThreads, ms(t.threads))
				toolDone = append(toolDone, ms(t.done))
				for _, s := range t.steps {
					steps.add(s.Name, float64(s.MS))
				}
			case "floor":
				d, err := p.runFloor(ctx)
				if err != nil {
					return sec, fmt.Errorf("run %d (floor): %w", i+1, err)
				}
				floor = append(floor, ms(d))
			}
		}
		cfg.Progress("run %d/%d: tool threads %s, return %s; capture path %s; floor %s", i+1, cfg.Runs,
			fmtMS(toolThreads[i]), fmtMS(toolDone[i]), fmtMS(captureDone[i]), fmtMS(floor[i]))
	}
	fl := summarize(floor)
	sec.Rows = [][]string{
		floorRow("Configure: call → IO and SQL threads running", summarize(toolThreads), fl),
		floorRow("Configure: call → return (threads running, heartbeat arrived)", summarize(toolDone), fl),
		floorRow("capture path: event JSON → decode → Configure returned", summarize(captureDone), fl),
	}
	sec.Notes = []string{
		"Median time per Configure step (the engine records whole milliseconds): " + steps.medians(true) + ".",
		"Configure polls the replica status every 100 ms while it waits for the threads, then proves replication end to end " +
			"with a heartbeat row written on production and read back on the rollback target; the floor polls every 1 ms and " +
			"proves nothing, so part of the gap to the floor is that wait and that proof.",
		"Not measured here: the real Lambda path (event JSON → capture bootstrap → configure bootstrap through a local Lambda " +
			"Runtime API, with the AWS fakes of shared/awstest). awstest.World is built for `go test` (it needs a *testing.T, " +
			"dynalite and the function binaries); infra/e2e exercises that path for correctness. The capture path row runs " +
			"the same decode → configure code in process.",
		"The engine's connections are opened once and reused by every run; connecting (dialect detection) is not included.",
	}
	sec.Took = time.Since(started)
	return sec, nil
}

// startCfgPair starts the two servers and creates the floor's replication
// user on production, outside the binary log.
func startCfgPair(ctx context.Context) (_ *cfgPair, err error) {
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{GTID: true, NamePrefix: "bench-configure"})
	if err != nil {
		return nil, fmt.Errorf("start servers: %w", err)
	}
	p := &cfgPair{prod: servers[0], tgt: servers[1], replPassword: rand.Text()}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.prodDB, err = p.prod.Open(); err != nil {
		return nil, err
	}
	if p.tgtDB, err = p.tgt.Open(); err != nil {
		return nil, err
	}
	if err := execConn(ctx, p.prodDB,
		"SET SESSION sql_log_bin = 0",
		// rand.Text is base32: safe inside a quoted literal.
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", benchReplUser, p.replPassword),
		fmt.Sprintf("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'%%'", benchReplUser),
	); err != nil {
		return nil, fmt.Errorf("production: create %s: %w", benchReplUser, err)
	}
	if p.prodEng, err = replication.Connect(ctx, "production", p.prod.RootDSN(), replication.DialectAuto); err != nil {
		return nil, err
	}
	if p.tgtEng, err = replication.Connect(ctx, "rollback target", p.tgt.RootDSN(), replication.DialectAuto); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *cfgPair) close() {
	for _, c := range []interface{ Close() error }{p.prodEng, p.tgtEng, p.prodDB, p.tgtDB, p.prod, p.tgt} {
		if c != nil && !isNilCloser(c) {
			_ = c.Close()
		}
	}
}

// isNilCloser reports whether c holds a nil pointer.
func isNilCloser(c interface{ Close() error }) bool {
	switch v := c.(type) {
	case *replication.Server:
		return v == nil
	case *sql.DB:
		return v == nil
	case *sandbox.Server:
		return v == nil
	}
	return false
}

// reset puts the pair back to a fresh post-switchover state: no
// replication on the target, which is read-only and applies with one
// thread, and no trace of switchback on either server (dropped outside the
// binary log, on each server).
func (p *cfgPair) reset(ctx context.Context) error {
	if err := execConn(ctx, p.tgtDB,
		"STOP SLAVE", "RESET SLAVE ALL",
		"SET GLOBAL slave_parallel_threads = 0",
		"SET GLOBAL read_only = 1",
	); err != nil {
		return fmt.Errorf("rollback target: %w", err)
	}
	for _, s := range []struct {
		name string
		db   *sql.DB
	}{{"production", p.prodDB}, {"rollback target", p.tgtDB}} {
		if err := execConn(ctx, s.db,
			"SET SESSION sql_log_bin = 0",
			"DROP DATABASE IF EXISTS switchback",
			fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", replication.DefaultReplicationUser, replication.DefaultReplicationUserHost),
		); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// runTool runs Configure (or, with viaCapture, the capture path from the
// coordinates event) from production's current position, while a separate
// session watches for both replication threads.
func (p *cfgPair) runTool(ctx context.Context, viaCapture bool) (cfgTimes, error) {
	var t cfgTimes
	start, err := masterStatus(ctx, p.prodDB)
	if err != nil {
		return t, fmt.Errorf("production: %w", err)
	}
	req := replication.ConfigureRequest{Production: p.prodEng, Rollback: p.tgtEng}
	var event []byte
	if viaCapture {
		if event, err = coordinatesEvent(cfgCluster, start.File, start.Position, time.Now()); err != nil {
			return t, err
		}
	} else {
		req.Start = start
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := watchThreads(wctx, p.tgtDB)
	if err != nil {
		return t, err
	}
	t0 := time.Now()
	var res replication.ConfigureResult
	if viaCapture {
		var cres capture.Result
		cres, err = capture.ConfigureFromEvent(ctx, event, capture.Target{Sources: []string{cfgCluster}, Configure: req})
		if cres.Configure != nil {
			res = *cres.Configure
		}
	} else {
		res, err = replication.Configure(ctx, req)
	}
	t.done = time.Since(t0)
	if err != nil {
		return t, fmt.Errorf("configure: %w (outcome %s)", err, res.Outcome)
	}
	if res.Outcome != replication.OutcomeConfigured {
		return t, fmt.Errorf("configure: outcome %q, want %q: %s", res.Outcome, replication.OutcomeConfigured, res.Reason)
	}
	t.steps = res.Steps
	// Configure returned with both threads running: the watcher has seen
	// them, or sees them on its next poll.
	select {
	case at, ok := <-watch:
		if !ok {
			return t, errors.New("the watching session failed before it saw both threads running")
		}
		t.threads = at.Sub(t0)
	case <-time.After(10 * time.Second):
		return t, errors.New("Configure returned, but the watching session did not see both threads running within 10 s")
	}
	return t, nil
}

// runFloor points the target at production's current position with bare
// SQL and polls until both threads run; it returns that time.
func (p *cfgPair) runFloor(ctx context.Context) (time.Duration, error) {
	start, err := masterStatus(ctx, p.prodDB)
	if err != nil {
		return 0, fmt.Errorf("production: %w", err)
	}
	conn, err := p.tgtDB.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("rollback target: connect: %w", err)
	}
	defer conn.Close()
	change := changeMaster(p.prod.Host, p.prod.Port, p.replPassword, start)
	t0 := time.Now()
	for _, q := range []string{change, "START SLAVE"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("rollback target: %s: %w", redactPassword(q), err)
		}
	}
	if err := pollThreads(ctx, conn, 30*time.Second); err != nil {
		return 0, fmt.Errorf("rollback target: %w", err)
	}
	return time.Since(t0), nil
}

// changeMaster is the floor's CHANGE MASTER statement: replicate from
// host:port as benchReplUser from start, by file and position.
func changeMaster(host string, port int, password string, start replication.BinlogPosition) string {
	// Every value comes from the benchmark itself (sandbox addresses,
	// base32 passwords, binlog names the server reported).
	return fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '%s', MASTER_PORT = %d, MASTER_USER = '%s', MASTER_PASSWORD = '%s', "+
		"MASTER_LOG_FILE = '%s', MASTER_LOG_POS = %d, MASTER_USE_GTID = no",
		host, port, benchReplUser, password, start.File, start.Position)
}

// redactPassword hides MASTER_PASSWORD's value in a statement shown in an
// error.
func redactPassword(q string) string {
	i := strings.Index(q, "MASTER_PASSWORD = '")
	if i < 0 {
		return q
	}
	rest := q[i+len("MASTER_PASSWORD = '"):]
	j := strings.IndexByte(rest, '\'')
	if j < 0 {
		return q[:i] + "MASTER_PASSWORD = <redacted>"
	}
	return q[:i] + "MASTER_PASSWORD = <redacted>" + rest[j+1:]
}

// queryer is what SHOW SLAVE STATUS runs on: a pool or one connection.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// slaveStatus returns the first row of SHOW SLAVE STATUS by column name;
// an empty map when no replication is configured.
func slaveStatus(ctx context.Context, q queryer) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("SHOW SLAVE STATUS: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("SHOW SLAVE STATUS: %w", err)
	}
	out := map[string]string{}
	if rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("SHOW SLAVE STATUS: %w", err)
		}
		for i, c := range cols {
			out[c] = vals[i].String
		}
	}
	return out, rows.Err()
}

// threadsRunning reports whether a SHOW SLAVE STATUS row says both threads
// run; it fails on a replication error, which would never clear by itself.
func threadsRunning(st map[string]string) (bool, error) {
	for _, c := range []string{"Last_IO_Errno", "Last_SQL_Errno"} {
		if v := st[c]; v != "" && v != "0" {
			return false, fmt.Errorf("replication error %s %s: %s", c, v, st[strings.Replace(c, "Errno", "Error", 1)])
		}
	}
	return st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes", nil
}

// pollThreads polls SHOW SLAVE STATUS on q every pollEvery until both
// threads run, within timeout.
func pollThreads(ctx context.Context, q queryer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last map[string]string
	for {
		st, err := slaveStatus(ctx, q)
		if err == nil {
			last = st
			ok, rerr := threadsRunning(st)
			if rerr != nil {
				return rerr
			}
			if ok {
				return nil
			}
		} else if ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication threads not both running after %s (IO %q, SQL %q)", timeout, last["Slave_IO_Running"], last["Slave_SQL_Running"])
		case <-tick.C:
		}
	}
}

// watchThreads polls SHOW SLAVE STATUS on its own connection of db every
// pollEvery until both threads run, and sends that moment on the returned
// channel; the channel is closed without a value when ctx ends or a query
// fails first. The connection is taken before watchThreads returns.
func watchThreads(ctx context.Context, db *sql.DB) (<-chan time.Time, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("watching session: %w", err)
	}
	ch := make(chan time.Time, 1)
	go func() {
		defer close(ch)
		defer conn.Close()
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			st, err := slaveStatus(ctx, conn)
			if err != nil {
				return
			}
			if ok, _ := threadsRunning(st); ok {
				ch <- time.Now()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ch, nil
}

// masterStatus reads SHOW MASTER STATUS.
func masterStatus(ctx context.Context, q queryer) (replication.BinlogPosition, error) {
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return replication.BinlogPosition{}, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return replication.BinlogPosition{}, fmt.Errorf("SHOW MASTER STATUS: %w", err)
		}
		return replication.BinlogPosition{}, errors.New("SHOW MASTER STATUS: no row (binary logging off?)")
	}
	cols, err := rows.Columns()
	if err != nil {
		return replication.BinlogPosition{}, err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return replication.BinlogPosition{}, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	fi, pi := slices.Index(cols, "File"), slices.Index(cols, "Position")
	if fi < 0 || pi < 0 {
		return replication.BinlogPosition{}, fmt.Errorf("SHOW MASTER STATUS: no File and Position columns in %q", cols)
	}
	p := replication.BinlogPosition{File: vals[fi].String}
	if _, err := fmt.Sscan(vals[pi].String, &p.Position); err != nil {
		return p, fmt.Errorf("SHOW MASTER STATUS: position %q: %w", vals[pi].String, err)
	}
	return p, rows.Err()
}

// execConn runs stmts in order on one connection of db (so that session
// settings such as sql_log_bin hold for the ones after).
func execConn(ctx context.Context, db *sql.DB, stmts ...string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			// Do not hand a session with changed settings back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			return fmt.Errorf("%s: %w", redactPassword(redactIdentified(q)), err)
		}
	}
	// The connection goes back to the pool: undo session settings.
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 1"); err != nil {
		return fmt.Errorf("SET SESSION sql_log_bin = 1: %w", err)
	}
	return nil
}

// redactIdentified hides the password of a CREATE USER … IDENTIFIED BY.
func redactIdentified(q string) string {
	if i := strings.Index(q, "IDENTIFIED BY '"); i >= 0 {
		return q[:i] + "IDENTIFIED BY <redacted>"
	}
	return q
}

// coordinatesEvent builds the EventBridge event RDS sends after a
// switchover with the green writer's binlog coordinates, in the shape of
// events/cluster-binlog-coordinates.json.
func coordinatesEvent(cluster, file string, pos uint64, at time.Time) ([]byte, error) {
	at = at.UTC()
	arn := "arn:aws:rds:us-east-1:123456789012:cluster:" + cluster
	detail, err := json.Marshal(rdsevent.Detail{
		EventCategories:  []string{"notification"},
		SourceType:       "CLUSTER",
		SourceArn:        arn,
		Date:             at.Format("2006-01-02T15:04:05.000Z"),
		Message:          fmt.Sprintf("%s: file %s and position %d", rdsevent.BinlogCoordinatesPrefix, file, pos),
		SourceIdentifier: cluster,
	})
	if err != nil {
		return nil, fmt.Errorf("build event detail: %w", err)
	}
	ev := events.CloudWatchEvent{
		Version:    "0",
		ID:         "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
		DetailType: rdsevent.DetailTypeCluster,
		Source:     rdsevent.Source,
		AccountID:  "123456789012",
		Time:       at.Truncate(time.Second),
		Region:     "us-east-1",
		Resources:  []string{arn},
		Detail:     detail,
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return out, nil
}
