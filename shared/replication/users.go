package replication

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
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

// passwordClause is the IDENTIFIED BY clause for password. These
// statements reach production's binary log and replicate: MySQL and Aurora
// rewrite the password to its hash there, MariaDB keeps the text, so for
// MariaDB the mysql_native_password hash is computed here and sent instead.
func passwordClause(d Dialect, password string) string {
	if d == MariaDB {
		return "IDENTIFIED BY PASSWORD '" + nativePasswordHash(password) + "'"
	}
	pw, _ := quoteString(password)
	return "IDENTIFIED BY " + pw
}

// nativePasswordHash is mysql_native_password's stored form of password:
// "*" and the upper-case hex of SHA1(SHA1(password)).
func nativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// createUserStatements creates the replication user with exactly its two
// privileges. The password appears only in SQL, never in Display.
func createUserStatements(d Dialect, user, host, password string) []Statement {
	acct := accountLiteral(user, host)
	return []Statement{
		{SQL: "CREATE USER IF NOT EXISTS " + acct + " " + passwordClause(d, password) + " /* switchback */",
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

// alterPasswordStatement sets the user's password. IF EXISTS keeps the
// replicated statement harmless on a rollback target that lacks the user.
func alterPasswordStatement(d Dialect, user, host, password string) Statement {
	acct := accountLiteral(user, host)
	return Statement{SQL: "ALTER USER IF EXISTS " + acct + " " + passwordClause(d, password) + " /* switchback */",
		Display: "ALTER USER IF EXISTS " + acct + " IDENTIFIED BY '<redacted>' /* switchback */"}
}

// Secret-bearing clauses a server may quote back in an error message (a
// replica's Last_SQL_Error quotes the statement it failed to apply).
var reSecretClause = regexp.MustCompile(`(?i)((?:IDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)(?:\s+PASSWORD)?|(?:MASTER|SOURCE)_PASSWORD\s*=|PASSWORD\s*\(|SET\s+PASSWORD\s+(?:FOR\s+\S+\s+)?=)\s*)'(?:[^'\\]|\\.|'')*'`)

// redactSecrets removes passwords and password hashes from a message that
// came from a server.
func redactSecrets(msg string) string {
	return reSecretClause.ReplaceAllString(msg, "${1}'<redacted>'")
}
