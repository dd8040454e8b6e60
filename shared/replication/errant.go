package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Errant transactions are writes made on the rollback target itself, by a
// user that bypasses read_only, while it replicates from production. A
// cutover would promote a server that differs from production (a row
// deleted there stays deleted), so they refuse it. They are found from the
// binary logs: with GTIDs as the set difference between the rollback
// target's and production's executed transactions (less what the rollback
// target already had when switchback configured it); without GTIDs as the
// rollback target's own events (its server id) logged since configure.
// Writes made with sql_log_bin = 0 leave no trace there and are not seen.

// targetBaseline is what Configure records of the rollback target's own
// transactions before it starts replicating, on production, in
// switchback.target_baseline.
type targetBaseline struct {
	ServerID uint64
	// GTIDState is MariaDB's @@gtid_binlog_state or MySQL's @@gtid_executed.
	GTIDState string
	// Binlog is the rollback target's own binlog position.
	Binlog BinlogPosition
}

// isMariaDBServer reports whether s runs MariaDB, whatever dialect it is
// driven with (the Aurora test fixture is MariaDB underneath).
func isMariaDBServer(s *Server) bool {
	return containsFold(s.Info.Version, "mariadb") || containsFold(s.Info.VersionComment, "mariadb")
}

// readBaselineNow reads the rollback target's own transactions as they are
// now.
func readBaselineNow(ctx context.Context, rb *Server) (targetBaseline, error) {
	var b targetBaseline
	q := "SELECT @@server_id, @@global.gtid_executed"
	if isMariaDBServer(rb) {
		q = "SELECT @@server_id, @@global.gtid_binlog_state"
	}
	var state sql.NullString
	if err := rb.db.QueryRowContext(ctx, q).Scan(&b.ServerID, &state); err != nil {
		return b, fmt.Errorf("%s: read its GTID state: %w", rb, err)
	}
	b.GTIDState = cleanGTIDSet(state.String)
	pos, err := rb.BinlogPosition(ctx)
	if err != nil {
		return b, err
	}
	b.Binlog = pos
	return b, nil
}

// recordBaseline stores b for rb on production.
func recordBaseline(ctx context.Context, prod, rb *Server, b targetBaseline) error {
	_, err := prod.db.ExecContext(ctx,
		"REPLACE INTO "+baselineTable+" /* switchback */ (target, server_id, gtid_state, binlog_file, binlog_position, recorded_at) VALUES (?, ?, ?, ?, ?, NOW(6))",
		rb.Addr, b.ServerID, b.GTIDState, b.Binlog.File, b.Binlog.Position)
	if err != nil {
		return fmt.Errorf("%s: record the rollback target's baseline in %s: %w", prod, baselineTable, err)
	}
	return nil
}

// readBaseline returns the baseline recorded for rb on production, or nil.
func readBaseline(ctx context.Context, prod, rb *Server) (*targetBaseline, error) {
	var b targetBaseline
	err := prod.db.QueryRowContext(ctx,
		"SELECT server_id, gtid_state, binlog_file, binlog_position FROM "+baselineTable+" WHERE target = ?", rb.Addr).
		Scan(&b.ServerID, &b.GTIDState, &b.Binlog.File, &b.Binlog.Position)
	switch n := mysqlErrno(err); {
	case err == nil:
		return &b, nil
	case errors.Is(err, sql.ErrNoRows), n == 1146, n == 1049:
		return nil, nil
	default:
		return nil, fmt.Errorf("%s: read %s: %w", prod, baselineTable, err)
	}
}

// errantTransactions returns a description of the transactions the
// rollback target has and production does not ("" when there are none),
// or an error saying why that cannot be proven. held is switchback's lock
// on production when the caller holds it (see advanceBaseline).
func errantTransactions(ctx context.Context, prod, rb *Server, held *serverLock) (string, error) {
	base, err := readBaseline(ctx, prod, rb)
	if err != nil {
		return "", err
	}
	now, err := readBaselineNow(ctx, rb)
	if err != nil {
		return "", fmt.Errorf("cannot check the rollback target for writes of its own (%v)", err)
	}
	if isMariaDBServer(rb) {
		var prodState sql.NullString
		if err := prod.db.QueryRowContext(ctx, "SELECT @@global.gtid_binlog_state").Scan(&prodState); err != nil {
			return "", fmt.Errorf("%s: read its GTID state: %w", prod, err)
		}
		var baseState string
		if base != nil {
			baseState = base.GTIDState
		}
		return mariaDBErrant(now.GTIDState, prodState.String, baseState)
	}
	var mode sql.NullString
	if err := rb.db.QueryRowContext(ctx, "SELECT @@global.gtid_mode").Scan(&mode); err == nil && strings.EqualFold(mode.String, "ON") {
		var errant sql.NullString
		q := "SELECT GTID_SUBTRACT(?, @@global.gtid_executed)"
		args := []any{now.GTIDState}
		if base != nil {
			q = "SELECT GTID_SUBTRACT(GTID_SUBTRACT(?, @@global.gtid_executed), ?)"
			args = append(args, base.GTIDState)
		}
		if err := prod.db.QueryRowContext(ctx, q, args...).Scan(&errant); err != nil {
			return "", fmt.Errorf("%s: compare GTID sets: %w", prod, err)
		}
		if s := cleanGTIDSet(errant.String); s != "" {
			return "GTIDs " + s, nil
		}
		return "", nil
	}
	if base == nil {
		return "", errors.New("cannot check the rollback target for writes of its own: it has no GTIDs and switchback recorded no baseline of its binary log (replication was not set up by switchback configure)")
	}
	found, end, err := transactionEventsSince(ctx, rb, base.Binlog, func(sid uint64) bool { return sid == now.ServerID })
	if err != nil {
		if found == "" {
			advanceBaseline(ctx, prod, rb, held, end) // the next check goes on from there
		}
		return "", err
	}
	if found != "" {
		return fmt.Sprintf("an event logged by its own server id %d at %s", now.ServerID, found), nil
	}
	advanceBaseline(ctx, prod, rb, held, end)
	return "", nil
}

// advanceBaseline moves the recorded binlog baseline of a rollback target
// without GTIDs to end, once its binary log up to there is proven free of
// its own writes, so that the next check reads only what came since. It is
// best effort: it writes only under the lock and while production is
// writable, and a later check simply reads more when it cannot.
func advanceBaseline(ctx context.Context, prod, rb *Server, held *serverLock, end BinlogPosition) {
	if end.File == "" {
		return
	}
	_ = execUnderLock(ctx, prod, held,
		"UPDATE "+baselineTable+" /* switchback */ SET binlog_file = ?, binlog_position = ? WHERE target = ?",
		end.File, end.Position, rb.Addr)
}

// mariaDBErrant compares MariaDB GTID binlog states ("domain-server-seq,…",
// the newest GTID per domain and server). The rollback target's newest
// transaction of a domain and server is errant unless production (read
// after it) or the baseline recorded at configure has reached it.
func mariaDBErrant(target, production, baseline string) (string, error) {
	tgt, err := parseMariaDBGTIDState(target)
	if err != nil {
		return "", fmt.Errorf("rollback target's gtid_binlog_state: %w", err)
	}
	prod, err := parseMariaDBGTIDState(production)
	if err != nil {
		return "", fmt.Errorf("production's gtid_binlog_state: %w", err)
	}
	base, err := parseMariaDBGTIDState(baseline)
	if err != nil {
		return "", fmt.Errorf("recorded baseline: %w", err)
	}
	var errant []string
	for k, seq := range tgt {
		if max(prod[k], base[k]) >= seq {
			continue
		}
		known := "production has none from that server"
		switch {
		case prod[k] > 0 && prod[k] >= base[k]:
			known = fmt.Sprintf("production has up to %d-%d-%d", k.domain, k.server, prod[k])
		case base[k] > 0:
			known = fmt.Sprintf("it had up to %d-%d-%d when switchback configured it", k.domain, k.server, base[k])
		}
		errant = append(errant, fmt.Sprintf("%d-%d-%d (%s)", k.domain, k.server, seq, known))
	}
	slices.Sort(errant)
	if len(errant) == 0 {
		return "", nil
	}
	return "newest GTID " + strings.Join(errant, ", "), nil
}

type gtidOrigin struct{ domain, server uint64 }

// parseMariaDBGTIDState parses "0-1-5,0-2-7" into the last sequence number
// per domain and server.
func parseMariaDBGTIDState(s string) (map[gtidOrigin]uint64, error) {
	out := map[gtidOrigin]uint64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("GTID %q is not domain-server-sequence", part)
		}
		var n [3]uint64
		for i, v := range f {
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("GTID %q is not domain-server-sequence", part)
			}
			n[i] = x
		}
		k := gtidOrigin{n[0], n[1]}
		out[k] = max(out[k], n[2])
	}
	return out, nil
}

// maxBaselineScan bounds how many binlog events transactionEventsSince
// reads in one call.
const maxBaselineScan = 2_000_000

// transactionEventsSince reads s's binary logs from `from` and returns
// where the first transaction event (not a file-level one) logged by a
// server id that match accepts is, "file:pos (type)", or "" when none is,
// with the end of the last event read.
func transactionEventsSince(ctx context.Context, s *Server, from BinlogPosition, match func(serverID uint64) bool) (string, BinlogPosition, error) {
	end := from
	cols, rows, err := s.queryRows(ctx, showBinaryLogs())
	if err != nil {
		return "", end, err
	}
	files, err := parseBinaryLogs(cols, rows)
	if err != nil {
		return "", end, fmt.Errorf("%s: %w", s, err)
	}
	i := slices.IndexFunc(files, func(f BinlogFile) bool { return f.Name == from.File })
	if i < 0 {
		return "", end, fmt.Errorf("cannot check %s's binary log from %s: that file is gone", s, from)
	}
	const page = 5000
	scanned := 0
	for _, file := range files[i:] {
		at := BinlogPosition{File: file.Name, Position: 4}
		if file.Name == from.File {
			at.Position = from.Position
		}
		for {
			st, err := showBinlogEventsAt(at, page)
			if err != nil {
				return "", end, err
			}
			cols, rows, err := s.queryRows(ctx, st)
			if err != nil {
				return "", end, err
			}
			events, err := parseBinlogEvents(cols, rows)
			if err != nil {
				return "", end, fmt.Errorf("%s: %w", s, err)
			}
			for _, e := range events {
				if match(e.ServerID) && !fileLevelEvent(e.Type) {
					return fmt.Sprintf("%s:%d (%s)", file.Name, e.Pos, e.Type), end, nil
				}
				end = BinlogPosition{File: file.Name, Position: e.EndPos}
			}
			if scanned += len(events); scanned > maxBaselineScan {
				return "", end, fmt.Errorf("cannot check %s's binary log: more than %d events since %s", s, maxBaselineScan, from)
			}
			if len(events) < page {
				break
			}
			at = end
		}
	}
	return "", end, nil
}

// fileLevelEvent reports whether a binlog event type is written by the
// server for the file itself rather than for a transaction.
func fileLevelEvent(t string) bool {
	switch t {
	case "Format_desc", "Rotate", "Stop", "Previous_gtids", "Gtid_list", "Binlog_checkpoint", "Start_encryption":
		return true
	}
	return false
}
