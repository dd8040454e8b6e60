package preflight

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/replication"
)

// The thin readers: each runs a few read-only queries and returns what it
// saw, errors included, for the pure checks to judge.

// systemSchemas hold no application data.
const systemSchemas = "'mysql', 'information_schema', 'performance_schema', 'sys'"

// productionFacts is what preflight reads on production.
type productionFacts struct {
	format        formatFacts
	retention     retentionFacts
	access        productionAccess
	collations    []collationUse
	collationsErr error
	noPK          []string
	noPKCount     int
	noPKErr       error
	invisiblePK   bool
	auth          authFacts
}

// rollbackFacts is what preflight reads on the rollback side.
type rollbackFacts struct {
	access          rollbackAccess
	collations      []string
	collationsErr   error
	collationsGiven bool
}

func readProduction(ctx context.Context, s *replication.Server, set Settings) productionFacts {
	var f productionFacts
	f.format = readFormat(ctx, s)
	f.retention = readRetention(ctx, s)
	f.access = productionAccess{User: s.User}
	f.access.Grants, f.access.RolesExpanded, f.access.GrantsErr = readGrants(ctx, s)
	f.access.BinlogStatusErr = drain(ctx, s.DB(), s.Dialect.BinlogStatus(s.Info).SQL)
	f.collations, f.collationsErr = readCollationsUsed(ctx, s.DB())
	f.noPK, f.noPKCount, f.noPKErr = readTablesWithoutPK(ctx, s.DB())
	f.invisiblePK = boolVariable(ctx, s.DB(), "sql_generate_invisible_primary_key")
	f.auth = readAuth(ctx, s, set.ReplicationUser, set.ReplicationUserHost)
	return f
}

func readRollback(ctx context.Context, s *replication.Server) rollbackFacts {
	var f rollbackFacts
	f.access = rollbackAccess{User: s.User, Dialect: s.Dialect}
	f.access.Grants, f.access.RolesExpanded, f.access.GrantsErr = readGrants(ctx, s)
	f.access.ReplicaStatusErr = drain(ctx, s.DB(), s.Dialect.ReplicaStatus().SQL)
	if s.Dialect.IsAurora() {
		f.access.Procedures, f.access.ProceduresErr = strings1(ctx, s.DB(),
			`SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME LIKE 'rds\_%'`)
	}
	f.collations, f.collationsErr = readCollationsSupported(ctx, s.DB())
	return f
}

// drain runs a query and reads every row: "can this login run it?".
func drain(ctx context.Context, db *sql.DB, q string, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// strings1 returns the first column of every row.
func strings1(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v.String)
	}
	return out, rows.Err()
}

// queryStrings returns the columns and rows of a query as nullable strings.
func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, [][]sql.NullString, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]sql.NullString
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, vals)
	}
	return cols, out, rows.Err()
}

// boolVariable reads a global boolean variable; false when the server does
// not have it.
func boolVariable(ctx context.Context, db *sql.DB, name string) bool {
	var v sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@global."+name).Scan(&v); err != nil {
		return false
	}
	return isOn(v.String)
}

func isOn(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "TRUE", "YES":
		return true
	}
	return false
}

func errno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func readFormat(ctx context.Context, s *replication.Server) formatFacts {
	var f formatFacts
	var format, logBin sql.NullString
	if err := s.DB().QueryRowContext(ctx, "SELECT @@global.binlog_format, @@global.log_bin").Scan(&format, &logBin); err != nil {
		f.Err = err
		return f
	}
	f.Format, f.LogBin = format.String, isOn(logBin.String)
	f.Compression = boolVariable(ctx, s.DB(), "binlog_transaction_compression")
	return f
}

// readRetention reads production's binlog retention in its dialect; a
// server forced to an Aurora dialect that lacks mysql.rds_show_configuration
// falls back to its detected dialect (as configure does).
func readRetention(ctx context.Context, s *replication.Server) retentionFacts {
	d := s.Dialect
	cols, rows, err := queryStrings(ctx, s.DB(), d.ShowRetention().SQL)
	if err != nil && d.IsAurora() && errno(err) == 1305 /* no such procedure */ {
		if detected, derr := replication.Detect(s.Info); derr == nil && !detected.IsAurora() {
			d = detected
			cols, rows, err = queryStrings(ctx, s.DB(), d.ShowRetention().SQL)
		}
	}
	if err != nil {
		return retentionFacts{Dialect: d, Err: err}
	}
	r, err := replication.ParseRetention(d, cols, rows)
	return retentionFacts{Retention: r, Dialect: d, Err: err}
}

// retentionCheck checks the retention and, when it is short and
// Settings.Fix is set, sets it to the window in place and reads it back.
func retentionCheck(ctx context.Context, s *replication.Server, r retentionFacts, set Settings) Check {
	c := checkRetention(r, set.RetentionHours, set.ConfigureRetentionHours)
	if r.Err != nil || c.Status == Pass || !set.Fix {
		return c
	}
	sts, err := r.Dialect.SetRetention(set.RetentionHours)
	if err == nil {
		for _, st := range sts {
			if _, err = s.DB().ExecContext(ctx, st.SQL, st.Args...); err != nil {
				err = fmt.Errorf("%s: %w", st.Display, err)
				break
			}
		}
	}
	if err != nil {
		c.Status = Fail
		c.Evidence += "; setting it failed: " + err.Error()
		return c
	}
	after := readRetention(ctx, s)
	if after.Err != nil || !after.Retention.Covers(float64(set.RetentionHours)) {
		c.Status = Fail
		c.Evidence += fmt.Sprintf("; it was set to %d h, but reads back as %s", set.RetentionHours, describeRetention(after))
		return c
	}
	fixed := Check{ID: c.ID, Title: c.Title, Status: Pass, Fixed: true,
		Evidence: fmt.Sprintf("retention was %s; preflight set it to %d h, and it now reads %s", r.Retention, set.RetentionHours, after.Retention)}
	if r.Dialect == replication.MariaDB {
		fixed.Status = Warn
		fixed.Evidence += " — with SET GLOBAL, which MariaDB does not persist"
		fixed.Fix = fmt.Sprintf("put binlog_expire_logs_seconds = %d in production's configuration too, or a restart undoes the fix", set.RetentionHours*3600)
	}
	return fixed
}

func describeRetention(r retentionFacts) string {
	if r.Err != nil {
		return "unreadable (" + r.Err.Error() + ")"
	}
	return r.Retention.String()
}

var reRoleIdent = regexp.MustCompile("^`[^`]+`(@`[^`]*`)?$")

// readGrants reads SHOW GRANTS for the login, with its roles' privileges:
// MySQL shows them with SHOW GRANTS FOR CURRENT_USER() USING <roles>,
// MariaDB with SHOW GRANTS FOR <role> (roles granted to roles included).
// expanded is false when the login has roles whose privileges could not
// be read.
func readGrants(ctx context.Context, s *replication.Server) (lines []string, expanded bool, err error) {
	lines, err = strings1(ctx, s.DB(), "SHOW GRANTS")
	if err != nil {
		return nil, false, err
	}
	roles := parseGrants(lines).roles
	if len(roles) == 0 {
		return lines, true, nil
	}
	for _, r := range roles {
		if !reRoleIdent.MatchString(r) {
			return lines, false, nil
		}
	}
	if s.Dialect != replication.MariaDB {
		more, err := strings1(ctx, s.DB(), "SHOW GRANTS FOR CURRENT_USER() USING "+strings.Join(roles, ", "))
		if err != nil {
			return lines, false, nil
		}
		return append(lines, more...), true, nil
	}
	seen := map[string]bool{}
	queue := roles
	expanded = true
	for len(queue) > 0 && len(seen) < 32 {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		more, err := strings1(ctx, s.DB(), "SHOW GRANTS FOR "+r)
		if err != nil {
			expanded = false
			continue
		}
		lines = append(lines, more...)
		for _, n := range parseGrants(more).roles {
			if reRoleIdent.MatchString(n) {
				queue = append(queue, n)
			}
		}
	}
	return lines, expanded, nil
}

// readCollationsUsed lists the collations production uses: columns, base
// tables and schema defaults outside the system schemas, and the server's
// defaults — each kind counted with one example.
func readCollationsUsed(ctx context.Context, db *sql.DB) ([]collationUse, error) {
	var out []collationUse
	for _, q := range []struct{ kind, sql string }{
		{"column", `SELECT COLLATION_NAME, COUNT(*), MIN(CONCAT(TABLE_SCHEMA, '.', TABLE_NAME, '.', COLUMN_NAME))
			FROM information_schema.COLUMNS WHERE COLLATION_NAME IS NOT NULL AND TABLE_SCHEMA NOT IN (` + systemSchemas + `)
			GROUP BY COLLATION_NAME ORDER BY COLLATION_NAME`},
		{"table", `SELECT TABLE_COLLATION, COUNT(*), MIN(CONCAT(TABLE_SCHEMA, '.', TABLE_NAME))
			FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_COLLATION IS NOT NULL AND TABLE_SCHEMA NOT IN (` + systemSchemas + `)
			GROUP BY TABLE_COLLATION ORDER BY TABLE_COLLATION`},
		{"schema", `SELECT DEFAULT_COLLATION_NAME, COUNT(*), MIN(SCHEMA_NAME)
			FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (` + systemSchemas + `)
			GROUP BY DEFAULT_COLLATION_NAME ORDER BY DEFAULT_COLLATION_NAME`},
	} {
		rows, err := db.QueryContext(ctx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("%s collations: %w", q.kind, err)
		}
		for rows.Next() {
			var name, example sql.NullString
			var n int
			if err := rows.Scan(&name, &n, &example); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, collationUse{Collation: name.String, Kind: q.kind, Count: n, Example: example.String})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, v := range []string{"collation_server", "collation_database", "collation_connection", "default_collation_for_utf8mb4"} {
		var name sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT @@global."+v).Scan(&name); err != nil || name.String == "" {
			continue // not every server has every one (default_collation_for_utf8mb4: MySQL 8.0)
		}
		out = append(out, collationUse{Collation: name.String, Kind: "server default", Count: 1, Example: v})
	}
	return out, nil
}

// readCollationsSupported lists the rollback side's collations:
// information_schema.COLLATIONS, and on MariaDB 10.10+ the full names of
// the character-set-independent ones (utf8mb4_uca1400_ai_ci is listed
// there, COLLATIONS shows uca1400_ai_ci).
func readCollationsSupported(ctx context.Context, db *sql.DB) ([]string, error) {
	names, err := strings1(ctx, db, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
	if err != nil {
		return nil, err
	}
	if full, err := strings1(ctx, db, "SELECT FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY"); err == nil {
		names = append(names, full...)
	}
	return names, nil
}

// readTablesWithoutPK lists production's base tables that have no primary
// key (the first few hundred names, and how many there are).
func readTablesWithoutPK(ctx context.Context, db *sql.DB) ([]string, int, error) {
	names, err := strings1(ctx, db, `SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) FROM information_schema.TABLES t
		WHERE t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_SCHEMA NOT IN (`+systemSchemas+`)
		AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c
			WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY')
		ORDER BY 1`)
	if err != nil {
		return nil, 0, err
	}
	n := len(names)
	if len(names) > 200 {
		names = names[:200]
	}
	return names, n, nil
}

// readAuth reads the replication user's plugin on production, or the
// plugin configure would create it with: MySQL's default
// (default_authentication_plugin; from 8.4 the first authentication_policy
// element, "*" meaning caching_sha2_password), MariaDB's
// mysql_native_password.
func readAuth(ctx context.Context, s *replication.Server, user, host string) authFacts {
	a := authFacts{Production: parseVersion(s.Info.Version, s.Info.VersionComment)}
	var plugin sql.NullString
	err := s.DB().QueryRowContext(ctx, "SELECT plugin FROM mysql.user WHERE user = ? AND host = ?", user, host).Scan(&plugin)
	switch {
	case err == nil:
		a.Exists, a.Plugin = true, plugin.String
		return a
	case !errors.Is(err, sql.ErrNoRows):
		a.Err = err
		return a
	}
	if s.Dialect == replication.MariaDB {
		a.Plugin = "mysql_native_password"
		return a
	}
	var def sql.NullString
	if err := s.DB().QueryRowContext(ctx, "SELECT @@global.default_authentication_plugin").Scan(&def); err == nil && def.String != "" {
		a.Plugin = def.String
		return a
	}
	if err := s.DB().QueryRowContext(ctx, "SELECT @@global.authentication_policy").Scan(&def); err == nil {
		first, _, _ := strings.Cut(def.String, ",")
		first = strings.TrimSpace(first)
		if first == "" || first == "*" {
			first = "caching_sha2_password"
		}
		a.Plugin = first
	}
	return a
}
