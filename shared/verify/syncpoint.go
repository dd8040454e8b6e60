package verify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/replication"
)

// A sync point is one table seen at the same logical point on both
// servers: a consistent-snapshot transaction on production and one on the
// rollback target, both holding the table exactly as it was when
// production's lock on it was granted. It is taken like this (docs/verify.md
// says why each step is needed):
//
//  0. The previous sync point's marker must be visible on the rollback
//     target (waited for without any lock): a marker still in its relay
//     log would stop its applier short of this sync point's.
//  1. On the rollback target, a session takes LOCK TABLES
//     switchback.verify_marker READ: its replication applier will stop,
//     waiting for that lock, at the first write to the marker table.
//  2. On production, a session takes LOCK TABLES <table> READ (and its
//     foreign-key parents, whose cascades write it without a lock of
//     their own) with switchback.verify_fence WRITE.
//     No transaction that wrote the table is open once it is granted;
//     none can start: every change to the table is committed, and in the
//     binary log.
//  3. It rewrites the fence row (F, committed at once): every change to
//     the table is before F in production's binary log.
//  4. A second production session starts a consistent snapshot: it sees
//     the table as it is, frozen.
//  5. Another session rewrites the marker row (M, after F, with no
//     change to the table between them), then the locked one unlocks.
//     Steps 2–5 are bounded by MaxLock: a watchdog kills the session if
//     UNLOCK has not returned by then, which releases every lock it
//     holds, and the sync point is retried later.
//  6. On the rollback target, wait until F is visible. Its applier
//     commits in production's order (MariaDB always; MySQL with
//     replica_preserve_commit_order, a precondition), so everything before
//     F is committed there too; it then waits at M, behind the lock of
//     step 1, so nothing after M is.
//  7. A second target session starts a consistent snapshot and proves it
//     sees F and not M: it holds the table exactly as production's
//     snapshot does.
//  8. The target session of step 1 unlocks; replication goes on.
//
// Visibility, not binary-log positions, is the proof: a multi-threaded
// MySQL applier moves its executed position only at checkpoints.
//
// Sessions that held a lock or a snapshot are closed, never returned to
// the pool: what they hold or changed (locks, a transaction, session
// settings) ends with them, and so does it when the process dies.
type syncPoint struct {
	prod, rb *sql.Conn // each inside its consistent snapshot
}

// errLockTimeout means production's table lock (wait and hold) would have
// exceeded MaxLock: the session was killed, the sync point abandoned.
var errLockTimeout = errors.New("production lock exceeded --max-lock")

// errSyncTimeout means the rollback target did not apply a sync point's
// fence in time: the sync point is retried.
var errSyncTimeout = errors.New("sync point timed out")

func (sp *syncPoint) close() {
	for _, c := range []*sql.Conn{sp.prod, sp.rb} {
		if c != nil {
			discard(c)
		}
	}
}

// discard closes a session instead of returning it to the pool: whatever
// it holds (locks, a transaction, session settings) ends with it.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// snapshotSettings fix what changes how values print: TIMESTAMP values in
// UTC on both servers whatever their time zones, and no sql_mode that
// pads CHAR values (PAD_CHAR_TO_FULL_LENGTH).
const snapshotSettings = "SET SESSION time_zone = '+00:00', sql_mode = 'NO_ENGINE_SUBSTITUTION'"

// startSnapshot opens a session in a REPEATABLE READ consistent snapshot.
func startSnapshot(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{snapshotSettings, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		if _, err := c.ExecContext(ctx, q+marker); err != nil {
			discard(c)
			return nil, err
		}
	}
	return c, nil
}

// lockStatement is LOCK TABLES for a sync point on production: the table
// and its cascading parents (each already quoted) READ, the fence WRITE.
func lockStatement(table string, parents []string) string {
	parts := []string{table + " READ"}
	for _, p := range parents {
		parts = append(parts, p+" READ")
	}
	parts = append(parts, "switchback.verify_fence WRITE")
	return "LOCK TABLES " + strings.Join(parts, ", ") + marker
}

// takeSyncPoint takes a sync point for table (see the type's comment).
func (v *verifier) takeSyncPoint(ctx context.Context, t *Table) (sp *syncPoint, err error) {
	rb := v.req.Rollback
	fence, mark := newToken(), newToken()
	sp = &syncPoint{}
	defer func() {
		if err != nil {
			sp.close()
			sp = nil
		}
	}()

	// 0. The previous marker has been applied.
	if v.lastMarker != "" {
		if _, err := v.waitVisible(ctx, "switchback.verify_marker", v.lastMarker); err != nil {
			return sp, err
		}
	}

	// 1. Hold the target's applier at the marker write to come. The
	// session ends itself if this process freezes while holding it.
	rbLock, err := rb.DB().Conn(ctx)
	if err != nil {
		return sp, fmt.Errorf("%s: open a session: %w", rb, err)
	}
	defer discard(rbLock)
	if _, err := rbLock.ExecContext(ctx, fmt.Sprintf("SET SESSION wait_timeout = %d", int(v.syncTimeout().Seconds())+10)+marker); err != nil {
		return sp, fmt.Errorf("%s: %w", rb, err)
	}
	if _, err := rbLock.ExecContext(ctx, "LOCK TABLES switchback.verify_marker READ"+marker); err != nil {
		return sp, fmt.Errorf("%s: lock switchback.verify_marker: %w", rb, err)
	}

	// 2–5. Lock production's table for at most MaxLock.
	if err := v.writing(ctx, func() error { return v.lockAndMark(ctx, sp, t, fence, mark) }); err != nil {
		return sp, err
	}
	// 6. Wait until the fence is visible on the target.
	lastShort, err := v.waitVisible(ctx, "switchback.verify_fence", fence)
	if err != nil {
		return sp, err
	}

	// 7. The target's snapshot, proven to see F and not M.
	if sp.rb, err = startSnapshot(ctx, rb.DB()); err != nil {
		return sp, fmt.Errorf("%s: start a consistent snapshot: %w", rb, err)
	}
	seenFence, err := readToken(ctx, sp.rb, "switchback.verify_fence", v.runID)
	if err != nil {
		return sp, fmt.Errorf("%s: %w", rb, err)
	}
	seenMark, err := readToken(ctx, sp.rb, "switchback.verify_marker", v.runID)
	if err != nil {
		return sp, fmt.Errorf("%s: %w", rb, err)
	}
	if seenFence != fence || seenMark == mark {
		return sp, fmt.Errorf("%w: %s's snapshot does not sit between the sync point's fence and marker (fence seen %v, marker seen %v): its lock on switchback.verify_marker did not hold", errSyncTimeout, rb, seenFence == fence, seenMark == mark)
	}

	// 8. Let replication go on (the deferred discard ends the lock).
	if _, err := rbLock.ExecContext(ctx, "UNLOCK TABLES"+marker); err != nil {
		return sp, fmt.Errorf("%s: unlock switchback.verify_marker: %w", rb, err)
	}
	// The applier waited at the marker at most since F was last seen
	// missing.
	v.report.MaxPauseMS = max(v.report.MaxPauseMS, ms(time.Since(lastShort)))
	return sp, nil
}

func readToken(ctx context.Context, c interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table, runID string) (string, error) {
	var tok string
	err := c.QueryRowContext(ctx, "SELECT token FROM "+table+" WHERE run_id = ?"+marker, runID).Scan(&tok)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", table, err)
	}
	return tok, nil
}

// lockAndMark runs steps 2–5 of a sync point on production, killing the
// locking session if they take longer than MaxLock.
func (v *verifier) lockAndMark(ctx context.Context, sp *syncPoint, t *Table, fence, mark string) error {
	prod := v.req.Production
	if err := v.ensureKiller(ctx); err != nil {
		return err
	}
	lock, err := prod.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: open a session: %w", prod, err)
	}
	defer discard(lock)
	var id int64
	if err := lock.QueryRowContext(ctx, "SELECT CONNECTION_ID()"+marker).Scan(&id); err != nil {
		return fmt.Errorf("%s: %w", prod, err)
	}
	// Guards behind the watchdog: the server's own bound on the lock wait
	// (1 s is its minimum), and on the session should this process freeze
	// while it holds the lock.
	if _, err := lock.ExecContext(ctx, "SET SESSION lock_wait_timeout = 1, wait_timeout = 10"+marker); err != nil {
		return fmt.Errorf("%s: %w", prod, err)
	}

	var killed atomic.Bool
	start := time.Now()
	watchdog := time.AfterFunc(v.req.MaxLock, func() {
		killed.Store(true)
		kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = v.killer.ExecContext(kctx, fmt.Sprintf("KILL %d", id)+marker)
	})
	err = v.markLocked(ctx, sp, lock, t, fence, mark)
	stopped := watchdog.Stop()
	// Locked from LOCK TABLES sent to UNLOCK TABLES returned, the wait for
	// the lock included.
	v.report.MaxLockMS = max(v.report.MaxLockMS, ms(time.Since(start)))
	if !stopped || killed.Load() {
		return fmt.Errorf("%w (%s): %s", errLockTimeout, v.req.MaxLock, t.FullName())
	}
	return err
}

func (v *verifier) markLocked(ctx context.Context, sp *syncPoint, lock *sql.Conn, t *Table, fence, mark string) error {
	prod := v.req.Production
	if _, err := lock.ExecContext(ctx, lockStatement(t.quoted(), v.parents[t.FullName()])); err != nil {
		return fmt.Errorf("%s: lock %s: %w", prod, t.FullName(), err)
	}
	const rewrite = " (run_id, token, written_at) VALUES (?, ?, UTC_TIMESTAMP(6))"
	if _, err := lock.ExecContext(ctx, "REPLACE INTO switchback.verify_fence"+rewrite+marker, v.runID, fence); err != nil {
		return fmt.Errorf("%s: write the fence: %w", prod, err)
	}
	var err error
	if sp.prod, err = startSnapshot(ctx, prod.DB()); err != nil {
		return fmt.Errorf("%s: start a consistent snapshot: %w", prod, err)
	}
	// The marker is written by another session: a row event written under
	// LOCK TABLES carries the table maps of every table its session has
	// write-locked, so the fence, written that way, would otherwise make
	// the target's applier open the marker table too, and wait at the
	// fence behind the target's lock.
	if _, err := v.lockConn.ExecContext(ctx, "REPLACE INTO switchback.verify_marker"+rewrite+marker, v.runID, mark); err != nil {
		return fmt.Errorf("%s: write the marker: %w", prod, err)
	}
	// From here the marker is in production's binary log: the next sync
	// point waits for it first (step 0), whatever happens to this one.
	v.lastMarker = mark
	if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"+marker); err != nil {
		return fmt.Errorf("%s: unlock %s: %w", prod, t.FullName(), err)
	}
	return nil
}

// syncTimeout bounds how long a sync point waits for the rollback target
// to apply its fence (the target is not blocked meanwhile; the lag check
// before each sync point keeps this short).
func (v *verifier) syncTimeout() time.Duration {
	return max(2*v.req.MaxLag, 30*time.Second)
}

// waitVisible waits until the rollback target shows token in table's row
// of this run, and returns the last time it did not. It polls, from every
// millisecond up to every 50, checking the applier runs about once a
// second.
func (v *verifier) waitVisible(ctx context.Context, table, token string) (time.Time, error) {
	rb := v.req.Rollback
	deadline := time.Now().Add(v.syncTimeout())
	lastShort := time.Now()
	lastCheck := time.Now()
	pause := time.Millisecond
	for {
		got, err := readToken(ctx, rb.DB(), table, v.runID)
		if err != nil {
			return lastShort, fmt.Errorf("%s: %w", rb, err)
		}
		if got == token {
			return lastShort, nil
		}
		lastShort = time.Now()
		if lastShort.After(deadline) {
			return lastShort, fmt.Errorf("%w: %s did not apply production's %s write within %s", errSyncTimeout, rb, table, v.syncTimeout())
		}
		if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			rs, err := rb.ReplicaStatus(ctx)
			if err != nil {
				return lastShort, err
			}
			if !rs.Configured || !rs.SQLThreadRunning {
				return lastShort, fmt.Errorf("%w: %s: its replication applier (SQL thread) is not running (error %d)", ErrRefused, rb, rs.LastSQLErrno)
			}
		}
		if err := sleep(ctx, pause); err != nil {
			return lastShort, err
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// ensureKiller makes sure the lock watchdog's session answers (a proxy
// may have dropped it while idle), opening a new one when it does not.
func (v *verifier) ensureKiller(ctx context.Context) error {
	if v.killer != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := v.killer.PingContext(pctx)
		cancel()
		if err == nil {
			return nil
		}
		v.killer.Close()
		v.killer = nil
	}
	k, err := openKiller(ctx, v.req.Production)
	if err != nil {
		return err
	}
	v.killer = k
	return nil
}

// openKiller opens the session the lock watchdog kills through: one of
// its own, outside the server's small pool, so that a kill never waits
// for a pool slot the run's other sessions hold, with short network
// timeouts.
func openKiller(ctx context.Context, s *replication.Server) (*sql.DB, error) {
	cfg := s.ConnConfig()
	if cfg == nil {
		return nil, fmt.Errorf("%s: no connection configuration for the lock watchdog", s)
	}
	cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 5*time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, s.Unreachable(err)
	}
	return db, nil
}
