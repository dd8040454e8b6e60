package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Defaults for RollbackRequest fields left zero.
const (
	DefaultRollbackMaxLag  = 5 * time.Second
	DefaultCatchupTimeout  = 30 * time.Second
	rollbackPollInterval   = 5 * time.Millisecond
	rollbackProgressPeriod = 500 * time.Millisecond
)

// Rollback outcomes.
const (
	OutcomePlanned   = "planned"
	OutcomeCompleted = "completed"
	OutcomeAborted   = "aborted"
	// OutcomeDiverged: the rollback target was promoted, and production's
	// binlog moved after it was frozen, in the instant between the last
	// check and the promotion: a writer bypassed the fence. Those writes
	// exist only on the old production; the report names the range.
	OutcomeDiverged = "diverged"
)

// PrivilegedWriters says what a cutover does with what can write to
// production through its fence (sessions of users with READ_ONLY ADMIN,
// SUPER or CONNECTION_ADMIN, scheduled events run by such a definer).
type PrivilegedWriters string

// The choices for PrivilegedWriters.
const (
	// PrivilegedRefuse (the default) refuses the cutover, naming them.
	PrivilegedRefuse PrivilegedWriters = ""
	// PrivilegedKill stops the event scheduler before the fence and ends
	// the sessions right after it (KILL CONNECTION; mysql.rds_kill on
	// Aurora), so that the fence holds.
	PrivilegedKill PrivilegedWriters = "kill"
	// PrivilegedAllow proceeds: a write of theirs after the fence aborts
	// the cutover (production unfenced again), or, in the instant between
	// the last check and the promotion, is reported as "diverged".
	PrivilegedAllow PrivilegedWriters = "allow"
)

// RollbackRequest is everything Rollback needs to promote the rollback
// target in place of production.
type RollbackRequest struct {
	// Production is the current production (the replication source).
	Production *Server
	// Rollback is the rollback target that replicates from production.
	Rollback *Server
	// ProductionFence and RollbackFence fence each side; nil means the SQL
	// fencer of that server.
	ProductionFence Fencer
	RollbackFence   Fencer
	// Execute performs the cutover; false only plans it and changes nothing.
	Execute bool
	// MaxLag is the most replication lag at which a cutover may start.
	MaxLag time.Duration
	// CatchupTimeout bounds, before the fence, the wait for the predicted
	// write downtime to come within MaxWriteDowntime, and, once production
	// is fenced, the wait for the fence to take and the wait for the
	// rollback target to execute exactly up to production's final
	// position. It bounds the write outage of an aborted cutover.
	CatchupTimeout time.Duration
	// MaxWriteDowntime is the longest predicted write downtime at which
	// production is fenced (see DowntimePrediction); 0 means
	// DefaultMaxWriteDowntime.
	MaxWriteDowntime time.Duration
	// Reverse, after a completed cutover, configures the old production to
	// replicate from the rollback target from the cutover position (the
	// roll-forward path). Reverse carries the Configure settings it uses.
	Reverse *ReverseOptions
	// OnStep, when set, is called as each step ends.
	OnStep func(Step)
	// OnProgress, when set, receives progress lines while Rollback waits.
	OnProgress func(string)
	// PrivilegedWriters says what to do with writers that bypass the fence.
	PrivilegedWriters PrivilegedWriters
	// LockWait bounds the wait for another switchback run's lock on either
	// server; 0 means DefaultLockWait. A cutover holds it from start to end.
	LockWait time.Duration
	// Hook, when set, is called with the point's name at every kill point
	// (KillPoints): before and after each step, and on each pass of every
	// wait. It is a test hook (shared/killpoint kills the process there);
	// nil does nothing. Reverse's Configure gets it too.
	Hook func(point string)

	// crashAfter, in tests, makes Rollback return right after the named step
	// without any cleanup, as if the process had been killed there.
	crashAfter string
	// beforeFence, in tests, runs after the preconditions pass, just
	// before production is fenced.
	beforeFence func()
	// afterStep, in tests, runs after each execute step that succeeds.
	afterStep func(name string)
	// abortTimeout, in tests, replaces abortPatience.
	abortTimeout time.Duration
}

// ReverseOptions configures the roll-forward replication that --reverse
// sets up: the old production becomes a replica of the rollback target.
type ReverseOptions struct {
	// SourceHost and SourcePort are how the old production reaches the
	// rollback target; empty means the rollback target's DSN address.
	SourceHost string
	SourcePort int
	// ReplicationUser and ReplicationPassword as for Configure.
	ReplicationUser     string
	ReplicationPassword string
	// WaitTimeout as for Configure.
	WaitTimeout time.Duration
}

// RollbackReport reports a Rollback run. Positions are "file:position".
type RollbackReport struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Steps   []Step `json:"steps"`
	// WriteUnavailableMS is the time from production fenced to the rollback
	// target writable (or, when aborted, to production unfenced again),
	// measured from the fence's start as recorded with the cutover marker,
	// so a run that finishes a killed one reports the whole outage.
	WriteUnavailableMS int64 `json:"write_unavailable_ms"`
	// ProductionPosition is production's final binlog position, at which
	// it was frozen.
	ProductionPosition string `json:"production_position"`
	// RollbackPosition is the rollback target's own binlog position when
	// it became writable: where roll-forward replication starts.
	RollbackPosition string `json:"rollback_position"`
	// Prediction is the write downtime predicted just before the fence
	// (or, in a dry run, if the cutover ran now); nil when none was made.
	Prediction *DowntimePrediction `json:"prediction,omitempty"`
}

// ErrAborted means a cutover started and was undone: production is
// writable again and the rollback target still replicates from it.
var ErrAborted = errors.New("rollback aborted")

// ErrDiverged means the rollback target was promoted but production's
// binlog moved after it was frozen (see OutcomeDiverged).
var ErrDiverged = errors.New("rollback diverged")

// Step names of a rollback, in order.
const (
	stepPreconditions = "check preconditions"
	stepStopEvents    = "stop event scheduler on production"
	stepFenceProd     = "fence production"
	stepKillSessions  = "end privileged sessions on production"
	stepSettle        = "read production's final position"
	stepCatchup       = "wait for rollback target to catch up"
	stepStop          = "stop replication on rollback target"
	stepUnfenceRB     = "unfence rollback target"
	stepReset         = "reset replication source on rollback target"
	stepReverse       = "configure reverse replication"
	stepAbortRefence  = "abort: fence rollback target again"
	stepAbortConfirm  = "abort: confirm rollback target is fenced and still a replica"
	stepAbortUnfence  = "abort: unfence production"
	stepAbortRestart  = "abort: restart replication on rollback target"
	stepRestartEvents = "restart event scheduler on production"
	stepRefenceOld    = "fence the old production again"
)

// phase is where a cutover stands, read from the servers' own state, so
// that a run killed at any point is finished (or cleanly undone) by the
// same command run again.
type phase int

const (
	phaseInvalid  phase = iota // a state switchback must not act on
	phaseStart                 // production writable, rollback target fenced and replicating
	phaseFenced                // both fenced, replication configured: a cutover was interrupted before promotion
	phasePromoted              // production fenced, rollback target writable, stale replication config stopped at production's position
	phaseDone                  // production fenced, rollback target writable, no replication source: completed
)

// cutoverState is what Rollback reads from the two servers.
type cutoverState struct {
	ProductionReadOnly bool
	RollbackReadOnly   bool
	Replica            ReplicaStatus
	ProductionPosition BinlogPosition
}

// classify maps the servers' state to a phase, with the reason when it is
// phaseInvalid. It is a pure function.
func classify(st cutoverState) (phase, string) {
	rs := st.Replica
	switch {
	case !st.ProductionReadOnly && !st.RollbackReadOnly:
		return phaseInvalid, "the rollback target is writable while production is too: it must stay fenced (read-only) until rollback; fence it and check it has not diverged"
	case !st.ProductionReadOnly && !rs.Configured:
		return phaseInvalid, "the rollback target does not replicate from production: there is nothing to roll back to (run switchback configure)"
	case !st.ProductionReadOnly:
		return phaseStart, ""
	case st.RollbackReadOnly && rs.Configured:
		return phaseFenced, ""
	case st.RollbackReadOnly:
		return phaseInvalid, "production and the rollback target are both read-only and the rollback target has no replication source: switchback cannot tell whether it has all of production's writes; compare positions and unfence one side by hand"
	case !rs.Configured:
		return phaseDone, ""
	case rs.IOThreadRunning || rs.SQLThreadRunning:
		return phaseInvalid, "the rollback target is writable while it still replicates from production: fence it, or stop its replication by hand"
	case ComparePositions(rs.ExecutedPosition(), st.ProductionPosition) != 0:
		return phaseInvalid, fmt.Sprintf("the rollback target is writable but stopped at %s, not at production's final %s: writes may be missing; compare the two by hand",
			rs.ExecutedPosition(), st.ProductionPosition)
	default:
		return phasePromoted, ""
	}
}

// roller holds one Rollback run's state.
type roller struct {
	req    RollbackRequest
	runner stepRunner
	report RollbackReport

	fencedAt             time.Time // the cutover's fence began (recorded with the marker, across resumes); zero when not fenced
	lock                 *pairLock
	bypass               bypassingWriters // what writes through production's fence, found before it
	eventsStopped        bool             // this run turned production's event scheduler off
	stoppedByUs          bool
	rollbackUnfenceTried bool
	target               BinlogPosition // production's settled position
	rollbackAtPromo      BinlogPosition // rollback target's own position when promoted
	noPositionWait       bool           // the rollback target has no usable MASTER_POS_WAIT/SOURCE_POS_WAIT
	// pendingFence is production's fence statement when production stopped
	// answering before it was carried out or killed: it may still take
	// effect, so an abort ends it before it unfences production.
	pendingFence *pendingStatementError
}

// errCrashed is the test hook's simulated kill.
var errCrashed = errors.New("simulated crash")

// Rollback plans or performs the cutover from production to the rollback
// target.
//
// Without Execute it reads both servers and reports every step with the
// check that gates it and the current values; it changes nothing. The
// outcome is "planned"; the error wraps ErrRefused when an execute run
// would refuse.
//
// With Execute it checks the preconditions (replication running without
// error, lag ≤ MaxLag, rollback target fenced, and, waiting up to
// CatchupTimeout for it, a predicted write downtime within
// MaxWriteDowntime; otherwise it refuses and touches nothing), fences
// production, reads production's final binlog position, waits until the
// rollback target has executed exactly up to it,
// stops replication, unfences the rollback target, and clears its
// replication source. Any failure before the rollback target is writable
// unfences production again and reports "aborted": the write outage is
// bounded by CatchupTimeout. Replication is stopped before the rollback
// target becomes writable, so both sides are never writable while
// replication runs.
//
// A run killed at any point converges when run again: Rollback works out
// where the cutover stands from the servers' own state (read_only flags,
// replica status, positions) and continues from there without repeating a
// step, or refuses a state it did not create.
func Rollback(ctx context.Context, req RollbackRequest) (RollbackReport, error) {
	if req.Production == nil || req.Rollback == nil {
		return RollbackReport{Outcome: OutcomeRefused, Reason: "rollback needs both a production and a rollback target"}, ErrRefused
	}
	req.ProductionFence = orSQLFencer(req.ProductionFence, req.Production)
	req.RollbackFence = orSQLFencer(req.RollbackFence, req.Rollback)
	if req.MaxLag == 0 {
		req.MaxLag = DefaultRollbackMaxLag
	}
	if req.CatchupTimeout == 0 {
		req.CatchupTimeout = DefaultCatchupTimeout
	}
	if req.MaxWriteDowntime == 0 {
		req.MaxWriteDowntime = DefaultMaxWriteDowntime
	}
	if req.LockWait == 0 {
		req.LockWait = DefaultLockWait
	}
	r := &roller{req: req, runner: stepRunner{onStep: req.OnStep}}
	err := r.lockAndRun(ctx)
	r.report.Steps = r.runner.steps
	if r.report.Steps == nil {
		r.report.Steps = []Step{}
	}
	return r.report, err
}

// lockAndRun holds switchback's lock on both servers for the whole run, so
// that one cutover (or configure) at a time acts on the pair. A dry run
// does not wait for it; it reports that an execute run would refuse.
func (r *roller) lockAndRun(ctx context.Context) error {
	wait := r.req.LockWait
	if !r.req.Execute {
		wait = 0
	}
	if r.req.Execute {
		r.at("rollback/lock:before")
	}
	lock, err := lockPair(ctx, r.req.Production, r.req.Rollback, wait)
	if err != nil {
		reason := trimRefused(err)
		if !r.req.Execute {
			r.report.Outcome, r.report.Reason = OutcomePlanned, wouldRefuse+reason
			r.runner.add(Step{Name: stepPreconditions, Outcome: StepPlanned, Error: reason})
			return err
		}
		r.runner.add(Step{Name: stepPreconditions, Outcome: StepFailed, Error: reason})
		return r.refuse(reason)
	}
	defer lock.release()
	r.lock = lock
	if r.req.Execute {
		r.at("rollback/lock:held")
	}
	return r.run(ctx)
}

// at calls the request's Hook at a kill point.
func (r *roller) at(point string) { callHook(r.req.Hook, point) }

// stepPoints are the kill points before and after each step.
var stepPoints = map[string][2]string{
	stepPreconditions: {"rollback/preconditions:before", "rollback/preconditions:after"},
	stepStopEvents:    {"rollback/stop-events:before", "rollback/stop-events:after"},
	stepFenceProd:     {"rollback/fence:before", "rollback/fence:after"},
	stepKillSessions:  {"rollback/kill-sessions:before", "rollback/kill-sessions:after"},
	stepSettle:        {"rollback/settle:before", "rollback/settle:after"},
	stepCatchup:       {"rollback/catch-up:before", "rollback/catch-up:after"},
	stepStop:          {"rollback/stop-replication:before", "rollback/stop-replication:after"},
	stepUnfenceRB:     {"rollback/unfence-target:before", "rollback/unfence-target:after"},
	stepReset:         {"rollback/reset-source:before", "rollback/reset-source:after"},
	stepReverse:       {"rollback/reverse:before", "rollback/reverse:after"},
	stepAbortRefence:  {"rollback/abort-refence:before", "rollback/abort-refence:after"},
	stepAbortConfirm:  {"rollback/abort-confirm:before", "rollback/abort-confirm:after"},
	stepAbortUnfence:  {"rollback/abort-unfence:before", "rollback/abort-unfence:after"},
	stepAbortRestart:  {"rollback/abort-restart:before", "rollback/abort-restart:after"},
	stepRestartEvents: {"rollback/restart-events:before", "rollback/restart-events:after"},
	stepRefenceOld:    {"rollback/refence-old:before", "rollback/refence-old:after"},
}

// runStep runs one execute step through the step runner, calling the Hook
// at the kill points before it and, when it succeeds, after it (every step
// has them: TestKillPointsMatchTheCode).
func (r *roller) runStep(ctx context.Context, name string, fn func(context.Context) (StepOutcome, string, error)) error {
	pts, ok := stepPoints[name]
	if ok {
		r.at(pts[0])
	}
	if err := r.runner.run(ctx, name, fn); err != nil {
		return err
	}
	if ok {
		r.at(pts[1])
	}
	return nil
}

func (r *roller) readState(ctx context.Context) (cutoverState, error) {
	var st cutoverState
	var err error
	if st.ProductionReadOnly, err = r.req.ProductionFence.ReadOnly(ctx); err != nil {
		return st, err
	}
	if st.RollbackReadOnly, err = r.req.RollbackFence.ReadOnly(ctx); err != nil {
		return st, err
	}
	if st.Replica, err = r.req.Rollback.ReplicaStatus(ctx); err != nil {
		return st, err
	}
	if st.ProductionPosition, err = r.req.Production.BinlogPosition(ctx); err != nil {
		return st, err
	}
	return st, nil
}

func (r *roller) run(ctx context.Context) error {
	st, err := r.readState(ctx)
	if err != nil {
		return r.refuse("cannot read the servers' state: " + err.Error())
	}
	r.report.ProductionPosition = st.ProductionPosition.String()
	ph, why := classify(st)
	if !r.req.Execute {
		r.plan(ctx, st, ph, why)
		if strings.HasPrefix(r.report.Reason, wouldRefuse) {
			return fmt.Errorf("%w: %s", ErrRefused, strings.TrimPrefix(r.report.Reason, wouldRefuse))
		}
		return nil
	}
	switch ph {
	case phaseInvalid:
		r.runner.add(Step{Name: stepPreconditions, Outcome: StepFailed, Detail: describeState(st), Error: why})
		return r.refuse(why)
	case phaseStart:
		if err := r.runStep(ctx, stepPreconditions, func(context.Context) (StepOutcome, string, error) {
			if reason := r.preconditions(ctx, st); reason != "" {
				return "", "", fmt.Errorf("%w: %s", ErrRefused, reason)
			}
			// Replication set up by hand has no switchback schema yet: the
			// marker written before the fence needs it.
			if _, err := ensureMetaSchema(ctx, r.req.Production, false); err != nil {
				return "", "", fmt.Errorf("%w: %w", ErrRefused, err)
			}
			return StepDone, r.gateDetail(st) + "; " + r.predictionDetail(), nil
		}); err != nil {
			return r.refuse(trimRefused(err))
		}
		if r.req.PrivilegedWriters == PrivilegedKill && len(r.bypass.Events) > 0 {
			if err := r.step(ctx, stepStopEvents, r.stopEventScheduler); err != nil {
				return r.refuse(trimRefused(err))
			}
		}
		if r.req.beforeFence != nil {
			r.req.beforeFence()
		}
		if err := r.step(ctx, stepFenceProd, r.fenceProduction); err != nil {
			if r.fencedAt.IsZero() {
				r.restoreEventScheduler(ctx)
				return r.refuse(trimRefused(err))
			}
			return r.abort(ctx, err)
		}
		if r.req.PrivilegedWriters == PrivilegedKill && len(r.bypass.Sessions) > 0 {
			if err := r.step(ctx, stepKillSessions, r.killPrivilegedSessions); err != nil {
				return r.abort(ctx, err)
			}
		}
		fallthrough
	case phaseFenced:
		if ph == phaseFenced {
			if reason := r.resumable(ctx, st); reason != "" {
				r.runner.add(Step{Name: stepPreconditions, Outcome: StepFailed, Detail: describeState(st), Error: reason})
				return r.refuse(reason)
			}
			// A killed run may have stopped replication; abort must restart it.
			r.stoppedByUs = !st.Replica.IOThreadRunning || !st.Replica.SQLThreadRunning
			r.fencedAt = r.markedFenceStart(ctx)
			r.runner.add(Step{Name: stepFenceProd, Outcome: StepAlreadyDone,
				Detail: fmt.Sprintf("production is already read-only, since %s ago: resuming an interrupted cutover (%s)", time.Since(r.fencedAt).Round(time.Millisecond), describeState(st))})
		}
		if err := r.catchUpAndStop(ctx); err != nil {
			return r.abort(ctx, err)
		}
		if err := r.step(ctx, stepUnfenceRB, r.unfenceRollback); err != nil {
			return r.abort(ctx, err)
		}
		fallthrough
	case phasePromoted:
		if ph == phasePromoted {
			state, err := r.readMarker(ctx, r.req.Rollback)
			if err != nil || state == "" {
				reason := "production is read-only and the rollback target writable with a stopped replication source, but the rollback target holds no record of a switchback cutover from this production: finish by hand"
				r.runner.add(Step{Name: stepPreconditions, Outcome: StepFailed, Detail: describeState(st), Error: reason})
				return r.refuse(reason)
			}
			r.target = st.ProductionPosition
			r.runner.add(Step{Name: stepUnfenceRB, Outcome: StepAlreadyDone,
				Detail: "rollback target is already writable and stopped exactly at production's " + st.ProductionPosition.String()})
			if state == cutoverStarted {
				// Killed between the unfence and its record: the rollback
				// target's position at promotion is lost, and never guessed.
				// The outage is reported up to now: an upper bound.
				if started := r.markedFenceStartOn(ctx, r.req.Rollback); !started.IsZero() {
					r.report.WriteUnavailableMS = time.Since(started).Milliseconds()
				}
				if err := r.markCutover(ctx, r.req.Rollback, cutoverCompleted); err != nil {
					return err
				}
			}
		}
		if err := r.step(ctx, stepReset, r.resetSource); err != nil {
			// The rollback target is writable and production fenced: the
			// cutover happened. Only the stale configuration is left.
			r.report.Outcome = OutcomeCompleted
			r.report.Reason = "cutover done, but the rollback target's old replication configuration could not be cleared: run the same command again"
			return err
		}
		if err := r.checkDiverged(ctx); err != nil {
			return err
		}
		fallthrough
	case phaseDone:
		if ph == phaseDone {
			rec, err := r.readCutoverRecord(ctx)
			if err != nil || (rec.state != cutoverCompleted && rec.state != cutoverDiverged) {
				reason := "production is read-only and the rollback target writable with no replication source, but the rollback target holds no record of a completed switchback cutover from this production (are the DSNs swapped?)"
				r.runner.add(Step{Name: stepPreconditions, Outcome: StepFailed, Detail: describeState(st), Error: reason})
				return r.refuse(reason)
			}
			// Report the cutover's positions and outage, not the servers'
			// current ones.
			r.target = rec.frozen
			r.report.ProductionPosition, r.report.WriteUnavailableMS = rec.frozen.String(), rec.outageMS
			if rec.promoted.File != "" {
				r.report.RollbackPosition = rec.promoted.String()
			}
			r.runner.add(Step{Name: stepReset, Outcome: StepAlreadyDone, Detail: "rollback target is writable with no replication source: the cutover is complete"})
			if rec.state == cutoverDiverged {
				return r.diverged(rec.divergedTo)
			}
			// Until the old production follows the new one, it must not
			// have moved since it was frozen: a write there now exists only
			// there (and would hide in the reverse path's baseline).
			if old, err := r.req.Production.ReplicaStatus(ctx); err != nil {
				return err
			} else if !old.Configured {
				if err := r.checkDiverged(ctx); err != nil {
					return err
				}
			}
		}
		if r.req.Reverse != nil {
			if err := r.step(ctx, stepReverse, r.configureReverse); err != nil {
				r.report.Outcome, r.report.Reason = OutcomeCompleted, "cutover done; reverse replication failed: "+err.Error()
				return err
			}
		}
		r.report.Outcome = OutcomeCompleted
		return nil
	}
	return fmt.Errorf("unknown cutover phase %d", ph)
}

// step runs one execute step, honouring the test crash hook.
func (r *roller) step(ctx context.Context, name string, fn func(context.Context) (StepOutcome, string, error)) error {
	if err := r.runStep(ctx, name, fn); err != nil {
		return err
	}
	if r.req.afterStep != nil {
		r.req.afterStep(name)
	}
	if r.req.crashAfter == name {
		return errCrashed
	}
	return nil
}

func (r *roller) refuse(reason string) error {
	r.report.Outcome, r.report.Reason = OutcomeRefused, reason
	return fmt.Errorf("%w: %s", ErrRefused, reason)
}

func trimRefused(err error) string {
	msg := err.Error()
	var h *HintedError
	if errors.As(err, &h) {
		msg = withoutHint(err, h)
	}
	if p := ErrRefused.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

func describeState(st cutoverState) string {
	onoff := map[bool]string{true: "read-only", false: "writable"}
	repl := "no replication source"
	if st.Replica.Configured {
		repl = fmt.Sprintf("replication IO %s, SQL %s, executed %s", orDash(st.Replica.IORunning), orDash(st.Replica.SQLRunning), st.Replica.ExecutedPosition())
	}
	return fmt.Sprintf("production %s at %s; rollback target %s, %s", onoff[st.ProductionReadOnly], st.ProductionPosition, onoff[st.RollbackReadOnly], repl)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// preconditions returns why a cutover may not start, or "".
func (r *roller) preconditions(ctx context.Context, st cutoverState) string {
	rs := st.Replica
	switch {
	case !rs.IOThreadRunning || !rs.SQLThreadRunning:
		return fmt.Sprintf("replication is not running (IO %s, SQL %s)", orDash(rs.IORunning), orDash(rs.SQLRunning))
	case rs.LastIOErrno != 0:
		return fmt.Sprintf("replication IO error %d: %s", rs.LastIOErrno, rs.LastIOError)
	case rs.LastSQLErrno != 0:
		return fmt.Sprintf("replication SQL error %d: %s", rs.LastSQLErrno, rs.LastSQLError)
	case rs.SecondsBehind == nil:
		return "replication lag is unknown (seconds behind is NULL)"
	case time.Duration(*rs.SecondsBehind)*time.Second > r.req.MaxLag:
		return fmt.Sprintf("the rollback target is %d s behind, more than --max-lag %s", *rs.SecondsBehind, r.req.MaxLag)
	}
	if reason := r.sourceMismatch(ctx, rs); reason != "" {
		return reason
	}
	if problems := targetProblems(ctx, r.req.Production, r.req.Rollback, rs, r.lock.on(r.req.Production)); len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	if err := r.req.ProductionFence.Check(ctx); err != nil {
		return "production cannot be fenced: " + err.Error()
	}
	if err := r.req.RollbackFence.Check(ctx); err != nil {
		return "the rollback target cannot be unfenced: " + err.Error()
	}
	if r.req.Reverse != nil {
		if _, err := r.req.Rollback.BinlogPosition(ctx); err != nil {
			return "--reverse needs the rollback target's binary log: " + err.Error()
		}
	}
	bypass, err := findBypassingWriters(ctx, r.req.Production)
	if err != nil {
		return "cannot tell whether anything on production writes through read_only: " + err.Error()
	}
	r.bypass = bypass
	if !bypass.empty() && r.req.PrivilegedWriters == PrivilegedRefuse {
		return "production has writers that the fence does not stop: " + bypass.describe() +
			"; end them, or choose: --kill-privileged-sessions (stop the event scheduler and end those sessions at the fence) or --allow-privileged-writers (a write of theirs after the fence aborts the cutover)"
	}
	return r.catchUpBeforeFence(ctx)
}

// catchUpBeforeFence proves, before anything is fenced, that the rollback
// target applies production's writes now and that the cutover would take
// writes away for no longer than MaxWriteDowntime. It waits, with
// progress, until the target has executed the position production had
// when the wait began and the predicted write downtime (bytes behind at
// the measured apply rate, see DowntimePrediction) is within
// MaxWriteDowntime; then the target must also execute, within
// MaxWriteDowntime, up to the position production has at that moment
// (closeIn: a prediction from rates can be fooled by a target that has
// just stalled), and the prediction must still hold after that. A target
// that does not get there within CatchupTimeout (a delay, a slow or
// blocked SQL thread, a write load it cannot follow) is refused with the
// figures, nothing fenced. A dry run measures once and reports. It
// returns why not, or "".
//
// What no prediction sees is the cost of a transaction production
// commits in the instant before the fence (an UPDATE of many rows in a few
// bytes of statement, DDL): the fenced catch-up is then bounded only by
// CatchupTimeout, after which the cutover aborts and unfences production.
func (r *roller) catchUpBeforeFence(ctx context.Context) string {
	if !r.req.Execute {
		p, err := PredictWriteDowntime(ctx, r.req.Production, r.req.Rollback, DefaultPredictionWindow)
		if err != nil {
			return "cannot predict the write downtime: " + err.Error()
		}
		r.report.Prediction = &p
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, r.req.CatchupTimeout)
	defer cancel()
	start := time.Now()
	w := predictionWindow{prod: r.req.Production, rollback: r.req.Rollback}
	var (
		goal         BinlogPosition
		pred         DowntimePrediction
		reached      bool
		missed       string // why the last close-in did not prove the prediction
		lastProgress = start
		tick         = time.NewTicker(predictionPollInterval)
	)
	defer tick.Stop()
	for {
		r.at("rollback/predict:wait")
		p, rs, err := w.sample(ctx)
		if err != nil && ctx.Err() == nil {
			return "cannot predict the write downtime: " + err.Error()
		}
		if err == nil {
			pred = p
			if rerr := replicationError(rs); rerr != nil {
				return rerr.Error()
			}
			if goal.File == "" {
				goal = w.last().Production
			}
			reached = reached || ComparePositions(w.last().Executed, goal) >= 0
			if d, ok := pred.Predicted(); ok && reached && d <= r.req.MaxWriteDowntime {
				if missed = r.closeIn(ctx); missed == "" {
					// The close-in took time in which production wrote on:
					// the prediction must hold for what is behind now.
					if p, _, err := w.sample(ctx); err == nil {
						pred = p
						if d, ok := pred.Predicted(); ok && d <= r.req.MaxWriteDowntime {
							r.report.Prediction = &pred
							return ""
						}
						missed = "after closing in, the prediction was " + pred.String()
					}
				}
			}
			if r.req.OnProgress != nil && time.Since(lastProgress) >= rollbackProgressPeriod {
				lastProgress = time.Now()
				line := fmt.Sprintf("before fencing (%s of --catchup-timeout %s): predicted write downtime %s; waiting for it to be within --max-write-downtime %s",
					time.Since(start).Round(100*time.Millisecond), r.req.CatchupTimeout, pred, r.req.MaxWriteDowntime)
				if missed != "" {
					line += " (" + missed + ")"
				}
				r.req.OnProgress(line)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return "interrupted before fencing"
			}
			r.report.Prediction = &pred
			if !reached {
				return fmt.Sprintf("within --catchup-timeout %s the rollback target did not even execute the position production had when the wait began (%s; it executed %s): it does not keep up (a delay, a slow or blocked SQL thread, a slow network); predicted write downtime %s; nothing was fenced",
					r.req.CatchupTimeout, goal, w.last().Executed, pred)
			}
			why := ""
			if missed != "" {
				why = "; " + missed
			}
			return fmt.Sprintf("the predicted write downtime stayed above --max-write-downtime %s for --catchup-timeout %s (last: %s%s); nothing was fenced. Retry when production writes less, let the target apply faster (parallel apply, see status), or accept a longer outage with a larger --max-write-downtime",
				r.req.MaxWriteDowntime, r.req.CatchupTimeout, pred, why)
		case <-tick.C:
		}
	}
}

// closeIn proves the prediction right before the fence: the rollback
// target must execute, within MaxWriteDowntime, up to the position
// production has at that moment. What it executes now it does not execute
// with production fenced: under a steady write load the fenced catch-up is
// what production commits while the last close-in ran. So it closes in
// again, for up to closeInPatience, until one close-in takes no longer than
// a twentieth of MaxWriteDowntime (10 ms at least): the moment the target
// is nearly level with production, which is when the fence costs least. It
// returns why the prediction does not hold, or "".
func (r *roller) closeIn(ctx context.Context) string {
	quick := max(r.req.MaxWriteDowntime/20, 10*time.Millisecond)
	until := time.Now().Add(closeInPatience)
	for {
		took, missed := r.closeInOnce(ctx)
		if missed != "" || took <= quick || time.Now().After(until) || ctx.Err() != nil {
			return missed
		}
	}
}

// closeInPatience bounds how long closeIn waits for the target to be nearly
// level with production before it fences with the last close-in's margin.
const closeInPatience = 2 * time.Second

// closeInOnce waits, within MaxWriteDowntime, for the rollback target to
// execute production's position of this moment, and says how long it took,
// or why not.
func (r *roller) closeInOnce(ctx context.Context) (time.Duration, string) {
	start := time.Now()
	goal, err := r.req.Production.BinlogPosition(ctx)
	if err != nil {
		return 0, "cannot read production's position: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, r.req.MaxWriteDowntime)
	defer cancel()
	wait := r.req.Rollback.Dialect.WaitForPosition(goal.File, goal.Position, r.req.MaxWriteDowntime, r.req.Rollback.Info)
	var executed BinlogPosition
	for {
		r.at("rollback/close-in:wait")
		rs, err := r.req.Rollback.ReplicaStatus(ctx)
		if err == nil {
			if executed = rs.ExecutedPosition(); ComparePositions(executed, goal) >= 0 {
				return time.Since(start), ""
			}
		}
		if !r.positionWait(ctx, wait) {
			select {
			case <-ctx.Done():
			case <-time.After(rollbackPollInterval):
			}
		}
		if ctx.Err() != nil {
			return 0, fmt.Sprintf("the rollback target did not execute production's %s within --max-write-downtime %s: it executed %s", goal, r.req.MaxWriteDowntime, executed)
		}
	}
}

// positionWait runs the rollback target's position wait (MASTER_POS_WAIT or
// SOURCE_POS_WAIT), which returns the moment the SQL thread reaches the
// position; the caller proves it with the replica status. It reports
// whether the server waited: not when the SQL thread is not running (NULL)
// or the server has no such function (an error; not tried again), where the
// caller polls instead.
func (r *roller) positionWait(ctx context.Context, wait Statement) bool {
	if r.noPositionWait {
		return false
	}
	var waited sql.NullInt64
	if err := r.req.Rollback.db.QueryRowContext(ctx, wait.SQL, wait.Args...).Scan(&waited); err != nil {
		if ctx.Err() == nil {
			r.noPositionWait = true
		}
		return false
	}
	return waited.Valid
}

// resumable returns why a fenced production may not be treated as an
// interrupted cutover, or "".
func (r *roller) resumable(ctx context.Context, st cutoverState) string {
	state, err := r.readMarker(ctx, r.req.Production)
	if err != nil || state != cutoverStarted {
		return "production is read-only, but switchback did not start a cutover from it to this rollback target (no marker in " + cutoverTable + "): unfence it by hand if that is wrong"
	}
	return r.sourceMismatch(ctx, st.Replica)
}

// Cutover marker states in switchback.cutover.
const (
	cutoverStarted   = "started"
	cutoverCompleted = "completed"
	cutoverAborted   = "aborted"
	cutoverDiverged  = "diverged"
)

// markCutover records the cutover's state on s (production before the
// fence; the rollback target once it is writable).
func (r *roller) markCutover(ctx context.Context, s *Server, state string) error {
	var err error
	if state == cutoverStarted {
		_, err = s.db.ExecContext(ctx,
			"REPLACE INTO "+cutoverTable+" /* switchback */ (old_production, rollback_target, state, started_at) VALUES (?, ?, ?, NOW(6))",
			r.req.Production.Addr, r.req.Rollback.Addr, state)
	} else {
		_, err = s.db.ExecContext(ctx,
			"UPDATE "+cutoverTable+" /* switchback */ SET state = ?, production_file = ?, production_position = ?, promoted_file = ?, promoted_position = ?, finished_at = NOW(6) WHERE old_production = ?",
			state, r.target.File, r.target.Position, r.rollbackAtPromo.File, r.rollbackAtPromo.Position, r.req.Production.Addr)
	}
	if err != nil {
		return fmt.Errorf("%s: record cutover %s in %s: %w", s, state, cutoverTable, err)
	}
	return nil
}

// readMarker returns the cutover state recorded on s for this production,
// or "" when there is none.
func (r *roller) readMarker(ctx context.Context, s *Server) (string, error) {
	var state string
	err := s.db.QueryRowContext(ctx, "SELECT state FROM "+cutoverTable+" WHERE old_production = ? AND rollback_target = ?",
		r.req.Production.Addr, r.req.Rollback.Addr).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return state, err
}

// sourceMismatch refuses a rollback target that follows another server.
// The replica's source is production when the source's server id it
// reports is production's, or when its host:port is production's address
// (loopback names compared as equal) or the source Configure recorded.
func (r *roller) sourceMismatch(ctx context.Context, rs ReplicaStatus) string {
	if rs.SourceServerID != 0 {
		var id uint64
		if err := r.req.Production.db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err == nil && id == rs.SourceServerID {
			return ""
		}
	}
	host, port := r.req.Production.HostPort()
	if rs.SourcePort == port && sameHost(rs.SourceHost, host) {
		return ""
	}
	var recHost string
	var recPort int
	err := r.req.Production.db.QueryRowContext(ctx, "SELECT source_host, source_port FROM "+sourceRecordTable+" WHERE target = ?", r.req.Rollback.Addr).Scan(&recHost, &recPort)
	if err == nil && recHost == rs.SourceHost && recPort == rs.SourcePort {
		return ""
	}
	return fmt.Sprintf("the rollback target replicates from %s:%d, which is not production (%s) nor the source switchback configured for it", rs.SourceHost, rs.SourcePort, r.req.Production.Addr)
}

// sameHost compares host names, treating the loopback names as one.
func sameHost(a, b string) bool {
	loopback := func(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }
	return strings.EqualFold(a, b) || (loopback(a) && loopback(b))
}

func (r *roller) gateDetail(st cutoverState) string {
	lag := "unknown"
	if st.Replica.SecondsBehind != nil {
		lag = fmt.Sprintf("%d s", *st.Replica.SecondsBehind)
	}
	return fmt.Sprintf("IO %s, SQL %s, no errors, lag %s ≤ %s, rollback target read-only", st.Replica.IORunning, st.Replica.SQLRunning, lag, r.req.MaxLag)
}

// predictionDetail describes the write downtime prediction against
// MaxWriteDowntime.
func (r *roller) predictionDetail() string {
	p := r.report.Prediction
	if p == nil {
		return "no write downtime prediction"
	}
	d, ok := p.Predicted()
	switch {
	case r.req.Execute:
		return fmt.Sprintf("predicted write downtime %s (within --max-write-downtime %s)", p, r.req.MaxWriteDowntime)
	case ok && d <= r.req.MaxWriteDowntime:
		return fmt.Sprintf("predicted write downtime %s: within --max-write-downtime %s, would fence at once", p, r.req.MaxWriteDowntime)
	}
	return fmt.Sprintf("predicted write downtime %s: not within --max-write-downtime %s; would wait up to --catchup-timeout %s for it, else refuse with production untouched", p, r.req.MaxWriteDowntime, r.req.CatchupTimeout)
}

// fenceProduction sets production read-only within CatchupTimeout (the
// statement waits for running transactions and table locks) and confirms
// it reads back as fenced.
func (r *roller) fenceProduction(ctx context.Context) (StepOutcome, string, error) {
	if err := r.lock.held(ctx); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrRefused, err)
	}
	// The marker, written while production is still writable, replicates
	// to the rollback target: it is how a later run knows a fenced
	// production was fenced by this cutover, and since when.
	if err := r.markCutover(ctx, r.req.Production, cutoverStarted); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrRefused, err)
	}
	r.at("rollback/fence:marked")
	ctx, cancel := context.WithTimeout(ctx, r.req.CatchupTimeout)
	defer cancel()
	r.fencedAt = time.Now()
	if err := r.req.ProductionFence.SetReadOnly(ctx, true); err != nil {
		if pe := (*pendingStatementError)(nil); errors.As(err, &pe) {
			r.pendingFence = pe
		}
		return "", "", err
	}
	return StepDone, "production is read-only: application writes are now rejected", nil
}

// catchUpAndStop reads production's final position, waits for the
// rollback target to execute exactly up to it, then stops replication and
// checks that nothing moved meanwhile, within CatchupTimeout.
//
// The fenced window holds no fixed sleep; each wait is for a condition on
// the servers:
//   - the fence itself (fenceProduction) returns when the server has set
//     read_only, which waits for transactions committing and for table
//     locks: from then on only writers that bypass read_only commit;
//   - production's final position is then read once (settle): a writer
//     that bypasses the fence and commits after that read is caught by the
//     re-reads after replication stops and before the rollback target is
//     unfenced, which abort the cutover;
//   - the catch-up waits in the server's own position wait function
//     (MASTER_POS_WAIT / SOURCE_POS_WAIT), which returns the moment the SQL
//     thread reaches the position, and then proves it with the replica
//     status;
//   - stopping replication and unfencing are single statements.
func (r *roller) catchUpAndStop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.req.CatchupTimeout)
	defer cancel()
	if err := r.step(ctx, stepSettle, r.settle); err != nil {
		return err
	}
	if err := r.step(ctx, stepCatchup, r.catchUp); err != nil {
		return err
	}
	return r.step(ctx, stepStop, r.stopReplication)
}

// settle reads production's binlog position once production is fenced:
// the position the rollback target must execute exactly up to.
func (r *roller) settle(ctx context.Context) (StepOutcome, string, error) {
	cur, err := r.req.Production.BinlogPosition(ctx)
	if err != nil {
		return "", "", err
	}
	r.target = cur
	r.report.ProductionPosition = cur.String()
	return StepDone, "production is frozen at " + cur.String(), nil
}

func (r *roller) catchUp(ctx context.Context) (StepOutcome, string, error) {
	lastProgress := time.Now()
	restarted := false
	wait := r.req.Rollback.Dialect.WaitForPosition(r.target.File, r.target.Position, rollbackProgressPeriod, r.req.Rollback.Info)
	for {
		r.at("rollback/catch-up:wait")
		rs, err := r.req.Rollback.ReplicaStatus(ctx)
		if err != nil {
			return "", "", r.catchupErr(ctx, err)
		}
		if rerr := replicationError(rs); rerr != nil {
			return "", "", rerr
		}
		exec := rs.ExecutedPosition()
		switch c := ComparePositions(exec, r.target); {
		case c == 0:
			return StepDone, "rollback target executed exactly up to " + r.target.String(), nil
		case c > 0:
			// MariaDB appends a Binlog_checkpoint event to a new binlog
			// file on its own, up to a second after the rotation: the
			// position moves with nothing written. Only a transaction
			// past the target is a write after the fence.
			if end, ok := r.movedWithoutWrites(ctx); ok && ComparePositions(exec, end) <= 0 {
				r.target = end
				r.report.ProductionPosition = end.String()
				continue
			}
			return "", "", fmt.Errorf("rollback target executed %s, past production's final %s: production was written after the fence", exec, r.target)
		}
		if !rs.SQLThreadRunning || (!rs.IOThreadRunning && !restarted) {
			if restarted {
				return "", "", fmt.Errorf("replication stopped at %s before reaching %s (IO %s, SQL %s)", exec, r.target, orDash(rs.IORunning), orDash(rs.SQLRunning))
			}
			// An interrupted run stopped it short of the target: start it again.
			if err := r.req.Rollback.exec(ctx, r.req.Rollback.Dialect.StartReplication()); err != nil {
				return "", "", err
			}
			restarted = true
		}
		if r.req.OnProgress != nil && time.Since(lastProgress) >= rollbackProgressPeriod {
			lastProgress = time.Now()
			behind := "in an earlier binlog file"
			if exec.File == r.target.File {
				behind = fmt.Sprintf("%d bytes behind", r.target.Position-exec.Position)
			}
			r.req.OnProgress(fmt.Sprintf("waiting for the rollback target: executed %s, %s production's %s", exec, behind, r.target))
		}
		// The server's position wait returns as soon as the SQL thread
		// reaches the target (or after a second, for progress); the replica
		// status read above is the proof.
		if !r.positionWait(ctx, wait) {
			select {
			case <-ctx.Done():
				return "", "", r.catchupErr(ctx, ctx.Err())
			case <-time.After(rollbackPollInterval):
			}
		}
	}
}

// movedWithoutWrites reads production's binary log from the target
// position to its end and reports whether it holds no transaction (only
// file-level events such as Binlog_checkpoint and Rotate), with the end.
func (r *roller) movedWithoutWrites(ctx context.Context) (BinlogPosition, bool) {
	found, end, err := transactionEventsSince(ctx, r.req.Production, r.target, func(uint64) bool { return true })
	return end, err == nil && found == ""
}

func (r *roller) catchupErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the rollback target did not execute up to production's %s within --catchup-timeout %s (is it blocked, e.g. by a lock?)", r.target, r.req.CatchupTimeout)
	}
	return err
}

func (r *roller) stopReplication(ctx context.Context) (StepOutcome, string, error) {
	// Set first: a stop cut short on our side may still land on the server.
	r.stoppedByUs = true
	if err := r.req.Rollback.exec(ctx, r.req.Rollback.Dialect.StopReplication()); err != nil {
		return "", "", err
	}
	// Both reads at once: they are in the fenced window. Production's
	// position is read again just before the unfence (unfenceRollback).
	var (
		rs             ReplicaStatus
		pos            BinlogPosition
		ownErr         error
		executedReader = func() (err error) { rs, err = r.req.Rollback.ReplicaStatus(ctx); return err }
		ownReader      = func() error { pos, ownErr = r.req.Rollback.BinlogPosition(ctx); return nil }
	)
	if err := concurrently(executedReader, ownReader); err != nil {
		return "", "", err
	}
	if ComparePositions(rs.ExecutedPosition(), r.target) != 0 {
		return "", "", fmt.Errorf("the rollback target's executed position moved while stopping: %s, expected %s", rs.ExecutedPosition(), r.target)
	}
	if ownErr != nil {
		if r.req.Reverse != nil {
			return "", "", ownErr
		}
		return StepDone, fmt.Sprintf("replication stopped at %s (rollback target's own binlog position unreadable: %v)", r.target, ownErr), nil
	}
	r.rollbackAtPromo = pos
	r.report.RollbackPosition = pos.String()
	return StepDone, fmt.Sprintf("replication stopped at %s; rollback target's own binlog at %s", r.target, pos), nil
}

// unfenceRollback makes the rollback target writable, after checking that
// production is still fenced and has not moved, and that the lock is still
// held, and records the completed cutover on it with the rollback target's
// own position captured while it was still read-only: where the
// roll-forward path starts.
func (r *roller) unfenceRollback(ctx context.Context) (StepOutcome, string, error) {
	// The three checks at once: they are in the fenced window.
	var fenced bool
	var pos BinlogPosition
	err := concurrently(
		func() (err error) { fenced, err = r.req.ProductionFence.ReadOnly(ctx); return err },
		// Replication is stopped: a write production takes now would
		// never reach the rollback target.
		func() (err error) { pos, err = r.req.Production.BinlogPosition(ctx); return err },
		func() error { return r.lock.held(ctx) },
	)
	switch {
	case err != nil:
		return "", "", err
	case !fenced:
		return "", "", errors.New("production is no longer read-only (was it unfenced, or restarted?): writes may have reached it after the catch-up")
	case ComparePositions(pos, r.target) != 0:
		return "", "", fmt.Errorf("production's binlog moved from %s to %s (%s) after the fence: a writer bypasses it; nothing was promoted", r.target, pos, distance(r.target, pos))
	}
	r.rollbackUnfenceTried = true
	if err := r.req.RollbackFence.SetReadOnly(ctx, false); err != nil {
		return "", "", err
	}
	r.at("rollback/unfence-target:unfenced")
	r.report.WriteUnavailableMS = time.Since(r.fencedAt).Milliseconds()
	if err := r.markCutover(ctx, r.req.Rollback, cutoverCompleted); err != nil {
		return "", "", err
	}
	return StepDone, "rollback target is writable: it is production now", nil
}

// concurrently runs fns at once and returns the first error in the order
// of fns.
func concurrently(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// cutoverRecord is what a completed cutover recorded on the rollback
// target: where production was frozen, the rollback target's own position
// when it became writable, and the write outage from the fence's start.
type cutoverRecord struct {
	state            string
	frozen, promoted BinlogPosition // promoted is empty when a kill lost it
	outageMS         int64
	divergedTo       string // production's position past frozen, when diverged
}

// readCutoverRecord returns the record of a finished cutover from
// production on the rollback target.
func (r *roller) readCutoverRecord(ctx context.Context) (cutoverRecord, error) {
	var rec cutoverRecord
	var us sql.NullInt64
	err := r.req.Rollback.db.QueryRowContext(ctx,
		"SELECT state, production_file, production_position, promoted_file, promoted_position, TIMESTAMPDIFF(MICROSECOND, started_at, finished_at), diverged_to FROM "+cutoverTable+" WHERE old_production = ? AND rollback_target = ?",
		r.req.Production.Addr, r.req.Rollback.Addr).Scan(&rec.state, &rec.frozen.File, &rec.frozen.Position, &rec.promoted.File, &rec.promoted.Position, &us, &rec.divergedTo)
	rec.outageMS = us.Int64 / 1000
	return rec, err
}

// markedFenceStart returns when the interrupted cutover's marker on
// production was written, just before its fence, as a local time; now when
// it cannot be read.
func (r *roller) markedFenceStart(ctx context.Context) time.Time {
	if t := r.markedFenceStartOn(ctx, r.req.Production); !t.IsZero() {
		return t
	}
	return time.Now()
}

// markedFenceStartOn reads the cutover marker's start on s, measured with
// s's own clock; zero when there is none.
func (r *roller) markedFenceStartOn(ctx context.Context, s *Server) time.Time {
	var us sql.NullInt64
	err := s.db.QueryRowContext(ctx,
		"SELECT TIMESTAMPDIFF(MICROSECOND, started_at, NOW(6)) FROM "+cutoverTable+" WHERE old_production = ? AND rollback_target = ?",
		r.req.Production.Addr, r.req.Rollback.Addr).Scan(&us)
	if err != nil || !us.Valid || us.Int64 < 0 {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(us.Int64) * time.Microsecond)
}

// checkDiverged reads production's position once the rollback target is
// writable. If it moved past the frozen position, a writer bypassed the
// fence in the instant between the last check and the promotion: those
// writes exist only on the old production, and the outcome says so.
func (r *roller) checkDiverged(ctx context.Context) error {
	// A restart drops a SQL fence (SET GLOBAL is not kept): an old
	// production restarted after it was fenced takes writes again. Fence it
	// again before its position is read for the last time.
	if on, err := r.req.ProductionFence.ReadOnly(ctx); err == nil && !on {
		if err := r.runStep(ctx, stepRefenceOld, func(ctx context.Context) (StepOutcome, string, error) {
			if err := r.req.ProductionFence.SetReadOnly(ctx, true); err != nil {
				return "", "", err
			}
			return StepDone, "the old production was writable again after the promotion (restarted?): it is read-only again", nil
		}); err != nil {
			r.report.Reason += "; the old production is writable again (restarted after it was fenced?) and could not be fenced again: fence it by hand"
		}
	}
	pos, err := r.req.Production.BinlogPosition(ctx)
	if err != nil {
		r.report.Outcome = OutcomeDiverged
		r.report.Reason = "the rollback target is production now, but production's final position could not be read back to prove nothing was written after the freeze at " + r.target.String() + ": " + err.Error()
		return fmt.Errorf("%w: %s", ErrDiverged, r.report.Reason)
	}
	if ComparePositions(pos, r.target) == 0 {
		return nil
	}
	// A new binlog file (a restart, FLUSH LOGS) moves the position without
	// a write: only transactions count.
	if found, _, err := transactionEventsSince(ctx, r.req.Production, r.target, func(uint64) bool { return true }); err == nil && found == "" {
		return nil
	}
	// Recorded, so that a re-run reports it again instead of "completed".
	if _, err := r.req.Rollback.db.ExecContext(ctx,
		"UPDATE "+cutoverTable+" /* switchback */ SET state = ?, diverged_to = ? WHERE old_production = ? AND rollback_target = ?",
		cutoverDiverged, pos.String(), r.req.Production.Addr, r.req.Rollback.Addr); err != nil {
		r.report.Reason = "; and it could not be recorded on the rollback target: " + err.Error()
	}
	return r.diverged(pos.String())
}

// diverged reports that production's binlog moved past its frozen position
// (r.target) to movedTo after the rollback target was promoted.
func (r *roller) diverged(movedTo string) error {
	extra := r.report.Reason
	r.report.Outcome = OutcomeDiverged
	r.report.Reason = fmt.Sprintf("the rollback target is production now, but the old production's binlog moved from %s to %s after it was frozen: a writer bypassed the fence; those writes exist only on the old production: reconcile them by hand (mysqlbinlog --start-position=%d %s …), then set up the roll-forward path with switchback configure (--reverse refuses a diverged pair)",
		r.target, movedTo, r.target.Position, r.target.File) + extra
	return fmt.Errorf("%w: %s", ErrDiverged, r.report.Reason)
}

// distance describes how far b is past a.
func distance(a, b BinlogPosition) string {
	if a.File == b.File && b.Position >= a.Position {
		return fmt.Sprintf("%d bytes", b.Position-a.Position)
	}
	return "into a later binlog file"
}

// stopEventScheduler turns production's event scheduler off before the
// fence: scheduled events whose definer bypasses read_only would write
// through it.
func (r *roller) stopEventScheduler(ctx context.Context) (StepOutcome, string, error) {
	if _, err := r.req.Production.db.ExecContext(ctx, "SET GLOBAL event_scheduler = OFF"); err != nil {
		return "", "", fmt.Errorf("%w: %s: SET GLOBAL event_scheduler = OFF: %w", ErrRefused, r.req.Production, err)
	}
	r.eventsStopped = true
	return StepDone, "event scheduler off (it stays off on the old production): " + strings.Join(r.bypass.Events, "; "), nil
}

// restoreEventScheduler turns production's event scheduler back on when
// this run turned it off and the cutover did not happen.
func (r *roller) restoreEventScheduler(ctx context.Context) {
	if !r.eventsStopped {
		return
	}
	_ = r.runStep(context.WithoutCancel(ctx), stepRestartEvents, func(ctx context.Context) (StepOutcome, string, error) {
		if _, err := r.req.Production.db.ExecContext(ctx, "SET GLOBAL event_scheduler = ON"); err != nil {
			r.report.Reason += "; production's event scheduler is still OFF: turn it on by hand (SET GLOBAL event_scheduler = ON)"
			return "", "", err
		}
		r.eventsStopped = false
		return StepDone, "production's event scheduler is on again", nil
	})
}

// killPrivilegedSessions ends, right after the fence, the sessions found
// before it whose users write through read_only, and any that connected
// since.
func (r *roller) killPrivilegedSessions(ctx context.Context) (StepOutcome, string, error) {
	now, err := findBypassingWriters(ctx, r.req.Production)
	if err != nil {
		return "", "", err
	}
	var ended []string
	for _, sess := range now.Sessions {
		st := plain(fmt.Sprintf("KILL CONNECTION %d", sess.ID))
		if r.req.Production.Dialect.IsAurora() && !isMariaDBServer(r.req.Production) {
			st = plain(fmt.Sprintf("CALL mysql.rds_kill(%d)", sess.ID))
		}
		if err := r.req.Production.exec(ctx, st); err != nil && mysqlErrno(err) != 1094 /* no such thread: already gone */ {
			return "", "", err
		}
		ended = append(ended, sess.String())
	}
	if len(ended) == 0 {
		return StepAlreadyDone, "no privileged session left", nil
	}
	return StepDone, fmt.Sprintf("ended %d session(s): %s", len(ended), strings.Join(ended, "; ")), nil
}

// configureReverse makes the old production a replica of the rollback
// target from the cutover position, with Configure.
func (r *roller) configureReverse(ctx context.Context) (StepOutcome, string, error) {
	start := r.rollbackAtPromo
	if start.File == "" {
		rec, err := r.readCutoverRecord(ctx)
		if err == nil && rec.promoted.File == "" {
			err = errors.New("the run that promoted it was killed before recording it")
		}
		if err != nil {
			return "", "", fmt.Errorf("the rollback target's position at the cutover is unknown (%v): switchback never guesses coordinates; configure reverse replication by hand with switchback configure", err)
		}
		start = rec.promoted
		r.report.RollbackPosition = start.String()
	}
	o := r.req.Reverse
	res, err := Configure(ctx, ConfigureRequest{
		Production: r.req.Rollback, Rollback: r.req.Production, RollbackFence: r.req.ProductionFence,
		Start: start, SourceHost: o.SourceHost, SourcePort: o.SourcePort,
		ReplicationUser: o.ReplicationUser, ReplicationPassword: o.ReplicationPassword, WaitTimeout: o.WaitTimeout,
		Hook: r.req.Hook, held: r.lock,
	})
	if err != nil {
		return "", "", err
	}
	outcome := StepDone
	if res.Outcome == OutcomeUnchanged {
		outcome = StepAlreadyDone
	}
	return outcome, fmt.Sprintf("old production replicates from the rollback target (%s) from %s", res.Source, start), nil
}

// wouldRefuse begins a plan's reason when an execute run would refuse.
const wouldRefuse = "--execute would refuse: "

// plan reports what an execute run would do, with the checks that gate
// each step and the current values. It changes nothing.
func (r *roller) plan(ctx context.Context, st cutoverState, ph phase, why string) {
	r.report.Outcome = OutcomePlanned
	planned := func(name, detail string) { r.runner.add(Step{Name: name, Outcome: StepPlanned, Detail: detail}) }
	state := describeState(st)
	switch ph {
	case phaseInvalid:
		r.report.Reason = wouldRefuse + why
		r.runner.add(Step{Name: stepPreconditions, Outcome: StepPlanned, Detail: state, Error: why})
		return
	case phaseStart:
		gate := r.gateDetail(st)
		if reason := r.preconditions(ctx, st); reason != "" {
			r.report.Reason = wouldRefuse + reason
			r.runner.add(Step{Name: stepPreconditions, Outcome: StepPlanned, Detail: state, Error: reason})
			return
		}
		planned(stepPreconditions, "would pass now: "+gate+"; "+r.predictionDetail())
		if r.req.PrivilegedWriters == PrivilegedKill && len(r.bypass.Events) > 0 {
			planned(stepStopEvents, "SET GLOBAL event_scheduler = OFF: "+strings.Join(r.bypass.Events, "; "))
		}
		planned(stepFenceProd, "production is writable now; set it read-only (application writes are rejected from here)")
		if r.req.PrivilegedWriters == PrivilegedKill && len(r.bypass.Sessions) > 0 {
			planned(stepKillSessions, r.bypass.describe())
		}
	case phaseFenced:
		planned(stepFenceProd, "production is already read-only: an interrupted cutover would be resumed")
	}
	switch ph {
	case phaseStart, phaseFenced:
		behind := "in an earlier file"
		exec := st.Replica.ExecutedPosition()
		if exec.File == st.ProductionPosition.File && st.ProductionPosition.Position >= exec.Position {
			behind = fmt.Sprintf("%d bytes behind", st.ProductionPosition.Position-exec.Position)
		}
		planned(stepSettle, fmt.Sprintf("production's binlog is at %s now; read where the fence froze it", st.ProductionPosition))
		planned(stepCatchup, fmt.Sprintf("rollback target has executed %s (%s); wait until it is exactly at production's final position (at most --catchup-timeout %s), else abort and unfence production", exec, behind, r.req.CatchupTimeout))
		planned(stepStop, "stop replication on the rollback target ("+r.req.Rollback.Dialect.StopReplication().Display+")")
		planned(stepUnfenceRB, "make the rollback target writable; production stays read-only")
		fallthrough
	case phasePromoted:
		if ph == phasePromoted {
			planned(stepUnfenceRB, "already writable and stopped at production's final position: resume")
		}
		planned(stepReset, "remove the rollback target's replication source configuration")
	case phaseDone:
		r.report.Reason = "the cutover is already complete"
		r.runner.add(Step{Name: stepReset, Outcome: StepAlreadyDone, Detail: state})
	}
	if r.req.Reverse != nil {
		planned(stepReverse, "configure the old production to replicate from the rollback target from its position at the cutover")
	}
}

func (r *roller) resetSource(ctx context.Context) (StepOutcome, string, error) {
	for _, st := range r.req.Rollback.Dialect.ResetSource() {
		if err := r.req.Rollback.exec(ctx, st); err != nil {
			return "", "", err
		}
	}
	return StepDone, "replication source configuration removed", nil
}

// abort undoes an interrupted cutover: the rollback target is fenced again
// if this run tried to unfence it, production is unfenced, and the rollback
// target's replication restarted, so the pair is back where it started. It
// runs even when ctx was cancelled (Ctrl-C). Production stays fenced only
// when the rollback target cannot be confirmed read-only: two writable
// sides would be worse than a write outage.
func (r *roller) abort(ctx context.Context, cause error) error {
	if errors.Is(cause, errCrashed) {
		return cause
	}
	patience := abortPatience
	if r.req.abortTimeout > 0 {
		patience = r.req.abortTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patience)
	defer cancel()
	r.report.Outcome = OutcomeAborted
	r.report.Reason = trimRefused(cause)
	if r.rollbackUnfenceTried {
		err := r.runStep(ctx, stepAbortRefence, func(ctx context.Context) (StepOutcome, string, error) {
			if err := retry(ctx, func() error { return r.req.RollbackFence.SetReadOnly(ctx, true) }); err != nil {
				return "", "", err
			}
			return StepDone, "rollback target is read-only again", nil
		})
		if err != nil {
			r.report.Reason += "; the rollback target could not be confirmed read-only, so PRODUCTION WAS LEFT READ-ONLY: check both servers and fence one side by hand"
			return fmt.Errorf("%w: %w; and the rollback target could not be fenced again: %w", ErrAborted, cause, err)
		}
	}
	// Production is unfenced only once the rollback target is proven not
	// promoted: read-only, with its replication source still configured.
	confirmErr := r.runStep(ctx, stepAbortConfirm, func(ctx context.Context) (StepOutcome, string, error) {
		if err := r.endPendingFence(ctx); err != nil {
			return "", "", err
		}
		if err := r.lock.held(ctx); err != nil {
			return "", "", err
		}
		on, err := r.req.RollbackFence.ReadOnly(ctx)
		if err != nil {
			return "", "", err
		}
		if !on {
			return "", "", errors.New("the rollback target is writable")
		}
		rs, err := r.req.Rollback.ReplicaStatus(ctx)
		if err != nil {
			return "", "", err
		}
		if !rs.Configured {
			return "", "", errors.New("the rollback target has no replication source: it may have been promoted")
		}
		return StepDone, "rollback target is read-only and still replicates from production", nil
	})
	if confirmErr != nil && r.pendingFence != nil {
		r.report.Reason += "; production stopped answering while it was being fenced and its fence statement could not be ended, so PRODUCTION MAY BE READ-ONLY when it answers again (the statement may still take effect then): once it answers, run the same command again: it finishes the cutover from a fenced production, or starts afresh from a writable one"
		return fmt.Errorf("%w: %w; and production's fence statement may still take effect: %w", ErrAborted, cause, confirmErr)
	}
	if confirmErr != nil {
		r.report.Reason += "; the rollback target could not be proven fenced and not promoted, so PRODUCTION WAS LEFT READ-ONLY: check both servers, then unfence the one that should take writes by hand"
		return fmt.Errorf("%w: %w; and production was left read-only: %w", ErrAborted, cause, confirmErr)
	}
	unfenceErr := r.runStep(ctx, stepAbortUnfence, func(ctx context.Context) (StepOutcome, string, error) {
		if err := retry(ctx, func() error { return r.req.ProductionFence.SetReadOnly(ctx, false) }); err != nil {
			return "", "", err
		}
		return StepDone, "production is writable again", nil
	})
	if !r.fencedAt.IsZero() {
		r.report.WriteUnavailableMS = time.Since(r.fencedAt).Milliseconds()
	}
	if unfenceErr == nil {
		if err := r.markCutover(ctx, r.req.Production, cutoverAborted); err != nil {
			r.report.Reason += "; the aborted cutover could not be recorded (" + err.Error() + ")"
		}
		r.restoreEventScheduler(ctx)
	}
	if r.stoppedByUs {
		err := r.runStep(ctx, stepAbortRestart, func(ctx context.Context) (StepOutcome, string, error) {
			if err := r.req.Rollback.exec(ctx, r.req.Rollback.Dialect.StartReplication()); err != nil {
				return "", "", err
			}
			return StepDone, "replication from production restarted", nil
		})
		if err != nil {
			r.report.Reason += "; replication on the rollback target could not be restarted: start it by hand"
		}
	}
	if unfenceErr != nil {
		r.report.Reason += "; PRODUCTION IS STILL READ-ONLY: unfencing it failed (" + unfenceErr.Error() + "): unfence it by hand now"
		return fmt.Errorf("%w: %w; and production could not be unfenced: %w", ErrAborted, cause, unfenceErr)
	}
	return fmt.Errorf("%w: %w", ErrAborted, cause)
}

// endPendingFence ends production's fence statement that production did
// not answer (it hung), if there is one: once production answers again its
// connection is killed (KILL CONNECTION: a statement still unread in its
// socket never runs) until the statement has ended, within ctx. Only then
// may an abort unfence production: a fence landing after the unfence would
// leave production read-only behind the abort's back.
func (r *roller) endPendingFence(ctx context.Context) error {
	pe := r.pendingFence
	if pe == nil {
		return nil
	}
	for {
		select {
		case <-pe.ended:
			r.pendingFence = nil
			return nil
		default:
		}
		err := r.req.Production.exec(ctx, plain(fmt.Sprintf("KILL CONNECTION %d", pe.connID)))
		if err != nil && mysqlErrno(err) != 1094 /* no such thread: already gone */ && ctx.Err() == nil {
			return fmt.Errorf("end production's unanswered fence statement (connection %d): %w", pe.connID, err)
		}
		select {
		case <-pe.ended:
		case <-ctx.Done():
			return fmt.Errorf("production's fence statement (connection %d) was sent while production did not answer and has not ended: %w", pe.connID, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// abortPatience bounds an abort: how long it waits for the servers to
// answer (a hung production included) while it undoes a cutover.
const abortPatience = 30 * time.Second

// retry runs fn up to three times, 200 ms apart, while ctx lasts.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = fn(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}
