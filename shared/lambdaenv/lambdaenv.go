// Package lambdaenv reads the configuration of switchback's Lambda functions
// (capture, reconcile, configure) from their environment variables, in one
// place: every variable is parsed and checked by Load, which reports every
// problem at once, each naming its variable and what is wrong with it, so
// a misconfigured function fails its cold start with one clear error.
//
// The variable names are the Env* constants; the CDK stack sets the
// functions' environment from the same constants.
package lambdaenv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The environment variables Load reads.
const (
	EnvTable                = "SWITCHBACK_TABLE"
	EnvTopicARN             = "SWITCHBACK_TOPIC_ARN"
	EnvConfigureFunction    = "SWITCHBACK_CONFIGURE_FUNCTION"
	EnvOptInClusters        = "SWITCHBACK_OPT_IN_CLUSTERS"
	EnvOptInTag             = "SWITCHBACK_OPT_IN_TAG"
	EnvAdminSecrets         = "SWITCHBACK_ADMIN_SECRETS"
	EnvReplicationSecretARN = "SWITCHBACK_REPLICATION_SECRET_ARN"
	EnvTLS                  = "SWITCHBACK_TLS"
	EnvTLSCABundle          = "SWITCHBACK_TLS_CA_BUNDLE"
	EnvDeleteBlueGreen      = "SWITCHBACK_DELETE_BLUE_GREEN"
	EnvRetentionHours       = "SWITCHBACK_RETENTION_HOURS"
	EnvLeaseSeconds         = "SWITCHBACK_LEASE_SECONDS"
	EnvStallMinutes         = "SWITCHBACK_STALL_MINUTES"
	EnvMaxLagSeconds        = "SWITCHBACK_MAX_LAG_SECONDS"
	// Part 2 (monitor, rollback, preflight, teardown).
	EnvMinHeadroomHours          = "SWITCHBACK_MIN_HEADROOM_HOURS"
	EnvMonitorConcurrency        = "SWITCHBACK_MONITOR_CONCURRENCY"
	EnvMonitorPairTimeoutSeconds = "SWITCHBACK_MONITOR_PAIR_TIMEOUT_SECONDS"
	EnvRollbackWindowHours       = "SWITCHBACK_ROLLBACK_WINDOW_HOURS"
	EnvPreflightFixRetention     = "SWITCHBACK_PREFLIGHT_FIX_RETENTION"
)

// TLS modes for connections to the clusters (SWITCHBACK_TLS). They are the
// modes orchestrate.MySQLConnector takes.
const (
	TLSVerify     = "verify"
	TLSSkipVerify = "skip-verify"
	TLSOff        = "off"
)

// Defaults of the optional variables.
const (
	// DefaultOptInTag is the tag that opts a cluster in.
	DefaultOptInTag = "switchback:enabled=true"
	// OptInTagNone, as SWITCHBACK_OPT_IN_TAG, turns tag opt-in off: only
	// the clusters listed in SWITCHBACK_OPT_IN_CLUSTERS are touched.
	OptInTagNone = "none"
	// DefaultTLSCABundle is where the RDS global CA bundle is in the
	// function's file system: the CDK stack ships it in a Lambda layer as
	// rds/global-bundle.pem, and layers are extracted under /opt.
	DefaultTLSCABundle    = "/opt/rds/global-bundle.pem"
	DefaultRetentionHours = 168
	DefaultLease          = 900 * time.Second
	DefaultStall          = 15 * time.Minute
	DefaultMaxLag         = 5 * time.Second
	// DefaultMinHeadroom is the binlog retention headroom below which the
	// rollback is not ready (the oldest binlog it needs may soon be purged).
	DefaultMinHeadroom = 24 * time.Hour
	// DefaultMonitorConcurrency pairs are observed at once; each within
	// DefaultMonitorPairTimeout.
	DefaultMonitorConcurrency = 4
	DefaultMonitorPairTimeout = 20 * time.Second
	// DefaultRollbackWindow is how long after configure the rollback path
	// stays open before teardown closes it (0 would mean never).
	DefaultRollbackWindow = 168 * time.Hour
)

// Bounds of the numeric variables.
const (
	// maxRetentionHours is Aurora MySQL's limit for 'binlog retention
	// hours' (90 days).
	maxRetentionHours = 2160
	// minLease keeps a lease at least a minute long: a configure run holds
	// it while it connects, fences and waits for the replica threads.
	minLease  = 60 * time.Second
	maxLease  = 24 * time.Hour
	maxStall  = 7 * 24 * time.Hour
	maxMaxLag = time.Hour
)

// Config is the functions' configuration. Load fills every field, with the
// defaults for the variables that are not set.
type Config struct {
	// Table is the DynamoDB table of deployment records
	// (SWITCHBACK_TABLE, required): a table name or a table ARN.
	Table string
	// TopicARN is the SNS topic told about deployments that need attention
	// (SWITCHBACK_TOPIC_ARN, required): a standard (not FIFO) topic's ARN.
	TopicARN string
	// ConfigureFunction is the configure function capture and reconcile
	// invoke (SWITCHBACK_CONFIGURE_FUNCTION, required when
	// Needs.ConfigureFunction): a function name, ARN or partial ARN, with
	// an optional version or alias.
	ConfigureFunction string
	// OptInClusters are the cluster identifiers switchback may touch
	// whatever their tags (SWITCHBACK_OPT_IN_CLUSTERS, optional):
	// comma-separated, lowercased as RDS stores them.
	OptInClusters []string
	// OptInTagKey and OptInTagValue are the tag that opts a cluster in
	// (SWITCHBACK_OPT_IN_TAG, "key=value", default
	// "switchback:enabled=true"; "none" turns tag opt-in off and leaves
	// both empty). Key and value are compared exactly.
	OptInTagKey   string
	OptInTagValue string
	// AdminSecrets maps a cluster identifier to the Secrets Manager secret
	// (ARN) of its admin user (SWITCHBACK_ADMIN_SECRETS, optional:
	// "cluster=arn,cluster=arn"). A cluster not listed uses its
	// switchback:admin-secret tag.
	AdminSecrets map[string]string
	// ReplicationSecretARN is the secret whose "password" the replication
	// user gets (SWITCHBACK_REPLICATION_SECRET_ARN, optional; without it
	// configure generates a password).
	ReplicationSecretARN string
	// TLS is how the functions connect to the clusters
	// (SWITCHBACK_TLS: "verify", the default, checks the server's
	// certificate against TLSCABundle and its name; "skip-verify" encrypts
	// without checking; "off" connects in clear).
	TLS string
	// TLSCABundle is the PEM file of CA certificates TLS "verify" trusts
	// (SWITCHBACK_TLS_CA_BUNDLE, default /opt/rds/global-bundle.pem, which
	// the CDK stack ships in a layer). Load checks that it is a file only
	// for a function that connects to clusters (Needs.Database) with TLS
	// "verify"; the others never read it.
	TLSCABundle string
	// DeleteBlueGreen says whether configure deletes the blue/green
	// deployment once the rollback cluster is fenced and the fence read
	// back, never its target (SWITCHBACK_DELETE_BLUE_GREEN, a boolean as
	// strconv.ParseBool reads it, default true).
	DeleteBlueGreen bool
	// RetentionHours is the binlog retention configure ensures on the new
	// production (SWITCHBACK_RETENTION_HOURS, 1 to 2160, default 168).
	RetentionHours int
	// Lease is how long a worker holds a deployment
	// (SWITCHBACK_LEASE_SECONDS, 60 to 86400, default 900). Keep it above
	// the configure function's timeout.
	Lease time.Duration
	// Stall is how long a record may sit in capturing or configuring
	// before reconcile takes it up again (SWITCHBACK_STALL_MINUTES, 1 to
	// 10080, default 15).
	Stall time.Duration
	// MaxLag is the replication lag the rollback replica may have and
	// still count as caught up (SWITCHBACK_MAX_LAG_SECONDS, 0 to 3600,
	// default 5).
	MaxLag time.Duration
	// MinHeadroom is the binlog retention headroom under which the monitor
	// says the rollback is not ready (SWITCHBACK_MIN_HEADROOM_HOURS, 0 to
	// 2160, default 24).
	MinHeadroom time.Duration
	// MonitorConcurrency is how many pairs the monitor observes at once
	// (SWITCHBACK_MONITOR_CONCURRENCY, 1 to 64, default 4), each within
	// MonitorPairTimeout (SWITCHBACK_MONITOR_PAIR_TIMEOUT_SECONDS, 1 to 300,
	// default 20).
	MonitorConcurrency int
	MonitorPairTimeout time.Duration
	// RollbackWindow is how long after configure the rollback path stays
	// open before teardown closes it (SWITCHBACK_ROLLBACK_WINDOW_HOURS, 0
	// to 2160, default 168; 0 keeps it open until teardown is invoked).
	RollbackWindow time.Duration
	// PreflightFixRetention lets preflight set the new production's binlog
	// retention to the rollback window when it is shorter
	// (SWITCHBACK_PREFLIGHT_FIX_RETENTION, a boolean, default false; a
	// manual invocation's "fix" overrides it).
	PreflightFixRetention bool
}

// Needs says which optional variables a function requires.
type Needs struct {
	// ConfigureFunction: the function invokes configure (capture,
	// reconcile), so SWITCHBACK_CONFIGURE_FUNCTION is required.
	ConfigureFunction bool
	// Database: the function connects to clusters (configure), so with
	// SWITCHBACK_TLS=verify the CA bundle must be a file.
	Database bool
}

// Problem is one variable that is missing or invalid.
type Problem struct {
	// Variable is the environment variable's name.
	Variable string
	// Reason says what is wrong, with the offending value.
	Reason string
}

// String is "VARIABLE: reason".
func (p Problem) String() string { return p.Variable + ": " + p.Reason }

// Error lists every problem Load found.
type Error struct {
	Problems []Problem
}

// Error lists every problem on one line, separated by "; ".
func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid function configuration: " + strings.Join(parts, "; ")
}

// Variables returns the names of the variables with problems, in order.
func (e *Error) Variables() []string {
	names := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		names[i] = p.Variable
	}
	return names
}

// FromOS is Load with the process environment.
func FromOS(needs Needs) (Config, error) { return Load(os.Getenv, needs) }

// Load reads the configuration through getenv (os.Getenv in a function,
// a map lookup in tests). Values are trimmed of surrounding space; an empty
// value counts as unset. On any problem it returns an *Error listing all of
// them, and a zero Config.
func Load(getenv func(string) string, needs Needs) (Config, error) {
	l := loader{getenv: getenv}
	var c Config
	// In the order of the Env* constants, so problems are listed in that order.
	c.Table = l.table()
	c.TopicARN = l.topicARN()
	c.ConfigureFunction = l.configureFunction(needs.ConfigureFunction)
	c.OptInClusters = l.optInClusters()
	c.OptInTagKey, c.OptInTagValue = l.optInTag()
	c.AdminSecrets = l.adminSecrets()
	c.ReplicationSecretARN = l.replicationSecret()
	c.TLS = l.tls()
	c.TLSCABundle = l.caBundle(c.TLS == TLSVerify && needs.Database)
	c.DeleteBlueGreen = l.boolean(EnvDeleteBlueGreen, true)
	c.RetentionHours = l.integer(EnvRetentionHours, DefaultRetentionHours, 1, maxRetentionHours)
	c.Lease = l.duration(EnvLeaseSeconds, time.Second, DefaultLease, minLease, maxLease)
	c.Stall = l.duration(EnvStallMinutes, time.Minute, DefaultStall, time.Minute, maxStall)
	c.MaxLag = l.duration(EnvMaxLagSeconds, time.Second, DefaultMaxLag, 0, maxMaxLag)
	c.MinHeadroom = l.duration(EnvMinHeadroomHours, time.Hour, DefaultMinHeadroom, 0, time.Duration(maxRetentionHours)*time.Hour)
	c.MonitorConcurrency = l.integer(EnvMonitorConcurrency, DefaultMonitorConcurrency, 1, 64)
	c.MonitorPairTimeout = l.duration(EnvMonitorPairTimeoutSeconds, time.Second, DefaultMonitorPairTimeout, time.Second, 5*time.Minute)
	c.RollbackWindow = l.duration(EnvRollbackWindowHours, time.Hour, DefaultRollbackWindow, 0, time.Duration(maxRetentionHours)*time.Hour)
	c.PreflightFixRetention = l.boolean(EnvPreflightFixRetention, false)
	if len(l.problems) > 0 {
		return Config{}, &Error{Problems: l.problems}
	}
	return c, nil
}

type loader struct {
	getenv   func(string) string
	problems []Problem
}

func (l *loader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

func (l *loader) fail(name, format string, args ...any) {
	l.problems = append(l.problems, Problem{Variable: name, Reason: fmt.Sprintf(format, args...)})
}

// Identifier and ARN shapes, as the AWS APIs document them. Partitions and
// regions are matched loosely (aws, aws-cn, aws-us-gov, aws-iso-b, …).
const (
	partition = `aws[a-z-]*`
	region    = `[a-z]+(?:-[a-z]+)*-\d+`
	account   = `\d{12}`
)

var (
	tableNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	tableARNRe  = regexp.MustCompile(`^arn:` + partition + `:dynamodb:` + region + `:` + account + `:table/[A-Za-z0-9_.-]{3,255}$`)
	topicARNRe  = regexp.MustCompile(`^arn:` + partition + `:sns:` + region + `:` + account + `:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	secretARNRe = regexp.MustCompile(`^arn:` + partition + `:secretsmanager:` + region + `:` + account + `:secret:[A-Za-z0-9/_+=.@-]+$`)
	// The Lambda API's FunctionName pattern: a name, a partial ARN
	// (account:function:name) or an ARN, each with an optional qualifier.
	functionRe = regexp.MustCompile(`^(arn:` + partition + `:lambda:)?(` + region + `:)?(` + account + `:)?(function:)?[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]+))?$`)
	// RDS cluster identifiers: 1 to 63 letters, digits or hyphens, starting
	// with a letter, with no two consecutive hyphens and no trailing one.
	clusterIDRe = regexp.MustCompile(`^[a-z](?:[a-z0-9]|-[a-z0-9]){0,62}$`)
)

func (l *loader) table() string {
	v := l.get(EnvTable)
	switch {
	case v == "":
		l.fail(EnvTable, "required: the DynamoDB table of deployment records (name or ARN)")
	case !tableNameRe.MatchString(v) && !tableARNRe.MatchString(v):
		l.fail(EnvTable, "%q is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -) nor a table ARN", v)
	}
	return v
}

func (l *loader) topicARN() string {
	v := l.get(EnvTopicARN)
	switch {
	case v == "":
		l.fail(EnvTopicARN, "required: the ARN of the SNS topic told about deployments that need attention")
	case !topicARNRe.MatchString(v):
		l.fail(EnvTopicARN, "%q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)", v)
	case strings.HasSuffix(v, ".fifo"):
		l.fail(EnvTopicARN, "%q is a FIFO topic: notifications are published without a message group, use a standard topic", v)
	}
	return v
}

func (l *loader) configureFunction(required bool) string {
	v := l.get(EnvConfigureFunction)
	switch {
	case v == "" && required:
		l.fail(EnvConfigureFunction, "required by this function: the name or ARN of the configure function it invokes")
	case v != "" && (len(v) > 170 || !functionRe.MatchString(v)):
		l.fail(EnvConfigureFunction, "%q is not a Lambda function name or ARN", v)
	}
	return v
}

// clusterID checks one cluster identifier from variable name and returns
// it lowercased (RDS stores identifiers in lowercase).
func (l *loader) clusterID(name, id string) (string, bool) {
	lower := strings.ToLower(id)
	if !clusterIDRe.MatchString(lower) {
		l.fail(name, "%q is not a DB cluster identifier (1 to 63 letters, digits or hyphens, starting with a letter, no trailing or double hyphen)", id)
		return "", false
	}
	return lower, true
}

func (l *loader) optInClusters() []string {
	v := l.get(EnvOptInClusters)
	var ids []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if id, ok := l.clusterID(EnvOptInClusters, item); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (l *loader) optInTag() (key, value string) {
	v := l.get(EnvOptInTag)
	switch v {
	case "":
		v = DefaultOptInTag
	case OptInTagNone:
		return "", ""
	}
	key, value, ok := strings.Cut(v, "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	switch {
	case !ok:
		l.fail(EnvOptInTag, "%q is not key=value (for example %s), nor %q", v, DefaultOptInTag, OptInTagNone)
	case key == "":
		l.fail(EnvOptInTag, "%q has an empty tag key", v)
	case len(key) > 128 || len(value) > 256:
		l.fail(EnvOptInTag, "%q: an RDS tag key has at most 128 characters, a value 256", v)
	}
	return key, value
}

func (l *loader) adminSecrets() map[string]string {
	v := l.get(EnvAdminSecrets)
	m := map[string]string{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		cluster, arn, ok := strings.Cut(item, "=")
		cluster, arn = strings.TrimSpace(cluster), strings.TrimSpace(arn)
		if !ok {
			l.fail(EnvAdminSecrets, "%q is not cluster=secret-arn", item)
			continue
		}
		id, idOK := l.clusterID(EnvAdminSecrets, cluster)
		if !secretARNRe.MatchString(arn) {
			l.fail(EnvAdminSecrets, "cluster %s: %q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)", cluster, arn)
			continue
		}
		if !idOK {
			continue
		}
		if prev, dup := m[id]; dup && prev != arn {
			l.fail(EnvAdminSecrets, "cluster %s is listed twice, with different secrets", id)
			continue
		}
		m[id] = arn
	}
	return m
}

func (l *loader) replicationSecret() string {
	v := l.get(EnvReplicationSecretARN)
	if v != "" && !secretARNRe.MatchString(v) {
		l.fail(EnvReplicationSecretARN, "%q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)", v)
	}
	return v
}

func (l *loader) tls() string {
	v := l.get(EnvTLS)
	switch v {
	case "":
		return TLSVerify
	case TLSVerify, TLSSkipVerify, TLSOff:
		return v
	}
	l.fail(EnvTLS, "%q is not a TLS mode: want %s (the default), %s or %s", v, TLSVerify, TLSSkipVerify, TLSOff)
	return ""
}

func (l *loader) caBundle(used bool) string {
	v := l.get(EnvTLSCABundle)
	if v == "" {
		v = DefaultTLSCABundle
	}
	if !used {
		return v
	}
	fi, err := os.Stat(v)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l.fail(EnvTLSCABundle, "%s does not exist: %s=%s needs the RDS CA bundle (ship it, point this variable at it, or set %s=%s)", v, EnvTLS, TLSVerify, EnvTLS, TLSSkipVerify)
	case err != nil:
		l.fail(EnvTLSCABundle, "%s: %v", v, err)
	case !fi.Mode().IsRegular():
		l.fail(EnvTLSCABundle, "%s is not a regular file", v)
	}
	return v
}

func (l *loader) boolean(name string, def bool) bool {
	v := l.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(name, "%q is not a boolean (true or false)", v)
	}
	return b
}

func (l *loader) integer(name string, def, lo, hi int) int {
	v := l.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		l.fail(name, "%q is not a whole number", v)
	case n < lo || n > hi:
		l.fail(name, "%d is out of range: want %d to %d", n, lo, hi)
	}
	return n
}

func (l *loader) duration(name string, unit, def, lo, hi time.Duration) time.Duration {
	n := l.integer(name, int(def/unit), int(lo/unit), int(hi/unit))
	return time.Duration(n) * unit
}

// OptedIn reports whether switchback may touch the cluster, and why: it is
// listed in OptInClusters, or tagged with the opt-in tag. When it is
// neither the reason says so (it is logged when the cluster is ignored).
// Every reason names the cluster.
func (c Config) OptedIn(clusterID string, tags map[string]string) (bool, string) {
	if slices.Contains(c.OptInClusters, strings.ToLower(clusterID)) {
		return true, fmt.Sprintf("cluster %s is listed in %s", clusterID, EnvOptInClusters)
	}
	if c.OptInTagKey != "" {
		v, tagged := tags[c.OptInTagKey]
		if tagged && v == c.OptInTagValue {
			return true, fmt.Sprintf("cluster %s is tagged %s=%s", clusterID, c.OptInTagKey, c.OptInTagValue)
		}
		listed := "is not listed in " + EnvOptInClusters
		if len(c.OptInClusters) == 0 {
			listed = "is not listed (" + EnvOptInClusters + " is empty)"
		}
		if tagged {
			return false, fmt.Sprintf("cluster %s %s and its tag %s is %q, not %q", clusterID, listed, c.OptInTagKey, v, c.OptInTagValue)
		}
		return false, fmt.Sprintf("cluster %s %s and has no tag %s=%s", clusterID, listed, c.OptInTagKey, c.OptInTagValue)
	}
	if len(c.OptInClusters) == 0 {
		return false, fmt.Sprintf("cluster %s is not opted in: %s is empty and tag opt-in is off (%s=%s)", clusterID, EnvOptInClusters, EnvOptInTag, OptInTagNone)
	}
	return false, fmt.Sprintf("cluster %s is not listed in %s (tag opt-in is off: %s=%s)", clusterID, EnvOptInClusters, EnvOptInTag, OptInTagNone)
}

// LogValue logs the configuration at a cold start. It holds no secret
// (secret ARNs, not values), so every field is logged.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("table", c.Table),
		slog.String("topic_arn", c.TopicARN),
		slog.String("configure_function", c.ConfigureFunction),
		slog.Any("opt_in_clusters", c.OptInClusters),
		slog.String("opt_in_tag", c.optInTagString()),
		slog.Any("admin_secrets", c.AdminSecrets),
		slog.String("replication_secret_arn", c.ReplicationSecretARN),
		slog.String("tls", c.TLS),
		slog.String("tls_ca_bundle", c.TLSCABundle),
		slog.Bool("delete_blue_green", c.DeleteBlueGreen),
		slog.Int("retention_hours", c.RetentionHours),
		slog.Duration("lease", c.Lease),
		slog.Duration("stall", c.Stall),
		slog.Duration("max_lag", c.MaxLag),
	)
}

func (c Config) optInTagString() string {
	if c.OptInTagKey == "" {
		return OptInTagNone
	}
	return c.OptInTagKey + "=" + c.OptInTagValue
}
