package replication

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// ReplicaStatus is one row of SHOW REPLICA STATUS / SHOW SLAVE STATUS,
// reduced to what switchback watches. Field names use the new (SOURCE /
// REPLICA) terminology whichever column names the server answered with.
type ReplicaStatus struct {
	// Configured is false when the status statement returned no rows: the
	// server has no replication source.
	Configured bool
	// IORunning and SQLRunning are the raw thread states: "Yes", "No",
	// "Connecting" (the IO thread is retrying its connection) or, on
	// MariaDB, "Preparing" (the IO thread is starting).
	IORunning  string
	SQLRunning string
	// IOThreadRunning and SQLThreadRunning are IORunning == "Yes" and
	// SQLRunning == "Yes".
	IOThreadRunning  bool
	SQLThreadRunning bool
	// SecondsBehind is Seconds_Behind_Source (or _Master). nil is NULL,
	// which the server reports when a thread is not running or the lag is
	// unknown; it is not the same as 0 (caught up).
	SecondsBehind *int64
	// SourceHost, SourcePort and SourceUser are where and as whom the
	// replica connects.
	SourceHost string
	SourcePort int
	SourceUser string
	// SourceServerID is the @@server_id of the source the IO thread is (or
	// was last) connected to; 0 when unknown.
	SourceServerID uint64
	// SourceLogFile and ReadSourceLogPos are how far the IO thread has read
	// the source's binlog.
	SourceLogFile    string
	ReadSourceLogPos uint64
	// RelaySourceLogFile and ExecSourceLogPos are how far the SQL thread has
	// applied, in the source's binlog coordinates. Catch-up compares these
	// with the source's binlog status (see ExecutedPosition); Relay_Log_Pos
	// is a position in the local relay log and must not be used for that.
	RelaySourceLogFile string
	ExecSourceLogPos   uint64
	// The last IO and SQL thread errors; 0 and "" when there is none.
	LastIOErrno  int
	LastIOError  string
	LastSQLErrno int
	LastSQLError string
	// UsingGTID is MariaDB's Using_Gtid ("No", "Slave_Pos", "Current_Pos")
	// or MySQL's Auto_Position ("0", "1"); "" when the server reports neither.
	UsingGTID string
	// RetrievedGTIDSet is MySQL's Retrieved_Gtid_Set or MariaDB's
	// Gtid_IO_Pos; ExecutedGTIDSet is MySQL's Executed_Gtid_Set (MariaDB
	// keeps it in @@gtid_slave_pos instead). Line breaks MySQL inserts
	// between UUIDs are removed.
	RetrievedGTIDSet string
	ExecutedGTIDSet  string
	// ConnectionName is the replication connection this row describes:
	// MariaDB's Connection_name (SHOW ALL SLAVES STATUS) or MySQL's
	// Channel_Name. "" is the default connection, the one switchback
	// configures and the only one SHOW SLAVE STATUS shows on MariaDB; it is
	// also "" when the server reports neither column.
	ConnectionName string
	// SQLDelay is SQL_Delay: how many seconds the SQL thread deliberately
	// stays behind the source (MASTER_DELAY / SOURCE_DELAY). A delayed
	// replica has not applied what it has read; 0 when the column is
	// absent.
	SQLDelay int64
	// SkipCounter is Skip_Counter: how many events the SQL thread will skip
	// (not apply) when it next runs, set by sql_slave_skip_counter /
	// sql_replica_skip_counter; 0 when the column is absent.
	SkipCounter int64
	// Filters lists the replication filters of this connection, one
	// "Column=value" entry per non-empty filter column, in the order of
	// filterColumns (Replicate_Do_DB, Replicate_Ignore_DB, ...,
	// Replicate_Rewrite_DB, Replicate_Ignore_Server_Ids,
	// Replicate_Do_Domain_Ids, Replicate_Ignore_Domain_Ids), e.g.
	// "Replicate_Ignore_DB=shop". A replica with any filter does not apply
	// everything its source writes. nil when there is none;
	// Replicate_Ignore_Server_Ids "0" counts as none.
	Filters []string
	// OtherConnections describes every replication connection (MariaDB
	// named connection, MySQL channel) other than the default one, running
	// or not, as "connection 'name' from host:port (IO Yes, SQL Yes)"
	// ("channel 'name' ..." when the server calls them channels). Such a
	// connection keeps applying another server's writes, whatever
	// switchback does with the default one. Only ParseReplicaStatusRows
	// (and so Server.ReplicaStatus) fills it; it can be non-empty while
	// Configured is false (no default connection).
	OtherConnections []string
	// OtherConnectionNames are the names of OtherConnections, in the same
	// order (for statements such as Dialect.ResetConnection).
	OtherConnectionNames []string
}

// ExecutedPosition is how far the replica has applied, in the source's
// binlog coordinates: (Relay_Source_Log_File, Exec_Source_Log_Pos). Compare
// it with the source's BinlogStatus using ComparePositions to tell whether
// the replica has caught up.
func (s ReplicaStatus) ExecutedPosition() BinlogPosition {
	return BinlogPosition{File: s.RelaySourceLogFile, Position: s.ExecSourceLogPos}
}

// Replica status columns, new name first. MySQL 8.0.22+ answers SHOW
// REPLICA STATUS with the new names and SHOW SLAVE STATUS with the old
// ones; MariaDB and MySQL 5.7 always use the old ones; AWS's own Aurora
// example mixes them (Seconds_Behind_Master in REPLICA-style output), so
// every column is looked up under either name.
var (
	colIORunning     = []string{"Replica_IO_Running", "Slave_IO_Running"}
	colSQLRunning    = []string{"Replica_SQL_Running", "Slave_SQL_Running"}
	colSecondsBehind = []string{"Seconds_Behind_Source", "Seconds_Behind_Master"}
	colSourceHost    = []string{"Source_Host", "Master_Host"}
	colSourcePort    = []string{"Source_Port", "Master_Port"}
	colSourceUser    = []string{"Source_User", "Master_User"}
	colSourceID      = []string{"Source_Server_Id", "Master_Server_Id"}
	colSourceLogFile = []string{"Source_Log_File", "Master_Log_File"}
	colReadPos       = []string{"Read_Source_Log_Pos", "Read_Master_Log_Pos"}
	colRelayFile     = []string{"Relay_Source_Log_File", "Relay_Master_Log_File"}
	colExecPos       = []string{"Exec_Source_Log_Pos", "Exec_Master_Log_Pos"}
	colLastIOErrno   = []string{"Last_IO_Errno"}
	colLastIOError   = []string{"Last_IO_Error"}
	colLastSQLErrno  = []string{"Last_SQL_Errno"}
	colLastSQLError  = []string{"Last_SQL_Error"}
	colUsingGTID     = []string{"Auto_Position", "Using_Gtid"}
	colRetrievedGTID = []string{"Retrieved_Gtid_Set", "Gtid_IO_Pos"}
	colExecutedGTID  = []string{"Executed_Gtid_Set"}
	colConnection    = []string{"Connection_name", "Channel_Name"}
	colSQLDelay      = []string{"SQL_Delay"}
	colSkipCounter   = []string{"Skip_Counter"}
)

// filterColumns are the replica status columns that hold replication
// filters: MySQL's and MariaDB's table and database filters, MySQL's (and
// MariaDB 10.11's) Replicate_Rewrite_DB, the ignored server ids, and
// MariaDB's GTID domain filters. Each is "" when not set.
var filterColumns = []string{
	"Replicate_Do_DB", "Replicate_Ignore_DB",
	"Replicate_Do_Table", "Replicate_Ignore_Table",
	"Replicate_Wild_Do_Table", "Replicate_Wild_Ignore_Table",
	"Replicate_Rewrite_DB",
	"Replicate_Ignore_Server_Ids",
	"Replicate_Do_Domain_Ids", "Replicate_Ignore_Domain_Ids",
}

// ParseReplicaStatus parses one row of SHOW REPLICA STATUS or SHOW SLAVE
// STATUS, given its column names and values as database/sql scanned them.
// No values (the statement returned no rows) means no replication source:
// Configured is false and the error nil. Old (Master/Slave) and new
// (Source/Replica) column names are both accepted, in any order and case.
// A row that lacks any of the columns switchback relies on is an error
// naming all of them; so is a number column holding something else. It
// reads one connection only and leaves OtherConnections empty: parse all
// the rows of the status statement with ParseReplicaStatusRows.
func ParseReplicaStatus(columns []string, values []sql.NullString) (ReplicaStatus, error) {
	if len(values) == 0 {
		return ReplicaStatus{}, nil
	}
	r, err := newRowReader("replica status", columns, values)
	if err != nil {
		return ReplicaStatus{}, err
	}
	s := ReplicaStatus{Configured: true}
	s.IORunning = r.str(true, colIORunning)
	s.SQLRunning = r.str(true, colSQLRunning)
	s.IOThreadRunning = strings.EqualFold(s.IORunning, "Yes")
	s.SQLThreadRunning = strings.EqualFold(s.SQLRunning, "Yes")
	s.SecondsBehind = r.nullInt(true, colSecondsBehind)
	s.SourceHost = r.str(true, colSourceHost)
	s.SourcePort = int(r.intIn(true, colSourcePort, 0, 65535))
	s.SourceUser = r.str(true, colSourceUser)
	s.SourceServerID = r.uint(false, colSourceID)
	s.SourceLogFile = r.str(true, colSourceLogFile)
	s.ReadSourceLogPos = r.uint(true, colReadPos)
	s.RelaySourceLogFile = r.str(true, colRelayFile)
	s.ExecSourceLogPos = r.uint(true, colExecPos)
	s.LastIOErrno = int(r.intIn(true, colLastIOErrno, 0, math.MaxInt32))
	s.LastIOError = r.str(true, colLastIOError)
	s.LastSQLErrno = int(r.intIn(true, colLastSQLErrno, 0, math.MaxInt32))
	s.LastSQLError = r.str(true, colLastSQLError)
	s.UsingGTID = r.str(false, colUsingGTID)
	s.RetrievedGTIDSet = cleanGTIDSet(r.str(false, colRetrievedGTID))
	s.ExecutedGTIDSet = cleanGTIDSet(r.str(false, colExecutedGTID))
	s.ConnectionName = r.str(false, colConnection)
	s.SQLDelay = r.intIn(false, colSQLDelay, 0, math.MaxInt64)
	s.SkipCounter = r.intIn(false, colSkipCounter, 0, math.MaxInt64)
	s.Filters = r.filters()
	if err := r.err(); err != nil {
		return ReplicaStatus{}, err
	}
	return s, nil
}

// filters returns "Column=value" for every non-empty filter column.
func (r *rowReader) filters() []string {
	var out []string
	for _, col := range filterColumns {
		v := strings.TrimSpace(r.str(false, []string{col}))
		if v == "" || (col == "Replicate_Ignore_Server_Ids" && v == "0") {
			continue
		}
		out = append(out, col+"="+v)
	}
	return out
}

// ParseReplicaStatusRows parses every row of the replica status statement
// (Dialect.ReplicaStatus): one per replication connection, told apart by
// MariaDB's Connection_name or MySQL's Channel_Name. The default
// connection's row (name "") is parsed with ParseReplicaStatus and
// returned; every other connection, running or not, is described in its
// OtherConnections (and named in OtherConnectionNames). Without a default
// row, Configured is false and only the other connections are filled in.
// No rows at all is the zero status. Several rows without a connection
// name column, or two default rows, are an error, as is any row
// ParseReplicaStatus rejects.
func ParseReplicaStatusRows(columns []string, rows [][]sql.NullString) (ReplicaStatus, error) {
	var def *ReplicaStatus
	var others, names []string
	term := "connection"
	if _, spelled, ok := indexColumns(columns).find(colConnection); ok && strings.EqualFold(spelled, "Channel_Name") {
		term = "channel"
	}
	for _, row := range rows {
		s, err := ParseReplicaStatus(columns, row)
		if err != nil {
			if name := connectionNameOf(columns, row); name != "" {
				return ReplicaStatus{}, fmt.Errorf("%s '%s': %w", term, name, err)
			}
			return ReplicaStatus{}, err
		}
		if s.ConnectionName == "" {
			if def != nil {
				return ReplicaStatus{}, fmt.Errorf("parse replica status: %d rows, and more than one for the default connection (no Connection_name or Channel_Name column tells them apart)", len(rows))
			}
			def = &s
			continue
		}
		others = append(others, describeConnection(term, s))
		names = append(names, s.ConnectionName)
	}
	var out ReplicaStatus
	if def != nil {
		out = *def
	}
	out.OtherConnections, out.OtherConnectionNames = others, names
	return out, nil
}

// connectionNameOf returns the row's connection name, or "" when the row
// has none or does not fit the columns.
func connectionNameOf(columns []string, row []sql.NullString) string {
	i, _, ok := indexColumns(columns).find(colConnection)
	if !ok || len(row) != len(columns) {
		return ""
	}
	return row[i].String
}

// describeConnection renders a non-default connection for
// OtherConnections: "connection 'other' from 10.0.0.9:3306 (IO Yes, SQL
// Yes)".
func describeConnection(term string, s ReplicaStatus) string {
	from := "an unknown source"
	if s.SourceHost != "" {
		from = net.JoinHostPort(s.SourceHost, strconv.Itoa(s.SourcePort))
	}
	io, sqlState := cmp.Or(s.IORunning, "?"), cmp.Or(s.SQLRunning, "?")
	return fmt.Sprintf("%s '%s' from %s (IO %s, SQL %s)", term, s.ConnectionName, from, io, sqlState)
}

// BinlogPosition is a point in a server's binary log: file and byte
// position, and the executed GTID set where the server reports one.
type BinlogPosition struct {
	File     string
	Position uint64
	// ExecutedGTIDSet is SHOW BINARY LOG / MASTER STATUS's
	// Executed_Gtid_Set (MySQL, Aurora); "" on MariaDB.
	ExecutedGTIDSet string
}

// reBinlogFile is a binary log file name: a base name, a dot, a number
// (mysql-bin-changelog.000003).
var reBinlogFile = regexp.MustCompile(`^[A-Za-z0-9_.-]+\.[0-9]+$`)

// Validate checks that p can be replication start coordinates: a binlog
// file name and a position at or after the 4-byte file header. It says
// where good coordinates come from; it never corrects them.
func (p BinlogPosition) Validate() error {
	switch {
	case p.File == "":
		return errors.New("binlog file is required: take it from the switchover's coordinates event (switchback explain-event); never guess it")
	case !reBinlogFile.MatchString(p.File):
		return fmt.Errorf("binlog file %q is not a binary log file name (like mysql-bin-changelog.000003)", p.File)
	case p.Position < 4:
		return fmt.Errorf("binlog position %d is not valid (a binlog's first event starts at 4): take it from the switchover's coordinates event", p.Position)
	}
	return nil
}

// String renders the position as file:position, e.g.
// "mysql-bin-changelog.000003:40134574".
func (p BinlogPosition) String() string {
	return p.File + ":" + strconv.FormatUint(p.Position, 10)
}

// ErrBinaryLogOff means the server's binlog status returned no rows: it
// does not write a binary log (on Aurora, binlog_format is OFF in the
// cluster parameter group), so nothing can replicate from it.
var ErrBinaryLogOff = errors.New("binary logging is off")

// ParseBinlogStatus parses the row of SHOW BINARY LOG STATUS or SHOW
// MASTER STATUS: columns File and Position, and Executed_Gtid_Set where the
// server has it. No values (no rows) is an error wrapping ErrBinaryLogOff.
func ParseBinlogStatus(columns []string, values []sql.NullString) (BinlogPosition, error) {
	if len(values) == 0 {
		return BinlogPosition{}, fmt.Errorf("parse binlog status: %w (the statement returned no rows)", ErrBinaryLogOff)
	}
	r, err := newRowReader("binlog status", columns, values)
	if err != nil {
		return BinlogPosition{}, err
	}
	p := BinlogPosition{
		File:            r.str(true, []string{"File"}),
		Position:        r.uint(true, []string{"Position"}),
		ExecutedGTIDSet: cleanGTIDSet(r.str(false, []string{"Executed_Gtid_Set"})),
	}
	if err := r.err(); err != nil {
		return BinlogPosition{}, err
	}
	if p.File == "" {
		return BinlogPosition{}, fmt.Errorf("parse binlog status: column File is empty")
	}
	return p, nil
}

// ComparePositions orders two binlog positions: -1 if a is before b, 0 if
// they are equal, +1 if a is after b. Files with the same base name compare
// by their numeric sequence suffix, so mysql-bin-changelog.000012 comes
// after .000009 and .1000000 after .999999 (the suffix grows a digit past
// 999999); files with different base names, or without a numeric suffix,
// compare as strings. Equal files compare by position. GTID sets are
// ignored.
func ComparePositions(a, b BinlogPosition) int {
	if c := compareBinlogFiles(a.File, b.File); c != 0 {
		return c
	}
	return cmp.Compare(a.Position, b.Position)
}

func compareBinlogFiles(a, b string) int {
	if a == b {
		return 0
	}
	abase, aseq, aok := splitBinlogFile(a)
	bbase, bseq, bok := splitBinlogFile(b)
	if aok && bok && abase == bbase {
		if c := cmp.Compare(aseq, bseq); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// splitBinlogFile splits "base.000012" into "base" and 12.
func splitBinlogFile(f string) (base string, seq uint64, ok bool) {
	i := strings.LastIndexByte(f, '.')
	if i < 0 || i == len(f)-1 {
		return "", 0, false
	}
	for _, c := range f[i+1:] {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	seq, err := strconv.ParseUint(f[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return f[:i], seq, true
}

// Retention is a server's binary log retention setting.
type Retention struct {
	// Hours is the configured retention; nil when it is not set, which is
	// Aurora's default (NULL: binlogs are purged lazily, usually within a
	// day, too soon for a rollback window).
	Hours *float64
	// Unlimited is true when the server never purges binlogs by age
	// (binlog_expire_logs_seconds = 0 on MySQL and MariaDB).
	Unlimited bool
}

// Covers reports whether the retention keeps binlogs for at least hours.
func (r Retention) Covers(hours float64) bool {
	if r.Unlimited {
		return true
	}
	return r.Hours != nil && *r.Hours >= hours
}

// String describes the retention for people: "168 h", "unlimited (no
// automatic purge)" or "not set (NULL: ...)".
func (r Retention) String() string {
	switch {
	case r.Unlimited:
		return "unlimited (no automatic purge)"
	case r.Hours == nil:
		return "not set (NULL: Aurora purges binlogs lazily, usually within a day)"
	default:
		return strconv.FormatFloat(math.Round(*r.Hours*100)/100, 'f', -1, 64) + " h"
	}
}

// auroraRetentionName is the rds_show_configuration row for binlog retention.
const auroraRetentionName = "binlog retention hours"

// ParseRetention parses the rows of d's ShowRetention query. On Aurora
// that is CALL mysql.rds_show_configuration (columns name, value,
// description); its "binlog retention hours" row's value is the retention
// in hours, NULL when unset. Elsewhere it is one row with
// binlog_expire_logs_seconds, 0 meaning unlimited.
func ParseRetention(d Dialect, columns []string, rows [][]sql.NullString) (Retention, error) {
	if d.IsAurora() {
		return parseAuroraRetention(columns, rows)
	}
	if len(rows) != 1 {
		return Retention{}, fmt.Errorf("parse retention: want 1 row of binlog_expire_logs_seconds, got %d", len(rows))
	}
	if len(columns) != 1 {
		// Find it by name when the query carries more than the one column.
		r, err := newRowReader("retention", columns, rows[0])
		if err != nil {
			return Retention{}, err
		}
		secs := r.uint(true, []string{"binlog_expire_logs_seconds", "@@global.binlog_expire_logs_seconds"})
		if err := r.err(); err != nil {
			return Retention{}, err
		}
		return retentionFromSeconds(secs), nil
	}
	v := rows[0][0]
	if len(rows[0]) != 1 || !v.Valid {
		return Retention{}, fmt.Errorf("parse retention: column %s is NULL or missing", columns[0])
	}
	secs, err := strconv.ParseUint(strings.TrimSpace(v.String), 10, 64)
	if err != nil {
		return Retention{}, fmt.Errorf("parse retention: column %s: %q is not a whole number of seconds", columns[0], v.String)
	}
	return retentionFromSeconds(secs), nil
}

func retentionFromSeconds(secs uint64) Retention {
	if secs == 0 {
		return Retention{Unlimited: true}
	}
	h := float64(secs) / 3600
	return Retention{Hours: &h}
}

func parseAuroraRetention(columns []string, rows [][]sql.NullString) (Retention, error) {
	ix := indexColumns(columns)
	nameAt, _, okName := ix.find([]string{"name"})
	valueAt, _, okValue := ix.find([]string{"value"})
	if (!okName || !okValue) && len(columns) >= 2 {
		// Unnamed output: Aurora's column order is name, value, description.
		nameAt, valueAt, okName, okValue = 0, 1, true, true
	}
	if !okName || !okValue {
		return Retention{}, fmt.Errorf("parse retention: rds_show_configuration output lacks the name and value columns (got %s)", strings.Join(columns, ", "))
	}
	for _, row := range rows {
		if len(row) != len(columns) {
			return Retention{}, fmt.Errorf("parse retention: row has %d values for %d columns", len(row), len(columns))
		}
		if !strings.EqualFold(strings.TrimSpace(row[nameAt].String), auroraRetentionName) {
			continue
		}
		v := row[valueAt]
		if !v.Valid || strings.TrimSpace(v.String) == "" || strings.EqualFold(strings.TrimSpace(v.String), "NULL") {
			return Retention{}, nil
		}
		h, err := strconv.ParseFloat(strings.TrimSpace(v.String), 64)
		if err != nil || h < 0 || math.IsNaN(h) || math.IsInf(h, 0) {
			return Retention{}, fmt.Errorf("parse retention: %q value %q is not a number of hours", auroraRetentionName, v.String)
		}
		return Retention{Hours: &h}, nil
	}
	return Retention{}, fmt.Errorf("parse retention: rds_show_configuration returned no %q row", auroraRetentionName)
}

// cleanGTIDSet removes the line breaks MySQL puts after the commas of a
// multi-UUID GTID set.
func cleanGTIDSet(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// columnIndex maps lower-cased column names to their position.
type columnIndex map[string]int

func indexColumns(columns []string) columnIndex {
	ix := make(columnIndex, len(columns))
	for i, c := range columns {
		k := strings.ToLower(strings.TrimSpace(c))
		if _, dup := ix[k]; !dup {
			ix[k] = i
		}
	}
	return ix
}

// find returns the position and the spelling of the first of names present.
func (ix columnIndex) find(names []string) (int, string, bool) {
	for _, n := range names {
		if i, ok := ix[strings.ToLower(n)]; ok {
			return i, n, true
		}
	}
	return 0, "", false
}

// rowReader reads typed values out of one result row by column name and
// collects every missing column and malformed value, so one error can name
// them all.
type rowReader struct {
	what    string
	columns []string
	ix      columnIndex
	values  []sql.NullString
	missing []string
	bad     []string
}

func newRowReader(what string, columns []string, values []sql.NullString) (*rowReader, error) {
	if len(values) != len(columns) {
		return nil, fmt.Errorf("parse %s: row has %d values for %d columns", what, len(values), len(columns))
	}
	return &rowReader{what: what, columns: columns, ix: indexColumns(columns), values: values}, nil
}

// lookup returns the value under the first of names present and the
// column's name as the server spelled it.
func (r *rowReader) lookup(required bool, names []string) (sql.NullString, string, bool) {
	i, _, ok := r.ix.find(names)
	if !ok {
		if required {
			r.missing = append(r.missing, strings.Join(names, " or "))
		}
		return sql.NullString{}, "", false
	}
	return r.values[i], r.columns[i], true
}

func (r *rowReader) str(required bool, names []string) string {
	v, _, _ := r.lookup(required, names)
	return v.String
}

// number returns the trimmed text of a number column, or "" when the
// column is absent, NULL or empty.
func (r *rowReader) number(required bool, names []string) (text, column string) {
	v, col, ok := r.lookup(required, names)
	if !ok || !v.Valid {
		return "", col
	}
	return strings.TrimSpace(v.String), col
}

// nullInt reads a signed number that may be NULL; NULL and empty are nil.
func (r *rowReader) nullInt(required bool, names []string) *int64 {
	text, col := r.number(required, names)
	if text == "" {
		return nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		r.bad = append(r.bad, fmt.Sprintf("column %s: %q is not a number", col, text))
		return nil
	}
	return &n
}

// intIn reads a signed number in [lo, hi]; NULL and empty read as 0.
func (r *rowReader) intIn(required bool, names []string, lo, hi int64) int64 {
	text, col := r.number(required, names)
	if text == "" {
		return 0
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < lo || n > hi {
		r.bad = append(r.bad, fmt.Sprintf("column %s: %q is not a number in %d..%d", col, text, lo, hi))
		return 0
	}
	return n
}

// uint reads an unsigned number; NULL and empty read as 0.
func (r *rowReader) uint(required bool, names []string) uint64 {
	text, col := r.number(required, names)
	if text == "" {
		return 0
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		r.bad = append(r.bad, fmt.Sprintf("column %s: %q is not an unsigned number", col, text))
		return 0
	}
	return n
}

func (r *rowReader) err() error {
	var parts []string
	if len(r.missing) > 0 {
		parts = append(parts, "missing columns "+strings.Join(r.missing, ", "))
	}
	parts = append(parts, r.bad...)
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("parse %s: %s", r.what, strings.Join(parts, "; "))
}
