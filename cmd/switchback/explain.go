package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/switchback/switchback/shared/rdsevent"
)

const explainDescription = `
Reads one Amazon EventBridge event (the JSON envelope with "detail-type",
"source" and "detail", as RDS sends it) and prints what switchback makes of
it: a blue/green deployment or switchover fact, the green writer's binary log
coordinates after switchover, or "ignored" with the reason.

FILE is a path, or - to read the event from standard input.

With --output json it prints one object with the keys kind, event_id,
source_id, source_type, deployment, binlog_file, binlog_position, old_name,
new_name and reason (empty when not applicable). kind is one of:
deployment-created, deployment-failed, deployment-deleted, switchover-started,
switchover-completed, switchover-canceled, cluster-switchover-started,
cluster-switchover-completed, cluster-switchover-canceled, binlog-coordinates,
ignored.

A malformed event (not JSON, no "detail", coordinates without a file, a
position that is not a 64-bit number) exits 1 with the problem on stderr.

Examples:
  switchback explain-event events/cluster-binlog-coordinates.json
  pbpaste | switchback explain-event - --output json
`

// explainJSON is the --output json shape of explain-event: every key is
// always present so scripts can rely on it.
type explainJSON struct {
	Kind           rdsevent.Kind `json:"kind"`
	EventID        string        `json:"event_id"`
	SourceID       string        `json:"source_id"`
	SourceType     string        `json:"source_type"`
	Deployment     string        `json:"deployment"`
	BinlogFile     string        `json:"binlog_file"`
	BinlogPosition *uint64       `json:"binlog_position"`
	OldName        string        `json:"old_name"`
	NewName        string        `json:"new_name"`
	Reason         string        `json:"reason"`
}

func runExplainEvent(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "explain-event", "FILE|- [--output text|json]", explainDescription)
	output := outputText
	fs.Var(&output, "output", "output format: `text|json`")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("%w: want exactly one FILE (or - for stdin), got %d arguments", errUsage, len(positional))
	}
	data, err := readInput(env, positional[0])
	if err != nil {
		return err
	}
	fact, err := rdsevent.Decode(data)
	if err != nil {
		return fmt.Errorf("%s: %w", inputName(positional[0]), err)
	}
	if output == outputJSON {
		return writeJSON(env.stdout, explainJSONFrom(fact))
	}
	return writeFactText(env.stdout, fact)
}

func explainJSONFrom(f rdsevent.Fact) explainJSON {
	out := explainJSON{
		Kind: f.Kind, EventID: f.EventID, SourceID: f.SourceID, SourceType: f.SourceType,
		Deployment: f.Deployment, BinlogFile: f.BinlogFile, OldName: f.OldName, NewName: f.NewName,
		Reason: f.Reason,
	}
	if f.Kind == rdsevent.KindBinlogCoordinates {
		pos := f.BinlogPosition
		out.BinlogPosition = &pos
	}
	return out
}

func writeFactText(w io.Writer, f rdsevent.Fact) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("kind", string(f.Kind))
	row("event", f.EventID)
	switch {
	case f.SourceID != "" && f.SourceType != "":
		row("source", f.SourceID+" ("+f.SourceType+")")
	default:
		row("source", f.SourceID+f.SourceType)
	}
	row("deployment", f.Deployment)
	if f.Kind == rdsevent.KindBinlogCoordinates {
		row("binlog", fmt.Sprintf("file %s, position %d", f.BinlogFile, f.BinlogPosition))
	}
	row("old production", f.OldName)
	row("new production", f.NewName)
	row("reason", f.Reason)
	if !f.Time.IsZero() {
		row("time", f.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return tw.Flush()
}

// readInput reads a whole file, or standard input for "-".
func readInput(env *cliEnv, name string) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(env.stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	return data, nil
}

func inputName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
