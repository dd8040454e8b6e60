package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// monitorTarget is the bound on one monitor pass over 16 pairs.
const monitorTarget = 5 * time.Second

// monitorServerArgs keep each of the many MariaDB servers small: the
// sandbox's defaults (64M buffer pool…) would make 32 servers take
// gigabytes. Nothing here changes what the monitor reads.
var monitorServerArgs = []string{
	"--innodb-buffer-pool-size=8M",
	"--innodb-log-buffer-size=2M",
	"--key-buffer-size=1M",
	"--aria-pagecache-buffer-size=1M",
	"--max-connections=40",
	"--table-open-cache=64",
	"--table-definition-cache=400",
	"--innodb-read-io-threads=1",
	"--innodb-write-io-threads=1",
	"--innodb-purge-threads=1",
}

// monitorSchedule is the payload the monitor's schedule delivers (an
// EventBridge scheduled event); the monitor ignores it.
const monitorSchedule = `{"version":"0","id":"bench-schedule","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012",` +
	`"time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/switchback-monitor"],"detail":{}}`

// benchMonitorCost times one monitor pass — the real monitor bootstrap,
// built for this machine with the deployed flags, run through a local
// Lambda Runtime API (shared/lambdatest) — over 1, 4 and 16 configured
// rollback pairs (1 and 4 when quick), each pair two real MariaDB servers
// with reverse replication running, the AWS APIs served by the local fakes
// and the state by dynalite. Every pass is a fresh process (a cold start,
// as a scheduled Lambda may get) with one invocation; its peak memory is
// the process's VmHWM after the answer.
func benchMonitorCost(ctx context.Context, cfg benchConfig) (section, error) {
	started := time.Now()
	sizes := []int{1, 4, 16}
	if cfg.Quick {
		sizes = []int{1, 4}
	}
	passes := min(cfg.Runs, 5)
	sec := section{
		Title: "Monitor cost",
		What: fmt.Sprintf("One monitor pass (the `monitor` function's bootstrap, built for %s/%s with the deployed flags, "+
			"run under shared/lambdatest's local Runtime API with the environment the CDK stack gives it: concurrency 4, "+
			"pair timeout 20 s) over N configured rollback pairs. Each pair is two real MariaDB servers after a simulated "+
			"blue/green switchover, with reverse replication configured by `replication.Configure` and running; each has "+
			"its clusters and DB cluster parameter groups in the fake RDS, one admin secret in the fake Secrets Manager, "+
			"and a configured record in dynalite. Per pair the monitor reads both admin secrets, connects both writers, "+
			"checks both fences (DescribeDBClusters, parameter groups), runs `replication.Observe` with the heartbeat "+
			"probe and `MeasureHeadroom`, publishes an EMF line and stores what it saw. Each pass is a fresh process "+
			"with one invocation: the time is from handing it the invocation to its answer (cold start included); "+
			"peak memory is its VmHWM then. %d passes per size.", runtime.GOOS, runtime.GOARCH, passes),
		Header: []string{"pairs", "passes", "pass median", "pass p95", "pass max", "slowest pair median", "peak RSS median", "peak RSS max", "pairs ready"},
	}

	cfg.Progress("building the monitor for %s/%s", runtime.GOOS, runtime.GOARCH)
	bins, err := buildFunctions(ctx, filepath.Join(cfg.WorkDir, "monitor-native"), runtime.GOOS, runtime.GOARCH, []string{"monitor"})
	if err != nil {
		return sec, err
	}
	bin := bins["monitor"]

	h := newHarness(ctx, "monitor", cfg.WorkDir)
	defer h.close()
	maxPairs := slices.Max(sizes)
	cfg.Progress("starting %d MariaDB servers (%d pairs)", 2*maxPairs, maxPairs)
	pairs, err := startMonitorPairs(ctx, maxPairs)
	defer func() {
		for _, p := range pairs {
			p.close()
		}
	}()
	if err != nil {
		return sec, err
	}
	rss, err := serversRSS(pairs)
	if err != nil {
		return sec, err
	}

	cfg.Progress("configuring reverse replication on %d pairs", maxPairs)
	if err := configurePairs(ctx, pairs); err != nil {
		return sec, err
	}
	var world *monitorWorld
	if err := h.do(func() { world = newMonitorWorld(h, pairs, sizes) }); err != nil {
		return sec, fmt.Errorf("start the local AWS fakes and dynalite: %w", err)
	}

	var passOf16 []float64
	for _, n := range sizes {
		var walls, slowest, hwms []float64
		ready := map[int]int{} // ready pairs → passes
		for i := range passes {
			var pass monitorPass
			err := h.do(func() { pass = world.pass(h, bin, n) })
			if err != nil {
				return sec, fmt.Errorf("%d pairs, pass %d: %w", n, i+1, err)
			}
			walls, slowest, hwms = append(walls, ms(pass.wall)), append(slowest, float64(pass.slowestMS)), append(hwms, float64(pass.hwm))
			ready[pass.ready]++
			cfg.Progress("%d pairs, pass %d/%d: %s, slowest pair %d ms, peak RSS %s, %d/%d ready",
				n, i+1, passes, fmtMS(ms(pass.wall)), pass.slowestMS, mib(pass.hwm), pass.ready, n)
			if pass.ready != n {
				cfg.Progress("not ready: %s", pass.notReady)
			}
		}
		w, sl, hw := summarize(walls), summarize(slowest), summarize(hwms)
		sec.Rows = append(sec.Rows, []string{strconv.Itoa(n), strconv.Itoa(w.N), fmtMS(w.Median), fmtMS(w.P95), fmtMS(w.Max),
			fmtMS(sl.Median), mib(int64(hw.Median)), mib(int64(hw.Max)), describeReady(ready, n)})
		if n == 16 {
			passOf16 = walls
		}
	}
	sec.Target = monitorVerdict(passOf16)
	sec.Notes = []string{
		fmt.Sprintf("Each MariaDB server here is started small (%s) and took %s RSS after configure (median of %d); "+
			"the monitor's figures do not depend on it.", strings.Join(monitorServerArgs, " "), mib(rss), 2*maxPairs),
		"\"Slowest pair\" is the longest per-pair observation the monitor reported (PairStatus.ms): with concurrency 4, " +
			"16 pairs are observed in about four waves.",
		"All servers, the fakes, dynalite and the monitor share this machine's 2 cores; on Lambda the monitor has its " +
			"memory size's share of a CPU and the clusters are elsewhere.",
	}
	sec.Took = time.Since(started)
	return sec, nil
}

// monitorVerdict states the target — 16 pairs ≤ 5 s — on the
// median pass.
func monitorVerdict(walls []float64) string {
	if len(walls) == 0 {
		return fmt.Sprintf("one pass over 16 pairs ≤ %.0f s: not measured (quick run: 1 and 4 pairs only)", monitorTarget.Seconds())
	}
	st := summarize(walls)
	verdict := "met"
	if st.Median > ms(monitorTarget) {
		verdict = "not met"
	}
	return fmt.Sprintf("one pass over 16 pairs ≤ %.0f s: **%s** (median %s, p95 %s, max %s over %d passes)",
		monitorTarget.Seconds(), verdict, fmtMS(st.Median), fmtMS(st.P95), fmtMS(st.Max), st.N)
}

// describeReady says how many pairs each pass found ready.
func describeReady(ready map[int]int, n int) string {
	if len(ready) == 1 {
		for r := range ready {
			return fmt.Sprintf("%d/%d", r, n)
		}
	}
	var counts []int
	for r := range ready {
		counts = append(counts, r)
	}
	slices.Sort(counts)
	var parts []string
	for _, r := range counts {
		parts = append(parts, fmt.Sprintf("%d/%d in %d passes", r, n, ready[r]))
	}
	return strings.Join(parts, ", ")
}

// monitorPair is one rollback pair of the monitor benchmark: green is
// production, blue the rollback target.
type monitorPair struct {
	index       int
	blue, green *sandbox.Server
	coords      sandbox.Coordinates
}

func (p *monitorPair) close() {
	for _, s := range []*sandbox.Server{p.blue, p.green} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// prodID and rollbackID are the pair's cluster identifiers.
func (p *monitorPair) prodID() string     { return fmt.Sprintf("bench-prod-%02d", p.index+1) }
func (p *monitorPair) rollbackID() string { return p.prodID() + "-old1" }

// deployment is the pair's blue/green deployment id.
func (p *monitorPair) deployment() string { return fmt.Sprintf("bgd-benchpair%02d", p.index+1) }

// monitorAdmin is the admin user every pair's servers get; its password is
// generated per run and only ever travels through the fake Secrets Manager.
const monitorAdmin = "admin"

// startMonitorPairs starts 2n small servers, eight at a time (parallel
// installs on two cores are slow, not broken).
func startMonitorPairs(ctx context.Context, n int) ([]*monitorPair, error) {
	opts := sandbox.Options{ExtraArgs: monitorServerArgs, StartTimeout: time.Minute}
	var servers []*sandbox.Server
	for len(servers) < 2*n {
		batch := min(8, 2*n-len(servers))
		opts.NamePrefix = fmt.Sprintf("bench-mon-%02d", len(servers)/8+1)
		s, err := sandbox.StartN(ctx, batch, opts)
		if err != nil {
			for _, started := range servers {
				_ = started.Close()
			}
			return nil, fmt.Errorf("start MariaDB servers %d–%d of %d: %w", len(servers)+1, len(servers)+batch, 2*n, err)
		}
		servers = append(servers, s...)
	}
	pairs := make([]*monitorPair, n)
	for i := range pairs {
		pairs[i] = &monitorPair{index: i, blue: servers[2*i], green: servers[2*i+1]}
	}
	return pairs, nil
}

// serversRSS is the median resident set size of the pairs' mariadbd
// processes.
func serversRSS(pairs []*monitorPair) (int64, error) {
	var v []float64
	for _, p := range pairs {
		for _, s := range []*sandbox.Server{p.blue, p.green} {
			pid := s.PID()
			if pid == 0 {
				return 0, fmt.Errorf("server %s is not running", s.Name)
			}
			rss, err := residentSize(pid)
			if err != nil {
				return 0, err
			}
			v = append(v, float64(rss))
		}
	}
	return int64(summarize(v).Median), nil
}

// residentSize is a process's current VmRSS, in bytes.
func residentSize(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the RSS of pid %d: %w", pid, err)
	}
	return parseStatusKB(strings.NewReader(string(b)), "VmRSS")
}

// configurePairs plays the switchover on every pair (seeding the admin
// user and a schema on blue) and configures reverse replication green →
// blue with the engine, four pairs at a time. The password is generated
// here and returned through the pairs' secret only.
func configurePairs(ctx context.Context, pairs []*monitorPair) error {
	sem := make(chan struct{}, 4)
	errs := make([]error, len(pairs))
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = p.configure(ctx)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// monitorPassword is the admin password of every pair's servers, made
// once per run.
var monitorPassword = sync.OnceValue(func() string { return rand.Text() })

func (p *monitorPair) configure(ctx context.Context) error {
	coords, err := sandbox.SimulateSwitchover(ctx, p.blue, p.green, func(db *sql.DB) error {
		for _, q := range []string{
			"CREATE USER '" + monitorAdmin + "'@'%' IDENTIFIED BY '" + monitorPassword() + "'",
			"GRANT ALL ON *.* TO '" + monitorAdmin + "'@'%' WITH GRANT OPTION",
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL)",
			"INSERT INTO shop.orders VALUES (1, 'seed')",
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("seed: %w", redactPasswordErr(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pair %d: simulate the switchover: %w", p.index+1, err)
	}
	p.coords = coords
	prod, err := replication.Connect(ctx, "production", p.green.RootDSN(), replication.DialectAuto)
	if err != nil {
		return fmt.Errorf("pair %d: connect production: %w", p.index+1, err)
	}
	defer prod.Close()
	rb, err := replication.Connect(ctx, "rollback target", p.blue.RootDSN(), replication.DialectAuto)
	if err != nil {
		return fmt.Errorf("pair %d: connect the rollback target: %w", p.index+1, err)
	}
	defer rb.Close()
	res, err := replication.Configure(ctx, replication.ConfigureRequest{
		Production: prod, Rollback: rb, Start: replication.BinlogPosition{File: coords.File, Position: coords.Position},
	})
	if err != nil {
		return fmt.Errorf("pair %d: configure reverse replication (outcome %s): %w", p.index+1, res.Outcome, err)
	}
	return nil
}

// redactPasswordErr drops an error's text when it could quote the seed's
// CREATE USER statement.
func redactPasswordErr(err error) error {
	if strings.Contains(err.Error(), monitorPassword()) {
		return errors.New("a statement of the seed failed (message withheld: it quotes the admin password)")
	}
	return err
}

// monitorWorld is the AWS side of the monitor benchmark: the fakes, and a
// dynalite table per pair count holding that many configured records.
type monitorWorld struct {
	base   []string       // environment shared by every pass
	tables map[int]string // pair count → table
}

// newMonitorWorld starts the fakes and dynalite, registers every pair's
// clusters, parameter groups and admin secret, and fills one table per
// size with the first size pairs' configured records.
func newMonitorWorld(h *harness, pairs []*monitorPair, sizes []int) *monitorWorld {
	rdsFake := awsfake.StartRDS(h)
	sm := awsfake.StartSecretsManager(h)
	sns := awsfake.StartSNS(h)
	sns.AddTopic(benchTopicARN)
	db := dynalitetest.Start(h)

	secret, err := json.Marshal(map[string]string{"username": monitorAdmin, "password": monitorPassword()})
	if err != nil {
		h.Fatalf("admin secret: %v", err)
	}
	arn := sm.PutSecret("bench/admin", string(secret))
	var admin []string
	now := time.Now().UTC()
	var records []orchestrate.Record
	for _, p := range pairs {
		prod, rb := p.clusters()
		rdsFake.AddParameterGroup(prod.ParameterGroup, map[string]string{"read_only": "0"})
		rdsFake.AddParameterGroup(rb.ParameterGroup, map[string]string{"read_only": "1"}) // configure fenced it (SQL); the group agrees
		for _, c := range []orchestrate.Cluster{prod, rb} {
			rdsFake.AddCluster(awsfake.RDSCluster{ID: c.ID, Engine: c.Engine, EngineVersion: c.EngineVersion,
				Endpoint: c.Endpoint, Port: c.Port, ParameterGroup: c.ParameterGroup, Tags: c.Tags,
				Members: []awsfake.RDSClusterMember{{Instance: c.Writer, Writer: true}}})
		}
		admin = append(admin, prod.ID+"="+arn) // <id>-old1 resolves to <id>'s secret
		records = append(records, orchestrate.Record{
			Deployment: p.deployment(), Production: &prod, Rollback: &rb,
			Status: orchestrate.StatusSwitchoverCompleted, CreateTime: now.Add(-2 * time.Hour),
			Coords: &orchestrate.Coordinates{File: p.coords.File, Position: p.coords.Position, Source: prod.ID, Time: now.Add(-time.Hour), Via: "event",
				Message: fmt.Sprintf("Binary log coordinates in green environment after switchover: file %s and position %d.", p.coords.File, p.coords.Position)},
			Phase: orchestrate.PhaseConfigured, ConfiguredAt: now.Add(-50 * time.Minute),
		})
	}
	w := &monitorWorld{tables: map[int]string{}}
	for _, n := range sizes {
		table := fmt.Sprintf("%s-%d", benchTable, n)
		if err := dynamostate.CreateTable(h.Context(), db.Client, table); err != nil {
			h.Fatalf("create table %s: %v", table, err)
		}
		store := dynamostate.New(db.Client, table)
		for _, rec := range records[:n] {
			if _, err := store.Create(h.Context(), rec); err != nil {
				h.Fatalf("create record %s in %s: %v", rec.Deployment, table, err)
			}
		}
		w.tables[n] = table
	}
	w.base = append(functionEnv(db.Endpoint, "", strings.Join(admin, ",")),
		rdsFake.EndpointEnv(), sm.EndpointEnv(), sns.EndpointEnv(), "AWS_LAMBDA_FUNCTION_NAME=switchback-monitor")
	return w
}

// clusters are the pair's two clusters as RDS describes them: green is
// production (Aurora MySQL 3), blue the -old1 rollback cluster (2).
func (p *monitorPair) clusters() (prod, rb orchestrate.Cluster) {
	tags := map[string]string{"switchback:enabled": "true"}
	cluster := func(id string, s *sandbox.Server, version string) orchestrate.Cluster {
		return orchestrate.Cluster{ID: id, ARN: "arn:aws:rds:us-east-1:123456789012:cluster:" + id, Endpoint: s.Host, Port: s.Port,
			Engine: "aurora-mysql", EngineVersion: version, ParameterGroup: id + "-params", Tags: tags,
			Instances: []string{id + "-instance-1"}, Writer: id + "-instance-1"}
	}
	return cluster(p.prodID(), p.green, "8.0.mysql_aurora.3.08.0"), cluster(p.rollbackID(), p.blue, "5.7.mysql_aurora.2.12.1")
}

// monitorPass is what one pass measured.
type monitorPass struct {
	wall      time.Duration
	hwm       int64
	ready     int
	slowestMS int64
	notReady  string
}

// pass starts a fresh monitor process pointed at the table of n pairs,
// invokes it once and checks that it reported every pair.
func (w *monitorWorld) pass(h *harness, bin string, n int) monitorPass {
	var p monitorPass
	env := append(slices.Clone(w.base), lambdaenv.EnvTable+"="+w.tables[n])
	f := lambdatest.Start(h, bin, env)
	defer f.Stop()
	t0 := time.Now()
	res, err := f.Invoke([]byte(monitorSchedule))
	p.wall = time.Since(t0)
	if err != nil {
		h.Fatalf("invoke the monitor: %v\noutput:\n%s", err, tail(f.Output(), 20))
	}
	if res.Error != nil {
		h.Fatalf("the monitor failed: %v\noutput:\n%s", res.Error, tail(f.Output(), 20))
	}
	pid, err := childPID(bin)
	if err != nil {
		h.Fatalf("%v", err)
	}
	if p.hwm, err = peakRSS(pid); err != nil {
		h.Fatalf("%v", err)
	}
	var rep orchestrate.MonitorReport
	if err := json.Unmarshal(res.Response, &rep); err != nil {
		h.Fatalf("the monitor's answer is not a MonitorReport: %v", err)
	}
	if len(rep.Pairs) != n {
		h.Fatalf("the monitor reported %d pairs; want %d", len(rep.Pairs), n)
	}
	var reasons []string
	for _, st := range rep.Pairs {
		p.slowestMS = max(p.slowestMS, st.MS)
		if st.Ready {
			p.ready++
		} else {
			reasons = append(reasons, st.Deployment+": "+strings.Join(st.Reasons, "; "))
		}
	}
	p.notReady = strings.Join(reasons, " | ")
	return p
}
