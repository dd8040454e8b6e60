// Package awstest builds, for tests, one switched-over Aurora blue/green
// deployment as switchback's functions see it: two real MariaDB servers
// (shared/sandbox: blue renamed orders-prod-old1, green now orders-prod),
// the RDS, Secrets Manager, SNS and Lambda APIs served by the local fakes
// of shared/awsfake (real wire formats, real SDK), and a real
// DynamoDB-compatible store (dynalite). Tests drive it in process through
// an orchestrator built from the real adapters, or run the real function
// binaries against it (Env).
package awstest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsclients"
	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awslambda"
	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/binlogtime"
	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/repoint"
	"github.com/switchback/switchback/shared/sandbox"
)

// World is one switched-over deployment and the AWS endpoints around it.
type World struct {
	t           *testing.T
	Blue, Green *sandbox.Server
	// Coords are green's binlog coordinates at the switchover.
	Coords sandbox.Coordinates
	RDS    *awsfake.RDS
	Lambda *awsfake.Lambda
	SNS    *awsfake.SNS
	SM     *awsfake.SecretsManager
	Store  *dynamostate.Store
	// Deployment is the blue/green deployment as the fake RDS serves it;
	// change it and AddDeployment it again to change what RDS says.
	Deployment awsfake.RDSDeployment
	// DynamoEndpoint is dynalite's URL; SecretARN the admin secret's.
	DynamoEndpoint string
	SecretARN      string
	// Orch is an orchestrator built from the real adapters pointed at the
	// fakes, as the functions build it (actor "test").
	Orch orchestrate.Orchestrator
	// R53 serves the application's hosted zone (AppZone: AppRecord is a
	// CNAME to production's endpoint); AppSecretARN is the application's
	// connection secret (host and port of production). Rollback
	// re-pointing changes them.
	R53          *awsfake.Route53
	AppSecretARN string

	invocations int // configure invocations already run by Drain
	mu          sync.Mutex
}

// The world's names.
const (
	DeploymentID  = "bgd-4kq8w2m7r1x9zt3c"
	ProdID        = "orders-prod"
	OldID         = "orders-prod-old1"
	ProdWriter    = "orders-prod-instance-1"
	OldWriter     = "orders-prod-instance-1-old1"
	GreenWriter   = "orders-prod-instance-1-green-8kq2zt" // the writer's name before the rename
	OldGroup      = "orders-prod-old1-params"
	ConfigureFn   = "switchback-configure"
	TopicARN      = "arn:aws:sns:us-east-1:123456789012:switchback-oncall"
	AccountPrefix = "arn:aws:rds:us-east-1:123456789012:"
	AdminUser     = "admin"
	AdminPassword = "Adm1n-Secret-pw"
	Table         = "switchback-test"
)

// The names rollback tests use.
const (
	// ProdGroup is production's DB cluster parameter group (OldGroup the
	// rollback cluster's): the rollback fences production through it.
	ProdGroup = "orders-prod-params"
	// AppZone is the application's hosted zone (AppDomain), AppRecord the
	// name it connects to, AppSecret its connection secret's name.
	AppZone   = "Z0ORDERSINTERNAL"
	AppDomain = "orders.internal"
	AppRecord = "db.orders.internal"
	AppSecret = "orders/app"
)

// New builds the world; everything stops with the test.
func New(t *testing.T) *World {
	t.Helper()
	servers := sandbox.StartT(t, 2, sandbox.Options{})
	w := &World{t: t, Blue: servers[0], Green: servers[1]}
	coords, err := sandbox.SimulateSwitchover(t.Context(), w.Blue, w.Green, func(db *sql.DB) error {
		for _, q := range []string{
			"CREATE USER '" + AdminUser + "'@'%' IDENTIFIED BY '" + AdminPassword + "'",
			"GRANT ALL ON *.* TO '" + AdminUser + "'@'%' WITH GRANT OPTION",
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL)",
			"INSERT INTO shop.orders VALUES (1, 'seed')",
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
	w.Coords = coords
	// Writes on the new production after the switchover: replication must
	// bring them to the old cluster.
	w.Green.ExecT(t, "INSERT INTO shop.orders VALUES (2, 'after switchover')")

	w.RDS = awsfake.StartRDS(t)
	w.RDS.AddParameterGroup(OldGroup, map[string]string{"read_only": "0"})
	// The old cluster (Aurora MySQL 2.12.1) lists the parallel-apply
	// parameters at their engine defaults.
	w.RDS.DefineParameters(OldGroup, Aurora2ParallelParameters...)
	w.RDS.AddParameterGroup("orders-prod-params", map[string]string{"read_only": "0"})
	blueDB := w.Blue.DBT(t)
	// Production's group applies to green (a rollback fences production
	// through it). Its pool keeps no idle session: an idle root session on
	// production is a writer the rollback's fence does not stop.
	greenDB := w.Green.DBT(t)
	greenDB.SetMaxIdleConns(0)
	w.RDS.OnModifyDBClusterParameterGroup = func(group string, params []awsfake.RDSParameter) error {
		db := map[string]*sql.DB{OldGroup: blueDB, ProdGroup: greenDB}[group]
		if db == nil {
			return fmt.Errorf("switchback changed parameter group %s, which is neither cluster's", group)
		}
		for _, p := range params {
			if err := applyParameter(db, p); err != nil {
				return err
			}
		}
		return nil
	}
	tags := map[string]string{"switchback:enabled": "true", "team": "orders"}
	w.RDS.AddCluster(awsfake.RDSCluster{ID: ProdID, Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
		Endpoint: w.Green.Host, Port: w.Green.Port, ParameterGroup: "orders-prod-params", Tags: tags,
		Members: []awsfake.RDSClusterMember{{Instance: ProdWriter, Writer: true}}})
	w.RDS.AddCluster(awsfake.RDSCluster{ID: OldID, Engine: "aurora-mysql", EngineVersion: "5.7.mysql_aurora.2.12.1",
		Endpoint: w.Blue.Host, Port: w.Blue.Port, ParameterGroup: OldGroup, Tags: tags,
		Members: []awsfake.RDSClusterMember{{Instance: OldWriter, Writer: true}}})
	w.Deployment = awsfake.RDSDeployment{ID: DeploymentID, Name: "orders-upgrade",
		Source: AccountPrefix + "cluster:" + OldID, Target: AccountPrefix + "cluster:" + ProdID,
		Status: orchestrate.StatusSwitchoverCompleted, CreateTime: time.Now().Add(-2 * time.Hour),
		Switchover: []awsfake.RDSSwitchoverDetail{
			{SourceMember: AccountPrefix + "cluster:" + OldID, TargetMember: AccountPrefix + "cluster:" + ProdID, Status: orchestrate.StatusSwitchoverCompleted},
			{SourceMember: AccountPrefix + "db:" + OldWriter, TargetMember: AccountPrefix + "db:" + ProdWriter, Status: orchestrate.StatusSwitchoverCompleted},
		}}
	w.RDS.AddDeployment(w.Deployment)

	w.SM = awsfake.StartSecretsManager(t)
	secret, _ := json.Marshal(map[string]string{"username": AdminUser, "password": AdminPassword})
	arn := w.SM.PutSecret("orders-admin", string(secret))
	w.SecretARN = arn
	w.SNS = awsfake.StartSNS(t)
	w.SNS.AddTopic(TopicARN)
	w.Lambda = awsfake.StartLambda(t)
	w.Lambda.AddFunction(ConfigureFn)
	w.R53 = awsfake.StartRoute53(t)
	w.R53.AddHostedZone(AppZone, AppDomain)
	w.R53.AddRecord(AppZone, awsfake.Route53Record{Name: AppRecord, Type: "CNAME", TTL: 60, Values: []string{w.Green.Host}})
	app, _ := json.Marshal(map[string]any{"engine": "mysql", "host": w.Green.Host, "port": w.Green.Port, "username": "app", "password": "app-pw", "dbname": "shop"})
	w.AppSecretARN = w.SM.PutSecret(AppSecret, string(app))

	db := dynalitetest.Start(t)
	w.DynamoEndpoint = db.Endpoint
	if err := dynamostate.CreateTable(t.Context(), db.Client, Table); err != nil {
		t.Fatal(err)
	}
	w.Store = dynamostate.New(db.Client, Table)
	rdsClient := awsrds.New(w.RDS.Client())
	connect, err := orchestrate.MySQLConnector(orchestrate.TLSOff, "")
	if err != nil {
		t.Fatal(err)
	}
	w.Orch = orchestrate.Orchestrator{
		Store: w.Store, Topology: rdsClient, Events: rdsClient, Deleter: rdsClient,
		Fencer: func(c orchestrate.Cluster, s *replication.Server) (replication.Fencer, error) {
			f, err := rdsClient.Fencer(c, s)
			if pg, ok := f.(*awsrds.ParameterGroupFencer); ok {
				pg.PollInterval = 20 * time.Millisecond
			}
			return f, err
		},
		Notifier:    awsclients.NewNotifier(w.SNS.Client(), TopicARN),
		Invoker:     awslambda.NewInvoker(w.Lambda.Client(), ConfigureFn),
		Credentials: awsclients.NewSecrets(w.SM.Client(), awsclients.SecretsConfig{AdminSecrets: map[string]string{ProdID: arn, OldID: arn}}),
		Connect:     connect,
		OptedIn: func(id string, tags map[string]string) (bool, string) {
			return tags["switchback:enabled"] == "true", "tag switchback:enabled"
		},
		Repoint:           w.Repointers(),
		BinlogFileCreated: binlogtime.FileCreated,
		Actor:             "test",
		Settings:          orchestrate.Settings{DeleteBlueGreen: true, RetentionHours: 24, Lease: time.Minute, Stall: time.Minute, WaitTimeout: 20 * time.Second},
	}
	return w
}

// Aurora2ParallelParameters are the parallel-apply parameters the old
// cluster's group lists, as an Aurora MySQL 2 group of the fake lists
// them: engine defaults, dynamic, modifiable. (switchback reads which
// parameters a real group offers, their apply type and allowed values
// from DescribeDBClusterParameters; these are the fake's.)
var Aurora2ParallelParameters = []awsfake.RDSGroupParameter{
	{Name: "slave_parallel_workers", Value: "0", AllowedValues: "0-1024"},
	{Name: "slave_parallel_type", Value: "DATABASE", AllowedValues: "DATABASE,LOGICAL_CLOCK"},
	{Name: "slave_preserve_commit_order", AllowedValues: "0,1"},
}

// Aurora3ParallelParameters are the same for an Aurora MySQL 3 group.
var Aurora3ParallelParameters = []awsfake.RDSGroupParameter{
	{Name: "replica_parallel_workers", AllowedValues: "0-1024"},
	{Name: "replica_preserve_commit_order", AllowedValues: "0,1"},
}

// applyParameter does to a sandbox writer what Aurora does with a DB
// cluster parameter change applied at once: read_only, and the worker
// count as MariaDB's slave_parallel_threads (MariaDB commits in order in
// every parallel mode, so the commit order and type have no equivalent to
// set). Like MySQL, MariaDB refuses to change the worker count while
// replication runs (error 1198). A pending-reboot change waits for a
// reboot the sandbox never has.
func applyParameter(db *sql.DB, p awsfake.RDSParameter) error {
	if p.ApplyMethod != "immediate" {
		return nil
	}
	var err error
	switch p.Name {
	case "read_only":
		_, err = db.Exec("SET GLOBAL read_only = " + p.Value)
	case "slave_parallel_workers", "replica_parallel_workers":
		_, err = db.Exec("SET GLOBAL slave_parallel_threads = " + p.Value)
	}
	return err
}

// Events, shaped as EventBridge delivers them (events/ holds the originals).
// at is the time minutesAgo minutes ago, as EventBridge writes it: the
// world's deployment was created two hours ago, its switchover about 50
// minutes ago.
func at(minutesAgo int) string {
	return time.Now().Add(-time.Duration(minutesAgo) * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
}

// SwitchoverEvent is RDS-EVENT-0248 for the deployment.
func (w *World) SwitchoverEvent() []byte {
	return []byte(`{"version":"0","id":"e-0248","detail-type":"RDS Blue Green Deployment Event","source":"aws.rds","account":"123456789012","time":"` + at(48) + `","region":"us-east-1","resources":["` + AccountPrefix + `deployment:` + DeploymentID + `"],"detail":{"EventCategories":["notification"],"SourceType":"BLUE_GREEN_DEPLOYMENT","SourceArn":"` + AccountPrefix + `deployment:` + DeploymentID + `","Date":"` + at(48) + `","Message":"Switchover completed on blue/green deployment.","SourceIdentifier":"` + DeploymentID + `","EventID":"RDS-EVENT-0248"}}`)
}

// ClusterSwitchoverEvent is RDS-EVENT-0260 for the deployment.
func (w *World) ClusterSwitchoverEvent() []byte {
	return []byte(`{"version":"0","id":"e-0260","detail-type":"RDS Blue Green Deployment Event","source":"aws.rds","account":"123456789012","time":"` + at(49) + `","region":"us-east-1","resources":["` + AccountPrefix + `deployment:` + DeploymentID + `"],"detail":{"EventCategories":["notification"],"SourceType":"BLUE_GREEN_DEPLOYMENT","SourceArn":"` + AccountPrefix + `deployment:` + DeploymentID + `","Date":"` + at(49) + `","Message":"Switchover from DB cluster orders-prod to orders-prod-green-3rnukl completed. Renamed orders-prod to orders-prod-old1 and orders-prod-green-3rnukl to orders-prod.","SourceIdentifier":"` + DeploymentID + `","EventID":"RDS-EVENT-0260"}}`)
}

// CoordinatesMessage is the coordinates message RDS writes.
func (w *World) CoordinatesMessage(file string, pos uint64) string {
	return fmt.Sprintf("Binary log coordinates in green environment after switchover: file %s and position %d.", file, pos)
}

// CoordinatesEvent is the coordinates message as a cluster event (source
// the new production) or an instance event (source the green writer's name
// before the rename, as RDS sends it).
func (w *World) CoordinatesEvent(instance bool, file string, pos uint64) []byte {
	return w.CoordinatesEventAt(instance, file, pos, 50)
}

// CoordinatesEventAt is CoordinatesEvent sent minutesAgo minutes ago.
func (w *World) CoordinatesEventAt(instance bool, file string, pos uint64, minutesAgo int) []byte {
	detailType, sourceType, source, kind := "RDS DB Cluster Event", "CLUSTER", ProdID, "cluster"
	if instance {
		detailType, sourceType, source, kind = "RDS DB Instance Event", "DB_INSTANCE", GreenWriter, "db"
	}
	return []byte(`{"version":"0","id":"e-coords-` + kind + `","detail-type":"` + detailType + `","source":"aws.rds","account":"123456789012","time":"` + at(minutesAgo) + `","region":"us-east-1","resources":["` + AccountPrefix + kind + `:` + source + `"],"detail":{"EventCategories":["notification"],"SourceType":"` + sourceType + `","SourceArn":"` + AccountPrefix + kind + `:` + source + `","Date":"` + at(minutesAgo) + `","Message":"` + w.CoordinatesMessage(file, pos) + `","SourceIdentifier":"` + source + `"}}`)
}

// Capture runs capture in process and fails the test on an error.
func (w *World) Capture(event []byte) orchestrate.CaptureResult {
	w.t.Helper()
	res, err := w.Orch.Capture(w.t.Context(), event)
	if err != nil {
		w.t.Fatalf("capture: %v (%+v)", err, res)
	}
	return res
}

// Drain runs the configure invocations capture and reconcile made, as
// Lambda would run them, and returns their outcomes.
func (w *World) Drain() []orchestrate.ConfigureOutcome {
	w.t.Helper()
	var outs []orchestrate.ConfigureOutcome
	calls := w.Lambda.Calls(ConfigureFn)
	for _, c := range calls[w.invocations:] {
		if c.InvocationType != "Event" {
			w.t.Fatalf("configure invoked with type %q, not Event", c.InvocationType)
		}
		var req orchestrate.ConfigureRequest
		if err := json.Unmarshal(c.Payload, &req); err != nil {
			w.t.Fatal(err)
		}
		out, err := w.Orch.Configure(w.t.Context(), req)
		if err != nil {
			w.t.Fatalf("configure: %v (%+v)", err, out)
		}
		outs = append(outs, out)
	}
	w.invocations = len(calls)
	return outs
}

// AssertConfiguredOnce checks the end state: the record configured from
// the right coordinates, exactly one configure run that set up
// replication, the old cluster fenced through its parameter group and
// replicating the new production's writes, and the deployment deleted.
func (w *World) AssertConfiguredOnce(want sandbox.Coordinates) {
	w.t.Helper()
	ctx := w.t.Context()
	rec, err := w.Store.Get(ctx, DeploymentID)
	if err != nil {
		w.t.Fatal(err)
	}
	if rec.Phase != orchestrate.PhaseConfigured || rec.Coords == nil || rec.Coords.File != want.File || rec.Coords.Position != want.Position {
		w.t.Fatalf("record: phase %q (%s), coordinates %+v; want configured from %s:%d", rec.Phase, rec.PhaseDetail, rec.Coords, want.File, want.Position)
	}
	hist, err := w.Store.History(ctx, DeploymentID)
	if err != nil {
		w.t.Fatal(err)
	}
	started := 0
	for _, h := range hist {
		if h.Step == "set source and start replication" && h.Outcome == string(replication.StepDone) {
			started++
			if !strings.Contains(h.Detail, fmt.Sprintf("%s:%d", want.File, want.Position)) {
				w.t.Errorf("replication set up from %q; want %s:%d", h.Detail, want.File, want.Position)
			}
		}
	}
	if started != 1 {
		w.t.Fatalf("replication was set up %d times; want exactly once. History:\n%s", started, describeHistory(hist))
	}
	if w.RDS.HasDeployment(DeploymentID) {
		w.t.Error("the blue/green deployment was not deleted")
	}
	if got := w.RDS.ParameterGroup(OldGroup)["read_only"]; got != "1" {
		w.t.Errorf("rollback cluster's parameter group read_only = %q; want 1", got)
	}
	for _, c := range w.RDS.Calls("ModifyDBClusterParameterGroup") {
		if c.Params.Get("DBClusterParameterGroupName") == ProdGroup {
			w.t.Errorf("configure changed production's parameter group: %+v", c.Params)
		}
	}
	for _, c := range w.RDS.Calls("DeleteBlueGreenDeployment") {
		if c.Params.Get("DeleteTarget") == "true" {
			w.t.Errorf("DeleteBlueGreenDeployment with DeleteTarget: %+v", c.Params)
		}
	}
	blueDB := w.Blue.DBT(w.t)
	WaitRow(w.t, blueDB, "SELECT item FROM shop.orders WHERE id = 2", "after switchover")
	w.Green.ExecT(w.t, fmt.Sprintf("INSERT INTO shop.orders VALUES (%d, 'replicated')", 100+w.invocations))
	WaitRow(w.t, blueDB, fmt.Sprintf("SELECT item FROM shop.orders WHERE id = %d", 100+w.invocations), "replicated")
}

func describeHistory(h []orchestrate.HistoryEntry) string {
	var b strings.Builder
	for _, e := range h {
		fmt.Fprintf(&b, "  %s %-40s %-12s %s\n", e.Time.Format("15:04:05.000"), e.Step, e.Outcome, e.Detail)
	}
	return b.String()
}

// waitRow waits until query returns want on db.
func WaitRow(t *testing.T, db *sql.DB, query, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got sql.NullString
		err := db.QueryRow(query).Scan(&got)
		if err == nil && got.String == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never returned %q (last %q, %v)", query, want, got.String, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// Env is the environment that points a function binary at the world: the
// AWS endpoints (AWS_ENDPOINT_URL_<SERVICE>, read by the SDK's default
// configuration) and switchback's own variables.
func (w *World) Env() []string {
	return []string{
		w.RDS.EndpointEnv(), w.SM.EndpointEnv(), w.SNS.EndpointEnv(), w.Lambda.EndpointEnv(), w.R53.EndpointEnv(),
		"AWS_ENDPOINT_URL_DYNAMODB=" + w.DynamoEndpoint,
		"SWITCHBACK_TABLE=" + Table,
		"SWITCHBACK_TOPIC_ARN=" + TopicARN,
		"SWITCHBACK_CONFIGURE_FUNCTION=" + ConfigureFn,
		"SWITCHBACK_ADMIN_SECRETS=" + ProdID + "=" + w.SecretARN + "," + OldID + "=" + w.SecretARN,
		"SWITCHBACK_TLS=off",
		"SWITCHBACK_RETENTION_HOURS=24",
		"SWITCHBACK_LEASE_SECONDS=" + strconv.Itoa(60),
	}
}

// SkipInvocations marks the configure invocations made so far as run, for
// a test that runs configure itself.
func (w *World) SkipInvocations() {
	w.invocations = len(w.Lambda.Calls(ConfigureFn))
}

// Repointers are the re-pointing adapters over the world's fakes, polling
// every few milliseconds.
func (w *World) Repointers() orchestrate.Repointers {
	dns := repoint.NewRoute53(w.R53.Client())
	dns.MinDelay, dns.MaxDelay = 5*time.Millisecond, 20*time.Millisecond
	clusters := repoint.NewClusters(w.RDS.Client())
	clusters.PollInterval = 20 * time.Millisecond
	return orchestrate.Repointers{DNS: dns, Secrets: repoint.NewSecrets(w.SM.Client()), Clusters: clusters}
}
