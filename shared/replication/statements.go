package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Statement is one SQL statement to run, with its placeholder arguments and
// a form that is safe to log.
type Statement struct {
	// SQL is what to execute. It may contain the replication password as a
	// SQL literal (CHANGE ... TO statements cannot take placeholders).
	SQL string
	// Args are the placeholder arguments; only CALL and SELECT statements
	// with ? placeholders have any (go-sql-driver/mysql prepares those).
	Args []any
	// Display is SQL with every password replaced by '<redacted>' and the
	// arguments rendered inline, the password among them redacted. It is
	// what logs, errors and dry runs show; it never contains the password.
	Display string
}

// String returns the display form, so that printing a Statement with %v or
// %s cannot leak the password.
func (s Statement) String() string { return s.Display }

// GoString returns the display form for %#v, for the same reason as String.
func (s Statement) GoString() string {
	return "replication.Statement{Display: " + strconv.Quote(s.Display) + "}"
}

// LogValue makes slog log the display form only.
func (s Statement) LogValue() slog.Value { return slog.StringValue(s.Display) }

// MarshalJSON encodes the display form only, as a JSON string, so that
// JSON output (dry runs, step records, structured logs) cannot leak the
// password either.
func (s Statement) MarshalJSON() ([]byte, error) { return json.Marshal(s.Display) }

// marker ends every generated statement so DBAs can tell switchback's
// statements apart in the process list, slow log and general log. A plain
// comment at the end of the statement is accepted by MySQL and MariaDB for
// every statement kind, CALL included; "/*!" and "/*+" would not be plain.
const marker = " /* switchback */"

// redacted stands for the password in Display.
const redacted = "'<redacted>'"

// ErrInvalidArgument means a statement builder was given a value it cannot
// safely or sensibly turn into SQL. Nothing was run.
var ErrInvalidArgument = errors.New("invalid argument")

// SourceParams is where a replica should replicate from.
type SourceParams struct {
	// Host and Port are how the replica reaches the source.
	Host string
	Port int
	// User and Password are the replication user's login on the source.
	User     string
	Password string
	// File and Position are the source binlog coordinates to start from
	// (Position at least 4, the first event of a binlog). Ignored when
	// AutoPosition is set.
	File     string
	Position uint64
	// AutoPosition positions by GTID instead: MySQL/Aurora auto-position,
	// MariaDB MASTER_USE_GTID=slave_pos (set gtid_slave_pos first).
	AutoPosition bool
}

// SetSource returns the statements that point the server at a source.
// Replication must be stopped first (MySQL and MariaDB refuse with error
// 1198 otherwise), and started after (StartReplication).
//
//   - Aurora: CALL mysql.rds_set_external_master (v2) or
//     rds_set_external_source (v3, 8.4), or their _with_auto_position
//     variants, with ? placeholders and ssl_encryption 0.
//   - MySQL: CHANGE REPLICATION SOURCE TO ... with SOURCE_AUTO_POSITION set
//     explicitly either way (a replica left in auto-position mode rejects
//     SOURCE_LOG_FILE otherwise) and GET_SOURCE_PUBLIC_KEY=1 (without TLS, a
//     replication user on caching_sha2_password, MySQL 8's default, cannot
//     log in otherwise).
//   - MariaDB: CHANGE MASTER TO ... with MASTER_USE_GTID=no or slave_pos.
//
// It validates p: host, user and (without AutoPosition) file non-empty,
// port 1..65535, position at least 4. Values become SQL string literals
// only on MySQL and MariaDB, which cannot take placeholders in CHANGE ...
// TO; there a backslash is rejected (its meaning depends on sql_mode
// NO_BACKSLASH_ESCAPES, while doubled single quotes mean the same in both
// modes). Control characters are rejected everywhere. Errors wrap
// ErrInvalidArgument and never contain the password. info is the server's
// own version; the statements do not depend on it today.
func (d Dialect) SetSource(p SourceParams, info ServerInfo) ([]Statement, error) {
	if !d.concrete() {
		return nil, fmt.Errorf("set source: %w: dialect %q (want one of %s)", ErrInvalidArgument, string(d), strings.Join(dialectStrings(), ", "))
	}
	if err := validateSource(p, !d.IsAurora()); err != nil {
		return nil, fmt.Errorf("set source: %w", err)
	}
	b := newStatementBuilder(p.Password)
	switch d {
	case AuroraMySQL2, AuroraMySQL3, AuroraMySQL84:
		proc := "mysql.rds_set_external_source"
		if d == AuroraMySQL2 {
			proc = "mysql.rds_set_external_master"
		}
		if p.AutoPosition {
			// (host, port, user, password, ssl_encryption)
			b.raw("CALL " + proc + "_with_auto_position(")
			b.arg(p.Host)
			b.raw(", ")
			b.arg(p.Port)
			b.raw(", ")
			b.arg(p.User)
			b.raw(", ")
			b.secretArg(p.Password)
			b.raw(", 0)")
		} else {
			// (host, port, user, password, log file, log position, ssl_encryption)
			b.raw("CALL " + proc + "(")
			b.arg(p.Host)
			b.raw(", ")
			b.arg(p.Port)
			b.raw(", ")
			b.arg(p.User)
			b.raw(", ")
			b.secretArg(p.Password)
			b.raw(", ")
			b.arg(p.File)
			b.raw(", ")
			b.arg(p.Position)
			b.raw(", 0)")
		}
	case MySQL:
		b.raw("CHANGE REPLICATION SOURCE TO SOURCE_HOST = ")
		b.lit(p.Host)
		b.raw(", SOURCE_PORT = ")
		b.num(uint64(p.Port))
		b.raw(", SOURCE_USER = ")
		b.lit(p.User)
		b.raw(", SOURCE_PASSWORD = ")
		b.secretLit(p.Password)
		if p.AutoPosition {
			b.raw(", SOURCE_AUTO_POSITION = 1")
		} else {
			b.raw(", SOURCE_AUTO_POSITION = 0, SOURCE_LOG_FILE = ")
			b.lit(p.File)
			b.raw(", SOURCE_LOG_POS = ")
			b.num(p.Position)
		}
		b.raw(", GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = ")
		b.num(sourceConnectRetry)
	case MariaDB:
		b.raw("CHANGE MASTER TO MASTER_HOST = ")
		b.lit(p.Host)
		b.raw(", MASTER_PORT = ")
		b.num(uint64(p.Port))
		b.raw(", MASTER_USER = ")
		b.lit(p.User)
		b.raw(", MASTER_PASSWORD = ")
		b.secretLit(p.Password)
		if p.AutoPosition {
			b.raw(", MASTER_USE_GTID = slave_pos")
		} else {
			b.raw(", MASTER_LOG_FILE = ")
			b.lit(p.File)
			b.raw(", MASTER_LOG_POS = ")
			b.num(p.Position)
			// Implied by MASTER_LOG_FILE since MariaDB 10.10 changed the
			// default to slave_pos; spelled out so it does not depend on that.
			b.raw(", MASTER_USE_GTID = no")
		}
		b.raw(", MASTER_CONNECT_RETRY = ")
		b.num(sourceConnectRetry)
	}
	return []Statement{b.statement()}, nil
}

// sourceConnectRetry is how many seconds the rollback target waits between
// attempts to reconnect to production after losing its connection
// (MASTER_CONNECT_RETRY, SOURCE_CONNECT_RETRY). The servers' default, 60 s,
// leaves reverse replication down, and status not ready, for up to a
// minute after production restarts or the network drops the connection,
// and makes a cutover started meanwhile abort. The Aurora procedures take
// no such argument: Aurora keeps its own.
const sourceConnectRetry = 5

// validateSource checks p and reports every problem in one error wrapping
// ErrInvalidArgument. literal says whether the values will be SQL string
// literals.
func validateSource(p SourceParams, literal bool) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(p.Host) == "" {
		bad("source host is empty")
	}
	if p.Port < 1 || p.Port > 65535 {
		bad("source port %d is out of range 1..65535", p.Port)
	}
	if strings.TrimSpace(p.User) == "" {
		bad("replication user is empty")
	}
	if !p.AutoPosition {
		if strings.TrimSpace(p.File) == "" {
			bad("binlog file is empty (required unless positioning by GTID)")
		}
		if p.Position < 4 {
			bad("binlog position %d is below 4, where a binlog's first event starts", p.Position)
		}
	}
	type value struct {
		name, value string
		secret      bool
	}
	values := []value{
		{"source host", p.Host, false},
		{"replication user", p.User, false},
		{"replication password", p.Password, true},
	}
	if !p.AutoPosition {
		values = append(values, value{"binlog file", p.File, false})
	}
	for _, v := range values {
		var err error
		if literal {
			_, err = quoteString(v.value)
		} else {
			err = checkNoControl(v.value)
		}
		switch {
		case err == nil:
		case v.secret:
			bad("%s %v", v.name, err) // never the value itself
		default:
			bad("%s %q %v", v.name, v.value, err)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidArgument, strings.Join(problems, "; "))
}

// quoteString renders s as a single-quoted SQL string literal with single
// quotes doubled, which means the same with and without sql_mode
// NO_BACKSLASH_ESCAPES. It rejects backslashes, whose meaning does depend
// on that mode, and control characters. Its errors never include s, which
// may be a password.
func quoteString(s string) (string, error) {
	if strings.ContainsRune(s, '\\') {
		return "", errors.New("contains a backslash, which cannot be quoted the same way with and without sql_mode NO_BACKSLASH_ESCAPES")
	}
	if err := checkNoControl(s); err != nil {
		return "", err
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

func checkNoControl(s string) error {
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains a control character (%U) at byte %d", r, i)
		}
	}
	return nil
}

// StartReplication returns the statement that starts both replication
// threads: CALL mysql.rds_start_replication on Aurora, START REPLICA on
// MySQL, START SLAVE on MariaDB. It panics if d is not a concrete dialect.
func (d Dialect) StartReplication() Statement {
	d.mustBeConcrete("StartReplication")
	switch {
	case d.IsAurora():
		return plain("CALL mysql.rds_start_replication")
	case d == MySQL:
		return plain("START REPLICA")
	default:
		return plain("START SLAVE")
	}
}

// StopReplication returns the statement that stops both replication
// threads: CALL mysql.rds_stop_replication on Aurora, STOP REPLICA on MySQL,
// STOP SLAVE on MariaDB. Stopping a stopped replica is a warning, not an
// error, on MySQL and MariaDB. It panics if d is not a concrete dialect.
func (d Dialect) StopReplication() Statement {
	d.mustBeConcrete("StopReplication")
	switch {
	case d.IsAurora():
		return plain("CALL mysql.rds_stop_replication")
	case d == MySQL:
		return plain("STOP REPLICA")
	default:
		return plain("STOP SLAVE")
	}
}

// ResetSource returns the statements that remove the server's replication
// configuration altogether: CALL mysql.rds_reset_external_master (v2) or
// rds_reset_external_source (v3, 8.4) on Aurora; STOP then RESET ... ALL on
// MySQL and MariaDB, which refuse to reset a running replica. It panics if d
// is not a concrete dialect.
func (d Dialect) ResetSource() []Statement {
	d.mustBeConcrete("ResetSource")
	switch d {
	case AuroraMySQL2:
		return []Statement{plain("CALL mysql.rds_reset_external_master")}
	case AuroraMySQL3, AuroraMySQL84:
		return []Statement{plain("CALL mysql.rds_reset_external_source")}
	case MySQL:
		return []Statement{plain("STOP REPLICA"), plain("RESET REPLICA ALL")}
	default:
		return []Statement{plain("STOP SLAVE"), plain("RESET SLAVE ALL")}
	}
}

// ReplicaStatus returns the replica status query, which lists every
// replication connection, one row each: SHOW ALL SLAVES STATUS on MariaDB
// (column Connection_name; SHOW SLAVE STATUS would show the default
// connection only), SHOW SLAVE STATUS on Aurora v2 (MySQL 5.7) and SHOW
// REPLICA STATUS otherwise (one row per channel, column Channel_Name).
// Parse its rows with ParseReplicaStatusRows. It panics if d is not a
// concrete dialect.
func (d Dialect) ReplicaStatus() Statement {
	d.mustBeConcrete("ReplicaStatus")
	switch d {
	case MariaDB:
		return plain("SHOW ALL SLAVES STATUS")
	case AuroraMySQL2:
		return plain("SHOW SLAVE STATUS")
	}
	return plain("SHOW REPLICA STATUS")
}

// ResetConnection returns the statements that stop and remove one named
// replication connection other than the default one (ReplicaStatus's
// OtherConnectionNames):
//
//   - MariaDB: STOP SLAVE 'name' then RESET SLAVE 'name' ALL;
//   - MySQL: STOP REPLICA FOR CHANNEL 'name' then RESET REPLICA ALL FOR
//     CHANNEL 'name';
//   - Aurora: CALL mysql.rds_stop_replication_for_channel(name) then
//     mysql.rds_reset_external_source_for_channel(name) (Aurora has
//     channels, and these procedures, from 8.4.8 on).
//
// An empty name (the default connection: use ResetSource) or a name that
// cannot be quoted safely is an error wrapping ErrInvalidArgument.
func (d Dialect) ResetConnection(name string) ([]Statement, error) {
	if !d.concrete() {
		return nil, fmt.Errorf("reset connection: %w: dialect %q (want one of %s)", ErrInvalidArgument, string(d), strings.Join(dialectStrings(), ", "))
	}
	if name == "" {
		return nil, fmt.Errorf("reset connection: %w: the default connection has no name (use ResetSource)", ErrInvalidArgument)
	}
	if d.IsAurora() {
		if err := checkNoControl(name); err != nil {
			return nil, fmt.Errorf("reset connection: %w: connection name %s", ErrInvalidArgument, err)
		}
		var out []Statement
		for _, proc := range []string{"mysql.rds_stop_replication_for_channel", "mysql.rds_reset_external_source_for_channel"} {
			b := newStatementBuilder("")
			b.raw("CALL " + proc + "(")
			b.arg(name)
			b.raw(")")
			out = append(out, b.statement())
		}
		return out, nil
	}
	q, err := quoteString(name)
	if err != nil {
		return nil, fmt.Errorf("reset connection: %w: connection name %s", ErrInvalidArgument, err)
	}
	if d == MySQL {
		return []Statement{plain("STOP REPLICA FOR CHANNEL " + q), plain("RESET REPLICA ALL FOR CHANNEL " + q)}, nil
	}
	return []Statement{plain("STOP SLAVE " + q), plain("RESET SLAVE " + q + " ALL")}, nil
}

// mysqlBinaryLogStatus is the release that added SHOW BINARY LOG STATUS
// (8.4 removed SHOW MASTER STATUS).
var mysqlBinaryLogStatus = serverVersion{8, 2, 0}

// BinlogStatus returns the query for the server's own binlog coordinates:
// SHOW BINARY LOG STATUS on Aurora 8.4 and on MySQL 8.2 or later (or of
// unknown version), SHOW MASTER STATUS otherwise. Parse its row with
// ParseBinlogStatus. It panics if d is not a concrete dialect.
func (d Dialect) BinlogStatus(info ServerInfo) Statement {
	d.mustBeConcrete("BinlogStatus")
	if d == AuroraMySQL84 || (d == MySQL && info.versionAtLeast(mysqlBinaryLogStatus)) {
		return plain("SHOW BINARY LOG STATUS")
	}
	return plain("SHOW MASTER STATUS")
}

// mysqlSourcePosWait is the release that added SOURCE_POS_WAIT.
var mysqlSourcePosWait = serverVersion{8, 0, 26}

// WaitForPosition returns a query that blocks until the replica has applied
// the source's binlog up to file:pos, or timeout passes. Its one column,
// pos_wait, is NULL when the replica's SQL thread is not running or it has
// no source, -1 on timeout, and otherwise the number of events waited for
// (0 or more: caught up). The timeout is rounded up to whole seconds, at
// least 1 (0 or less would mean "wait forever" to the server).
//
// It is SOURCE_POS_WAIT on Aurora 8.4 and on Aurora v3 and MySQL from
// 8.0.26 (or of unknown version), MASTER_POS_WAIT otherwise. It panics if d
// is not a concrete dialect.
func (d Dialect) WaitForPosition(file string, pos uint64, timeout time.Duration, info ServerInfo) Statement {
	d.mustBeConcrete("WaitForPosition")
	fn := "MASTER_POS_WAIT"
	switch d {
	case AuroraMySQL84:
		fn = "SOURCE_POS_WAIT"
	case AuroraMySQL3, MySQL:
		if info.versionAtLeast(mysqlSourcePosWait) {
			fn = "SOURCE_POS_WAIT"
		}
	}
	secs := int64((timeout + time.Second - 1) / time.Second)
	if timeout <= 0 || secs < 1 {
		secs = 1
	}
	b := newStatementBuilder("")
	b.raw("SELECT " + fn + "(")
	b.arg(file)
	b.raw(", ")
	b.arg(pos)
	b.raw(", ")
	b.arg(secs)
	b.raw(") AS pos_wait")
	return b.statement()
}

// MaxRetentionHours is the longest binlog retention SetRetention accepts:
// Aurora's maximum (90 days), which also fits MariaDB's 99-day limit.
const MaxRetentionHours = 2160

// SetRetention returns the statements that keep the server's binary logs
// for hours (1..MaxRetentionHours, else an error wrapping
// ErrInvalidArgument):
//
//   - Aurora: CALL mysql.rds_set_configuration('binlog retention hours', ?),
//     which persists across reboots and failovers.
//   - MySQL: SET PERSIST binlog_expire_logs_seconds, which persists too.
//   - MariaDB (10.6+): SET GLOBAL binlog_expire_logs_seconds, which also
//     updates expire_logs_days. MariaDB has no SET PERSIST: put the value in
//     the server's configuration file too, or a restart reverts it.
func (d Dialect) SetRetention(hours int) ([]Statement, error) {
	if !d.concrete() {
		return nil, fmt.Errorf("set retention: %w: dialect %q (want one of %s)", ErrInvalidArgument, string(d), strings.Join(dialectStrings(), ", "))
	}
	if hours < 1 || hours > MaxRetentionHours {
		return nil, fmt.Errorf("set retention: %w: %d hours is out of range 1..%d", ErrInvalidArgument, hours, MaxRetentionHours)
	}
	seconds := strconv.Itoa(hours * 3600)
	switch d {
	case MySQL:
		return []Statement{plain("SET PERSIST binlog_expire_logs_seconds = " + seconds)}, nil
	case MariaDB:
		return []Statement{plain("SET GLOBAL binlog_expire_logs_seconds = " + seconds)}, nil
	default:
		b := newStatementBuilder("")
		b.raw("CALL mysql.rds_set_configuration('binlog retention hours', ")
		b.arg(hours)
		b.raw(")")
		return []Statement{b.statement()}, nil
	}
}

// ShowRetention returns the query for the server's binlog retention:
// CALL mysql.rds_show_configuration on Aurora, the global
// binlog_expire_logs_seconds elsewhere. Parse its rows with ParseRetention.
// It panics if d is not a concrete dialect.
func (d Dialect) ShowRetention() Statement {
	d.mustBeConcrete("ShowRetention")
	if d.IsAurora() {
		return plain("CALL mysql.rds_show_configuration")
	}
	return plain("SELECT @@global.binlog_expire_logs_seconds AS binlog_expire_logs_seconds")
}

// SetReadOnly returns the statements that turn the server's write fence on
// or off:
//
//   - Aurora: CALL mysql.rds_set_read_only(1|0). The procedure exists from
//     Aurora MySQL 3.06 (and in 8.4); on older versions fence through the
//     cluster parameter group. It does not survive a reboot.
//   - MySQL: on is SET GLOBAL super_read_only = 1, which also sets read_only
//     and stops SUPER/CONNECTION_ADMIN users too; off is super_read_only = 0
//     then read_only = 0, in that order (read_only cannot go off while
//     super_read_only is on).
//   - MariaDB: SET GLOBAL read_only = 1|0 (MariaDB has no super_read_only).
//
// None of these stops the replication applier. It panics if d is not a
// concrete dialect.
func (d Dialect) SetReadOnly(on bool) []Statement {
	d.mustBeConcrete("SetReadOnly")
	v := "0"
	if on {
		v = "1"
	}
	switch {
	case d.IsAurora():
		return []Statement{plain("CALL mysql.rds_set_read_only(" + v + ")")}
	case d == MySQL && on:
		return []Statement{plain("SET GLOBAL super_read_only = 1")}
	case d == MySQL:
		return []Statement{plain("SET GLOBAL super_read_only = 0"), plain("SET GLOBAL read_only = 0")}
	default:
		return []Statement{plain("SET GLOBAL read_only = " + v)}
	}
}

// ReadOnlyQuery returns the query for the server's write fence. Its first
// column is always read_only (0/1); on MySQL a second column,
// super_read_only, follows. It panics if d is not a concrete dialect.
func (d Dialect) ReadOnlyQuery() Statement {
	d.mustBeConcrete("ReadOnlyQuery")
	if d == MySQL {
		return plain("SELECT @@global.read_only AS read_only, @@global.super_read_only AS super_read_only")
	}
	// Aurora's fence is read_only (rds_set_read_only sets only that); MariaDB
	// has no super_read_only.
	return plain("SELECT @@global.read_only AS read_only")
}

// plain is a statement without arguments or secrets.
func plain(sql string) Statement {
	sql += marker
	return Statement{SQL: sql, Display: sql}
}

// statementBuilder assembles SQL, its arguments and its display form side
// by side, so the display form is built from the same parts and never has
// to be derived from SQL by search and replace.
type statementBuilder struct {
	secret string // the password, if the statement carries one
	sql    strings.Builder
	// display redacts the password only; opaque redacts every value and is
	// used when the password also occurs elsewhere in display (say, it
	// equals the user name), so that Display still cannot reveal it.
	display, opaque strings.Builder
	args            []any
}

func newStatementBuilder(secret string) *statementBuilder {
	return &statementBuilder{secret: secret}
}

// raw appends SQL text that holds no values.
func (b *statementBuilder) raw(s string) {
	b.sql.WriteString(s)
	b.display.WriteString(s)
	b.opaque.WriteString(s)
}

// lit appends a string literal; the caller has validated it with quoteString.
func (b *statementBuilder) lit(s string) {
	q, _ := quoteString(s)
	b.sql.WriteString(q)
	b.display.WriteString(q)
	b.opaque.WriteString(redacted)
}

// secretLit appends the password as a string literal.
func (b *statementBuilder) secretLit(s string) {
	q, _ := quoteString(s)
	b.sql.WriteString(q)
	b.display.WriteString(redacted)
	b.opaque.WriteString(redacted)
}

// num appends an unsigned integer literal.
func (b *statementBuilder) num(n uint64) {
	s := strconv.FormatUint(n, 10)
	b.sql.WriteString(s)
	b.display.WriteString(s)
	b.opaque.WriteString(redacted)
}

// arg appends a ? placeholder for v and renders v in the display forms.
func (b *statementBuilder) arg(v any) {
	b.sql.WriteString("?")
	b.args = append(b.args, v)
	b.display.WriteString(displayValue(v))
	b.opaque.WriteString(redacted)
}

// secretArg appends a ? placeholder for the password.
func (b *statementBuilder) secretArg(s string) {
	b.sql.WriteString("?")
	b.args = append(b.args, s)
	b.display.WriteString(redacted)
	b.opaque.WriteString(redacted)
}

func (b *statementBuilder) statement() Statement {
	display := b.display.String() + marker
	if b.secret != "" && strings.Contains(display, b.secret) {
		display = b.opaque.String() + marker
	}
	return Statement{SQL: b.sql.String() + marker, Args: b.args, Display: display}
}

// displayValue renders a placeholder argument the way the server will see
// it. Strings are quoted like literals; control characters, which only
// invalid input carries, are escaped so a display line stays one line.
func displayValue(v any) string {
	switch x := v.(type) {
	case string:
		var sb strings.Builder
		sb.WriteByte('\'')
		for _, r := range x {
			switch {
			case r == '\'':
				sb.WriteString("''")
			case unicode.IsControl(r):
				q := strconv.QuoteRune(r)
				sb.WriteString(q[1 : len(q)-1])
			default:
				sb.WriteRune(r)
			}
		}
		sb.WriteByte('\'')
		return sb.String()
	default:
		return fmt.Sprint(x)
	}
}
