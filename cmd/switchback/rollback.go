package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

const rollbackDescription = `
Rolls production back to the rollback target (the old -oldN cluster) with
zero data loss. Without --execute it only plans: it prints every step with
the check that gates it and the current values, and changes nothing.

With --execute:
  a. preconditions — otherwise "refused" and nothing is touched: no other
     switchback run holds the pair (a lock on both servers); replication
     running, no errors, lag ≤ --max-lag; the rollback target fenced,
     following this production, with no filters, no delay, no skipped
     events, no other replication connection and no writes of its own; no
     writer on production that read_only does not stop (privileged
     sessions, scheduled events: see below); and the predicted write
     downtime is within --max-write-downtime (default 1s): the bytes the
     rollback target has not executed yet, at the rate it executes them.
     Until it is — and until the target has executed the position
     production had when the wait began — it waits, printing the bytes
     behind, the apply rate and production's write rate, up to
     --catchup-timeout; then it refuses with those figures, nothing fenced;
  b. fence production (read-only: application writes are rejected);
     with --kill-privileged-sessions, end privileged sessions right after;
  c. read production's final binlog position (the fence waited for the
     transactions committing; only a writer that bypasses it can move it,
     and the checks in e and f catch that);
  d. wait until the rollback target has executed exactly up to it, within
     --catchup-timeout (the server's position wait wakes it the moment the
     target gets there);
  e. stop replication on the rollback target; production's position is
     checked again: if it moved, abort and say by how much;
  f. unfence the rollback target (it is production now) and clear its
     replication source; production's position is read once more: if it
     moved in that instant, the outcome is "diverged", with the range;
  g. with --reverse, configure the old production to replicate from the
     rollback target from the cutover position (the roll-forward path).

Writers that bypass the fence: on MariaDB users with READ_ONLY ADMIN (SUPER
before 10.11), on Aurora users with SUPER or CONNECTION_ADMIN, write through
read_only; scheduled events run as their definer. The rollback refuses while
any such session (other than its own) or event exists, unless told:
  --kill-privileged-sessions  stop the event scheduler before the fence and
                              end those sessions right after it;
  --allow-privileged-writers  go ahead: a write of theirs after the fence
                              aborts the cutover (production unfenced).

Any failure or timeout before the rollback target is writable unfences
production again and reports "aborted": the write outage is bounded by
--catchup-timeout. Replication is stopped before the rollback target becomes
writable, so both sides are never writable while replication runs. If the
command is killed, run it again: it works out where the cutover stands from
the servers' own state and finishes it, never repeating a step.

Then re-point the application to the rollback target's endpoint.

On AWS, --deployment bgd-… replaces the DSNs: the clusters, their admin
secrets and their DB cluster parameter-group fencers are resolved from the
state table (--table or $SWITCHBACK_TABLE) and RDS, through the same adapters
as the rollback Lambda function, and it runs as that function does: under
the deployment's lease, every step in its history with --reason and your
user name, on-call notified through $SWITCHBACK_TOPIC_ARN when set.
Executing needs --confirm <rollback cluster id> and --reason. It can then
re-point the application: --repoint-route53-zone/--repoint-route53-record
(a CNAME to the rollback cluster, waited until INSYNC), --repoint-secret (a
new version of the application's secret with its host and port),
--repoint-rename (production becomes <name>-rolledback<N> and the rollback
cluster <name>: about two minutes of DNS change). AWS settings come from the
SDK's default configuration (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL…);
the functions' SWITCHBACK_* variables apply (admin secrets, TLS).

Exit status: 0 planned or completed, 1 aborted, diverged or failed, 2 usage,
3 refused (including "another switchback run holds the lock").
`

func runRollback(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "rollback", "--production DSN --rollback DSN [--execute] [flags]\n       switchback rollback --deployment bgd-… [--execute --confirm ID --reason TEXT] [flags]", rollbackDescription)
	var pf pairFlags
	pf.register(fs)
	execute := fs.Bool("execute", false, "perform the cutover (without it, only plan)")
	maxLag := fs.Duration("max-lag", replication.DefaultRollbackMaxLag, "refuse to start when the rollback target is further behind than this")
	catchup := fs.Duration("catchup-timeout", replication.DefaultCatchupTimeout, "before the fence, refuse if the predicted write downtime is not within --max-write-downtime by then; once fenced, abort (and unfence production) if catch-up takes longer")
	maxDowntime := fs.Duration("max-write-downtime", replication.DefaultMaxWriteDowntime, "fence production only when the predicted write downtime is within this")
	reverse := fs.Bool("reverse", false, "after the cutover, replicate the old production from the rollback target (roll-forward path)")
	reverseHost := fs.String("reverse-source-host", "", "with --reverse: host the old production uses to reach the rollback target (default: rollback DSN host)")
	reversePort := fs.Int("reverse-source-port", 0, "with --reverse: port the old production uses to reach the rollback target (default: rollback DSN port)")
	user := fs.String("replication-user", replication.DefaultReplicationUser, "with --reverse: replication user to ensure on the rollback target")
	killPrivileged := fs.Bool("kill-privileged-sessions", false, "stop production's event scheduler before the fence and end sessions of users that write through read_only right after it")
	allowPrivileged := fs.Bool("allow-privileged-writers", false, "cut over although privileged sessions or events could write through the fence (a write of theirs after it aborts the cutover)")
	var af awsRollbackFlags
	af.register(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if err := positiveDurations(map[string]time.Duration{"--max-lag": *maxLag, "--catchup-timeout": *catchup, "--max-write-downtime": *maxDowntime}); err != nil {
		return err
	}
	if *killPrivileged && *allowPrivileged {
		return fmt.Errorf("%w: --kill-privileged-sessions and --allow-privileged-writers exclude each other: choose one", errUsage)
	}
	if af.deployment != "" {
		if pf.production != "" || pf.rollback != "" || *reverseHost != "" || *reversePort != 0 {
			return fmt.Errorf("%w: --deployment resolves the clusters itself: leave out --production, --rollback and --reverse-source-*", errUsage)
		}
		privileged := ""
		switch {
		case *killPrivileged:
			privileged = "kill"
		case *allowPrivileged:
			privileged = "allow"
		}
		opts := rollbackOptions{execute: *execute, reverse: *reverse, privileged: privileged, output: pf.output}
		// Unset, the deployment's settings (SWITCHBACK_MAX_LAG_SECONDS) and
		// the engine's defaults apply, as in the function.
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "max-lag":
				opts.maxLag = *maxLag
			case "catchup-timeout":
				opts.catchup = *catchup
			case "max-write-downtime":
				opts.maxWriteDowntime = *maxDowntime
			}
		})
		return runRollbackDeployment(ctx, env, af, opts)
	}
	if af.used() {
		return fmt.Errorf("%w: --table, --confirm, --reason and --repoint-* go with --deployment", errUsage)
	}
	prod, rb, closeBoth, err := pf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeBoth()
	req := replication.RollbackRequest{
		Production: prod, Rollback: rb, Execute: *execute, MaxLag: *maxLag, CatchupTimeout: *catchup,
		MaxWriteDowntime: *maxDowntime, Hook: env.hook,
	}
	switch {
	case *killPrivileged:
		req.PrivilegedWriters = replication.PrivilegedKill
	case *allowPrivileged:
		req.PrivilegedWriters = replication.PrivilegedAllow
	}
	if *reverse {
		req.Reverse = &replication.ReverseOptions{
			SourceHost: *reverseHost, SourcePort: *reversePort, ReplicationUser: *user,
			ReplicationPassword: env.getenv(envReplicationPassword),
		}
	}
	if pf.output == outputText {
		mode := "Planning (dry run: nothing will change; add --execute to cut over)"
		if *execute {
			mode = "Rolling back"
		}
		fmt.Fprintf(env.stdout, "%s: production %s → rollback target %s\n", mode, prod.Addr, rb.Addr)
		req.OnStep = func(s replication.Step) { printStep(env.stdout, s) }
		req.OnProgress = func(line string) { fmt.Fprintf(env.stdout, "                %s\n", line) }
	}
	report, err := replication.Rollback(ctx, req)
	if pf.output == outputJSON {
		if werr := writeJSON(env.stdout, report); werr != nil {
			return werr
		}
	} else {
		writeRollbackSummary(env.stdout, report, false)
		if !*execute {
			fmt.Fprintln(env.stdout, latestVerifyLine(ctx, prod))
		}
	}
	switch {
	case errors.Is(err, replication.ErrRefused):
		fmt.Fprintf(env.stderr, "switchback rollback: refused: %s\n", report.Reason)
		return errRefusedExit
	case err != nil:
		fmt.Fprintf(env.stderr, "switchback rollback: %s: %v\n", report.Outcome, err)
		return errSilent
	}
	return nil
}

// writeRollbackSummary prints the outcome; repointed says the application
// was re-pointed by the run.
func writeRollbackSummary(w io.Writer, r replication.RollbackReport, repointed bool) {
	fmt.Fprintf(w, "Outcome: %s", r.Outcome)
	if r.Reason != "" {
		fmt.Fprintf(w, " — %s", r.Reason)
	}
	fmt.Fprintln(w)
	if r.Prediction != nil {
		fmt.Fprintf(w, "Predicted write downtime: %s\n", r.Prediction)
	}
	if r.WriteUnavailableMS > 0 {
		fmt.Fprintf(w, "Write downtime: %d ms\n", r.WriteUnavailableMS)
	}
	if r.ProductionPosition != "" {
		label := "Production frozen at"
		if r.Outcome != replication.OutcomeCompleted {
			label = "Production position"
		}
		fmt.Fprintf(w, "%s: %s\n", label, r.ProductionPosition)
	}
	if r.RollbackPosition != "" {
		fmt.Fprintf(w, "Rollback target position at cutover: %s\n", r.RollbackPosition)
	}
	switch r.Outcome {
	case replication.OutcomeCompleted:
		if !repointed {
			fmt.Fprintln(w, "Next: re-point the application to the rollback target's endpoint.")
		}
	case replication.OutcomeDiverged:
		fmt.Fprintln(w, "The rollback target is production now, but the old production holds writes it does not: re-point the application, then reconcile those writes by hand.")
	}
}
