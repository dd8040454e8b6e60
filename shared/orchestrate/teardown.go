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

// TeardownRequest is the teardown function's payload.
type TeardownRequest struct {
	// Deployment is the pair to tear down; with Due and no Deployment,
	// every configured pair whose rollback window has ended.
	Deployment string `json:"deployment,omitempty"`
	// Due tears down only when the rollback window (Settings.RollbackWindow
	// after ConfiguredAt) has ended; a window of 0 never ends.
	Due bool `json:"due,omitempty"`
	// ReleaseFence also lifts the rollback cluster's fence (read_only=0 in
	// its DB cluster parameter group): it then accepts writes. By default
	// the fence stays.
	ReleaseFence bool `json:"releaseFence,omitempty"`
	// Reason and Caller (who asked) go to the history and the notification.
	Reason string `json:"reason,omitempty"`
	Caller string `json:"caller,omitempty"`
}

// Teardown outcomes.
const (
	TeardownClosed  = "closed"
	TeardownSkipped = "skipped"
	TeardownRefused = "refused"
	TeardownFailed  = "failed"
)

// TeardownOutcome is what one teardown did.
type TeardownOutcome struct {
	Deployment string `json:"deployment,omitempty"`
	// Outcome is "closed" (now, or Unchanged: it already was), "skipped"
	// (not due, or another worker holds the pair), "refused" (the record's
	// phase or the servers' state forbid it) or "failed".
	Outcome   string `json:"outcome"`
	Unchanged bool   `json:"unchanged,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// FenceReleased: the rollback cluster accepts writes again.
	FenceReleased bool               `json:"fence_released"`
	Steps         []replication.Step `json:"steps"`
	// Deployments are the outcomes of a due run over every record.
	Deployments []TeardownOutcome `json:"deployments,omitempty"`
}

// Teardown ends a pair's rollback path, on request or (Due) once its
// rollback window has ended. Under the deployment's lease it stops and
// resets replication on the rollback cluster, drops switchback's
// replication user from production (only that user: an account with more
// privileges is left alone), releases the fence only when asked, and moves
// the record to PhaseClosed; each step goes to the history with the actor,
// the caller and the reason, and on-call is told. Running it again on a
// closed record changes nothing and reports closed.
//
// Pairs in a rollback (rolling-back, rolled-back) or never configured are
// refused; a pair that needs attention may be torn down on request (not
// when due). Failures leave the record as it was, for another run.
func (o *Orchestrator) Teardown(ctx context.Context, req TeardownRequest) (TeardownOutcome, error) {
	if req.Deployment == "" {
		if !req.Due {
			out := TeardownOutcome{Outcome: TeardownFailed, Reason: `the request names no deployment (or {"due": true} for every pair whose rollback window ended)`, Steps: []replication.Step{}}
			return out, errors.New("teardown: " + out.Reason)
		}
		return o.teardownDue(ctx, req)
	}
	return o.teardownOne(ctx, req)
}

// teardownDue tears down every configured record whose window ended.
func (o *Orchestrator) teardownDue(ctx context.Context, req TeardownRequest) (TeardownOutcome, error) {
	out := TeardownOutcome{Outcome: TeardownClosed, Steps: []replication.Step{}, Deployments: []TeardownOutcome{}}
	recs, err := o.Store.List(ctx)
	if err != nil {
		out.Outcome, out.Reason = TeardownFailed, err.Error()
		return out, err
	}
	now := o.now()
	var errs []error
	for _, rec := range recs {
		if !o.due(rec, now) {
			continue
		}
		r := req
		r.Deployment = rec.Deployment
		if r.Reason == "" {
			r.Reason = fmt.Sprintf("the rollback window of %s after configure (%s) ended", o.Settings.RollbackWindow, rec.ConfiguredAt.UTC().Format(time.RFC3339))
		}
		one, err := o.teardownOne(ctx, r)
		if err != nil {
			errs = append(errs, err)
		}
		out.Deployments = append(out.Deployments, one)
	}
	if len(out.Deployments) == 0 {
		out.Outcome, out.Unchanged, out.Reason = TeardownSkipped, true, "no configured pair's rollback window has ended"
	}
	if err := errors.Join(errs...); err != nil {
		out.Outcome, out.Reason = TeardownFailed, err.Error()
		return out, err
	}
	return out, nil
}

func (o *Orchestrator) teardownOne(ctx context.Context, req TeardownRequest) (TeardownOutcome, error) {
	id := req.Deployment
	out := TeardownOutcome{Deployment: id, Steps: []replication.Step{}}
	// The history names who asked, besides the function and request.
	actor := o.Actor
	if req.Caller != "" {
		actor += " for " + req.Caller
	}
	oo := *o
	oo.Actor = actor
	holder := o.Actor + "#" + rand.Text()[:8]
	lease, err := o.Store.AcquireLease(ctx, id, holder, o.Settings.Lease)
	switch {
	case errors.Is(err, ErrLeaseHeld):
		out.Outcome, out.Reason = TeardownSkipped, err.Error()
		return out, nil
	case errors.Is(err, ErrNotFound):
		out.Outcome, out.Reason = TeardownRefused, "no record of deployment "+id
		return out, nil
	case err != nil:
		out.Outcome, out.Reason = TeardownFailed, err.Error()
		return out, err
	}
	defer func() {
		if err := o.Store.ReleaseLease(context.WithoutCancel(ctx), id, lease.Holder); err != nil {
			o.log().Error("could not release the lease", "deployment", id, "error", err.Error())
		}
	}()
	rec, err := o.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		out.Outcome, out.Reason = TeardownRefused, "no record of deployment "+id
		return out, nil
	}
	if err != nil {
		out.Outcome, out.Reason = TeardownFailed, err.Error()
		return out, err
	}
	switch {
	case rec.Phase == PhaseClosed && !req.ReleaseFence:
		out.Outcome, out.Unchanged, out.Reason = TeardownClosed, true, "already closed"
		return out, nil
	case rec.Phase == PhaseClosed:
		// Closed with the fence kept; asked now to release it. The other
		// steps find their work done.
	case req.Due && !o.due(rec, o.now()):
		out.Outcome, out.Reason = TeardownSkipped, "the rollback window has not ended"
		if o.Settings.RollbackWindow > 0 && !rec.ConfiguredAt.IsZero() {
			out.Reason += " (it ends at " + rec.ConfiguredAt.Add(o.Settings.RollbackWindow).UTC().Format(time.RFC3339) + ")"
		} else if o.Settings.RollbackWindow <= 0 {
			out.Reason = "the rollback window never ends by itself (SWITCHBACK_ROLLBACK_WINDOW_HOURS=0): tear down on request"
		}
		return out, nil
	case rec.Phase != PhaseConfigured && rec.Phase != PhaseNeedsAttention:
		out.Outcome, out.Reason = TeardownRefused, "the pair is "+string(rec.Phase)+": teardown ends a configured pair's rollback path"
		if rec.Phase == PhaseRollingBack || rec.Phase == PhaseRolledBack {
			out.Reason = "the pair is " + string(rec.Phase) + ": a rollback ran; its replication and fence are the rollback's, not teardown's"
		}
		return out, nil
	case rec.Production == nil || rec.Rollback == nil:
		out.Outcome, out.Reason = TeardownRefused, "the record names no clusters"
		return out, nil
	}
	why := req.Reason
	if why == "" {
		why = "no reason given"
	}
	oo.history(ctx, id, "teardown", "started", "reason: "+why)
	step := func(s replication.Step) {
		out.Steps = append(out.Steps, s)
		detail := s.Detail
		if s.Error != "" {
			detail = strings.TrimSpace(detail + " " + s.Error)
		}
		oo.history(ctx, id, s.Name, string(s.Outcome), detail)
	}
	released, err := oo.teardown(ctx, rec, req.ReleaseFence, step)
	out.FenceReleased = released
	switch {
	case errors.Is(err, replication.ErrRefused), errors.Is(err, replication.ErrInvalidArgument):
		out.Outcome, out.Reason = TeardownRefused, err.Error()
		oo.history(ctx, id, "teardown", "refused", err.Error())
		oo.notify(ctx, "switchback: "+id+" teardown refused",
			fmt.Sprintf("%s (phase %s): teardown refused: %s. Next: check the pair by hand; nothing was changed after the refusal.", id, rec.Phase, err))
		return out, nil
	case err != nil:
		out.Outcome, out.Reason = TeardownFailed, err.Error()
		oo.history(ctx, id, "teardown", "failed", err.Error())
		return out, err
	}
	out.Outcome, out.Unchanged = TeardownClosed, true
	for _, s := range out.Steps {
		if s.Outcome == replication.StepDone {
			out.Unchanged = false
		}
	}
	if out.Unchanged && rec.Phase == PhaseClosed {
		out.Reason = "already closed, fence already released"
		return out, nil
	}
	if _, err := o.upsert(ctx, id, func(r *Record) error {
		r.Phase, r.PhaseDetail = PhaseClosed, "torn down: "+why
		return nil
	}); err != nil {
		out.Outcome, out.Reason = TeardownFailed, err.Error()
		return out, err
	}
	fence := rec.Rollback.ID + " stays read-only (fence kept)"
	if released {
		fence = "fence released: " + rec.Rollback.ID + " accepts writes"
	}
	oo.history(ctx, id, "teardown", "done", "closed; "+fence+"; reason: "+why)
	by := ""
	if req.Caller != "" {
		by = " by " + req.Caller
	}
	if rec.Phase == PhaseClosed {
		oo.notify(ctx, "switchback: "+id+" fence released",
			fmt.Sprintf("%s (phase closed): the fence on %s was released%s (%s): it accepts writes. Next: nothing.", id, rec.Rollback.ID, by, why))
		return out, nil
	}
	oo.notify(ctx, "switchback: "+id+" rollback path closed",
		fmt.Sprintf("%s (phase closed): teardown%s (%s) stopped replication into %s and dropped switchback's replication user on %s; %s. Next: nothing; rollback is no longer possible.",
			id, by, why, rec.Rollback.ID, rec.Production.ID, fence))
	return out, nil
}

// notify tells on-call; a failure is logged (the step it reports happened).
func (o *Orchestrator) notify(ctx context.Context, subject, message string) {
	if o.Notifier == nil {
		return
	}
	if err := o.Notifier.Notify(ctx, subject, message); err != nil {
		o.log().Error("could not notify on-call", "subject", subject, "error", err.Error())
	}
}

// teardown runs the steps against the clusters; it reports whether the
// fence was released.
func (o *Orchestrator) teardown(ctx context.Context, rec Record, releaseFence bool, step func(replication.Step)) (bool, error) {
	prodC, rbC := *rec.Production, *rec.Rollback
	prodLogin, err := o.Credentials.Admin(ctx, prodC)
	if err != nil {
		return false, err
	}
	rbLogin, err := o.Credentials.Admin(ctx, rbC)
	if err != nil {
		return false, err
	}
	prod, err := o.Connect(ctx, "production", prodC, prodLogin)
	if err != nil {
		return false, err
	}
	defer prod.Close()
	rb, err := o.Connect(ctx, "rollback target", rbC, rbLogin)
	if err != nil {
		return false, err
	}
	defer rb.Close()
	run := func(name string, fn func(context.Context) (replication.StepOutcome, string, error)) error {
		start := o.now()
		outcome, detail, err := fn(ctx)
		s := replication.Step{Name: name, Outcome: outcome, Detail: detail, MS: o.now().Sub(start).Milliseconds()}
		if err != nil {
			s.Outcome, s.Error = replication.StepFailed, err.Error()
		}
		step(s)
		return err
	}
	if err := run("stop and reset replication on rollback cluster", func(ctx context.Context) (replication.StepOutcome, string, error) {
		return replication.ResetReplica(ctx, rb, replication.DefaultReplicationUser)
	}); err != nil {
		return false, err
	}
	if err := run("drop replication user on production", func(ctx context.Context) (replication.StepOutcome, string, error) {
		return replication.DropReplicationUser(ctx, prod, replication.DefaultReplicationUser, replication.DefaultReplicationUserHost)
	}); err != nil {
		return false, err
	}
	if !releaseFence {
		step(replication.Step{Name: "keep fence on rollback cluster", Outcome: replication.StepSkipped,
			Detail: rbC.ID + " stays read-only (read_only=1 in " + rbC.ParameterGroup + "); teardown with releaseFence: true lifts it"})
		return false, nil
	}
	err = run("release fence on rollback cluster (parameter group)", func(ctx context.Context) (replication.StepOutcome, string, error) {
		if o.Fencer == nil {
			return "", "", errors.New("no fencer configured")
		}
		fencer, err := o.Fencer(rbC, rb)
		if err != nil {
			return "", "", err
		}
		was, err := fencer.ReadOnly(ctx)
		if err != nil {
			return "", "", err
		}
		// Written even when not reported on: read_only=1 could still be in
		// the group, waiting for an instance to apply it.
		if err := fencer.SetReadOnly(ctx, false); err != nil {
			return "", "", err
		}
		if on, err := fencer.ReadOnly(ctx); err != nil {
			return "", "", err
		} else if on {
			return "", "", errors.New("the rollback cluster still reports the fence after read_only=0 in its parameter group")
		}
		if !was {
			return replication.StepAlreadyDone, rbC.ID + " was not fenced; read_only=0 in " + rbC.ParameterGroup, nil
		}
		return replication.StepDone, "read_only=0 in " + rbC.ParameterGroup + "; " + rbC.ID + " accepts writes", nil
	})
	return err == nil, err
}
