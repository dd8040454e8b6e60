package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

const verifyDescription = `
Proves, before anyone needs it, that the rollback target holds the same data
as production: every table that replicates (system schemas and switchback's
own excluded, or only --tables) is compared in primary-key chunks of
--chunk-rows rows, while production keeps taking writes.

Each chunk is compared at the same logical point on both servers. For each
table, verify locks it on production for at most --max-lock (waiting for the
lock included; a watchdog kills the session past that), writes a fence row,
takes a consistent snapshot there, and writes a marker row that the rollback
target's replication stops at, behind a lock verify holds on the target only
until its own snapshot begins, proven to see the fence and not the marker:
both snapshots then hold the table as it was under the lock, the same point
of production's history. Replication is never stopped or
reconfigured; a killed verify leaves it running (its locks end with its
sessions). The run pauses while the rollback target is more than --max-lag
behind. See docs/verify.md for why this is consistent.

Values are compared by their exact bytes: a value that differs only in
letter case under a case-insensitive collation is reported as differing,
and flagged "equal under collation" so you can judge it. Only keys are ever
shown (--rows), never values: they may hold personal data.

Tables without a primary key (or not InnoDB) are reported as not
verifiable, with why; tables whose definitions differ (columns, types,
collations, key) are reported as such, their rows not compared.

Progress is kept on production (switchback.verify_run, verify_chunk): run
the same command again after an interruption and it continues where it
stopped (--restart starts over). The rollback dry run and preflight show the
latest result.

Exit status: 0 equal, 1 differing, 2 usage, 3 refused (a server out of
reach, replication stopped, a cutover running…) or not everything could be
verified (nothing differs).

JSON keys: run_id, outcome (equal, differing, unverified, refused), reason,
production, rollback_target, resumed, started_at, finished_at, tables (table,
status, reason, definition_differences, key, chunks, rows, rollback_rows,
differing_chunks: after, through, production_rows, rollback_rows,
equal_under_collation, rows: key, difference), chunks, rows, sync_points,
max_production_lock_ms, max_replication_pause_ms.
`

func runVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "verify", "--production DSN --rollback DSN [flags]", verifyDescription)
	var pf pairFlags
	pf.register(fs)
	tables := fs.String("tables", "", "compare only these tables: `schema.table,…` (default: every table outside the system schemas)")
	chunkRows := fs.Int("chunk-rows", verify.DefaultChunkRows, "rows per chunk")
	maxLag := fs.Duration("max-lag", verify.DefaultMaxLag, "pause while the rollback target is further behind than this")
	maxLock := fs.Duration("max-lock", verify.DefaultMaxLock, "longest a production table may be locked per sync point, waiting included (1ms..1s)")
	rows := fs.Bool("rows", false, "list the keys of differing rows (never their values)")
	restart := fs.Bool("restart", false, "start over instead of continuing an unfinished run with the same options")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if err := positiveDurations(map[string]time.Duration{"--max-lag": *maxLag, "--max-lock": *maxLock}); err != nil {
		return err
	}
	if *chunkRows < 1 {
		return fmt.Errorf("%w: --chunk-rows %d: want at least 1", errUsage, *chunkRows)
	}
	names, err := verify.ParseTables(*tables)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, strings.TrimPrefix(err.Error(), verify.ErrUsage.Error()+": "))
	}
	// Exit 1 means "differing" to scripts: a server that cannot be
	// reached proves nothing, so it is a refusal (3), with the reason.
	refused := func(err error) error {
		fmt.Fprintf(env.stderr, "switchback verify: refused, nothing compared: %v\n", err)
		return errRefusedExit
	}
	prod, rb, closeBoth, err := pf.connect(ctx, env)
	if errors.Is(err, errUsage) {
		return err
	}
	if err != nil {
		return refused(err)
	}
	defer closeBoth()
	rep, err := verify.Run(ctx, verify.Request{
		Production: prod, Rollback: rb, Tables: names, ChunkRows: *chunkRows, MaxLag: *maxLag, MaxLock: *maxLock,
		Rows: *rows, Restart: *restart,
		OnProgress: func(p verify.Progress) { fmt.Fprintln(env.stderr, "verify: "+progressLine(p)) },
	})
	if errors.Is(err, verify.ErrUsage) {
		return fmt.Errorf("%w: %v", errUsage, strings.TrimPrefix(err.Error(), verify.ErrUsage.Error()+": "))
	}
	if rep == nil {
		return refused(err)
	}
	if err != nil && rep.Outcome != verify.OutcomeRefused {
		// The comparison ended but its result could not be stored on
		// production: the rollback dry run will not show it.
		fmt.Fprintf(env.stderr, "switchback verify: warning: %v\n", err)
	}
	if pf.output == outputJSON {
		if err := writeJSON(env.stdout, rep); err != nil {
			return err
		}
	} else {
		writeVerifyReport(env.stdout, rep)
	}
	switch rep.ExitCode() {
	case 0:
		return nil
	case 1:
		return errSilent
	}
	return errRefusedExit
}

func progressLine(p verify.Progress) string {
	s := fmt.Sprintf("%s (table %d of %d): %d chunks, %d rows compared", p.Table, p.TablesDone+1, p.Tables, p.Chunks, p.Rows)
	if p.RowsPerSecond > 0 {
		s += fmt.Sprintf(", %.0f rows/s", p.RowsPerSecond)
	}
	if p.ETA > 0 {
		s += ", ETA " + p.ETA.Round(time.Second).String()
	}
	if p.Paused != "" {
		s += "; " + p.Paused
	}
	return s
}

func writeVerifyReport(w io.Writer, r *verify.Report) {
	resumed := ""
	if r.Resumed {
		resumed = ", continued"
	}
	fmt.Fprintf(w, "verify run %s%s: production %s, rollback target %s\n", r.RunID, resumed, r.Production, r.Rollback)
	for _, t := range r.Tables {
		line := fmt.Sprintf("  %-40s %s", t.Table, t.Status)
		if t.Chunks > 0 {
			line += fmt.Sprintf(" (%d rows, %d chunks)", t.Rows, t.Chunks)
		}
		if t.Reason != "" {
			line += ": " + t.Reason
		}
		fmt.Fprintln(w, line)
		for _, d := range t.Definition {
			fmt.Fprintf(w, "      %s\n", d)
		}
		for _, d := range t.Differences {
			note := ""
			if d.EqualUnderCollation {
				note = "; equal under the columns' collations (the values differ only where the collation compares equal, such as letter case)"
			}
			fmt.Fprintf(w, "      keys %s: %d rows on production, %d on the rollback target%s\n",
				chunkRange(t.Key, d.After, d.Through), d.ProductionRows, d.RollbackRows, note)
			for _, row := range d.Rows {
				fmt.Fprintf(w, "        %s: %s\n", keyString(t.Key, row.Key), row.Difference)
			}
			if d.RowsTruncated {
				fmt.Fprintln(w, "        … (more rows differ in this chunk)")
			}
		}
	}
	fmt.Fprintf(w, "%d %s, %d %s, %d %s; production tables locked at most %.1f ms, replication held at most %.1f ms\n",
		r.Chunks, plural(int(r.Chunks), "chunk", "chunks"), r.Rows, plural(int(r.Rows), "row", "rows"),
		r.SyncPoints, plural(r.SyncPoints, "sync point", "sync points"), r.MaxLockMS, r.MaxPauseMS)
	fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(r.Outcome), r.Reason)
}

// chunkRange renders a chunk's key range: after (exclusive) through
// (inclusive), open ends as the table's start or end.
func chunkRange(key []string, after, through verify.Bound) string {
	from, to := "(start)", "(end)"
	if after != nil {
		from = "> " + keyString(key, after)
	}
	if through != nil {
		to = "≤ " + keyString(key, through)
	}
	return from + " … " + to
}

func keyString(key []string, values verify.Bound) string {
	parts := make([]string, len(values))
	for i, v := range values {
		name := "?"
		if i < len(key) {
			name = key[i]
		}
		parts[i] = name + "=" + v
	}
	return strings.Join(parts, ",")
}

// latestVerifyLine says what the newest finished switchback verify found,
// for the rollback dry run.
func latestVerifyLine(ctx context.Context, prod *replication.Server) string {
	rep, err := verify.Latest(ctx, prod.DB(), "")
	switch {
	case err != nil:
		return "Data verified: cannot tell (" + err.Error() + ")"
	case rep == nil:
		return "Data verified: never — run switchback verify to compare the rollback target's data with production's"
	}
	return fmt.Sprintf("Data verified: %s, %s, compared from %s to %s against %s (run %s): %s",
		strings.ToUpper(rep.Outcome), scopeText(rep.Scope), rep.StartedAt.Format(time.RFC3339), rep.FinishedAt.Format(time.RFC3339), rep.Rollback, rep.RunID, rep.Reason)
}

// scopeText says which tables a run covered.
func scopeText(scope []string) string {
	if len(scope) == 0 {
		return "every table"
	}
	return "only " + strings.Join(scope, ", ")
}
