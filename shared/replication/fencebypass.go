package replication

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Writers that bypass the fence. read_only stops application users, not
// privileged ones: on MariaDB 10.11 a user with READ_ONLY ADMIN (SUPER
// before 10.11) writes through it; on MySQL and Aurora a user with SUPER or
// CONNECTION_ADMIN does, unless super_read_only is on (the MySQL dialect's
// fence sets it; Aurora's mysql.rds_set_read_only does not). Scheduled
// events run as their definer. A write of theirs after the fence would move
// production past the position the rollback target is caught up to.

// bypassPrivileges returns the global privileges that let a session write
// through s's fence; none when the fence is super_read_only.
func bypassPrivileges(s *Server) []string {
	if isMariaDBServer(s) {
		if v, ok := parseServerVersion(s.Info.Version); ok && v.less(serverVersion{10, 11, 0}) {
			return []string{"SUPER", "READ_ONLY ADMIN"}
		}
		return []string{"READ_ONLY ADMIN"}
	}
	if s.Dialect == MySQL {
		return nil // super_read_only stops them too
	}
	return []string{"SUPER", "CONNECTION_ADMIN"}
}

// privilegedSession is a session on production whose user can write
// through read_only.
type privilegedSession struct {
	ID      int64
	User    string
	Host    string
	Command string
	Seconds int64
}

func (p privilegedSession) String() string {
	return fmt.Sprintf("connection %d of %s from %s (%s, %d s)", p.ID, p.User, p.Host, p.Command, p.Seconds)
}

// bypassingWriters lists what could write to production through its fence:
// sessions of privileged users other than switchback's own, and enabled
// scheduled events whose definer is privileged while the event scheduler
// runs.
type bypassingWriters struct {
	Sessions []privilegedSession
	Events   []string
}

func (b bypassingWriters) empty() bool { return len(b.Sessions) == 0 && len(b.Events) == 0 }

// privilegedUsers returns the user names holding any of privs on s,
// directly or through roles (granted roles count whether or not they are
// default: SET ROLE takes one at any time). "*" stands for every user
// (MariaDB's PUBLIC holds one of them).
func privilegedUsers(ctx context.Context, s *Server, privs []string) ([]string, error) {
	users, err := directlyPrivileged(ctx, s, privs)
	if err != nil || len(privs) == 0 {
		return users, err
	}
	var edges [][2]string // grantee, role
	if isMariaDBServer(s) {
		roles, err := mariaDBPrivilegedRoles(ctx, s, privs)
		if err != nil {
			return nil, err
		}
		users = append(users, roles...)
		if edges, err = roleEdges(ctx, s, "SELECT User, Role FROM mysql.roles_mapping"); err != nil {
			return nil, err
		}
	} else if edges, err = roleEdges(ctx, s, "SELECT TO_USER, FROM_USER FROM mysql.role_edges"); err != nil {
		return nil, err
	}
	return expandRoles(users, edges), nil
}

// expandRoles adds to users every grantee of a role in users, until
// nothing changes. It is a pure function.
func expandRoles(users []string, edges [][2]string) []string {
	for changed := true; changed; {
		changed = false
		for _, e := range edges {
			if slices.Contains(users, e[1]) && !slices.Contains(users, e[0]) {
				users = append(users, e[0])
				changed = true
			}
		}
	}
	if slices.Contains(users, "PUBLIC") {
		users = append(users, "*")
	}
	return users
}

// roleEdges reads (grantee, role) pairs.
func roleEdges(ctx context.Context, s *Server, q string) ([][2]string, error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: list role grants (%s): %w", s, q, err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var e [2]string
		if err := rows.Scan(&e[0], &e[1]); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// mariaDBPrivilegedRoles returns the MariaDB roles (and PUBLIC) holding any
// of privs globally; information_schema lists no role's privileges there.
func mariaDBPrivilegedRoles(ctx context.Context, s *Server, privs []string) ([]string, error) {
	roles, err := s.db.QueryContext(ctx, "SELECT User FROM mysql.user WHERE is_role = 'Y'")
	if err != nil {
		return nil, fmt.Errorf("%s: list roles: %w", s, err)
	}
	names := []string{"PUBLIC"}
	for roles.Next() {
		var r string
		if err := roles.Scan(&r); err != nil {
			roles.Close()
			return nil, err
		}
		names = append(names, r)
	}
	roles.Close()
	if err := roles.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range names {
		lines, err := showGrantLines(ctx, s, "SHOW GRANTS FOR "+quoteIdent(r))
		if err != nil {
			if r == "PUBLIC" {
				continue // before MariaDB 10.11
			}
			return nil, fmt.Errorf("%s: SHOW GRANTS FOR role %s: %w", s, r, err)
		}
		if grantsGlobal(lines, privs) {
			out = append(out, r)
		}
	}
	return out, nil
}

func showGrantLines(ctx context.Context, s *Server, q string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// grantsGlobal reports whether SHOW GRANTS lines give any of privs (or ALL
// PRIVILEGES) ON *.*. It is a pure function.
func grantsGlobal(lines []string, privs []string) bool {
	for _, l := range lines {
		u := strings.ToUpper(l)
		on := strings.Index(u, " ON *.* ")
		if !strings.HasPrefix(u, "GRANT ") || on < 0 {
			continue
		}
		granted := u[len("GRANT "):on]
		if strings.Contains(granted, "ALL PRIVILEGES") {
			return true
		}
		for _, g := range strings.Split(granted, ",") {
			if slices.Contains(privs, strings.TrimSpace(g)) {
				return true
			}
		}
	}
	return false
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// directlyPrivileged returns the user names holding any of privs directly.
func directlyPrivileged(ctx context.Context, s *Server, privs []string) ([]string, error) {
	if len(privs) == 0 {
		return nil, nil
	}
	q := "SELECT DISTINCT grantee FROM information_schema.user_privileges WHERE privilege_type IN (?" + strings.Repeat(", ?", len(privs)-1) + ")"
	args := make([]any, len(privs))
	for i, p := range privs {
		args[i] = p
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: list privileged users: %w", s, err)
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var grantee string
		if err := rows.Scan(&grantee); err != nil {
			return nil, err
		}
		if u := granteeUser(grantee); !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	return users, rows.Err()
}

// granteeUser is the user name of a grantee "'user'@'host'".
func granteeUser(g string) string {
	if i := strings.LastIndex(g, "@"); i > 0 {
		g = g[:i]
	}
	return strings.Trim(g, "'`")
}

// internalUsers are the server's and RDS's own sessions.
var internalUsers = []string{"system user", "event_scheduler", "rdsadmin", "mariadb.sys", "mysql.session", "mysql.sys"}

// findBypassingWriters reads production's sessions and events.
func findBypassingWriters(ctx context.Context, prod *Server) (bypassingWriters, error) {
	var out bypassingWriters
	users, err := privilegedUsers(ctx, prod, bypassPrivileges(prod))
	if err != nil || len(users) == 0 {
		return out, err
	}
	rows, err := prod.db.QueryContext(ctx, "SELECT id, user, host, command, COALESCE(time, 0) FROM information_schema.processlist")
	if err != nil {
		return out, fmt.Errorf("%s: list sessions: %w", prod, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p privilegedSession
		var host sql.NullString
		if err := rows.Scan(&p.ID, &p.User, &host, &p.Command, &p.Seconds); err != nil {
			return out, err
		}
		p.Host = host.String
		switch {
		case prod.own.has(p.ID),
			slices.Contains(internalUsers, p.User),
			strings.HasPrefix(p.Command, "Binlog Dump"),
			!slices.Contains(users, p.User) && !slices.Contains(users, "*"):
			continue
		}
		out.Sessions = append(out.Sessions, p)
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	var scheduler string
	if err := prod.db.QueryRowContext(ctx, "SELECT @@global.event_scheduler").Scan(&scheduler); err != nil {
		return out, fmt.Errorf("%s: read event_scheduler: %w", prod, err)
	}
	if !strings.EqualFold(scheduler, "ON") {
		return out, nil
	}
	evs, err := prod.db.QueryContext(ctx, "SELECT event_schema, event_name, definer FROM information_schema.events WHERE status = 'ENABLED'")
	if err != nil {
		return out, fmt.Errorf("%s: list events: %w", prod, err)
	}
	defer evs.Close()
	for evs.Next() {
		var schema, name, definer string
		if err := evs.Scan(&schema, &name, &definer); err != nil {
			return out, err
		}
		if slices.Contains(users, granteeUser(definer)) || slices.Contains(users, "*") {
			out.Events = append(out.Events, fmt.Sprintf("%s.%s (definer %s)", schema, name, definer))
		}
	}
	return out, evs.Err()
}

// describe renders what bypasses the fence, for a refusal.
func (b bypassingWriters) describe() string {
	var parts []string
	if len(b.Sessions) > 0 {
		var ss []string
		for _, s := range b.Sessions {
			ss = append(ss, s.String())
		}
		parts = append(parts, fmt.Sprintf("%d session(s) of users that write through read_only: %s", len(b.Sessions), strings.Join(ss, "; ")))
	}
	if len(b.Events) > 0 {
		parts = append(parts, fmt.Sprintf("%d scheduled event(s) that write through read_only while the event scheduler runs: %s", len(b.Events), strings.Join(b.Events, "; ")))
	}
	return strings.Join(parts, "; ")
}
