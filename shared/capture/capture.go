// Package capture turns RDS events into switchback actions. It is the path
// from an EventBridge event to configured reverse replication that the
// capture Lambda takes, and that `switchback demo` runs locally: decode the
// event, and when it carries the green writer's binary log coordinates for
// this pair's production, configure replication from exactly those
// coordinates — never from a guessed position, never from another
// cluster's.
package capture

import (
	"context"
	"fmt"
	"slices"

	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/replication"
)

// Target is the pair an event may configure.
type Target struct {
	// Sources are the RDS source identifiers whose coordinates belong to
	// this pair: the production cluster's name after switchover and its
	// instances' names (RDS has been seen to send the message as a cluster
	// event and as an instance event). An event from any other source is
	// refused: every cluster's binlogs are named mysql-bin-changelog.NNNNNN,
	// so another cluster's coordinates would look valid here.
	Sources []string
	// Configure is the request to run; its Start is taken from the event
	// (a Start already set must agree with it).
	Configure replication.ConfigureRequest
}

// Result is what one event led to.
type Result struct {
	// Fact is what switchback made of the event.
	Fact rdsevent.Fact `json:"fact"`
	// Configure is the configure run the event triggered; nil when the
	// event carried no coordinates.
	Configure *replication.ConfigureResult `json:"configure,omitempty"`
}

// ConfigureFromEvent decodes one EventBridge event. When it carries binlog
// coordinates from one of t.Sources, it runs replication.Configure from
// them. Other events are returned decoded, with nothing done; coordinates
// from another source are refused (the error wraps replication.ErrRefused).
func ConfigureFromEvent(ctx context.Context, event []byte, t Target) (Result, error) {
	fact, err := rdsevent.Decode(event)
	if err != nil {
		return Result{}, err
	}
	res := Result{Fact: fact}
	if fact.Kind != rdsevent.KindBinlogCoordinates {
		return res, nil
	}
	if !slices.Contains(t.Sources, fact.SourceID) {
		return res, fmt.Errorf("%w: the coordinates come from %q, which is not one of this pair's production sources %q", replication.ErrRefused, fact.SourceID, t.Sources)
	}
	start := replication.BinlogPosition{File: fact.BinlogFile, Position: fact.BinlogPosition}
	base := t.Configure
	if base.Start.File != "" && (base.Start.File != start.File || base.Start.Position != start.Position) {
		return res, fmt.Errorf("%w: event coordinates %s differ from the expected %s", replication.ErrRefused, start, base.Start)
	}
	base.Start = start
	cr, err := replication.Configure(ctx, base)
	res.Configure = &cr
	return res, err
}
