package replication

import (
	"context"
	"fmt"
	"time"
)

// Fencer turns a server's write fence (read-only mode) on and off and
// reports whether it is on. The SQL fencer below serves self-managed servers
// (SET GLOBAL read_only) and Aurora reached only through SQL
// (CALL mysql.rds_set_read_only); an Aurora parameter-group fencer plugs into
// the same interface.
type Fencer interface {
	// Check reports why the fencer could not act on its server, before
	// anything is changed; nil when it can.
	Check(ctx context.Context) error
	// SetReadOnly turns the fence on or off and returns once the server
	// reports the new state. Turning it to the state it is already in is a
	// no-op. When ctx ends first, the request is withdrawn (the statement
	// killed) so it cannot take effect later; the SQL fencer's error wraps
	// a *pendingStatementError when the server stopped answering before
	// the withdrawal could be confirmed.
	SetReadOnly(ctx context.Context, on bool) error
	// ReadOnly reports whether the fence is on.
	ReadOnly(ctx context.Context) (bool, error)
}

// SQLFencer fences a server through SQL, in the server's dialect.
type SQLFencer struct{ Server *Server }

// orSQLFencer returns f, or the SQL fencer of s when f is nil.
func orSQLFencer(f Fencer, s *Server) Fencer {
	if f == nil {
		return SQLFencer{Server: s}
	}
	return f
}

// Check implements Fencer: on Aurora the fence needs
// mysql.rds_set_read_only, which Aurora MySQL v2 and v3 before 3.06 lack
// (use the DB cluster parameter group fencer there).
func (f SQLFencer) Check(ctx context.Context) error {
	if !f.Server.Dialect.IsAurora() {
		return nil
	}
	var n int
	err := f.Server.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = 'mysql' AND routine_name = 'rds_set_read_only'").Scan(&n)
	if err != nil {
		return fmt.Errorf("%s: look up mysql.rds_set_read_only: %w", f.Server, err)
	}
	if n == 0 {
		return fmt.Errorf("%s has no mysql.rds_set_read_only (Aurora MySQL v2, or v3 before 3.06): it can only be fenced through its DB cluster parameter group", f.Server)
	}
	return nil
}

// SetReadOnly implements Fencer.
func (f SQLFencer) SetReadOnly(ctx context.Context, on bool) error {
	for _, st := range f.Server.Dialect.SetReadOnly(on) {
		if err := f.Server.execKillable(ctx, st); err != nil {
			return withHint(err)
		}
	}
	got, err := f.ReadOnly(ctx)
	if err != nil {
		return err
	}
	if got != on {
		return fmt.Errorf("%s still reports read_only=%v after setting it to %v", f.Server, got, on)
	}
	return nil
}

// ReadOnly implements Fencer. The fence counts as on when read_only is on:
// that is what stops application users.
func (f SQLFencer) ReadOnly(ctx context.Context) (bool, error) {
	st := f.Server.Dialect.ReadOnlyQuery()
	cols, rows, err := f.Server.queryRows(ctx, st)
	if err != nil {
		return false, err
	}
	if len(rows) != 1 || len(cols) == 0 {
		return false, fmt.Errorf("%s: %s returned %d rows", f.Server, st.Display, len(rows))
	}
	v := rows[0][0]
	return v.Valid && (v.String == "1" || v.String == "ON"), nil
}

// killConfirmWait bounds how long execKillable waits for its KILL QUERY to
// be answered and the statement to end (a variable: tests shorten it).
var killConfirmWait = 10 * time.Second

// execKillable runs st on a dedicated connection. If ctx ends before the
// server answers, the statement is killed (KILL QUERY) and waited for, so a
// statement blocked on a lock — SET GLOBAL read_only waits for the global
// read lock — cannot take effect after its caller gave up. A server that
// answers neither within killConfirmWait (it hangs) may still carry the
// statement out when it answers again: execKillable then returns a
// *pendingStatementError saying how to end it and when it has ended,
// instead of waiting for the server for ever.
func (s *Server) execKillable(ctx context.Context, st Statement) error {
	bg := context.WithoutCancel(ctx)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.stmtError(st, err)
	}
	// Closing a connection waits for the statement running on it: when the
	// server stops answering, it is closed once the statement ends.
	closeConn := true
	defer func() {
		if closeConn {
			conn.Close()
		}
	}()
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		return s.stmtError(st, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(bg, st.SQL, st.Args...)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return s.stmtError(st, err)
		}
		return nil
	case <-ctx.Done():
	}
	killCtx, cancel := context.WithTimeout(bg, killConfirmWait)
	defer cancel()
	_, killErr := s.db.ExecContext(killCtx, fmt.Sprintf("KILL QUERY %d", id))
	select {
	case err := <-done:
		if err == nil {
			// It finished before the kill landed: it did take effect.
			return nil
		}
	case <-killCtx.Done():
		// The server does not answer (it hangs): the statement may still
		// take effect when it does. Say so, with what ends it.
		ended := make(chan struct{})
		go func() {
			<-done
			conn.Close()
			close(ended)
		}()
		closeConn = false
		return &pendingStatementError{
			err:    s.stmtError(st, fmt.Errorf("%w; and the statement could not be confirmed killed (%v): it may still take effect when the server answers", ctx.Err(), killErr)),
			connID: id,
			ended:  ended,
		}
	}
	return s.stmtError(st, ctx.Err())
}

// pendingStatementError is a killable statement the server neither
// carried out nor confirmed killed within killConfirmWait: the server
// stopped answering, and the statement may still take effect when it
// answers again. ended is closed once the statement has ended, either way
// (or its connection broke); killing connection connID ends it.
type pendingStatementError struct {
	err    error
	connID int64
	ended  <-chan struct{}
}

func (e *pendingStatementError) Error() string { return e.err.Error() }
func (e *pendingStatementError) Unwrap() error { return e.err }
