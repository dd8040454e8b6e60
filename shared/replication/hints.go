package replication

import (
	"errors"
	"regexp"
	"strings"
)

// MySQL and MariaDB error numbers the engine gives advice for.
const (
	errnoAccessDenied         = 1045 // wrong user or password
	errnoDBAccessDenied       = 1044
	errnoSpecificAccessDenied = 1227 // "you need (at least one of) the X privilege(s)"
	errnoTableAccessDenied    = 1142
	errnoProcAccessDenied     = 1370
	errnoReadOnly             = 1290
	errnoSourceFatal          = 1236 // source cannot serve the requested binlog coordinates
	errnoDuplicateKey         = 1062
	errnoKeyNotFound          = 1032
	errnoConnectFailed        = 2003
	errnoUnknownHost          = 2005
	errnoLostConnection       = 2013
	errnoReplicaRunning       = 1198
)

// Hint returns advice for a replication or statement error, or "" when the
// engine has none. It is a pure function of the error number and message.
func Hint(errno int, message string) string {
	switch errno {
	case errnoSourceFatal:
		return "production cannot serve the binlog at these coordinates: the file was purged or the position is " +
			"past its end. Raise binlog retention on production (--retention-hours) and recapture the coordinates " +
			"from the switchover event (switchback explain-event); never guess them"
	case errnoAccessDenied:
		return "production refused the replication user's login: the password the rollback target uses no longer " +
			"matches. Re-run configure with SWITCHBACK_REPLICATION_PASSWORD set to the user's password"
	case errnoConnectFailed, errnoUnknownHost, errnoLostConnection:
		return "the rollback target cannot connect to production: check --source-host/--source-port, DNS and the " +
			"security groups between the two clusters"
	case errnoDuplicateKey, errnoKeyNotFound:
		where := ""
		if table, row := applyErrorLocation(message); table != "" {
			where = " on table " + table
			if row != "" {
				where += " (" + row + ")"
			}
		}
		what := "already has a row production inserted"
		if errno == errnoKeyNotFound {
			what = "is missing a row production changed"
		}
		return "the rollback target " + what + where + ": it was written to outside replication and has diverged. " +
			"Compare that row on both servers and fix the rollback target, then restart replication; " +
			"until then rollback would lose or duplicate data"
	case errnoSpecificAccessDenied, errnoDBAccessDenied, errnoTableAccessDenied, errnoProcAccessDenied:
		if p := missingPrivilege(message); p != "" {
			return "the user lacks the " + p + " privilege: grant it, or connect as the cluster's admin user"
		}
		return "the user lacks a privilege for this statement (see the message): grant it, or connect as the cluster's admin user"
	case errnoReadOnly:
		return "the server is read-only (fenced); unfence it or connect to the writer"
	case errnoReplicaRunning:
		return "replication is running; stop it before changing the source"
	}
	return ""
}

var (
	reApplyTable   = regexp.MustCompile(`on table ([^\s;,]+)`)
	reApplyRow     = regexp.MustCompile(`(Duplicate entry '.*' for key '[^']*'|Can't find record in '[^']*')`)
	rePrivilegeFor = regexp.MustCompile(`the ([A-Z][A-Z _,]*?) privilege`)
	reCommandDeny  = regexp.MustCompile(`command denied to user [^ ]+ for (?:table|routine) [^\s]+`)
	reDBDeny       = regexp.MustCompile(`Access denied for user [^ ]+ to database '[^']+'`)
)

// applyErrorLocation extracts the table and the row description from a
// replica SQL-thread error such as "Could not execute Write_rows_v1 event on
// table shop.orders; Duplicate entry '5' for key 'PRIMARY', Error_code: 1062".
func applyErrorLocation(message string) (table, row string) {
	if m := reApplyTable.FindStringSubmatch(message); m != nil {
		table = strings.TrimSuffix(m[1], ".")
	}
	if m := reApplyRow.FindStringSubmatch(message); m != nil {
		row = m[1]
	}
	return table, row
}

// missingPrivilege names the privilege an access-denied message asks for.
func missingPrivilege(message string) string {
	if m := rePrivilegeFor.FindStringSubmatch(message); m != nil {
		return strings.TrimSpace(m[1])
	}
	if m := reCommandDeny.FindString(message); m != "" {
		// "INSERT command denied to user 'x'@'h' for table `db`.`t`"
		if i := strings.Index(message, " command denied"); i > 0 {
			return strings.TrimSpace(message[:i]) + " (" + m[strings.Index(m, "for ")+4:] + ")"
		}
	}
	if reDBDeny.MatchString(message) {
		return "database-level"
	}
	return ""
}

// HintedError is an error with advice for the operator.
type HintedError struct {
	Err  error
	Hint string
}

// hintSeparator joins an error and its hint in HintedError's message.
const hintSeparator = "\n  hint: "

func (e *HintedError) Error() string { return e.Err.Error() + hintSeparator + e.Hint }

func (e *HintedError) Unwrap() error { return e.Err }

// withHint attaches advice to err when its error number has any.
func withHint(err error) error {
	if err == nil {
		return nil
	}
	var h *HintedError
	if errors.As(err, &h) {
		return err
	}
	if n := mysqlErrno(err); n != 0 {
		var se *StatementError
		if n == errnoAccessDenied && errors.As(err, &se) {
			// Already logged in, so 1045 here is about the statement, not a password.
			return &HintedError{Err: err, Hint: "the " + se.Server + " user may not run this statement: " +
				"a GRANT needs every privilege it grants WITH GRANT OPTION; connect as the cluster's admin user or grant them"}
		}
		if hint := Hint(int(n), err.Error()); hint != "" {
			return &HintedError{Err: err, Hint: hint}
		}
	}
	return err
}
