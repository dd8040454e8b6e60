package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/rdsevent"
)

// describeEventsWindow is how far back DescribeEvents reaches (aws-facts §5).
const describeEventsWindow = 14 * 24 * time.Hour

// ReconcileItem is what Reconcile did for one deployment.
type ReconcileItem struct {
	Deployment string `json:"deployment"`
	Action     string `json:"action"`
	Detail     string `json:"detail,omitempty"`
}

// ReconcileReport is what one Reconcile run did.
type ReconcileReport struct {
	Items []ReconcileItem `json:"items"`
	// Errors are per-deployment failures; one deployment's failure does
	// not stop the others.
	Errors []string `json:"errors,omitempty"`
}

// Reconcile finds switched-over deployments of opted-in clusters that have
// no record or a stalled one, recovers what the events missed (topology;
// coordinates from DescribeEvents, within its 14 days, from the
// deployment's creation) and resumes: configure is invoked once the record
// is ready. Coordinates that cannot be found, or that disagree, put the
// deployment in needs-attention, with a notification and a metric — never
// a guess.
func (o *Orchestrator) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	deps, err := o.Topology.Deployments(ctx, StatusSwitchoverCompleted)
	if err != nil {
		return rep, err
	}
	listed := map[string]bool{}
	for _, d := range deps {
		listed[d.ID] = true
	}
	// Records RDS no longer lists (a configure run that failed after
	// deleting the deployment) resume from their recorded topology.
	recs, err := o.Store.List(ctx)
	if err != nil {
		return rep, err
	}
	for _, r := range recs {
		if listed[r.Deployment] || strings.HasPrefix(r.Deployment, unmatchedPrefix) || r.Production == nil || r.Rollback == nil || !o.stalled(r) {
			continue
		}
		deps = append(deps, Deployment{ID: r.Deployment, Status: r.Status, CreateTime: r.CreateTime, Production: *r.Production, Rollback: *r.Rollback})
	}
	for _, d := range deps {
		item, err := o.reconcileOne(ctx, d)
		if err != nil {
			rep.Errors = append(rep.Errors, d.ID+": "+err.Error())
			item.Action, item.Detail = "failed", err.Error()
			o.log().Error("reconcile failed", "deployment", d.ID, "error", err.Error())
		}
		if item.Action != "" {
			rep.Items = append(rep.Items, item)
		}
	}
	if len(rep.Errors) > 0 {
		return rep, fmt.Errorf("reconcile: %d deployment(s) failed: %s", len(rep.Errors), strings.Join(rep.Errors, "; "))
	}
	return rep, nil
}

// stalled reports whether a record waits for something that should have
// happened by now.
func (o *Orchestrator) stalled(rec Record) bool {
	switch rec.Phase {
	case PhaseCapturing, PhaseConfiguring:
		stall := o.Settings.Stall
		if stall == 0 {
			stall = 15 * time.Minute
		}
		leased := rec.Lease != nil && rec.Lease.Expires.After(o.now())
		return !leased && o.now().Sub(rec.UpdatedAt) >= stall
	}
	return false
}

func (o *Orchestrator) reconcileOne(ctx context.Context, d Deployment) (ReconcileItem, error) {
	item := ReconcileItem{Deployment: d.ID}
	if ok, why := o.optedIn(d); !ok {
		o.log().Info("deployment ignored", "deployment", d.ID, "reason", "not opted in: "+why)
		return item, nil
	}
	rec, err := o.Store.Get(ctx, d.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		item.Action = "recovered"
	case err != nil:
		return item, err
	case o.stalled(rec):
		item.Action = "resumed"
	default:
		return item, nil // recorded and moving, or done, or waiting for a human
	}
	if rec, err = o.upsert(ctx, d.ID, func(r *Record) error {
		applyDeployment(r, d)
		// Its configure run stalled: ask again. Judged on the record as it
		// is now, not as read above: a capture may have created it and
		// asked for configure meanwhile (or a run taken its lease).
		if r.Phase == PhaseConfiguring && o.stalled(*r) {
			r.Phase = PhaseCapturing
		}
		return nil
	}); err != nil {
		return item, err
	}
	o.history(ctx, d.ID, "reconcile", item.Action, "status "+d.Status)
	if err := o.adoptUnmatched(ctx, d); err != nil {
		return item, err
	}
	if rec, err = o.Store.Get(ctx, d.ID); err != nil {
		return item, err
	}
	if rec.Phase == PhaseNeedsAttention {
		item.Action, item.Detail = "needs-attention", rec.PhaseDetail
		return item, nil
	}
	if rec.Coords == nil {
		c, err := o.findCoordinates(ctx, d)
		if err != nil {
			item.Action, item.Detail = "needs-attention", err.Error()
			return item, o.needsAttention(ctx, d.ID, err.Error())
		}
		if err := o.recordCoordinates(ctx, d.ID, c, PhaseCapturing); err != nil {
			if errors.Is(err, errConflictingCoordinates) {
				item.Action, item.Detail = "needs-attention", err.Error()
				return item, o.needsAttention(ctx, d.ID, err.Error())
			}
			return item, err
		}
	}
	invoked, err := o.startConfigure(ctx, d.ID, "reconcile "+item.Action)
	if invoked {
		item.Detail = "configure invoked"
	}
	return item, err
}

// findCoordinates reads the coordinates message from DescribeEvents: the
// new production cluster's events and its instances' (RDS has been seen to
// send it as either; instances under their green names before the rename),
// from the deployment's creation, within the 14 days RDS keeps. Exactly one
// set of coordinates must be found.
func (o *Orchestrator) findCoordinates(ctx context.Context, d Deployment) (Coordinates, error) {
	since := d.CreateTime
	if floor := o.now().Add(-describeEventsWindow); since.Before(floor) {
		since = floor
	}
	var found []Coordinates
	add := func(evs []RawEvent) {
		for _, e := range evs {
			if !strings.Contains(e.Message, rdsevent.BinlogCoordinatesPrefix) || !matchesSource(d, e.SourceID) {
				continue
			}
			file, pos, err := rdsevent.ParseBinlogCoordinates(e.Message)
			if err != nil {
				o.log().Warn("unreadable coordinates message", "deployment", d.ID, "source", e.SourceID, "error", err.Error())
				continue
			}
			c := Coordinates{File: file, Position: pos, Message: e.Message, Source: e.SourceID, Time: e.Date.UTC(), Via: "describe-events"}
			if !slices.ContainsFunc(found, c.Same) {
				found = append(found, c)
			}
		}
	}
	clusterEvents, err := o.Events.Events(ctx, "db-cluster", []string{d.Production.ID}, since)
	if err != nil {
		return Coordinates{}, fmt.Errorf("DescribeEvents for cluster %s: %w", d.Production.ID, err)
	}
	add(clusterEvents)
	// Instance events: all instances (their pre-switchover green names are
	// not known), filtered by name.
	instanceEvents, err := o.Events.Events(ctx, "db-instance", nil, since)
	if err != nil {
		return Coordinates{}, fmt.Errorf("DescribeEvents for instances: %w", err)
	}
	add(instanceEvents)
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Coordinates{}, fmt.Errorf("no binlog coordinates message for %s's new production %s in DescribeEvents since %s (RDS keeps 14 days): switchback never guesses coordinates; find them (the console's events, or SHOW BINLOG EVENTS on %s around the switchover) and configure by hand with switchback configure",
			d.ID, d.Production.ID, since.Format(time.RFC3339), d.Production.ID)
	default:
		var s []string
		for _, c := range found {
			s = append(s, fmt.Sprintf("%s:%d from %s", c.File, c.Position, c.Source))
		}
		return Coordinates{}, fmt.Errorf("%w: DescribeEvents holds %d different coordinates for %s: %s; switchback does not choose between them", errConflictingCoordinates, len(found), d.ID, strings.Join(s, "; "))
	}
}
