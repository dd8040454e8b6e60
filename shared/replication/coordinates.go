package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// This file proves, before Configure changes anything, that the start
// coordinates can be right: that the rollback target's dialect can hold the
// position at all, and that on production the position is a transaction
// boundary. The classification and the judgement are pure; proveStart is
// the thin part that reads production.

// coordinatesAdvice ends every refusal about start coordinates.
const coordinatesAdvice = "correct coordinates come from the switchover's coordinates event " +
	"(switchback explain-event); never guess or adjust them"

// purgedAdvice explains a start file production no longer has.
const purgedAdvice = "production's binlog retention (binlog_expire_logs_seconds; on Aurora, 'binlog retention hours') was shorter than the time from the switchover to configure: " +
	"the rollback path cannot be built from these coordinates any more; raise the retention before the next switchover (switchback preflight --fix), " +
	"and build the rollback target afresh from a copy of production if a way back is still needed"

// MaxBinlogPosition returns the largest binlog position d can hold as
// replication start coordinates. MariaDB's CHANGE MASTER TO keeps
// MASTER_LOG_POS in 32 bits and silently truncates a larger value (it
// replicates from the position modulo 2^32), so MariaDB holds up to
// 4294967295. MySQL's CHANGE REPLICATION SOURCE TO and Aurora's
// rds_set_external_* procedures take 64-bit positions. It panics if d is
// not a concrete dialect.
func (d Dialect) MaxBinlogPosition() uint64 {
	d.mustBeConcrete("MaxBinlogPosition")
	if d == MariaDB {
		return math.MaxUint32
	}
	return math.MaxUint64
}

// checkPositionLimit refuses a start position that the rollback target's
// or production's dialect cannot hold. The error wraps ErrRefused.
func checkPositionLimit(p BinlogPosition, production, rollback Dialect) error {
	if max := rollback.MaxBinlogPosition(); p.Position > max {
		return fmt.Errorf("%w: binlog position %s is larger than %d, the largest the rollback target (%s) can hold: its %s would silently truncate it to %d and replicate from the wrong place; %s",
			ErrRefused, p, max, rollback, changeSourceName(rollback), p.Position&max, coordinatesAdvice)
	}
	if max := production.MaxBinlogPosition(); p.Position > max {
		return fmt.Errorf("%w: binlog position %s is larger than %d, the largest a binlog position can be on production (%s): these cannot be production's coordinates; %s",
			ErrRefused, p, max, production, coordinatesAdvice)
	}
	return nil
}

// changeSourceName names the statement that points a d server at a source.
func changeSourceName(d Dialect) string {
	switch {
	case d == MariaDB:
		return "CHANGE MASTER TO"
	case d == MySQL:
		return "CHANGE REPLICATION SOURCE TO"
	case d == AuroraMySQL2:
		return "mysql.rds_set_external_master"
	default:
		return "mysql.rds_set_external_source"
	}
}

// Event types that start at a transaction boundary: an event that begins a
// transaction (event group), or a file-level event that is never part of
// one. Any other event (Query, Table_map, Write_rows, Annotate_rows, Xid,
// Transaction_payload…) sits inside a transaction that began earlier.
var (
	mariaDBBoundaryEvents = []string{
		"Gtid", // begins every event group, DDL included
		"Format_desc", "Start_encryption", "Gtid_list", "Binlog_checkpoint", "Rotate", "Stop",
	}
	mySQLBoundaryEvents = []string{
		"Gtid", "Anonymous_Gtid", // begin every transaction (gtid_mode ON / OFF)
		"Gtid_tagged_log", // MySQL 8.3+ tagged GTIDs (8.4, Aurora 8.4)
		"Format_desc", "Previous_gtids", "Rotate", "Stop",
	}
)

// IsBoundaryEvent reports whether an event of eventType, as SHOW BINLOG
// EVENTS names it on a server of dialect d, starts at a transaction
// boundary: replication started at such an event receives whole
// transactions only. MariaDB: Gtid, Format_desc, Start_encryption,
// Gtid_list, Binlog_checkpoint, Rotate, Stop. MySQL and Aurora: Gtid,
// Anonymous_Gtid, Gtid_tagged_log, Format_desc, Previous_gtids, Rotate,
// Stop. Names are matched exactly, as the server spells them. It panics if
// d is not a concrete dialect.
func (d Dialect) IsBoundaryEvent(eventType string) bool {
	d.mustBeConcrete("IsBoundaryEvent")
	if d == MariaDB {
		return slices.Contains(mariaDBBoundaryEvents, eventType)
	}
	return slices.Contains(mySQLBoundaryEvents, eventType)
}

// BinlogFile is one row of SHOW BINARY LOGS.
type BinlogFile struct {
	Name string
	Size uint64
}

// BinlogEvent is one row of SHOW BINLOG EVENTS, without its Info column
// (which can quote statements, and so secrets).
type BinlogEvent struct {
	File string
	// Pos is where the event starts; EndPos is the End_log_pos the event's
	// header records: where the next event starts, modulo 2^32 (the header
	// field has 32 bits).
	Pos    uint64
	EndPos uint64
	Type   string
	// ServerID is the server id the event was logged with: the server
	// where its transaction was first written.
	ServerID uint64
}

// showBinaryLogs lists production's binary log files and their sizes.
func showBinaryLogs() Statement { return plain("SHOW BINARY LOGS") }

// showBinlogEventsAt returns SHOW BINLOG EVENTS IN file FROM pos LIMIT n.
// MariaDB rejects placeholders in this statement (error 1064 when
// prepared), so file and position are literals; file must already have
// passed BinlogPosition.Validate.
func showBinlogEventsAt(p BinlogPosition, n int) (Statement, error) {
	q, err := quoteString(p.File)
	if err != nil {
		return Statement{}, fmt.Errorf("%w: binlog file: %v", ErrInvalidArgument, err)
	}
	return plain("SHOW BINLOG EVENTS IN " + q + " FROM " + strconv.FormatUint(p.Position, 10) + " LIMIT " + strconv.Itoa(n)), nil
}

// parseBinaryLogs parses the rows of SHOW BINARY LOGS (Log_name,
// File_size, and on MySQL Encrypted).
func parseBinaryLogs(columns []string, rows [][]sql.NullString) ([]BinlogFile, error) {
	out := make([]BinlogFile, 0, len(rows))
	for _, row := range rows {
		r, err := newRowReader("binary logs", columns, row)
		if err != nil {
			return nil, err
		}
		f := BinlogFile{Name: r.str(true, []string{"Log_name"}), Size: r.uint(true, []string{"File_size"})}
		if err := r.err(); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// parseBinlogEvents parses the rows of SHOW BINLOG EVENTS (Log_name, Pos,
// Event_type, Server_id, End_log_pos, Info).
func parseBinlogEvents(columns []string, rows [][]sql.NullString) ([]BinlogEvent, error) {
	out := make([]BinlogEvent, 0, len(rows))
	for _, row := range rows {
		r, err := newRowReader("binlog events", columns, row)
		if err != nil {
			return nil, err
		}
		e := BinlogEvent{
			File:     r.str(true, []string{"Log_name"}),
			Pos:      r.uint(true, []string{"Pos"}),
			Type:     r.str(true, []string{"Event_type"}),
			EndPos:   r.uint(true, []string{"End_log_pos"}),
			ServerID: r.uint(false, []string{"Server_id"}),
		}
		if err := r.err(); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// binlogReadPrivilege names the privilege statement needs on a server of
// dialect d: BINLOG MONITOR on MariaDB (10.5+) for both; on MySQL and
// Aurora REPLICATION SLAVE for SHOW BINLOG EVENTS and REPLICATION CLIENT
// for SHOW BINARY LOGS.
func binlogReadPrivilege(d Dialect, statement string) string {
	switch {
	case d == MariaDB:
		return "BINLOG MONITOR"
	case strings.HasPrefix(statement, "SHOW BINLOG EVENTS"):
		return "REPLICATION SLAVE"
	default:
		return "REPLICATION CLIENT"
	}
}

// privilegeRefusal is the refusal for a statement production's user may
// not run.
func privilegeRefusal(p BinlogPosition, d Dialect, user, statement, serverMessage string) error {
	return fmt.Errorf("%w: cannot prove that %s is a transaction boundary on production: its user %q may not run %s, which needs the %s privilege (production said: %s); "+
		"grant it or connect as the cluster's admin user — switchback does not configure from coordinates it cannot check",
		ErrRefused, p, user, strings.TrimSuffix(statement, marker), binlogReadPrivilege(d, statement), serverMessage)
}

// locateStart checks p.File and p.Position against production's binary
// log files. It returns the file's size, and done with a detail when that
// alone proves p a boundary (p is exactly the end of the file). It refuses
// (the error wraps ErrRefused) a file production does not have and a
// position past the file's end.
func locateStart(p BinlogPosition, files []BinlogFile) (size uint64, done bool, detail string, err error) {
	if len(files) == 0 {
		return 0, false, "", fmt.Errorf("%w: cannot check %s: production lists no binary log files (binary logging is off?); %s", ErrRefused, p, coordinatesAdvice)
	}
	i := slices.IndexFunc(files, func(f BinlogFile) bool { return f.Name == p.File })
	if i < 0 {
		return 0, false, "", fmt.Errorf("%w: binlog file %s (of start coordinates %s) is not on production, which has %s … %s: it was purged, or the coordinates are not production's; %s; %s",
			ErrRefused, p.File, p, files[0].Name, files[len(files)-1].Name, purgedAdvice, coordinatesAdvice)
	}
	f := files[i]
	last := i == len(files)-1
	switch {
	case p.Position > f.Size:
		what := "its size"
		if last {
			what = "its current end"
		}
		return 0, false, "", fmt.Errorf("%w: binlog position %s is past the end of the file: %s is %d bytes (%s) on production, so nothing there can be replicated from; %s",
			ErrRefused, p, f.Name, f.Size, what, coordinatesAdvice)
	case p.Position == f.Size && last:
		return f.Size, true, fmt.Sprintf("%s is the current end of production's binlog (a transaction boundary)", p), nil
	case p.Position == f.Size:
		return f.Size, true, fmt.Sprintf("%s is the end of production's binlog file %s (a transaction boundary)", p, f.Name), nil
	}
	return f.Size, false, "", nil
}

// judgeStartEvent decides whether p, strictly inside a file of size bytes,
// is a transaction boundary on a production of dialect d, given what
// SHOW BINLOG EVENTS IN p.File FROM p.Position LIMIT 2 answered: events,
// or the message of error 1220 (eventsErr; "" when it answered rows). It
// accepts only the start of an event that IsBoundaryEvent, and only when
// the answer is self-consistent: the first event starts at p, and the next
// one starts where the first one's header says it ends (or, when it is the
// last event, the file ends there). Anything else is refused with an error
// wrapping ErrRefused that names the position and the event found there.
func judgeStartEvent(d Dialect, p BinlogPosition, size uint64, events []BinlogEvent, eventsErr string) (string, error) {
	if eventsErr != "" {
		if strings.Contains(eventsErr, "Could not find target log") {
			return "", fmt.Errorf("%w: binlog file %s (of start coordinates %s) is not on production any more (production said: %s): it was purged; %s; %s",
				ErrRefused, p.File, p, eventsErr, purgedAdvice, coordinatesAdvice)
		}
		return "", fmt.Errorf("%w: binlog position %s is not the start of an event: production cannot read an event there (production said: %s), so it is in the middle of one and replication would start from garbage; %s",
			ErrRefused, p, eventsErr, coordinatesAdvice)
	}
	cannotProve := func(why string) error {
		return fmt.Errorf("%w: cannot prove that %s is a transaction boundary: %s; switchback does not configure from coordinates it cannot check; %s",
			ErrRefused, p, why, coordinatesAdvice)
	}
	if len(events) == 0 {
		return "", cannotProve(fmt.Sprintf("production's SHOW BINLOG EVENTS returned no event at position %d, although %s is %d bytes long", p.Position, p.File, size))
	}
	ev := events[0]
	if (ev.File != "" && ev.File != p.File) || ev.Pos != p.Position {
		return "", cannotProve(fmt.Sprintf("production answered with an event at %s:%d instead", ev.File, ev.Pos))
	}
	// End_log_pos is a 32-bit header field; compare modulo 2^32.
	switch {
	case len(events) > 1 && uint32(events[1].Pos) != uint32(ev.EndPos):
		return "", cannotProve(fmt.Sprintf("the %s event production reads there ends at %d by its header, but the next event starts at %d", ev.Type, ev.EndPos, events[1].Pos))
	case len(events) == 1 && uint32(size) != uint32(ev.EndPos):
		return "", cannotProve(fmt.Sprintf("the %s event production reads there is the last one, but it ends at %d by its header and the file at %d", ev.Type, ev.EndPos, size))
	}
	if !d.IsBoundaryEvent(ev.Type) {
		return "", fmt.Errorf("%w: binlog position %s is inside a transaction: the event there is of type %s (bytes %d..%d), which does not begin a transaction; replicating from it would skip the start of that transaction and apply the rest out of context; %s",
			ErrRefused, p, ev.Type, ev.Pos, ev.EndPos, coordinatesAdvice)
	}
	return fmt.Sprintf("%s starts an event of type %s on production (a transaction boundary)", p, ev.Type), nil
}

// proveStart reads production's binary logs and refuses start coordinates
// that are not a transaction boundary there: a file production does not
// have, a position past the file's end, in the middle of an event, or at an
// event inside a transaction. It returns a detail for the step record. It
// changes nothing. Refusals wrap ErrRefused; errors reaching production
// are returned as they are.
func proveStart(ctx context.Context, prod *Server, p BinlogPosition) (string, error) {
	list := showBinaryLogs()
	cols, rows, err := prod.queryRows(ctx, list)
	switch n := mysqlErrno(err); {
	case err == nil:
	case n == errnoSpecificAccessDenied:
		return "", privilegeRefusal(p, prod.Dialect, prod.User, list.SQL, serverMessage(err))
	case n == 1381: // ER_NO_BINARY_LOGGING
		return "", fmt.Errorf("%w: cannot check %s: production does not write a binary log (production said: %s), so nothing can replicate from it", ErrRefused, p, serverMessage(err))
	default:
		return "", fmt.Errorf("check start coordinates: %w", err)
	}
	files, err := parseBinaryLogs(cols, rows)
	if err != nil {
		return "", fmt.Errorf("%s: %w", prod, err)
	}
	size, done, detail, err := locateStart(p, files)
	if err != nil || done {
		return detail, err
	}
	st, err := showBinlogEventsAt(p, 2)
	if err != nil {
		return "", err
	}
	cols, rows, err = prod.queryRows(ctx, st)
	var events []BinlogEvent
	var eventsErr string
	switch n := mysqlErrno(err); {
	case err == nil:
		if events, err = parseBinlogEvents(cols, rows); err != nil {
			return "", fmt.Errorf("%s: %w", prod, err)
		}
	case n == errnoSpecificAccessDenied:
		return "", privilegeRefusal(p, prod.Dialect, prod.User, st.SQL, serverMessage(err))
	case n == 1220: // ER_ERROR_WHEN_EXECUTING_COMMAND: a bad offset or a missing file
		eventsErr = serverMessage(err)
	default:
		return "", fmt.Errorf("check start coordinates: %w", err)
	}
	return judgeStartEvent(prod.Dialect, p, size, events, eventsErr)
}

// serverMessage is the server's own text of the MySQL error in err, or
// err's message when it carries none.
func serverMessage(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return redactSecrets(me.Message)
	}
	return redactSecrets(err.Error())
}
