package preflight

import (
	"regexp"
	"strings"
)

// grants is what SHOW GRANTS lines give a login, parsed. It is a pure
// function of the lines, which MySQL, Aurora and MariaDB print alike:
//
//	GRANT SELECT, REPLICATION SLAVE ON *.* TO `admin`@`%` WITH GRANT OPTION
//	GRANT ALL PRIVILEGES ON `shop`.* TO `app`@`%`
//	GRANT EXECUTE ON PROCEDURE `mysql`.`rds_start_replication` TO `ops`@`%`
//	GRANT `rds_superuser_role`@`%` TO `admin`@`%`      (a role)
type grants struct {
	// global are the privileges on *.*, upper case; grantable those with
	// GRANT OPTION.
	global, grantable map[string]bool
	// onDB are privileges on db.* by lower-case database name.
	onDB map[string]map[string]bool
	// onRoutine are privileges on one routine, by "db.name" lower case.
	onRoutine map[string]map[string]bool
	// roles are the roles granted (as printed).
	roles []string
}

var (
	reGrantLine = regexp.MustCompile(`(?is)^GRANT\s+(.+?)\s+ON\s+(?:(PROCEDURE|FUNCTION)\s+)?(\S+)\s+TO\s+(.+)$`)
	reRoleLine  = regexp.MustCompile(`(?is)^GRANT\s+(.+?)\s+TO\s+(.+)$`)
)

// Privileges that name the same thing across engines and versions.
var privilegeAliases = map[string]string{
	"BINLOG MONITOR":  "REPLICATION CLIENT", // MariaDB 10.5+
	"REPLICA MONITOR": "SLAVE MONITOR",      // MariaDB 10.5.9+
	"READ ONLY ADMIN": "READ_ONLY ADMIN",
}

// allPrivileges is what ALL [PRIVILEGES] on *.* covers for the checks
// (SUPER included on MariaDB and MySQL; not GRANT OPTION).
var allPrivileges = []string{
	"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "RELOAD", "PROCESS", "EXECUTE",
	"CREATE USER", "REPLICATION SLAVE", "REPLICATION CLIENT", "SUPER", "SLAVE MONITOR",
	"REPLICATION SLAVE ADMIN", "READ_ONLY ADMIN",
}

func normPrivilege(p string) string {
	p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
	if a, ok := privilegeAliases[p]; ok {
		return a
	}
	return p
}

func parseGrants(lines []string) grants {
	g := grants{global: map[string]bool{}, grantable: map[string]bool{}, onDB: map[string]map[string]bool{}, onRoutine: map[string]map[string]bool{}}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if m := reGrantLine.FindStringSubmatch(line); m != nil && !isRoleList(m[1]) {
			privs := splitPrivileges(m[1])
			target := strings.ReplaceAll(m[3], "`", "")
			withGrant := strings.Contains(strings.ToUpper(m[4]), "WITH GRANT OPTION")
			db, obj, _ := strings.Cut(target, ".")
			db, obj = strings.ToLower(db), strings.ToLower(obj)
			var set map[string]bool
			switch {
			case m[2] != "":
				key := db + "." + obj
				if g.onRoutine[key] == nil {
					g.onRoutine[key] = map[string]bool{}
				}
				set = g.onRoutine[key]
			case db == "*" && obj == "*":
				set = g.global
			case obj == "*":
				if g.onDB[db] == nil {
					g.onDB[db] = map[string]bool{}
				}
				set = g.onDB[db]
			default:
				continue // table-level privileges do not matter here
			}
			var added []string
			for _, p := range privs {
				switch p {
				case "ALL", "ALL PRIVILEGES":
					added = append(added, allPrivileges...)
				case "GRANT OPTION":
					withGrant = true
				default:
					added = append(added, p)
				}
			}
			for _, p := range added {
				set[p] = true
				if withGrant && db == "*" && obj == "*" {
					g.grantable[p] = true
				}
			}
			continue
		}
		if m := reRoleLine.FindStringSubmatch(line); m != nil && !strings.Contains(strings.ToUpper(" "+m[1]+" "), " ON ") {
			g.roles = append(g.roles, splitList(m[1])...)
		}
	}
	return g
}

// isRoleList reports whether the text between GRANT and ON is really a
// role list that happens to be followed by " ON " somewhere later (it
// never is for a privilege line, which starts with a keyword).
func isRoleList(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "`") }

// splitPrivileges splits "SELECT, INSERT (a, b), REPLICATION SLAVE" at the
// commas outside parentheses, dropping column lists.
func splitPrivileges(s string) []string {
	var out []string
	for _, p := range splitList(s) {
		if i := strings.Index(p, "("); i >= 0 {
			p = p[:i]
		}
		if p = normPrivilege(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitList splits at commas outside parentheses and backquotes.
func splitList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, r := range s {
		switch {
		case r == '`':
			quoted = !quoted
		case quoted:
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		out = append(out, last)
	}
	return out
}

func (g grants) hasGlobal(p string) bool { return g.global[normPrivilege(p)] }

func (g grants) grantableGlobal(p string) bool { return g.grantable[normPrivilege(p)] }

func (g grants) hasAnyGlobal(ps ...string) bool {
	for _, p := range ps {
		if g.hasGlobal(p) {
			return true
		}
	}
	return false
}

// hasOn reports whether p is held on *.* or on db.*.
func (g grants) hasOn(p, db string) bool {
	p = normPrivilege(p)
	return g.global[p] || g.onDB[strings.ToLower(db)][p]
}

// canExecute reports whether the login may run procedure db.name.
func (g grants) canExecute(db, name string) bool {
	return g.hasOn("EXECUTE", db) || g.onRoutine[strings.ToLower(db+"."+name)]["EXECUTE"]
}
