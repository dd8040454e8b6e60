package preflight

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/replication"
)

// expect checks a check's status and that its evidence and fix mention
// every given fragment.
func expect(t *testing.T, c Check, status Status, evidence, fix []string) {
	t.Helper()
	if c.Status != status {
		t.Errorf("%s: status %s; want %s\n evidence: %s\n fix: %s", c.ID, c.Status, status, c.Evidence, c.Fix)
	}
	for _, e := range evidence {
		if !strings.Contains(c.Evidence, e) {
			t.Errorf("%s: evidence %q lacks %q", c.ID, c.Evidence, e)
		}
	}
	for _, f := range fix {
		if !strings.Contains(c.Fix, f) {
			t.Errorf("%s: fix %q lacks %q", c.ID, c.Fix, f)
		}
	}
	if (status == Fail || status == Warn) && c.Fix == "" {
		t.Errorf("%s: %s without a fix", c.ID, status)
	}
	if c.Evidence == "" {
		t.Errorf("%s: no evidence", c.ID)
	}
}

func TestCheckBinlogFormatGroup(t *testing.T) {
	for _, tc := range []struct {
		name, group, value string
		err                error
		want               Status
		evidence, fix      []string
	}{
		{"row", "orders-green-params", "ROW", nil, Pass, []string{"binlog_format=ROW in orders-green-params"}, nil},
		{"row lower case", "orders-green-params", "row", nil, Pass, nil, nil},
		{"mixed", "orders-green-params", "MIXED", nil, Warn, []string{"MIXED"}, []string{"ParameterValue=ROW", "reboot-db-instance --db-instance-identifier orders-w"}},
		{"statement", "orders-green-params", "STATEMENT", nil, Fail, []string{"binlog_format=STATEMENT"}, []string{"--db-cluster-parameter-group-name orders-green-params", "static"}},
		{"not set", "orders-green-params", "", nil, Fail, []string{"not set", "binary logging is off"}, []string{"ParameterValue=ROW"}},
		{"off", "orders-green-params", "OFF", nil, Fail, []string{"binlog_format is OFF"}, nil},
		{"default group", "default.aurora-mysql8.0", "", nil, Fail, []string{"default DB cluster parameter group default.aurora-mysql8.0"}, []string{"create a custom DB cluster parameter group"}},
		{"no group", "", "", nil, Fail, []string{"no DB cluster parameter group"}, nil},
		{"unreadable", "orders-green-params", "", errors.New("AccessDenied"), Fail, []string{"AccessDenied"}, []string{"rds:DescribeDBClusterParameters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBinlogFormatGroup("orders-prod-green-3rnukl", tc.group, tc.value, "orders-w", tc.err)
			expect(t, c, tc.want, tc.evidence, tc.fix)
		})
	}
}

func TestCheckBinlogFormatServer(t *testing.T) {
	for _, tc := range []struct {
		name          string
		f             formatFacts
		group, gv     string
		want          Status
		evidence, fix []string
	}{
		{"row", formatFacts{Format: "ROW", LogBin: true}, "", "", Pass, nil, nil},
		{"row, group agrees", formatFacts{Format: "ROW", LogBin: true}, "g", "ROW", Pass, nil, nil},
		{"mixed", formatFacts{Format: "MIXED", LogBin: true}, "", "", Warn, []string{"MIXED"}, []string{"ROW"}},
		{"statement self-managed", formatFacts{Format: "STATEMENT", LogBin: true}, "", "", Fail, []string{"binlog_format=STATEMENT"}, []string{"SET PERSIST binlog_format"}},
		{"statement, group says row: reboot", formatFacts{Format: "STATEMENT", LogBin: true}, "g", "ROW", Fail, []string{"not been rebooted"}, []string{"reboot the writer w1"}},
		{"row, group says mixed", formatFacts{Format: "ROW", LogBin: true}, "g", "MIXED", Warn, []string{"parameter group says MIXED"}, nil},
		{"binlog off", formatFacts{Format: "ROW", LogBin: false}, "g", "ROW", Fail, []string{"log_bin=OFF"}, nil},
		{"unreadable", formatFacts{Err: errors.New("denied")}, "", "", Fail, []string{"denied"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, checkBinlogFormatServer(tc.f, tc.gv, tc.group, "w1"), tc.want, tc.evidence, tc.fix)
		})
	}
}

func hours(h float64) replication.Retention { return replication.Retention{Hours: &h} }

func TestCheckRetention(t *testing.T) {
	for _, tc := range []struct {
		name          string
		r             retentionFacts
		want, cfg     int
		status        Status
		evidence, fix []string
	}{
		{"covers", retentionFacts{Retention: hours(168), Dialect: replication.AuroraMySQL3}, 168, 0, Pass, []string{"168 h covers the 168 h"}, nil},
		{"unlimited", retentionFacts{Retention: replication.Retention{Unlimited: true}, Dialect: replication.MariaDB}, 168, 0, Pass, []string{"unlimited"}, nil},
		{"aurora NULL", retentionFacts{Dialect: replication.AuroraMySQL3}, 168, 0, Fail, []string{"not set (NULL", "error 1236"}, []string{"CALL mysql.rds_set_configuration('binlog retention hours', 168)"}},
		{"short, configure raises it", retentionFacts{Retention: hours(24), Dialect: replication.AuroraMySQL3}, 168, 168, Warn, []string{"24 h is shorter", "configure sets 168 h"}, []string{"rds_set_configuration"}},
		{"short, configure too short", retentionFacts{Retention: hours(24), Dialect: replication.AuroraMySQL2}, 168, 48, Fail, []string{"configure sets only 48 h"}, []string{"SWITCHBACK_RETENTION_HOURS to at least 168"}},
		{"mariadb short", retentionFacts{Retention: hours(1), Dialect: replication.MariaDB}, 24, 0, Fail, []string{"1 h is shorter than the 24 h"}, []string{"SET GLOBAL binlog_expire_logs_seconds = 86400", "does not persist"}},
		{"mysql short", retentionFacts{Retention: hours(1), Dialect: replication.MySQL}, 24, 0, Fail, nil, []string{"SET PERSIST binlog_expire_logs_seconds = 86400"}},
		{"unreadable", retentionFacts{Err: errors.New("1370 execute denied"), Dialect: replication.AuroraMySQL3}, 168, 0, Fail, []string{"1370"}, []string{"rds_show_configuration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, checkRetention(tc.r, tc.want, tc.cfg), tc.status, tc.evidence, tc.fix)
		})
	}
}

func TestParseGrants(t *testing.T) {
	g := parseGrants([]string{
		"GRANT SELECT, INSERT, CREATE USER, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `admin`@`%` IDENTIFIED BY PASSWORD '*AB' WITH GRANT OPTION",
		"GRANT SELECT (id, name), UPDATE ON `shop`.`orders` TO `admin`@`%`",
		"GRANT ALL PRIVILEGES ON `switchback`.* TO `admin`@`%`",
		"GRANT EXECUTE ON PROCEDURE `mysql`.`rds_start_replication` TO `admin`@`%`",
		"GRANT `rds_superuser_role`@`%`,`r2` TO `admin`@`%`",
	})
	for _, p := range []string{"SELECT", "INSERT", "CREATE USER", "REPLICATION SLAVE", "REPLICATION CLIENT", "binlog monitor"} {
		if !g.hasGlobal(p) || !g.grantableGlobal(p) {
			t.Errorf("%s: global %v grantable %v; want both", p, g.hasGlobal(p), g.grantableGlobal(p))
		}
	}
	if g.hasGlobal("UPDATE") || g.hasGlobal("SUPER") {
		t.Error("table-level UPDATE or an absent SUPER counted as global")
	}
	if !g.hasOn("DELETE", "switchback") || g.hasOn("DELETE", "shop") {
		t.Error("ALL PRIVILEGES on switchback.* not read as DELETE there only")
	}
	if !g.canExecute("mysql", "rds_start_replication") || g.canExecute("mysql", "rds_stop_replication") {
		t.Error("procedure-level EXECUTE misread")
	}
	if fmt.Sprint(g.roles) != "[`rds_superuser_role`@`%` `r2`]" {
		t.Errorf("roles %q", g.roles)
	}

	all := parseGrants([]string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`127.0.0.1` WITH GRANT OPTION", "GRANT PROXY ON ``@`%` TO `root`@`127.0.0.1` WITH GRANT OPTION"})
	for _, p := range []string{"SUPER", "REPLICATION SLAVE", "REPLICATION CLIENT", "EXECUTE", "CREATE USER"} {
		if !all.hasGlobal(p) || !all.grantableGlobal(p) {
			t.Errorf("ALL PRIVILEGES WITH GRANT OPTION does not cover %s", p)
		}
	}
	if len(all.roles) != 0 {
		t.Errorf("PROXY read as a role: %q", all.roles)
	}
	noOpt := parseGrants([]string{"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `a`@`%`"})
	if !noOpt.hasGlobal("REPLICATION SLAVE") || noOpt.grantableGlobal("REPLICATION SLAVE") {
		t.Error("privilege without GRANT OPTION read as grantable")
	}
}

func TestCheckProductionPrivileges(t *testing.T) {
	root := []string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`127.0.0.1` WITH GRANT OPTION"}
	aurora2 := []string{"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER ON *.* TO 'admin'@'%' WITH GRANT OPTION"}
	for _, tc := range []struct {
		name          string
		a             productionAccess
		want          Status
		evidence, fix []string
	}{
		{"root", productionAccess{User: "root", Grants: root, RolesExpanded: true}, Pass, []string{"can create users"}, nil},
		{"aurora v2 admin", productionAccess{User: "admin", Grants: aurora2, RolesExpanded: true}, Pass, nil, nil},
		{"no grant option", productionAccess{User: "app", Grants: []string{"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, CREATE USER, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `app`@`%`"}, RolesExpanded: true},
			Fail, []string{"GRANT OPTION on REPLICATION SLAVE", "GRANT OPTION on REPLICATION CLIENT"}, []string{"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO app WITH GRANT OPTION"}},
		{"read-only login", productionAccess{User: "ro", Grants: []string{"GRANT SELECT ON *.* TO `ro`@`%`"}, RolesExpanded: true, BinlogStatusErr: errors.New("Error 1227: need SUPER, BINLOG MONITOR")},
			Fail, []string{"CREATE USER", "REPLICATION SLAVE WITH GRANT OPTION", "INSERT, UPDATE, DELETE, CREATE on switchback.*", "reading the binlog status: Error 1227"}, []string{"GRANT CREATE USER, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ro WITH GRANT OPTION", "ON switchback.* TO ro"}},
		{"schema privileges on switchback only", productionAccess{User: "a", Grants: []string{"GRANT CREATE USER, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `a`@`%` WITH GRANT OPTION", "GRANT ALL PRIVILEGES ON `switchback`.* TO `a`@`%`"}, RolesExpanded: true}, Pass, nil, nil},
		{"role not expanded", productionAccess{User: "admin", Grants: []string{"GRANT USAGE ON *.* TO `admin`@`%`", "GRANT `rds_superuser_role`@`%` TO `admin`@`%`"}}, Warn, []string{"unless its role `rds_superuser_role`@`%` grants them"}, nil},
		{"grants unreadable, binlog status fine", productionAccess{User: "a", GrantsErr: errors.New("denied")}, Warn, []string{"could not read SHOW GRANTS"}, nil},
		{"grants unreadable, binlog status denied", productionAccess{User: "a", GrantsErr: errors.New("denied"), BinlogStatusErr: errors.New("1227")}, Fail, []string{"1227"}, []string{"REPLICATION CLIENT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, checkProductionPrivileges(tc.a), tc.want, tc.evidence, tc.fix)
		})
	}
}

func TestCheckRollbackPrivileges(t *testing.T) {
	procs3 := []string{"rds_set_external_source", "rds_reset_external_source", "rds_start_replication", "rds_stop_replication", "rds_set_configuration"}
	for _, tc := range []struct {
		name          string
		a             rollbackAccess
		want          Status
		evidence, fix []string
	}{
		{"mariadb root", rollbackAccess{User: "root", Dialect: replication.MariaDB, Grants: []string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`127.0.0.1` WITH GRANT OPTION"}}, Pass, []string{"control replication and read_only"}, nil},
		{"aurora v3 admin", rollbackAccess{User: "admin", Dialect: replication.AuroraMySQL3, Grants: []string{"GRANT SELECT, EXECUTE, REPLICATION CLIENT ON *.* TO `admin`@`%`"}, Procedures: procs3}, Pass, []string{"mysql.rds_set_external_source"}, nil},
		{"aurora v2 lacks the v2 procedures", rollbackAccess{User: "admin", Dialect: replication.AuroraMySQL2, Grants: []string{"GRANT EXECUTE ON *.* TO `admin`@`%`"}, Procedures: procs3}, Fail, []string{"mysql.rds_set_external_master, mysql.rds_reset_external_master"}, nil},
		{"aurora without EXECUTE", rollbackAccess{User: "ops", Dialect: replication.AuroraMySQL3, Grants: []string{"GRANT SELECT, REPLICATION CLIENT ON *.* TO `ops`@`%`"}, Procedures: procs3}, Fail, []string{"EXECUTE on mysql.rds_set_external_source"}, []string{"GRANT EXECUTE ON mysql.* TO ops"}},
		{"replica status denied", rollbackAccess{User: "weak", Dialect: replication.MariaDB, Grants: []string{"GRANT SELECT ON *.* TO `weak`@`%`"}, ReplicaStatusErr: errors.New("Error 1227: SUPER, SLAVE MONITOR")},
			Fail, []string{"reading the replica status: Error 1227", "REPLICATION SLAVE ADMIN", "READ_ONLY ADMIN"}, []string{"GRANT SLAVE MONITOR ON *.* TO weak", "GRANT REPLICATION SLAVE ADMIN"}},
		{"mysql split privileges", rollbackAccess{User: "ops", Dialect: replication.MySQL, Grants: []string{"GRANT REPLICATION CLIENT ON *.* TO `ops`@`%`", "GRANT REPLICATION_SLAVE_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `ops`@`%`"}}, Pass, nil, nil},
		{"mysql replica status denied", rollbackAccess{User: "ops", Dialect: replication.MySQL, Grants: []string{"GRANT SUPER ON *.* TO `ops`@`%`"}, ReplicaStatusErr: errors.New("1227")}, Fail, nil, []string{"GRANT REPLICATION CLIENT ON *.* TO ops"}},
		{"grants unreadable", rollbackAccess{User: "x", Dialect: replication.MariaDB, GrantsErr: errors.New("denied")}, Warn, []string{"SHOW GRANTS failed"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, checkRollbackPrivileges(tc.a), tc.want, tc.evidence, tc.fix)
		})
	}
}

func TestCheckRollbackGroup(t *testing.T) {
	expect(t, checkRollbackGroup("orders-prod", "orders-prod-params", nil), Pass, []string{"only cluster orders-prod uses"}, nil)
	refused := fmt.Errorf("%w: DB cluster parameter group \"shared\" of cluster orders-prod is also used by orders-prod-green-3rnukl", awsrds.ErrFenceRefused)
	expect(t, checkRollbackGroup("orders-prod", "", refused), Fail, []string{"also used by orders-prod-green-3rnukl"}, []string{"its own custom DB cluster parameter group", "modify-db-cluster --db-cluster-identifier orders-prod"})
	expect(t, checkRollbackGroup("orders-prod", "", errors.New("AccessDenied: rds:DescribeDBClusters")), Fail, []string{"could not check", "AccessDenied"}, []string{"rds:DescribeDBClusters"})
}

func TestCheckProductionGroup(t *testing.T) {
	expect(t, checkProductionGroup("orders-prod-green-3rnukl", "green-params", nil), Pass, []string{"only cluster orders-prod-green-3rnukl uses"}, nil)
	refused := fmt.Errorf("%w: cluster orders-prod-green-3rnukl uses the default DB cluster parameter group \"default.aurora-mysql8.0\"", awsrds.ErrFenceRefused)
	expect(t, checkProductionGroup("orders-prod-green-3rnukl", "", refused), Fail, []string{"default DB cluster parameter group", "rollback fences production"}, []string{"modify-db-cluster --db-cluster-identifier orders-prod-green-3rnukl"})
	expect(t, checkProductionGroup("orders-prod-green-3rnukl", "", errors.New("AccessDenied")), Fail, []string{"could not check production's parameter group"}, []string{"rds:DescribeDBClusters"})
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct{ v, hint, want string }{
		{"8.0.36", "MySQL Community Server - GPL", "MySQL 8.0.36"},
		{"5.7.12-log", "", "MySQL 5.7.12"},
		{"10.11.19-MariaDB-0+deb12u1-log", "", "MariaDB 10.11.19"},
		{"10.6.5", "mariadb.org binary distribution", "MariaDB 10.6.5"},
		{"8.0.mysql_aurora.3.08.0", "aurora-mysql", "MySQL 8.0.0"},
		{"5.7.mysql_aurora.2.12.1", "aurora-mysql", "MySQL 5.7.0"},
		{"", "", "unknown"},
		{"garbage", "", "unknown"},
	} {
		if got := parseVersion(tc.v, tc.hint).String(); got != tc.want {
			t.Errorf("parseVersion(%q, %q) = %s; want %s", tc.v, tc.hint, got, tc.want)
		}
	}
}

func TestCheckVersions(t *testing.T) {
	v := func(s string) version { return parseVersion(s, "") }
	for _, tc := range []struct {
		name     string
		prod, rb version
		compress bool
		want     Status
		evidence []string
	}{
		{"8.0 → 5.7", v("8.0.39"), v("5.7.12"), false, Warn, []string{"newer → older", "MySQL 8.0.39", "MySQL 5.7.12"}},
		{"8.4 → 8.0", v("8.4.7"), v("8.0.39"), false, Warn, []string{"newer → older"}},
		{"same", v("8.0.39"), v("8.0.39"), false, Pass, nil},
		{"patch only", v("8.0.40"), v("8.0.39"), false, Pass, nil},
		{"rollback newer", v("5.7.44"), v("8.0.39"), false, Pass, nil},
		{"compression into 5.7", v("8.0.39"), v("5.7.12"), true, Fail, []string{"binlog_transaction_compression=ON"}},
		{"compression into 8.0.39", v("8.0.39"), v("8.0.39"), true, Pass, nil},
		{"mariadb pair", v("10.11.19-MariaDB"), v("10.11.19-MariaDB"), false, Pass, nil},
		{"cross family", v("10.11.19-MariaDB"), v("8.0.39"), false, Warn, []string{"MariaDB 10.11.19", "MySQL 8.0.39"}},
		{"unknown", version{}, v("8.0.39"), false, Skip, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkVersions(tc.prod, tc.rb, tc.compress)
			if tc.want == Skip {
				if c.Status != Skip {
					t.Errorf("status %s; want skip", c.Status)
				}
				return
			}
			expect(t, c, tc.want, tc.evidence, nil)
		})
	}
}

// A slice of MySQL 5.7's collation list (information_schema.COLLATIONS):
// the named older target of the collation checks.
var mysql57Collations = []string{
	"big5_chinese_ci", "latin1_swedish_ci", "latin1_bin", "ascii_general_ci", "binary",
	"utf8_general_ci", "utf8_bin", "utf8_unicode_ci", "utf8_unicode_520_ci",
	"utf8mb4_general_ci", "utf8mb4_bin", "utf8mb4_unicode_ci", "utf8mb4_unicode_520_ci", "utf8mb4_icelandic_ci",
}

// And of MySQL 8.0's.
var mysql80Collations = append([]string{"utf8mb3_general_ci", "utf8mb3_bin", "utf8mb4_0900_ai_ci", "utf8mb4_0900_as_cs", "utf8mb4_0900_bin"}, mysql57Collations...)

func TestCheckCollations(t *testing.T) {
	used80 := []collationUse{
		{Collation: "utf8mb4_0900_ai_ci", Kind: "column", Count: 12, Example: "shop.orders.item"},
		{Collation: "utf8mb4_0900_ai_ci", Kind: "table", Count: 3, Example: "shop.orders"},
		{Collation: "utf8mb4_0900_ai_ci", Kind: "schema", Count: 1, Example: "shop"},
		{Collation: "utf8mb4_0900_as_cs", Kind: "column", Count: 1, Example: "shop.users.login"},
		{Collation: "utf8mb3_general_ci", Kind: "column", Count: 2, Example: "legacy.t.c"},
		{Collation: "utf8mb4_general_ci", Kind: "column", Count: 4, Example: "switchback.heartbeat.target"},
		{Collation: "utf8mb4_0900_ai_ci", Kind: "server default", Count: 1, Example: "collation_server"},
	}
	rb57, rb80 := parseVersion("5.7.12", ""), parseVersion("8.0.39", "")
	t.Run("8.0-only collations into 5.7", func(t *testing.T) {
		c := checkCollations(used80, nil, mysql57Collations, nil, rb57)
		expect(t, c, Fail,
			[]string{"MySQL 5.7.12", "utf8mb4_0900_ai_ci (12 columns, e.g. shop.orders.item; 3 tables, e.g. shop.orders; schema shop; server default collation_server)", "utf8mb4_0900_as_cs (column shop.users.login)"},
			[]string{"utf8mb4_0900_ai_ci → utf8mb4_unicode_520_ci", "ALTER TABLE"})
		if strings.Contains(c.Evidence, "utf8mb3_general_ci") || strings.Contains(c.Evidence, "utf8mb4_general_ci (") {
			t.Errorf("utf8mb3_general_ci (5.7's utf8_general_ci) or utf8mb4_general_ci flagged: %s", c.Evidence)
		}
	})
	t.Run("8.0 into 8.0", func(t *testing.T) {
		expect(t, checkCollations(used80, nil, mysql80Collations, nil, rb80), Pass, []string{"every collation production uses (4)"}, nil)
	})
	t.Run("mariadb uca1400 into 5.7", func(t *testing.T) {
		used := []collationUse{{Collation: "utf8mb4_uca1400_ai_ci", Kind: "column", Count: 1, Example: "shop.names.name"}}
		expect(t, checkCollations(used, nil, mysql57Collations, nil, rb57), Fail, []string{"utf8mb4_uca1400_ai_ci (column shop.names.name)"}, []string{"→ utf8mb4_unicode_520_ci"})
	})
	t.Run("no replacement of the same character set", func(t *testing.T) {
		used := []collationUse{{Collation: "gb18030_chinese_ci", Kind: "table", Count: 1, Example: "cn.t"}}
		expect(t, checkCollations(used, nil, mysql57Collations, nil, rb57), Fail, nil, []string{"a gb18030 collation the rollback side lists"})
	})
	t.Run("unreadable", func(t *testing.T) {
		expect(t, checkCollations(nil, errors.New("denied"), mysql57Collations, nil, rb57), Warn, []string{"production uses: denied"}, nil)
		expect(t, checkCollations(used80, nil, nil, errors.New("denied"), rb57), Warn, []string{"rollback side's collations: denied"}, nil)
	})
}

func TestCheckPrimaryKeys(t *testing.T) {
	rb57 := parseVersion("5.7.12", "")
	expect(t, checkPrimaryKeys(nil, 0, nil, false, rb57), Pass, []string{"every base table"}, nil)
	expect(t, checkPrimaryKeys([]string{"shop.audit", "shop.log"}, 2, nil, false, rb57), Warn, []string{"2 table(s) without a primary key: shop.audit, shop.log", "scan the whole table"}, []string{"ADD PRIMARY KEY"})
	many := make([]string, 15)
	for i := range many {
		many[i] = fmt.Sprintf("s.t%02d", i)
	}
	c := checkPrimaryKeys(many, 250, nil, false, rb57)
	expect(t, c, Warn, []string{"250 table(s)", "s.t09 and 240 more"}, nil)
	if strings.Contains(c.Evidence, "s.t10") {
		t.Errorf("lists more than %d tables: %s", maxListed, c.Evidence)
	}
	expect(t, checkPrimaryKeys(nil, 0, nil, true, rb57), Fail, []string{"sql_generate_invisible_primary_key=ON", "my_row_id"}, []string{"sql_generate_invisible_primary_key off"})
	expect(t, checkPrimaryKeys(nil, 0, errors.New("denied"), false, rb57), Warn, []string{"denied"}, nil)
}

func TestCheckPrimaryKeysInvisibleOnNewRollback(t *testing.T) {
	c := checkPrimaryKeys(nil, 0, nil, true, parseVersion("8.0.39", ""))
	if c.Status != Pass {
		t.Errorf("invisible primary keys into 8.0.39: %s (%s); want pass", c.Status, c.Evidence)
	}
}

func TestCheckAuthPlugin(t *testing.T) {
	prod80, prod84, maria := parseVersion("8.0.39", ""), parseVersion("8.4.7", ""), parseVersion("10.11.19-MariaDB", "")
	rb57, rb80 := parseVersion("5.7.12", ""), parseVersion("8.0.39", "")
	for _, tc := range []struct {
		name          string
		a             authFacts
		rb            version
		d             replication.Dialect
		want          Status
		evidence, fix []string
	}{
		{"caching_sha2 into 5.7", authFacts{Plugin: "caching_sha2_password", Exists: true, Production: prod80}, rb57, replication.AuroraMySQL2, Fail,
			[]string{"exists with caching_sha2_password", "MySQL 5.7.12 replica cannot log in"}, []string{"IDENTIFIED WITH mysql_native_password", "SWITCHBACK_REPLICATION_SECRET_ARN"}},
		{"default caching_sha2 into 5.7", authFacts{Plugin: "caching_sha2_password", Production: prod80}, rb57, replication.AuroraMySQL2, Fail,
			[]string{"does not exist yet", "default plugin, caching_sha2_password"}, nil},
		{"caching_sha2 into MySQL 8", authFacts{Plugin: "caching_sha2_password", Exists: true, Production: prod80}, rb80, replication.MySQL, Pass, []string{"GET_SOURCE_PUBLIC_KEY=1"}, nil},
		{"caching_sha2 into Aurora 3", authFacts{Plugin: "caching_sha2_password", Exists: true, Production: prod80}, rb80, replication.AuroraMySQL3, Warn, []string{"TLS"}, []string{"rds_set_binlog_source_ssl"}},
		{"native into 5.7", authFacts{Plugin: "mysql_native_password", Exists: true, Production: prod80}, rb57, replication.AuroraMySQL2, Pass, nil, nil},
		{"native on 8.4", authFacts{Plugin: "mysql_native_password", Exists: true, Production: prod84}, rb80, replication.AuroraMySQL3, Warn, []string{"disabled"}, nil},
		{"mariadb old-style account", authFacts{Plugin: "", Exists: true, Production: maria}, maria, replication.MariaDB, Pass, []string{"mysql_native_password"}, nil},
		{"unix_socket", authFacts{Plugin: "unix_socket", Exists: true, Production: maria}, maria, replication.MariaDB, Fail, []string{"cannot log in with a password over TCP"}, []string{"DROP USER 'switchback_repl'@'%'"}},
		{"ed25519 into MariaDB", authFacts{Plugin: "ed25519", Exists: true, Production: maria}, maria, replication.MariaDB, Pass, nil, nil},
		{"ed25519 into MySQL", authFacts{Plugin: "ed25519", Exists: true, Production: maria}, rb80, replication.MySQL, Fail, []string{"MariaDB's plugin"}, nil},
		{"unknown plugin", authFacts{Plugin: "authentication_fido", Exists: true, Production: prod80}, rb80, replication.MySQL, Warn, nil, nil},
		{"unreadable", authFacts{Err: errors.New("SELECT denied on mysql.user")}, rb57, replication.AuroraMySQL2, Warn, []string{"SELECT denied"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, checkAuthPlugin(tc.a, tc.rb, tc.d, "switchback_repl", "%"), tc.want, tc.evidence, tc.fix)
		})
	}
}

func TestCheckAccess(t *testing.T) {
	refused := errors.New("server unreachable: production at 10.0.0.1:3306 refused the login of \"admin\" (MySQL error 1045: wrong user or password in the production DSN)")
	down := errors.New("server unreachable: cannot reach production at 10.0.0.1:3306: dial tcp 10.0.0.1:3306: connect: connection refused")
	noSecret := errors.New("no admin secret for cluster orders-prod-green-3rnukl")

	r, l := checkAccess("production", Side{ConnectErr: refused}, "", nil)
	expect(t, r, Pass, []string{"refused the login"}, nil)
	expect(t, l, Fail, []string{"1045"}, []string{"user and password"})

	r, l = checkAccess("production", Side{ConnectErr: down}, "", nil)
	expect(t, r, Fail, []string{"connection refused"}, []string{"security groups"})
	if l.Status != Skip {
		t.Errorf("login after an unreachable writer: %s; want skip", l.Status)
	}

	r, l = checkAccess("production", Side{CredentialsErr: noSecret}, "10.0.0.1:3306", nil)
	expect(t, r, Pass, []string{"TCP connection to 10.0.0.1:3306 succeeded"}, nil)
	expect(t, l, Fail, []string{"no admin secret"}, []string{"SWITCHBACK_ADMIN_SECRETS", "switchback:admin-secret"})

	r, _ = checkAccess("production", Side{CredentialsErr: noSecret}, "10.0.0.1:3306", errors.New("i/o timeout"))
	expect(t, r, Fail, []string{"i/o timeout"}, nil)
}

func TestVerdict(t *testing.T) {
	c := func(s ...Status) []Check {
		var out []Check
		for _, st := range s {
			out = append(out, Check{Status: st})
		}
		return out
	}
	for _, tc := range []struct {
		in   []Check
		want Status
	}{
		{c(), Pass},
		{c(Pass, Skip), Pass},
		{c(Pass, Warn, Skip), Warn},
		{c(Warn, Fail, Pass), Fail},
		{c(Skip, Skip), Pass},
	} {
		if got := Verdict(tc.in); got != tc.want {
			t.Errorf("Verdict(%v) = %s; want %s", tc.in, got, tc.want)
		}
	}
}
