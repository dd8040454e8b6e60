package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// benchLagAccuracy measures how well three lag measurements follow a
// rollback target whose SQL thread is held a known time behind production
// (CHANGE MASTER TO MASTER_DELAY = 1, 3, 10 s; 1 and 3 s when quick) while
// production takes a paced write load: switchback's heartbeat probe
// (replication.Observe's ProbeLagMS), Seconds_Behind_Master and
// pt-heartbeat --check. Every reading is also compared with the actual lag
// of the write the probe made at that moment, recorded by the rollback
// target itself (a trigger stamps SYSDATE(6) as the replicated row is
// applied). Then the IO thread is stalled (a proxy stops forwarding, the
// connection stays up): Seconds_Behind_Master reads 0 while the probe
// times out and pt-heartbeat grows.
func benchLagAccuracy(ctx context.Context, cfg benchConfig) (section, error) {
	started := time.Now()
	delays, stalls := []int{1, 3, 10}, []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second}
	if cfg.Quick {
		delays, stalls = []int{1, 3}, []time.Duration{2 * time.Second, 5 * time.Second}
	}
	sec := section{
		Title: "Lag accuracy",
		What: fmt.Sprintf("Two MariaDB servers after a simulated blue/green switchover; switchback configures reverse replication "+
			"(production → rollback target) through a local TCP proxy; production takes %d writes/s (loadgen, paced) and "+
			"pt-heartbeat --update writes its row every %s s. The rollback target's SQL thread is held N s behind with "+
			"`CHANGE MASTER TO MASTER_DELAY = N` (replication stopped around it); after one discarded probe (steady state), "+
			"each reading starts at a different fraction of a second and takes, at once: Seconds_Behind_Master "+
			"(SHOW SLAVE STATUS), `pt-heartbeat --check --interval %s --skew %s` and switchback's probe "+
			"(`replication.Observe`, ProbeTimeout N + 5 s: a token written on production, timed until visible on the target). "+
			"**Actual lag** is the lag of the write that probe made, recorded by the rollback target itself: a trigger on "+
			"switchback.heartbeat (slave_run_triggers_for_rbr) stamps SYSDATE(6) when the replicated row is applied, minus "+
			"the row's written_at (NOW(6) on production; both servers share one clock). Last, the IO thread is stalled: the "+
			"proxy stops forwarding while the connection stays open; there the true lag is the age of the newest write the "+
			"target has applied.", lagLoadRate, ptHeartbeatInterval, ptHeartbeatInterval, ptCheckSkew),
		Floor: "the same readings with MASTER_DELAY = 0, in the same run: what each method reads when nothing is held " +
			"(replication's own latency on this machine).",
		Header: lagHeader,
	}
	cfg.Progress("starting 2 MariaDB servers, simulating a blue/green switchover, configuring reverse replication, starting the load and pt-heartbeat")
	rig, err := startLagPair(ctx, cfg)
	if err != nil {
		return sec, err
	}
	defer rig.close()
	if err := rig.installTruth(ctx); err != nil {
		return sec, err
	}

	var sets []lagSet
	for _, n := range append([]int{0}, delays...) {
		reps := cfg.Runs
		if n >= 10 && !cfg.Quick {
			reps = min(reps, max(5, cfg.Runs/2)) // 10 s a reading
		}
		set, err := rig.delaySet(ctx, cfg, n, reps)
		if err != nil {
			return sec, fmt.Errorf("MASTER_DELAY = %d: %w", n, err)
		}
		sets = append(sets, set)
	}
	if err := rig.setDelay(ctx, 0); err != nil {
		return sec, err
	}
	if err := rig.waitSteady(ctx, 30*time.Second); err != nil {
		return sec, err
	}
	stall, err := rig.stallSet(ctx, cfg, stalls)
	if err != nil {
		return sec, fmt.Errorf("IO thread stall: %w", err)
	}
	res := rig.load.Stop()

	for _, set := range sets {
		sec.Rows = append(sec.Rows, set.rows()...)
	}
	sec.Rows = append(sec.Rows, stall.rows()...)
	sec.Target = lagTarget(sets[1:])
	sec.Notes = append(sec.Notes, lagNotes(sets)...)
	sec.Notes = append(sec.Notes, stall.notes()...)
	sec.Notes = append(sec.Notes, fmt.Sprintf("Load on production: %s.", res))
	sec.Took = time.Since(started)
	return sec, nil
}

// lagHeader is the lag section's table header.
var lagHeader = []string{"lag held", "method", "n", "reading median", "|error| vs N median", "|error| vs N p95", "|error| vs actual median", "|error| vs actual p95"}

// The three methods, as the table names them.
const (
	methodProbe = "switchback probe (ProbeLagMS)"
	methodSBM   = "Seconds_Behind_Master"
	methodPT    = "pt-heartbeat --check"
)

// lagReading is one moment's three readings and the truth about them, in
// seconds.
type lagReading struct {
	// Actual is the lag of the probe's own write, recorded by the target.
	Actual float64
	Probe  float64
	SBM    float64
	PT     float64
}

// lagSet is the readings taken with the SQL thread held Delay seconds.
type lagSet struct {
	Delay    int
	Readings []lagReading
}

// methodValues returns one method's readings and their errors against the
// nominal delay and the actual lag.
func (s lagSet) methodValues(method string) (readings, errN, errActual []float64) {
	for _, r := range s.Readings {
		v := r.Probe
		switch method {
		case methodSBM:
			v = r.SBM
		case methodPT:
			v = r.PT
		}
		readings = append(readings, v)
		errN = append(errN, math.Abs(v-float64(s.Delay)))
		errActual = append(errActual, math.Abs(v-r.Actual))
	}
	return readings, errN, errActual
}

// rows are the set's table rows: its actual lag, then one per method.
func (s lagSet) rows() [][]string {
	held := fmt.Sprintf("%d s (MASTER_DELAY)", s.Delay)
	if s.Delay == 0 {
		held = "0 s (floor)"
	}
	var actual []float64
	for _, r := range s.Readings {
		actual = append(actual, r.Actual)
	}
	a := summarize(actual)
	n := strconv.Itoa(len(s.Readings))
	aErr := make([]float64, len(actual))
	for i, v := range actual {
		aErr[i] = math.Abs(v - float64(s.Delay))
	}
	ae := summarize(aErr)
	rows := [][]string{{held, "actual lag of the probed write (truth)", n, lagSec(a.Median), lagSec(ae.Median), lagSec(ae.P95), "—", "—"}}
	for _, m := range []string{methodProbe, methodSBM, methodPT} {
		v, eN, eA := s.methodValues(m)
		vs, ens, eas := summarize(v), summarize(eN), summarize(eA)
		rows = append(rows, []string{held, m, n, lagSec(vs.Median), lagSec(ens.Median), lagSec(ens.P95), lagSec(eas.Median), lagSec(eas.P95)})
	}
	return rows
}

// lagSec formats seconds with three decimals ("1.034 s"), "—" for NaN.
func lagSec(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 3, 64) + " s"
}

// lagTargetError is the bound on the probe's error.
const lagTargetError = 0.5

// lagTarget states the target — probe lag error ≤ 0.5 s at every
// induced delay — judged on the p95 of the probe's |error| against the
// actual lag of the write it timed, with the error against the nominal
// delay N beside it.
func lagTarget(sets []lagSet) string {
	met := true
	var vsActual, vsN []string
	for _, s := range sets {
		_, eN, eA := s.methodValues(methodProbe)
		pa, pn := summarize(eA).P95, summarize(eN).P95
		if math.IsNaN(pa) || pa > lagTargetError {
			met = false
		}
		vsActual = append(vsActual, fmt.Sprintf("%s at %d s", lagSec(pa), s.Delay))
		vsN = append(vsN, fmt.Sprintf("%s at %d s", lagSec(pn), s.Delay))
	}
	verdict := "met"
	if !met {
		verdict = "not met"
	}
	return fmt.Sprintf("probe lag |error| ≤ %.1f s at every induced delay: **%s** — p95 |error| against the actual lag of the probed write: %s; "+
		"against the nominal delay N: %s (see the notes: MariaDB holds each write N s after its whole-second timestamp, "+
		"so the actual lag itself spreads around N)",
		lagTargetError, verdict, strings.Join(vsActual, ", "), strings.Join(vsN, ", "))
}

// lagNotes explains the delay readings: how far the actual lag spreads
// around N, and how coarse Seconds_Behind_Master is.
func lagNotes(sets []lagSet) []string {
	var spread []string
	for _, s := range sets {
		if s.Delay == 0 {
			continue
		}
		var actual []float64
		for _, r := range s.Readings {
			actual = append(actual, r.Actual)
		}
		a := summarize(actual)
		spread = append(spread, fmt.Sprintf("%s–%s at %d s", lagSec(a.Min), lagSec(a.Max), s.Delay))
	}
	return []string{
		"MariaDB's MASTER_DELAY holds an event until its binlog timestamp, in whole seconds, plus N, and its SQL thread " +
			"wakes on whole-second sleeps, so the actual lag of one write depends on where in the second it was made: " +
			"actual lag of the probed writes " + strings.Join(spread, ", ") + ". That is why every method's error against " +
			"the nominal N is large for a reason that is not the method's; the error against the actual lag of the same " +
			"write is the method's own.",
		"Seconds_Behind_Master is a whole number of seconds, computed from the same whole-second timestamps. " +
			"pt-heartbeat reads the age of the newest heartbeat the target has applied (staleness), switchback's probe the " +
			"time a write made now takes to arrive; both agree with the actual lag when the delay is steady. " +
			"pt-heartbeat --check always checks at a whole second plus --skew (its own schedule, whenever it is started), " +
			"so under MASTER_DELAY it samples the same point of the target's once-a-second rhythm every time.",
		"Each reading waits for a different fraction of the next second (golden-ratio steps) so that readings do not lock " +
			"on to the target's once-a-second apply rhythm; the probe of one reading takes about N s, the readings are " +
			"sequential (one heartbeat row per target).",
	}
}

// lagPhase is the fraction of a second reading i starts at: the golden
// ratio's multiples modulo 1, spread evenly over [0, 1) for any count.
func lagPhase(i int) time.Duration {
	const golden = 0.6180339887498949
	f := math.Mod(float64(i)*golden, 1)
	return time.Duration(f * float64(time.Second))
}

// nextPhase is the first instant after now at phase within a second, at
// least a whole second after now's second began.
func nextPhase(now time.Time, phase time.Duration) time.Time {
	t := now.Truncate(time.Second).Add(phase)
	for !t.After(now) {
		t = t.Add(time.Second)
	}
	return t
}

// truthDB holds the rollback target's record of when each probe row was
// applied.
const truthDB = "bench_truth"

// installTruth makes the rollback target record the moment each
// replicated heartbeat row is applied: triggers on switchback.heartbeat
// (run for row events with slave_run_triggers_for_rbr) insert the token,
// SYSDATE(6) — the real time, not the replicated statement's — and the
// row's written_at into bench_truth.applied. None of it is binlogged on
// the target (sql_log_bin = 0), so switchback sees no transaction of the
// target's own. Replication is restarted to pick the setting up.
func (p *lagPair) installTruth(ctx context.Context) error {
	conn, err := p.blueDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("rollback target: connect: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0",
		"SET GLOBAL slave_run_triggers_for_rbr = 'YES'",
		"CREATE DATABASE " + truthDB,
		"CREATE TABLE " + truthDB + ".applied (token VARCHAR(64) NOT NULL PRIMARY KEY, applied_at TIMESTAMP(6) NOT NULL, written_at TIMESTAMP(6) NOT NULL) ENGINE=InnoDB",
		"CREATE TRIGGER switchback.bench_truth_update AFTER UPDATE ON switchback.heartbeat FOR EACH ROW " +
			"INSERT INTO " + truthDB + ".applied VALUES (NEW.token, SYSDATE(6), NEW.written_at)",
		"CREATE TRIGGER switchback.bench_truth_insert AFTER INSERT ON switchback.heartbeat FOR EACH ROW " +
			"INSERT INTO " + truthDB + ".applied VALUES (NEW.token, SYSDATE(6), NEW.written_at)",
		"STOP SLAVE",
		"START SLAVE",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rollback target: install the apply-time record: %s: %w", q, err)
		}
	}
	return nil
}

// actualLag returns the lag of the newest probe write made at or after
// since, as the rollback target recorded it.
func (p *lagPair) actualLag(ctx context.Context, since time.Time) (float64, error) {
	var us sql.NullInt64
	err := p.blueDB.QueryRowContext(ctx, "SELECT TIMESTAMPDIFF(MICROSECOND, written_at, applied_at) FROM "+truthDB+".applied "+
		"WHERE written_at >= FROM_UNIXTIME(?) ORDER BY applied_at DESC LIMIT 1", float64(since.UnixMicro())/1e6).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !us.Valid) {
		return 0, errors.New("the rollback target recorded no probe write since the reading began")
	}
	if err != nil {
		return 0, fmt.Errorf("rollback target: read the apply-time record: %w", err)
	}
	return float64(us.Int64) / 1e6, nil
}

// delaySet holds the SQL thread delay seconds behind, waits for the
// steady state (one probe, discarded) and takes reps readings.
func (p *lagPair) delaySet(ctx context.Context, cfg benchConfig, delay, reps int) (lagSet, error) {
	set := lagSet{Delay: delay}
	if err := p.setDelay(ctx, delay); err != nil {
		return set, err
	}
	// A write made after the delay took effect arrives N s later: once the
	// first probe has seen its token, every event applied is N s old.
	if _, err := p.probe(ctx, delay); err != nil {
		return set, fmt.Errorf("steady-state probe: %w", err)
	}
	for i := range reps {
		r, err := p.reading(ctx, delay, lagPhase(i))
		if err != nil {
			return set, fmt.Errorf("reading %d of %d: %w", i+1, reps, err)
		}
		set.Readings = append(set.Readings, r)
		cfg.Progress("held %d s, reading %d/%d: actual %s, probe %s, SBM %s, pt-heartbeat %s", delay, i+1, reps,
			lagSec(r.Actual), lagSec(r.Probe), lagSec(r.SBM), lagSec(r.PT))
	}
	return set, nil
}

// probe runs replication.Observe with a probe timeout of delay + 5 s and
// returns its probe lag.
func (p *lagPair) probe(ctx context.Context, delay int) (float64, error) {
	obs, err := replication.Observe(ctx, replication.ObserveRequest{
		Production: p.prod, Rollback: p.rb, ProbeTimeout: time.Duration(delay+5) * time.Second,
	})
	if err != nil {
		return 0, fmt.Errorf("observe: %w", err)
	}
	if obs.ProbeLagMS == nil {
		return 0, fmt.Errorf("observe gave no probe lag: %s", strings.Join(obs.Reasons, "; "))
	}
	return float64(*obs.ProbeLagMS) / 1000, nil
}

// reading waits for phase in the next second, then takes the three
// readings at once and the actual lag of the probe's write.
func (p *lagPair) reading(ctx context.Context, delay int, phase time.Duration) (lagReading, error) {
	var r lagReading
	at := nextPhase(time.Now(), phase)
	t := time.NewTimer(time.Until(at))
	select {
	case <-ctx.Done():
		t.Stop()
		return r, ctx.Err()
	case <-t.C:
	}
	began := time.Now()
	type ptResult struct {
		v   float64
		err error
	}
	ptc := make(chan ptResult, 1)
	go func() {
		v, err := ptCheck(ctx, p.blue, p.green.ServerID)
		ptc <- ptResult{v, err}
	}()
	rs, err := p.rb.ReplicaStatus(ctx)
	if err == nil && rs.SecondsBehind == nil {
		err = fmt.Errorf("Seconds_Behind_Master is NULL (IO %s, SQL %s)", rs.IORunning, rs.SQLRunning)
	}
	if err != nil {
		<-ptc
		return r, err
	}
	r.SBM = float64(*rs.SecondsBehind)
	r.Probe, err = p.probe(ctx, delay)
	pt := <-ptc
	if err != nil {
		return r, err
	}
	if pt.err != nil {
		return r, pt.err
	}
	r.PT = pt.v
	if r.Actual, err = p.actualLag(ctx, began); err != nil {
		return r, err
	}
	return r, nil
}

// stallReading is what each method said while the IO thread was stalled.
// During a stall nothing is applied, so the true lag at any instant is
// that instant minus the commit time of the newest write the target
// applied before the stall; each method is judged at its own instant.
type stallReading struct {
	// After is how long forwarding had been stopped when the reading began.
	After time.Duration
	// Actual is the true lag when the reading began, in seconds.
	Actual float64
	// SBM and its true lag (when SHOW SLAVE STATUS answered), the thread
	// states it reported.
	SBM, SBMActual float64
	IO, SQL        string
	// PT and its true lag (when pt-heartbeat --check exited).
	PT, PTActual float64
	// ProbeTimeout is the probe's timeout; ProbeLag is nil when the probe
	// timed out. Ready and Reason are Observe's verdict.
	ProbeTimeout time.Duration
	ProbeLag     *float64
	Ready        bool
	Reason       string
}

// stallSet is the stalled-IO-thread case: the readings during the stall
// and the recovery after it.
type stallSet struct {
	Readings []stallReading
	// Recovery is the probe lag of a write made the moment forwarding
	// resumed: how long the target took to get through the backlog.
	Recovery float64
	// AfterProbe is the probe lag once the target had caught up.
	AfterProbe float64
}

// stallProbeTimeout is the probe timeout during the stall: long enough for
// a healthy pair (probe lags are milliseconds), short enough to read the
// stall early. The deployed monitor uses 2 × MaxLag (10 s by default).
const stallProbeTimeout = 2 * time.Second

// stallSet stops the proxy's forwarding, takes a reading at each of the
// given times after the stop, then resumes and measures the recovery.
func (p *lagPair) stallSet(ctx context.Context, cfg benchConfig, at []time.Duration) (stallSet, error) {
	var set stallSet
	p.proxy.pause()
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			p.proxy.resume()
		}
	}()
	cfg.Progress("IO thread stalled: the proxy stopped forwarding (the connection stays open); production keeps writing")
	var lastApplied time.Time
	for _, after := range at {
		t := time.NewTimer(time.Until(paused.Add(after)))
		select {
		case <-ctx.Done():
			t.Stop()
			return set, ctx.Err()
		case <-t.C:
		}
		if lastApplied.IsZero() {
			var err error
			if lastApplied, err = p.newestApplied(ctx); err != nil {
				return set, err
			}
		}
		r, err := p.stallReading(ctx, paused, lastApplied)
		if err != nil {
			return set, err
		}
		set.Readings = append(set.Readings, r)
		probe := "timed out"
		if r.ProbeLag != nil {
			probe = lagSec(*r.ProbeLag)
		}
		cfg.Progress("stalled %s: actual lag %s, SBM %s (IO %s, SQL %s), pt-heartbeat %s, probe %s, ready %t",
			r.After.Round(100*time.Millisecond), lagSec(r.Actual), lagSec(r.SBM), r.IO, r.SQL, lagSec(r.PT), probe, r.Ready)
	}
	p.proxy.resume()
	resumed = true
	v, err := p.probe(ctx, 30)
	if err != nil {
		return set, fmt.Errorf("after the stall: %w", err)
	}
	set.Recovery = v
	if err := p.waitSteady(ctx, 30*time.Second); err != nil {
		return set, fmt.Errorf("after the stall: %w", err)
	}
	if set.AfterProbe, err = p.probe(ctx, 0); err != nil {
		return set, fmt.Errorf("after the stall: %w", err)
	}
	return set, nil
}

// newestApplied is the commit time on production of the newest load write
// the rollback target has applied.
func (p *lagPair) newestApplied(ctx context.Context) (time.Time, error) {
	var us int64
	if err := p.blueDB.QueryRowContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(created_at) * 1000000 AS SIGNED) FROM "+loadgen.DefaultTable+
		" ORDER BY id DESC LIMIT 1").Scan(&us); err != nil {
		return time.Time{}, fmt.Errorf("rollback target: read the newest applied write: %w", err)
	}
	return time.UnixMicro(us), nil
}

// stallReading takes every method's reading during the stall; lastApplied
// is the newest write applied before it.
func (p *lagPair) stallReading(ctx context.Context, paused, lastApplied time.Time) (stallReading, error) {
	began := time.Now()
	r := stallReading{After: began.Sub(paused), Actual: began.Sub(lastApplied).Seconds(), ProbeTimeout: stallProbeTimeout}
	type ptResult struct {
		v   float64
		at  time.Time
		err error
	}
	ptc := make(chan ptResult, 1)
	go func() {
		v, err := ptCheck(ctx, p.blue, p.green.ServerID)
		ptc <- ptResult{v, time.Now(), err}
	}()
	rs, err := p.rb.ReplicaStatus(ctx)
	if err != nil {
		<-ptc
		return r, err
	}
	r.SBMActual = time.Since(lastApplied).Seconds()
	r.IO, r.SQL = rs.IORunning, rs.SQLRunning
	r.SBM = math.NaN()
	if rs.SecondsBehind != nil {
		r.SBM = float64(*rs.SecondsBehind)
	}
	obs, err := replication.Observe(ctx, replication.ObserveRequest{Production: p.prod, Rollback: p.rb, ProbeTimeout: stallProbeTimeout})
	pt := <-ptc
	if err != nil {
		return r, fmt.Errorf("observe: %w", err)
	}
	if pt.err != nil {
		return r, pt.err
	}
	r.PT, r.PTActual = pt.v, pt.at.Sub(lastApplied).Seconds()
	r.Ready = obs.Ready
	if obs.ProbeLagMS != nil {
		v := float64(*obs.ProbeLagMS) / 1000
		r.ProbeLag = &v
	}
	for _, reason := range obs.Reasons {
		if strings.Contains(reason, "probe") {
			r.Reason = reason
			break
		}
	}
	return r, nil
}

// rows are the stall's table rows: for each reading, the truth and the
// three methods. The probe's reading during a stall is its verdict (it
// timed out), not a number, so it has no error.
func (s stallSet) rows() [][]string {
	var rows [][]string
	for _, r := range s.Readings {
		held := fmt.Sprintf("IO stalled %.0f s", r.After.Seconds())
		probe, probeErr := fmt.Sprintf("no token within %.0f s: stall reported, not ready", r.ProbeTimeout.Seconds()), "—"
		if r.ProbeLag != nil {
			probe, probeErr = lagSec(*r.ProbeLag), lagSec(math.Abs(*r.ProbeLag-r.Actual))
		}
		sbmErr, ptErr := lagSec(math.Abs(r.SBM-r.SBMActual)), lagSec(math.Abs(r.PT-r.PTActual))
		rows = append(rows,
			[]string{held, "actual lag: age of the newest applied write (truth)", "1", lagSec(r.Actual), "—", "—", "—", "—"},
			[]string{held, methodProbe, "1", probe, "—", "—", probeErr, probeErr},
			[]string{held, methodSBM + " (IO " + r.IO + ", SQL " + r.SQL + ")", "1", lagSec(r.SBM), "—", "—", sbmErr, sbmErr},
			[]string{held, methodPT, "1", lagSec(r.PT), "—", "—", ptErr, ptErr},
		)
	}
	return rows
}

// notes say what the stall showed.
func (s stallSet) notes() []string {
	zero := 0
	for _, r := range s.Readings {
		if r.SBM == 0 {
			zero++
		}
	}
	n := []string{fmt.Sprintf("IO thread stall: Seconds_Behind_Master read 0 in %d of %d readings while both threads said Yes and nothing arrived; "+
		"the probe (timeout %.0f s here; the deployed monitor uses 2 × MaxLag, 10 s by default) saw no token and Observe said not ready. "+
		"During the stall each method's error is against the true lag at its own reading instant (SHOW SLAVE STATUS answered; "+
		"pt-heartbeat --check exited), since the true lag grows one second per second. When forwarding resumed, a write made "+
		"at that moment arrived after %s; once caught up the probe read %s.",
		zero, len(s.Readings), stallProbeTimeout.Seconds(), lagSec(s.Recovery), lagSec(s.AfterProbe))}
	for _, r := range s.Readings {
		if r.Reason != "" {
			n = append(n, "Observe's reason during the stall: \""+r.Reason+"\"")
			break
		}
	}
	return n
}

// waitSteady probes until a write made now reaches the rollback target
// within steadyProbeLag: replication is caught up (Seconds_Behind_Master
// reads 0 long before that after a restart or a stall).
func (p *lagPair) waitSteady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		v, err := p.probe(ctx, 0)
		if err == nil && v <= steadyProbeLag {
			return nil
		}
		last = fmt.Sprintf("probe %s, %v", lagSec(v), err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("the rollback target did not catch up within %s (last: %s)", timeout, last)
		case <-tick.C:
		}
	}
}

// steadyProbeLag is the probe lag under which the pair counts as caught up.
const steadyProbeLag = 0.2

// lagPair is the rig of the lag benchmark: two real MariaDB servers after a
// simulated blue/green switchover (green is production, blue the rollback
// target), reverse replication configured by switchback through a
// stallProxy, a paced application write load on production and
// pt-heartbeat updating its own heartbeat row on production.
type lagPair struct {
	blue, green *sandbox.Server
	prod, rb    *replication.Server
	greenDB     *sql.DB
	blueDB      *sql.DB
	proxy       *stallProxy
	load        *loadgen.Writer
	ptUpdate    *exec.Cmd
	ptDone      chan struct{}
	ptOut       *lockedWriter
}

// lagLoadRate is the application's write rate on production during the
// lag benchmark: a steady, light load, so the heartbeat rows are not the
// only events in the binlog.
const lagLoadRate = 50

// ptHeartbeatInterval is how often pt-heartbeat --update writes its row:
// ten times a second, so its readings are limited by the delay, not by
// its own sampling.
const ptHeartbeatInterval = "0.1"

// ptCheckSkew places pt-heartbeat --check half-way between two updates.
const ptCheckSkew = "0.05"

// ptDatabase holds pt-heartbeat's table on production (and, replicated,
// on the rollback target).
const ptDatabase = "percona"

// startLagPair builds the rig. close undoes it.
func startLagPair(ctx context.Context, cfg benchConfig) (*lagPair, error) {
	ptBin, err := exec.LookPath("pt-heartbeat")
	if err != nil {
		return nil, fmt.Errorf("pt-heartbeat not found (percona-toolkit): run `make deps-bench`: %w", err)
	}
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{NamePrefix: "bench-lag"})
	if err != nil {
		return nil, fmt.Errorf("start the lag pair: %w", err)
	}
	p := &lagPair{blue: servers[0], green: servers[1]}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	coords, err := sandbox.SimulateSwitchover(ctx, p.blue, p.green, func(db *sql.DB) error {
		for _, q := range []string{"CREATE DATABASE shop", loadgen.DDL, "CREATE DATABASE " + ptDatabase} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("simulate the switchover: %w", err)
	}
	if p.greenDB, err = p.green.Open(); err != nil {
		return nil, fmt.Errorf("open production: %w", err)
	}
	if p.blueDB, err = p.blue.Open(); err != nil {
		return nil, fmt.Errorf("open the rollback target: %w", err)
	}
	if p.proxy, err = startStallProxy(p.green.Addr()); err != nil {
		return nil, err
	}
	if p.prod, err = replication.Connect(ctx, "production", p.green.RootDSN(), replication.DialectAuto); err != nil {
		return nil, fmt.Errorf("connect production: %w", err)
	}
	if p.rb, err = replication.Connect(ctx, "rollback target", p.blue.RootDSN(), replication.DialectAuto); err != nil {
		return nil, fmt.Errorf("connect the rollback target: %w", err)
	}
	host, port := p.proxy.hostPort()
	res, err := replication.Configure(ctx, replication.ConfigureRequest{
		Production: p.prod, Rollback: p.rb,
		Start:      replication.BinlogPosition{File: coords.File, Position: coords.Position},
		SourceHost: host, SourcePort: port,
	})
	if err != nil {
		return nil, fmt.Errorf("configure reverse replication (outcome %s): %w", res.Outcome, err)
	}
	cfg.Progress("reverse replication %s → %s through the stall proxy %s:%d: %s", p.green.Addr(), p.blue.Addr(), host, port, res.Outcome)

	// pt-heartbeat: its table, then its updater at 0.1 s.
	p.ptOut = &lockedWriter{}
	p.ptUpdate = exec.Command(ptBin, "--update", "--create-table", "--replace", "--interval", ptHeartbeatInterval,
		"--database", ptDatabase, ptDSN(p.green))
	p.ptUpdate.Stdout, p.ptUpdate.Stderr = p.ptOut, p.ptOut
	if err := p.ptUpdate.Start(); err != nil {
		return nil, fmt.Errorf("start pt-heartbeat --update: %w", err)
	}
	p.ptDone = make(chan struct{})
	go func() { _ = p.ptUpdate.Wait(); close(p.ptDone) }()

	p.load = loadgen.Start(ctx, func() *sql.DB { return p.greenDB }, loadgen.Options{Workers: 2, Rate: lagLoadRate})
	if err := p.waitCaughtUp(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// ptDSN is pt-heartbeat's DSN for a sandbox server: root over TCP, no
// password.
func ptDSN(s *sandbox.Server) string {
	return fmt.Sprintf("h=%s,P=%d,u=root", s.Host, s.Port)
}

// close stops everything the rig started, in reverse order.
func (p *lagPair) close() {
	if p.load != nil {
		p.load.Stop()
	}
	if p.ptUpdate != nil && p.ptUpdate.Process != nil {
		_ = p.ptUpdate.Process.Kill()
		<-p.ptDone
	}
	for _, s := range []*replication.Server{p.prod, p.rb} {
		if s != nil {
			s.Close()
		}
	}
	for _, db := range []*sql.DB{p.greenDB, p.blueDB} {
		if db != nil {
			db.Close()
		}
	}
	if p.proxy != nil {
		p.proxy.close()
	}
	for _, s := range []*sandbox.Server{p.blue, p.green} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// waitCaughtUp polls until pt-heartbeat's row has replicated and the
// rollback target reports 0 seconds behind with both threads running.
func (p *lagPair) waitCaughtUp(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		rs, err := p.rb.ReplicaStatus(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case !rs.IOThreadRunning || !rs.SQLThreadRunning:
			last = fmt.Sprintf("IO %s, SQL %s", rs.IORunning, rs.SQLRunning)
		case rs.SecondsBehind == nil || *rs.SecondsBehind != 0:
			last = "seconds behind not 0"
		default:
			var n int
			err := p.blueDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ptDatabase+".heartbeat").Scan(&n)
			if err == nil && n > 0 {
				return nil
			}
			last = fmt.Sprintf("pt-heartbeat's row not on the rollback target yet (%v)", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the rollback target to catch up: %s (pt-heartbeat output: %q)", last, p.ptOutput())
		case <-tick.C:
		}
	}
}

func (p *lagPair) ptOutput() string {
	if p.ptOut == nil {
		return ""
	}
	return strings.TrimSpace(p.ptOut.String())
}

// setDelay holds the rollback target's SQL thread delaySeconds behind
// production: CHANGE MASTER TO MASTER_DELAY, with replication stopped
// around it (MariaDB refuses CHANGE MASTER while either thread runs).
func (p *lagPair) setDelay(ctx context.Context, delaySeconds int) error {
	for _, q := range []string{
		"STOP SLAVE",
		"CHANGE MASTER TO MASTER_DELAY = " + strconv.Itoa(delaySeconds),
		"START SLAVE",
	} {
		if _, err := p.blueDB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rollback target: %s: %w", q, err)
		}
	}
	return nil
}

// ptCheck runs pt-heartbeat --check against the rollback target and
// returns the delay it prints, in seconds. pt-heartbeat checks on its own
// schedule: at the next multiple of --interval after the whole second,
// plus --skew, and subtracts --skew from what it reads. With the updater
// writing every 0.1 s, --interval 0.1 --skew 0.05 checks half-way between
// two updates and reads the newest applied heartbeat's age, to 0.01 s.
func ptCheck(ctx context.Context, target *sandbox.Server, masterID uint32) (float64, error) {
	out, err := exec.CommandContext(ctx, "pt-heartbeat", "--check", "--interval", ptHeartbeatInterval, "--skew", ptCheckSkew,
		"--database", ptDatabase, "--master-server-id", strconv.FormatUint(uint64(masterID), 10), ptDSN(target)).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pt-heartbeat --check: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return parsePTCheck(string(out))
}

// parsePTCheck reads pt-heartbeat --check's output: one line holding the
// delay in seconds ("3.02").
func parsePTCheck(out string) (float64, error) {
	fields := strings.Fields(out)
	if len(fields) == 0 {
		return 0, errors.New("pt-heartbeat --check printed nothing")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("pt-heartbeat --check printed %q, not a delay in seconds", strings.TrimSpace(out))
	}
	return v, nil
}

// stallProxy is a TCP proxy on 127.0.0.1 that forwards every connection
// to target and can stop forwarding (pause) without closing anything: the
// rollback target's IO thread keeps a connection that looks healthy and
// delivers nothing, the stall Seconds_Behind_Master does not see.
type stallProxy struct {
	ln     net.Listener
	target string
	gate   gate
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startStallProxy listens on a free 127.0.0.1 port and forwards to target.
func startStallProxy(target string) (*stallProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stall proxy: listen: %w", err)
	}
	p := &stallProxy{ln: ln, target: target, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// hostPort is where the proxy listens.
func (p *stallProxy) hostPort() (string, int) {
	a := p.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// pause stops forwarding in both directions; bytes already read wait in
// the proxy until resume.
func (p *stallProxy) pause() { p.gate.close() }

// resume forwards again, the held bytes first.
func (p *stallProxy) resume() { p.gate.open() }

// close stops listening, drops every connection and waits for the
// forwarding goroutines.
func (p *stallProxy) close() {
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *stallProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *stallProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *stallProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Go(func() { p.serve(in) })
	}
}

func (p *stallProxy) serve(in net.Conn) {
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the client sees its connection close, as with a refused connect
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(out, in); out.Close() })
	wg.Go(func() { p.pipe(in, out); in.Close() })
	wg.Wait()
}

// pipe copies src to dst, holding each chunk while the gate is closed.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate.wait(p.done) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// gate blocks wait while it is closed. The zero value is open.
type gate struct {
	mu     sync.Mutex
	closed chan struct{} // non-nil while closed; closed (the channel) on open
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		g.closed = make(chan struct{})
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

// wait returns true once the gate is open, false if done is closed first.
func (g *gate) wait(done <-chan struct{}) bool {
	for {
		g.mu.Lock()
		ch := g.closed
		g.mu.Unlock()
		if ch == nil {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

// lockedWriter collects a child's output: its stdout and stderr copiers
// write concurrently, and the rig reads it while the child runs.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String is everything written so far.
func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
