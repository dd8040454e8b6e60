package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

const configureDescription = `
Sets up verified reverse replication from the new production into the
rollback target (the old -oldN cluster), from the binary log coordinates the
green writer reported at switchover. Steps, each reported as done,
already-done or failed with its duration:

  a. fence the rollback target read-only
  b. ensure the replication user on production, with exactly REPLICATION
     CLIENT and REPLICATION SLAVE
  c. ensure binlog retention on production covers the rollback window
     (Aurora: mysql.rds_set_configuration; self-managed: binlog expiry)
  d. create switchback's heartbeat schema on production
  e. record the rollback target's own transactions (to detect later
     writes made on it)
  f. ensure parallel apply on the rollback target, commit order preserved
     (MariaDB, MySQL; on Aurora through its DB cluster parameter group) —
     skipped with the reason when it cannot be set
  g. point the rollback target at production from the coordinates (or GTID
     auto-position with --gtid) and start replication
  h. wait until both replication threads run with no error

Re-running with the same inputs changes nothing and exits 0. A rollback
target that already replicates from another source or from other
coordinates is refused (exit 3) and nothing is changed.

DSNs may come from SWITCHBACK_PRODUCTION_DSN and SWITCHBACK_ROLLBACK_DSN; the
replication user's password from SWITCHBACK_REPLICATION_PASSWORD (generated
when absent and a password must be set). Passwords never appear in output.

Exit status: 0 configured or unchanged, 1 failed, 2 usage, 3 refused.

Example:
  export SWITCHBACK_PRODUCTION_DSN='admin:…@tcp(orders-prod.cluster-xyz.us-east-1.rds.amazonaws.com:3306)/'
  export SWITCHBACK_ROLLBACK_DSN='admin:…@tcp(orders-prod-old1.cluster-xyz.us-east-1.rds.amazonaws.com:3306)/'
  switchback configure --binlog-file mysql-bin-changelog.000003 --binlog-position 40134574
`

func runConfigure(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "configure", "--production DSN --rollback DSN --binlog-file F --binlog-position P [flags]", configureDescription)
	var pf pairFlags
	pf.register(fs)
	file := fs.String("binlog-file", "", "binlog file on production to replicate from (from the coordinates event)")
	pos := fs.String("binlog-position", "", "binlog position in that file (from the coordinates event)")
	gtid := fs.Bool("gtid", false, "use GTID auto-positioning; the coordinates are still required: they are recorded, and on MariaDB translated to the GTID position")
	sourceHost := fs.String("source-host", "", "host the rollback target uses to reach production (default: production DSN host)")
	sourcePort := fs.Int("source-port", 0, "port the rollback target uses to reach production (default: production DSN port)")
	user := fs.String("replication-user", replication.DefaultReplicationUser, "replication user to ensure on production")
	retention := fs.Int("retention-hours", replication.DefaultRetentionHours, "binlog retention production must keep, in hours (Aurora: 1–2160)")
	wait := fs.Duration("wait-timeout", replication.DefaultWaitTimeout, "how long to wait for both replication threads to run")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	position, err := strconv.ParseUint(*pos, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: --binlog-position %q is not a 64-bit unsigned number (take it from the switchover's coordinates event: switchback explain-event)", errUsage, *pos)
	}
	if err := (replication.BinlogPosition{File: *file, Position: position}).Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := positiveDurations(map[string]time.Duration{"--wait-timeout": *wait}); err != nil {
		return err
	}
	if *retention < 1 || *retention > replication.MaxRetentionHours {
		return fmt.Errorf("%w: --retention-hours %d must be between 1 and %d", errUsage, *retention, replication.MaxRetentionHours)
	}
	prod, rb, closeBoth, err := pf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeBoth()

	req := replication.ConfigureRequest{
		Production: prod, Rollback: rb,
		Start:        replication.BinlogPosition{File: *file, Position: position},
		AutoPosition: *gtid,
		SourceHost:   *sourceHost, SourcePort: *sourcePort,
		ReplicationUser:     *user,
		ReplicationPassword: env.getenv(envReplicationPassword),
		RetentionHours:      *retention,
		WaitTimeout:         *wait,
		Hook:                env.hook,
	}
	if pf.output == outputText {
		fmt.Fprintf(env.stdout, "Configuring reverse replication %s → %s (%s → %s)\n", prod.Addr, rb.Addr, prod.Dialect, rb.Dialect)
		req.OnStep = func(s replication.Step) { printStep(env.stdout, s) }
	}
	res, err := replication.Configure(ctx, req)
	if pf.output == outputJSON {
		if werr := writeJSON(env.stdout, res); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintf(env.stdout, "Outcome: %s\n", res.Outcome)
	}
	switch {
	case errors.Is(err, replication.ErrInvalidArgument):
		return fmt.Errorf("%w: %v", errUsage, err)
	case errors.Is(err, replication.ErrRefused):
		fmt.Fprintf(env.stderr, "switchback configure: refused: %s\n", res.Reason)
		return errRefusedExit
	case err != nil:
		fmt.Fprintf(env.stderr, "switchback configure: %v\n", err)
		return errSilent
	}
	return nil
}

// printStep prints one finished step as a progress line.
func printStep(w io.Writer, s replication.Step) {
	took := formatMS(s.MS)
	if s.Outcome == replication.StepPlanned || s.Outcome == replication.StepSkipped {
		took = ""
	}
	fmt.Fprintf(w, "  %-14s %-44s %6s", "["+string(s.Outcome)+"]", s.Name, took)
	if s.Detail != "" {
		fmt.Fprintf(w, "  %s", s.Detail)
	}
	fmt.Fprintln(w)
	if s.Error != "" {
		fmt.Fprintf(w, "                 error: %s\n", s.Error)
	}
	if s.Hint != "" {
		fmt.Fprintf(w, "                 hint:  %s\n", s.Hint)
	}
}

func formatMS(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}
