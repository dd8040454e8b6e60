//go:build integration

package functions_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/eventchaos"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// Event chaos through the real functions (RELIABILITY.md, reliability/events.md).
//
// Each sequence of shared/eventchaos (a deployment's RDS events and others,
// dropped, duplicated and reordered by EventBridge; the reconcile schedule
// firing at random points; Lambda running configure's asynchronous
// invocations late, twice, twice at once, or never) is delivered to the
// real capture, reconcile and configure bootstraps through local Lambda
// Runtime APIs, with the state in a fresh dynalite table, RDS, SNS and
// Lambda served by fresh wire fakes, and one pair of real MariaDB servers
// reset between sequences. After the sequence the system settles as time
// would settle it (pending invocations run, the records age past the stall
// limit, the schedule fires), and the end state is checked: exactly one
// configuration from the deployment's coordinates, or — only when RDS never
// wrote the coordinates — needs-attention with on-call told once.

// chaosStall is the stall limit the functions run with (minutes); settling
// ages the records past it.
const chaosStall = 15

// The names of the world the events speak of (awstest's deployment, and a
// second deployment whose clusters are not opted in).
var chaosNames = eventchaos.World{
	Account: "123456789012", Region: "us-east-1",
	Deployment: awstest.DeploymentID, Production: awstest.ProdID, Green: "orders-prod-green-3rnukl", Old: awstest.OldID,
	GreenWriter:     awstest.GreenWriter,
	OtherDeployment: "bgd-0th3rd3pl0ym3ntx", OtherProduction: "billing-prod", OtherGreen: "billing-prod-green-7xk2qa", OtherOld: "billing-prod-old1",
	UnknownDeploymentID: "bgd-g0n3g0n3g0n3g0n3",
}

// chaosHarness is the machinery shared by every sequence: one world (its
// MariaDB pair, Secrets Manager and dynalite), the built bootstraps.
type chaosHarness struct {
	t                             *testing.T
	w                             *awstest.World
	capture, reconcile, configure string // bootstrap binaries
	dynamo                        *dynamodb.Client
	blueDB, greenDB               *sql.DB
	expireSeconds                 string // green's binlog_expire_logs_seconds, restored by reset
	parallelThreads, parallelMode string // blue's, restored by reset
	rounds                        int
	figures                       chaosFigures
	setupTime                     time.Duration
}

// chaosFigures add up what the sequences did.
type chaosFigures struct {
	Sequences, Configured, NeedsAttention              int
	Events, Deliveries, Duplicates, Drops              int
	Reconciles, ConfigureInvocations, ConfigureRuns    int
	InvocationsDropped, ConcurrentRuns, Configurations int
	Elapsed                                            time.Duration
}

func (f chaosFigures) String() string {
	return fmt.Sprintf("sequences %d (configured %d, needs-attention %d), events %d, deliveries %d, duplicates %d, drops %d, reconciler runs %d, configure invocations %d (dropped %d), configure runs %d (%d concurrent), configurations %d, %v (%v a sequence)",
		f.Sequences, f.Configured, f.NeedsAttention, f.Events, f.Deliveries, f.Duplicates, f.Drops, f.Reconciles,
		f.ConfigureInvocations, f.InvocationsDropped, f.ConfigureRuns, f.ConcurrentRuns, f.Configurations,
		f.Elapsed.Round(time.Millisecond), (f.Elapsed / time.Duration(max(f.Sequences, 1))).Round(time.Millisecond))
}

func newChaosHarness(t *testing.T) *chaosHarness {
	t.Helper()
	start := time.Now()
	h := &chaosHarness{t: t, w: awstest.New(t)}
	h.capture, h.reconcile, h.configure = lambdatest.Build(t, "./capture"), lambdatest.Build(t, "./reconcile"), lambdatest.Build(t, "./configure")
	h.dynamo = dynalitetest.NewClient(h.w.DynamoEndpoint)
	var err error
	if h.blueDB, err = h.w.Blue.Open(); err != nil {
		t.Fatal(err)
	}
	if h.greenDB, err = h.w.Green.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.blueDB.Close(); h.greenDB.Close() })
	if err := h.greenDB.QueryRow("SELECT @@global.binlog_expire_logs_seconds").Scan(&h.expireSeconds); err != nil {
		t.Fatal(err)
	}
	if err := h.blueDB.QueryRow("SELECT @@global.slave_parallel_threads, @@global.slave_parallel_mode").Scan(&h.parallelThreads, &h.parallelMode); err != nil {
		t.Fatal(err)
	}
	h.setupTime = time.Since(start)
	return h
}

// reset puts the pair back as the switchover left it: the old cluster
// (blue) fenced by RDS, replicating from nothing, without switchback's
// schema, user or parallel-apply settings; production (green) without
// them either and with its original binlog retention. It returns green's
// binlog coordinates: the switchover point of the next sequence.
func (h *chaosHarness) reset(t *testing.T) eventchaos.Coordinates {
	t.Helper()
	ctx := t.Context()
	green := chaosMasterStatus(t, h.greenDB)
	var configured bool
	rows, err := h.blueDB.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	configured = rows.Next()
	rows.Close()
	if configured {
		// Let blue apply what production wrote, so that the pair holds
		// the same data at the next switchover point.
		var waited sql.NullInt64
		if err := h.blueDB.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, 20)", green.File, green.Position).Scan(&waited); err != nil || !waited.Valid || waited.Int64 < 0 {
			t.Fatalf("reset: blue did not catch up with %s:%d (%v, %v)", green.File, green.Position, waited, err)
		}
	}
	exec := func(db *sql.DB, stmts ...string) {
		t.Helper()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range stmts {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("reset: %s: %v", q, err)
			}
		}
	}
	if configured {
		exec(h.blueDB, "STOP SLAVE", "RESET SLAVE ALL")
	}
	exec(h.blueDB, "SET sql_log_bin = 0", "DROP DATABASE IF EXISTS switchback", "DROP USER IF EXISTS 'switchback_repl'@'%'",
		"SET GLOBAL slave_parallel_threads = "+h.parallelThreads, "SET GLOBAL slave_parallel_mode = '"+h.parallelMode+"'",
		"SET GLOBAL read_only = 1", "SET sql_log_bin = 1")
	// (sql_log_bin back on: the session returns to the pool.)
	exec(h.greenDB, "SET sql_log_bin = 0", "DROP DATABASE IF EXISTS switchback", "DROP USER IF EXISTS 'switchback_repl'@'%'",
		"SET GLOBAL binlog_expire_logs_seconds = "+h.expireSeconds, "SET GLOBAL read_only = 0", "SET sql_log_bin = 1")
	return chaosMasterStatus(t, h.greenDB)
}

func chaosMasterStatus(t *testing.T, db *sql.DB) eventchaos.Coordinates {
	t.Helper()
	var c eventchaos.Coordinates
	var doDB, ignoreDB sql.NullString
	if err := db.QueryRowContext(t.Context(), "SHOW MASTER STATUS").Scan(&c.File, &c.Position, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}
	return c
}

// chaosRound is one sequence (or race) against fresh fakes and a fresh
// table, with its own function processes.
type chaosRound struct {
	h       *chaosHarness
	t       *testing.T
	seq     eventchaos.Sequence
	n       int // the round's number: table name, marker rows
	started time.Time

	rds    *awsfake.RDS
	lambda *awsfake.Lambda
	sns    *awsfake.SNS
	store  *dynamostate.Store
	table  string
	coords eventchaos.Coordinates
	tl     eventchaos.Timeline

	capture, capture2, reconcile, configure, configure2 *lambdatest.Function

	completed bool
	invoked   int                            // configure invocations taken from the Lambda API
	outcomes  []orchestrate.ConfigureOutcome // every configure run's answer
	log       []string                       // what happened, for failure messages

	// Configure runs going on while the sequence goes on (FateBackground),
	// and whether a delivery happened meanwhile.
	background []chan backgroundRun
	overlap    bool

	// What the history must hold, from what was delivered: switchover
	// lines between switchoverLines and switchoverMax (a delivery made
	// while a background configure deleted the deployment may or may not
	// have found it).
	switchoverLines, switchoverMax, coordinatesLines, reconcileLines int
	lateCoordinates                                                  int // coordinates delivered after the deployment was deleted
	deliveries, reconciles, dropped, concurrent                      int
}

// newRound resets the pair and starts everything the round needs.
func (h *chaosHarness) newRound(t *testing.T, seq eventchaos.Sequence, extraCapture bool) *chaosRound {
	t.Helper()
	h.rounds++
	r := &chaosRound{h: h, t: t, seq: seq, n: h.rounds, started: time.Now()}
	r.coords = h.reset(t)
	now := time.Now()
	r.tl = eventchaos.Timeline{Created: now.Add(-2 * time.Hour), Switchover: now.Add(-50 * time.Minute)}
	// A write on production after the switchover point: replication from
	// the right coordinates brings it to the old cluster.
	if _, err := h.greenDB.ExecContext(t.Context(), "INSERT INTO shop.orders VALUES (?, ?)", r.marker(1), fmt.Sprintf("round %d after switchover", r.n)); err != nil {
		t.Fatal(err)
	}

	r.rds = awsfake.StartRDS(t)
	r.rds.AddParameterGroup(awstest.OldGroup, map[string]string{"read_only": "0"})
	r.rds.DefineParameters(awstest.OldGroup, awstest.Aurora2ParallelParameters...)
	r.rds.AddParameterGroup(awstest.ProdGroup, map[string]string{"read_only": "0"})
	r.rds.OnModifyDBClusterParameterGroup = func(group string, params []awsfake.RDSParameter) error {
		db := map[string]*sql.DB{awstest.OldGroup: h.blueDB, awstest.ProdGroup: h.greenDB}[group]
		if db == nil {
			return fmt.Errorf("parameter group %s is neither cluster's", group)
		}
		for _, p := range params {
			if p.ApplyMethod != "immediate" {
				continue
			}
			var err error
			switch p.Name {
			case "read_only":
				_, err = db.Exec("SET GLOBAL read_only = " + p.Value)
			case "slave_parallel_workers":
				_, err = db.Exec("SET GLOBAL slave_parallel_threads = " + p.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range []string{awstest.ProdID, awstest.OldID} {
		c, ok := h.w.RDS.Cluster(id)
		if !ok {
			t.Fatalf("the world has no cluster %s", id)
		}
		r.rds.AddCluster(c)
	}
	d := h.w.Deployment
	d.CreateTime, d.Status = r.tl.Created, "SWITCHOVER_IN_PROGRESS"
	r.rds.AddDeployment(d)
	// Another deployment, switched over earlier, of clusters that are not
	// opted in (no switchback:enabled tag).
	for _, c := range []awsfake.RDSCluster{
		{ID: chaosNames.OtherProduction, Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0", Endpoint: "127.0.0.1", Port: 1,
			ParameterGroup: "billing-prod-params", Tags: map[string]string{"team": "billing"},
			Members: []awsfake.RDSClusterMember{{Instance: "billing-prod-instance-1", Writer: true}}},
		{ID: chaosNames.OtherOld, Engine: "aurora-mysql", EngineVersion: "5.7.mysql_aurora.2.12.1", Endpoint: "127.0.0.1", Port: 1,
			ParameterGroup: "billing-prod-old1-params", Tags: map[string]string{"team": "billing"},
			Members: []awsfake.RDSClusterMember{{Instance: "billing-prod-instance-1-old1", Writer: true}}},
	} {
		r.rds.AddCluster(c)
	}
	r.rds.AddDeployment(awsfake.RDSDeployment{ID: chaosNames.OtherDeployment, Name: "billing-upgrade",
		Source: awstest.AccountPrefix + "cluster:" + chaosNames.OtherOld, Target: awstest.AccountPrefix + "cluster:" + chaosNames.OtherProduction,
		Status: orchestrate.StatusSwitchoverCompleted, CreateTime: now.Add(-5 * time.Hour)})
	// What RDS has written so far: every event of the sequence emitted
	// before the switchover completes, delivered or not.
	for _, e := range seq.Events {
		if !e.Kind.AtCompletion() {
			r.addRDSEvent(e.Kind)
		}
	}

	r.lambda = awsfake.StartLambda(t)
	r.lambda.AddFunction(awstest.ConfigureFn)
	r.sns = awsfake.StartSNS(t)
	r.sns.AddTopic(awstest.TopicARN)
	r.table = fmt.Sprintf("switchback-chaos-%03d", r.n)
	if err := dynamostate.CreateTable(t.Context(), h.dynamo, r.table); err != nil {
		t.Fatal(err)
	}
	r.store = dynamostate.New(h.dynamo, r.table)

	env := append(h.w.Env(), r.rds.EndpointEnv(), r.sns.EndpointEnv(), r.lambda.EndpointEnv(),
		"SWITCHBACK_TABLE="+r.table, fmt.Sprintf("SWITCHBACK_STALL_MINUTES=%d", chaosStall))
	start := func(bin, name string) *lambdatest.Function {
		return lambdatest.Start(t, bin, append(slices.Clip(env), "AWS_LAMBDA_FUNCTION_NAME=switchback-"+name))
	}
	r.capture, r.reconcile = start(h.capture, "capture"), start(h.reconcile, "reconcile")
	r.configure, r.configure2 = start(h.configure, "configure"), start(h.configure, "configure")
	if extraCapture {
		r.capture2 = start(h.capture, "capture")
	}
	return r
}

// marker is the id of the round's i-th row on production.
func (r *chaosRound) marker(i int) int { return 100000 + 100*r.n + i }

func (r *chaosRound) render(k eventchaos.EventKind) eventchaos.Rendered {
	return eventchaos.Render(k, chaosNames, r.tl, r.coords)
}

func (r *chaosRound) addRDSEvent(k eventchaos.EventKind) {
	ren := r.render(k)
	r.rds.AddEvent(awsfake.RDSEvent{SourceID: ren.SourceID, SourceType: ren.SourceType, Message: ren.Message,
		Categories: ren.Categories, Date: ren.Date,
		SourceArn: fmt.Sprintf("arn:aws:rds:us-east-1:123456789012:%s:%s", map[string]string{"db-cluster": "cluster", "db-instance": "db", "blue-green-deployment": "deployment"}[ren.SourceType], ren.SourceID)})
}

func (r *chaosRound) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\n\nsequence: %s\nwhat happened:\n  %s", fmt.Sprintf(format, args...), r.seq, strings.Join(r.log, "\n  "))
}

func (r *chaosRound) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf("%6dms ", time.Since(r.started).Milliseconds())+fmt.Sprintf(format, args...))
}

// complete is RDS completing the switchover.
func (r *chaosRound) complete() {
	d := r.h.w.Deployment
	d.CreateTime, d.Status = r.tl.Created, orchestrate.StatusSwitchoverCompleted
	r.rds.AddDeployment(d)
	for _, k := range []eventchaos.EventKind{eventchaos.ClusterSwitchoverCompleted, eventchaos.SwitchoverCompleted} {
		r.addRDSEvent(k)
	}
	r.completed = true
	r.logf("RDS: switchover completed")
}

// deliver is EventBridge delivering one event to capture (fn: capture or
// capture2).
func (r *chaosRound) deliver(fn *lambdatest.Function, k eventchaos.EventKind) {
	listed := r.listed()
	res, err := fn.Invoke(r.render(k).JSON)
	r.overlap = r.overlap || len(r.background) > 0
	r.delivered(fn, k, listed, r.listed(), res, err)
}

// listed reports whether RDS lists the deployment as switched over.
func (r *chaosRound) listed() bool { return r.completed && r.rds.HasDeployment(awstest.DeploymentID) }

// delivered checks what capture made of event k (listed: RDS listed the
// deployment as switched over when the delivery started; listedAfter: when
// it ended) and counts the history lines it must have written.
func (r *chaosRound) delivered(fn *lambdatest.Function, k eventchaos.EventKind, listed, listedAfter bool, res lambdatest.Result, err error) {
	if err != nil || res.Error != nil {
		r.fatalf("capture of %s: %v %+v\n%s", k, err, res.Error, fn.Output())
	}
	var out orchestrate.CaptureResult
	if err := json.Unmarshal(res.Response, &out); err != nil {
		r.fatalf("capture of %s answered %s: %v", k, res.Response, err)
	}
	r.deliveries++
	r.logf("deliver %-34s → capture: %s %s %s", k, out.Action, out.Deployment, chaosClip(out.Reason))
	unmatched := strings.HasPrefix(out.Deployment, "unmatched:")
	switch {
	case out.Action == "needs-attention":
		r.fatalf("capture of %s: needs-attention", k)
	case k.Switchover():
		if out.Deployment != awstest.DeploymentID || (out.Action != "recorded" && out.Action != "configure-invoked") {
			r.fatalf("capture of %s: %+v; want it recorded for %s", k, out, awstest.DeploymentID)
		}
		if listed && listedAfter {
			r.switchoverLines++
		}
		if listed || listedAfter {
			r.switchoverMax++
		}
	case k.Coordinates():
		// Recorded for the deployment while RDS lists it (or while its
		// record still waits for a configure run that deleted it); kept
		// as unmatched while no switched-over deployment claims them.
		switch {
		case r.completed && out.Deployment == awstest.DeploymentID && (out.Action == "recorded" || out.Action == "configure-invoked"):
			r.coordinatesLines++
		case !(listed && listedAfter) && unmatched && out.Action == "recorded":
			if r.completed {
				r.lateCoordinates++
			}
		default:
			r.fatalf("capture of %s (deployment listed as completed: %v): %+v", k, listed, out)
		}
	case k == eventchaos.EarlierCoordinates:
		// Before the switchover completed (or after the deployment was
		// deleted) no deployment claims them: kept as unmatched, never
		// adopted; otherwise they are older than the deployment.
		if !(unmatched && out.Action == "recorded") && !(out.Action == "ignored" && strings.Contains(out.Reason, "older than deployment")) {
			r.fatalf("capture of an earlier switchover's coordinates: %+v", out)
		}
	default:
		if out.Action != "ignored" || out.Reason == "" || (out.Deployment != "" && out.Deployment != chaosNames.OtherDeployment) {
			r.fatalf("capture of %s: %+v; want it ignored with a reason", k, out)
		}
	}
}

func chaosClip(s string) string {
	if len(s) > 90 {
		return s[:90] + "…"
	}
	return s
}

var chaosSchedule = []byte(`{"version":"0","id":"chaos-schedule","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-03-10T09:05:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/Switchback-ReconcileSchedule"],"detail":{}}`)

// reconcileRun is the reconcile schedule firing.
func (r *chaosRound) reconcileRun() orchestrate.ReconcileReport {
	res, err := r.reconcile.Invoke(chaosSchedule)
	return r.reconciled(res, err)
}

// reconciled checks a reconcile run's answer and counts the history lines
// it must have written.
func (r *chaosRound) reconciled(res lambdatest.Result, err error) orchestrate.ReconcileReport {
	if err != nil || res.Error != nil {
		r.fatalf("reconcile: %v %+v\n%s", err, res.Error, r.reconcile.Output())
	}
	var rep orchestrate.ReconcileReport
	if err := json.Unmarshal(res.Response, &rep); err != nil || len(rep.Errors) > 0 {
		r.fatalf("reconcile answered %s (%v)", res.Response, err)
	}
	r.reconciles++
	for _, it := range rep.Items {
		if it.Deployment != awstest.DeploymentID {
			r.fatalf("reconcile acted on %s: %+v", it.Deployment, it)
		}
		if !r.completed {
			r.fatalf("reconcile acted on the deployment before its switchover completed: %+v", it)
		}
		// Every item reconcile reports wrote its "reconcile" line (recovered
		// or resumed, whatever happened next).
		r.reconcileLines++
	}
	r.logf("reconcile → %+v", rep.Items)
	return rep
}

// How runConfigure treats the invocations: as their fates say, the same
// but never dropping one, or each run once.
const (
	withFates = iota
	withFatesNoDrop
	runOnce
)

// runConfigure is Lambda running the configure invocations made since the
// last run, each by its fate (mode).
func (r *chaosRound) runConfigure(mode int) {
	calls := r.lambda.Calls(awstest.ConfigureFn)
	for ; r.invoked < len(calls); r.invoked++ {
		c := calls[r.invoked]
		if c.InvocationType != "Event" || c.Status/100 != 2 {
			r.fatalf("configure invoked with type %q (status %d); want an asynchronous invocation", c.InvocationType, c.Status)
		}
		var req orchestrate.ConfigureRequest
		if err := json.Unmarshal(c.Payload, &req); err != nil || req.Deployment != awstest.DeploymentID {
			r.fatalf("configure invoked with %s (%v)", c.Payload, err)
		}
		fate := eventchaos.FateRun
		if mode != runOnce {
			fate = r.seq.Fate(r.invoked)
		}
		if fate == eventchaos.FateDrop && mode == withFatesNoDrop {
			fate = eventchaos.FateRun
		}
		switch fate {
		case eventchaos.FateRun:
			r.configureRun(r.configure, c.Payload)
		case eventchaos.FateDuplicate:
			r.configureRun(r.configure, c.Payload)
			r.configureRun(r.configure, c.Payload)
		case eventchaos.FateConcurrent:
			r.configureConcurrently(c.Payload)
		case eventchaos.FateBackground:
			done := make(chan backgroundRun, 1)
			payload := c.Payload
			go func() {
				out, err := r.configureInvoke(r.configure2, payload)
				done <- backgroundRun{out, err}
			}()
			r.background = append(r.background, done)
			r.logf("Lambda: configure invocation %d runs while the sequence goes on", r.invoked)
		case eventchaos.FateDrop:
			r.dropped++
			r.logf("Lambda: configure invocation %d dropped", r.invoked)
		}
	}
}

// backgroundRun is a background configure run's answer.
type backgroundRun struct {
	out orchestrate.ConfigureOutcome
	err error
}

// joinBackground waits for the background configure runs.
func (r *chaosRound) joinBackground() {
	for _, done := range r.background {
		b := <-done
		if b.err != nil {
			r.fatalf("%v", b.err)
		}
		r.outcomes = append(r.outcomes, b.out)
		r.logf("background configure → %s %s", b.out.Outcome, chaosClip(b.out.Reason))
	}
	r.background = nil
}

// configureRun runs one configure invocation and checks its answer.
func (r *chaosRound) configureRun(fn *lambdatest.Function, payload []byte) orchestrate.ConfigureOutcome {
	out, err := r.configureInvoke(fn, payload)
	if err != nil {
		r.fatalf("%v", err)
	}
	r.outcomes = append(r.outcomes, out)
	r.logf("configure → %s %s", out.Outcome, chaosClip(out.Reason))
	return out
}

func (r *chaosRound) configureInvoke(fn *lambdatest.Function, payload []byte) (orchestrate.ConfigureOutcome, error) {
	var out orchestrate.ConfigureOutcome
	res, err := fn.Invoke(payload)
	if err != nil || res.Error != nil {
		return out, fmt.Errorf("configure: %v %+v\n%s", err, res.Error, fn.Output())
	}
	if err := json.Unmarshal(res.Response, &out); err != nil {
		return out, fmt.Errorf("configure answered %s: %v", res.Response, err)
	}
	switch out.Outcome {
	case "configured", "unchanged", "skipped", "needs-attention":
	default:
		return out, fmt.Errorf("configure answered %s", res.Response)
	}
	return out, nil
}

// configureConcurrently runs the same invocation on two configure
// processes at once (Lambda delivering an async invocation twice).
func (r *chaosRound) configureConcurrently(payload []byte) {
	outs := make([]orchestrate.ConfigureOutcome, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, fn := range []*lambdatest.Function{r.configure, r.configure2} {
		wg.Go(func() { outs[i], errs[i] = r.configureInvoke(fn, payload) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			r.fatalf("%v", err)
		}
	}
	r.concurrent += 2
	r.outcomes = append(r.outcomes, outs...)
	r.logf("configure ×2 at once → %s (%s) and %s (%s)", outs[0].Outcome, chaosClip(outs[0].Reason), outs[1].Outcome, chaosClip(outs[1].Reason))
}

// age makes every record look as it will once the stall limit has passed
// (the functions read the real clock): what the reconcile schedule finds a
// quarter of an hour later.
func (r *chaosRound) age() {
	recs, err := r.store.List(r.t.Context())
	if err != nil {
		r.fatalf("list records: %v", err)
	}
	for _, rec := range recs {
		rec.UpdatedAt = rec.UpdatedAt.Add(-(chaosStall + 1) * time.Minute)
		if _, err := r.store.Update(r.t.Context(), rec); err != nil {
			r.fatalf("age record %s: %v", rec.Deployment, err)
		}
	}
	r.logf("%d minutes pass", chaosStall+1)
}

// run plays the sequence, then lets the system settle.
func (r *chaosRound) run() {
	for _, st := range r.seq.Steps {
		switch st.Kind {
		case eventchaos.Deliver:
			r.deliver(r.capture, r.seq.Events[st.Event].Kind)
		case eventchaos.Reconcile:
			r.reconcileRun()
		case eventchaos.Complete:
			r.complete()
		case eventchaos.RunConfigure:
			r.runConfigure(withFates)
		}
	}
	r.settle()
}

// settle is what time does after the sequence: Lambda runs what is
// pending; the records stall; the schedule fires and its invocations run;
// then the schedule finds nothing more to do.
func (r *chaosRound) settle() {
	r.runConfigure(withFates)
	r.joinBackground()
	r.age()
	r.reconcileRun()
	r.runConfigure(withFatesNoDrop)
	r.joinBackground()
	calls := len(r.lambda.Calls(awstest.ConfigureFn))
	if rep := r.reconcileRun(); len(rep.Items) != 0 {
		r.fatalf("the schedule, once settled, still acts: %+v", rep.Items)
	}
	if n := len(r.lambda.Calls(awstest.ConfigureFn)); n != calls {
		r.fatalf("the schedule, once settled, invoked configure again (%d invocations, then %d)", calls, n)
	}
}

// history returns the deployment's history and a readable form of it.
func (r *chaosRound) history() ([]orchestrate.HistoryEntry, string) {
	hist, err := r.store.History(r.t.Context(), awstest.DeploymentID)
	if err != nil {
		r.fatalf("history: %v", err)
	}
	var b strings.Builder
	for _, e := range hist {
		fmt.Fprintf(&b, "\n  %-28s %-40s %-12s %s", e.Actor, e.Step, e.Outcome, chaosClip(e.Detail))
	}
	return hist, b.String()
}

// check checks the end state against the sequence's expected outcome and
// adds the round's figures.
func (r *chaosRound) check() {
	switch want := r.seq.Expect(); want {
	case eventchaos.Configured:
		r.checkConfigured()
	case eventchaos.NeedsAttention:
		r.checkNeedsAttention()
	}
	f := &r.h.figures
	c := r.seq.Counts()
	f.Sequences++
	f.Deliveries += r.deliveries
	if len(r.seq.Steps) > 0 { // a generated sequence (the races deliver by hand)
		f.Events += c.Events
		f.Duplicates += c.Duplicates
		f.Drops += c.Dropped
	}
	f.Reconciles += r.reconciles
	f.ConfigureInvocations += len(r.lambda.Calls(awstest.ConfigureFn))
	f.InvocationsDropped += r.dropped
	f.ConfigureRuns += len(r.outcomes)
	f.ConcurrentRuns += r.concurrent
	for _, o := range r.outcomes {
		if o.Outcome == "configured" {
			f.Configurations++
		}
	}
	if r.seq.Expect() == eventchaos.Configured {
		f.Configured++
	} else {
		f.NeedsAttention++
	}
}

func (r *chaosRound) count(hist []orchestrate.HistoryEntry, step, outcome string) (n, first, last int) {
	first, last = -1, -1
	for i, e := range hist {
		if e.Step == step && (outcome == "" || e.Outcome == outcome) {
			n++
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return n, first, last
}

// checkConfigured: exactly one configuration, from the deployment's
// coordinates, replicating; one notification; a history that tells the
// story once.
func (r *chaosRound) checkConfigured() {
	ctx := r.t.Context()
	want := fmt.Sprintf("%s:%d", r.coords.File, r.coords.Position)
	rec, err := r.store.Get(ctx, awstest.DeploymentID)
	if err != nil {
		r.fatalf("record: %v", err)
	}
	hist, story := r.history()
	if rec.Phase != orchestrate.PhaseConfigured || rec.Coords == nil || rec.Coords.File != r.coords.File || rec.Coords.Position != r.coords.Position {
		r.fatalf("record: phase %s (%s), coordinates %+v; want configured from %s\nhistory:%s", rec.Phase, rec.PhaseDetail, rec.Coords, want, story)
	}
	if rec.Coords.Source != chaosNames.Production && rec.Coords.Source != chaosNames.GreenWriter {
		r.fatalf("coordinates taken from %s", rec.Coords.Source)
	}
	// Exactly one configure run configured; every other one found it done
	// or the lease held.
	configured := 0
	for _, o := range r.outcomes {
		switch o.Outcome {
		case "configured":
			configured++
		case "unchanged", "skipped":
		default:
			r.fatalf("a configure run answered %+v", o)
		}
	}
	if configured != 1 {
		r.fatalf("%d configure runs configured; want exactly one\nhistory:%s", configured, story)
	}

	// The history: each delivery of the deployment's facts recorded once,
	// every recorded coordinates the same, configure asked for once per
	// invocation, one configure run, one "set source and start
	// replication" from the coordinates, and nothing after configure's
	// end (late events leave the configured record alone).
	invocations := len(r.lambda.Calls(awstest.ConfigureFn))
	if n, _, _ := r.count(hist, "record switchover", "done"); n < r.switchoverLines || n > r.switchoverMax {
		r.fatalf("%d \"record switchover\" lines; %d switchover events were delivered while RDS listed the deployment (%d around its deletion)\nhistory:%s",
			n, r.switchoverLines, r.switchoverMax-r.switchoverLines, story)
	}
	adopted, _, _ := r.count(hist, "adopt unmatched coordinates", "done")
	described := 0
	coordLines, firstFact, _ := r.count(hist, "record coordinates", "done")
	for _, e := range hist {
		if e.Step == "record coordinates" {
			if !strings.HasPrefix(e.Detail, want+" ") {
				r.fatalf("coordinates recorded as %q; want %s\nhistory:%s", e.Detail, want, story)
			}
			if strings.Contains(e.Detail, "via describe-events") {
				described++
			}
		}
		if e.Outcome == "failed" || e.Step == "needs attention" {
			r.fatalf("history holds %s %s: %s\nhistory:%s", e.Step, e.Outcome, e.Detail, story)
		}
	}
	if coordLines != r.coordinatesLines+adopted+described || coordLines == 0 {
		r.fatalf("%d \"record coordinates\" lines; want %d deliveries while listed + %d adopted + %d from DescribeEvents\nhistory:%s",
			coordLines, r.coordinatesLines, adopted, described, story)
	}
	if n, _, _ := r.count(hist, "reconcile", ""); n != r.reconcileLines {
		r.fatalf("%d reconcile lines; reconcile acted %d times\nhistory:%s", n, r.reconcileLines, story)
	}
	invokeLines, firstInvoke, _ := r.count(hist, "invoke configure", "done")
	if invokeLines != invocations || invocations < 1 || invocations > 1+r.dropped {
		r.fatalf("%d \"invoke configure\" lines, %d invocations (%d dropped); want one invocation, one more per dropped one\nhistory:%s", invokeLines, invocations, r.dropped, story)
	}
	started, firstStart, _ := r.count(hist, "configure", "started")
	done, _, lastDone := r.count(hist, "configure", "done")
	if started != 1 || done != 1 || firstStart < firstInvoke {
		r.fatalf("configure started %d times, done %d times, or not after its invocation\nhistory:%s", started, done, story)
	}
	// Nothing after configure's end, but a fact delivered while it ran
	// (late duplicates leave the configured record alone).
	for _, e := range hist[lastDone+1:] {
		if !r.overlap || (e.Step != "record switchover" && e.Step != "record coordinates") {
			r.fatalf("history goes on after configure's end with %s %s\nhistory:%s", e.Step, e.Outcome, story)
		}
	}
	if firstFact > firstInvoke {
		r.fatalf("configure invoked before any coordinates were recorded\nhistory:%s", story)
	}
	sets := 0
	for _, e := range hist {
		if e.Step == "set source and start replication" && e.Outcome == string(replication.StepDone) {
			sets++
			if !strings.Contains(e.Detail, "from "+want) {
				r.fatalf("replication set up %q; want from %s", e.Detail, want)
			}
		}
	}
	if sets != 1 {
		r.fatalf("replication set up %d times; want once\nhistory:%s", sets, story)
	}

	// AWS: one notification, the old cluster fenced once through its own
	// group, the deployment deleted once (never its target), production's
	// group untouched.
	msgs := r.sns.Published(awstest.TopicARN)
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0].Subject, " configured") {
		r.fatalf("notifications %+v; want one saying configured", msgs)
	}
	if r.rds.HasDeployment(awstest.DeploymentID) {
		r.fatalf("the blue/green deployment was not deleted")
	}
	if n := len(r.rds.Calls("DeleteBlueGreenDeployment")); n != 1 {
		r.fatalf("DeleteBlueGreenDeployment called %d times", n)
	}
	fences := 0
	for _, c := range r.rds.Calls("ModifyDBClusterParameterGroup") {
		if c.Params.Get("DBClusterParameterGroupName") != awstest.OldGroup {
			r.fatalf("ModifyDBClusterParameterGroup on %s", c.Params.Get("DBClusterParameterGroupName"))
		}
		if c.Params.Get("Parameters.Parameter.1.ParameterName") == "read_only" {
			fences++
		}
	}
	if fences != 1 || r.rds.ParameterGroup(awstest.OldGroup)["read_only"] != "1" {
		r.fatalf("the old cluster's group was fenced %d times (read_only %q); want once", fences, r.rds.ParameterGroup(awstest.OldGroup)["read_only"])
	}

	// The servers: the old cluster replicates from production, both
	// threads running, configured from the coordinates (production's
	// record of it); the write made after the switchover point and a new
	// one arrive.
	var host, port, io, sqlRunning string
	st := chaosQueryRow(r, r.h.blueDB, "SHOW SLAVE STATUS")
	host, port, io, sqlRunning = st["Master_Host"], st["Master_Port"], st["Slave_IO_Running"], st["Slave_SQL_Running"]
	if host != r.h.w.Green.Host || port != fmt.Sprint(r.h.w.Green.Port) || io != "Yes" || sqlRunning != "Yes" {
		r.fatalf("the old cluster replicates from %s:%s, IO %s, SQL %s; want %s:%d, both running", host, port, io, sqlRunning, r.h.w.Green.Host, r.h.w.Green.Port)
	}
	src := chaosQueryRow(r, r.h.greenDB, "SELECT start_file, start_position, (SELECT COUNT(*) FROM switchback.rollback_source) AS n FROM switchback.rollback_source")
	if src["start_file"] != r.coords.File || src["start_position"] != fmt.Sprint(r.coords.Position) || src["n"] != "1" {
		r.fatalf("production records the configuration as %v; want one, from %s", src, want)
	}
	if _, err := r.h.greenDB.ExecContext(ctx, "INSERT INTO shop.orders VALUES (?, 'replicated')", r.marker(2)); err != nil {
		r.fatalf("write on production: %v", err)
	}
	awstest.WaitRow(r.t, r.h.blueDB, fmt.Sprintf("SELECT item FROM shop.orders WHERE id = %d", r.marker(1)), fmt.Sprintf("round %d after switchover", r.n))
	awstest.WaitRow(r.t, r.h.blueDB, fmt.Sprintf("SELECT item FROM shop.orders WHERE id = %d", r.marker(2)), "replicated")
	r.checkOtherRecords()
}

// checkNeedsAttention: RDS never wrote the coordinates: nothing
// configured, nothing fenced or deleted, on-call told once, and the
// history says why.
func (r *chaosRound) checkNeedsAttention() {
	rec, err := r.store.Get(r.t.Context(), awstest.DeploymentID)
	if err != nil {
		r.fatalf("record: %v", err)
	}
	hist, story := r.history()
	if rec.Phase != orchestrate.PhaseNeedsAttention || rec.Coords != nil || !strings.Contains(rec.PhaseDetail, "never guesses") {
		r.fatalf("record: phase %s (%s), coordinates %+v; want needs-attention without coordinates\nhistory:%s", rec.Phase, rec.PhaseDetail, rec.Coords, story)
	}
	if n := len(r.lambda.Calls(awstest.ConfigureFn)); n != 0 {
		r.fatalf("configure invoked %d times without coordinates", n)
	}
	msgs := r.sns.Published(awstest.TopicARN)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "needs attention") {
		r.fatalf("notifications %+v; want one saying needs attention", msgs)
	}
	if n, _, _ := r.count(hist, "needs attention", "failed"); n != 1 {
		r.fatalf("%d needs-attention lines; want one\nhistory:%s", n, story)
	}
	for _, e := range hist {
		if e.Step == "record coordinates" || e.Step == "invoke configure" || e.Step == "configure" {
			r.fatalf("history holds %s without coordinates\nhistory:%s", e.Step, story)
		}
	}
	if n, _, _ := r.count(hist, "record switchover", "done"); n != r.switchoverLines || n != r.switchoverMax {
		r.fatalf("%d \"record switchover\" lines; %d switchover events were delivered while RDS listed the deployment\nhistory:%s", n, r.switchoverLines, story)
	}
	if n, _, _ := r.count(hist, "reconcile", ""); n != r.reconcileLines {
		r.fatalf("%d reconcile lines; reconcile acted %d times\nhistory:%s", n, r.reconcileLines, story)
	}
	if !r.rds.HasDeployment(awstest.DeploymentID) || len(r.rds.Calls("ModifyDBClusterParameterGroup")) != 0 {
		r.fatalf("the deployment was deleted or a parameter group changed without coordinates")
	}
	rows, err := r.h.blueDB.QueryContext(r.t.Context(), "SHOW SLAVE STATUS")
	if err != nil {
		r.fatalf("%v", err)
	}
	defer rows.Close()
	if rows.Next() {
		r.fatalf("the old cluster replicates although no coordinates exist")
	}
	r.checkOtherRecords()
}

// checkOtherRecords: the only other records are unmatched coordinates
// (delivered before the switchover completed, after the deployment was
// deleted, or an earlier switchover's), each as it was recorded; the other
// deployment has no record.
func (r *chaosRound) checkOtherRecords() {
	recs, err := r.store.List(r.t.Context())
	if err != nil {
		r.fatalf("%v", err)
	}
	for _, rec := range recs {
		if rec.Deployment == awstest.DeploymentID {
			continue
		}
		ok := strings.HasPrefix(rec.Deployment, "unmatched:") && rec.Phase == orchestrate.PhaseUnmatched && rec.Coords != nil
		if ok {
			c := eventchaos.Coordinates{File: rec.Coords.File, Position: rec.Coords.Position}
			ok = c == r.coords || c == eventchaos.EarlierSwitchoverCoordinates
		}
		if !ok {
			r.fatalf("unexpected record %s: phase %s, coordinates %+v", rec.Deployment, rec.Phase, rec.Coords)
		}
	}
}

// chaosQueryRow returns the only row of q as column → value.
func chaosQueryRow(r *chaosRound, db *sql.DB, q string) map[string]string {
	rows, err := db.QueryContext(r.t.Context(), q)
	if err != nil {
		r.fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		r.fatalf("%s: no row", q)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		r.fatalf("%s: %v", q, err)
	}
	out := map[string]string{}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out
}

// runChaosSequences plays the sequences of seeds, each in its own subtest.
func (h *chaosHarness) runChaosSequences(t *testing.T, seeds []uint64) {
	start := time.Now()
	for _, seed := range seeds {
		seq := eventchaos.Generate(seed)
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			r := h.newRound(t, seq, false)
			r.logf("set up")
			r.run()
			r.check()
			if d := time.Since(r.started); d > 5*time.Second {
				t.Logf("slow round (%v):\n  %s", d.Round(time.Millisecond), strings.Join(r.log, "\n  "))
			}
		})
		if t.Failed() {
			t.Logf("sequence of the failed round: %s", seq)
			break
		}
	}
	h.figures.Elapsed += time.Since(start)
}

// Event chaos in make test: ten seeded sequences, picked to hold every
// kind of chaos the generator makes (eventchaos.CoveringSeeds), then the
// races, through the real functions.
func TestIntegrationEventChaos(t *testing.T) {
	h := newChaosHarness(t)
	seeds := eventchaos.CoveringSeeds(10, 1)
	t.Logf("world and builds ready in %v; seeds %v", h.setupTime.Round(time.Millisecond), seeds)
	t.Run("sequences", func(t *testing.T) { h.runChaosSequences(t, seeds) })
	t.Logf("sequences: %s", h.figures)
	if t.Failed() {
		return
	}
	if h.figures.Configurations != h.figures.Configured {
		t.Fatalf("%d configurations for %d sequences that must configure", h.figures.Configurations, h.figures.Configured)
	}
	h.figures = chaosFigures{}
	t.Run("race", func(t *testing.T) { h.runRaces(t, 1) })
	t.Logf("races: %s", h.figures)
}

// A racing worker: capture (or capture2) given an event, or the
// reconcile schedule.
type chaosRacer struct {
	capture2 bool
	event    eventchaos.EventKind // "" for reconcile
	listed   bool
	res      lambdatest.Result
	err      error
}

// runRaces races two workers for the same deployment, each race repeats
// times: two capture processes given the same event at once, the
// coordinates and the switchover at once, a capture and the reconcile
// schedule at once; then the one configure invocation is run by two
// configure processes at once (Lambda delivering it twice). Exactly one
// worker asks for configure, exactly one configure run configures.
func (h *chaosHarness) runRaces(t *testing.T, repeats int) {
	start := time.Now()
	for _, race := range []struct {
		name string
		a, b chaosRacer
	}{
		{"same-coordinates-to-two-captures", chaosRacer{event: eventchaos.CoordinatesCluster}, chaosRacer{capture2: true, event: eventchaos.CoordinatesCluster}},
		{"coordinates-and-switchover", chaosRacer{event: eventchaos.CoordinatesInstance}, chaosRacer{capture2: true, event: eventchaos.SwitchoverCompleted}},
		{"capture-and-reconcile", chaosRacer{event: eventchaos.CoordinatesCluster}, chaosRacer{}},
	} {
		t.Run(race.name, func(t *testing.T) {
			// Everything RDS wrote about the deployment; it has switched over.
			seq := eventchaos.Sequence{Events: []eventchaos.Event{
				{Kind: eventchaos.SwitchoverCompleted}, {Kind: eventchaos.ClusterSwitchoverCompleted},
				{Kind: eventchaos.CoordinatesCluster}, {Kind: eventchaos.CoordinatesInstance}},
				Fates: []eventchaos.Fate{eventchaos.FateConcurrent}}
			for range repeats {
				r := h.newRound(t, seq, true)
				r.complete()
				racers := []chaosRacer{race.a, race.b}
				var wg sync.WaitGroup
				gate := make(chan struct{})
				for i := range racers {
					rc := &racers[i]
					rc.listed = r.listed()
					fn, payload := r.reconcile, chaosSchedule
					if rc.event != "" {
						fn, payload = r.capture, r.render(rc.event).JSON
						if rc.capture2 {
							fn = r.capture2
						}
					}
					wg.Go(func() {
						<-gate
						rc.res, rc.err = fn.Invoke(payload)
					})
				}
				close(gate)
				wg.Wait()
				for _, rc := range racers {
					if rc.event == "" {
						r.reconciled(rc.res, rc.err)
						continue
					}
					fn := r.capture
					if rc.capture2 {
						fn = r.capture2
					}
					r.delivered(fn, rc.event, rc.listed, r.listed(), rc.res, rc.err)
				}
				if n := len(r.lambda.Calls(awstest.ConfigureFn)); n != 1 {
					r.fatalf("the racing workers invoked configure %d times; want once", n)
				}
				r.runConfigure(withFates) // the invocation, twice at once
				if r.concurrent != 2 {
					r.fatalf("%d concurrent configure runs; want 2", r.concurrent)
				}
				r.settle()
				r.check()
			}
		})
		if t.Failed() {
			break
		}
	}
	h.figures.Elapsed += time.Since(start)
	if !t.Failed() && h.figures.Configurations != h.figures.Sequences {
		t.Fatalf("%d configurations in %d races", h.figures.Configurations, h.figures.Sequences)
	}
}
