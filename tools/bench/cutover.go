package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver of the app's pools

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// Rollback write downtime under an application write load. Two servers
// play production and rollback target and swap roles at every cutover
// (ping-pong): the tool's cutover runs with --reverse, so the old
// production replicates from the new one and the next cutover can go back;
// the floor's cutover, bare SQL done by the benchmark, re-establishes the
// reverse replication itself after the measured window. One write load
// runs through a whole load level and follows every cutover, like an
// application behind a DNS name, and records every write with its time and
// the server it went to.

// cutLoad is one load level.
type cutLoad struct {
	// Name is the level as the section title shows it.
	Name string
	// Workers writers, each on its own connection, at Rate writes/s in
	// total; Rate 0 is as fast as the servers allow.
	Workers, Rate int
	// Target says whether the target applies to this level.
	Target bool
}

// The target for write downtime at saturating load.
const (
	targetP95MS      = 200
	targetFloorRatio = 1.5
)

// cutAppUser is the application's login: SELECT, INSERT, UPDATE, DELETE on
// shop.* only, so read_only stops it (no SUPER, no READ_ONLY ADMIN).
const cutAppUser = "app"

// stepUnfence is the name of the engine's rollback step after which the
// rollback target is writable: where the application is re-pointed.
const stepUnfence = "unfence rollback target"

// benchDowntime500 measures rollback write downtime at 500 writes/s.
func benchDowntime500(ctx context.Context, cfg benchConfig) (section, error) {
	return benchDowntime(ctx, cfg, cutLoad{Name: "500 writes/s (4 connections, paced)", Workers: 4, Rate: 500})
}

// benchDowntimeSaturating measures rollback write downtime under 4
// unthrottled writers.
func benchDowntimeSaturating(ctx context.Context, cfg benchConfig) (section, error) {
	return benchDowntime(ctx, cfg, cutLoad{Name: "saturating load (4 connections, unthrottled)", Workers: 4, Target: true})
}

// Each load level runs with the two roles on separate CPUs (see
// cutPinning): production's mariadbd and the benchmark process (the
// application's writers) on one half of the cores, the rollback target's
// mariadbd on the other; roles swap at every cutover, and so do the CPUs.
// In production the two are separate clusters; unpinned on this 2-core
// machine, a saturating writer starves the rollback target, which then
// falls further behind every second and no cutover, tool or bare SQL, has
// a bounded downtime.

// pinCPUs turns the pinning on (flag -pin).
var pinCPUs = true

// cutNode is one of the two servers.
type cutNode struct {
	name string
	sb   *sandbox.Server
	// eng is the engine's connection to the server; the benchmark sends
	// its own root statements through it too, so that the tool's check for
	// privileged sessions on production sees them as its own.
	eng *replication.Server
	// app is the application's pool on this server.
	app *sql.DB
}

// cutRig is the pair, who is production now, and where the app writes.
type cutRig struct {
	nodes        [2]*cutNode
	prod, repl   *cutNode
	app          atomic.Pointer[sql.DB]
	replPassword string
}

// cutSample is one measured cutover.
type cutSample struct {
	tool bool
	// window is, for the tool, its reported WriteUnavailableMS (fence →
	// target writable); for the floor, the same interval timed around its
	// statements.
	window time.Duration
	// writer is the writer-observed downtime: last write acknowledged by
	// the old production → first write acknowledged by the new one.
	writer time.Duration
	// total is the tool's whole Rollback call (preconditions through the
	// reverse configure).
	total            time.Duration
	rejected, failed int
	refusals         int // tool attempts refused before this one
	// paused is how long the writers were held before this cutover (its
	// last attempt) until the target had caught up.
	paused   time.Duration
	from, to string
	// steps are the tool's rollback steps (whole ms).
	steps []replication.Step
	// floorMS are the floor's statement times, in order.
	floorMS []floorStep
	// preFence is the floor's untimed wait, before its fence, for the
	// target to execute production's position of that moment: the
	// replication lag of the moment, in time to apply it.
	preFence time.Duration
}

// floorStep is one timed statement of a floor cutover.
type floorStep struct {
	name string
	d    time.Duration
}

// benchDowntime runs cfg.Runs tool cutovers and cfg.Runs floor cutovers,
// interleaved, under the load level lvl, and checks zero loss at the end.
func benchDowntime(ctx context.Context, cfg benchConfig, lvl cutLoad) (section, error) {
	started := time.Now()
	hold, minAcks := time.Second, 200
	if cfg.Quick {
		hold, minAcks = 300*time.Millisecond, 50
	}
	sec := section{
		Title: "Rollback write downtime at " + lvl.Name,
		What: fmt.Sprintf("`replication.Rollback` with Execute and Reverse (what `switchback rollback --execute --reverse` runs), "+
			"engine defaults, while an application writes as a user without SUPER: %s. "+
			"**Tool-reported** is its `WriteUnavailableMS`, from the fence of production to the rollback target writable. "+
			"**Writer-observed** is what the application saw: from the last write production acknowledged to the first write the "+
			"rollback target acknowledged; the writer is re-pointed the moment the tool reports the target writable (its "+
			"\"unfence rollback target\" step, which ends once the tool has recorded the completed cutover on it), as an "+
			"application re-pointed by DNS or a connection secret would be, minus that propagation. Two servers swap roles at every cutover (A→B with --reverse, then B→A…); one write load runs "+
			"through the whole level and follows each cutover; tool and floor cutovers alternate (tool, floor, floor, tool, …) "+
			"after one warm-up cutover of each, not counted. Before each cutover the writers are held until the rollback target "+
			"has caught up (untimed), then write for %s at full rate; then the cutover starts. So every cutover follows the same "+
			"amount of writing, whatever the previous one left behind.", loadText(lvl), hold),
		Floor: "the same cutover as bare SQL by the benchmark, on the same servers under the same load: " +
			"(untimed: wait with MASTER_POS_WAIT until the target has executed production's current position, as the tool " +
			"also does before it fences) `SET GLOBAL read_only = 1` on production; `SHOW MASTER STATUS` there; " +
			"`SELECT MASTER_POS_WAIT(file, pos)` on the target; `STOP SLAVE`; `SHOW MASTER STATUS` on the target (where the " +
			"reverse path starts); `SET GLOBAL read_only = 0` on the target; the writer is re-pointed; then, untimed, " +
			"RESET SLAVE ALL on the new production and CHANGE MASTER + START SLAVE on the old one. Its row \"window\" is " +
			"timed from the fence statement to the unfence returning; its writer-observed downtime is measured by the same writer.",
		Header: floorHeader,
	}
	cfg.Progress("starting 2 MariaDB servers, simulating a blue/green switchover, configuring reverse replication")
	rig, err := startCutRig(ctx)
	if err != nil {
		return sec, err
	}
	defer rig.close()
	var pin *cutPinning
	if pinCPUs {
		if pin, err = newPinning(); err != nil {
			return sec, err
		}
	}
	defer pin.restore()
	if err := pin.apply(rig.prod, rig.repl); err != nil {
		return sec, err
	}
	if pin != nil {
		sec.What += " Production's mariadbd and the writers run on one half of the CPUs and the rollback target's mariadbd " +
			"on the other, swapped at every cutover, as on two clusters (flag -pin). Unpinned on a 2-core machine, saturating " +
			"writers starve the rollback target, which then applies production's binlog more slowly than production writes it " +
			"and falls behind for good (seen while building this benchmark: the tool refused to fence)."
	}

	load := loadgen.Start(ctx, rig.app.Load, loadgen.Options{Workers: lvl.Workers, Rate: lvl.Rate, Timeline: true})
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	watch := &cutWatch{w: load}

	var samples []cutSample
	total := 2*cfg.Runs + 2
	for i := -1; i < cfg.Runs; i++ {
		order := []bool{true, false} // tool first
		if i%2 != 0 && i >= 0 {
			order = []bool{false, true}
		}
		for _, tool := range order {
			var s cutSample
			refused := 0
			for attempt := 1; ; attempt++ {
				paused, err := rig.catchUp(ctx)
				if err != nil {
					return sec, fmt.Errorf("before cutover %d of %d: %w", len(samples)+1, total, err)
				}
				if err := watch.hold(ctx, rig.prod.app, hold, minAcks); err != nil {
					return sec, err
				}
				s, err = rig.cutover(ctx, watch, tool)
				s.paused, s.refusals = paused, refused
				if err == nil {
					break
				}
				if errors.Is(err, errToolRefused) && attempt < toolAttempts {
					refused++
					cfg.Progress("cutover %d of %d: %v; catching up and trying again (attempt %d of %d)", len(samples)+1, total, err, attempt+1, toolAttempts)
					continue
				}
				return sec, fmt.Errorf("cutover %d of %d (%s, %s → %s): %w", len(samples)+1, total, kindName(tool), s.from, s.to, err)
			}
			samples = append(samples, s)
			if err := pin.apply(rig.prod, rig.repl); err != nil {
				return sec, err
			}
			label := "warm-up"
			if i >= 0 {
				label = fmt.Sprintf("run %d/%d", i+1, cfg.Runs)
			}
			cfg.Progress("%s %-5s %s → %s: window %s, writer-observed %s, %d rejected", label, kindName(tool), s.from, s.to,
				fmtMS(ms(s.window)), fmtMS(ms(s.writer)), s.rejected)
		}
	}
	res := load.Stop()
	stopped = true
	counted := samples[2:] // the warm-up pair is not counted

	// Zero loss: every acknowledged write is on the final production and,
	// once it has caught up, on its replica; no rejected write is.
	v, err := rig.verify(ctx, res)
	if err != nil {
		return sec, err
	}

	var toolWin, toolWriter, toolTotal, floorWin, floorWriter []float64
	var toolRej, floorRej []float64
	var toolSteps, floorSteps stepTimes
	var preFence, pauses []float64
	refusals := 0
	for _, s := range samples {
		refusals += s.refusals
	}
	for _, s := range counted {
		pauses = append(pauses, ms(s.paused))
		if s.tool {
			toolWin, toolWriter, toolTotal = append(toolWin, ms(s.window)), append(toolWriter, ms(s.writer)), append(toolTotal, ms(s.total))
			toolRej = append(toolRej, float64(s.rejected))
			for _, st := range s.steps {
				toolSteps.add(st.Name, float64(st.MS))
			}
		} else {
			floorWin, floorWriter = append(floorWin, ms(s.window)), append(floorWriter, ms(s.writer))
			floorRej = append(floorRej, float64(s.rejected))
			for _, st := range s.floorMS {
				floorSteps.add(st.name, ms(st.d))
			}
			preFence = append(preFence, ms(s.preFence))
		}
	}
	tw, tWriter, fw, fWriter := summarize(toolWin), summarize(toolWriter), summarize(floorWin), summarize(floorWriter)
	sec.Rows = [][]string{
		floorRow("tool-reported (whole ms): fence → target writable (floor: same window, bare SQL)", tw, fw),
		floorRow("writer-observed: last ack on old → first ack on new", tWriter, fWriter),
		floorRow("whole rollback call (checks, cutover, --reverse configure)", summarize(toolTotal), stats{}),
	}
	if lvl.Target {
		sec.Target = downtimeTarget(tWriter, fWriter, tw, fw)
	}
	sec.Notes = []string{
		fmt.Sprintf("Load: %s; %.0f acknowledged writes/s on average over the level (%s, including the cutovers).",
			loadText(lvl), res.Rate(), res.Duration.Round(100*time.Millisecond)),
		fmt.Sprintf("Zero loss verified (loadgen.Verify) after %d cutovers (%d counted): all %d acknowledged writes are on the final production and on its replica; "+
			"the %d writes rejected as read-only are on neither; %d writes had an ambiguous outcome (%d of them landed).",
			len(samples), len(counted), v.Acknowledged, v.Rejected, v.Failed, v.FailedPresent),
		fmt.Sprintf("Writes rejected (read-only) per cutover, median: tool %.0f, floor %.0f.", summarize(toolRej).Median, summarize(floorRej).Median),
		fmt.Sprintf("Before each cutover the writers were held (untimed) until the rollback target had caught up: median %s, p95 %s. "+
			"That is how far behind it fell during the previous cutover and hold (%s of writing): the longer, the more it falls behind under this load.",
			fmtMS(summarize(pauses).Median), fmtMS(summarize(pauses).P95), hold),
		fmt.Sprintf("CPUs: %s.", pin.describe()),
		fmt.Sprintf("Tool cutovers that refused before fencing (nothing changed) and were tried again: %d.", refusals),
		"Median time per step of the tool's cutovers (the engine records whole milliseconds; the fenced window runs from " +
			"\"fence production\" to \"unfence rollback target\"): " + toolSteps.medians(true) + ".",
		fmt.Sprintf("Where the fenced windows differ: after its fence the tool waited a median %s for the target to catch up "+
			"(\"wait for rollback target to catch up\"), the floor %s (its MASTER_POS_WAIT after the fence). The tool fences when its "+
			"pre-fence check ends, with whatever the target has not applied yet at that moment; the floor fences right after "+
			"MASTER_POS_WAIT has returned for a position read a moment before.",
			stepMedian(toolSteps, "wait for rollback target to catch up", true), stepMedian(floorSteps, "MASTER_POS_WAIT", false)),
		"Median time per statement of the floor's cutovers: " + floorSteps.medians(false) + ". Before its fence (untimed), " +
			"the floor waited " + fmtMS(summarize(preFence).Median) + " (median; p95 " + fmtMS(summarize(preFence).P95) + ") for the target to " +
			"execute the position production had a moment earlier: the replication lag at that moment.",
	}
	sec.Took = time.Since(started)
	return sec, nil
}

// loadText describes a load level.
func loadText(lvl cutLoad) string {
	if lvl.Rate == 0 {
		return fmt.Sprintf("%d connections inserting as fast as the servers allow (loadgen, unthrottled)", lvl.Workers)
	}
	return fmt.Sprintf("%d connections inserting %d rows/s in total (loadgen, paced)", lvl.Workers, lvl.Rate)
}

func kindName(tool bool) string {
	if tool {
		return "tool"
	}
	return "floor"
}

// downtimeTarget states the target for write downtime at
// saturating load — writer-observed p95 ≤ 200 ms and ≤ 1.5× its floor —
// and whether this run met it.
func downtimeTarget(writer, floorWriter, window, floorWindow stats) string {
	r := ratio(writer.P95, floorWriter.P95)
	met := writer.P95 <= targetP95MS && !math.IsNaN(r) && r <= targetFloorRatio
	verdict := "not met"
	if met {
		verdict = "met"
	}
	var why []string
	if writer.P95 > targetP95MS {
		why = append(why, fmt.Sprintf("p95 %s > %d ms", fmtMS(writer.P95), targetP95MS))
	}
	if math.IsNaN(r) || r > targetFloorRatio {
		why = append(why, fmt.Sprintf("%s > %.1f× floor", fmtRatio(writer.P95, floorWriter.P95), targetFloorRatio))
	}
	s := fmt.Sprintf("write downtime p95 ≤ %d ms and ≤ %.1f× the floor: **%s** (writer-observed p95 %s vs floor %s: %s; tool-reported p95 %s vs floor %s: %s)",
		targetP95MS, targetFloorRatio, verdict, fmtMS(writer.P95), fmtMS(floorWriter.P95), fmtRatio(writer.P95, floorWriter.P95),
		fmtMS(window.P95), fmtMS(floorWindow.P95), fmtRatio(window.P95, floorWindow.P95))
	if len(why) > 0 {
		s += "; " + strings.Join(why, ", ")
	}
	return s
}

// startCutRig starts two servers, plays a blue/green switchover with the
// shop schema, the app user and the floor's replication user seeded on
// blue, and configures reverse replication green → blue with the engine,
// from the switchover coordinates: the state `make demo` reaches.
func startCutRig(ctx context.Context) (_ *cutRig, err error) {
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{GTID: true, NamePrefix: "bench-cutover"})
	if err != nil {
		return nil, fmt.Errorf("start servers: %w", err)
	}
	r := &cutRig{replPassword: rand.Text()}
	r.nodes[0] = &cutNode{name: "blue", sb: servers[0]}
	r.nodes[1] = &cutNode{name: "green", sb: servers[1]}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	appPassword := rand.Text()
	coords, err := sandbox.SimulateSwitchover(ctx, servers[0], servers[1], func(blue *sql.DB) error {
		// rand.Text is base32: safe inside a quoted literal.
		return execConn(ctx, blue,
			"CREATE DATABASE shop",
			loadgen.DDL,
			fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", cutAppUser, appPassword),
			fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO '%s'@'%%'", cutAppUser),
			fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", benchReplUser, r.replPassword),
			fmt.Sprintf("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'%%'", benchReplUser),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("blue/green switchover: %w", err)
	}
	for _, n := range r.nodes {
		if n.eng, err = replication.Connect(ctx, n.name, n.sb.RootDSN(), replication.DialectAuto); err != nil {
			return nil, err
		}
		if n.app, err = sql.Open("mysql", n.sb.DSN(cutAppUser, appPassword, "")); err != nil {
			return nil, fmt.Errorf("%s: app pool: %w", n.name, err)
		}
	}
	blue, green := r.nodes[0], r.nodes[1]
	green.eng.Role, blue.eng.Role = "production", "rollback target"
	res, err := replication.Configure(ctx, replication.ConfigureRequest{
		Production: green.eng, Rollback: blue.eng,
		Start: replication.BinlogPosition{File: coords.File, Position: coords.Position},
	})
	if err != nil {
		return nil, fmt.Errorf("configure green → blue: %w (outcome %s)", err, res.Outcome)
	}
	r.prod, r.repl = green, blue
	r.app.Store(green.app)
	return r, nil
}

func (r *cutRig) close() {
	for _, n := range r.nodes {
		if n == nil {
			continue
		}
		if n.app != nil {
			n.app.Close()
		}
		if n.eng != nil {
			n.eng.Close()
		}
		_ = n.sb.Close()
	}
}

// cutover runs one cutover from r.prod to r.repl, the tool's or the
// floor's, re-points the app when the new production is writable, waits
// for its first acknowledged write and measures.
func (r *cutRig) cutover(ctx context.Context, watch *cutWatch, tool bool) (cutSample, error) {
	old, nw := r.prod, r.repl
	s := cutSample{tool: tool, from: old.name, to: nw.name}
	repointed := false
	repoint := func() {
		r.app.Store(nw.app)
		repointed = true
	}
	start := time.Now()
	var err error
	if tool {
		err = r.toolCutover(ctx, old, nw, repoint, &s)
	} else {
		err = r.floorCutover(ctx, old, nw, repoint, &s)
	}
	if repointed {
		r.prod, r.repl = nw, old
	}
	if err != nil {
		return s, err
	}
	gap, err := watch.firstAck(ctx, old.app, nw.app, start)
	if err != nil {
		return s, err
	}
	s.writer = gap.FirstNew.Sub(gap.LastOld)
	s.rejected = gap.Rejected
	return s, nil
}

// toolAttempts is how many times a tool cutover is tried when the tool
// refuses before fencing (its predicted write downtime stayed too long for
// too long): nothing was changed, so trying again, after the target has
// caught up, is what an operator would do.
const toolAttempts = 3

// errToolRefused marks a tool cutover refused before anything was fenced.
var errToolRefused = errors.New("the tool refused before fencing; nothing was changed")

// toolCutover runs the engine's rollback with --reverse.
func (r *cutRig) toolCutover(ctx context.Context, old, nw *cutNode, repoint func(), s *cutSample) error {
	old.eng.Role, nw.eng.Role = "production", "rollback target"
	fired := false
	t0 := time.Now()
	rep, err := replication.Rollback(ctx, replication.RollbackRequest{
		Production: old.eng, Rollback: nw.eng, Execute: true,
		Reverse: &replication.ReverseOptions{},
		OnStep: func(st replication.Step) {
			if st.Name == stepUnfence && st.Outcome == replication.StepDone {
				repoint()
				fired = true
			}
		},
	})
	s.total = time.Since(t0)
	s.window = time.Duration(rep.WriteUnavailableMS) * time.Millisecond
	s.steps = rep.Steps
	if err == nil && rep.Outcome == replication.OutcomeCompleted {
		if !fired {
			return fmt.Errorf("the rollback completed but reported no %q step done, so the writer could not follow at the right moment (steps: %s)", stepUnfence, describeSteps(rep.Steps))
		}
		return nil
	}
	detail := fmt.Sprintf("rollback: outcome %s: %v (steps: %s; then: %s)", rep.Outcome, err, describeSteps(rep.Steps), r.describeState(ctx, old, nw))
	if errors.Is(err, replication.ErrRefused) && rep.Outcome == replication.OutcomeRefused && !fired {
		return fmt.Errorf("%w: %s", errToolRefused, detail)
	}
	return errors.New(detail)
}

// describeState reports production's binlog position and the rollback
// target's replication threads and positions, for an error.
func (r *cutRig) describeState(ctx context.Context, old, nw *cutNode) string {
	pos, err := masterStatus(ctx, old.eng.DB())
	if err != nil {
		return fmt.Sprintf("%s: %v", old.name, err)
	}
	st, err := slaveStatus(ctx, nw.eng.DB())
	if err != nil {
		return fmt.Sprintf("%s: %v", nw.name, err)
	}
	return fmt.Sprintf("%s at %s; %s: IO %s, SQL %s, executed %s:%s, read %s:%s, %s s behind",
		old.name, pos, nw.name, st["Slave_IO_Running"], st["Slave_SQL_Running"],
		st["Relay_Master_Log_File"], st["Exec_Master_Log_Pos"], st["Master_Log_File"], st["Read_Master_Log_Pos"], orNull(st["Seconds_Behind_Master"]))
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// describeSteps lists step names, outcomes and errors, for an error.
func describeSteps(steps []replication.Step) string {
	var parts []string
	for _, st := range steps {
		p := fmt.Sprintf("%s [%s] %d ms", st.Name, st.Outcome, st.MS)
		if st.Error != "" {
			p += ": " + st.Error
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// floorCutover does the cutover with bare SQL and then, untimed, sets up
// the reverse replication the next cutover needs.
func (r *cutRig) floorCutover(ctx context.Context, old, nw *cutNode, repoint func(), s *cutSample) error {
	// Dedicated sessions, taken before the clock starts.
	oc, err := old.eng.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", old.name, err)
	}
	defer oc.Close()
	nc, err := nw.eng.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", nw.name, err)
	}
	defer nc.Close()

	// Untimed, as the tool's own check before it fences: the target has
	// executed what production had written a moment ago.
	now, err := masterStatus(ctx, oc)
	if err != nil {
		return fmt.Errorf("%s: %w", old.name, err)
	}
	pre := time.Now()
	if err := masterPosWait(ctx, nc, now, 30*time.Second); err != nil {
		return fmt.Errorf("%s: before fencing: %w", nw.name, err)
	}
	s.preFence = time.Since(pre)

	t0 := time.Now()
	lap := t0
	step := func(name string) {
		now := time.Now()
		s.floorMS = append(s.floorMS, floorStep{name, now.Sub(lap)})
		lap = now
	}
	if _, err := oc.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		return fmt.Errorf("%s: fence: %w", old.name, err)
	}
	step("SET GLOBAL read_only = 1")
	frozen, err := masterStatus(ctx, oc)
	if err != nil {
		return r.unfence(ctx, oc, old, fmt.Errorf("%s: %w", old.name, err))
	}
	step("SHOW MASTER STATUS")
	if err := masterPosWait(ctx, nc, frozen, 30*time.Second); err != nil {
		return r.unfence(ctx, oc, old, fmt.Errorf("%s: catch up: %w", nw.name, err))
	}
	step("MASTER_POS_WAIT")
	if _, err := nc.ExecContext(ctx, "STOP SLAVE"); err != nil {
		return r.unfence(ctx, oc, old, fmt.Errorf("%s: STOP SLAVE: %w", nw.name, err))
	}
	step("STOP SLAVE")
	own, err := masterStatus(ctx, nc)
	if err != nil {
		return fmt.Errorf("%s: its own binlog position: %w", nw.name, err)
	}
	step("SHOW MASTER STATUS on the target")
	if _, err := nc.ExecContext(ctx, "SET GLOBAL read_only = 0"); err != nil {
		return fmt.Errorf("%s: unfence: %w", nw.name, err)
	}
	step("SET GLOBAL read_only = 0")
	s.window = time.Since(t0)
	repoint()

	// Untimed: the old production follows the new one from where the new
	// one's own binlog stood when it became writable.
	if _, err := nc.ExecContext(ctx, "RESET SLAVE ALL"); err != nil {
		return fmt.Errorf("%s: RESET SLAVE ALL: %w", nw.name, err)
	}
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL", changeMaster(nw.sb.Host, nw.sb.Port, r.replPassword, own), "START SLAVE"} {
		if _, err := oc.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: reverse replication: %s: %w", old.name, redactPassword(q), err)
		}
	}
	if err := pollThreads(ctx, oc, 30*time.Second); err != nil {
		return fmt.Errorf("%s: reverse replication: %w", old.name, err)
	}
	return nil
}

// catchUp holds the writers (the app's target is nil: loadgen workers
// wait) until the rollback target has executed everything production has
// written, then lets them go on; it returns how long they were held. Every
// cutover, tool or floor, starts from there after the hold.
func (r *cutRig) catchUp(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	r.app.Store(nil)
	defer r.app.Store(r.prod.app)
	oc, err := r.prod.eng.DB().Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: connect: %w", r.prod.name, err)
	}
	defer oc.Close()
	nc, err := r.repl.eng.DB().Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: connect: %w", r.repl.name, err)
	}
	defer nc.Close()
	pos, err := masterStatus(ctx, oc)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.prod.name, err)
	}
	if err := masterPosWait(ctx, nc, pos, 120*time.Second); err != nil {
		return 0, fmt.Errorf("%s: catch up with %s before the next cutover: %w", r.repl.name, r.prod.name, err)
	}
	return time.Since(start), nil
}

// unfence undoes the floor's fence after a failure before the target was
// promoted, and returns cause.
func (r *cutRig) unfence(ctx context.Context, oc *sql.Conn, old *cutNode, cause error) error {
	if _, err := oc.ExecContext(ctx, "SET GLOBAL read_only = 0"); err != nil {
		return errors.Join(cause, fmt.Errorf("%s: unfence again: %w", old.name, err))
	}
	return cause
}

// masterPosWait waits until the replica on q has executed up to p.
func masterPosWait(ctx context.Context, q *sql.Conn, p replication.BinlogPosition, timeout time.Duration) error {
	var n sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, ?)", p.File, p.Position, int(timeout.Seconds())).Scan(&n); err != nil {
		return fmt.Errorf("MASTER_POS_WAIT(%s): %w", p, err)
	}
	switch {
	case !n.Valid:
		return fmt.Errorf("MASTER_POS_WAIT(%s) = NULL: the replica's SQL thread is not running", p)
	case n.Int64 < 0:
		return fmt.Errorf("MASTER_POS_WAIT(%s) timed out after %s", p, timeout)
	}
	return nil
}

// verify waits for the replica to execute everything the final
// production has, then checks zero loss for res on both and that the load
// table is identical on both. The load must be stopped.
func (r *cutRig) verify(ctx context.Context, res loadgen.Result) (loadgen.Verification, error) {
	oc, err := r.prod.eng.DB().Conn(ctx)
	if err != nil {
		return loadgen.Verification{}, err
	}
	defer oc.Close()
	nc, err := r.repl.eng.DB().Conn(ctx)
	if err != nil {
		return loadgen.Verification{}, err
	}
	defer nc.Close()
	pos, err := masterStatus(ctx, oc)
	if err != nil {
		return loadgen.Verification{}, fmt.Errorf("%s: %w", r.prod.name, err)
	}
	if err := masterPosWait(ctx, nc, pos, 60*time.Second); err != nil {
		return loadgen.Verification{}, fmt.Errorf("%s: catch up before verifying: %w", r.repl.name, err)
	}
	var v loadgen.Verification
	for _, n := range []*cutNode{r.prod, r.repl} {
		if v, err = loadgen.Verify(ctx, n.eng.DB(), loadgen.DefaultTable, res); err != nil {
			return v, fmt.Errorf("zero-loss check on %s: %w", n.name, err)
		}
	}
	if err := loadgen.CompareTables(ctx, r.prod.eng.DB(), r.repl.eng.DB(), []string{loadgen.DefaultTable}); err != nil {
		return v, fmt.Errorf("%s vs %s: %w", r.prod.name, r.repl.name, err)
	}
	return v, nil
}

// cutWatch reads the load's timeline as it grows. win holds the writes of
// the current production's reign: from its first acknowledged write on.
type cutWatch struct {
	w    *loadgen.Writer
	next int
	win  []loadgen.Write
}

// pull appends the writes recorded since the last pull to win and
// returns them.
func (c *cutWatch) pull() []loadgen.Write {
	ws := c.w.WritesSince(c.next)
	c.next += len(ws)
	c.win = append(c.win, ws...)
	return ws
}

// hold lets the load write to prod for at least d from now, and until
// prod has acknowledged at least n writes in the current window.
func (c *cutWatch) hold(ctx context.Context, prod *sql.DB, d time.Duration, n int) error {
	start := time.Now()
	deadline := start.Add(d + 60*time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	acks := countAcks(c.win, prod)
	for {
		acks += countAcks(c.pull(), prod)
		if time.Since(start) >= d && acks >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the load had %d writes acknowledged by production in %s; want %d", acks, time.Since(start).Round(time.Millisecond), n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// countAcks counts the writes in ws that db acknowledged.
func countAcks(ws []loadgen.Write, db *sql.DB) int {
	n := 0
	for _, w := range ws {
		if w.Target == db && w.Outcome == loadgen.OutcomeAcknowledged {
			n++
		}
	}
	return n
}

// firstAck waits for the new production's first acknowledged write since
// from, measures the gap, and starts the new production's window there.
func (c *cutWatch) firstAck(ctx context.Context, old, nw *sql.DB, from time.Time) (cutGap, error) {
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		c.pull()
		if g, ok := cutoverGap(c.win, old, nw, from); ok {
			c.win = c.win[g.FirstNewIndex:]
			return g, nil
		}
		if time.Now().After(deadline) {
			return cutGap{}, errors.New("no write acknowledged by the new production within 30 s of the cutover")
		}
		select {
		case <-ctx.Done():
			return cutGap{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// cutGap is what the writer saw of one cutover.
type cutGap struct {
	// LastOld is when the last write the old production acknowledged was
	// answered; FirstNew when the first write the new one acknowledged
	// (sent at or after the cutover started) was answered, and
	// FirstNewIndex its index in the writes examined.
	LastOld, FirstNew time.Time
	FirstNewIndex     int
	// Rejected and Failed count the writes rejected as read-only and with
	// an ambiguous outcome, up to FirstNew.
	Rejected, Failed int
}

// cutoverGap finds, in writes (one production's reign and what followed),
// the last write acknowledged by old and the first acknowledged by nw that
// was answered at or after from. ok is false until nw has acknowledged a
// write, or when old acknowledged none. It is a pure function.
func cutoverGap(writes []loadgen.Write, old, nw *sql.DB, from time.Time) (g cutGap, ok bool) {
	g.FirstNewIndex = -1
	for i, w := range writes {
		if w.Outcome != loadgen.OutcomeAcknowledged {
			continue
		}
		switch {
		case w.Target == old && w.Done.After(g.LastOld):
			g.LastOld = w.Done
		case w.Target == nw && !w.Done.Before(from) && (g.FirstNewIndex < 0 || w.Done.Before(g.FirstNew)):
			g.FirstNew, g.FirstNewIndex = w.Done, i
		}
	}
	if g.FirstNewIndex < 0 || g.LastOld.IsZero() {
		return cutGap{}, false
	}
	for _, w := range writes {
		if w.Done.After(g.FirstNew) {
			continue
		}
		switch w.Outcome {
		case loadgen.OutcomeRejected:
			g.Rejected++
		case loadgen.OutcomeFailed:
			g.Failed++
		}
	}
	return g, true
}

// cpuMask is a CPU affinity mask as sched_setaffinity(2) takes it (1024
// CPUs).
type cpuMask [16]uint64

func maskOf(cpus []int) cpuMask {
	var m cpuMask
	for _, c := range cpus {
		m[c/64] |= 1 << (c % 64)
	}
	return m
}

// cpus lists the CPUs in m.
func (m cpuMask) cpus() []int {
	var out []int
	for i := range len(m) * 64 {
		if m[i/64]&(1<<(i%64)) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// setAffinity pins every thread of process pid to m. Threads created
// later inherit their creator's mask, so one pass over the threads, done
// twice to catch those created meanwhile, pins the process for good.
func setAffinity(pid int, m cpuMask) error {
	for range 2 {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("list threads of %d: %w", pid, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m[0])))
			if errno != 0 && errno != syscall.ESRCH { // ESRCH: the thread has exited
				return fmt.Errorf("sched_setaffinity(%d, %v): %w", tid, m.cpus(), errno)
			}
		}
	}
	return nil
}

// getAffinity returns the calling thread's CPU mask.
func getAffinity() (cpuMask, error) {
	var m cpuMask
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m[0])))
	if errno != 0 {
		return m, fmt.Errorf("sched_getaffinity: %w", errno)
	}
	return m, nil
}

// cutPinning splits the CPUs this process may use in two halves: one for
// production and the benchmark process, one for the rollback target.
type cutPinning struct {
	orig       cpuMask
	prod, repl cpuMask
}

// newPinning returns nil when there are fewer than 2 CPUs to split.
func newPinning() (*cutPinning, error) {
	orig, err := getAffinity()
	if err != nil {
		return nil, err
	}
	cpus := orig.cpus()
	if len(cpus) < 2 {
		return nil, nil
	}
	half := len(cpus) / 2
	return &cutPinning{orig: orig, prod: maskOf(cpus[:half]), repl: maskOf(cpus[half:])}, nil
}

// describe says which CPUs each side has.
func (p *cutPinning) describe() string {
	if p == nil {
		return "not pinned: both servers and the writers share every CPU"
	}
	return fmt.Sprintf("production's mariadbd and the benchmark process (the writers) on CPU %s, the rollback target's mariadbd on CPU %s",
		joinInts(p.prod.cpus()), joinInts(p.repl.cpus()))
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// apply pins prod's and repl's servers and this process.
func (p *cutPinning) apply(prod, repl *cutNode) error {
	if p == nil {
		return nil
	}
	for _, x := range []struct {
		pid  int
		m    cpuMask
		what string
	}{{prod.sb.PID(), p.prod, prod.name}, {repl.sb.PID(), p.repl, repl.name}, {os.Getpid(), p.prod, "the benchmark process"}} {
		if x.pid == 0 {
			return fmt.Errorf("pin %s: not running", x.what)
		}
		if err := setAffinity(x.pid, x.m); err != nil {
			return fmt.Errorf("pin %s: %w", x.what, err)
		}
	}
	return nil
}

// restore gives this process back the CPUs it had.
func (p *cutPinning) restore() {
	if p != nil {
		_ = setAffinity(os.Getpid(), p.orig)
	}
}
