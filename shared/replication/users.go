package replication

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The replication user's privileges: exactly these, on *.*.
// MariaDB ≥ 10.5 shows REPLICATION CLIENT as its new name, BINLOG MONITOR.
var replicationPrivileges = map[string]bool{"REPLICATION SLAVE": true, "REPLICATION CLIENT": true, "BINLOG MONITOR": true}

// showGrants returns the grant lines of user@host on s, and whether the
// account exists.
func showGrants(ctx context.Context, s *Server, user, host string) ([]string, bool, error) {
	st := Statement{SQL: fmt.Sprintf("SHOW GRANTS FOR %s", accountLiteral(user, host))}
	st.Display = st.SQL
	_, rows, err := s.queryRows(ctx, st)
	if err != nil {
		if n := mysqlErrno(err); n == 1141 /* no such grant */ || n == 1133 /* no such user */ {
			return nil, false, nil
		}
		return nil, false, err
	}
	var lines []string
	for _, r := range rows {
		if len(r) > 0 && r[0].Valid {
			lines = append(lines, r[0].String)
		}
	}
	return lines, true, nil
}

var reGrant = regexp.MustCompile(`(?i)^GRANT (.+?) ON (\S+) TO `)

// replicationGrantsExact reports whether grant lines give exactly
// REPLICATION SLAVE and REPLICATION CLIENT on *.* and nothing else, and
// otherwise what there is instead. It is a pure function of SHOW GRANTS.
func replicationGrantsExact(lines []string) (have []string, ok bool) {
	got := map[string]bool{}
	ok = true
	for _, line := range lines {
		m := reGrant.FindStringSubmatch(line)
		if m == nil {
			// PROXY grants and roles are extra privileges too.
			ok = false
			have = append(have, line)
			continue
		}
		privs, on := m[1], m[2]
		if strings.EqualFold(privs, "USAGE") {
			continue
		}
		if on != "*.*" {
			ok = false
			have = append(have, privs+" ON "+on)
			continue
		}
		for _, p := range strings.Split(privs, ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if !replicationPrivileges[p] {
				ok = false
			}
			if p == "BINLOG MONITOR" {
				p = "REPLICATION CLIENT"
			}
			got[p] = true
			have = append(have, p+" ON *.*")
		}
		if strings.Contains(strings.ToUpper(line), "WITH GRANT OPTION") {
			ok = false
			have = append(have, "GRANT OPTION")
		}
	}
	if !got["REPLICATION SLAVE"] || !got["REPLICATION CLIENT"] {
		ok = false
	}
	sort.Strings(have)
	if len(have) == 0 {
		have = []string{"no privileges"}
	}
	return have, ok
}

// accountLiteral renders 'user'@'host'. Callers validated both with
// quoteString in ConfigureRequest.defaults.
func accountLiteral(user, host string) string {
	u, _ := quoteString(user)
	h, _ := quoteString(host)
	return u + "@" + h
}

// createUserStatements creates the replication user with exactly its two
// privileges. The password appears only in SQL, never in Display.
func createUserStatements(user, host, password string) []Statement {
	acct := accountLiteral(user, host)
	pw, _ := quoteString(password)
	return []Statement{
		{SQL: "CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED BY " + pw + " /* switchback */",
			Display: "CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED BY '<redacted>' /* switchback */"},
		grantStatement(user, host),
	}
}

// regrantStatements resets an existing user's privileges to exactly the two.
func regrantStatements(user, host string) []Statement {
	acct := accountLiteral(user, host)
	revoke := "REVOKE ALL PRIVILEGES, GRANT OPTION FROM " + acct + " /* switchback */"
	return []Statement{{SQL: revoke, Display: revoke}, grantStatement(user, host)}
}

func grantStatement(user, host string) Statement {
	g := "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO " + accountLiteral(user, host) + " /* switchback */"
	return Statement{SQL: g, Display: g}
}

func alterPasswordStatement(user, host, password string) Statement {
	acct := accountLiteral(user, host)
	pw, _ := quoteString(password)
	return Statement{SQL: "ALTER USER " + acct + " IDENTIFIED BY " + pw + " /* switchback */",
		Display: "ALTER USER " + acct + " IDENTIFIED BY '<redacted>' /* switchback */"}
}
