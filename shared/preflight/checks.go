package preflight

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/replication"
)

// The checks' titles, as people read them.
const (
	titleProductionPrivileges = "production privileges (replication user, binlog status)"
	titleRollbackPrivileges   = "rollback privileges (replica control and status)"
	titleBinlogFormatGroup    = "binlog_format in production's DB cluster parameter group"
	titleBinlogFormatServer   = "binlog_format on the production writer"
	titleBinlogRetention      = "binlog retention on production covers the rollback window"
	titleRollbackGroup        = "rollback cluster's parameter group is custom and unshared"
	titleProductionGroup      = "production's parameter group is custom and unshared (a rollback fences it there)"
	titleVersions             = "version direction (production → rollback)"
	titleCollations           = "collations the rollback side lacks"
	titlePrimaryKeys          = "tables without a primary key"
	titleReplicationUserAuth  = "replication user's authentication plugin"
)

// ---- reachability and login ----

// loginErrnos are server answers that mean the writer is up but refused
// this login (access denied, host not allowed, authentication plugin
// problems on either end).
var loginErrnos = regexp.MustCompile(`(?i)(refused the login|error (1044|1045|1130|1251|1698|2059|2061)\b)`)

// loginRefused reports whether a connection error came from a server that
// answered and refused the login (rather than from one that could not be
// reached).
func loginRefused(err error) bool { return err != nil && loginErrnos.MatchString(err.Error()) }

// checkAccess is the reachability and login checks of one side. probe is
// the address a TCP probe went to when there was no login (probeErr its
// result).
func checkAccess(role string, s Side, probe string, probeErr error) (reach, login Check) {
	reach = Check{Title: role + " writer reachable"}
	login = Check{Title: role + " login"}
	reachFix := "check the writer endpoint and port, the security groups and network ACLs between switchback (the functions' VPC subnets, or this host) and the cluster, and that the writer instance is available"
	switch {
	case s.Server != nil:
		reach.Status, reach.Evidence = Pass, fmt.Sprintf("%s answered: %s", s.Server.Addr, describeServer(s.Server.Info))
		login.Status, login.Evidence = Pass, fmt.Sprintf("logged in as %s", s.Server.User)
	case s.CredentialsErr != nil:
		login.Status, login.Evidence = Fail, s.CredentialsErr.Error()
		login.Fix = "give switchback the " + role + " cluster's admin login: map the cluster to its secret in SWITCHBACK_ADMIN_SECRETS (cluster=secret-arn) or tag the cluster switchback:admin-secret=<secret-arn>; the secret holds {\"username\", \"password\"}"
		switch {
		case probe == "":
			reach.Status, reach.Evidence = Skip, "not checked: no login and no writer address"
		case probeErr != nil:
			reach.Status, reach.Evidence, reach.Fix = Fail, fmt.Sprintf("TCP connection to %s failed: %v", probe, probeErr), reachFix
		default:
			reach.Status, reach.Evidence = Pass, fmt.Sprintf("TCP connection to %s succeeded (no login tried)", probe)
		}
	case s.ConnectErr != nil && loginRefused(s.ConnectErr):
		reach.Status, reach.Evidence = Pass, "the writer answered and refused the login"
		login.Status, login.Evidence = Fail, s.ConnectErr.Error()
		login.Fix = "check the user and password switchback logs in with (the cluster's admin secret, or the DSN) and that the user may connect from switchback's address"
	case s.ConnectErr != nil:
		reach.Status, reach.Evidence, reach.Fix = Fail, s.ConnectErr.Error(), reachFix
		login.Status, login.Evidence = Skip, "not checked: the writer could not be reached"
	default:
		reach.Status, reach.Evidence, reach.Fix = Fail, "the "+role+" writer was not opened", reachFix
		login.Status, login.Evidence = Skip, "not checked: the writer was not opened"
	}
	return reach, login
}

func describeServer(info replication.ServerInfo) string {
	s := info.Version
	if info.AuroraVersion != "" {
		s += " (Aurora MySQL " + info.AuroraVersion + ")"
	}
	return s
}

// ---- binlog_format ----

// checkBinlogFormatGroup checks binlog_format in production's DB cluster
// parameter group: ROW passes, MIXED warns, anything else fails. The
// parameter is static: a change needs a reboot of the writer (aws-facts §5).
func checkBinlogFormatGroup(cluster, group, value, writer string, err error) Check {
	c := Check{ID: CheckBinlogFormatGroup, Title: titleBinlogFormatGroup}
	set := fmt.Sprintf("aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name %s --parameters ParameterName=binlog_format,ParameterValue=ROW,ApplyMethod=pending-reboot", orPlaceholder(group, "<group>"))
	reboot := "then reboot the writer (binlog_format is static): aws rds reboot-db-instance --db-instance-identifier " + orPlaceholder(writer, "<writer instance>")
	switch {
	case group == "":
		c.Status, c.Evidence = Fail, "RDS reports no DB cluster parameter group for cluster "+cluster
		c.Fix = "give cluster " + cluster + " a custom DB cluster parameter group with binlog_format=ROW, " + reboot
		return c
	case strings.HasPrefix(group, "default."):
		c.Status, c.Evidence = Fail, fmt.Sprintf("cluster %s uses the default DB cluster parameter group %s: binlog_format is OFF there and cannot be changed", cluster, group)
		c.Fix = "create a custom DB cluster parameter group with binlog_format=ROW, attach it (aws rds modify-db-cluster --db-cluster-identifier " + cluster + " --db-cluster-parameter-group-name <group>), " + reboot
		return c
	case err != nil:
		c.Status, c.Evidence = Fail, fmt.Sprintf("could not read binlog_format from %s: %v", group, err)
		c.Fix = "allow switchback rds:DescribeDBClusterParameters on " + group + "; binlog_format must be ROW there"
		return c
	}
	v := strings.ToUpper(strings.TrimSpace(value))
	switch v {
	case "ROW":
		c.Status, c.Evidence = Pass, fmt.Sprintf("binlog_format=ROW in %s (cluster %s)", group, cluster)
	case "MIXED":
		c.Status, c.Evidence = Warn, fmt.Sprintf("binlog_format=MIXED in %s (cluster %s): most changes go to the binlog as statements, which an older rollback side may not parse or may apply differently", group, cluster)
		c.Fix = set + "; " + reboot
	case "", "OFF":
		shown := "not set (the engine default, OFF)"
		if v == "OFF" {
			shown = "OFF"
		}
		c.Status, c.Evidence = Fail, fmt.Sprintf("binlog_format is %s in %s (cluster %s): binary logging is off, there is nothing to replicate back", shown, group, cluster)
		c.Fix = set + "; " + reboot
	default:
		c.Status, c.Evidence = Fail, fmt.Sprintf("binlog_format=%s in %s (cluster %s): switchback's rollback replication needs ROW", value, group, cluster)
		c.Fix = set + "; " + reboot
	}
	return c
}

// formatFacts is what the production writer says about its binary log.
type formatFacts struct {
	Format string // @@global.binlog_format
	LogBin bool   // @@global.log_bin
	// Compression is @@global.binlog_transaction_compression (MySQL
	// 8.0.20+; false where the variable does not exist).
	Compression bool
	Err         error
}

// checkBinlogFormatServer checks the writer's own binlog_format, which is
// what it writes: after a parameter-group change it differs from the group
// until the writer reboots.
func checkBinlogFormatServer(f formatFacts, groupValue, group, writer string) Check {
	c := Check{ID: CheckBinlogFormatServer, Title: titleBinlogFormatServer}
	fix := "set binlog_format=ROW in production's configuration (MySQL: SET PERSIST binlog_format = 'ROW'; a config file otherwise) and restart, or reconnect every client: sessions keep the format they started with"
	if group != "" {
		fix = "set binlog_format=ROW in DB cluster parameter group " + group + " and reboot the writer " + orPlaceholder(writer, "instance") + " (binlog_format is static)"
	}
	if f.Err != nil {
		c.Status, c.Evidence, c.Fix = Fail, "could not read @@global.binlog_format: "+f.Err.Error(), "let switchback's login read server variables"
		return c
	}
	v := strings.ToUpper(strings.TrimSpace(f.Format))
	pending := ""
	if gv := strings.ToUpper(strings.TrimSpace(groupValue)); gv != "" && gv != v {
		pending = fmt.Sprintf("; the parameter group says %s: the writer has not been rebooted since it changed (binlog_format is static)", gv)
		if gv == "ROW" {
			fix = "reboot the writer " + orPlaceholder(writer, "instance") + " so it takes binlog_format=ROW from " + group
		}
	}
	switch {
	case !f.LogBin:
		c.Status, c.Evidence, c.Fix = Fail, "binary logging is off on the writer (log_bin=OFF)"+pending, fix
	case v == "ROW" && pending == "":
		c.Status, c.Evidence = Pass, "the writer logs binlog_format=ROW"
	case v == "ROW":
		c.Status, c.Evidence, c.Fix = Warn, "the writer logs binlog_format=ROW"+pending, "make the parameter group say ROW too, or the next reboot changes the format"
	case v == "MIXED":
		c.Status, c.Evidence, c.Fix = Warn, "the writer logs binlog_format=MIXED: most changes replicate as statements"+pending, fix
	default:
		c.Status, c.Evidence, c.Fix = Fail, fmt.Sprintf("the writer logs binlog_format=%s: switchback's rollback replication needs ROW%s", orPlaceholder(f.Format, "(empty)"), pending), fix
	}
	return c
}

// ---- retention ----

// retentionFacts is production's binlog retention and the dialect whose
// statements manage it.
type retentionFacts struct {
	Retention replication.Retention
	Dialect   replication.Dialect
	Err       error
}

// checkRetention compares production's retention with the rollback window
// (want hours). A short one is a warning when configure will raise it to
// the window at the switchover (configureHours), a failure otherwise.
func checkRetention(r retentionFacts, want, configureHours int) Check {
	c := Check{ID: CheckBinlogRetention, Title: titleBinlogRetention}
	if r.Err != nil {
		c.Status, c.Evidence = Fail, "could not read the binlog retention: "+r.Err.Error()
		c.Fix = "let switchback's login read it (Aurora: CALL mysql.rds_show_configuration; elsewhere @@global.binlog_expire_logs_seconds)"
		return c
	}
	found := r.Retention.String()
	if r.Retention.Covers(float64(want)) {
		c.Status, c.Evidence = Pass, fmt.Sprintf("retention %s covers the %d h rollback window", found, want)
		return c
	}
	c.Fix = retentionFix(r.Dialect, want)
	switch {
	case configureHours >= want:
		c.Status = Warn
		c.Evidence = fmt.Sprintf("retention %s is shorter than the %d h rollback window; configure sets %d h at the switchover", found, want, configureHours)
	default:
		c.Status = Fail
		c.Evidence = fmt.Sprintf("retention %s is shorter than the %d h rollback window: binlogs the rollback side still needs can be purged, and replication then stops for good (error 1236)", found, want)
		if configureHours > 0 {
			c.Evidence += fmt.Sprintf("; configure sets only %d h (SWITCHBACK_RETENTION_HOURS)", configureHours)
			c.Fix += fmt.Sprintf(", and set SWITCHBACK_RETENTION_HOURS to at least %d", want)
		}
	}
	return c
}

// retentionFix is the statement that sets the retention, for people.
func retentionFix(d replication.Dialect, hours int) string {
	sts, err := d.SetRetention(hours)
	if err != nil || len(sts) == 0 {
		return fmt.Sprintf("keep production's binlogs for at least %d h", hours)
	}
	var parts []string
	for _, st := range sts {
		parts = append(parts, strings.TrimSuffix(st.Display, " /* switchback */"))
	}
	fix := "run on production: " + strings.Join(parts, "; ") + " (or run preflight with fix)"
	if d == replication.MariaDB {
		fix += "; MariaDB does not persist SET GLOBAL: put binlog_expire_logs_seconds in its configuration too"
	}
	return fix
}

// ---- privileges ----

// productionAccess is what production's login may do.
type productionAccess struct {
	User string
	// Grants are SHOW GRANTS for the login, with the privileges of its
	// roles when they could be read (RolesExpanded).
	Grants        []string
	GrantsErr     error
	RolesExpanded bool
	// BinlogStatusErr is the result of actually reading the binlog status.
	BinlogStatusErr error
}

// checkProductionPrivileges checks that production's login can do what
// configure does there: create the replication user and grant it
// REPLICATION SLAVE and REPLICATION CLIENT (so it needs both with GRANT
// OPTION), read the binlog status, and write switchback's own schema.
func checkProductionPrivileges(a productionAccess) Check {
	c := Check{ID: CheckProductionPrivileges, Title: titleProductionPrivileges}
	user := orPlaceholder(a.User, "the login")
	if a.GrantsErr != nil {
		c.Evidence = "could not read SHOW GRANTS: " + a.GrantsErr.Error()
		if a.BinlogStatusErr != nil {
			c.Status, c.Evidence = Fail, c.Evidence+"; reading the binlog status failed: "+a.BinlogStatusErr.Error()
			c.Fix = "grant " + user + " REPLICATION CLIENT (MariaDB: BINLOG MONITOR)"
			return c
		}
		c.Status, c.Fix = Warn, "make sure "+user+" holds CREATE USER and REPLICATION SLAVE, REPLICATION CLIENT WITH GRANT OPTION"
		return c
	}
	g := parseGrants(a.Grants)
	var missing, fixes []string
	if !g.hasGlobal("CREATE USER") {
		missing = append(missing, "CREATE USER (to create the replication user)")
		fixes = append(fixes, "CREATE USER")
	}
	for _, p := range []string{"REPLICATION SLAVE", "REPLICATION CLIENT"} {
		switch {
		case !g.hasGlobal(p):
			missing = append(missing, p+" WITH GRANT OPTION (to grant it to the replication user)")
			fixes = append(fixes, p)
		case !g.grantableGlobal(p):
			missing = append(missing, "GRANT OPTION on "+p)
			fixes = append(fixes, p)
		}
	}
	var schema []string
	for _, p := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"} {
		if !g.hasOn(p, "switchback") {
			schema = append(schema, p)
		}
	}
	if len(schema) > 0 {
		missing = append(missing, strings.Join(schema, ", ")+" on switchback.* (switchback's heartbeat and bookkeeping schema)")
	}
	if a.BinlogStatusErr != nil {
		missing = append(missing, "reading the binlog status: "+a.BinlogStatusErr.Error())
		if !slices.Contains(fixes, "REPLICATION CLIENT") {
			fixes = append(fixes, "REPLICATION CLIENT")
		}
	}
	if len(missing) == 0 {
		c.Status = Pass
		c.Evidence = user + " can create users, grant REPLICATION SLAVE and REPLICATION CLIENT, read the binlog status and write switchback's schema"
		return c
	}
	c.Evidence = user + " lacks " + strings.Join(missing, "; ")
	var fix []string
	if len(fixes) > 0 {
		fix = append(fix, "GRANT "+strings.Join(fixes, ", ")+" ON *.* TO "+user+" WITH GRANT OPTION")
	}
	if len(schema) > 0 {
		fix = append(fix, "GRANT "+strings.Join(schema, ", ")+" ON switchback.* TO "+user)
	}
	c.Fix = "run as a user that holds them (on Aurora, the master user): " + strings.Join(fix, "; ") + "; MariaDB calls REPLICATION CLIENT BINLOG MONITOR"
	c.Status = Fail
	if len(g.roles) > 0 && !a.RolesExpanded && a.BinlogStatusErr == nil {
		c.Status = Warn
		c.Evidence += fmt.Sprintf(" (unless its role %s grants them: switchback could not read the role's privileges)", strings.Join(g.roles, ", "))
	}
	return c
}

// rollbackAccess is what the rollback side's login may do.
type rollbackAccess struct {
	User          string
	Dialect       replication.Dialect
	Grants        []string
	GrantsErr     error
	RolesExpanded bool
	// ReplicaStatusErr is the result of actually reading the replica status.
	ReplicaStatusErr error
	// Procedures are the mysql.rds_* procedures the login sees (Aurora).
	Procedures    []string
	ProceduresErr error
}

// auroraProcedures are the procedures configure, rollback and teardown call
// on an Aurora rollback side (aws-facts §3).
func auroraProcedures(d replication.Dialect) []string {
	if d == replication.AuroraMySQL2 {
		return []string{"rds_set_external_master", "rds_reset_external_master", "rds_start_replication", "rds_stop_replication"}
	}
	return []string{"rds_set_external_source", "rds_reset_external_source", "rds_start_replication", "rds_stop_replication"}
}

// checkRollbackPrivileges checks that the rollback side's login can watch
// and control replication: read the replica status (REPLICATION CLIENT;
// MariaDB SLAVE MONITOR), and on Aurora call the mysql.rds_* replication
// procedures (EXECUTE), elsewhere run CHANGE MASTER/START/STOP and set
// read_only (SUPER or the split privileges).
func checkRollbackPrivileges(a rollbackAccess) Check {
	c := Check{ID: CheckRollbackPrivileges, Title: titleRollbackPrivileges}
	user := orPlaceholder(a.User, "the login")
	var missing, fixes []string
	if a.ReplicaStatusErr != nil {
		missing = append(missing, "reading the replica status: "+a.ReplicaStatusErr.Error())
		if a.Dialect == replication.MariaDB {
			fixes = append(fixes, "GRANT SLAVE MONITOR ON *.* TO "+user)
		} else {
			fixes = append(fixes, "GRANT REPLICATION CLIENT ON *.* TO "+user)
		}
	}
	g := parseGrants(a.Grants)
	grantsKnown := a.GrantsErr == nil
	if a.Dialect.IsAurora() {
		if a.ProceduresErr != nil {
			missing = append(missing, "listing the mysql.rds_* procedures: "+a.ProceduresErr.Error())
		} else {
			var absent []string
			for _, p := range auroraProcedures(a.Dialect) {
				if !slices.ContainsFunc(a.Procedures, func(h string) bool { return strings.EqualFold(h, p) }) {
					absent = append(absent, "mysql."+p)
				}
			}
			if len(absent) > 0 {
				missing = append(missing, strings.Join(absent, ", ")+" (not found or not visible to "+user+"; "+string(a.Dialect)+" has them)")
				fixes = append(fixes, "connect as the cluster's master user, or check the engine version")
			}
		}
		if grantsKnown {
			var noExec []string
			for _, p := range auroraProcedures(a.Dialect) {
				if !g.canExecute("mysql", p) {
					noExec = append(noExec, "mysql."+p)
				}
			}
			if len(noExec) > 0 {
				missing = append(missing, "EXECUTE on "+strings.Join(noExec, ", "))
				fixes = append(fixes, "GRANT EXECUTE ON mysql.* TO "+user+" (or use the master user)")
			}
		}
	} else if grantsKnown {
		admin := []string{"SUPER", "REPLICATION SLAVE ADMIN", "REPLICATION_SLAVE_ADMIN"}
		if !g.hasAnyGlobal(admin...) {
			missing = append(missing, "SUPER or REPLICATION SLAVE ADMIN (MySQL: REPLICATION_SLAVE_ADMIN) to point the replica at production and start and stop it")
			if a.Dialect == replication.MariaDB {
				fixes = append(fixes, "GRANT REPLICATION SLAVE ADMIN ON *.* TO "+user)
			} else {
				fixes = append(fixes, "GRANT REPLICATION_SLAVE_ADMIN ON *.* TO "+user)
			}
		}
		ro := []string{"SUPER", "READ_ONLY ADMIN", "SYSTEM_VARIABLES_ADMIN"}
		if !g.hasAnyGlobal(ro...) {
			missing = append(missing, "SUPER or READ_ONLY ADMIN (MySQL: SYSTEM_VARIABLES_ADMIN) to fence it with read_only")
			if a.Dialect == replication.MariaDB {
				fixes = append(fixes, "GRANT READ_ONLY ADMIN ON *.* TO "+user)
			} else {
				fixes = append(fixes, "GRANT SYSTEM_VARIABLES_ADMIN ON *.* TO "+user)
			}
		}
	}
	switch {
	case len(missing) == 0 && !grantsKnown:
		c.Status, c.Evidence = Warn, "the replica status is readable, but SHOW GRANTS failed: "+a.GrantsErr.Error()
		c.Fix = "make sure " + user + " can control replication (Aurora: EXECUTE on the mysql.rds_* procedures; elsewhere SUPER or REPLICATION SLAVE ADMIN)"
	case len(missing) == 0 && a.Dialect.IsAurora():
		c.Status, c.Evidence = Pass, user+" reads the replica status and can EXECUTE "+strings.Join(prefixAll("mysql.", auroraProcedures(a.Dialect)), ", ")
	case len(missing) == 0:
		c.Status, c.Evidence = Pass, user+" reads the replica status and can control replication and read_only"
	default:
		c.Status, c.Evidence = Fail, user+" lacks "+strings.Join(missing, "; ")
		c.Fix = strings.Join(fixes, "; ")
		if len(g.roles) > 0 && !a.RolesExpanded && a.ReplicaStatusErr == nil && a.ProceduresErr == nil {
			c.Status = Warn
			c.Evidence += fmt.Sprintf(" (unless its role %s grants them: switchback could not read the role's privileges)", strings.Join(g.roles, ", "))
		}
	}
	return c
}

func prefixAll(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// ---- the rollback cluster's parameter group ----

// checkRollbackGroup reports the parameter-group fencer's own check of the
// rollback cluster: switchback fences it by setting read_only=1 in its DB
// cluster parameter group, which must be custom and used by no other
// cluster (read_only there would fence them too).
func checkRollbackGroup(cluster, group string, err error) Check {
	c := Check{ID: CheckRollbackGroup, Title: titleRollbackGroup}
	switch {
	case err == nil:
		c.Status, c.Evidence = Pass, fmt.Sprintf("%s is a custom DB cluster parameter group that only cluster %s uses: read_only=1 there fences %s alone", group, cluster, cluster)
	case errors.Is(err, awsrds.ErrFenceRefused):
		c.Status, c.Evidence = Fail, err.Error()
		c.Fix = fmt.Sprintf("give cluster %s its own custom DB cluster parameter group: aws rds create-db-cluster-parameter-group (same family), copy its parameters, aws rds modify-db-cluster --db-cluster-identifier %s --db-cluster-parameter-group-name <new group>, then reboot its writer", cluster, cluster)
	default:
		c.Status, c.Evidence = Fail, "could not check the rollback cluster's parameter group: "+err.Error()
		c.Fix = "allow switchback rds:DescribeDBClusters, and check that cluster " + cluster + " exists"
	}
	return c
}

// checkProductionGroup reports the parameter-group fencer's check of the
// new production (green before the switchover): a rollback fences
// production by setting read_only=1 in its DB cluster parameter group, and
// refuses a default group or one another cluster uses — with such a group
// the way back is closed however well the replica runs.
func checkProductionGroup(cluster, group string, err error) Check {
	c := Check{ID: CheckProductionGroup, Title: titleProductionGroup}
	switch {
	case err == nil:
		c.Status, c.Evidence = Pass, fmt.Sprintf("%s is a custom DB cluster parameter group that only cluster %s uses: a rollback's read_only=1 there fences %s alone", group, cluster, cluster)
	case errors.Is(err, awsrds.ErrFenceRefused):
		c.Status, c.Evidence = Fail, err.Error()+"; a rollback fences production through this group, so it would be refused"
		c.Fix = fmt.Sprintf("give cluster %s its own custom DB cluster parameter group (binlog_format=ROW kept): aws rds create-db-cluster-parameter-group (same family), copy its parameters, aws rds modify-db-cluster --db-cluster-identifier %s --db-cluster-parameter-group-name <new group>, then reboot its writer", cluster, cluster)
	default:
		c.Status, c.Evidence = Fail, "could not check production's parameter group: "+err.Error()
		c.Fix = "allow switchback rds:DescribeDBClusters, and check that cluster " + cluster + " exists"
	}
	return c
}

// ---- versions ----

// version is a server's family and version.
type version struct {
	Family              string // "mysql", "mariadb" or "" (unknown)
	Major, Minor, Patch int
	Raw                 string
}

var leadingVersion = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// parseVersion reads a server version ("8.0.36", "5.7.12-log",
// "10.11.19-MariaDB-0+deb12u1") or an RDS engine version
// ("8.0.mysql_aurora.3.08.0", "5.7.mysql_aurora.2.12.1"); hint is
// @@version_comment or the RDS engine.
func parseVersion(v, hint string) version {
	m := leadingVersion.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return version{Raw: v}
	}
	out := version{Family: "mysql", Raw: v}
	out.Major, _ = strconv.Atoi(m[1])
	out.Minor, _ = strconv.Atoi(m[2])
	out.Patch, _ = strconv.Atoi(m[3])
	if strings.Contains(strings.ToLower(v+" "+hint), "mariadb") {
		out.Family = "mariadb"
	}
	return out
}

func (v version) known() bool { return v.Family != "" }

// less compares major.minor.patch.
func (v version) less(w version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// olderMySQL reports whether v is MySQL (or Aurora MySQL) older than
// major.minor.patch.
func (v version) olderMySQL(major, minor, patch int) bool {
	return v.Family == "mysql" && v.less(version{Major: major, Minor: minor, Patch: patch})
}

func (v version) String() string {
	if !v.known() {
		return "unknown"
	}
	name := "MySQL"
	if v.Family == "mariadb" {
		name = "MariaDB"
	}
	return fmt.Sprintf("%s %d.%d.%d", name, v.Major, v.Minor, v.Patch)
}

// checkVersions reports the replication direction. Newer → older is what an
// upgrade's rollback path is, and what MySQL does not support (aws-facts
// §8): a warning that the other checks cover the known hazards, and a
// failure when production compresses its binlog transactions, which older
// replicas cannot read.
func checkVersions(prod, rb version, compression bool) Check {
	c := Check{ID: CheckVersions, Title: titleVersions}
	switch {
	case !prod.known() || !rb.known():
		c.Status, c.Evidence = Skip, fmt.Sprintf("not checked: production %s, rollback %s", prod, rb)
	case prod.Family != rb.Family:
		c.Status, c.Evidence = Warn, fmt.Sprintf("production is %s, the rollback side %s: replication across MySQL and MariaDB is not what switchback is built for", prod, rb)
		c.Fix = "use the same engine on both sides"
	case compression && rb.olderMySQL(8, 0, 20):
		c.Status, c.Evidence = Fail, fmt.Sprintf("production (%s) compresses binlog transactions (binlog_transaction_compression=ON), which the rollback side (%s) cannot read", prod, rb)
		c.Fix = "turn binlog_transaction_compression off on production for the rollback window (its parameter group, or SET PERSIST)"
	case rb.less(prod) && (rb.Major != prod.Major || rb.Minor != prod.Minor):
		c.Status, c.Evidence = Warn, fmt.Sprintf("newer → older: production %s replicates into %s; MySQL does not support replication from a newer into an older version — it works with ROW format while nothing the older version lacks reaches the binlog (the collation, primary-key and authentication checks cover the known hazards)", prod, rb)
		c.Fix = "during the rollback window, run no DDL on production that " + rb.String() + " lacks (new collations, functional or invisible indexes and columns, CHECK constraints, new data types), and keep binlog_transaction_compression off"
	default:
		c.Status, c.Evidence = Pass, fmt.Sprintf("production %s → rollback %s: same or older production version", prod, rb)
	}
	return c
}

// ---- collations ----

// collationUse is one collation production uses, in one kind of place.
type collationUse struct {
	Collation string
	// Kind is "column", "table", "schema" or "server default".
	Kind  string
	Count int
	// Example is one place that uses it (schema.table.column, the
	// variable of a server default).
	Example string
}

// collationKey normalises a collation name for comparison: lower case, and
// utf8_ spelled utf8mb3_ (MySQL 8.0.30+ and MariaDB show utf8mb3_… where
// 5.7 shows utf8_…).
func collationKey(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if rest, ok := strings.CutPrefix(n, "utf8_"); ok {
		return "utf8mb3_" + rest
	}
	return n
}

// checkCollations finds the collations production uses (columns, tables,
// schema defaults, server defaults) that the rollback side does not have:
// statements and table definitions carrying them stop an older replica
// ("Unknown collation", collation #255 for utf8mb4_0900_ai_ci on 5.7).
// The rule is data — the rollback side's own list — so it holds for any
// pair of versions.
func checkCollations(used []collationUse, usedErr error, supported []string, supErr error, rb version) Check {
	c := Check{ID: CheckCollations, Title: titleCollations}
	switch {
	case usedErr != nil:
		c.Status, c.Evidence, c.Fix = Warn, "could not read the collations production uses: "+usedErr.Error(), "let switchback's login read information_schema"
		return c
	case supErr != nil:
		c.Status, c.Evidence, c.Fix = Warn, "could not read the rollback side's collations: "+supErr.Error(), "let switchback's login read information_schema.COLLATIONS on the rollback side"
		return c
	}
	have := make(map[string]bool, len(supported))
	for _, s := range supported {
		have[collationKey(s)] = true
	}
	type miss struct {
		name  string
		where []string
	}
	var missing []*miss
	byName := map[string]*miss{}
	distinct := map[string]bool{}
	for _, u := range used {
		if u.Collation == "" {
			continue
		}
		k := collationKey(u.Collation)
		distinct[k] = true
		if have[k] {
			continue
		}
		m := byName[k]
		if m == nil {
			m = &miss{name: u.Collation}
			byName[k] = m
			missing = append(missing, m)
		}
		m.where = append(m.where, describeUse(u))
	}
	if len(missing) == 0 {
		c.Status, c.Evidence = Pass, fmt.Sprintf("the rollback side (%s) has every collation production uses (%d)", rb, len(distinct))
		return c
	}
	var ev, fix []string
	for _, m := range missing {
		ev = append(ev, m.name+" ("+strings.Join(m.where, "; ")+")")
		fix = append(fix, m.name+" → "+replacementCollation(m.name, have))
	}
	c.Status = Fail
	c.Evidence = fmt.Sprintf("production uses collations the rollback side (%s) does not have: %s; statements and tables carrying them stop its replication", rb, strings.Join(ev, ", "))
	c.Fix = "before the switchover, move them to collations both sides have (" + strings.Join(fix, ", ") + "): ALTER TABLE … CONVERT TO CHARACTER SET … COLLATE …, ALTER DATABASE … COLLATE …, and production's collation_server (MySQL 8: default_collation_for_utf8mb4) in its parameter group"
	return c
}

func describeUse(u collationUse) string {
	switch u.Kind {
	case "server default":
		return "server default " + u.Example
	case "schema":
		if u.Count == 1 {
			return "schema " + u.Example
		}
		return fmt.Sprintf("%d schemas, e.g. %s", u.Count, u.Example)
	}
	if u.Count == 1 {
		return u.Kind + " " + u.Example
	}
	return fmt.Sprintf("%d %ss, e.g. %s", u.Count, u.Kind, u.Example)
}

// replacementCollation suggests a collation of the same character set the
// rollback side has.
func replacementCollation(name string, have map[string]bool) string {
	cs, _, _ := strings.Cut(collationKey(name), "_")
	for _, cand := range []string{cs + "_unicode_520_ci", cs + "_unicode_ci", cs + "_general_ci", cs + "_bin"} {
		if have[cand] {
			return cand
		}
	}
	return "a " + cs + " collation the rollback side lists"
}

// ---- primary keys ----

// maxListed bounds the names a check lists in its evidence.
const maxListed = 10

// checkPrimaryKeys reports production's tables without a primary key: with
// ROW replication every change to such a table makes the replica search the
// whole table for the row, so the rollback side falls behind. It fails when
// production generates invisible primary keys (MySQL 8.0.30+) for a
// rollback side that cannot have them.
func checkPrimaryKeys(tables []string, count int, err error, invisiblePK bool, rb version) Check {
	c := Check{ID: CheckPrimaryKeys, Title: titlePrimaryKeys}
	if invisiblePK && rb.olderMySQL(8, 0, 30) {
		c.Status = Fail
		c.Evidence = fmt.Sprintf("production generates invisible primary keys (sql_generate_invisible_primary_key=ON): tables created during the rollback window get a my_row_id column the rollback side (%s) does not create, and its row replication stops", rb)
		c.Fix = "turn sql_generate_invisible_primary_key off on production (its parameter group) for the rollback window"
		return c
	}
	switch {
	case err != nil:
		c.Status, c.Evidence, c.Fix = Warn, "could not list the tables: "+err.Error(), "let switchback's login read information_schema"
	case count == 0:
		c.Status, c.Evidence = Pass, "every base table on production has a primary key"
	default:
		list := tables
		if len(list) > maxListed {
			list = list[:maxListed]
		}
		more := ""
		if count > len(list) {
			more = fmt.Sprintf(" and %d more", count-len(list))
		}
		c.Status = Warn
		c.Evidence = fmt.Sprintf("%d table(s) without a primary key: %s%s; every replicated row change to them makes the rollback replica scan the whole table, so it falls behind", count, strings.Join(list, ", "), more)
		c.Fix = "add a primary key (ALTER TABLE … ADD PRIMARY KEY (…)) — or at least a unique index on NOT NULL columns — before the switchover"
	}
	return c
}

// ---- the replication user's authentication plugin ----

// authFacts is how the replication user authenticates on production.
type authFacts struct {
	// Plugin is the user's plugin, or the server's default when the user
	// does not exist yet (configure creates it with the default).
	Plugin string
	Exists bool
	// Production is production's version (8.4 disables
	// mysql_native_password by default).
	Production version
	Err        error
}

// checkAuthPlugin checks that the rollback side can log in as the
// replication user: caching_sha2_password (MySQL 8's default) needs TLS or
// the RSA public-key exchange, which a 5.7 replica cannot do without TLS
// (and switchback configures replication without TLS).
func checkAuthPlugin(a authFacts, rb version, rbDialect replication.Dialect, user, host string) Check {
	c := Check{ID: CheckReplicationUserAuth, Title: titleReplicationUserAuth}
	account := fmt.Sprintf("'%s'@'%s'", user, host)
	if a.Err != nil {
		c.Status, c.Evidence, c.Fix = Warn, "could not read the replication user's plugin: "+a.Err.Error(), "let switchback's login read mysql.user"
		return c
	}
	plugin := strings.ToLower(strings.TrimSpace(a.Plugin))
	if a.Exists && plugin == "" {
		plugin = "mysql_native_password" // MariaDB's old-style accounts
	}
	subject := account + " exists with " + orPlaceholder(plugin, "an unknown plugin")
	if !a.Exists {
		subject = account + " does not exist yet: configure creates it with production's default plugin, " + orPlaceholder(plugin, "(unknown)")
	}
	native := fmt.Sprintf("create the replication user with mysql_native_password before the switchover — CREATE USER %s IDENTIFIED WITH mysql_native_password BY '<password>'; GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s — and give configure the same password (SWITCHBACK_REPLICATION_SECRET_ARN, or $SWITCHBACK_REPLICATION_PASSWORD for the CLI); for an existing user: ALTER USER %s IDENTIFIED WITH mysql_native_password BY '<password>'", account, account, account)
	switch plugin {
	case "mysql_native_password":
		if !a.Production.olderMySQL(8, 4, 0) && a.Production.Family == "mysql" {
			c.Status, c.Evidence = Warn, subject+": production is "+a.Production.String()+", where mysql_native_password is disabled unless the server loads it"
			c.Fix = "make sure production loads mysql_native_password (mysql_native_password=ON), or use caching_sha2_password with TLS"
			return c
		}
		c.Status, c.Evidence = Pass, subject+": every MySQL and MariaDB replica can log in with it"
	case "caching_sha2_password", "sha256_password":
		switch {
		case rb.olderMySQL(8, 0, 0):
			c.Status = Fail
			c.Evidence = subject + ": a " + rb.String() + " replica cannot log in with it without TLS (no RSA public-key exchange), and switchback sets up replication without TLS"
			c.Fix = native
		case rbDialect == replication.MySQL:
			c.Status, c.Evidence = Pass, subject+": switchback asks the MySQL replica to fetch the server's RSA key (GET_SOURCE_PUBLIC_KEY=1)"
		default:
			c.Status = Warn
			c.Evidence = subject + ": it needs TLS or the RSA public-key exchange, and the rollback side (" + rb.String() + ") is set up without TLS"
			c.Fix = native + "; or enable TLS for the binlog connection (Aurora 3.06+: CALL mysql.rds_set_binlog_source_ssl(1))"
		}
	case "ed25519", "client_ed25519", "parsec":
		if rb.Family == "mariadb" {
			c.Status, c.Evidence = Pass, subject+": the MariaDB rollback side supports it"
			return c
		}
		c.Status, c.Evidence, c.Fix = Fail, subject+": a MySQL replica cannot log in with MariaDB's plugin", native
	case "unix_socket", "auth_socket", "pam", "auth_pam", "gssapi", "named_pipe", "authentication_ldap_sasl", "authentication_ldap_simple", "authentication_kerberos", "authentication_iam":
		c.Status = Fail
		c.Evidence = subject + ": the rollback side cannot log in with a password over TCP"
		c.Fix = fmt.Sprintf("DROP USER %s and let configure create it, or ALTER USER %s IDENTIFIED WITH mysql_native_password BY '<password>' (and give configure the same password)", account, account)
	case "":
		c.Status, c.Evidence = Warn, subject+": switchback could not tell which plugin configure will use"
		c.Fix = native
	default:
		c.Status, c.Evidence = Warn, subject+": switchback does not know whether the rollback side can log in with it"
		c.Fix = native
	}
	return c
}

func orPlaceholder(s, placeholder string) string {
	if s == "" {
		return placeholder
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
