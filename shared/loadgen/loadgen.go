// Package loadgen is an application write load for rollback tests and the
// demo: a few workers, each on its own connection, insert rows with unique
// ids as fast as allowed, and record for every id whether the server
// acknowledged it, rejected it as read-only, or failed in some other way.
// Verify then checks zero loss on the final production: every acknowledged
// id is there and no rejected id is.
//
// The load behaves like an application behind a DNS name: the target
// function is consulted before every write, so re-pointing it (after a
// switchover or a rollback) moves the workers to the new server, and the ids
// stay unique across the move.
package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DefaultTable is the table the load writes to unless Options.Table says
// otherwise.
const DefaultTable = "shop.load_events"

// tableColumns is the load table's column list and engine.
const tableColumns = ` (
  id BIGINT PRIMARY KEY,
  worker INT NOT NULL,
  payload VARCHAR(64) NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB`

// DDL creates DefaultTable. TableDDL gives the same for another table.
const DDL = "CREATE TABLE IF NOT EXISTS " + DefaultTable + tableColumns

// TableDDL returns the CREATE TABLE IF NOT EXISTS statement of a load table
// named table ("db.table" or "table"); it fails on a name that is not a
// plain identifier.
func TableDDL(table string) (string, error) {
	q, err := quoteTable(table)
	if err != nil {
		return "", err
	}
	return "CREATE TABLE IF NOT EXISTS " + q + tableColumns, nil
}

// Defaults for Options fields left zero.
const (
	DefaultWorkers = 4
	// rejectBackoff is the pause after a read-only rejection, so a fenced
	// server does not turn the workers into a busy loop.
	rejectBackoff = 2 * time.Millisecond
	// errorBackoff is the pause after any other error or a failed connect.
	errorBackoff = 20 * time.Millisecond
	// stopGrace bounds how long Stop lets in-flight writes finish before
	// it cancels them (their outcome then becomes ambiguous: Failed).
	stopGrace = 10 * time.Second
)

// MySQL and MariaDB error numbers of a write refused by a read-only server.
const (
	ErrnoReadOnly      = 1290 // ER_OPTION_PREVENTS_STATEMENT: --read-only
	ErrnoSuperReadOnly = 1836 // ER_READ_ONLY_MODE (MySQL super_read_only)
)

// Options configures Start.
type Options struct {
	// Workers is the number of concurrent writers, each with its own
	// connection. Default 4.
	Workers int
	// Table is the table to insert into, "db.table". Default DefaultTable.
	Table string
	// Rate is the total writes per second over all workers; 0 means as
	// fast as the server allows.
	Rate int
	// FirstID is the first id written; default 1. Ids then increase by one
	// per attempted write, across all workers and re-pointings.
	FirstID int64
	// Timeline records every attempted write, with its outcome, the pool
	// it went to and when it was sent and answered, in Result.Writes (and
	// Writer.WritesSince). Off by default: it costs memory per write.
	Timeline bool
}

// Outcome is how one write ended.
type Outcome string

// Write outcomes.
const (
	OutcomeAcknowledged Outcome = "acknowledged"
	OutcomeRejected     Outcome = "rejected"
	OutcomeFailed       Outcome = "failed"
)

// Write is one attempted write, as recorded with Options.Timeline.
type Write struct {
	ID     int64 `json:"id"`
	Worker int   `json:"worker"`
	// Target is the pool target() returned for this write: which server
	// the write went to.
	Target  *sql.DB   `json:"-"`
	Outcome Outcome   `json:"outcome"`
	Sent    time.Time `json:"sent"`
	// Done is when the answer (or error) arrived: for an acknowledged
	// write, when the application learnt it was committed.
	Done time.Time `json:"done"`
}

// WriteError is a write whose outcome is unknown: it failed with an error
// that is not a read-only rejection (a lost connection, a timeout, a
// cancelled context…), so the row may or may not have been committed.
type WriteError struct {
	ID      int64  `json:"id"`
	Errno   uint16 `json:"errno,omitempty"`
	Message string `json:"message"`
}

// Result is what the load did: every attempted id, by outcome.
type Result struct {
	// Acknowledged ids: the INSERT returned success, so the server
	// committed it and the application was told so.
	Acknowledged []int64
	// Rejected ids: the INSERT failed with a read-only error (1290, or 1836
	// under super_read_only). Nothing was written.
	Rejected []int64
	// Failed writes had any other error: ambiguous outcome.
	Failed []WriteError
	// ConnectErrors counts failed attempts to get a connection (no id was
	// used for them); LastConnectError is the last one's message.
	ConnectErrors    int
	LastConnectError string
	// Duration is from Start to the snapshot, or to the last worker's exit.
	Duration time.Duration
	// Writes is every attempted write in the order their answers were
	// recorded; only with Options.Timeline.
	Writes []Write
}

// Rate returns acknowledged writes per second over Duration.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(len(r.Acknowledged)) / r.Duration.Seconds()
}

// Counts is how many writes had each outcome.
type Counts struct {
	Acknowledged int `json:"acknowledged"`
	Rejected     int `json:"rejected"`
	Failed       int `json:"failed"`
}

// Counts returns how many writes had each outcome.
func (r Result) Counts() Counts {
	return Counts{Acknowledged: len(r.Acknowledged), Rejected: len(r.Rejected), Failed: len(r.Failed)}
}

// Attempted returns how many ids were written or tried.
func (r Result) Attempted() int { return len(r.Acknowledged) + len(r.Rejected) + len(r.Failed) }

// String summarises the counts, e.g. "1200 acknowledged, 31 rejected
// (read-only), 0 failed in 2.4s (500/s)".
func (r Result) String() string {
	return fmt.Sprintf("%d acknowledged, %d rejected (read-only), %d failed in %s (%.0f/s)",
		len(r.Acknowledged), len(r.Rejected), len(r.Failed), r.Duration.Round(time.Millisecond), r.Rate())
}

// Writer is a running load. Its methods are safe for concurrent use.
type Writer struct {
	opts   Options
	target func() *sql.DB
	insert string
	start  time.Time
	nextID atomic.Int64
	slot   atomic.Int64 // pacing slots handed out, when Rate > 0

	stopping chan struct{} // closed by Stop: finish the current write and exit
	stopOnce sync.Once
	cancel   context.CancelFunc // cancels in-flight writes after stopGrace
	wg       sync.WaitGroup

	mu      sync.Mutex
	res     Result
	final   *Result
	stopped chan struct{} // closed when every worker has exited
}

// Start launches opts.Workers goroutines that insert rows into opts.Table.
// Each has its own dedicated connection (sql.Conn), taken from target(),
// which is consulted before every write: when it returns another *sql.DB,
// the worker drops its connection and takes one from the new pool; when it
// returns nil, the worker waits. Every write is one autocommit INSERT with
// a unique id. After a read-only rejection a worker backs off for 2 ms and
// keeps going, like an application that retries until its DNS name points
// at a writable server.
//
// The load runs until Stop or until ctx ends. A table name that is not a
// plain identifier makes every attempt a Failed write.
func Start(ctx context.Context, target func() *sql.DB, opts Options) *Writer {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if opts.FirstID == 0 {
		opts.FirstID = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Writer{
		opts:     opts,
		target:   target,
		start:    time.Now(),
		stopping: make(chan struct{}),
		cancel:   cancel,
		stopped:  make(chan struct{}),
	}
	w.nextID.Store(opts.FirstID - 1)
	q, err := quoteTable(opts.Table)
	if err != nil {
		// Record the misuse once, instead of spinning on it.
		w.res.Failed = append(w.res.Failed, WriteError{Message: err.Error()})
		close(w.stopped)
		w.final = &Result{Failed: w.res.Failed}
		cancel()
		return w
	}
	w.insert = "INSERT INTO " + q + " (id, worker, payload) VALUES (?, ?, ?)"
	for i := range opts.Workers {
		w.wg.Go(func() { w.work(ctx, i+1) })
	}
	go func() {
		w.wg.Wait()
		close(w.stopped)
	}()
	return w
}

// Stop tells the workers to stop after their current write, waits for them
// (cancelling writes still in flight after 10 s) and returns the final
// result. Later calls return the same result.
func (w *Writer) Stop() Result {
	w.stopOnce.Do(func() { close(w.stopping) })
	t := time.NewTimer(stopGrace)
	select {
	case <-w.stopped:
	case <-t.C:
		w.cancel()
		<-w.stopped
	}
	t.Stop()
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.final == nil {
		r := w.copyLocked()
		w.final = &r
	}
	return *w.final
}

// Snapshot returns the outcomes so far; Duration is the time since Start.
// It is safe to call while the load runs.
func (w *Writer) Snapshot() Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.final != nil {
		return *w.final
	}
	return w.copyLocked()
}

// Counts returns how many writes had each outcome so far, without copying
// the ids: cheap enough to poll.
func (w *Writer) Counts() Counts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.res.Counts()
}

func (w *Writer) copyLocked() Result {
	r := w.res
	r.Acknowledged = slices.Clone(w.res.Acknowledged)
	r.Rejected = slices.Clone(w.res.Rejected)
	r.Failed = slices.Clone(w.res.Failed)
	r.Writes = slices.Clone(w.res.Writes)
	r.Duration = time.Since(w.start)
	return r
}

// WritesSince returns the writes recorded with Options.Timeline from index
// n of Result.Writes on (nil without Timeline), so that a caller that polls
// the timeline copies only what is new.
func (w *Writer) WritesSince(n int) []Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	writes := w.res.Writes
	if w.final != nil {
		writes = w.final.Writes
	}
	if n < 0 {
		n = 0
	}
	if n >= len(writes) {
		return nil
	}
	return slices.Clone(writes[n:])
}

func (w *Writer) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// pause waits d, or less if the load is stopping or ctx ends. It reports
// whether the worker should go on.
func (w *Writer) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return !w.isStopping() && ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return !w.isStopping()
	case <-w.stopping:
		return false
	case <-ctx.Done():
		return false
	}
}

// pace waits for this worker's next slot in the shared schedule that
// spreads Rate writes per second over all workers.
func (w *Writer) pace(ctx context.Context) bool {
	if w.opts.Rate <= 0 {
		return w.pause(ctx, 0)
	}
	n := w.slot.Add(1) - 1
	due := w.start.Add(time.Duration(n) * time.Second / time.Duration(w.opts.Rate))
	return w.pause(ctx, time.Until(due))
}

// workerConn is a worker's dedicated connection and its prepared INSERT.
type workerConn struct {
	db   *sql.DB
	conn *sql.Conn
	stmt *sql.Stmt
}

func (c *workerConn) close() {
	if c.stmt != nil {
		c.stmt.Close()
	}
	if c.conn != nil {
		c.conn.Close()
	}
	*c = workerConn{}
}

func (w *Writer) work(ctx context.Context, worker int) {
	var c workerConn
	defer c.close()
	for w.pace(ctx) {
		db := w.target()
		if db == nil {
			if !w.pause(ctx, errorBackoff) {
				return
			}
			continue
		}
		if c.db != db {
			c.close()
			if err := c.open(ctx, db, w.insert); err != nil {
				w.record(func(r *Result) { r.ConnectErrors++; r.LastConnectError = err.Error() })
				if !w.pause(ctx, errorBackoff) {
					return
				}
				continue
			}
		}
		id := w.nextID.Add(1)
		sent := time.Now()
		_, err := c.stmt.ExecContext(ctx, id, worker, fmt.Sprintf("worker %d write %d", worker, id))
		wr := Write{ID: id, Worker: worker, Target: db, Sent: sent}
		if w.opts.Timeline {
			wr.Done = time.Now()
		}
		switch errno := mysqlErrno(err); {
		case err == nil:
			w.record(func(r *Result) {
				r.Acknowledged = append(r.Acknowledged, id)
				w.timeline(r, wr, OutcomeAcknowledged)
			})
		case IsReadOnly(err):
			w.record(func(r *Result) {
				r.Rejected = append(r.Rejected, id)
				w.timeline(r, wr, OutcomeRejected)
			})
			if !w.pause(ctx, rejectBackoff) {
				return
			}
		default:
			w.record(func(r *Result) {
				r.Failed = append(r.Failed, WriteError{ID: id, Errno: errno, Message: err.Error()})
				w.timeline(r, wr, OutcomeFailed)
			})
			// The connection may be broken: take a fresh one.
			c.close()
			if !w.pause(ctx, errorBackoff) {
				return
			}
		}
	}
}

func (c *workerConn) open(ctx context.Context, db *sql.DB, insert string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("loadgen: connect: %w", err)
	}
	stmt, err := conn.PrepareContext(ctx, insert)
	if err != nil {
		conn.Close()
		return fmt.Errorf("loadgen: prepare insert: %w", err)
	}
	*c = workerConn{db: db, conn: conn, stmt: stmt}
	return nil
}

// timeline appends wr with outcome o to r.Writes when Options.Timeline is
// on. It runs under w.mu (inside record).
func (w *Writer) timeline(r *Result, wr Write, o Outcome) {
	if w.opts.Timeline {
		wr.Outcome = o
		r.Writes = append(r.Writes, wr)
	}
}

func (w *Writer) record(f func(*Result)) {
	w.mu.Lock()
	f(&w.res)
	w.mu.Unlock()
}

// IsReadOnly reports whether err is a write rejected because the server is
// read-only (MySQL/MariaDB error 1290, or 1836 for super_read_only).
func IsReadOnly(err error) bool {
	n := mysqlErrno(err)
	return n == ErrnoReadOnly || n == ErrnoSuperReadOnly
}

func mysqlErrno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

var identRe = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)

// quoteTable turns "db.table" or "table" into a back-quoted name, accepting
// plain identifiers only.
func quoteTable(table string) (string, error) {
	parts := strings.Split(table, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("loadgen: table %q: want db.table or table", table)
	}
	for i, p := range parts {
		if !identRe.MatchString(p) {
			return "", fmt.Errorf("loadgen: table %q: %q is not a plain identifier (letters, digits, _ and $)", table, p)
		}
		parts[i] = "`" + p + "`"
	}
	return strings.Join(parts, "."), nil
}
