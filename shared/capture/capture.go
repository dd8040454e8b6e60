// Package capture turns RDS events into switchback actions. It is the path
// from an EventBridge event to configured reverse replication that the
// capture Lambda takes, and that `switchback demo` runs locally: decode the
// event, and when it carries the green writer's binary log coordinates,
// configure replication from exactly those coordinates — never from a
// guessed position.
package capture

import (
	"context"
	"fmt"

	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/replication"
)

// Result is what one event led to.
type Result struct {
	// Fact is what switchback made of the event.
	Fact rdsevent.Fact `json:"fact"`
	// Configure is the configure run the event triggered; nil when the
	// event carried no coordinates.
	Configure *replication.ConfigureResult `json:"configure,omitempty"`
}

// ConfigureFromEvent decodes one EventBridge event. When it carries binlog
// coordinates, it runs replication.Configure with base, whose Start is set
// from the event (a Start already set in base must agree, or the event is
// refused). Other events are returned decoded, with nothing done.
func ConfigureFromEvent(ctx context.Context, event []byte, base replication.ConfigureRequest) (Result, error) {
	fact, err := rdsevent.Decode(event)
	if err != nil {
		return Result{}, err
	}
	res := Result{Fact: fact}
	if fact.Kind != rdsevent.KindBinlogCoordinates {
		return res, nil
	}
	start := replication.BinlogPosition{File: fact.BinlogFile, Position: fact.BinlogPosition}
	if base.Start.File != "" && (base.Start.File != start.File || base.Start.Position != start.Position) {
		return res, fmt.Errorf("%w: event coordinates %s differ from the expected %s", replication.ErrRefused, start, base.Start)
	}
	base.Start = start
	cr, err := replication.Configure(ctx, base)
	res.Configure = &cr
	return res, err
}
