package replication

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Defaults for ConfigureRequest fields left zero.
const (
	DefaultReplicationUser     = "switchback_repl"
	DefaultReplicationUserHost = "%"
	DefaultRetentionHours      = 168
	DefaultWaitTimeout         = 30 * time.Second
)

// ConfigureRequest is everything Configure needs to set up reverse
// replication from production into the rollback target.
type ConfigureRequest struct {
	// Production is the new production (the replication source).
	Production *Server
	// Rollback is the rollback target (the old, -oldN cluster).
	Rollback *Server
	// RollbackFence fences the rollback target; nil means SQLFencer{Rollback}.
	RollbackFence Fencer
	// Start is the binary log coordinates on production to replicate from:
	// the green writer's coordinates after switchover. Required.
	Start BinlogPosition
	// AutoPosition uses GTID positioning instead of file/position.
	AutoPosition bool
	// SourceHost and SourcePort are how the rollback target reaches
	// production; empty means production's DSN address.
	SourceHost string
	SourcePort int
	// ReplicationUser is created on production with exactly REPLICATION
	// CLIENT and REPLICATION SLAVE, at ReplicationUserHost.
	ReplicationUser     string
	ReplicationUserHost string
	// ReplicationPassword is the replication user's password; empty means
	// generate one when a password must be set.
	ReplicationPassword string
	// RetentionHours is the binlog retention production must keep.
	RetentionHours int
	// WaitTimeout bounds the wait for both replication threads to run.
	WaitTimeout time.Duration
	// OnStep, when set, is called as each step ends (progress output).
	OnStep func(Step)
	// LockWait bounds the wait for another switchback run's lock on either
	// server; 0 means DefaultLockWait.
	LockWait time.Duration
	// ParallelWorkers is the number of applier threads set on the
	// rollback target, always with commit order preserved, before
	// replication starts; 0 means DefaultParallelWorkers, negative leaves
	// the target's settings as they are.
	ParallelWorkers int
	// Hook, when set, is called with the point's name at every kill point
	// (KillPoints): before and after each step, and on each pass of the
	// wait for the replication threads. It is a test hook
	// (shared/killpoint kills the process there); nil does nothing.
	Hook func(point string)

	// held is the pair lock of a Rollback that runs Configure for its
	// reverse path; Configure then takes none of its own.
	held *pairLock
}

// ConfigureResult reports a Configure run.
type ConfigureResult struct {
	// Outcome is "configured" (something changed), "unchanged" (a re-run
	// that found everything in place), "refused" or "failed".
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Steps   []Step `json:"steps"`
	// Source is the address the rollback target replicates from.
	Source string `json:"source"`
	// Start is the coordinates replication was set up from.
	StartFile     string `json:"start_file"`
	StartPosition uint64 `json:"start_position"`
	AutoPosition  bool   `json:"auto_position"`
}

// Configure outcomes.
const (
	OutcomeConfigured = "configured"
	OutcomeUnchanged  = "unchanged"
	OutcomeRefused    = "refused"
	OutcomeFailed     = "failed"
)

// switchback's own schema on production. It replicates to the rollback
// target like any other schema.
const (
	metaSchema        = "switchback"
	heartbeatTable    = "switchback.heartbeat"
	sourceRecordTable = "switchback.rollback_source"
	cutoverTable      = "switchback.cutover"
	baselineTable     = "switchback.target_baseline"
)

var metaDDL = []string{
	"CREATE DATABASE IF NOT EXISTS switchback /* switchback */ CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
	`CREATE TABLE IF NOT EXISTS switchback.heartbeat /* switchback */ (
  target VARCHAR(255) NOT NULL PRIMARY KEY,
  token CHAR(32) NOT NULL,
  written_at TIMESTAMP(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
	`CREATE TABLE IF NOT EXISTS switchback.rollback_source /* switchback */ (
  target VARCHAR(255) NOT NULL PRIMARY KEY,
  source_host VARCHAR(255) NOT NULL,
  source_port INT NOT NULL,
  replication_user VARCHAR(128) NOT NULL,
  start_file VARCHAR(255) NOT NULL,
  start_position BIGINT UNSIGNED NOT NULL,
  auto_position TINYINT NOT NULL,
  configured_at TIMESTAMP(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
	`CREATE TABLE IF NOT EXISTS switchback.cutover /* switchback */ (
  old_production VARCHAR(255) NOT NULL PRIMARY KEY,
  rollback_target VARCHAR(255) NOT NULL,
  state VARCHAR(16) NOT NULL,
  production_file VARCHAR(255) NOT NULL DEFAULT '',
  production_position BIGINT UNSIGNED NOT NULL DEFAULT 0,
  promoted_file VARCHAR(255) NOT NULL DEFAULT '',
  promoted_position BIGINT UNSIGNED NOT NULL DEFAULT 0,
  started_at TIMESTAMP(6) NOT NULL,
  finished_at TIMESTAMP(6) NULL,
  diverged_to VARCHAR(300) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
	`CREATE TABLE IF NOT EXISTS switchback.target_baseline /* switchback */ (
  target VARCHAR(255) NOT NULL PRIMARY KEY,
  server_id BIGINT UNSIGNED NOT NULL,
  gtid_state TEXT NOT NULL,
  binlog_file VARCHAR(255) NOT NULL,
  binlog_position BIGINT UNSIGNED NOT NULL,
  recorded_at TIMESTAMP(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
}

// sourceRecord is what Configure writes on production before it points the
// rollback target at it, so a re-run can tell "same coordinates" from
// "different coordinates" after replication has moved on.
type sourceRecord struct {
	Host         string
	Port         int
	User         string
	Start        BinlogPosition
	AutoPosition bool
}

func (r *ConfigureRequest) defaults() error {
	if r.Production == nil || r.Rollback == nil {
		return errors.New("configure needs both a production and a rollback target")
	}
	if err := r.Start.Validate(); err != nil {
		return err
	}
	r.RollbackFence = orSQLFencer(r.RollbackFence, r.Rollback)
	if r.SourceHost == "" || r.SourcePort == 0 {
		h, p := r.Production.HostPort()
		if r.SourceHost == "" {
			r.SourceHost = h
		}
		if r.SourcePort == 0 {
			r.SourcePort = p
		}
	}
	if r.ReplicationUser == "" {
		r.ReplicationUser = DefaultReplicationUser
	}
	if r.ReplicationUserHost == "" {
		r.ReplicationUserHost = DefaultReplicationUserHost
	}
	if r.RetentionHours == 0 {
		r.RetentionHours = DefaultRetentionHours
	}
	if r.RetentionHours < 1 {
		return fmt.Errorf("retention hours %d must be at least 1", r.RetentionHours)
	}
	if r.WaitTimeout == 0 {
		r.WaitTimeout = DefaultWaitTimeout
	}
	if r.LockWait == 0 {
		r.LockWait = DefaultLockWait
	}
	if r.ParallelWorkers == 0 {
		r.ParallelWorkers = DefaultParallelWorkers
	}
	if r.ParallelWorkers > MaxParallelWorkers {
		return fmt.Errorf("parallel workers %d is more than %d", r.ParallelWorkers, MaxParallelWorkers)
	}
	for _, v := range []struct{ name, val string }{
		{"replication user", r.ReplicationUser}, {"replication user host", r.ReplicationUserHost},
		{"replication password", r.ReplicationPassword},
	} {
		if _, err := quoteString(v.val); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
	}
	return nil
}

// Configure sets up verified reverse replication from production into the
// rollback target: fence the target read-only, ensure the replication user,
// ensure binlog retention, create switchback's heartbeat schema, set
// parallel apply with commit order preserved on the target (before
// replication starts; never failing), point the target at production from
// the given coordinates and start it, and wait until both replication
// threads run without error.
//
// Every step is idempotent: a re-run with the same request changes nothing
// and reports "unchanged". A rollback target that already replicates from
// another source, or from other coordinates, is refused before anything is
// changed (the error wraps ErrRefused).
func Configure(ctx context.Context, req ConfigureRequest) (ConfigureResult, error) {
	res := ConfigureResult{StartFile: req.Start.File, StartPosition: req.Start.Position, AutoPosition: req.AutoPosition}
	if err := req.defaults(); err != nil {
		res.Outcome, res.Reason = OutcomeFailed, err.Error()
		return res, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	res.Source = fmt.Sprintf("%s:%d", req.SourceHost, req.SourcePort)
	if req.held == nil {
		callHook(req.Hook, "configure/lock:before")
		lock, err := lockPair(ctx, req.Production, req.Rollback, req.LockWait)
		if err != nil {
			res.Outcome, res.Reason = OutcomeRefused, strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
			if !errors.Is(err, ErrRefused) {
				res.Outcome = OutcomeFailed
			}
			res.Steps = []Step{}
			return res, err
		}
		defer lock.release()
		req.held = lock
		callHook(req.Hook, "configure/lock:held")
	}
	c := &configurer{req: req, runner: stepRunner{onStep: req.OnStep}}

	callHook(req.Hook, "configure/check-target:before")
	err := c.runner.run(ctx, "check rollback target", c.preflight)
	if err != nil {
		res.Steps = c.runner.steps
		if errors.Is(err, ErrRefused) {
			res.Outcome, res.Reason = OutcomeRefused, strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
			return res, err
		}
		res.Outcome, res.Reason = OutcomeFailed, err.Error()
		return res, err
	}
	callHook(req.Hook, "configure/check-target:after")
	steps := []struct {
		name   string
		fn     func(context.Context) (StepOutcome, string, error)
		points [2]string // the kill points before and after it
	}{
		{"fence rollback target read-only", c.fence, [2]string{"configure/fence-target:before", "configure/fence-target:after"}},
		{"ensure replication user on production", c.ensureUser, [2]string{"configure/ensure-user:before", "configure/ensure-user:after"}},
		{"ensure binlog retention on production", c.ensureRetention, [2]string{"configure/ensure-retention:before", "configure/ensure-retention:after"}},
		{"ensure heartbeat schema on production", c.ensureSchema, [2]string{"configure/ensure-schema:before", "configure/ensure-schema:after"}},
		{"record rollback target's own transactions", c.recordBaseline, [2]string{"configure/record-baseline:before", "configure/record-baseline:after"}},
		{"ensure parallel apply on rollback target", c.ensureParallel, [2]string{"configure/ensure-parallel:before", "configure/ensure-parallel:after"}},
		{"set source and start replication", c.setSource, [2]string{"configure/set-source:before", "configure/set-source:after"}},
		{"wait for replication threads", c.waitRunning, [2]string{"configure/wait-threads:before", "configure/wait-threads:after"}},
	}
	for i, s := range steps {
		callHook(req.Hook, s.points[0])
		err := c.runner.run(ctx, s.name, s.fn)
		if err == nil {
			callHook(req.Hook, s.points[1])
		}
		if err != nil {
			for _, rest := range steps[i+1:] {
				c.runner.add(Step{Name: rest.name, Outcome: StepSkipped})
			}
			res.Steps = c.runner.steps
			res.Outcome, res.Reason = OutcomeFailed, err.Error()
			return res, err
		}
	}
	res.Steps = c.runner.steps
	res.Outcome = OutcomeUnchanged
	if c.runner.changed() {
		res.Outcome = OutcomeConfigured
	}
	return res, nil
}

// configurer holds the state one Configure run carries between steps.
type configurer struct {
	req    ConfigureRequest
	runner stepRunner
	// alreadyConfigured: the rollback target already replicates from
	// production at the requested coordinates.
	alreadyConfigured bool
	// recorded: production holds the start coordinates of that configuration.
	recorded bool
	status   ReplicaStatus
	password string
}

func (c *configurer) targetKey() string { return c.req.Rollback.Addr }

// check refuses start coordinates that cannot be right (a position the
// dialects cannot hold, or one that is not a transaction boundary on
// production) and a rollback target that replicates from somewhere else or
// from other coordinates. It changes nothing.
func (c *configurer) check(ctx context.Context) (StepOutcome, string, error) {
	if err := checkPositionLimit(c.req.Start, c.req.Production.Dialect, c.req.Rollback.Dialect); err != nil {
		return "", "", err
	}
	outcome, detail, err := c.checkTarget(ctx)
	if err != nil {
		return "", "", err
	}
	if !c.alreadyConfigured {
		// Writes made on the rollback target are found in its own binlog
		// (see errantTransactions); --reverse replicates from it.
		if _, err := c.req.Rollback.BinlogPosition(ctx); err != nil {
			return "", "", fmt.Errorf("%w: the rollback target must write a binary log: switchback finds writes made on it there, and --reverse replicates from it; turn on log_bin (on Aurora: binlog_format in its DB cluster parameter group) (%w)", ErrRefused, err)
		}
	}
	if c.recorded {
		// Replication already runs from these recorded coordinates, which
		// were checked when it was set up; their file may be purged by now.
		return outcome, detail, nil
	}
	// The same rule holds with GTID auto-position: the position is what
	// MariaDB translates to a GTID position, and what is recorded.
	proof, err := proveStart(ctx, c.req.Production, c.req.Start)
	if err != nil {
		return "", "", err
	}
	return outcome, detail + "; " + proof, nil
}

// checkTarget refuses a rollback target that replicates from somewhere
// else or from other coordinates. It changes nothing.
func (c *configurer) checkTarget(ctx context.Context) (StepOutcome, string, error) {
	rs, err := c.req.Rollback.ReplicaStatus(ctx)
	if err != nil {
		return "", "", err
	}
	c.status = rs
	// Another connection (MariaDB named connection, MySQL channel) would
	// keep applying a third server's writes after a rollback.
	if err := otherConnectionsRefusal(c.req.Rollback, rs); err != nil {
		return "", "", err
	}
	if !rs.Configured {
		if err := c.refusePromoted(ctx); err != nil {
			return "", "", err
		}
		return StepAlreadyDone, "rollback target has no replication source configured", nil
	}
	want := fmt.Sprintf("%s:%d", c.req.SourceHost, c.req.SourcePort)
	have := fmt.Sprintf("%s:%d", rs.SourceHost, rs.SourcePort)
	if !strings.EqualFold(have, want) {
		return "", "", fmt.Errorf("%w: rollback target already replicates from %s, not from production (%s); reset its replication first if that is intended (%s)", ErrRefused, have, want, resetHint(c.req.Rollback))
	}
	if rs.SourceUser != c.req.ReplicationUser {
		return "", "", fmt.Errorf("%w: rollback target replicates from production as user %q, not %q", ErrRefused, rs.SourceUser, c.req.ReplicationUser)
	}
	rec, err := c.readRecord(ctx)
	if err != nil {
		return "", "", err
	}
	want = describeStart(c.req.Start, c.req.AutoPosition)
	switch {
	case rec != nil && (rec.Host != c.req.SourceHost || rec.Port != c.req.SourcePort || rec.User != c.req.ReplicationUser):
		// The record is about another setup; judge by the status alone below.
	case rec != nil:
		if rec.Start != c.req.Start || rec.AutoPosition != c.req.AutoPosition {
			return "", "", fmt.Errorf("%w: rollback target was configured from %s, not %s; reset its replication first to start over from other coordinates (%s)",
				ErrRefused, describeStart(rec.Start, rec.AutoPosition), want, resetHint(c.req.Rollback))
		}
		c.alreadyConfigured, c.recorded = true, true
		return StepAlreadyDone, "rollback target already replicates from production, configured from " + want, nil
	}
	// No record: accept only a configuration that has not moved from the
	// requested coordinates yet.
	if !c.req.AutoPosition && rs.SourceLogFile == c.req.Start.File && rs.ReadSourceLogPos == c.req.Start.Position {
		c.alreadyConfigured = true
		return StepAlreadyDone, "rollback target already points at production at " + want, nil
	}
	return "", "", fmt.Errorf("%w: rollback target already replicates from production but switchback has no record of its start coordinates (it has read up to %s:%d); reset its replication first (%s) to configure it from %s",
		ErrRefused, rs.SourceLogFile, rs.ReadSourceLogPos, resetHint(c.req.Rollback), want)
}

// refusePromoted refuses a rollback target that a switchback cutover from
// this production promoted: it is writable and records the completed
// cutover. Configuring it as a replica again (a duplicated or late
// coordinates event) would fence the server that now takes the writes.
func (c *configurer) refusePromoted(ctx context.Context) error {
	on, err := c.req.RollbackFence.ReadOnly(ctx)
	if err != nil || on {
		return err
	}
	var finished sql.NullString
	err = c.req.Rollback.db.QueryRowContext(ctx,
		"SELECT finished_at FROM "+cutoverTable+" WHERE old_production = ? AND state = ?", c.req.Production.Addr, cutoverCompleted).Scan(&finished)
	switch n := mysqlErrno(err); {
	case errors.Is(err, sql.ErrNoRows), n == 1146, n == 1049:
		return nil
	case err != nil:
		return fmt.Errorf("%s: read %s: %w", c.req.Rollback, cutoverTable, err)
	}
	return fmt.Errorf("%w: the rollback target is writable and became production in a switchback cutover from this production (completed %s): configuring it as a replica again would fence it and take the application's writes away; if it really must follow this production again, fence it by hand first", ErrRefused, finished.String)
}

// resetHint names the statements that clear s's replication source.
func resetHint(s *Server) string {
	var parts []string
	for _, st := range s.Dialect.ResetSource() {
		parts = append(parts, strings.TrimSuffix(st.Display, " /* switchback */"))
	}
	return strings.Join(parts, "; ")
}

func describeStart(p BinlogPosition, auto bool) string {
	s := p.String()
	if auto {
		s += " (GTID auto-position)"
	}
	return s
}

func (c *configurer) readRecord(ctx context.Context) (*sourceRecord, error) {
	var r sourceRecord
	var auto int
	err := c.req.Production.db.QueryRowContext(ctx,
		"SELECT source_host, source_port, replication_user, start_file, start_position, auto_position FROM "+sourceRecordTable+" WHERE target = ?",
		c.targetKey()).Scan(&r.Host, &r.Port, &r.User, &r.Start.File, &r.Start.Position, &auto)
	switch n := mysqlErrno(err); {
	case err == nil:
		r.AutoPosition = auto == 1
		return &r, nil
	case errors.Is(err, sql.ErrNoRows), n == 1146 /* no such table */, n == 1049 /* no such database */ :
		return nil, nil
	default:
		return nil, fmt.Errorf("production at %s: read %s: %w", c.req.Production.Addr, sourceRecordTable, err)
	}
}

func (c *configurer) fence(ctx context.Context) (StepOutcome, string, error) {
	on, err := c.req.RollbackFence.ReadOnly(ctx)
	if err != nil {
		return "", "", err
	}
	if on {
		return StepAlreadyDone, "rollback target is read-only", nil
	}
	if err := c.req.RollbackFence.SetReadOnly(ctx, true); err != nil {
		return "", "", err
	}
	if on, err = c.req.RollbackFence.ReadOnly(ctx); err != nil {
		return "", "", err
	} else if !on {
		return "", "", errors.New("rollback target still reports read_only OFF after fencing")
	}
	return StepDone, "rollback target set read-only", nil
}

func (c *configurer) ensureUser(ctx context.Context) (StepOutcome, string, error) {
	prod := c.req.Production
	user, host := c.req.ReplicationUser, c.req.ReplicationUserHost
	account := fmt.Sprintf("'%s'@'%s'", user, host)
	grants, exists, err := showGrants(ctx, prod, user, host)
	if err != nil {
		return "", "", err
	}
	var did []string
	if !exists {
		c.password = c.req.ReplicationPassword
		origin := "as provided"
		if c.password == "" {
			c.password, origin = generatePassword(), "generated"
		}
		if err := runSecret(ctx, prod, c.userInClear(ctx), whatSetPassword, createUserStatements(prod.Dialect, user, host, c.password)...); err != nil {
			return "", "", err
		}
		return StepDone, fmt.Sprintf("created %s with REPLICATION SLAVE, REPLICATION CLIENT (password %s)", account, origin), nil
	}
	if extra, ok := replicationGrantsExact(grants); !ok {
		for _, st := range regrantStatements(user, host) {
			if err := prod.exec(ctx, st); err != nil {
				return "", "", err
			}
		}
		did = append(did, "grants reset to exactly REPLICATION SLAVE, REPLICATION CLIENT (had: "+strings.Join(extra, "; ")+")")
	}
	switch {
	case c.alreadyConfigured:
		// The rollback target already logs in with the current password.
	case !c.sendsPassword(ctx, true):
		c.password = c.req.ReplicationPassword
	default:
		c.password = c.req.ReplicationPassword
		origin := "as provided"
		if c.password == "" {
			if n := replicasUsing(ctx, prod, user); n > 0 {
				return "", "", fmt.Errorf("%s exists and %d connected replica(s) use it: switchback will not change its password under them; set SWITCHBACK_REPLICATION_PASSWORD to its current password", account, n)
			}
			c.password, origin = generatePassword(), "generated"
		}
		if err := runSecret(ctx, prod, c.userInClear(ctx), whatSetPassword, alterPasswordStatement(prod.Dialect, user, host, c.password)); err != nil {
			return "", "", err
		}
		did = append(did, "password set ("+origin+")")
	}
	if len(did) == 0 {
		return StepAlreadyDone, account + " exists with exactly REPLICATION SLAVE, REPLICATION CLIENT", nil
	}
	return StepDone, account + ": " + strings.Join(did, "; "), nil
}

// sendsPassword reports whether ensureUser sends a password to production:
// it creates the user, or sets the password of an existing user that the
// rollback target does not already log in as and that the requested
// password does not open.
func (c *configurer) sendsPassword(ctx context.Context, exists bool) bool {
	switch {
	case !exists:
		return true
	case c.alreadyConfigured:
		return false
	case c.req.ReplicationPassword != "" && loginWorks(ctx, c.req.Production, c.req.ReplicationUser, c.req.ReplicationPassword):
		return false
	}
	return true
}

// replicasUsing counts the replicas connected to s as user (binlog dump
// threads). It returns 0 when the process list cannot be read.
func replicasUsing(ctx context.Context, s *Server, user string) int {
	var n int
	if err := s.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.processlist WHERE user = ? AND command LIKE 'Binlog Dump%'", user).Scan(&n); err != nil {
		return 0
	}
	return n
}

// loginWorks reports whether user/password can log in to the server.
func loginWorks(ctx context.Context, s *Server, user, password string) bool {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, password, "tcp", s.Addr
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return false
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	return db.PingContext(ctx) == nil
}

func (c *configurer) ensureRetention(ctx context.Context) (StepOutcome, string, error) {
	prod := c.req.Production
	found, d, err := readRetention(ctx, prod)
	if err != nil {
		return "", "", err
	}
	want := float64(c.req.RetentionHours)
	foundText := found.String()
	if found.Covers(want) {
		return StepAlreadyDone, fmt.Sprintf("found %s, covers %d h", foundText, c.req.RetentionHours), nil
	}
	sts, err := d.SetRetention(c.req.RetentionHours)
	if err != nil {
		return "", "", err
	}
	for _, st := range sts {
		if err := prod.exec(ctx, st); err != nil {
			return "", "", err
		}
	}
	return StepDone, fmt.Sprintf("found %s; set %d h", foundText, c.req.RetentionHours), nil
}

// readRetention reads production's binlog retention and returns the
// dialect whose statements manage it. A server forced to an Aurora dialect
// that lacks mysql.rds_show_configuration (a self-managed production next
// to an Aurora rollback target) falls back to its detected dialect.
func readRetention(ctx context.Context, s *Server) (Retention, Dialect, error) {
	d := s.Dialect
	st := d.ShowRetention()
	cols, rows, err := s.queryRows(ctx, st)
	if err != nil && d.IsAurora() && mysqlErrno(err) == 1305 /* no such procedure */ {
		if detected, derr := Detect(s.Info); derr == nil && !detected.IsAurora() {
			d = detected
			cols, rows, err = s.queryRows(ctx, d.ShowRetention())
		}
	}
	if err != nil {
		return Retention{}, d, err
	}
	r, err := ParseRetention(d, cols, rows)
	return r, d, err
}

func (c *configurer) ensureSchema(ctx context.Context) (StepOutcome, string, error) {
	// The rollback target gets the schema through replication. If it lacks
	// it while production has it (configured again from later
	// coordinates), the tables are created again so that they replicate.
	onTarget, err := metaTables(ctx, c.req.Rollback)
	if err != nil {
		return "", "", err
	}
	created, err := ensureMetaSchema(ctx, c.req.Production, onTarget < len(metaTableNames))
	if err != nil {
		return "", "", err
	}
	if !created {
		return StepAlreadyDone, "switchback.heartbeat, rollback_source, cutover and target_baseline exist", nil
	}
	return StepDone, "created switchback.heartbeat, rollback_source, cutover and target_baseline (they replicate to the rollback target)", nil
}

// metaTableNames are the tables of switchback's schema.
var metaTableNames = []string{"heartbeat", "rollback_source", "cutover", "target_baseline"}

// metaTables counts switchback's tables on s.
func metaTables(ctx context.Context, s *Server) (int, error) {
	var n int
	args := []any{metaSchema}
	for _, t := range metaTableNames {
		args = append(args, t)
	}
	err := s.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name IN (?"+strings.Repeat(", ?", len(metaTableNames)-1)+")",
		args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("%s: look up switchback schema: %w", s, err)
	}
	return n, nil
}

// ensureMetaSchema creates switchback's schema on s where any of it is
// missing, and reports whether it ran the DDL. On production it replicates
// to the rollback target like any other schema. With recreate, tables that
// exist are dropped and created again: MariaDB does not log a CREATE TABLE
// IF NOT EXISTS that finds its table, so only that reaches a rollback
// target that lacks them (their rows are switchback's own bookkeeping).
func ensureMetaSchema(ctx context.Context, s *Server, recreate bool) (bool, error) {
	n, err := metaTables(ctx, s)
	if err != nil {
		return false, err
	}
	if n == len(metaTableNames) && !recreate {
		return false, nil
	}
	ddl := metaDDL
	if n > 0 && recreate {
		drop := "DROP TABLE IF EXISTS switchback.heartbeat, switchback.rollback_source, switchback.cutover, switchback.target_baseline /* switchback */"
		ddl = append([]string{metaDDL[0], drop}, metaDDL[1:]...)
	}
	for _, ddl := range ddl {
		if err := s.exec(ctx, Statement{SQL: ddl, Display: firstLine(ddl)}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// recordBaseline records, on production, the rollback target's own
// transactions before it replicates, so that later writes made on it (by a
// user that bypasses read_only) can be told apart. An existing record is
// kept: re-recording it would hide writes made since.
func (c *configurer) recordBaseline(ctx context.Context) (StepOutcome, string, error) {
	existing, err := readBaseline(ctx, c.req.Production, c.req.Rollback)
	if err != nil {
		return "", "", err
	}
	if existing != nil && c.alreadyConfigured {
		return StepAlreadyDone, "recorded at configure: server id " + strconv.FormatUint(existing.ServerID, 10) + ", binlog " + existing.Binlog.String(), nil
	}
	if c.alreadyConfigured {
		return StepSkipped, "replication was set up before switchback recorded the rollback target's own transactions: writes of its own are checked against production's GTIDs", nil
	}
	b, err := readBaselineNow(ctx, c.req.Rollback)
	if err != nil {
		return "", "", err
	}
	if err := recordBaseline(ctx, c.req.Production, c.req.Rollback, b); err != nil {
		return "", "", err
	}
	return StepDone, "server id " + strconv.FormatUint(b.ServerID, 10) + ", binlog " + b.Binlog.String(), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func (c *configurer) setSource(ctx context.Context) (StepOutcome, string, error) {
	tgt := c.req.Rollback
	if c.alreadyConfigured {
		if !c.recorded {
			// Pointed at these coordinates by hand: record them, so a re-run
			// still knows them once replication has moved on.
			if err := c.writeRecord(ctx); err != nil {
				return "", "", err
			}
		}
		rs, err := tgt.ReplicaStatus(ctx)
		if err != nil {
			return "", "", err
		}
		if rs.IOThreadRunning && rs.SQLThreadRunning {
			if !c.recorded {
				return StepDone, "replication already running from " + describeStart(c.req.Start, c.req.AutoPosition) + "; recorded its start coordinates", nil
			}
			return StepAlreadyDone, "replication already running from " + describeStart(c.req.Start, c.req.AutoPosition), nil
		}
		if err := tgt.exec(ctx, tgt.Dialect.StartReplication()); err != nil {
			return "", "", err
		}
		return StepDone, "replication was configured but stopped; started it", nil
	}
	// The password goes on a session that keeps it out of the server's
	// logs; it is opened before anything changes.
	ss, err := openSecretSession(ctx, tgt, c.sourceInClear(ctx), whatSetSource)
	if err != nil {
		return "", "", err
	}
	defer ss.close()
	if err := c.writeRecord(ctx); err != nil {
		return "", "", err
	}
	if c.status.Configured {
		// Same source and coordinates but nothing read yet; start afresh.
		for _, st := range tgt.Dialect.ResetSource() {
			if err := tgt.exec(ctx, st); err != nil {
				return "", "", err
			}
		}
	}
	if c.req.AutoPosition && tgt.Dialect == MariaDB {
		// MariaDB GTIDs are not MySQL's auto-position: translate the
		// coordinates to the GTID position production had there, exactly.
		var gtid sql.NullString
		if err := c.req.Production.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", c.req.Start.File, c.req.Start.Position).Scan(&gtid); err != nil || !gtid.Valid {
			if err == nil {
				err = errors.New("production has no GTID position for these coordinates (file purged or position not at an event boundary)")
			}
			return "", "", fmt.Errorf("production at %s: BINLOG_GTID_POS(%s): %w", c.req.Production.Addr, c.req.Start, err)
		}
		if _, err := tgt.db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", gtid.String); err != nil {
			return "", "", tgt.stmtError(Statement{Display: "SET GLOBAL gtid_slave_pos = '" + gtid.String + "'"}, err)
		}
	}
	sts, err := tgt.Dialect.SetSource(SourceParams{
		Host: c.req.SourceHost, Port: c.req.SourcePort, User: c.req.ReplicationUser, Password: c.password,
		File: c.req.Start.File, Position: c.req.Start.Position, AutoPosition: c.req.AutoPosition,
	}, tgt.Info)
	if err != nil {
		return "", "", err
	}
	sts = append(sts, tgt.Dialect.StartReplication())
	for _, st := range sts {
		if err := ss.exec(ctx, st); err != nil {
			return "", "", err
		}
	}
	return StepDone, fmt.Sprintf("replicating from %s:%d as %s from %s", c.req.SourceHost, c.req.SourcePort, c.req.ReplicationUser, describeStart(c.req.Start, c.req.AutoPosition)), nil
}

func (c *configurer) writeRecord(ctx context.Context) error {
	auto := 0
	if c.req.AutoPosition {
		auto = 1
	}
	_, err := c.req.Production.db.ExecContext(ctx,
		"REPLACE INTO "+sourceRecordTable+" /* switchback */ (target, source_host, source_port, replication_user, start_file, start_position, auto_position, configured_at) VALUES (?, ?, ?, ?, ?, ?, ?, NOW(6))",
		c.targetKey(), c.req.SourceHost, c.req.SourcePort, c.req.ReplicationUser, c.req.Start.File, c.req.Start.Position, auto)
	if err != nil {
		return fmt.Errorf("production at %s: record start coordinates in %s: %w", c.req.Production.Addr, sourceRecordTable, err)
	}
	return nil
}

// waitRunning polls the rollback target until both replication threads run
// with no error, or WaitTimeout passes. After a fresh start it also proves
// replication end to end: a heartbeat token written on production must
// arrive, since a thread can say "Yes" for a moment before the source
// rejects the coordinates. A re-run that found replication running writes
// nothing.
func (c *configurer) waitRunning(ctx context.Context) (StepOutcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.req.WaitTimeout)
	defer cancel()
	fresh := c.runner.changedStep("set source and start replication")
	checkErrors := func(ctx context.Context) error {
		rs, err := c.req.Rollback.ReplicaStatus(ctx)
		if err != nil {
			return err
		}
		return replicationError(rs)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var rs ReplicaStatus
	for {
		callHook(c.req.Hook, "configure/wait-threads:wait")
		var err error
		rs, err = c.req.Rollback.ReplicaStatus(ctx)
		if err != nil && ctx.Err() == nil {
			return "", "", err
		}
		if err == nil {
			if rerr := replicationError(rs); rerr != nil && !c.reconnecting(rs) {
				return "", "", rerr
			}
			if rs.IOThreadRunning && rs.SQLThreadRunning {
				break
			}
		}
		select {
		case <-ctx.Done():
			if rerr := replicationError(rs); rerr != nil {
				return "", "", rerr
			}
			return "", "", fmt.Errorf("replication threads not running after %s (IO %q, SQL %q)", c.req.WaitTimeout, rs.IORunning, rs.SQLRunning)
		case <-tick.C:
		}
	}
	if !fresh {
		return StepAlreadyDone, "IO and SQL threads running, " + describeLag(rs.SecondsBehind), nil
	}
	callHook(c.req.Hook, "configure/wait-threads:probe")
	lag, err := probe(ctx, c.req.Production, c.req.Rollback, time.Until(deadlineOf(ctx)), c.req.held.on(c.req.Production), checkErrors)
	if err != nil {
		return "", "", err
	}
	return StepDone, fmt.Sprintf("IO and SQL threads running; a heartbeat written on production arrived in %d ms", lag.Milliseconds()), nil
}

// reconnecting reports whether the IO thread is retrying a connection to
// production that it lost or could not make (production restarted, or the
// network dropped it): it connected before (it knows the source's server
// id), or its source is production's own address. Within the wait that is
// not a failure; a source never reached elsewhere (a wrong port) still
// fails at once.
func (c *configurer) reconnecting(rs ReplicaStatus) bool {
	if rs.LastSQLErrno != 0 || !strings.EqualFold(rs.IORunning, "Connecting") ||
		(rs.LastIOErrno != errnoConnectFailed && rs.LastIOErrno != errnoLostConnection) {
		return false
	}
	host, port := c.req.Production.HostPort()
	return rs.SourceServerID != 0 || (rs.SourcePort == port && sameHost(rs.SourceHost, host))
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func describeLag(s *int64) string {
	if s == nil {
		return "lag unknown"
	}
	return fmt.Sprintf("%d s behind", *s)
}

// ReplicationError is an error a replica thread reported.
type ReplicationError struct {
	Thread  string // "IO" or "SQL"
	Errno   int
	Message string
}

func (e *ReplicationError) Error() string {
	return fmt.Sprintf("replication %s thread error %d: %s", e.Thread, e.Errno, e.Message)
}

// replicationError returns the thread error in rs with advice, or nil.
func replicationError(rs ReplicaStatus) error {
	var e *ReplicationError
	switch {
	case rs.LastIOErrno != 0:
		e = &ReplicationError{Thread: "IO", Errno: rs.LastIOErrno, Message: rs.LastIOError}
	case rs.LastSQLErrno != 0:
		e = &ReplicationError{Thread: "SQL", Errno: rs.LastSQLErrno, Message: rs.LastSQLError}
	default:
		return nil
	}
	if h := Hint(e.Errno, e.Message); h != "" {
		return &HintedError{Err: e, Hint: h}
	}
	return e
}

// generatePassword returns a random password (26 characters, 130 bits).
func generatePassword() string { return rand.Text() }
