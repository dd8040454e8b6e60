package replication

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Defaults for ObserveRequest fields left zero.
const (
	DefaultProbeTimeout = 5 * time.Second
	DefaultMaxLag       = 5 * time.Second
)

// ObserveRequest names the pair to observe.
type ObserveRequest struct {
	Production *Server
	Rollback   *Server
	// RollbackFence and ProductionFence report each side's fence; nil
	// means the SQL fencer of that server.
	RollbackFence   Fencer
	ProductionFence Fencer
	// ProbeTimeout bounds the wait for the heartbeat token; 0 means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// MaxLag is the most lag (seconds behind and probe lag) that still
	// counts as ready; 0 means DefaultMaxLag.
	MaxLag time.Duration
	// SkipProbe leaves out the heartbeat probe (it writes to production).
	SkipProbe bool
	// PredictionWindow, when positive, is how long both positions are
	// watched to predict a cutover's write downtime (Observation.Prediction);
	// the probe runs meanwhile. 0 makes no prediction.
	PredictionWindow time.Duration
	// MaxWriteDowntime is the predicted write downtime above which a
	// warning says rollback --execute would wait; 0 means
	// DefaultMaxWriteDowntime.
	MaxWriteDowntime time.Duration

	// readTimeout, in tests, replaces observeReadTimeout.
	readTimeout time.Duration
}

// Observation is the state of reverse replication at one moment and the
// verdict on whether rollback is possible. Pointer fields are nil when the
// value is unknown (NULL), which is not the same as zero.
type Observation struct {
	Configured       bool     `json:"configured"`
	IORunning        bool     `json:"io_running"`
	SQLRunning       bool     `json:"sql_running"`
	IOState          string   `json:"io_state"`
	SecondsBehind    *int64   `json:"seconds_behind"`
	ProbeLagMS       *int64   `json:"probe_lag_ms"`
	BytesBehind      *int64   `json:"bytes_behind"`
	SourceFile       string   `json:"source_file"`
	SourcePosition   uint64   `json:"source_position"`
	ExecutedFile     string   `json:"executed_file"`
	ExecutedPosition uint64   `json:"executed_position"`
	LastIOErrno      int      `json:"last_io_errno"`
	LastIOError      string   `json:"last_io_error"`
	LastSQLErrno     int      `json:"last_sql_errno"`
	LastSQLError     string   `json:"last_sql_error"`
	RollbackReadOnly bool     `json:"rollback_read_only"`
	Ready            bool     `json:"ready"`
	Reasons          []string `json:"reasons"`
	// Warnings do not make the pair not ready, but a rollback must be told
	// how to handle them (writers that bypass production's fence), or they
	// make it slower (a rollback target that applies with one thread, a
	// predicted write downtime above the maximum).
	Warnings []string `json:"warnings"`
	// Prediction is how long a cutover started now would take writes
	// away; nil when none was asked for or replication is not configured.
	Prediction *DowntimePrediction `json:"write_downtime_prediction,omitempty"`
}

// Observe reads replication state on both servers, runs the heartbeat probe
// (a token written on production, timed until visible on the rollback
// target), and gives a ready verdict with human-readable reasons. It fails
// only when a server cannot be read at all; replication problems are
// reasons, not errors.
func Observe(ctx context.Context, req ObserveRequest) (Observation, error) {
	req.RollbackFence = orSQLFencer(req.RollbackFence, req.Rollback)
	req.ProductionFence = orSQLFencer(req.ProductionFence, req.Production)
	if req.ProbeTimeout == 0 {
		req.ProbeTimeout = DefaultProbeTimeout
	}
	if req.MaxLag == 0 {
		req.MaxLag = DefaultMaxLag
	}
	if req.MaxWriteDowntime == 0 {
		req.MaxWriteDowntime = DefaultMaxWriteDowntime
	}
	// A hung server answers nothing: bound the whole observation.
	wait := observeReadTimeout
	if req.readTimeout > 0 {
		wait = req.readTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, req.ProbeTimeout+req.PredictionWindow+wait)
	defer cancel()
	var o Observation
	o.Reasons, o.Warnings = []string{}, []string{}
	notReady := func(format string, args ...any) { o.Reasons = append(o.Reasons, fmt.Sprintf(format, args...)) }

	rs, err := req.Rollback.ReplicaStatus(ctx)
	if err != nil {
		return o, err
	}
	// Production's position is read after the replica's, so it is never
	// behind what the replica reports as executed.
	src, err := req.Production.BinlogPosition(ctx)
	if err != nil {
		return o, err
	}
	first := positionSample{At: time.Now(), Production: src, Executed: rs.ExecutedPosition()}
	o.SourceFile, o.SourcePosition = src.File, src.Position
	o.Configured = rs.Configured
	o.IORunning, o.SQLRunning, o.IOState = rs.IOThreadRunning, rs.SQLThreadRunning, rs.IORunning
	o.SecondsBehind = rs.SecondsBehind
	o.ExecutedFile, o.ExecutedPosition = rs.RelaySourceLogFile, rs.ExecSourceLogPos
	o.LastIOErrno, o.LastIOError = rs.LastIOErrno, rs.LastIOError
	o.LastSQLErrno, o.LastSQLError = rs.LastSQLErrno, rs.LastSQLError
	if rs.Configured && o.ExecutedFile == o.SourceFile && o.SourcePosition >= o.ExecutedPosition {
		b := int64(o.SourcePosition - o.ExecutedPosition)
		o.BytesBehind = &b
	}
	if o.RollbackReadOnly, err = req.RollbackFence.ReadOnly(ctx); err != nil {
		return o, err
	}

	if !rs.Configured {
		notReady("rollback target has no replication source configured: run switchback configure")
		for _, p := range replicaProblems(rs) {
			notReady("%s", p)
		}
	} else {
		if !o.IORunning {
			notReady("IO thread is not running (%s)", orUnknown(rs.IORunning))
		}
		if !o.SQLRunning {
			notReady("SQL thread is not running (%s)", orUnknown(rs.SQLRunning))
		}
		if o.LastIOErrno != 0 {
			notReady("IO thread error %d: %s%s", o.LastIOErrno, o.LastIOError, hintSuffix(o.LastIOErrno, o.LastIOError))
		}
		if o.LastSQLErrno != 0 {
			notReady("SQL thread error %d: %s%s", o.LastSQLErrno, o.LastSQLError, hintSuffix(o.LastSQLErrno, o.LastSQLError))
		}
		switch {
		case o.SecondsBehind == nil:
			notReady("seconds behind is NULL: replication is not applying")
		case time.Duration(*o.SecondsBehind)*time.Second > req.MaxLag:
			notReady("rollback target is %d s behind (more than %s)", *o.SecondsBehind, req.MaxLag)
		}
		for _, p := range targetProblems(ctx, req.Production, req.Rollback, rs, nil) {
			notReady("%s", p)
		}
	}
	if bypass, err := findBypassingWriters(ctx, req.Production); err != nil {
		o.Warnings = append(o.Warnings, "cannot tell whether anything on production writes through read_only: "+err.Error())
	} else if !bypass.empty() {
		o.Warnings = append(o.Warnings, "production has writers that the fence does not stop: "+bypass.describe()+"; rollback --execute refuses unless told --kill-privileged-sessions or --allow-privileged-writers")
	}
	if rs.Configured {
		if w := parallelApplyWarning(ctx, req.Rollback); w != "" {
			o.Warnings = append(o.Warnings, w)
		}
	}
	if !o.RollbackReadOnly {
		notReady("rollback target is writable: it must stay read-only (fenced) until rollback")
	}
	prodFenced, err := req.ProductionFence.ReadOnly(ctx)
	if err != nil {
		return o, err
	}
	if prodFenced {
		// Also keeps the probe from writing through read_only as a
		// privileged user, which would move a frozen production's position.
		notReady("production is read-only (fenced): a cutover is running or was interrupted")
	}
	if !req.SkipProbe && !prodFenced {
		if rs.Configured {
			lag, perr := probe(ctx, req.Production, req.Rollback, req.ProbeTimeout, nil, nil)
			switch {
			case perr != nil:
				notReady("%v", perr)
			default:
				ms := lag.Milliseconds()
				o.ProbeLagMS = &ms
				if lag > req.MaxLag {
					notReady("probe lag %d ms is more than %s", ms, req.MaxLag)
				}
			}
		}
	}
	if req.PredictionWindow > 0 && rs.Configured {
		p, err := predictAfter(ctx, req.Production, req.Rollback, first, req.PredictionWindow)
		if err != nil {
			return o, err
		}
		o.Prediction = &p
		if d, ok := p.Predicted(); !ok || d > req.MaxWriteDowntime {
			o.Warnings = append(o.Warnings, fmt.Sprintf("a cutover now would take writes away for %s, not within --max-write-downtime %s: rollback --execute waits up to --catchup-timeout for that, then refuses with nothing fenced", p, req.MaxWriteDowntime))
		}
	}
	o.Ready = len(o.Reasons) == 0
	return o, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "state unknown"
	}
	return "state " + s
}

func hintSuffix(errno int, msg string) string {
	if h := Hint(errno, msg); h != "" {
		return " — " + h
	}
	return ""
}

// observeReadTimeout is how long Observe waits for the servers' answers,
// on top of its probe and prediction window: a server that does not answer
// (hung, or a network that drops packets) makes it fail, not hang.
const observeReadTimeout = 10 * time.Second

// errProbeTimeout is the probe's token not reaching the rollback target in time.
var errProbeTimeout = errors.New("probe timed out")

// probe writes a fresh token into switchback.heartbeat on production and
// returns how long it took to become visible on the rollback target. While it
// waits it calls check, when non-nil, every 100 ms; an error from check ends
// the probe (configure uses it to fail fast on a replication error).
//
// The write is made under switchback's lock on production (held, the caller
// passes it; else taken here without waiting, only for the write, and the
// probe skipped while a cutover holds it): a privileged session writes
// through read_only, and a probe landing on a production a cutover has just
// fenced would move its frozen position.
func probe(ctx context.Context, prod, tgt *Server, timeout time.Duration, held *serverLock, check func(context.Context) error) (time.Duration, error) {
	token, key := rand.Text(), tgt.Addr
	if err := writeHeartbeat(ctx, prod, held, key, token); err != nil {
		return 0, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	lastCheck := start
	for {
		var got sql.NullString
		err := tgt.db.QueryRowContext(ctx, "SELECT token FROM "+heartbeatTable+" WHERE target = ?", key).Scan(&got)
		if err == nil && got.String == token {
			return time.Since(start), nil
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) && mysqlErrno(err) != 1146 && mysqlErrno(err) != 1049 && ctx.Err() == nil {
			return 0, fmt.Errorf("probe: read heartbeat on rollback target: %w", err)
		}
		if check != nil && time.Since(lastCheck) >= 100*time.Millisecond {
			lastCheck = time.Now()
			if err := check(ctx); err != nil {
				return 0, err
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: the probe token written on production was not visible on the rollback target after %s (replication is stalled even if seconds behind looks fine)", errProbeTimeout, timeout)
		case <-tick.C:
		}
	}
}

// writeHeartbeat writes the probe's token on production under the lock.
func writeHeartbeat(ctx context.Context, prod *Server, held *serverLock, key, token string) error {
	err := execUnderLock(ctx, prod, held,
		"INSERT INTO "+heartbeatTable+" /* switchback probe */ (target, token, written_at) VALUES (?, ?, NOW(6)) ON DUPLICATE KEY UPDATE token = VALUES(token), written_at = VALUES(written_at)",
		key, token)
	switch n := mysqlErrno(err); {
	case err == nil:
		return nil
	case errors.Is(err, ErrLocked):
		return fmt.Errorf("probe skipped: a switchback cutover or configure is running on production (%s)", lockHolder(ctx, prod))
	case errors.Is(err, errFenced) || n == errnoReadOnly:
		return errors.New("probe skipped: production is read-only (fenced)")
	case n == 1146 || n == 1049:
		return errors.New("probe skipped: switchback.heartbeat does not exist on production: run switchback configure")
	default:
		return fmt.Errorf("probe: write heartbeat on production: %w", withHint(err))
	}
}

// errFenced is execUnderLock finding production read-only.
var errFenced = errors.New("production is read-only")

// execUnderLock runs one bookkeeping write on production under switchback's
// lock (held, the caller passes it; else taken here without waiting: the
// error wraps ErrLocked while a cutover or configure runs), and only while
// production is not fenced (else errFenced): switchback's admin session
// would write through read_only and move a frozen production's position.
func execUnderLock(ctx context.Context, prod *Server, held *serverLock, query string, args ...any) error {
	lock := held
	if lock == nil {
		l, err := tryLock(ctx, prod)
		if err != nil {
			return err
		}
		defer l.release()
		lock = l
	}
	var ro int
	if err := lock.conn.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil {
		return fmt.Errorf("read production's read_only: %w", err)
	} else if ro == 1 {
		return errFenced
	}
	_, err := lock.conn.ExecContext(ctx, query, args...)
	return err
}
