// Package preflight tells, before a blue/green switchover (or at any time
// after it), whether switchback's rollback path can be built and trusted:
// binlog format and retention on the new production, the rollback
// cluster's parameter group, credentials and privileges on both writers,
// and the hazards of replicating from a newer version into an older one.
//
// Every check returns pass, warn or fail with the evidence it saw and the
// fix; skip says a check could not run (and why) and never decides the
// verdict on its own. The checks themselves are pure functions of what the
// readers gathered (checks.go, grants.go), so they are table-tested; the
// readers (read.go) are thin queries against the two servers and the RDS
// API. Run is independent of the orchestrator: the CLI runs it against two
// DSNs, the preflight Lambda function against a blue/green deployment's
// clusters (aws.go).
package preflight

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// Status is a check's result.
type Status string

// The statuses. A report's verdict is fail when any check fails, warn when
// any warns, pass otherwise; skipped checks do not count.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	// Skip: the check could not run; Evidence says why (an unreachable
	// server, no AWS API in the CLI).
	Skip Status = "skip"
)

// The checks, by ID (Check.ID). IDs are part of the JSON output.
const (
	CheckProductionReachable  = "production-reachable"
	CheckRollbackReachable    = "rollback-reachable"
	CheckProductionLogin      = "production-login"
	CheckRollbackLogin        = "rollback-login"
	CheckProductionPrivileges = "production-privileges"
	CheckRollbackPrivileges   = "rollback-privileges"
	CheckBinlogFormatGroup    = "binlog-format-parameter-group"
	CheckBinlogFormatServer   = "binlog-format-server"
	CheckBinlogRetention      = "binlog-retention"
	CheckRollbackGroup        = "rollback-parameter-group"
	CheckProductionGroup      = "production-parameter-group"
	CheckVersions             = "version-direction"
	CheckCollations           = "collations"
	CheckPrimaryKeys          = "primary-keys"
	CheckReplicationUserAuth  = "replication-user-auth"
)

// Check is one check's result.
type Check struct {
	// ID names the check (the Check* constants).
	ID string `json:"id"`
	// Title says what was checked, for people.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Evidence is what the check saw.
	Evidence string `json:"evidence"`
	// Fix says what to do when the check does not pass.
	Fix string `json:"fix,omitempty"`
	// Fixed is true when preflight fixed the problem in place (binlog
	// retention with Settings.Fix); Evidence says what it found and did.
	Fixed bool `json:"fixed,omitempty"`
}

// Report is one preflight run.
type Report struct {
	// Deployment is the blue/green deployment checked ("" from the CLI).
	Deployment string `json:"deployment,omitempty"`
	// Production names the new production (green before the switchover):
	// its cluster identifier, or its address from the CLI.
	Production string `json:"production"`
	// Rollback names the side that replicates back (blue before the
	// switchover, -oldN after).
	Rollback string `json:"rollback"`
	// Verdict is fail if any check fails, warn if any warns, else pass.
	Verdict Status    `json:"verdict"`
	Checks  []Check   `json:"checks"`
	Time    time.Time `json:"time"`
}

// Check returns the check with id, and whether the report has it.
func (r Report) Check(id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// With returns the checks with status st, in report order.
func (r Report) With(st Status) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == st {
			out = append(out, c)
		}
	}
	return out
}

// Verdict is fail if any check fails, warn if any warns, pass otherwise
// (skipped checks do not count).
func Verdict(checks []Check) Status {
	v := Pass
	for _, c := range checks {
		switch c.Status {
		case Fail:
			return Fail
		case Warn:
			v = Warn
		}
	}
	return v
}

// ParameterReader reads DB cluster parameter groups
// (DescribeDBClusterParameters); *awsrds.Client implements it.
type ParameterReader interface {
	// ClusterParameter returns parameter name's value in DB cluster
	// parameter group group, "" when the group lists no value for it.
	ClusterParameter(ctx context.Context, group, name string) (string, error)
}

// GroupChecker checks that a cluster's DB cluster parameter group can carry
// switchback's read_only fence; *awsrds.Client implements it with the
// parameter-group fencer's own check.
type GroupChecker interface {
	// CheckFenceGroup returns the cluster's current DB cluster parameter
	// group, or an error when it is a default group or another cluster
	// uses it (or the clusters cannot be listed).
	CheckFenceGroup(ctx context.Context, cluster orchestrate.Cluster) (string, error)
}

// Settings are what preflight holds the servers to.
type Settings struct {
	// RetentionHours is the binlog retention the new production must keep:
	// the rollback window (1..replication.MaxRetentionHours; 0 means
	// replication.DefaultRetentionHours).
	RetentionHours int
	// ConfigureRetentionHours is the retention configure itself ensures at
	// the switchover (SWITCHBACK_RETENTION_HOURS); a shorter retention that
	// configure will raise to the window is a warning, not a failure. 0
	// means nothing will raise it (the CLI).
	ConfigureRetentionHours int
	// Fix sets the retention in place (the dialect's SetRetention) when it
	// is shorter than RetentionHours. Nothing else is ever changed.
	Fix bool
	// ReplicationUser and ReplicationUserHost are the account configure
	// creates on production (replication.DefaultReplicationUser, "%").
	ReplicationUser     string
	ReplicationUserHost string
	// ProbeTimeout bounds the TCP probe of a writer preflight has no login
	// for; 0 means 5 s.
	ProbeTimeout time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.RetentionHours <= 0 {
		s.RetentionHours = replication.DefaultRetentionHours
	}
	if s.RetentionHours > replication.MaxRetentionHours {
		s.RetentionHours = replication.MaxRetentionHours
	}
	if s.ReplicationUser == "" {
		s.ReplicationUser = replication.DefaultReplicationUser
	}
	if s.ReplicationUserHost == "" {
		s.ReplicationUserHost = replication.DefaultReplicationUserHost
	}
	if s.ProbeTimeout <= 0 {
		s.ProbeTimeout = 5 * time.Second
	}
	return s
}

// Side is one writer as the caller could (or could not) open it.
type Side struct {
	// Name is how the report names the side: a cluster identifier, or the
	// address.
	Name string
	// Cluster is the side's cluster as RDS describes it; nil without AWS.
	Cluster *orchestrate.Cluster
	// Addr is the writer's host:port, probed over TCP when there is no
	// server (credentials that did not resolve); "" uses the cluster's
	// endpoint.
	Addr string
	// Server is the open writer; nil when it could not be opened.
	Server *replication.Server
	// CredentialsErr says why the login could not be resolved (a secret
	// missing or unreadable); the server was not tried.
	CredentialsErr error
	// ConnectErr says why the server could not be opened.
	ConnectErr error
}

func (s Side) addr() string {
	switch {
	case s.Server != nil:
		return s.Server.Addr
	case s.Addr != "":
		return s.Addr
	case s.Cluster != nil && s.Cluster.Endpoint != "" && s.Cluster.Port != 0:
		return net.JoinHostPort(s.Cluster.Endpoint, itoa(s.Cluster.Port))
	}
	return ""
}

func (s Side) name() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Cluster != nil && s.Cluster.ID != "":
		return s.Cluster.ID
	}
	return s.addr()
}

// Inputs are everything one preflight run looks at.
type Inputs struct {
	// Deployment is the blue/green deployment checked ("" from the CLI).
	Deployment string
	// Production is the new production (green before the switchover), the
	// replication source of the rollback path.
	Production Side
	// Rollback is the side that will replicate back from it.
	Rollback Side
	// Parameters and Groups read the RDS API; nil (the CLI) skips the
	// parameter-group checks.
	Parameters ParameterReader
	Groups     GroupChecker
	// Parallel reads what the rollback cluster's DB cluster parameter
	// group holds for parallel apply; nil (the CLI) checks what the
	// rollback server reports instead.
	Parallel ParallelApplyReader
	Settings Settings
	// RollbackCollations, when set, are the collations the rollback side
	// supports, used instead of the ones its server lists: a named
	// target's set, to check production against a version that is not
	// reachable here.
	RollbackCollations []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run runs every check and returns the report; when a verify run has
// finished against production, the report also shows its result
// (CheckLatestVerify). It changes nothing, except the binlog retention on
// production when Settings.Fix is set and the retention is short.
// Problems reading a server become failed or skipped checks with their
// evidence, never an error.
func Run(ctx context.Context, in Inputs) Report {
	s := in.Settings.withDefaults()
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	rep := Report{Deployment: in.Deployment, Production: in.Production.name(), Rollback: in.Rollback.name(), Time: now().UTC()}
	add := func(c Check) { rep.Checks = append(rep.Checks, c) }

	prodUp, rbUp := in.Production.Server != nil, in.Rollback.Server != nil
	for _, side := range []struct {
		s                  Side
		role, reach, login string
	}{
		{in.Production, "production", CheckProductionReachable, CheckProductionLogin},
		{in.Rollback, "rollback", CheckRollbackReachable, CheckRollbackLogin},
	} {
		probe := ""
		var probeErr error
		if side.s.Server == nil && side.s.CredentialsErr != nil {
			probe = side.s.addr()
			if probe != "" {
				probeErr = probeTCP(ctx, probe, s.ProbeTimeout)
			}
		}
		r, l := checkAccess(side.role, side.s, probe, probeErr)
		r.ID, l.ID = side.reach, side.login
		add(r)
		add(l)
	}

	// Production's parameter group: binlog_format.
	var groupFormat string
	add(func() Check {
		c, v := checkGroupFormatFrom(ctx, in.Parameters, in.Production.Cluster)
		groupFormat = v
		return c
	}())

	var prodFacts productionFacts
	if prodUp {
		prodFacts = readProduction(ctx, in.Production.Server, s)
	}
	var rbFacts rollbackFacts
	if rbUp {
		rbFacts = readRollback(ctx, in.Rollback.Server)
	}
	if in.RollbackCollations != nil {
		rbFacts.collations, rbFacts.collationsErr = in.RollbackCollations, nil
		rbFacts.collationsGiven = true
	}

	if prodUp {
		add(checkBinlogFormatServer(prodFacts.format, groupFormat, groupName(in.Production.Cluster), writerName(in.Production.Cluster)))
		add(retentionCheck(ctx, in.Production.Server, prodFacts.retention, s))
		add(checkProductionPrivileges(prodFacts.access))
	} else {
		why := unreachableWhy("production", in.Production)
		add(skip(CheckBinlogFormatServer, titleBinlogFormatServer, why))
		add(skip(CheckBinlogRetention, titleBinlogRetention, why))
		add(skip(CheckProductionPrivileges, titleProductionPrivileges, why))
	}
	if rbUp {
		add(checkRollbackPrivileges(rbFacts.access))
	} else {
		add(skip(CheckRollbackPrivileges, titleRollbackPrivileges, unreachableWhy("rollback", in.Rollback)))
	}

	add(checkRollbackGroupFrom(ctx, in.Groups, in.Rollback.Cluster))
	add(checkProductionGroupFrom(ctx, in.Groups, in.Production.Cluster))
	add(checkParallelFrom(ctx, in.Parallel, in.Rollback))

	prodV, rbV := sideVersion(in.Production), sideVersion(in.Rollback)
	add(checkVersions(prodV, rbV, prodFacts.format.Compression))
	switch {
	case !prodUp:
		why := unreachableWhy("production", in.Production)
		add(skip(CheckCollations, titleCollations, why))
		add(skip(CheckPrimaryKeys, titlePrimaryKeys, why))
		add(skip(CheckReplicationUserAuth, titleReplicationUserAuth, why))
	default:
		if !rbUp && !rbFacts.collationsGiven {
			add(skip(CheckCollations, titleCollations, unreachableWhy("rollback", in.Rollback)))
		} else {
			add(checkCollations(prodFacts.collations, prodFacts.collationsErr, rbFacts.collations, rbFacts.collationsErr, rbV))
		}
		add(checkPrimaryKeys(prodFacts.noPK, prodFacts.noPKCount, prodFacts.noPKErr, prodFacts.invisiblePK, rbV))
		add(checkAuthPlugin(prodFacts.auth, rbV, rollbackDialect(in.Rollback), s.ReplicationUser, s.ReplicationUserHost))
		// Information, when there is any: the latest verify of the
		// rollback target's data (after the switchover, when the pair runs).
		if c, ok := latestVerifyFrom(ctx, in.Production.Server, now()); ok {
			add(c)
		}
	}
	rep.Verdict = Verdict(rep.Checks)
	return rep
}

// probeTCP dials addr: a writer preflight has no login for can still be
// shown reachable.
func probeTCP(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

func skip(id, title, why string) Check {
	return Check{ID: id, Title: title, Status: Skip, Evidence: "not checked: " + why}
}

func unreachableWhy(role string, s Side) string {
	switch {
	case s.CredentialsErr != nil:
		return "no login for the " + role + " writer"
	default:
		return "the " + role + " writer could not be opened"
	}
}

func groupName(c *orchestrate.Cluster) string {
	if c == nil {
		return ""
	}
	return c.ParameterGroup
}

func writerName(c *orchestrate.Cluster) string {
	if c == nil {
		return ""
	}
	return c.Writer
}

func rollbackDialect(s Side) replication.Dialect {
	if s.Server != nil {
		return s.Server.Dialect
	}
	if s.Cluster != nil {
		if d, err := replication.Detect(replication.ServerInfo{Version: s.Cluster.EngineVersion}); err == nil {
			return d
		}
	}
	return ""
}

// sideVersion is the side's version: what its server reports, or, when it
// could not be opened, what RDS says its engine version is.
func sideVersion(s Side) version {
	if s.Server != nil {
		return parseVersion(s.Server.Info.Version, s.Server.Info.VersionComment)
	}
	if s.Cluster != nil && s.Cluster.EngineVersion != "" {
		return parseVersion(s.Cluster.EngineVersion, s.Cluster.Engine)
	}
	return version{}
}

// checkGroupFormatFrom reads binlog_format from production's DB cluster
// parameter group and checks it; it returns the value it read.
func checkGroupFormatFrom(ctx context.Context, p ParameterReader, c *orchestrate.Cluster) (Check, string) {
	switch {
	case p == nil || c == nil:
		return skip(CheckBinlogFormatGroup, titleBinlogFormatGroup, "no RDS API (checked against servers only)"), ""
	case c.ParameterGroup == "":
		return checkBinlogFormatGroup(c.ID, "", "", c.Writer, nil), ""
	case strings.HasPrefix(c.ParameterGroup, "default."):
		return checkBinlogFormatGroup(c.ID, c.ParameterGroup, "", c.Writer, nil), ""
	}
	v, err := p.ClusterParameter(ctx, c.ParameterGroup, "binlog_format")
	return checkBinlogFormatGroup(c.ID, c.ParameterGroup, v, c.Writer, err), v
}

// checkRollbackGroupFrom runs the fence-group check of the rollback cluster.
func checkRollbackGroupFrom(ctx context.Context, g GroupChecker, c *orchestrate.Cluster) Check {
	if g == nil || c == nil {
		return skip(CheckRollbackGroup, titleRollbackGroup, "no RDS API (the CLI fences through SQL)")
	}
	group, err := g.CheckFenceGroup(ctx, *c)
	return checkRollbackGroup(c.ID, group, err)
}

// checkProductionGroupFrom runs the fence-group check of the new
// production (green): a rollback fences it through its DB cluster
// parameter group.
func checkProductionGroupFrom(ctx context.Context, g GroupChecker, c *orchestrate.Cluster) Check {
	if g == nil || c == nil {
		return skip(CheckProductionGroup, titleProductionGroup, "no RDS API (the CLI fences through SQL)")
	}
	group, err := g.CheckFenceGroup(ctx, *c)
	return checkProductionGroup(c.ID, group, err)
}
