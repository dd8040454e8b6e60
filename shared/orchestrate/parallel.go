package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// Parallel apply on an Aurora rollback cluster is not set with SQL: the
// worker count, the commit order and (Aurora v2) the parallel type are
// parameters that Aurora applies from the cluster's parameter groups. On
// AWS, configure keeps them in the rollback cluster's DB cluster parameter
// group — the custom, unshared group it already fences through — before
// replication starts; the monitor and preflight say when that group does
// not hold them, and what it costs.

// ParallelApplyGroup is implemented by a rollback cluster's fencer that can
// also keep parallel apply in the cluster's DB cluster parameter group
// (*awsrds.ParameterGroupFencer). Configure and the monitor find it on the
// Fencer their FencerFactory returns, by type assertion: a factory needs
// no change to offer it.
type ParallelApplyGroup interface {
	// PlanParallelApply reads the cluster's current DB cluster parameter
	// group and what its writer reports, and says whether the group holds
	// parallel apply with commit order preserved and, when it does not,
	// what would make it (workers applier threads). It changes nothing.
	PlanParallelApply(ctx context.Context, workers int) (ParallelApplyPlan, error)
	// ApplyParallelApply makes plan's changes in one
	// ModifyDBClusterParameterGroup (dynamic parameters immediate, static
	// ones pending-reboot: it never reboots), reads the group back, and
	// waits for the writer to report the immediate ones. It returns the
	// plan as it stands after the change.
	ApplyParallelApply(ctx context.Context, plan ParallelApplyPlan) (ParallelApplyPlan, error)
}

// ParallelParameter is one parallel-apply parameter of a DB cluster
// parameter group.
type ParallelParameter struct {
	// Name is the parameter ("slave_parallel_workers",
	// "replica_preserve_commit_order", …).
	Name string `json:"name"`
	// Value is what the group holds; "" is the engine default (no value
	// listed).
	Value string `json:"value"`
	// Want is the value parallel apply with commit order preserved needs
	// (set only on a change).
	Want string `json:"want,omitempty"`
	// ApplyType is what RDS lists for it: "dynamic" or "static".
	ApplyType string `json:"apply_type,omitempty"`
	// ApplyMethod is how a change is applied: "immediate" (dynamic, no
	// reboot) or "pending-reboot" (at the writer's next reboot).
	ApplyMethod string `json:"apply_method,omitempty"`
}

// ApplyImmediate and ApplyPendingReboot are RDS's apply methods (aws-facts
// §5: immediate works for dynamic parameters only).
const (
	ApplyImmediate     = "immediate"
	ApplyPendingReboot = "pending-reboot"
)

// ParallelApplyPlan is what a rollback cluster's DB cluster parameter group
// holds for parallel apply, and what would make it hold parallel apply
// with commit order preserved.
type ParallelApplyPlan struct {
	Cluster       string `json:"cluster"`
	Group         string `json:"group"`
	EngineVersion string `json:"engine_version,omitempty"`
	// Workers is the worker count a change sets.
	Workers int `json:"workers"`
	// Parameters are the group's parallel-apply parameters as it lists
	// them (workers, commit order, parallel type).
	Parameters []ParallelParameter `json:"parameters"`
	// Held: the group holds at least 2 workers with commit order preserved
	// (and LOGICAL_CLOCK where the version has a parallel type).
	Held bool `json:"held"`
	// Changes are what would make it hold them; empty when Held or
	// Blocked.
	Changes []ParallelParameter `json:"changes,omitempty"`
	// Blocked says why switchback cannot make the group hold them (an
	// Aurora version without multithreaded binlog replication, a parameter
	// the group does not offer or that is not modifiable, a default or
	// shared group); "" when it can.
	Blocked string `json:"blocked,omitempty"`
	// Writer is what the cluster's writer reports (nil when it was not
	// read: WriterErr says why).
	Writer    *replication.ParallelSettings `json:"writer,omitempty"`
	WriterErr string                        `json:"writer_error,omitempty"`
	// WriterDialect is the writer's dialect (for the cost wording).
	WriterDialect replication.Dialect `json:"-"`
}

// Holding renders what the group holds: "slave_parallel_workers=0,
// slave_preserve_commit_order=(engine default), …".
func (p ParallelApplyPlan) Holding() string {
	var parts []string
	for _, prm := range p.Parameters {
		parts = append(parts, prm.Name+"="+engineDefault(prm.Value))
	}
	if len(parts) == 0 {
		return "no parallel-apply parameter"
	}
	return strings.Join(parts, ", ")
}

func engineDefault(v string) string {
	if v == "" {
		return "(engine default)"
	}
	return v
}

// Static lists the changes that apply only at the writer's next reboot.
func (p ParallelApplyPlan) Static() []ParallelParameter {
	var out []ParallelParameter
	for _, c := range p.Changes {
		if c.ApplyMethod != ApplyImmediate {
			out = append(out, c)
		}
	}
	return out
}

// Immediate reports whether any change applies without a reboot.
func (p ParallelApplyPlan) Immediate() bool {
	for _, c := range p.Changes {
		if c.ApplyMethod == ApplyImmediate {
			return true
		}
	}
	return false
}

// describeChanges renders changes: "slave_parallel_workers=4 (was 0,
// immediate)".
func describeChanges(cs []ParallelParameter) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%s (was %s, %s)", c.Name, c.Want, engineDefault(c.Value), c.ApplyMethod))
	}
	return strings.Join(parts, ", ")
}

// WriterProblems lists what keeps the writer, as it reports itself, from
// applying in parallel with commit order preserved, and what that costs;
// none when it does or was not read.
func (p ParallelApplyPlan) WriterProblems() ([]string, string) {
	if p.Writer == nil {
		return nil, ""
	}
	d := p.WriterDialect
	if d == "" {
		d = replication.AuroraMySQL3
	}
	return replication.ParallelApplyProblems(d, *p.Writer)
}

// Cost is what the group not holding parallel apply with commit order
// preserved costs a rollback: one applier thread, or — when the writer
// already applies in parallel without commit order — gaps in the executed
// position.
func (p ParallelApplyPlan) Cost() string {
	if _, cost := p.WriterProblems(); cost != "" {
		return cost
	}
	return replication.ParallelOneThreadCost
}

// rebootCost is what the static parameters' pending reboot means.
const rebootCost = "switchback never reboots the cluster: a reboot restarts the writer, which interrupts replication (and the way back) until it is up again; do it in a quiet moment and check switchback status afterwards"

// Warning is the monitor's (and status's) warning about the group, or ""
// when the group holds parallel apply with commit order preserved and the
// writer reports it.
func (p ParallelApplyPlan) Warning() string {
	who := fmt.Sprintf("rollback cluster %s's DB cluster parameter group %s", p.Cluster, p.Group)
	if p.Held {
		probs, cost := p.WriterProblems()
		if len(probs) == 0 {
			return ""
		}
		return fmt.Sprintf("%s holds parallel apply with commit order preserved (%s), but its writer reports %s: %s: %s; a static parameter waits for the writer's next reboot, and a value set in the writer's DB parameter group takes precedence over the cluster group",
			who, p.Holding(), p.Writer, strings.Join(probs, "; "), cost)
	}
	w := fmt.Sprintf("%s does not hold parallel apply with commit order preserved (%s)", who, p.Holding())
	if p.Writer != nil {
		w += "; the writer reports " + p.Writer.String()
	}
	w += ": " + p.Cost()
	switch {
	case p.Blocked != "":
		w += "; switchback cannot set it: " + p.Blocked
	case len(p.Static()) > 0:
		w += fmt.Sprintf("; set %s in %s and reboot the writer in a quiet moment (%s)", describeChanges(p.Changes), p.Group, rebootCost)
	default:
		w += fmt.Sprintf("; set %s in %s (dynamic: no reboot), then restart replication (CALL mysql.rds_stop_replication; CALL mysql.rds_start_replication): the new worker count applies at the next START REPLICA", describeChanges(p.Changes), p.Group)
	}
	return w
}

// parallelGroupWarning is the monitor's warning about the rollback
// cluster's group ("" when fence does not manage a parameter group, or the
// group holds parallel apply with commit order preserved).
func parallelGroupWarning(ctx context.Context, fence replication.Fencer) string {
	pg, ok := fence.(ParallelApplyGroup)
	if !ok {
		return ""
	}
	plan, err := pg.PlanParallelApply(ctx, replication.DefaultParallelWorkers)
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return "cannot read the rollback cluster's DB cluster parameter group for parallel apply (" + err.Error() + "): if it applies with one thread, " + replication.ParallelOneThreadCost
	}
	return plan.Warning()
}

// Steps of configure's parallel apply.
const (
	stepParallelGroup   = "ensure parallel apply (parameter group)"
	stepParallelRestart = "restart replication for parallel apply"
)

// ensureParallelGroup is configure's parallel-apply step on AWS: when the
// rollback cluster's fencer manages its DB cluster parameter group, it
// makes the group hold workers applier threads with commit order
// preserved, before replication.Configure starts replication. A dynamic
// change of the worker count takes effect at the next START REPLICA (and
// MySQL refuses to change the commit order while the applier runs), so
// when replication already runs from production — a configure run that
// was interrupted after starting it — it is stopped before the change and
// started again after it, as a step of its own. It never fails configure
// for parallel apply itself (what it cannot set it records as skipped,
// with the cost); a replication it stopped and cannot start again does.
func (o *Orchestrator) ensureParallelGroup(ctx context.Context, run func(string, func(context.Context) (replication.StepOutcome, string, error)) error,
	fence replication.Fencer, rb *replication.Server, prodC Cluster) error {
	pg, ok := fence.(ParallelApplyGroup)
	if !ok {
		return nil
	}
	stopped := false
	err := run(stepParallelGroup, func(ctx context.Context) (replication.StepOutcome, string, error) {
		outcome, detail, stop, err := o.parallelGroupStep(ctx, pg, rb, prodC)
		stopped = stop
		return outcome, detail, err
	})
	switch {
	case err != nil && stopped:
		// The run is ending (its deadline, a lost lease): start replication
		// again on the way out; the next configure run would otherwise.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := startReplication(sctx, rb, 0); serr != nil {
			o.log().Error("replication stopped for parallel apply could not be started again", "error", serr.Error())
		}
		return err
	case err != nil:
		return err
	case !stopped:
		return nil
	}
	return run(stepParallelRestart, func(ctx context.Context) (replication.StepOutcome, string, error) {
		if err := startReplication(ctx, rb, o.Settings.WaitTimeout); err != nil {
			return "", "", fmt.Errorf("replication was stopped to change parallel apply and could not be started again: %w; configure starts it on its next run", err)
		}
		return replication.StepDone, "replication was running while the parameter group changed: it was stopped before the change and started again, so that the new settings apply (a dynamic change of the worker count takes effect at the next START REPLICA, and the commit order cannot change while the applier runs)", nil
	})
}

// parallelGroupStep plans and applies the group change; stopped says it
// stopped replication, which the caller starts again.
func (o *Orchestrator) parallelGroupStep(ctx context.Context, pg ParallelApplyGroup, rb *replication.Server, prodC Cluster) (outcome replication.StepOutcome, detail string, stopped bool, err error) {
	plan, err := pg.PlanParallelApply(ctx, replication.DefaultParallelWorkers)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", false, ctx.Err()
		}
		return replication.StepSkipped, "cannot read the rollback cluster's DB cluster parameter group (" + err.Error() + "): parallel apply left as is; if it applies with one thread, " + replication.ParallelOneThreadCost, false, nil
	}
	if plan.Held {
		d := plan.Group + " holds " + plan.Holding() + writerSuffix(plan)
		if probs, cost := plan.WriterProblems(); len(probs) > 0 {
			return replication.StepSkipped, d + ": " + strings.Join(probs, "; ") + " (a static parameter waits for the writer's next reboot; a value set in the writer's DB parameter group takes precedence over the cluster group): " + cost, false, nil
		}
		return replication.StepAlreadyDone, d, false, nil
	}
	if plan.Blocked != "" {
		return replication.StepSkipped, plan.Group + " holds " + plan.Holding() + "; switchback cannot set parallel apply there: " + plan.Blocked + ": " + plan.Cost(), false, nil
	}
	rs, err := rb.ReplicaStatus(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", false, ctx.Err()
		}
		return replication.StepSkipped, plan.Group + " holds " + plan.Holding() + "; cannot read the rollback cluster's replica status (" + err.Error() + "), so the group is left as is: " + plan.Cost(), false, nil
	}
	running := rs.IOThreadRunning || rs.SQLThreadRunning
	if running && plan.Immediate() {
		if !sameSource(rs, prodC) {
			// Not this pair's replication: configure refuses it below.
			return replication.StepSkipped, fmt.Sprintf("the rollback cluster replicates from %s:%d, not from production (%s:%d): parallel apply left as is", rs.SourceHost, rs.SourcePort, prodC.Endpoint, prodC.Port), false, nil
		}
		if err := stopReplication(ctx, rb); err != nil {
			if ctx.Err() != nil {
				return "", "", false, ctx.Err()
			}
			return replication.StepSkipped, "replication runs and could not be stopped to change parallel apply (" + err.Error() + "): " + plan.Group + " left as is: " + plan.Cost(), false, nil
		}
		stopped = true
	}
	after, err := pg.ApplyParallelApply(ctx, plan)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", stopped, ctx.Err()
		}
		return replication.StepSkipped, "cannot set " + describeChanges(plan.Changes) + " in " + plan.Group + ": " + err.Error() + ": " + plan.Cost(), stopped, nil
	}
	detail = "set " + describeChanges(plan.Changes) + " in " + plan.Group + writerSuffix(after)
	if stopped {
		detail += "; replication was stopped first (it ran from production) and is started again next"
	}
	if st := after.Static(); len(st) > 0 {
		var names []string
		for _, c := range st {
			names = append(names, c.Name)
		}
		cost := replication.ParallelOneThreadCost
		return replication.StepDone, detail + fmt.Sprintf("; %s static: the change applies at the writer's next reboot, and until then %s; %s", strings.Join(names, " and ")+isAre(len(names)), cost, rebootCost), stopped, nil
	}
	if probs, cost := after.WriterProblems(); len(probs) > 0 {
		return replication.StepDone, detail + "; but the writer still reports " + strings.Join(probs, "; ") + " (a value set in the writer's DB parameter group takes precedence over the cluster group): " + cost, stopped, nil
	}
	return replication.StepDone, detail, stopped, nil
}

func isAre(n int) string {
	if n == 1 {
		return " is"
	}
	return " are"
}

func writerSuffix(p ParallelApplyPlan) string {
	switch {
	case p.Writer != nil:
		return "; the writer reports " + p.Writer.String()
	case p.WriterErr != "":
		return "; the writer's settings could not be read (" + p.WriterErr + ")"
	}
	return ""
}

// sameSource reports whether the rollback cluster replicates from
// production's writer endpoint.
func sameSource(rs replication.ReplicaStatus, prodC Cluster) bool {
	return strings.EqualFold(rs.SourceHost, prodC.Endpoint) && rs.SourcePort == prodC.Port
}

func stopReplication(ctx context.Context, s *replication.Server) error {
	st := s.Dialect.StopReplication()
	if _, err := s.DB().ExecContext(ctx, st.SQL, st.Args...); err != nil {
		return fmt.Errorf("%s: %s: %w", s, st.Display, err)
	}
	return nil
}

// startReplication starts replication on s and waits (up to wait, 30 s
// when 0) until both threads run without error.
func startReplication(ctx context.Context, s *replication.Server, wait time.Duration) error {
	st := s.Dialect.StartReplication()
	if _, err := s.DB().ExecContext(ctx, st.SQL, st.Args...); err != nil {
		return fmt.Errorf("%s: %s: %w", s, st.Display, err)
	}
	if wait <= 0 {
		wait = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var rs replication.ReplicaStatus
	for {
		var err error
		rs, err = s.ReplicaStatus(wctx)
		if err == nil {
			if rs.LastIOErrno != 0 {
				return fmt.Errorf("replication IO thread error %d: %s", rs.LastIOErrno, rs.LastIOError)
			}
			if rs.LastSQLErrno != 0 {
				return fmt.Errorf("replication SQL thread error %d: %s", rs.LastSQLErrno, rs.LastSQLError)
			}
			if rs.IOThreadRunning && rs.SQLThreadRunning {
				return nil
			}
		}
		select {
		case <-wctx.Done():
			if err != nil {
				return err
			}
			return errors.New("replication threads not running after " + wait.String() + " (IO " + strconv.Quote(rs.IORunning) + ", SQL " + strconv.Quote(rs.SQLRunning) + ")")
		case <-tick.C:
		}
	}
}
