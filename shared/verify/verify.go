// Package verify proves, online, that the rollback target holds the same
// data as production: every table that replicates, compared in
// primary-key chunks, each chunk read at the same logical point on both
// servers (a sync point, see syncpoint.go and docs/verify.md) while
// production keeps taking writes. It never stops replication and never
// holds a production table lock longer than Request.MaxLock.
//
// Like the replication engine, it knows nothing of Lambda or AWS: the CLI
// (switchback verify) and the rollback function drive it.
package verify

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/replication"
)

// Defaults for Request's zero values.
const (
	DefaultChunkRows = 1000
	DefaultMaxLag    = 10 * time.Second
	DefaultMaxLock   = 20 * time.Millisecond
	// snapshotSpan is how long one sync point's snapshots are read
	// before the next sync point: short, so production's undo history
	// stays small.
	snapshotSpan = time.Second
	// syncAttempts is how many times a table's sync point is retried
	// (the lock could not be had within MaxLock, or the target was slow)
	// before the table is reported not verified.
	syncAttempts = 10
	// maxRowsPerChunk caps the differing keys listed per chunk.
	maxRowsPerChunk = 1000
	progressEvery   = time.Second
)

// Sentinel errors callers branch on.
var (
	// ErrUsage means the request itself is wrong (exit 2): nothing ran.
	ErrUsage = errors.New("usage")
	// ErrRefused means verify could not run (or could not prove a
	// consistent point) on these servers: nothing was compared. It names
	// the condition.
	ErrRefused = errors.New("refused")
)

// Outcomes of a run.
const (
	OutcomeEqual      = "equal"
	OutcomeDiffering  = "differing"
	OutcomeUnverified = "unverified"  // nothing differs, but some tables could not be compared
	OutcomeRefused    = "refused"     // could not run
	OutcomeIncomplete = "in progress" // Budget ran out: run again to continue
)

// Table statuses.
const (
	StatusEqual        = "equal"
	StatusDiffering    = "differing"
	StatusDefinition   = "definition differs"
	StatusMissing      = "missing on the rollback target"
	StatusExtra        = "only on the rollback target"
	StatusUnverifiable = "not verifiable"
	StatusNotVerified  = "not verified"
	StatusPending      = "pending"
)

// Request is one verify run.
type Request struct {
	Production, Rollback *replication.Server
	// Tables limits the run to these schema.table names; empty: every
	// table outside the system schemas and switchback's own.
	Tables []string
	// ChunkRows is the number of rows per chunk (DefaultChunkRows).
	ChunkRows int
	// MaxLag pauses the run while the rollback target is further behind
	// (DefaultMaxLag).
	MaxLag time.Duration
	// MaxLock bounds how long a production table is locked per sync
	// point, waiting for the lock included (DefaultMaxLock).
	MaxLock time.Duration
	// Rows lists the keys of differing rows (never their values).
	Rows bool
	// Restart abandons an unfinished run instead of continuing it.
	Restart bool
	// Budget stops the run, resumable, once it has run this long (0: run
	// to the end). A Lambda invocation passes what its deadline leaves.
	Budget time.Duration
	// OnProgress receives progress at most every second.
	OnProgress func(Progress)
}

// Progress is where a running verify is.
type Progress struct {
	Table         string        `json:"table"`
	TablesDone    int           `json:"tables_done"`
	Tables        int           `json:"tables"`
	Chunks        int64         `json:"chunks"`
	Rows          int64         `json:"rows"`
	RowsPerSecond float64       `json:"rows_per_second"`
	ETA           time.Duration `json:"eta_ns"`
	// Paused says why the run is waiting, when it is.
	Paused string `json:"paused,omitempty"`
}

// Report is a run's result.
type Report struct {
	RunID      string `json:"run_id"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
	Production string `json:"production"`
	Rollback   string `json:"rollback_target"`
	Resumed    bool   `json:"resumed"`
	// Scope is the tables the run was asked to compare (--tables); empty:
	// every table.
	Scope      []string      `json:"scope,omitempty"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Tables     []TableResult `json:"tables"`
	Chunks     int64         `json:"chunks"`
	Rows       int64         `json:"rows"`
	SyncPoints int           `json:"sync_points"`
	// MaxLockMS is the longest a production table was locked in this
	// invocation (wait and hold); MaxPauseMS bounds the longest the
	// rollback target's applier waited at a sync point.
	MaxLockMS  float64 `json:"max_production_lock_ms"`
	MaxPauseMS float64 `json:"max_replication_pause_ms"`
}

// TableResult is one table's verdict.
type TableResult struct {
	Table  string `json:"table"`
	Status string `json:"status"`
	// Reason says why a table is not verifiable, not verified or
	// pending.
	Reason string `json:"reason,omitempty"`
	// Definition lists how the two definitions differ.
	Definition []string `json:"definition_differences,omitempty"`
	// Key names the primary-key columns the chunk bounds are values of.
	Key          []string          `json:"key,omitempty"`
	Chunks       int64             `json:"chunks"`
	Rows         int64             `json:"rows"`
	RollbackRows int64             `json:"rollback_rows"`
	Differences  []ChunkDifference `json:"differing_chunks,omitempty"`
}

// ChunkDifference is a chunk whose rows differ: the keys after After
// (exclusive; nil: from the table's start) through Through (inclusive;
// nil: to its end).
type ChunkDifference struct {
	After          Bound `json:"after"`
	Through        Bound `json:"through"`
	ProductionRows int64 `json:"production_rows"`
	RollbackRows   int64 `json:"rollback_rows"`
	// EqualUnderCollation is true when the chunk is equal once strings
	// are compared by their columns' collations: its values differ only
	// in what the collation ignores (letter case, accents, trailing
	// spaces under a _ci / _ai collation).
	EqualUnderCollation bool            `json:"equal_under_collation"`
	Rows                []RowDifference `json:"rows,omitempty"`
	RowsTruncated       bool            `json:"rows_truncated,omitempty"`
}

// How a row differs.
const (
	RowChanged          = "changed"
	RowChangedCollation = "changed only where the collation compares equal"
	RowMissing          = "missing on the rollback target"
	RowExtra            = "only on the rollback target"
)

// RowDifference is a differing row: its key, never its values.
type RowDifference struct {
	Key        Bound  `json:"key"`
	Difference string `json:"difference"`
}

// ExitCode is the CLI's exit status for an outcome: 0 equal, 1
// differing, 3 refused or unverified or unfinished.
func (r *Report) ExitCode() int {
	switch r.Outcome {
	case OutcomeEqual:
		return 0
	case OutcomeDiffering:
		return 1
	}
	return 3
}

type verifier struct {
	req Request
	// lockConn holds the verify lock, and takes the cutover lock around
	// each write.
	lockConn *sql.Conn
	// killer is the lock watchdog's own session on production.
	killer *sql.DB
	// lastMarker is the token of the newest marker written on
	// production: the next sync point waits until the target applied it.
	lastMarker string
	store      store
	runID      string
	report     *Report
	parents    map[string][]string
	started    time.Time
	// progress
	tablesTotal, tablesDone int
	estimatedRows           int64
	chunksDone              int64
	rowsDone, rowsThisRun   int64
	lastProgress            time.Time
}

// Run compares the rollback target with production. A refusal (the
// servers cannot be compared as they are) returns the report with
// OutcomeRefused and an error wrapping ErrRefused; a bad request returns
// an error wrapping ErrUsage and no report.
func Run(ctx context.Context, req Request) (*Report, error) {
	if err := req.defaults(); err != nil {
		return nil, err
	}
	v := &verifier{req: req, store: store{db: req.Production.DB()}, started: time.Now()}
	v.report = &Report{Production: req.Production.Addr, Rollback: req.Rollback.Addr, Scope: req.Tables, StartedAt: v.started.UTC()}
	err := v.run(ctx)
	if err != nil && v.report.Outcome == "" {
		v.report.Outcome = OutcomeRefused
		v.report.Reason = err.Error()
		if !errors.Is(err, ErrRefused) {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	return v.report, err
}

func (r *Request) defaults() error {
	if r.Production == nil || r.Rollback == nil {
		return fmt.Errorf("%w: both production and the rollback target are required", ErrUsage)
	}
	if r.ChunkRows == 0 {
		r.ChunkRows = DefaultChunkRows
	}
	if r.ChunkRows < 1 || r.ChunkRows > 1_000_000 {
		return fmt.Errorf("%w: --chunk-rows %d is out of range (1..1000000)", ErrUsage, r.ChunkRows)
	}
	if r.MaxLag == 0 {
		r.MaxLag = DefaultMaxLag
	}
	if r.MaxLag < time.Second {
		return fmt.Errorf("%w: --max-lag %s is below 1s (the rollback target reports its lag in whole seconds)", ErrUsage, r.MaxLag)
	}
	if r.MaxLock == 0 {
		r.MaxLock = DefaultMaxLock
	}
	if r.MaxLock < time.Millisecond || r.MaxLock > time.Second {
		return fmt.Errorf("%w: --max-lock %s is out of range (1ms..1s)", ErrUsage, r.MaxLock)
	}
	// The same tables in another order are the same run.
	r.Tables = slices.Sorted(slices.Values(r.Tables))
	if r.Budget < 0 {
		return fmt.Errorf("%w: budget %s is negative", ErrUsage, r.Budget)
	}
	return nil
}

func (v *verifier) run(ctx context.Context) error {
	prod, rb := v.req.Production, v.req.Rollback
	if err := v.preconditions(ctx); err != nil {
		return err
	}
	var err error
	if v.lockConn, err = lockVerify(ctx, prod); err != nil {
		return err
	}
	defer discard(v.lockConn)
	if err := v.ensureKiller(ctx); err != nil {
		return err
	}
	defer func() {
		if v.killer != nil {
			v.killer.Close()
		}
	}()
	prodTables, err := readTables(ctx, prod.DB())
	if err != nil {
		return fmt.Errorf("%s: %w", prod, err)
	}
	rbTables, err := readTables(ctx, rb.DB())
	if err != nil {
		return fmt.Errorf("%s: %w", rb, err)
	}
	names, err := selectTables(prodTables, rbTables, v.req.Tables)
	if err != nil {
		return err
	}
	if v.parents, err = cascadingParents(ctx, prod.DB()); err != nil {
		return fmt.Errorf("%s: %w", prod, err)
	}
	opts := runOptions{Tables: v.req.Tables, ChunkRows: v.req.ChunkRows, Rows: v.req.Rows, Definitions: fingerprint(prodTables, names)}
	var id string
	var resumed bool
	var started time.Time
	if err := v.writing(ctx, func() (err error) {
		if err = v.store.ensure(ctx); err == nil {
			id, resumed, started, err = v.store.begin(ctx, rb.Addr, opts, v.req.Restart, time.Now().UTC())
		}
		return err
	}); err != nil {
		return err
	}
	v.runID, v.report.RunID, v.report.Resumed, v.report.StartedAt = id, id, resumed, started
	// switchback's verify tables must have replicated before the first
	// sync point locks the marker on the target.
	if err := v.waitForStoreTables(ctx); errors.Is(err, errBudget) {
		v.report.Outcome = OutcomeIncomplete
		v.report.Reason = v.budgetReason()
		return nil
	} else if err != nil {
		return err
	}
	done, err := v.store.chunks(ctx, id)
	if err != nil {
		return err
	}
	byTable := map[string][]chunkRecord{}
	for _, c := range done {
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	v.tablesTotal = len(names)
	for _, n := range names {
		if t := prodTables[n]; t != nil {
			v.estimatedRows += t.EstimatedRows
		}
	}

	for _, name := range names {
		res := v.table(ctx, prodTables[name], rbTables[name], byTable[name])
		if err := ctx.Err(); err != nil {
			return err
		}
		v.report.Tables = append(v.report.Tables, res)
		v.report.Chunks += res.Chunks
		v.report.Rows += res.Rows
		v.tablesDone++
		if res.Status == StatusPending && res.Reason == reasonBudget {
			// Budget spent: the rest stays pending for the next run.
			for _, rest := range names[len(v.report.Tables):] {
				v.report.Tables = append(v.report.Tables, TableResult{Table: rest, Status: StatusPending, Reason: reasonBudget})
			}
			v.report.Outcome = OutcomeIncomplete
			v.report.Reason = v.budgetReason()
			return nil
		}
		if res.Status == StatusPending {
			v.report.Outcome = OutcomeRefused
			v.report.Reason = res.Table + ": " + res.Reason
			return fmt.Errorf("%w: %s", ErrRefused, v.report.Reason)
		}
	}
	v.report.Outcome, v.report.Reason = verdict(v.report.Tables)
	v.report.FinishedAt = time.Now().UTC()
	return v.writing(ctx, func() error { return v.store.finish(ctx, id, v.report) })
}

const reasonBudget = "the time budget ran out"

func (v *verifier) budgetReason() string {
	return fmt.Sprintf("stopped after %s to stay within the time budget; run again to continue run %s", v.req.Budget, v.runID)
}

// verdict is the run's outcome from its tables: differing if any table
// differs in any way, else unverified if any could not be compared, else
// equal.
func verdict(tables []TableResult) (string, string) {
	var differing, unverified []string
	for _, t := range tables {
		switch t.Status {
		case StatusEqual:
		case StatusUnverifiable, StatusNotVerified:
			unverified = append(unverified, t.Table)
		default:
			differing = append(differing, t.Table+" ("+t.Status+")")
		}
	}
	switch {
	case len(differing) > 0:
		return OutcomeDiffering, fmt.Sprintf("%d of %d tables differ: %s", len(differing), len(tables), strings.Join(differing, ", "))
	case len(unverified) > 0:
		return OutcomeUnverified, fmt.Sprintf("no difference found, but %d of %d tables could not be compared: %s", len(unverified), len(tables), strings.Join(unverified, ", "))
	}
	return OutcomeEqual, fmt.Sprintf("all %d tables are equal", len(tables))
}

// preconditions proves what every sync point relies on: the rollback
// target applies production's binlog (SQL thread running, from this
// production, without filters), in production's commit order; production
// is writable (the markers are written there); and, to compare every
// table, both logins see every table.
func (v *verifier) preconditions(ctx context.Context) error {
	prod, rb := v.req.Production, v.req.Rollback
	rs, err := rb.ReplicaStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case !rs.Configured:
		return fmt.Errorf("%w: %s does not replicate from anywhere (configure it first: switchback configure)", ErrRefused, rb)
	case !rs.SQLThreadRunning:
		// Only the error number: the message can quote row values.
		return fmt.Errorf("%w: %s: its replication applier (SQL thread) is not running (last error %d); verify never starts or stops replication — start it, then run verify again", ErrRefused, rb, rs.LastSQLErrno)
	case len(rs.Filters) > 0:
		return fmt.Errorf("%w: %s replicates with filters (%s): tables it does not apply cannot be compared, nor can verify's own markers be trusted to arrive; remove the filters", ErrRefused, rb, strings.Join(rs.Filters, ", "))
	}
	var prodID uint64
	if err := prod.DB().QueryRowContext(ctx, "SELECT @@global.server_id"+marker).Scan(&prodID); err != nil {
		return fmt.Errorf("%s: read server_id: %w", prod, err)
	}
	if rs.SourceServerID != 0 && prodID != 0 && rs.SourceServerID != prodID {
		return fmt.Errorf("%w: %s replicates from the server with server_id %d, not from %s (server_id %d)", ErrRefused, rb, rs.SourceServerID, prod, prodID)
	}
	if err := gtidDomainsPrecondition(ctx, prod, rb, rs); err != nil {
		return err
	}
	if len(v.req.Tables) == 0 {
		for _, s := range []*replication.Server{prod, rb} {
			if err := globalSelect(ctx, s); err != nil {
				return err
			}
		}
	}
	ps, err := rb.ParallelApply(ctx)
	if err != nil {
		return fmt.Errorf("%w: cannot read the rollback target's parallel-apply settings, so its commit order cannot be proven: %v", ErrRefused, err)
	}
	if ps.Workers >= 2 && ps.PreserveCommitOrder != nil && !*ps.PreserveCommitOrder {
		return fmt.Errorf("%w: %s applies with %d workers without preserving commit order, so no point of production's binlog can be pinned on it; set replica_preserve_commit_order=ON (switchback configure does)", ErrRefused, rb, ps.Workers)
	}
	var readOnly bool
	if err := prod.DB().QueryRowContext(ctx, "SELECT @@global.read_only"+marker).Scan(&readOnly); err != nil {
		return fmt.Errorf("%s: read read_only: %w", prod, err)
	}
	if readOnly {
		return fmt.Errorf("%w: %s is read-only: verify writes its progress and sync-point markers there (is this the rollback target?)", ErrRefused, prod)
	}
	return nil
}

// verifyLockName is the named lock one verify run holds on production;
// cutoverLockName is the one switchback's cutovers and configure runs hold
// (shared/replication) for their whole run.
const (
	verifyLockName  = "switchback.verify"
	cutoverLockName = "switchback.cutover"
	// cutoverLockWait is how long verify waits for a cutover's lock
	// before it stops: longer than a heartbeat probe holds it.
	cutoverLockWait = 2
)

// lockVerify takes production's verify lock in a session of its own, so
// that two runs never interleave their markers and progress; the server
// frees it when the process dies. The session also takes the cutover lock
// around each of verify's writes (see writing).
func lockVerify(ctx context.Context, prod *replication.Server) (*sql.Conn, error) {
	c, err := prod.DB().Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prod, err)
	}
	var got *int64
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)"+marker, verifyLockName).Scan(&got); err != nil {
		discard(c)
		return nil, fmt.Errorf("%s: take the verify lock: %w", prod, err)
	}
	if got == nil || *got != 1 {
		discard(c)
		return nil, fmt.Errorf("%w: another switchback verify is running against %s", ErrRefused, prod)
	}
	return c, nil
}

// writing runs write (verify's writes on production: a sync point's
// marker, a chunk's record) holding the cutover lock, so that none of them
// can land on a production a cutover has fenced: a privileged session
// writes through read_only, and the cutover would find a write after its
// fence and abort. A cutover holds the lock from start to end, so verify
// stops, resumable, while one runs.
func (v *verifier) writing(ctx context.Context, write func() error) error {
	var got *int64
	if err := v.lockConn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)"+marker, cutoverLockName, cutoverLockWait).Scan(&got); err != nil {
		return fmt.Errorf("%s: take switchback's cutover lock: %w", v.req.Production, err)
	}
	if got == nil || *got != 1 {
		return fmt.Errorf("%w: a switchback cutover or configure holds production's lock (waited %ds): verify stopped; run it again afterwards to continue", ErrRefused, cutoverLockWait)
	}
	err := write()
	if _, rerr := v.lockConn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)"+marker, cutoverLockName); rerr != nil && err == nil {
		err = fmt.Errorf("%s: release switchback's cutover lock: %w", v.req.Production, rerr)
	}
	return err
}

// waitForStoreTables waits until switchback's verify tables have
// replicated to the rollback target, then proves it applies what verify
// writes there: a fence written on production becomes visible on it.
func (v *verifier) waitForStoreTables(ctx context.Context) error {
	rb := v.req.Rollback
	if err := v.waitLag(ctx, "switchback.verify_fence"); err != nil {
		return err
	}
	deadline := time.Now().Add(v.syncTimeout())
	for {
		var n int
		err := rb.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'switchback' AND TABLE_NAME IN ('verify_fence', 'verify_marker')"+marker).Scan(&n)
		if err != nil {
			return fmt.Errorf("%s: %w", rb, err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s has not created switchback.verify_fence and verify_marker within %s of production: does it apply switchback's schema?", ErrRefused, rb, v.syncTimeout())
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	token := newToken()
	if err := v.writing(ctx, func() error {
		_, err := v.req.Production.DB().ExecContext(ctx, "REPLACE INTO switchback.verify_fence (run_id, token, written_at) VALUES (?, ?, UTC_TIMESTAMP(6))"+marker, v.runID, token)
		return err
	}); err != nil {
		return fmt.Errorf("%s: write a fence: %w", v.req.Production, err)
	}
	if _, err := v.waitVisible(ctx, "switchback.verify_fence", token); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return nil
}

func isNoSuchTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049)
}

// gtidDomainsPrecondition refuses a MariaDB replica that applies by GTID
// while production's binary log holds more than one GTID domain: MariaDB
// applies different domains in parallel and out of order, so visibility
// in the target's snapshot is no longer production's order.
func gtidDomainsPrecondition(ctx context.Context, prod, rb *replication.Server, rs replication.ReplicaStatus) error {
	if rb.Dialect != replication.MariaDB || rs.UsingGTID == "" || strings.EqualFold(rs.UsingGTID, "No") {
		return nil
	}
	var pos sql.NullString
	if err := prod.DB().QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos"+marker).Scan(&pos); err != nil {
		return fmt.Errorf("%s: read gtid_binlog_pos: %w", prod, err)
	}
	domains := map[string]bool{}
	for _, g := range strings.Split(pos.String, ",") {
		if d, _, ok := strings.Cut(strings.TrimSpace(g), "-"); ok {
			domains[d] = true
		}
	}
	if len(domains) > 1 {
		return fmt.Errorf("%w: %s applies by GTID (Using_Gtid %s) and production's binary log has %d GTID domains (%s): MariaDB applies GTID domains in parallel, out of production's order, so no point can be pinned on it; replicate by file and position (switchback configure does)", ErrRefused, rb, rs.UsingGTID, len(domains), pos.String)
	}
	return nil
}

// reGlobalSelect is a SHOW GRANTS line granting SELECT (or everything) on
// every schema.
var reGlobalSelect = regexp.MustCompile("(?i)^GRANT (.*\\bSELECT\\b.*|ALL PRIVILEGES|ALL) ON \\*\\.\\* TO ")

// globalSelect refuses a login without SELECT on *.*: information_schema
// lists only the tables a login has privileges on, so "every table" could
// silently leave some out.
func globalSelect(ctx context.Context, s *replication.Server) error {
	rows, err := s.DB().QueryContext(ctx, "SHOW GRANTS"+marker)
	if err != nil {
		return fmt.Errorf("%s: SHOW GRANTS: %w", s, err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("%s: SHOW GRANTS: %w", s, err)
		}
		if reGlobalSelect.MatchString(line) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: SHOW GRANTS: %w", s, err)
	}
	return fmt.Errorf("%w: %s: the login %q has no SELECT on *.*, so information_schema may hide tables from it and \"every table\" cannot be proven; grant it, or name the tables with --tables", ErrRefused, s, s.User)
}

// fingerprint digests the definitions of the named tables on production.
func fingerprint(tables map[string]*Table, names []string) string {
	h := md5.New()
	for _, n := range names {
		t := tables[n]
		if t == nil {
			fmt.Fprintf(h, "%s: absent\n", n)
			continue
		}
		fmt.Fprintf(h, "%s %s %s key %q\n", n, t.Type, t.Engine, t.Key)
		for _, c := range t.Columns {
			fmt.Fprintf(h, "  %q %s %v %s %s\n", c.Name, c.ColumnType, c.Nullable, c.Charset, c.Collation)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
