// Package replication is switchback's replication engine: dialect-aware
// statement building and status parsing (pure), and the configure/observe/cutover
// operations that run them against servers.
//
// The pure half lives in dialect.go (which statement set a server speaks),
// statements.go (the statements themselves) and status.go (parsing what the
// server answers). None of it touches a database, so all of it is table-tested;
// the operations run the statements through database/sql.
package replication

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Dialect is the statement set a server speaks for replication control. The
// same operation ("point this server at a source") is a stored procedure on
// Aurora, CHANGE REPLICATION SOURCE TO on MySQL and CHANGE MASTER TO on
// MariaDB; status and binlog statements and their column names differ too.
type Dialect string

// The dialects. DialectAuto is only an instruction to detect the dialect
// (see Detect); the statement builders need one of the other five, which
// Dialects lists.
const (
	// DialectAuto asks for detection from the server's version (Detect).
	DialectAuto Dialect = "auto"
	// AuroraMySQL2 is Aurora MySQL version 2 (MySQL 5.7 compatible):
	// mysql.rds_set_external_master procedures, SHOW SLAVE STATUS,
	// SHOW MASTER STATUS, MASTER_POS_WAIT.
	AuroraMySQL2 Dialect = "aurora-mysql-2"
	// AuroraMySQL3 is Aurora MySQL version 3 (MySQL 8.0 compatible):
	// mysql.rds_set_external_source procedures, SHOW REPLICA STATUS,
	// SHOW MASTER STATUS.
	AuroraMySQL3 Dialect = "aurora-mysql-3"
	// AuroraMySQL84 is Aurora MySQL 8.4: _source procedures only,
	// SHOW REPLICA STATUS, SHOW BINARY LOG STATUS. It rejects every MASTER/SLAVE
	// spelling, so none of its statements contains one.
	AuroraMySQL84 Dialect = "aurora-mysql-8.4"
	// MySQL is self-managed MySQL 8.0.23 or later: CHANGE REPLICATION SOURCE
	// TO, START/STOP REPLICA, RESET REPLICA ALL, SHOW REPLICA STATUS. Its binlog
	// status statement depends on the server version (see BinlogStatus).
	MySQL Dialect = "mysql"
	// MariaDB is self-managed MariaDB (10.6 or later for binlog retention):
	// CHANGE MASTER TO, START/STOP SLAVE, RESET SLAVE ALL, SHOW ALL SLAVES STATUS,
	// SHOW MASTER STATUS; GTID positioning is MASTER_USE_GTID=slave_pos.
	MariaDB Dialect = "mariadb"
)

var concreteDialects = []Dialect{AuroraMySQL2, AuroraMySQL3, AuroraMySQL84, MySQL, MariaDB}

// Dialects returns the five concrete dialects, the ones statements can be
// built for, in a stable order.
func Dialects() []Dialect { return slices.Clone(concreteDialects) }

// ParseDialect parses a dialect name as given on a command line: one of
// "auto" and the five concrete dialect names, case-insensitively. The error
// lists the valid values.
func ParseDialect(s string) (Dialect, error) {
	d := Dialect(strings.ToLower(strings.TrimSpace(s)))
	if d == DialectAuto || d.concrete() {
		return d, nil
	}
	return "", fmt.Errorf("unknown dialect %q: want one of %s", s, validDialectNames())
}

func validDialectNames() string {
	names := []string{string(DialectAuto)}
	for _, d := range concreteDialects {
		names = append(names, string(d))
	}
	return strings.Join(names, ", ")
}

// IsAurora reports whether d is one of the Aurora MySQL dialects, whose
// replication control goes through mysql.rds_* stored procedures.
func (d Dialect) IsAurora() bool {
	return d == AuroraMySQL2 || d == AuroraMySQL3 || d == AuroraMySQL84
}

// concrete reports whether statements can be built for d.
func (d Dialect) concrete() bool { return slices.Contains(concreteDialects, d) }

// mustBeConcrete panics when d is not a concrete dialect. Building a
// statement for "auto" or an unknown name is a programming error: the
// dialect must come from ParseDialect or Detect first.
func (d Dialect) mustBeConcrete(builder string) {
	if !d.concrete() {
		panic(fmt.Sprintf("replication: %s called on dialect %q; resolve it with ParseDialect or Detect first (want one of %s)",
			builder, string(d), strings.Join(dialectStrings(), ", ")))
	}
}

func dialectStrings() []string {
	out := make([]string, len(concreteDialects))
	for i, d := range concreteDialects {
		out[i] = string(d)
	}
	return out
}

// ServerInfo is what dialect detection reads from a live server:
// SELECT @@version, @@version_comment, and on Aurora SELECT AURORA_VERSION()
// (also exposed as @@aurora_version; other servers reject both, which
// leaves AuroraVersion empty). Some statements also depend on the version
// (see BinlogStatus and WaitForPosition), so it travels with the dialect.
type ServerInfo struct {
	// Version is @@version, e.g. "8.0.36-0ubuntu0.22.04.1",
	// "10.11.19-MariaDB-0+deb12u1-log" or, on Aurora v3, "8.0.39".
	Version string
	// VersionComment is @@version_comment, e.g. "MySQL Community Server - GPL".
	VersionComment string
	// AuroraVersion is AURORA_VERSION(), e.g. "2.11.5" or "3.08.0"; empty
	// when the server is not Aurora.
	AuroraVersion string
}

// ErrUnsupportedServer means Detect recognised the server but switchback has
// no dialect for it, or could not make sense of its version.
var ErrUnsupportedServer = errors.New("unsupported server")

// minMySQL is the oldest self-managed MySQL the MySQL dialect serves:
// CHANGE REPLICATION SOURCE TO first appeared in 8.0.23 (START REPLICA and
// SHOW REPLICA STATUS in 8.0.22).
var minMySQL = serverVersion{8, 0, 23}

// Detect picks the dialect for a server from what it reports about itself:
// MariaDB when the version says so, Aurora when it has an Aurora version
// (2.x → aurora-mysql-2, 3.x → aurora-mysql-3, an 8.4 server or Aurora
// version → aurora-mysql-8.4), and MySQL for MySQL 8.0.23 or later. Older
// MySQL, Aurora MySQL 1 and versions it cannot parse are errors wrapping
// ErrUnsupportedServer that name the value and say how to override.
func Detect(info ServerInfo) (Dialect, error) {
	version := strings.TrimSpace(info.Version)
	if containsFold(version, "mariadb") || containsFold(info.VersionComment, "mariadb") {
		return MariaDB, nil
	}
	aurora := strings.TrimSpace(info.AuroraVersion)
	if aurora == "" {
		// RDS engine-version strings ("8.0.mysql_aurora.3.05.2") carry the
		// Aurora version too; accept them when that is all a caller has.
		if i := strings.Index(strings.ToLower(version), "mysql_aurora."); i >= 0 {
			aurora = version[i+len("mysql_aurora."):]
		}
	}
	if aurora != "" {
		return detectAurora(version, aurora)
	}
	if version == "" {
		return "", fmt.Errorf("detect dialect: %w: the server reported an empty @@version; %s", ErrUnsupportedServer, overrideAdvice)
	}
	v, ok := parseServerVersion(version)
	if !ok {
		return "", fmt.Errorf("detect dialect: %w: cannot parse @@version %q; %s", ErrUnsupportedServer, version, overrideAdvice)
	}
	if v.less(minMySQL) {
		return "", fmt.Errorf("detect dialect: %w: MySQL %s is older than %s, the first release with CHANGE REPLICATION SOURCE TO, "+
			"and switchback does not support it; %s", ErrUnsupportedServer, version, minMySQL, overrideAdvice)
	}
	return MySQL, nil
}

const overrideAdvice = "if you know which statement set the server accepts, pass --dialect explicitly"

func detectAurora(version, aurora string) (Dialect, error) {
	// Aurora 8.4's own version numbering is not settled in AWS's docs; an
	// 8.4 server that reports any Aurora version is Aurora 8.4.
	if v, ok := parseServerVersion(version); ok && v.major == 8 && v.minor == 4 {
		return AuroraMySQL84, nil
	}
	av, ok := parseServerVersion(aurora)
	if !ok {
		return "", fmt.Errorf("detect dialect: %w: cannot parse Aurora version %q (server version %q); %s",
			ErrUnsupportedServer, aurora, version, overrideAdvice)
	}
	switch {
	case av.major == 2:
		return AuroraMySQL2, nil
	case av.major == 3:
		return AuroraMySQL3, nil
	case av.major == 8 && av.minor == 4:
		return AuroraMySQL84, nil
	case av.major == 1:
		return "", fmt.Errorf("detect dialect: %w: Aurora MySQL %s (version 1, MySQL 5.6 compatible) is not supported; %s",
			ErrUnsupportedServer, aurora, overrideAdvice)
	default:
		return "", fmt.Errorf("detect dialect: %w: unrecognised Aurora MySQL version %q (server version %q); %s",
			ErrUnsupportedServer, aurora, version, overrideAdvice)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}

// serverVersion is a parsed major.minor.patch version.
type serverVersion struct{ major, minor, patch int }

func (v serverVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

func (v serverVersion) less(w serverVersion) bool {
	if v.major != w.major {
		return v.major < w.major
	}
	if v.minor != w.minor {
		return v.minor < w.minor
	}
	return v.patch < w.patch
}

// parseServerVersion reads the leading "major.minor[.patch]" of a version
// string and ignores any suffix ("8.0.36-0ubuntu0.22.04.1", "5.7.44-log",
// "3.08.0"). It needs at least major and minor.
func parseServerVersion(s string) (serverVersion, bool) {
	var nums []int
	rest := strings.TrimSpace(s)
	for len(nums) < 3 {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n > 9 {
			break
		}
		v, _ := strconv.Atoi(rest[:n])
		nums = append(nums, v)
		rest = rest[n:]
		if !strings.HasPrefix(rest, ".") {
			break
		}
		rest = rest[1:]
	}
	if len(nums) < 2 {
		return serverVersion{}, false
	}
	for len(nums) < 3 {
		nums = append(nums, 0)
	}
	return serverVersion{nums[0], nums[1], nums[2]}, true
}

// versionAtLeast reports whether info's server version is at least want.
// An unknown or unparseable version counts as new: switchback targets
// current servers, and the newest syntax is the one old spellings were
// removed in favour of.
func (info ServerInfo) versionAtLeast(want serverVersion) bool {
	v, ok := parseServerVersion(info.Version)
	return !ok || !v.less(want)
}
