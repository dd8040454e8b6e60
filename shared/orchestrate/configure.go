package orchestrate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// ConfigureOutcome is what one configure run did.
type ConfigureOutcome struct {
	Deployment string `json:"deployment"`
	// Outcome is "configured", "unchanged", "skipped" (another worker
	// holds the lease, or the record is not ready), "needs-attention" or
	// "failed".
	Outcome string             `json:"outcome"`
	Reason  string             `json:"reason,omitempty"`
	Steps   []replication.Step `json:"steps"`
}

// Configure makes a deployment's rollback pair: under the deployment's
// lease it resolves the clusters again, fences the old cluster through its
// DB cluster parameter group and reads the fence back, deletes the
// blue/green deployment (when configured to, never its target), sets
// parallel apply with commit order preserved in the same group (see
// ensureParallelGroup), and runs replication.Configure from the recorded
// coordinates. Every step goes to the history. A refusal (a default or
// shared parameter group, a target that replicates from elsewhere,
// impossible coordinates) is needs-attention; other failures leave the
// record configuring, for Reconcile to retry once it stalls.
func (o *Orchestrator) Configure(ctx context.Context, req ConfigureRequest) (ConfigureOutcome, error) {
	id := req.Deployment
	out := ConfigureOutcome{Deployment: id, Steps: []replication.Step{}}
	if id == "" || strings.HasPrefix(id, unmatchedPrefix) {
		out.Outcome, out.Reason = "failed", "the request names no blue/green deployment"
		return out, fmt.Errorf("configure: %s: %q", out.Reason, id)
	}
	// The holder is unique to this run: Lambda may run one async invocation
	// twice with the same request id, and those two must not share a lease.
	holder := o.Actor + "#" + rand.Text()[:8]
	lease, err := o.Store.AcquireLease(ctx, id, holder, o.Settings.Lease)
	if errors.Is(err, ErrLeaseHeld) {
		out.Outcome, out.Reason = "skipped", err.Error()
		o.log().Info("configure skipped: another worker holds the deployment", "deployment", id, "reason", err.Error())
		return out, nil
	}
	if err != nil {
		out.Outcome, out.Reason = "failed", err.Error()
		return out, err
	}
	defer func() {
		if err := o.Store.ReleaseLease(context.WithoutCancel(ctx), id, lease.Holder); err != nil {
			o.log().Error("could not release the lease", "deployment", id, "error", err.Error())
		}
	}()
	rec, err := o.Store.Get(ctx, id)
	if err != nil {
		out.Outcome, out.Reason = "failed", err.Error()
		return out, err
	}
	switch {
	case rec.Phase == PhaseConfigured:
		out.Outcome, out.Reason = "unchanged", "already configured"
		return out, nil
	case rec.Phase == PhaseNeedsAttention:
		out.Outcome, out.Reason = "skipped", "the deployment needs attention: "+rec.PhaseDetail
		return out, nil
	case !ready(rec):
		out.Outcome, out.Reason = "skipped", "the record is not ready: "+missing(rec)
		return out, nil
	}
	o.history(ctx, id, "configure", "started", fmt.Sprintf("from %s:%d", rec.Coords.File, rec.Coords.Position))
	renew := func(ctx context.Context) error {
		if _, err := o.Store.AcquireLease(ctx, id, holder, o.Settings.Lease); err != nil {
			return fmt.Errorf("the lease on %s was lost: another worker may act on it: %w", id, err)
		}
		return nil
	}
	step := func(s replication.Step) {
		out.Steps = append(out.Steps, s)
		detail := s.Detail
		if s.Error != "" {
			detail = strings.TrimSpace(detail + " " + s.Error)
		}
		o.history(ctx, id, s.Name, string(s.Outcome), detail)
	}
	res, err := o.configure(ctx, rec, step, renew)
	if err == nil {
		err = renew(ctx)
	}
	switch {
	case errors.Is(err, errOptedOut):
		out.Outcome, out.Reason = "skipped", err.Error()
		o.history(ctx, id, "configure", "skipped", err.Error())
		return out, nil
	case err == nil:
		out.Outcome = res
		if _, err := o.upsert(ctx, id, func(r *Record) error {
			r.Phase, r.PhaseDetail = PhaseConfigured, ""
			if r.ConfiguredAt.IsZero() {
				r.ConfiguredAt = o.now().UTC()
			}
			return nil
		}); err != nil {
			return out, err
		}
		o.history(ctx, id, "configure", "done", "rollback cluster "+rec.Rollback.ID+" replicates from "+rec.Production.ID)
		if res == replication.OutcomeConfigured {
			o.notify(ctx, "switchback: "+id+" configured",
				fmt.Sprintf("%s: the way back is open: %s (fenced) replicates from %s since %s:%d. Next: watch RollbackReady; if needed, a dry run of the rollback function first.",
					id, rec.Rollback.ID, rec.Production.ID, rec.Coords.File, rec.Coords.Position))
		}
		return out, nil
	case errors.Is(err, replication.ErrRefused), errors.Is(err, replication.ErrInvalidArgument):
		out.Outcome, out.Reason = "needs-attention", err.Error()
		return out, o.needsAttention(ctx, id, "configure refused: "+err.Error())
	default:
		out.Outcome, out.Reason = "failed", err.Error()
		o.history(ctx, id, "configure", "failed", err.Error())
		o.notify(ctx, "switchback: "+id+" configure failed",
			fmt.Sprintf("%s: configure failed: %s. Next: reconcile retries once the record stalls; see switchback history --deployment %s.", id, clip(err.Error(), 300), id))
		return out, err
	}
}

// clip shortens s to at most n bytes for a pager-sized message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errOptedOut: the deployment's clusters were opted out after the event.
var errOptedOut = errors.New("the deployment is no longer opted in")

// missing says what a record lacks to be configured.
func missing(rec Record) string {
	var m []string
	if rec.Production == nil || rec.Rollback == nil {
		m = append(m, "the clusters")
	}
	if rec.Status != StatusSwitchoverCompleted {
		m = append(m, "a completed switchover (status "+rec.Status+")")
	}
	if rec.Coords == nil {
		m = append(m, "the binlog coordinates")
	}
	return "no " + strings.Join(m, ", no ")
}

// configure runs the steps against the clusters; it returns the engine's
// outcome ("configured" or "unchanged").
func (o *Orchestrator) configure(ctx context.Context, rec Record, step func(replication.Step), renew func(context.Context) error) (string, error) {
	prodC, rbC := *rec.Production, *rec.Rollback
	// Endpoints and parameter groups can change between the event and this
	// run; the deployment may be gone (a previous run deleted it).
	if d, err := o.Topology.Deployment(ctx, rec.Deployment); err == nil {
		prodC, rbC = d.Production, d.Rollback
		// Opting out after the event still stops configure.
		if ok, why := o.optedIn(d); !ok {
			return "", fmt.Errorf("%w: %s", errOptedOut, why)
		}
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	replPassword, err := o.Credentials.ReplicationPassword(ctx, prodC)
	if err != nil {
		return "", err
	}
	prod, rb, closeBoth, err := o.connectPair(ctx, prodC, rbC, prodC, rbC)
	if err != nil {
		return "", err
	}
	defer closeBoth()
	fencer, err := o.Fencer(rbC, rb)
	if err != nil {
		return "", err
	}
	// changed: one of configure's own steps (fence, delete, parallel
	// apply) changed something, which makes the run "configured" even
	// when replication.Configure found its part in place (a run that died
	// after starting replication).
	changed := false
	run := func(name string, fn func(context.Context) (replication.StepOutcome, string, error)) error {
		if err := renew(ctx); err != nil {
			return err
		}
		start := o.now()
		outcome, detail, err := fn(ctx)
		s := replication.Step{Name: name, Outcome: outcome, Detail: detail, MS: o.now().Sub(start).Milliseconds()}
		if err != nil {
			s.Outcome, s.Error = replication.StepFailed, err.Error()
		}
		changed = changed || s.Outcome == replication.StepDone
		step(s)
		return err
	}
	if err := run("fence rollback cluster (parameter group)", func(ctx context.Context) (replication.StepOutcome, string, error) {
		if err := fencer.Check(ctx); err != nil {
			return "", "", err // a refusal wraps replication.ErrRefused; other errors are retried
		}
		if on, err := fencer.ReadOnly(ctx); err != nil {
			return "", "", err
		} else if on {
			return replication.StepAlreadyDone, "read_only is on in " + rbC.ParameterGroup + " and on the writer", nil
		}
		if err := fencer.SetReadOnly(ctx, true); err != nil {
			return "", "", err
		}
		if on, err := fencer.ReadOnly(ctx); err != nil {
			return "", "", err
		} else if !on {
			return "", "", errors.New("the rollback cluster's writer does not report read_only after the parameter group change")
		}
		return replication.StepDone, "read_only=1 in " + rbC.ParameterGroup + "; the writer reports it", nil
	}); err != nil {
		return "", err
	}
	if o.Settings.DeleteBlueGreen {
		if err := run("delete blue/green deployment", func(ctx context.Context) (replication.StepOutcome, string, error) {
			if err := o.Deleter.DeleteBlueGreenDeployment(ctx, rec.Deployment); err != nil {
				return "", "", err
			}
			// Deleting removes RDS's own read-only protection of the old
			// cluster (aws-facts §5): the fence must be what holds now.
			if on, err := fencer.ReadOnly(ctx); err != nil {
				return "", "", err
			} else if !on {
				return "", "", errors.New("after deleting the blue/green deployment the rollback cluster no longer reports the fence: check its parameter group")
			}
			return replication.StepDone, rec.Deployment + " deleted (its clusters are kept); the rollback cluster is still fenced", nil
		}); err != nil {
			return "", err
		}
	}
	// Parallel apply lives in the same group on Aurora: set before
	// replication starts, so that the worker count applies from its start.
	if err := o.ensureParallelGroup(ctx, run, fencer, rb, prodC); err != nil {
		return "", err
	}
	wait := o.Settings.WaitTimeout
	if wait == 0 {
		wait = 2 * time.Minute
	}
	res, err := replication.Configure(ctx, replication.ConfigureRequest{
		Production: prod, Rollback: rb, RollbackFence: fencer,
		Start:               replication.BinlogPosition{File: rec.Coords.File, Position: rec.Coords.Position},
		SourceHost:          prodC.Endpoint,
		SourcePort:          prodC.Port,
		ReplicationPassword: replPassword,
		RetentionHours:      o.Settings.ConfigureRetentionHours(),
		WaitTimeout:         wait,
		OnStep:              step,
		Hook:                o.Hook,
	})
	if err != nil {
		return "", err
	}
	if changed && res.Outcome == replication.OutcomeUnchanged {
		return replication.OutcomeConfigured, nil
	}
	return res.Outcome, nil
}
