package replication

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// Statements that carry the replication password (CHANGE MASTER TO …
// MASTER_PASSWORD, CALL mysql.rds_set_external_source(…, password, …),
// CREATE USER / ALTER USER … IDENTIFIED BY) run on one dedicated connection
// whose session writes nothing to the general query log (sql_log_off = ON)
// nor to the slow query log. A server writes those logs as it received the
// statement: MariaDB always, MySQL for CALL arguments (it rewrites the
// passwords of CREATE USER, ALTER USER and CHANGE REPLICATION SOURCE TO
// unless log_raw is ON). When the session cannot keep a log off and that
// log is on, the statement is not run.

// Session settings that keep a session's statements out of the logs.
const (
	// Needs SUPER on MariaDB 10.11 (measured: no finer privilege allows
	// it) and MySQL 5.7; SESSION_VARIABLES_ADMIN or SYSTEM_VARIABLES_ADMIN
	// on MySQL 8.0.
	setGeneralLogOff = "SET SESSION sql_log_off = ON"
	// MariaDB's slow_query_log has a session value any user may set.
	setSlowLogOffMariaDB = "SET SESSION slow_query_log = OFF"
	// MySQL's slow_query_log is global only; long_query_time (any user, its
	// maximum is a year) keeps the session's statements under the threshold.
	setSlowLogOffMySQL = "SET SESSION long_query_time = 31536000"
)

// passwordLogError means a server would write the replication password in
// clear to one of its logs: the log is on and the session may not turn it
// off for itself.
type passwordLogError struct {
	server, addr, user string
	log                string // "general query log"
	state              string // "general_log=ON, log_output=FILE"
	setting            string // the SET that failed
	cause              string // the server's answer to it
	what               string // which statement would carry the password
	fix                string
}

func (e *passwordLogError) Error() string {
	return fmt.Sprintf("%s at %s writes its %s (%s) and user %q may not turn it off for its own session (%s: %s), so %s would write the replication password there in clear; %s",
		e.server, e.addr, e.log, e.state, e.user, e.setting, e.cause, e.what, e.fix)
}

// secretSession is one connection on which statements carrying the
// replication password run, with the session's logging off where the
// server allows it.
type secretSession struct {
	s    *Server
	conn *sql.Conn
}

// openSecretSession opens a dedicated connection to s and turns the general
// and slow query logs off for its session. clear says whether the
// statements to run would reach those logs with the password in clear:
// when they would and a log that is on cannot be turned off, it returns a
// *passwordLogError (what names the statements) and no session. Otherwise
// a log that cannot be turned off is left as it is: it is off, or it would
// record the statements without the password. The caller closes the
// session.
func openSecretSession(ctx context.Context, s *Server, clear bool, what string) (*secretSession, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: open a connection: %w", s, err)
	}
	ss := &secretSession{s: s, conn: conn}
	_, generalErr := conn.ExecContext(ctx, setGeneralLogOff)
	setSlow := setSlowLogOffMySQL
	if isMariaDBServer(s) {
		setSlow = setSlowLogOffMariaDB
	}
	_, slowErr := conn.ExecContext(ctx, setSlow)
	if (generalErr == nil && slowErr == nil) || !clear {
		return ss, nil
	}
	var general, slow int
	var output string
	if err := conn.QueryRowContext(ctx, "SELECT @@global.general_log, @@global.slow_query_log, @@global.log_output").Scan(&general, &slow, &output); err != nil {
		ss.close()
		return nil, fmt.Errorf("%s: read general_log, slow_query_log and log_output: %w", s, err)
	}
	writes := !strings.Contains(strings.ToUpper(output), "NONE") // NONE wins over FILE and TABLE
	e := &passwordLogError{server: s.Role, addr: s.Addr, user: s.User, what: what}
	switch {
	case generalErr != nil && general == 1 && writes:
		e.log, e.state, e.setting, e.cause = "general query log", "general_log=ON, log_output="+output, setGeneralLogOff, redactSecrets(generalErr.Error())
		e.fix = "turn general_log off until switchback has finished (on Aurora: in the DB cluster parameter group), " +
			"or connect as a user allowed to set sql_log_off (SUPER on MariaDB and MySQL 5.7; SESSION_VARIABLES_ADMIN or SYSTEM_VARIABLES_ADMIN on MySQL 8.0)"
	case slowErr != nil && slow == 1 && writes:
		e.log, e.state, e.setting, e.cause = "slow query log", "slow_query_log=ON, log_output="+output, setSlow, redactSecrets(slowErr.Error())
		e.fix = "turn slow_query_log off until switchback has finished (on Aurora: in the DB cluster parameter group)"
	default:
		return ss, nil
	}
	ss.close()
	return nil, e
}

// exec runs st on the session.
func (ss *secretSession) exec(ctx context.Context, st Statement) error {
	if _, err := ss.conn.ExecContext(ctx, st.SQL, st.Args...); err != nil {
		return ss.s.stmtError(st, err)
	}
	return nil
}

// close ends the session's connection instead of returning it to the pool:
// its settings go with it, and so does the statement history a server
// keeps per connection (performance_schema.events_statements_history).
func (ss *secretSession) close() {
	_ = ss.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = ss.conn.Close()
}

// probeSecretSession checks that statements carrying the password could
// run on s without reaching its logs in clear. It changes nothing; a
// server that would log the password is a refusal (wraps ErrRefused).
func probeSecretSession(ctx context.Context, s *Server, clear bool, what string) error {
	if !clear {
		return nil
	}
	ss, err := openSecretSession(ctx, s, true, what)
	var le *passwordLogError
	if errors.As(err, &le) {
		return fmt.Errorf("%w: %s", ErrRefused, le)
	}
	if err != nil {
		return err
	}
	ss.close()
	return nil
}

// rewritesPasswords reports whether s writes the passwords of CREATE USER,
// ALTER USER and CHANGE REPLICATION SOURCE TO to its general and slow query
// logs rewritten, not in clear: MySQL (and so Aurora MySQL) does unless
// log_raw is ON; MariaDB does not. It never does for the arguments of CALL.
func rewritesPasswords(ctx context.Context, s *Server) bool {
	if isMariaDBServer(s) {
		return false
	}
	var raw int
	if err := s.db.QueryRowContext(ctx, "SELECT @@global.log_raw").Scan(&raw); err != nil {
		return false
	}
	return raw == 0
}

// What the two kinds of password statements are called in messages.
const (
	whatSetSource   = "the statement that sets the replication source on the rollback target"
	whatSetPassword = "the statement that sets the replication user's password on production"
)

// sourceInClear reports whether the rollback target's logs would receive
// SetSource's password in clear.
func (c *configurer) sourceInClear(ctx context.Context) bool {
	tgt := c.req.Rollback
	return tgt.Dialect.IsAurora() || !rewritesPasswords(ctx, tgt)
}

// userInClear reports whether production's logs would receive the
// replication user's password in clear: MariaDB gets its hash (see
// passwordClause), the others the password, which only MySQL rewrites.
func (c *configurer) userInClear(ctx context.Context) bool {
	prod := c.req.Production
	return prod.Dialect != MariaDB && !rewritesPasswords(ctx, prod)
}

// checkPasswordLogging refuses, before anything changes, a run whose
// password statements would be written in clear to a server's general or
// slow query log. It runs after check, which decides whether the source
// is set at all.
func (c *configurer) checkPasswordLogging(ctx context.Context) error {
	if !c.alreadyConfigured {
		if err := probeSecretSession(ctx, c.req.Rollback, c.sourceInClear(ctx), whatSetSource); err != nil {
			return err
		}
	}
	if !c.userInClear(ctx) {
		return nil
	}
	prod := c.req.Production
	_, exists, err := showGrants(ctx, prod, c.req.ReplicationUser, c.req.ReplicationUserHost)
	if err != nil {
		return err
	}
	if !c.sendsPassword(ctx, exists) {
		return nil
	}
	return probeSecretSession(ctx, prod, true, whatSetPassword)
}

// preflight is the first step of Configure: check, then make sure that no
// log would receive the replication password.
func (c *configurer) preflight(ctx context.Context) (StepOutcome, string, error) {
	outcome, detail, err := c.check(ctx)
	if err != nil {
		return outcome, detail, err
	}
	if err := c.checkPasswordLogging(ctx); err != nil {
		return "", "", err
	}
	return outcome, detail, nil
}

// runSecret runs statements that carry the replication password on a
// secret session of s (see openSecretSession for clear and what).
func runSecret(ctx context.Context, s *Server, clear bool, what string, sts ...Statement) error {
	ss, err := openSecretSession(ctx, s, clear, what)
	if err != nil {
		return err
	}
	defer ss.close()
	for _, st := range sts {
		if err := ss.exec(ctx, st); err != nil {
			return err
		}
	}
	return nil
}
