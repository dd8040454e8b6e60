package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

const statusDescription = `
Tells whether rollback is possible right now. Reads the rollback target's
replica status (IO/SQL threads, seconds behind — NULL is kept distinct from
0 —, last errors), production's binlog position against the position the
rollback target has executed, and runs a probe: a token is written into
switchback.heartbeat on production and timed until it is visible on the
rollback target. A stalled IO thread shows as a probe timeout even when
seconds behind says 0 or NULL.

It also predicts the write downtime of a cutover started now: for
--prediction-window (during the probe) it watches how fast the rollback
target executes production's binlog and how fast production writes it; the
bytes behind at that apply rate is how long production would be fenced. A
prediction above --max-write-downtime is a warning: rollback --execute would
wait for it to fall (up to --catchup-timeout), then refuse.

The verdict is ready or not ready with the reasons; warnings (writers that
bypass production's fence) do not change it, but rollback --execute must be
told how to handle them. Exit status: 0 ready, 3 not ready, 1 a server could
not be read, 2 usage.

JSON keys: io_running, sql_running, seconds_behind, probe_lag_ms,
bytes_behind, source_file, source_position, executed_file, executed_position,
last_io_errno, last_io_error, last_sql_errno, last_sql_error, ready, reasons,
warnings, write_downtime_prediction (bytes_behind, apply_bytes_per_second,
write_bytes_per_second, window_ms, predicted_ms — null when unknown —,
unknown).
`

func runStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "status", "--production DSN --rollback DSN [flags]", statusDescription)
	var pf pairFlags
	pf.register(fs)
	probeTimeout := fs.Duration("probe-timeout", replication.DefaultProbeTimeout, "how long to wait for the probe token on the rollback target")
	maxLag := fs.Duration("max-lag", replication.DefaultMaxLag, "most lag that still counts as ready")
	noProbe := fs.Bool("no-probe", false, "skip the probe (it writes one row on production)")
	maxDowntime := fs.Duration("max-write-downtime", replication.DefaultMaxWriteDowntime, "warn when a cutover now is predicted to take writes away for longer than this")
	window := fs.Duration("prediction-window", replication.DefaultPredictionWindow, "how long to measure apply and write rates for the write downtime prediction")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if err := positiveDurations(map[string]time.Duration{"--max-lag": *maxLag, "--probe-timeout": *probeTimeout,
		"--max-write-downtime": *maxDowntime, "--prediction-window": *window}); err != nil {
		return err
	}
	prod, rb, closeBoth, err := pf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeBoth()
	obs, err := replication.Observe(ctx, replication.ObserveRequest{
		Production: prod, Rollback: rb, ProbeTimeout: *probeTimeout, MaxLag: *maxLag, SkipProbe: *noProbe,
		PredictionWindow: *window, MaxWriteDowntime: *maxDowntime,
	})
	if err != nil {
		return err
	}
	if pf.output == outputJSON {
		if err := writeJSON(env.stdout, obs); err != nil {
			return err
		}
	} else {
		writeObservation(env.stdout, prod.Addr, rb.Addr, obs)
	}
	if !obs.Ready {
		return errRefusedExit
	}
	return nil
}

func writeObservation(w io.Writer, prodAddr, rbAddr string, o replication.Observation) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(tw, "production\t%s\tbinlog at %s:%d\n", prodAddr, o.SourceFile, o.SourcePosition)
	fmt.Fprintf(tw, "rollback target\t%s\texecuted %s:%d, read-only %s\n", rbAddr, o.ExecutedFile, o.ExecutedPosition, yes[o.RollbackReadOnly])
	ioState := o.IOState
	if ioState == "" {
		ioState = "-"
	}
	fmt.Fprintf(tw, "threads\tIO %s, SQL %s\t\n", ioState, map[bool]string{true: "Yes", false: "No"}[o.SQLRunning])
	fmt.Fprintf(tw, "lag\t%s behind\tprobe %s, %s bytes behind\n", optInt(o.SecondsBehind, " s"), optInt(o.ProbeLagMS, " ms"), optInt(o.BytesBehind, ""))
	if o.Prediction != nil {
		fmt.Fprintf(tw, "write downtime\tpredicted %s\t\n", o.Prediction)
	}
	if o.LastIOErrno != 0 {
		fmt.Fprintf(tw, "last IO error\t%d\t%s\n", o.LastIOErrno, o.LastIOError)
	}
	if o.LastSQLErrno != 0 {
		fmt.Fprintf(tw, "last SQL error\t%d\t%s\n", o.LastSQLErrno, o.LastSQLError)
	}
	tw.Flush()
	for _, warn := range o.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if o.Ready && o.ProbeLagMS == nil {
		fmt.Fprintln(w, "READY (probe skipped: a stalled IO thread would not show): rollback looks possible now")
		return
	}
	if o.Ready {
		fmt.Fprintln(w, "READY: rollback is possible now")
		return
	}
	fmt.Fprintln(w, "NOT READY:")
	for _, r := range o.Reasons {
		fmt.Fprintf(w, "  - %s\n", strings.ReplaceAll(r, "\n", "\n    "))
	}
}

func optInt(p *int64, unit string) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprintf("%d%s", *p, unit)
}
