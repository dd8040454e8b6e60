package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchback/switchback/shared/capture"
	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
	"github.com/switchback/switchback/shared/verify"
)

const demoDescription = `
Plays the whole story on this machine, with two throw-away MariaDB servers
and no AWS, in well under a minute:

  1. start blue (old production) and green;
  2. seed a "shop" schema on blue and an application user 'app' that has
     only SELECT, INSERT, UPDATE, DELETE (so read_only stops it, as on
     Aurora);
  3. start an application write load on blue as 'app' (--workers
     connections, --rate writes/s);
  4. blue/green switchover: green replicates blue, blue is fenced, green
     catches up and takes over; the app sees read-only rejections, then
     follows the DNS rename to green;
  5. build the RDS "binary log coordinates" event and run it through the
     capture Lambda's code path: decode, then configure reverse
     replication green → blue;
  6. show the rollback status while the app writes to green, and prove
     with switchback verify that blue holds green's data, online;
  7. roll back under load: fence green, wait for exact catch-up, promote
     blue; the app follows to blue;
  8. verify zero loss: every write the app was told succeeded is on blue,
     no rejected write is, and the shop tables' row counts and CHECKSUM
     TABLE are equal on green and blue at the cutover;
  9. print a summary, and stop the servers (also on Ctrl-C).

Needs mariadb-server (make demo installs it). Exit status: 0 when every
check passed, 1 otherwise, 2 usage.

JSON (--output json) is one object: ok, error, wall_ms, phases, switchover,
event, configure, status, rollback (outcome, steps, write_unavailable_ms…),
writes (acknowledged, rejected, failed, per server), verification (missing,
rejected_present…), checksums (equal, tables), verify (the switchback verify
report: outcome, tables, max_production_lock_ms…).
`

// Demo data set.
const (
	demoCustomers = 2000
	demoOrders    = 5000
	demoAppUser   = "app"
	demoCluster   = "shop-prod"
)

// demoTables are the shop tables whose checksums must match at cutover.
var demoTables = []string{"shop.customers", "shop.orders", loadgen.DefaultTable}

func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "demo", "[flags]", demoDescription)
	output := outputText
	fs.Var(&output, "output", "output format: `text|json` (json: the summary only)")
	workers := fs.Int("workers", loadgen.DefaultWorkers, "application connections writing concurrently")
	rate := fs.Int("rate", 500, "application writes per second over all connections (0: as fast as possible)")
	phase := fs.Duration("phase-time", time.Second, "how long the application writes to each server between events")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *workers < 1 || *rate < 0 || *phase <= 0 {
		return fmt.Errorf("%w: --workers must be ≥ 1, --rate ≥ 0 and --phase-time > 0", errUsage)
	}
	d := &demo{out: env.stdout, workers: *workers, rate: *rate, phaseTime: *phase}
	if output == outputJSON {
		d.out = io.Discard
	}
	sum := d.run(ctx)
	if output == outputJSON {
		if err := writeJSON(env.stdout, sum); err != nil {
			return err
		}
	} else {
		writeDemoSummary(env.stdout, sum)
	}
	if !sum.OK {
		fmt.Fprintf(env.stderr, "switchback demo: %s\n", sum.Error)
		return errSilent
	}
	return nil
}

// demoSummary is the demo's result: the JSON of --output json and the
// summary table. A phase's field is nil when the demo did not get there.
type demoSummary struct {
	OK           bool                         `json:"ok"`
	Error        string                       `json:"error,omitempty"`
	WallMS       int64                        `json:"wall_ms"`
	Blue         string                       `json:"blue,omitempty"`
	Green        string                       `json:"green,omitempty"`
	Phases       []phaseTiming                `json:"phases"`
	Switchover   *switchoverResult            `json:"switchover,omitempty"`
	Event        json.RawMessage              `json:"event,omitempty"`
	Configure    *replication.ConfigureResult `json:"configure,omitempty"`
	Status       []statusSample               `json:"status,omitempty"`
	Rollback     *replication.RollbackReport  `json:"rollback,omitempty"`
	Checksums    *checksumResult              `json:"checksums,omitempty"`
	Verify       *verify.Report               `json:"verify,omitempty"`
	Writes       *writesResult                `json:"writes,omitempty"`
	Verification *verifyResult                `json:"verification,omitempty"`
}

// phaseTiming is how long one phase took.
type phaseTiming struct {
	Name string `json:"name"`
	MS   int64  `json:"ms"`
}

// switchoverResult is the simulated blue/green switchover.
type switchoverResult struct {
	SeedRows map[string]int `json:"seed_rows"`
	// BinlogFile and BinlogPosition are green's coordinates at switchover.
	BinlogFile     string `json:"binlog_file"`
	BinlogPosition uint64 `json:"binlog_position"`
	// RejectedOnBlue is how many app writes blue refused while fenced.
	RejectedOnBlue int `json:"rejected_on_blue"`
}

// statusSample is one rollback status observation.
type statusSample struct {
	Ready         bool     `json:"ready"`
	Reasons       []string `json:"reasons"`
	SecondsBehind *int64   `json:"seconds_behind"`
	ProbeLagMS    *int64   `json:"probe_lag_ms"`
	BytesBehind   *int64   `json:"bytes_behind"`
}

// checksumResult compares the shop tables on green and blue right after
// the cutover, before the app writes to blue again.
type checksumResult struct {
	Equal      bool                    `json:"equal"`
	Difference string                  `json:"difference,omitempty"`
	Green      []loadgen.TableChecksum `json:"green"`
	Blue       []loadgen.TableChecksum `json:"blue"`
}

// writesResult is what the application's writes came to.
type writesResult struct {
	Workers         int     `json:"workers"`
	TargetRate      int     `json:"target_rate"`
	Acknowledged    int     `json:"acknowledged"`
	Rejected        int     `json:"rejected"`
	Failed          int     `json:"failed"`
	AcknowledgedPS  float64 `json:"acknowledged_per_s"`
	DurationMS      int64   `json:"duration_ms"`
	OnBlueBefore    int     `json:"acknowledged_on_blue_before_switchover"`
	OnGreen         int     `json:"acknowledged_on_green"`
	OnBlueAfter     int     `json:"acknowledged_on_blue_after_rollback"`
	RejectedOnBlue  int     `json:"rejected_on_blue"`
	RejectedOnGreen int     `json:"rejected_on_green"`
	// FailedSample lists the first writes with an ambiguous outcome.
	FailedSample []loadgen.WriteError `json:"failed_sample,omitempty"`
}

// verifyResult is the zero-loss check on blue, the final production.
type verifyResult struct {
	Server          string  `json:"server"`
	Table           string  `json:"table"`
	Rows            int     `json:"rows"`
	Acknowledged    int     `json:"acknowledged"`
	Present         int     `json:"present"`
	Missing         int     `json:"missing"`
	MissingIDs      []int64 `json:"missing_ids,omitempty"`
	Rejected        int     `json:"rejected"`
	RejectedPresent int     `json:"rejected_present"`
	FailedPresent   int     `json:"failed_present"`
}

// demo is one run: the servers, the app's connection pools and its load.
type demo struct {
	out       io.Writer // the story; io.Discard under --output json
	workers   int
	rate      int
	phaseTime time.Duration

	sum     demoSummary
	started time.Time
	step    int
	cleanup []func()

	blue, green         *sandbox.Server
	blueRoot, greenRoot *sql.DB
	blueEng, greenEng   *replication.Server
	appPassword         string
	appBlue, appGreen   *sql.DB
	app                 atomic.Pointer[sql.DB] // where the app's DNS name points
	appOn               string                 // "blue" or "green", for progress lines
	load                *loadgen.Writer
	final               *loadgen.Result

	// acknowledged counts at the moments the app was re-pointed
	ackBlueBefore, ackThroughGreen int
	rejectedOnBlue                 int
}

const demoSteps = 11

// run plays the demo and returns its summary; it always releases what it
// started (load, pools, servers), also when ctx is cancelled.
func (d *demo) run(ctx context.Context) demoSummary {
	d.started = time.Now()
	d.sum.Phases = []phaseTiming{}
	defer func() {
		for i := len(d.cleanup) - 1; i >= 0; i-- {
			d.cleanup[i]()
		}
	}()
	fmt.Fprintln(d.out, "switchback demo: a blue/green switchover, then a rollback under load, on two local MariaDB servers")
	if err := d.phases(ctx); err != nil {
		d.sum.Error = err.Error()
	} else {
		d.sum.OK = true
	}
	d.sum.WallMS = time.Since(d.started).Milliseconds()
	return d.sum
}

func (d *demo) phases(ctx context.Context) error {
	for _, p := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"start servers", d.startServers},
		{"seed blue, app writes to blue, switchover", d.switchover},
		{"coordinates event → configure", d.configure},
		{"status under load", d.status},
		{"verify data under load", d.verifyOnline},
		{"rollback under load", d.rollback},
		{"checksums at cutover", d.checksums},
		{"app writes to blue again", d.writeToBlueAgain},
		{"verify zero loss", d.verify},
	} {
		start := time.Now()
		err := p.fn(ctx)
		d.sum.Phases = append(d.sum.Phases, phaseTiming{Name: p.name, MS: time.Since(start).Milliseconds()})
		if ctx.Err() != nil {
			// Ctrl-C: whatever the phase reported is a consequence.
			return fmt.Errorf("interrupted during %s (%v); stopping the servers", p.name, context.Cause(ctx))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// heading prints the next numbered step of the story.
func (d *demo) heading(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n[%d/%d] %s\n", d.step, demoSteps, fmt.Sprintf(format, args...))
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "      "+format+"\n", args...)
}

// printStep prints an engine step as configure does, indented into the story.
func (d *demo) printStep(s replication.Step) {
	var b strings.Builder
	printStep(&b, s)
	fmt.Fprint(d.out, indent(strings.TrimRight(b.String(), "\n"), "    ")+"\n")
}

// onClose registers f to run when the demo ends, last registered first.
func (d *demo) onClose(f func()) { d.cleanup = append(d.cleanup, f) }

// 1. Two servers.
func (d *demo) startServers(ctx context.Context) error {
	d.heading("Starting two MariaDB servers (blue: production today; green: the upgraded copy)")
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{GTID: true, NamePrefix: "switchback-demo"})
	if err != nil {
		return err
	}
	d.blue, d.green = servers[0], servers[1]
	for _, s := range servers {
		d.onClose(func() { _ = s.Close() })
	}
	d.sum.Blue, d.sum.Green = d.blue.Addr(), d.green.Addr()
	if d.blueRoot, err = d.blue.Open(); err != nil {
		return err
	}
	d.onClose(func() { d.blueRoot.Close() })
	if d.greenRoot, err = d.green.Open(); err != nil {
		return err
	}
	d.onClose(func() { d.greenRoot.Close() })
	var version string
	if err := d.blueRoot.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return fmt.Errorf("blue: %w", err)
	}
	d.say("blue   %-16s server_id %d  (old production; becomes %s-old1)", d.blue.Addr(), d.blue.ServerID, demoCluster)
	d.say("green  %-16s server_id %d  (new production after switchover)", d.green.Addr(), d.green.ServerID)
	d.say("MariaDB %s, binlog ROW, GTID domain per server; ready in %s", version, time.Since(d.started).Round(time.Millisecond))
	return nil
}

// 2–4. Seed blue, start the app on blue, switch over, follow to green.
func (d *demo) switchover(ctx context.Context) error {
	d.heading("Seeding schema shop on blue, with an application user '%s'@'%%' (SELECT, INSERT, UPDATE, DELETE on shop.* only)", demoAppUser)
	d.appPassword = rand.Text()
	res := &switchoverResult{SeedRows: map[string]int{}}
	d.sum.Switchover = res
	coords, err := sandbox.SimulateSwitchover(ctx, d.blue, d.green, func(blueDB *sql.DB) error {
		if err := d.seed(ctx, blueDB, res); err != nil {
			return err
		}
		return d.startLoadOnBlue(ctx)
	})
	if err != nil {
		return err
	}
	res.BinlogFile, res.BinlogPosition = coords.File, coords.Position
	// Blue is fenced: every write still in flight there is rejected, so
	// this count is exactly what blue acknowledged.
	d.ackBlueBefore = d.load.Counts().Acknowledged
	d.app.Store(d.appGreen)
	d.appOn = "green"
	d.say("blue fenced read-only; green caught up exactly and was promoted")
	d.say("green's binlog coordinates at switchover: %s:%d", coords.File, coords.Position)
	c := d.load.Counts()
	d.say("the app saw %d read-only rejections (error 1290) on blue during the switchover; it now follows the DNS rename to green", c.Rejected)
	return d.runLoad(ctx, "green")
}

func (d *demo) seed(ctx context.Context, db *sql.DB, res *switchoverResult) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer conn.Close()
	stmts := []string{
		// MariaDB stops recursive CTEs after 1000 iterations by default.
		"SET SESSION max_recursive_iterations = 1000000",
		"CREATE DATABASE shop",
		`CREATE TABLE shop.customers (
  id INT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  email VARCHAR(128) NOT NULL,
  created_at DATETIME NOT NULL
) ENGINE=InnoDB`,
		`CREATE TABLE shop.orders (
  id INT PRIMARY KEY,
  customer_id INT NOT NULL,
  amount_cents INT NOT NULL,
  status VARCHAR(16) NOT NULL,
  KEY (customer_id)
) ENGINE=InnoDB`,
		loadgen.DDL,
		fmt.Sprintf(`INSERT INTO shop.customers (id, name, email, created_at)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d)
SELECT n, CONCAT('customer ', n), CONCAT('customer', n, '@example.com'), TIMESTAMP('2026-01-01') + INTERVAL n MINUTE FROM seq`, demoCustomers),
		fmt.Sprintf(`INSERT INTO shop.orders (id, customer_id, amount_cents, status)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d)
SELECT n, 1 + (n * 7919) MOD %d, 100 + (n * 104729) MOD 50000, ELT(1 + n MOD 3, 'paid', 'shipped', 'delivered') FROM seq`, demoOrders, demoCustomers),
		// rand.Text is base32: safe inside a quoted literal.
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", demoAppUser, d.appPassword),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO '%s'@'%%'", demoAppUser),
	}
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("seed: %s: %w", firstLine(st), err)
		}
	}
	for _, t := range demoTables[:2] {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t).Scan(&n); err != nil {
			return fmt.Errorf("seed: count %s: %w", t, err)
		}
		res.SeedRows[t] = n
	}
	d.say("shop.customers %d rows, shop.orders %d rows, %s (the app's writes)", res.SeedRows["shop.customers"], res.SeedRows["shop.orders"], loadgen.DefaultTable)
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// startLoadOnBlue opens the app's pools and starts the write load on blue;
// it returns once the app has written to blue for the phase time. It runs
// inside SimulateSwitchover, before blue is fenced.
func (d *demo) startLoadOnBlue(ctx context.Context) error {
	var err error
	if d.appBlue, err = openApp(d.blue, d.appPassword); err != nil {
		return err
	}
	d.onClose(func() { d.appBlue.Close() })
	if d.appGreen, err = openApp(d.green, d.appPassword); err != nil {
		return err
	}
	d.onClose(func() { d.appGreen.Close() })
	d.app.Store(d.appBlue)
	d.appOn = "blue"

	d.heading("The application writes to blue as '%s': %d connections, %s", demoAppUser, d.workers, rateText(d.rate))
	d.load = loadgen.Start(ctx, d.app.Load, loadgen.Options{Workers: d.workers, Table: loadgen.DefaultTable, Rate: d.rate})
	d.onClose(func() { d.stopLoad() })
	if err := d.runLoad(ctx, "blue"); err != nil {
		return err
	}
	d.heading("Blue/green switchover: green replicates blue; blue is fenced; green catches up and takes over")
	return nil
}

func openApp(s *sandbox.Server, password string) (*sql.DB, error) {
	db, err := sql.Open("mysql", s.DSN(demoAppUser, password, ""))
	if err != nil {
		return nil, fmt.Errorf("app pool for %s: %w", s.Addr(), err)
	}
	return db, nil
}

func rateText(rate int) string {
	if rate == 0 {
		return "as fast as the server allows"
	}
	return fmt.Sprintf("%d writes/s", rate)
}

func (d *demo) stopLoad() loadgen.Result {
	if d.final == nil {
		r := d.load.Stop()
		d.final = &r
	}
	return *d.final
}

// runLoad lets the app write for the phase time, and at least until it
// has had some writes acknowledged on the current target, printing a
// progress line every half second.
func (d *demo) runLoad(ctx context.Context, on string) error {
	start := time.Now()
	base := d.load.Counts()
	minAcks := d.workers * 10
	return d.waitFor(ctx, 30*time.Second, func() (bool, error) {
		c := d.load.Counts()
		return time.Since(start) >= d.phaseTime && c.Acknowledged-base.Acknowledged >= minAcks, nil
	}, "the app to write to "+on)
}

// waitFor polls cond every 10 ms until it holds, printing load progress
// every 500 ms; it fails after timeout, on cond's error, or when ctx ends.
func (d *demo) waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error), what string) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	lastLine, last := time.Now(), d.load.Counts()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Since(lastLine) >= 500*time.Millisecond {
			c := d.load.Counts()
			rate := float64(c.Acknowledged-last.Acknowledged) / time.Since(lastLine).Seconds()
			d.say("app → %-5s  %6d acknowledged  %5d rejected  %3d failed  (%.0f/s)", d.appOn, c.Acknowledged, c.Rejected, c.Failed, rate)
			lastLine, last = time.Now(), c
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// 5. The coordinates event, through the capture Lambda's code path.
func (d *demo) configure(ctx context.Context) error {
	sw := d.sum.Switchover
	d.heading("RDS reports green's binlog coordinates; the capture path decodes the event and configures reverse replication green → blue")
	event, err := coordinatesEvent(sw.BinlogFile, sw.BinlogPosition, time.Now())
	if err != nil {
		return err
	}
	d.sum.Event = event
	fmt.Fprintf(d.out, "%s\n", indent(string(event), "      "))

	if d.greenEng, err = replication.Connect(ctx, "production", d.green.RootDSN(), replication.DialectAuto); err != nil {
		return err
	}
	d.onClose(func() { d.greenEng.Close() })
	if d.blueEng, err = replication.Connect(ctx, "rollback target", d.blue.RootDSN(), replication.DialectAuto); err != nil {
		return err
	}
	d.onClose(func() { d.blueEng.Close() })
	d.say("production %s (%s) → rollback target %s (%s)", d.greenEng.Addr, d.greenEng.Dialect, d.blueEng.Addr, d.blueEng.Dialect)
	res, err := capture.ConfigureFromEvent(ctx, event, capture.Target{
		Sources: []string{demoCluster},
		Configure: replication.ConfigureRequest{
			Production: d.greenEng,
			Rollback:   d.blueEng,
			OnStep:     d.printStep,
		},
	})
	if res.Configure != nil {
		d.sum.Configure = res.Configure
	}
	if err != nil {
		return err
	}
	d.say("decoded %s: file %s, position %d → configure outcome: %s", res.Fact.Kind, res.Fact.BinlogFile, res.Fact.BinlogPosition, res.Configure.Outcome)
	return nil
}

// coordinatesEvent builds the EventBridge event RDS sends after a
// switchover, in the shape of events/cluster-binlog-coordinates.json.
func coordinatesEvent(file string, pos uint64, at time.Time) (json.RawMessage, error) {
	at = at.UTC()
	arn := "arn:aws:rds:us-east-1:123456789012:cluster:" + demoCluster
	detail, err := json.Marshal(rdsevent.Detail{
		EventCategories:  []string{"notification"},
		SourceType:       "CLUSTER",
		SourceArn:        arn,
		Date:             at.Format("2006-01-02T15:04:05.000Z"),
		Message:          fmt.Sprintf("%s: file %s and position %d", rdsevent.BinlogCoordinatesPrefix, file, pos),
		SourceIdentifier: demoCluster,
		Tags:             map[string]string{"environment": "demo"},
	})
	if err != nil {
		return nil, fmt.Errorf("build event detail: %w", err)
	}
	var u [16]byte
	_, _ = rand.Read(u[:])                      // never fails (crypto/rand)
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80 // UUID version 4, as EventBridge ids
	ev := events.CloudWatchEvent{
		Version:    "0",
		ID:         fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]),
		DetailType: rdsevent.DetailTypeCluster,
		Source:     rdsevent.Source,
		AccountID:  "123456789012",
		Time:       at.Truncate(time.Second),
		Region:     "us-east-1",
		Resources:  []string{arn},
		Detail:     detail,
	}
	out, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return out, nil
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// 6. Status, twice, while the app writes to green.
func (d *demo) status(ctx context.Context) error {
	d.heading("Is rollback possible? Status while the app writes to green")
	for i := range 2 {
		if i > 0 {
			if err := d.runLoad(ctx, "green"); err != nil {
				return err
			}
		}
		obs, err := replication.Observe(ctx, replication.ObserveRequest{Production: d.greenEng, Rollback: d.blueEng,
			PredictionWindow: replication.DefaultPredictionWindow})
		if err != nil {
			return err
		}
		d.sum.Status = append(d.sum.Status, statusSample{
			Ready: obs.Ready, Reasons: obs.Reasons,
			SecondsBehind: obs.SecondsBehind, ProbeLagMS: obs.ProbeLagMS, BytesBehind: obs.BytesBehind,
		})
		var b strings.Builder
		writeObservation(&b, d.greenEng.Addr, d.blueEng.Addr, obs)
		fmt.Fprint(d.out, indent(strings.TrimRight(b.String(), "\n"), "      ")+"\n")
	}
	if last := d.sum.Status[len(d.sum.Status)-1]; !last.Ready {
		return fmt.Errorf("rollback is not possible: %s", strings.Join(last.Reasons, "; "))
	}
	return nil
}

// 6b. switchback verify while the app writes to green: blue holds green's
// data, chunk by chunk at the same point on both.
func (d *demo) verifyOnline(ctx context.Context) error {
	d.heading("Does blue hold green's data? switchback verify, online, while the app writes to green")
	rep, err := verify.Run(ctx, verify.Request{Production: d.greenEng, Rollback: d.blueEng, ChunkRows: 500})
	d.sum.Verify = rep
	if rep != nil {
		var b strings.Builder
		writeVerifyReport(&b, rep)
		fmt.Fprint(d.out, indent(strings.TrimRight(b.String(), "\n"), "      ")+"\n")
	}
	if err != nil {
		return err
	}
	if rep.Outcome != verify.OutcomeEqual {
		return fmt.Errorf("verify: %s: %s", rep.Outcome, rep.Reason)
	}
	return nil
}

// 7. The rollback, under load.
func (d *demo) rollback(ctx context.Context) error {
	d.heading("Rollback under load: fence green, wait for blue to catch up exactly, promote blue")
	// Green is writable until the fence, so every rejection so far was blue's.
	d.rejectedOnBlue = d.load.Counts().Rejected
	d.sum.Switchover.RejectedOnBlue = d.rejectedOnBlue
	rep, err := replication.Rollback(ctx, replication.RollbackRequest{
		Production: d.greenEng,
		Rollback:   d.blueEng,
		Execute:    true,
		OnStep:     d.printStep,
		OnProgress: func(line string) { d.say("… %s", line) },
	})
	d.sum.Rollback = &rep
	if err != nil {
		return fmt.Errorf("outcome %s: %w", rep.Outcome, err)
	}
	if rep.Outcome != replication.OutcomeCompleted {
		return fmt.Errorf("outcome %s, not %s: %s", rep.Outcome, replication.OutcomeCompleted, rep.Reason)
	}
	// Green is fenced: writes in flight there are rejected, so this count
	// is exactly what blue (before) and green acknowledged.
	d.ackThroughGreen = d.load.Counts().Acknowledged
	d.say("completed: writes were unavailable for %d ms; green frozen at %s; blue writable at %s",
		rep.WriteUnavailableMS, rep.ProductionPosition, rep.RollbackPosition)
	return nil
}

// 8a. Checksums at the cutover: green is frozen, and blue must hold
// exactly green's data before the app writes to it again.
func (d *demo) checksums(ctx context.Context) error {
	d.heading("Verifying the cutover: row counts and CHECKSUM TABLE on green (frozen) and blue, before the app moves")
	res := &checksumResult{}
	d.sum.Checksums = res
	var err error
	if res.Green, err = loadgen.Checksum(ctx, d.greenRoot, demoTables); err != nil {
		return fmt.Errorf("green: %w", err)
	}
	if res.Blue, err = loadgen.Checksum(ctx, d.blueRoot, demoTables); err != nil {
		return fmt.Errorf("blue: %w", err)
	}
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "      table\tgreen rows\tgreen checksum\tblue rows\tblue checksum\t\n")
	for i, g := range res.Green {
		b := res.Blue[i]
		mark := "equal"
		if g != b {
			mark = "DIFFERENT"
		}
		fmt.Fprintf(tw, "      %s\t%d\t%d\t%d\t%d\t%s\n", g.Table, g.Rows, g.Checksum, b.Rows, b.Checksum, mark)
	}
	tw.Flush()
	if err := loadgen.CompareChecksums(res.Green, res.Blue); err != nil {
		res.Difference = err.Error()
		return err
	}
	res.Equal = true
	return nil
}

// 8b. The app follows to blue, writes a while longer, and stops.
func (d *demo) writeToBlueAgain(ctx context.Context) error {
	d.heading("The application follows to blue, now production again, and keeps writing")
	d.app.Store(d.appBlue)
	d.appOn = "blue"
	if err := d.runLoad(ctx, "blue"); err != nil {
		return err
	}
	r := d.stopLoad()
	c := r.Counts()
	w := &writesResult{
		Workers: d.workers, TargetRate: d.rate,
		Acknowledged: c.Acknowledged, Rejected: c.Rejected, Failed: c.Failed,
		AcknowledgedPS: r.Rate(), DurationMS: r.Duration.Milliseconds(),
		OnBlueBefore:   d.ackBlueBefore,
		OnGreen:        d.ackThroughGreen - d.ackBlueBefore,
		OnBlueAfter:    c.Acknowledged - d.ackThroughGreen,
		RejectedOnBlue: d.rejectedOnBlue, RejectedOnGreen: c.Rejected - d.rejectedOnBlue,
		FailedSample: r.Failed[:min(len(r.Failed), 5)],
	}
	d.sum.Writes = w
	d.say("load stopped: %s", r)
	for _, f := range w.FailedSample {
		d.say("ambiguous write id %d: %s", f.ID, f.Message)
	}
	return nil
}

// 9. Zero loss on blue, the final production.
func (d *demo) verify(ctx context.Context) error {
	d.heading("Zero-loss check on blue: every acknowledged write present, no rejected write present")
	v, err := loadgen.Verify(ctx, d.blueRoot, loadgen.DefaultTable, *d.final)
	d.sum.Verification = &verifyResult{
		Server: "blue", Table: v.Table, Rows: v.Rows,
		Acknowledged: v.Acknowledged, Present: v.Present, Missing: len(v.Missing), MissingIDs: v.Missing[:min(len(v.Missing), 10)],
		Rejected: v.Rejected, RejectedPresent: len(v.Unexpected), FailedPresent: v.FailedPresent,
	}
	if err != nil {
		return err
	}
	d.say("%d of %d acknowledged writes present on blue; %d rejected writes absent; %d rows in %s",
		v.Present, v.Acknowledged, v.Rejected, v.Rows, v.Table)
	return nil
}

// writeDemoSummary prints the summary table of a demo run.
func writeDemoSummary(w io.Writer, s demoSummary) {
	yes := map[bool]string{true: "yes", false: "NO"}
	fmt.Fprintln(w, "\nSummary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  phase\ttime\t\n")
	for _, p := range s.Phases {
		fmt.Fprintf(tw, "  %s\t%s\t\n", p.Name, formatMS(p.MS))
	}
	if r := s.Rollback; r != nil {
		fmt.Fprintf(tw, "  rollback: %s\t\t\n", r.Outcome)
		for _, st := range r.Steps {
			fmt.Fprintf(tw, "    %s\t%d ms\t%s\n", st.Name, st.MS, st.Outcome)
		}
		fmt.Fprintf(tw, "  write downtime (production fenced → blue writable)\t%d ms\t\n", r.WriteUnavailableMS)
	}
	if wr := s.Writes; wr != nil {
		fmt.Fprintf(tw, "  writes acknowledged\t%d\tblue %d, green %d, blue after rollback %d; %.0f/s on %d connections\n",
			wr.Acknowledged, wr.OnBlueBefore, wr.OnGreen, wr.OnBlueAfter, wr.AcknowledgedPS, wr.Workers)
		fmt.Fprintf(tw, "  writes rejected (read-only)\t%d\tblue at switchover %d, green at rollback %d\n", wr.Rejected, wr.RejectedOnBlue, wr.RejectedOnGreen)
		fmt.Fprintf(tw, "  writes failed (ambiguous)\t%d\t\n", wr.Failed)
	}
	if v := s.Verification; v != nil {
		fmt.Fprintf(tw, "  rows verified on blue\t%d\tof %d acknowledged; %d missing; %d rejected present\n", v.Present, v.Acknowledged, v.Missing, v.RejectedPresent)
	}
	if c := s.Checksums; c != nil {
		fmt.Fprintf(tw, "  checksums equal at cutover\t%s\t%d tables, green vs blue\n", yes[c.Equal], len(c.Green))
	}
	if v := s.Verify; v != nil {
		fmt.Fprintf(tw, "  verify under load\t%s\t%d rows in %d chunks; green's tables locked at most %.1f ms each time\n", v.Outcome, v.Rows, v.Chunks, v.MaxLockMS)
	}
	fmt.Fprintf(tw, "  wall time\t%s\t\n", formatMS(s.WallMS))
	tw.Flush()
	if s.OK {
		fmt.Fprintln(w, "\nPASS: rolled back under load with zero acknowledged writes lost")
		return
	}
	fmt.Fprintf(w, "\nFAIL: %s\n", s.Error)
}
