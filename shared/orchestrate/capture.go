package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/rdsevent"
)

// CaptureResult is what one event led to.
type CaptureResult struct {
	Fact rdsevent.Fact `json:"fact"`
	// Deployment is the deployment the fact was recorded for ("" when
	// ignored); "unmatched:<source>" for coordinates not yet matched.
	Deployment string `json:"deployment,omitempty"`
	// Action says what capture did: "ignored", "recorded",
	// "configure-invoked", "needs-attention".
	Action string `json:"action"`
	// Reason explains an ignored event.
	Reason string `json:"reason,omitempty"`
}

// unmatchedPrefix keys records of coordinates whose deployment is not known
// yet.
const unmatchedPrefix = "unmatched:"

// Capture records the fact one EventBridge event carries and, when the
// deployment's topology, switchover and coordinates are all known,
// invokes configure — exactly once, however many events say so. Events of
// clusters that are not opted in are ignored (logged with the reason).
func (o *Orchestrator) Capture(ctx context.Context, event []byte) (CaptureResult, error) {
	fact, err := rdsevent.Decode(event)
	if err != nil {
		return CaptureResult{Action: "ignored", Reason: err.Error()}, err
	}
	res := CaptureResult{Fact: fact}
	switch fact.Kind {
	case rdsevent.KindSwitchoverCompleted, rdsevent.KindClusterSwitchoverCompleted:
		return o.captureSwitchover(ctx, fact)
	case rdsevent.KindBinlogCoordinates:
		return o.captureCoordinates(ctx, fact)
	default:
		res.Action, res.Reason = "ignored", fmt.Sprintf("%s: not a fact configure needs", fact.Kind)
		if fact.Reason != "" {
			res.Reason += " (" + fact.Reason + ")"
		}
		o.log().Info("event ignored", "kind", string(fact.Kind), "source", fact.SourceID, "reason", res.Reason)
		return res, nil
	}
}

// captureSwitchover records a completed switchover with the deployment's
// topology, and adopts coordinates that arrived before it.
func (o *Orchestrator) captureSwitchover(ctx context.Context, fact rdsevent.Fact) (CaptureResult, error) {
	res := CaptureResult{Fact: fact}
	var d Deployment
	var err error
	switch {
	case fact.Deployment != "":
		d, err = o.Topology.Deployment(ctx, fact.Deployment)
	case fact.NewName != "":
		d, err = o.findDeployment(ctx, fact.NewName)
	default:
		err = errors.New("the event names neither a blue/green deployment nor the new production cluster")
	}
	if errors.Is(err, ErrNotFound) && fact.Deployment != "" {
		// Gone from RDS: configure deletes it once the old cluster is fenced.
		if rec, gerr := o.Store.Get(ctx, fact.Deployment); gerr == nil {
			res.Deployment, res.Action = rec.Deployment, "recorded"
			o.log().Info("late event for a deployment RDS no longer has", "deployment", rec.Deployment, "phase", string(rec.Phase))
			return res, nil
		}
		res.Action, res.Reason = "ignored", "deployment "+fact.Deployment+" is unknown to RDS and to switchback: "+err.Error()
		o.log().Info("event ignored", "deployment", fact.Deployment, "reason", res.Reason)
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("resolve the deployment of a %s event: %w", fact.Kind, err)
	}
	if o.ignoredNotOptedIn(d, &res) {
		return res, nil
	}
	res.Deployment = d.ID
	if _, err := o.upsert(ctx, d.ID, func(r *Record) error {
		applyDeployment(r, d)
		return nil
	}); err != nil {
		return res, err
	}
	o.history(ctx, d.ID, "record switchover", "done", fmt.Sprintf("%s: %s → rollback cluster %s (status %s)", fact.EventID, d.Production.ID, d.Rollback.ID, d.Status))
	if err := o.adoptUnmatched(ctx, d); err != nil {
		return res, err
	}
	return o.afterRecord(ctx, res, d.ID, "switchover recorded ("+fact.EventID+")")
}

// captureCoordinates records the binlog coordinates for the deployment
// whose new production sent them, or as unmatched when none is found yet.
func (o *Orchestrator) captureCoordinates(ctx context.Context, fact rdsevent.Fact) (CaptureResult, error) {
	res := CaptureResult{Fact: fact}
	c := Coordinates{File: fact.BinlogFile, Position: fact.BinlogPosition, Message: fact.Message, Source: fact.SourceID, Time: fact.Time.UTC(), Via: "event"}
	d, err := o.findDeployment(ctx, fact.SourceID)
	if errors.Is(err, ErrNotFound) {
		d, err = o.findRecordedDeployment(ctx, fact.SourceID)
	}
	if errors.Is(err, ErrNotFound) {
		// Keyed by source and time: a cluster switched over again later
		// sends other coordinates under the same name.
		id := unmatchedPrefix + fact.SourceID + "@" + c.Time.Format(time.RFC3339Nano)
		res.Deployment, res.Action = id, "recorded"
		err := o.recordCoordinates(ctx, id, c, PhaseUnmatched)
		o.log().Warn("coordinates from a source no switched-over deployment names yet; reconcile will match them", "source", fact.SourceID)
		return res, err
	}
	if err != nil {
		return res, fmt.Errorf("resolve the deployment of coordinates from %s: %w", fact.SourceID, err)
	}
	if o.ignoredNotOptedIn(d, &res) {
		return res, nil
	}
	if c.Time.Before(d.CreateTime) {
		res.Action, res.Reason = "ignored", fmt.Sprintf("coordinates from %s at %s are older than deployment %s (created %s): they belong to an earlier switchover", c.Source, c.Time.Format(time.RFC3339), d.ID, d.CreateTime.Format(time.RFC3339))
		o.log().Warn("event ignored", "deployment", d.ID, "reason", res.Reason)
		return res, nil
	}
	res.Deployment = d.ID
	if _, err := o.upsert(ctx, d.ID, func(r *Record) error {
		applyDeployment(r, d)
		return nil
	}); err != nil {
		return res, err
	}
	if err := o.recordCoordinates(ctx, d.ID, c, PhaseCapturing); err != nil {
		if errors.Is(err, errConflictingCoordinates) {
			res.Action = "needs-attention"
			return res, o.needsAttention(ctx, d.ID, err.Error())
		}
		return res, err
	}
	return o.afterRecord(ctx, res, d.ID, "coordinates recorded")
}

// ignoredNotOptedIn reports, in res and the log, that d's clusters are not
// opted in; false when they are.
func (o *Orchestrator) ignoredNotOptedIn(d Deployment, res *CaptureResult) bool {
	ok, why := o.optedIn(d)
	if ok {
		return false
	}
	res.Action, res.Reason = "ignored", "deployment "+d.ID+" is not opted in: "+why
	o.log().Info("event ignored", "deployment", d.ID, "reason", res.Reason)
	return true
}

// afterRecord invokes configure when the record is ready.
func (o *Orchestrator) afterRecord(ctx context.Context, res CaptureResult, id, why string) (CaptureResult, error) {
	res.Action = "recorded"
	invoked, err := o.startConfigure(ctx, id, why)
	if invoked {
		res.Action = "configure-invoked"
	}
	return res, err
}

// errConflictingCoordinates: two sources disagree about where replication
// must start. Never guessed between: a human decides.
var errConflictingCoordinates = errors.New("conflicting binlog coordinates")

// recordCoordinates stores c on the record unless it already holds the
// same ones; different ones are errConflictingCoordinates.
func (o *Orchestrator) recordCoordinates(ctx context.Context, id string, c Coordinates, phase Phase) error {
	var conflict error
	_, err := o.upsert(ctx, id, func(r *Record) error {
		conflict = nil
		switch {
		case r.Coords != nil && r.Coords.Same(c):
			return errNoChange
		case r.Coords != nil:
			conflict = fmt.Errorf("%w: %s:%d (%s, from %s) and %s:%d (%s, from %s): switchback does not choose between them",
				errConflictingCoordinates, r.Coords.File, r.Coords.Position, r.Coords.Via, r.Coords.Source, c.File, c.Position, c.Via, c.Source)
			return errNoChange
		}
		cc := c
		r.Coords = &cc
		// A new record comes from upsert as capturing: an unmatched one
		// must say unmatched.
		if r.Phase == "" || r.Phase == PhaseUnmatched || phase == PhaseUnmatched {
			r.Phase = phase
		}
		return nil
	})
	if err != nil {
		return err
	}
	if conflict != nil {
		return conflict
	}
	o.history(ctx, id, "record coordinates", "done", fmt.Sprintf("%s:%d via %s from %s: %q", c.File, c.Position, c.Via, c.Source, c.Message))
	return nil
}

// findDeployment finds the switched-over deployment whose new production
// is (or was, before the rename) named source.
func (o *Orchestrator) findDeployment(ctx context.Context, source string) (Deployment, error) {
	deps, err := o.Topology.Deployments(ctx, StatusSwitchoverCompleted)
	if err != nil {
		return Deployment{}, err
	}
	var found []Deployment
	for _, d := range deps {
		if matchesSource(d, source) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return Deployment{}, fmt.Errorf("%w: no switched-over blue/green deployment has %q in its new production", ErrNotFound, source)
	case 1:
		return found[0], nil
	}
	// A cluster switched over again later: the newest deployment is the one
	// whose switchover just reported.
	newest := found[0]
	for _, d := range found[1:] {
		if d.CreateTime.After(newest.CreateTime) {
			newest = d
		}
	}
	return newest, nil
}

// findRecordedDeployment finds, among the records still waiting for
// configure, the deployment whose new production is source: RDS no longer
// lists a deployment a failed configure run already deleted. Records that
// are configured or beyond are not matched: coordinates arriving for their
// clusters now belong to a later switchover (or are late duplicates).
func (o *Orchestrator) findRecordedDeployment(ctx context.Context, source string) (Deployment, error) {
	recs, err := o.Store.List(ctx)
	if err != nil {
		return Deployment{}, err
	}
	var found *Deployment
	for _, r := range recs {
		if r.Production == nil || r.Rollback == nil || strings.HasPrefix(r.Deployment, unmatchedPrefix) ||
			(r.Phase != PhaseCapturing && r.Phase != PhaseConfiguring) {
			continue
		}
		d := Deployment{ID: r.Deployment, Status: r.Status, CreateTime: r.CreateTime, Production: *r.Production, Rollback: *r.Rollback}
		if matchesSource(d, source) && (found == nil || d.CreateTime.After(found.CreateTime)) {
			found = &d
		}
	}
	if found == nil {
		return Deployment{}, fmt.Errorf("%w: no deployment, listed or recorded, has %q in its new production", ErrNotFound, source)
	}
	return *found, nil
}

// adoptUnmatched folds coordinates recorded as unmatched into d's record
// when their source belongs to d, and removes the unmatched record.
func (o *Orchestrator) adoptUnmatched(ctx context.Context, d Deployment) error {
	recs, err := o.Store.List(ctx)
	if err != nil {
		return err
	}
	for _, u := range recs {
		src, ok := strings.CutPrefix(u.Deployment, unmatchedPrefix)
		if at := strings.LastIndex(src, "@"); at >= 0 {
			src = src[:at]
		}
		if !ok || u.Coords == nil || !matchesSource(d, src) || u.Coords.Time.Before(d.CreateTime) {
			continue
		}
		if err := o.recordCoordinates(ctx, d.ID, *u.Coords, PhaseCapturing); err != nil {
			if errors.Is(err, errConflictingCoordinates) {
				return o.needsAttention(ctx, d.ID, err.Error())
			}
			return err
		}
		if err := o.Store.Delete(ctx, u.Deployment, u.Version); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrStaleVersion) {
			return err
		}
		o.history(ctx, d.ID, "adopt unmatched coordinates", "done", "from "+u.Deployment)
	}
	return nil
}
