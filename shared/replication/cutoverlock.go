package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// cutoverLockName is the server-side named lock (GET_LOCK) that serializes
// switchback's cutovers, configure runs and heartbeat probes on a server.
// It is held by one of the run's own sessions, so the server releases it
// when the process dies or its connection drops.
const cutoverLockName = "switchback.cutover"

// DefaultLockWait is how long a cutover or configure waits for another
// switchback run's lock before refusing. It covers a heartbeat probe (which
// holds the lock for milliseconds), not another cutover.
const DefaultLockWait = 2 * time.Second

// ErrLocked means another switchback run holds the pair's lock; nothing
// was changed. It wraps ErrRefused.
var ErrLocked = fmt.Errorf("%w: another switchback run holds the lock", ErrRefused)

// ErrLockLost means the session that held switchback's lock on a server
// was lost during a run (killed, timed out, dropped by a proxy) and the
// lock could not be taken back: another run may be acting on the pair.
var ErrLockLost = errors.New("switchback's lock was lost")

// Lock sessions stay alive with a statement every lockKeepalive and end
// lockSessionTimeout after their process stops sending them: a run whose
// host dies without closing its connections frees the pair in about a
// minute, not after the server's default wait_timeout (8 hours).
const (
	lockKeepalive      = 10 * time.Second
	lockSessionTimeout = 60
)

// serverLock is a named lock held on one server by a dedicated session.
type serverLock struct {
	server *Server
	conn   *sql.Conn
	id     int64 // the session's CONNECTION_ID()
	stop   context.CancelFunc
}

// lockServer takes the named lock on s, waiting up to wait. When another
// session holds it, the error wraps ErrLocked and names the holder.
func lockServer(ctx context.Context, s *Server, wait time.Duration) (*serverLock, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: open a session for the switchback lock: %w", s, err)
	}
	secs := int(wait / time.Second)
	if wait > 0 && secs == 0 {
		secs = 1
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", cutoverLockName, secs).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: take the switchback lock: %w", s, err)
	}
	if got.Valid && got.Int64 == 1 {
		l := &serverLock{server: s, conn: conn}
		if err := l.keepAlive(ctx); err != nil {
			l.release()
			return nil, fmt.Errorf("%s: keep the switchback lock's session alive: %w", s, err)
		}
		return l, nil
	}
	conn.Close()
	return nil, fmt.Errorf("%w on %s: %s; wait for it to finish (or end that session) and run again", ErrLocked, s, lockHolder(ctx, s))
}

// lockHolder describes the session that holds the named lock on s.
func lockHolder(ctx context.Context, s *Server) string {
	var id sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", cutoverLockName).Scan(&id); err != nil || !id.Valid {
		return "held by a session that has since released it"
	}
	var user, host string
	var secs sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT user, host, time FROM information_schema.processlist WHERE id = ?", id.Int64).Scan(&user, &host, &secs)
	if err != nil {
		return fmt.Sprintf("held by connection %d", id.Int64)
	}
	return fmt.Sprintf("held by connection %d of %s from %s (in its current state for %d s)", id.Int64, user, host, secs.Int64)
}

// keepAlive reads the session's id, shortens its idle timeout and pings it
// every lockKeepalive until release.
func (l *serverLock) keepAlive(ctx context.Context) error {
	if err := l.conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&l.id); err != nil {
		return err
	}
	if _, err := l.conn.ExecContext(ctx, fmt.Sprintf("SET SESSION wait_timeout = %d", lockSessionTimeout)); err != nil {
		return err
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	conn := l.conn
	go func() {
		tick := time.NewTicker(lockKeepalive)
		defer tick.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-tick.C:
				_, _ = conn.ExecContext(bg, "DO 1")
			}
		}
	}()
	return nil
}

// held proves the lock is still this run's: IS_USED_LOCK names its session.
// A lock that was freed (its session lost) is taken again on a new session;
// one that another session holds is an error wrapping ErrLockLost.
func (l *serverLock) held(ctx context.Context) error {
	var holder sql.NullInt64
	err := l.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", cutoverLockName).Scan(&holder)
	if err == nil && holder.Valid && holder.Int64 == l.id {
		return nil
	}
	if err == nil && holder.Valid {
		return fmt.Errorf("%w on %s: it is %s", ErrLockLost, l.server, lockHolder(ctx, l.server))
	}
	again, lerr := lockServer(ctx, l.server, 0)
	if lerr != nil {
		return fmt.Errorf("%w on %s (%v): %v", ErrLockLost, l.server, err, lerr)
	}
	l.stop()
	l.conn.Close()
	l.conn, l.id, l.stop = again.conn, again.id, again.stop
	return nil
}

// release gives the lock back and closes its session.
func (l *serverLock) release() {
	if l == nil {
		return
	}
	if l.stop != nil {
		l.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", cutoverLockName)
	l.conn.Close()
}

// pairLock is the lock held on both servers of a pair.
type pairLock struct{ locks []*serverLock }

// lockPair takes the lock on production, then on the rollback target: one
// switchback run at a time acts on the pair, whichever way round its DSNs
// name the two servers.
func lockPair(ctx context.Context, prod, rb *Server, wait time.Duration) (*pairLock, error) {
	pl, err := lockServer(ctx, prod, wait)
	if err != nil {
		return nil, err
	}
	rl, err := lockServer(ctx, rb, wait)
	if err != nil {
		pl.release()
		return nil, err
	}
	return &pairLock{locks: []*serverLock{pl, rl}}, nil
}

// on returns the lock held on s, or nil.
func (p *pairLock) on(s *Server) *serverLock {
	if p == nil {
		return nil
	}
	for _, l := range p.locks {
		if l.server == s {
			return l
		}
	}
	return nil
}

// held proves both locks are still this run's (see serverLock.held).
func (p *pairLock) held(ctx context.Context) error {
	if p == nil {
		return nil
	}
	for _, l := range p.locks {
		if err := l.held(ctx); err != nil {
			return err
		}
	}
	return nil
}

// release gives both locks back.
func (p *pairLock) release() {
	if p == nil {
		return
	}
	for i := len(p.locks) - 1; i >= 0; i-- {
		p.locks[i].release()
	}
}

// tryLock takes the lock on s without waiting, for a heartbeat probe. It
// returns nil and an ErrLocked error while a cutover or configure runs.
func tryLock(ctx context.Context, s *Server) (*serverLock, error) {
	l, err := lockServer(ctx, s, 0)
	if err != nil && !errors.Is(err, ErrLocked) {
		return nil, err
	}
	return l, err
}

// LockPair takes switchback's server-side lock (the named lock cutovers,
// configure runs and heartbeat probes take) on production, then on the
// rollback target, waiting up to wait on each: while it is held no other
// switchback run acts on the pair, whichever process it runs in. When
// another run holds it, the error wraps ErrLocked (and so ErrRefused) and
// names the holder; nothing was changed. release gives both locks back
// and may be called more than once.
func LockPair(ctx context.Context, prod, rb *Server, wait time.Duration) (release func(), err error) {
	if prod == nil || rb == nil {
		return nil, fmt.Errorf("%w: LockPair needs both servers", ErrInvalidArgument)
	}
	pl, err := lockPair(ctx, prod, rb, wait)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(pl.release) }, nil
}
