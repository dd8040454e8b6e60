package orchestrate

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
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

// ErrInvalidTeardownRequest: a teardown payload that is not one (an
// unknown field, a wrong type, a bad id); nothing was run.
var ErrInvalidTeardownRequest = fmt.Errorf("%w: invalid teardown request", replication.ErrInvalidArgument)

// teardownSchema is the teardown payload's shape: exact names and types.
var teardownSchema = map[string]jsonKind{
	"deployment":   jsonString,
	"due":          jsonBool,
	"releaseFence": jsonBool,
	"reason":       jsonString,
	"caller":       jsonString,
}

// teardownIDRe is a blue/green deployment id.
var teardownIDRe = regexp.MustCompile(`^bgd-[a-z0-9]{1,60}$`)

// DecodeTeardownRequest reads a teardown payload strictly: a JSON object
// whose field names are exact (no "dryRun", no "Deployment"), each once,
// each of its type (a string "true" is not true, null is not a value),
// nothing after it. The deployment, when given, must be a bgd- id, and a
// request names a deployment or asks for {"due": true}. Errors name the
// field and wrap ErrInvalidTeardownRequest; nothing is run.
func DecodeTeardownRequest(payload []byte) (TeardownRequest, error) {
	var req TeardownRequest
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	fields := make(map[string]jsonField, len(teardownSchema))
	for k, kind := range teardownSchema {
		fields[k] = jsonField{kind: kind}
	}
	if err := checkJSON(dec, "", jsonField{kind: jsonObject, fields: fields}); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidTeardownRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fmt.Errorf("%w: the payload has data after its JSON object", ErrInvalidTeardownRequest)
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidTeardownRequest, err)
	}
	switch {
	case req.Deployment == "" && !req.Due:
		return req, fmt.Errorf(`%w: "deployment" is required (the blue/green deployment id, bgd-…), or {"due": true} for every pair whose rollback window ended`, ErrInvalidTeardownRequest)
	case req.Deployment != "" && !teardownIDRe.MatchString(req.Deployment):
		return req, fmt.Errorf(`%w: "deployment" %q is not a blue/green deployment id (bgd- and lowercase letters or digits)`, ErrInvalidTeardownRequest, req.Deployment)
	}
	return req, nil
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
// The engine's server-side pair lock (replication.LockPair) is held on
// both writers while the steps run, besides the record's lease. Pairs a
// rollback has acted on (rolling-back, rolled-back, a needs-attention left
// by a rollback, any LastRollback but a refused or cleanly aborted one) or
// never configured are refused with the reason, nothing changed
// (teardownRefusal); a pair that needs attention for another reason may be
// torn down on request (not when due). Failures leave the record as it
// was, for another run.
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
	default:
		if why := teardownRefusal(rec); why != "" {
			out.Outcome, out.Reason = TeardownRefused, why
			oo.history(ctx, id, "teardown", "refused", why)
			return out, nil
		}
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

// teardownRefusal says why teardown must not touch a (not closed) record,
// or "" when it may. Teardown ends a configured pair's rollback path: it
// resets replication into the record's rollback cluster and drops the
// replication user on the record's production. Once a rollback has acted
// on the pair those roles no longer hold (the old production may be the
// fenced side, the record's clusters may have been renamed), and the
// replication user is what running the rollback again needs to resume or
// finish re-pointing. So teardown refuses, changing nothing:
//   - a phase other than configured or needs-attention (rolling-back,
//     rolled-back, capturing, …);
//   - a needs-attention detail written by a rollback ("rollback …");
//   - any record with LastRollback, except a rollback that was refused
//     (nothing fenced) or aborted with production read back writable and
//     the pair put back to configured: it left the pair as configure did.
//
// The way out for a refused pair is to finish the rollback (run it again)
// or to clean up by hand.
func teardownRefusal(rec Record) string {
	next := "; teardown would drop the replication user a rollback needs to resume. Next: run the rollback again to finish it, or clean up by hand (switchback history --deployment " + rec.Deployment + ")"
	switch {
	case rec.Phase == PhaseRollingBack || rec.Phase == PhaseRolledBack:
		return "the pair is " + string(rec.Phase) + ": a rollback acted on it; its replication and fences are the rollback's, not teardown's" + next
	case rec.Phase != PhaseConfigured && rec.Phase != PhaseNeedsAttention:
		return "the pair is " + string(rec.Phase) + ": teardown ends a configured pair's rollback path"
	case rec.Phase == PhaseNeedsAttention && strings.HasPrefix(rec.PhaseDetail, "rollback "):
		return "the pair needs attention after a rollback (" + rec.PhaseDetail + ")" + next
	case rec.Production == nil || rec.Rollback == nil:
		return "the record names no clusters"
	}
	if lr := rec.LastRollback; lr != nil {
		undone := rec.Phase == PhaseConfigured && (lr.Outcome == replication.OutcomeRefused || lr.Outcome == replication.OutcomeAborted)
		if !undone {
			outcome := lr.Outcome
			if outcome == "" {
				outcome = "no outcome recorded: it may still run, or was killed"
			}
			return fmt.Sprintf("a rollback ran on this pair (started %s by %s, %s) and the pair is %s", lr.StartedAt.UTC().Format(time.RFC3339), cmp.Or(lr.Caller, "unknown"), outcome, rec.Phase) + next
		}
	}
	return ""
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
	prod, rb, closeBoth, err := o.connectPair(ctx, prodC, rbC, prodC, rbC)
	if err != nil {
		return false, err
	}
	defer closeBoth()
	// The engine's server-side lock: no cutover, configure or other
	// teardown acts on the pair meanwhile, whatever process it runs in (the
	// record's lease only binds runs that share the store).
	release, err := replication.LockPair(ctx, prod, rb, replication.DefaultLockWait)
	if err != nil {
		return false, err
	}
	defer release()
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
	if err := run("stop and reset replication on "+rbC.ID, func(ctx context.Context) (replication.StepOutcome, string, error) {
		return replication.ResetReplica(ctx, rb, replication.DefaultReplicationUser)
	}); err != nil {
		return false, err
	}
	if err := run("drop replication user on "+prodC.ID, func(ctx context.Context) (replication.StepOutcome, string, error) {
		return replication.DropReplicationUser(ctx, prod, replication.DefaultReplicationUser, replication.DefaultReplicationUserHost)
	}); err != nil {
		return false, err
	}
	if !releaseFence {
		step(replication.Step{Name: "keep fence on " + rbC.ID, Outcome: replication.StepSkipped,
			Detail: rbC.ID + " stays read-only (read_only=1 in " + rbC.ParameterGroup + "); teardown with releaseFence: true lifts it"})
		return false, nil
	}
	err = run("release fence on "+rbC.ID+" (parameter group)", func(ctx context.Context) (replication.StepOutcome, string, error) {
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
			return "", "", errors.New(rbC.ID + " still reports the fence after read_only=0 in its parameter group")
		}
		if !was {
			return replication.StepAlreadyDone, rbC.ID + " was not fenced; read_only=0 in " + rbC.ParameterGroup, nil
		}
		return replication.StepDone, "read_only=0 in " + rbC.ParameterGroup + "; " + rbC.ID + " accepts writes", nil
	})
	return err == nil, err
}
