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
// rollback target, both holding the table exactly as of one position P of
// production's binary log. It is taken like this (docs/verify.md says why
// each step is needed):
//
//  1. On the rollback target, a session takes LOCK TABLES
//     switchback.verify_marker READ: its replication applier will stop,
//     waiting for that lock, at the first write to the marker table.
//  2. On production, a session takes LOCK TABLES <table> READ (and its
//     foreign-key parents, whose cascades write it without a lock of
//     their own) with switchback.verify_marker WRITE. No transaction
//     writing the table is open once it is granted; none can start.
//  3. P = production's binlog position. Every change to the table is
//     before P.
//  4. A second production session starts a consistent snapshot: it sees
//     every change to the table, i.e. the table as of P.
//  5. The locked session rewrites the marker row (committed at once) and
//     unlocks. The marker write M comes after P, and no change to the
//     table comes between P and M.
//     Steps 2–5 are bounded by MaxLock: a watchdog kills the session if
//     UNLOCK has not returned by then, which releases every lock it holds,
//     and the sync point is retried later.
//  6. On the rollback target, wait until it has executed production's
//     binlog up to P (MASTER_POS_WAIT / SOURCE_POS_WAIT, then the replica
//     status). Its applier then waits at M, behind the lock of step 1: it
//     commits in production's order, so nothing after M is visible.
//  7. A second target session starts a consistent snapshot and proves it
//     does not see M's marker token: it holds the table as of P.
//  8. The target session of step 1 unlocks; replication goes on.
//
// The sessions holding locks are never returned to the pool with a lock:
// on any error they are closed, which releases what they hold, and so
// does the server when the process dies.
type syncPoint struct {
	prod, rb *sql.Conn // each inside its consistent snapshot
	position replication.BinlogPosition
	// lockHeld is how long production's table was locked: from LOCK
	// TABLES sent to UNLOCK TABLES returned (waiting for the lock
	// included).
	lockHeld time.Duration
	// pause bounds how long the rollback target's applier waited at the
	// marker: from the last time it was seen short of P to the unlock.
	pause time.Duration
}

// errLockTimeout means production's table lock (wait and hold) would have
// exceeded MaxLock: the session was killed, the sync point abandoned.
var errLockTimeout = errors.New("production lock exceeded --max-lock")

func (sp *syncPoint) close() {
	for _, c := range []*sql.Conn{sp.prod, sp.rb} {
		if c != nil {
			endSnapshot(c)
		}
	}
}

// endSnapshot ends a snapshot session's transaction and returns it to the
// pool, or closes it when that fails.
func endSnapshot(c *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.ExecContext(ctx, "ROLLBACK"+marker); err != nil {
		discard(c)
		return
	}
	c.Close()
}

// discard closes a session instead of returning it to the pool: whatever
// it holds (locks, a transaction) ends with it.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}

// unlock releases a session's table locks and returns it to the pool, or
// closes it when that fails.
func unlock(c *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.ExecContext(ctx, "UNLOCK TABLES"+marker); err != nil {
		discard(c)
		return
	}
	c.Close()
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startSnapshot opens a session in a REPEATABLE READ consistent snapshot.
func startSnapshot(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		if _, err := c.ExecContext(ctx, q+marker); err != nil {
			discard(c)
			return nil, err
		}
	}
	return c, nil
}

// lockStatement is LOCK TABLES for a sync point on production: the table
// and its cascading parents READ, the marker WRITE.
func lockStatement(table string, parents []string) string {
	parts := []string{quoteName(table) + " READ"}
	for _, p := range parents {
		parts = append(parts, quoteName(p)+" READ")
	}
	parts = append(parts, "switchback.verify_marker WRITE")
	return "LOCK TABLES " + strings.Join(parts, ", ") + marker
}

// quoteName quotes schema.table.
func quoteName(full string) string {
	schema, table, _ := strings.Cut(full, ".")
	return quoteIdent(schema) + "." + quoteIdent(table)
}

// takeSyncPoint takes a sync point for table (see the type's comment).
func (v *verifier) takeSyncPoint(ctx context.Context, table string) (sp *syncPoint, err error) {
	rb := v.req.Rollback
	token := newToken()
	sp = &syncPoint{}
	defer func() {
		if err != nil {
			sp.close()
			sp = nil
		}
	}()

	// 1. Hold the target's applier at the marker write to come.
	rbLock, err := rb.DB().Conn(ctx)
	if err != nil {
		return sp, fmt.Errorf("%s: open a session: %w", rb, err)
	}
	rbLocked := false
	defer func() {
		if rbLocked {
			unlock(rbLock)
		} else {
			rbLock.Close()
		}
	}()
	if _, err := rbLock.ExecContext(ctx, "LOCK TABLES switchback.verify_marker READ"+marker); err != nil {
		return sp, fmt.Errorf("%s: lock switchback.verify_marker: %w", rb, err)
	}
	rbLocked = true

	// 2–5. Lock production's table for at most MaxLock.
	if err := v.writing(ctx, func() error { return v.lockAndMark(ctx, sp, table, token) }); err != nil {
		return sp, err
	}

	// 6. Wait until the target has executed production's binlog up to P.
	lastShort, err := v.waitExecuted(ctx, sp.position)
	if err != nil {
		return sp, err
	}

	// 7. The target's snapshot, proven to be short of the marker.
	if sp.rb, err = startSnapshot(ctx, rb.DB()); err != nil {
		return sp, fmt.Errorf("%s: start a consistent snapshot: %w", rb, err)
	}
	var seen sql.NullString
	err = sp.rb.QueryRowContext(ctx, "SELECT token FROM switchback.verify_marker WHERE run_id = ?"+marker, v.runID).Scan(&seen)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sp, fmt.Errorf("%s: read the marker: %w", rb, err)
	}
	if seen.String == token {
		return sp, fmt.Errorf("%s applied the sync point's marker before its snapshot began (its lock on switchback.verify_marker did not hold)", rb)
	}

	// 8. Let replication go on.
	rbLocked = false
	unlock(rbLock)
	sp.pause = time.Since(lastShort)
	return sp, nil
}

// lockAndMark runs steps 2–5 of a sync point on production, killing the
// locking session if they take longer than MaxLock.
func (v *verifier) lockAndMark(ctx context.Context, sp *syncPoint, table, token string) error {
	prod := v.req.Production
	lock, err := prod.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: open a session: %w", prod, err)
	}
	var id int64
	if err := lock.QueryRowContext(ctx, "SELECT CONNECTION_ID()"+marker).Scan(&id); err != nil {
		lock.Close()
		return fmt.Errorf("%s: %w", prod, err)
	}
	// A second guard behind the watchdog: the server's own bound on the
	// lock wait (1 s is its minimum).
	if _, err := lock.ExecContext(ctx, "SET SESSION lock_wait_timeout = 1"+marker); err != nil {
		lock.Close()
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
	err = v.markLocked(ctx, sp, lock, table, token)
	stopped := watchdog.Stop()
	sp.lockHeld = time.Since(start)
	v.report.MaxLockMS = max(v.report.MaxLockMS, ms(sp.lockHeld))
	if err != nil || !stopped || killed.Load() {
		discard(lock)
		if !stopped || killed.Load() {
			return fmt.Errorf("%w (%s): %s", errLockTimeout, v.req.MaxLock, table)
		}
		return err
	}
	lock.Close()
	return nil
}

func (v *verifier) markLocked(ctx context.Context, sp *syncPoint, lock *sql.Conn, table, token string) error {
	prod := v.req.Production
	if _, err := lock.ExecContext(ctx, lockStatement(table, v.parents[table])); err != nil {
		return fmt.Errorf("%s: lock %s: %w", prod, table, err)
	}
	pos, err := prod.BinlogPosition(ctx)
	if err != nil {
		return err
	}
	sp.position = pos
	if sp.prod, err = startSnapshot(ctx, prod.DB()); err != nil {
		return fmt.Errorf("%s: start a consistent snapshot: %w", prod, err)
	}
	if _, err := lock.ExecContext(ctx, "REPLACE INTO switchback.verify_marker (run_id, token, written_at) VALUES (?, ?, UTC_TIMESTAMP(6))"+marker, v.runID, token); err != nil {
		return fmt.Errorf("%s: write the marker: %w", prod, err)
	}
	if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"+marker); err != nil {
		return fmt.Errorf("%s: unlock %s: %w", prod, table, err)
	}
	return nil
}

// syncTimeout bounds how long a sync point waits for the rollback target
// to execute up to production's position (it is not locked meanwhile;
// the lag check before each sync point keeps this short).
func (v *verifier) syncTimeout() time.Duration {
	return max(2*v.req.MaxLag, 30*time.Second)
}

// waitExecuted waits until the rollback target has executed production's
// binlog up to pos, and returns the last time it was seen short of it.
func (v *verifier) waitExecuted(ctx context.Context, pos replication.BinlogPosition) (time.Time, error) {
	rb := v.req.Rollback
	deadline := time.Now().Add(v.syncTimeout())
	lastShort := time.Now()
	for {
		rs, err := rb.ReplicaStatus(ctx)
		if err != nil {
			return lastShort, err
		}
		if !rs.Configured || !rs.SQLThreadRunning {
			return lastShort, fmt.Errorf("%w: %s: its replication applier (SQL thread) is not running", ErrRefused, rb)
		}
		if replication.ComparePositions(rs.ExecutedPosition(), pos) >= 0 {
			return lastShort, nil
		}
		lastShort = time.Now()
		if lastShort.After(deadline) {
			return lastShort, fmt.Errorf("%w: %s did not execute production's %s within %s (it executed %s)", errSyncTimeout, rb, pos, v.syncTimeout(), rs.ExecutedPosition())
		}
		// The server's position wait returns as soon as the applier gets
		// there; the replica status read above is the proof. Where the
		// wait function is missing or fails, poll.
		st := rb.Dialect.WaitForPosition(pos.File, pos.Position, time.Second, rb.Info)
		var n sql.NullInt64
		if err := rb.DB().QueryRowContext(ctx, st.SQL, st.Args...).Scan(&n); err != nil {
			if err := sleep(ctx, 5*time.Millisecond); err != nil {
				return lastShort, err
			}
		}
	}
}

// errSyncTimeout means the rollback target did not reach a sync point's
// position in time: the sync point is retried.
var errSyncTimeout = errors.New("sync point timed out")

// openKiller opens the session the lock watchdog kills through: one of
// its own, outside the server's small pool, so that a kill never waits
// for a pool slot the run's other sessions hold.
func openKiller(ctx context.Context, s *replication.Server) (*sql.DB, error) {
	cfg := s.ConnConfig()
	if cfg == nil {
		return nil, fmt.Errorf("%s: no connection configuration for the lock watchdog", s)
	}
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
