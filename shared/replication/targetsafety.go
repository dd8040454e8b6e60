package replication

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// A rollback target whose executed position equals production's has not
// necessarily applied everything production wrote: positions say what the
// SQL thread read, not what it applied. targetProblems lists what makes a
// rollback target diverge from production, or fall behind on purpose.

// applySettings are the rollback target's global settings that make its
// SQL thread skip events.
type applySettings struct {
	ExecMode    string // slave_exec_mode / replica_exec_mode: STRICT or IDEMPOTENT
	SkipErrors  string // slave_skip_errors / replica_skip_errors: OFF or a list
	SkipCounter int64  // sql_slave_skip_counter / sql_replica_skip_counter
}

// applySettingsQueries returns the queries for d's applySettings, in that
// column order, newest spelling first: MySQL 8.0.26 renamed the variables
// (replica_*), so Aurora 3 before 3.03 and Aurora v2 answer only the
// slave_* one, and MariaDB only knows slave_*.
func (d Dialect) applySettingsQueries() []Statement {
	d.mustBeConcrete("applySettingsQueries")
	old := plain("SELECT @@global.slave_exec_mode, @@global.slave_skip_errors, @@global.sql_slave_skip_counter")
	if d == AuroraMySQL2 || d == MariaDB {
		return []Statement{old}
	}
	return []Statement{plain("SELECT @@global.replica_exec_mode, @@global.replica_skip_errors, @@global.sql_replica_skip_counter"), old}
}

// problems describes the settings that skip events, if any.
func (a applySettings) problems() []string {
	var out []string
	if !strings.EqualFold(strings.TrimSpace(a.ExecMode), "STRICT") {
		out = append(out, fmt.Sprintf("the rollback target applies events in %s mode (slave_exec_mode/replica_exec_mode): rows that do not match are skipped instead of stopping replication; set it back to STRICT", a.ExecMode))
	}
	if s := strings.TrimSpace(a.SkipErrors); s != "" && !strings.EqualFold(s, "OFF") {
		out = append(out, fmt.Sprintf("the rollback target skips replication errors %s (slave_skip_errors/replica_skip_errors): events that fail are dropped; remove the setting (it needs a restart) and re-check the data", s))
	}
	if a.SkipCounter != 0 {
		out = append(out, fmt.Sprintf("the rollback target will skip the next %d replicated event group(s) (sql_slave_skip_counter): set it back to 0", a.SkipCounter))
	}
	return out
}

// replicaProblems lists what in the rollback target's replica status makes
// it apply less than production wrote or hold it back: other replication
// connections, filters, delay and a pending skip. It is a pure function.
func replicaProblems(rs ReplicaStatus) []string {
	var out []string
	for _, c := range rs.OtherConnections {
		out = append(out, "the rollback target has another replication connection, "+c+": once promoted it would keep applying another server's writes; remove it")
	}
	if len(rs.Filters) > 0 {
		out = append(out, "the rollback target filters replicated events ("+strings.Join(rs.Filters, ", ")+"): what they drop is missing there; remove the filters")
	}
	if rs.SQLDelay > 0 {
		out = append(out, fmt.Sprintf("the rollback target applies events %d s late on purpose (MASTER_DELAY / SOURCE_DELAY): a cutover would keep production fenced at least that long; set the delay to 0", rs.SQLDelay))
	}
	if rs.SkipCounter > 0 {
		out = append(out, fmt.Sprintf("the rollback target will skip the next %d replicated event group(s) (Skip_Counter): set sql_slave_skip_counter back to 0", rs.SkipCounter))
	}
	return out
}

// binlogFilterProblems reads production's binlog status row (SHOW MASTER
// STATUS / SHOW BINARY LOG STATUS): databases it leaves out of its binary
// log never reach the rollback target. It is a pure function.
func binlogFilterProblems(columns []string, row []sql.NullString) []string {
	var out []string
	for i, c := range columns {
		if i >= len(row) {
			break
		}
		if (strings.EqualFold(c, "Binlog_Do_DB") || strings.EqualFold(c, "Binlog_Ignore_DB")) && strings.TrimSpace(row[i].String) != "" {
			out = append(out, fmt.Sprintf("production leaves databases out of its binary log (%s=%s): their writes never reach the rollback target; remove binlog-do-db / binlog-ignore-db (a restart)", c, row[i].String))
		}
	}
	return out
}

// targetProblems lists why the rollback target cannot be trusted to hold
// everything production wrote, beyond positions: replicaProblems, settings
// that skip events, and errant transactions (its own writes). A check that
// cannot be made is a problem too: what cannot be proven is not assumed.
// held is switchback's lock on production when the caller holds it.
func targetProblems(ctx context.Context, prod, rb *Server, rs ReplicaStatus, held *serverLock) []string {
	out := replicaProblems(rs)
	st := prod.Dialect.BinlogStatus(prod.Info)
	if cols, rows, err := prod.queryRows(ctx, st); err != nil {
		out = append(out, fmt.Sprintf("cannot read production's binlog filters (%s): %v", st.Display, err))
	} else if len(rows) > 0 {
		out = append(out, binlogFilterProblems(cols, rows[0])...)
	}
	if isMariaDBServer(rb) {
		var mode string
		if err := rb.db.QueryRowContext(ctx, "SELECT @@global.replicate_events_marked_for_skip").Scan(&mode); err != nil {
			out = append(out, "cannot read the rollback target's replicate_events_marked_for_skip: "+err.Error())
		} else if !strings.EqualFold(mode, "REPLICATE") {
			out = append(out, "the rollback target drops events production marks with @@skip_replication (replicate_events_marked_for_skip="+mode+"): set it back to REPLICATE")
		}
	}
	a, err := readApplySettings(ctx, rb)
	if err != nil {
		out = append(out, err.Error())
	} else {
		out = append(out, a.problems()...)
	}
	errant, err := errantTransactions(ctx, prod, rb, held)
	switch {
	case err != nil:
		out = append(out, err.Error())
	case errant != "":
		out = append(out, "the rollback target has writes of its own that production does not have ("+errant+"): a user that bypasses read_only wrote there (maintenance such as ANALYZE, OPTIMIZE or FLUSH without NO_WRITE_TO_BINLOG counts too); find them in its binary log (mysqlbinlog), reconcile them by hand, or configure the rollback target again from a fresh copy")
	}
	return out
}

// readApplySettings reads rb's applySettings. A server that is MariaDB
// underneath (the Aurora test fixture) is asked in MariaDB's spelling.
func readApplySettings(ctx context.Context, rb *Server) (applySettings, error) {
	d := rb.Dialect
	if isMariaDBServer(rb) {
		d = MariaDB
	}
	var a applySettings
	var err error
	for _, st := range d.applySettingsQueries() {
		var mode, skip sql.NullString
		err = rb.db.QueryRowContext(ctx, st.SQL).Scan(&mode, &skip, &a.SkipCounter)
		if err == nil {
			a.ExecMode, a.SkipErrors = mode.String, skip.String
			return a, nil
		}
		if mysqlErrno(err) != 1193 /* unknown system variable */ {
			break
		}
	}
	return a, fmt.Errorf("cannot read the rollback target's apply settings (exec mode, skip errors, skip counter): %v", err)
}
