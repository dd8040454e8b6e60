package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/orchestrate"
)

// envTable names the DynamoDB table of switchback's state when --table is
// not given (the functions are configured with the same variable).
const envTable = "SWITCHBACK_TABLE"

const historyDescription = `
Shows what switchback's Lambda functions recorded about one blue/green
deployment, from the DynamoDB table they share: the record (phase and why,
the production and rollback clusters, the binlog coordinates and the RDS
message they were read from, the version, the lease) and the append-only
step history, oldest first.

The table is --table or $` + envTable + `. AWS settings come from the SDK's
default configuration: AWS_REGION, AWS_PROFILE, credentials, and
AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_DYNAMODB) for a local endpoint.

Exit status: 0 shown, 1 no record for the deployment or the table cannot be
read, 2 usage.

JSON keys: table, record (deployment, production, rollback, status,
create_time, coordinates, phase, phase_detail, version, updated_at, lease),
history (a list of deployment, time, actor, step, outcome, detail).

Examples:
  switchback history --deployment bgd-0123456789abcdef --table switchback-state
  SWITCHBACK_TABLE=switchback-state switchback history --deployment bgd-0123456789abcdef --output json
`

// historyJSON is the --output json shape of history.
type historyJSON struct {
	Table   string                     `json:"table"`
	Record  orchestrate.Record         `json:"record"`
	History []orchestrate.HistoryEntry `json:"history"`
}

func runHistory(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "history", "--deployment ID [--table NAME] [--output text|json]", historyDescription)
	deployment := fs.String("deployment", "", "the blue/green deployment `ID` (bgd-…), or unmatched:<source> for coordinates not matched yet")
	table := fs.String("table", "", "the DynamoDB `table` of switchback's state (default $"+envTable+")")
	output := outputText
	fs.Var(&output, "output", "output format: `text|json`")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("%w: unexpected argument %q (pass the deployment as --deployment ID)", errUsage, positional[0])
	}
	if *deployment == "" {
		return fmt.Errorf("%w: --deployment is required", errUsage)
	}
	if *table == "" {
		*table = env.getenv(envTable)
	}
	if *table == "" {
		return fmt.Errorf("%w: no table: pass --table or set %s", errUsage, envTable)
	}

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return errors.New("no AWS region: set AWS_REGION or a region in your AWS profile")
	}
	store := dynamostate.New(dynamodb.NewFromConfig(cfg), *table)
	rec, err := store.Get(ctx, *deployment)
	var noTable *types.ResourceNotFoundException
	switch {
	case errors.Is(err, orchestrate.ErrNotFound):
		return fmt.Errorf("no record for deployment %s in table %s (region %s)", *deployment, *table, cfg.Region)
	case errors.As(err, &noTable):
		return fmt.Errorf("table %s not found in region %s: %w", *table, cfg.Region, err)
	case err != nil:
		return err
	}
	hist, err := store.History(ctx, *deployment)
	if err != nil {
		return err
	}
	if output == outputJSON {
		return writeJSON(env.stdout, historyJSON{Table: *table, Record: rec, History: hist})
	}
	writeHistory(env.stdout, *table, rec, hist, time.Now())
	return nil
}

// writeHistory prints the record summary, then the history as a table.
func writeHistory(w io.Writer, table string, rec orchestrate.Record, hist []orchestrate.HistoryEntry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "deployment\t%s (table %s)\n", rec.Deployment, table)
	fmt.Fprintf(tw, "phase\t%s\n", rec.Phase)
	fmt.Fprintf(tw, "detail\t%s\n", orDash(oneLine(rec.PhaseDetail)))
	status := orDash(rec.Status)
	if !rec.CreateTime.IsZero() {
		status += ", created " + stamp(rec.CreateTime)
	}
	fmt.Fprintf(tw, "status\t%s\n", status)
	fmt.Fprintf(tw, "production\t%s\n", describeCluster(rec.Production))
	fmt.Fprintf(tw, "rollback\t%s\n", describeCluster(rec.Rollback))
	if c := rec.Coords; c != nil {
		fmt.Fprintf(tw, "coordinates\t%s:%d from %s via %s at %s\n", c.File, c.Position, orDash(c.Source), orDash(c.Via), stamp(c.Time))
		fmt.Fprintf(tw, "message\t%s\n", orDash(oneLine(c.Message)))
	} else {
		fmt.Fprintf(tw, "coordinates\tnot known yet\n")
	}
	fmt.Fprintf(tw, "version\t%d, updated %s\n", rec.Version, stamp(rec.UpdatedAt))
	fmt.Fprintf(tw, "lease\t%s\n", describeLease(rec.Lease, now))
	tw.Flush()

	fmt.Fprintf(w, "\nhistory: %d %s, oldest first\n", len(hist), plural(len(hist), "entry", "entries"))
	if len(hist) == 0 {
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tSTEP\tOUTCOME\tDETAIL")
	for _, e := range hist {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", stamp(e.Time), orDash(oneLine(e.Actor)), orDash(oneLine(e.Step)), orDash(oneLine(e.Outcome)), oneLine(e.Detail))
	}
	tw.Flush()
}

func describeCluster(c *orchestrate.Cluster) string {
	if c == nil || c.ID == "" {
		return "not known yet"
	}
	where := orDash(c.Endpoint)
	if c.Port != 0 {
		where = fmt.Sprintf("%s:%d", where, c.Port)
	}
	return fmt.Sprintf("%s: writer %s at %s, %s %s, parameter group %s",
		c.ID, orDash(c.Writer), where, orDash(c.Engine), orDash(c.EngineVersion), orDash(c.ParameterGroup))
}

func describeLease(l *orchestrate.Lease, now time.Time) string {
	switch {
	case l == nil:
		return "free"
	case l.Expires.After(now):
		return fmt.Sprintf("held by %s until %s (%s left)", l.Holder, stamp(l.Expires), l.Expires.Sub(now).Round(time.Second))
	default:
		return fmt.Sprintf("free (expired: %s until %s, %s ago)", l.Holder, stamp(l.Expires), now.Sub(l.Expires).Round(time.Second))
	}
}

// stamp formats a time in UTC to the millisecond, or "-" when unset.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a value on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
