package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server is one MySQL-compatible server the engine talks to: a connection
// pool, the dialect it speaks and what it said about itself.
type Server struct {
	// Role names the server in messages: "production" or "rollback target".
	Role string
	// Addr is host:port from the DSN. It never includes credentials.
	Addr string
	// User is the login user from the DSN.
	User string
	// Dialect is the statement set used on this server.
	Dialect Dialect
	// Info is what the server reported about its version.
	Info ServerInfo

	db *sql.DB
	// own is the set of connection ids of db's sessions, so that checks of
	// the server's sessions can tell switchback's own from everyone else's.
	own *sessionSet
	// cfg is the connection's configuration, for a connection of its own
	// outside the pool (ConnConfig).
	cfg *mysql.Config
}

// ErrUnreachable means a server could not be reached or refused the login.
var ErrUnreachable = errors.New("server unreachable")

// Connect opens a small connection pool to the server at dsn (go-sql-driver
// format, "user:password@tcp(host:port)/"), checks that it answers, and
// detects its dialect unless one is forced. Errors name the role and the
// address, never the password.
func Connect(ctx context.Context, role, dsn string, dialect Dialect) (*Server, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The driver's message can quote part of the DSN, password included.
		return nil, fmt.Errorf("%s DSN is not valid: want user:password@tcp(host:port)/ — with the trailing slash", role)
	}
	if cfg.Net == "tcp" && cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:3306"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.ParseTime = true
	if cfg.Collation == "" {
		// Statements switchback writes carry the session collation into the
		// binlog; an 8.0-only one (utf8mb4_0900_ai_ci) breaks a 5.7 replica.
		cfg.Collation = "utf8mb4_general_ci"
	}
	cfg.MultiStatements = false
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s DSN: %v", role, err)
	}
	own := &sessionSet{ids: map[int64]bool{}}
	db := sql.OpenDB(trackingConnector{Connector: connector, own: own})
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	s := &Server{Role: role, Addr: cfg.Addr, User: cfg.User, db: db, own: own, cfg: cfg.Clone()}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, s.unreachable(err)
	}
	if err := s.readInfo(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if dialect == "" || dialect == DialectAuto {
		d, err := Detect(s.Info)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("%s at %s: %w", role, s.Addr, err)
		}
		dialect = d
	}
	s.Dialect = dialect
	return s, nil
}

// DB returns the server's connection pool.
func (s *Server) DB() *sql.DB { return s.db }

// Close closes the connection pool.
func (s *Server) Close() error { return s.db.Close() }

// Host and Port split Addr.
func (s *Server) HostPort() (string, int) {
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return s.Addr, 3306
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

func (s *Server) String() string { return s.Role + " (" + s.Addr + ")" }

// ConnConfig returns a copy of the configuration the pool connects with
// (address, login, TLS), for a connection of its own outside the pool,
// such as shared/binlogtime's replication-protocol connection; nil for a
// Server that Connect did not open.
func (s *Server) ConnConfig() *mysql.Config {
	if s.cfg == nil {
		return nil
	}
	return s.cfg.Clone()
}

// Unreachable wraps err, an error reaching the server or logging in to it
// on a connection outside the pool, in ErrUnreachable, naming the role and
// the address (and the user, when the login was refused: MySQL error
// 1045), as Connect does.
func (s *Server) Unreachable(err error) error { return s.unreachable(err) }

func (s *Server) unreachable(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1045 {
		return fmt.Errorf("%w: %s at %s refused the login of %q (MySQL error 1045: wrong user or password in the %s DSN)",
			ErrUnreachable, s.Role, s.Addr, s.User, s.Role)
	}
	return fmt.Errorf("%w: cannot reach %s at %s: %v (check the host, port, security groups and that the server is up)",
		ErrUnreachable, s.Role, s.Addr, err)
}

func (s *Server) readInfo(ctx context.Context) error {
	row := s.db.QueryRowContext(ctx, "SELECT @@version, @@version_comment")
	if err := row.Scan(&s.Info.Version, &s.Info.VersionComment); err != nil {
		return fmt.Errorf("%s at %s: read version: %w", s.Role, s.Addr, err)
	}
	// Aurora exposes its own version; other servers reject the function.
	var aurora sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT AURORA_VERSION()").Scan(&aurora); err == nil {
		s.Info.AuroraVersion = aurora.String
	}
	return nil
}

// exec runs one statement, wrapping errors with the statement's display
// form (never the password) and the server's role.
func (s *Server) exec(ctx context.Context, st Statement) error {
	if _, err := s.db.ExecContext(ctx, st.SQL, st.Args...); err != nil {
		return s.stmtError(st, err)
	}
	return nil
}

func (s *Server) stmtError(st Statement, err error) error {
	return &StatementError{Server: s.Role, Addr: s.Addr, Statement: st.Display, Err: err}
}

// queryRows runs a statement and returns its columns and rows as nullable
// strings, the shape the status parsers take.
func (s *Server) queryRows(ctx context.Context, st Statement) ([]string, [][]sql.NullString, error) {
	rows, err := s.db.QueryContext(ctx, st.SQL, st.Args...)
	if err != nil {
		return nil, nil, s.stmtError(st, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, s.stmtError(st, err)
	}
	var out [][]sql.NullString
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, s.stmtError(st, err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.stmtError(st, err)
	}
	return cols, out, nil
}

// ReplicaStatus reads the server's replica status: the default
// replication connection's, with every other connection (MariaDB named
// connection, MySQL channel) listed in OtherConnections (see
// ParseReplicaStatusRows).
func (s *Server) ReplicaStatus(ctx context.Context) (ReplicaStatus, error) {
	st := s.Dialect.ReplicaStatus()
	cols, rows, err := s.queryRows(ctx, st)
	if err != nil {
		return ReplicaStatus{}, err
	}
	rs, err := ParseReplicaStatusRows(cols, rows)
	if err != nil {
		return ReplicaStatus{}, fmt.Errorf("%s: %w", s, err)
	}
	// The thread errors quote statements, which can carry passwords.
	rs.LastIOError, rs.LastSQLError = redactSecrets(rs.LastIOError), redactSecrets(rs.LastSQLError)
	return rs, nil
}

// BinlogPosition reads the server's current binary log file and position.
func (s *Server) BinlogPosition(ctx context.Context) (BinlogPosition, error) {
	st := s.Dialect.BinlogStatus(s.Info)
	cols, rows, err := s.queryRows(ctx, st)
	if err != nil {
		return BinlogPosition{}, err
	}
	if len(rows) == 0 {
		return BinlogPosition{}, fmt.Errorf("%s: binary logging is off (%s returned no rows); turn on binlog_format=ROW in its parameter group", s, st.Display)
	}
	p, err := ParseBinlogStatus(cols, rows[0])
	if err != nil {
		return BinlogPosition{}, fmt.Errorf("%s: %w", s, err)
	}
	return p, nil
}

// StatementError is a statement that a server rejected. Its message names
// the server and the statement in its display form, without secrets.
type StatementError struct {
	Server    string
	Addr      string
	Statement string
	Err       error
}

func (e *StatementError) Error() string {
	return fmt.Sprintf("%s at %s: %s: %s", e.Server, e.Addr, e.Statement, redactSecrets(e.Err.Error()))
}

func (e *StatementError) Unwrap() error { return e.Err }

// mysqlErrno returns the server error number in err, or 0.
func mysqlErrno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
