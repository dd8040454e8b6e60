package stack

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/switchback/switchback/shared/lambdaenv"
)

// Context keys: every setting the stack reads from CDK context (cdk.json
// "context", or `cdk synth -c key=value`). ParseConfig is the only place
// they are read, parsed and checked.
const (
	CtxVPCID                = "vpcId"
	CtxAvailabilityZones    = "availabilityZones"
	CtxSubnetIDs            = "subnetIds"
	CtxSecurityGroupID      = "securityGroupId"
	CtxClusters             = "clusters"
	CtxOptInTag             = "optInTag"
	CtxReplicationSecretARN = "replicationSecretArn"
	CtxRollbackWindowHours  = "rollbackWindowHours"
	CtxRetentionHours       = "retentionHours"
	CtxMaxLagSeconds        = "maxLagSeconds"
	CtxMinHeadroomHours     = "minHeadroomHours"
	CtxDeleteBlueGreen      = "deleteBlueGreen"
	CtxTLS                  = "tls"
	CtxRDSCABundle          = "rdsCaBundle"
	CtxOnCallEmails         = "onCallEmails"
	CtxOnCallHTTPS          = "onCallHttpsEndpoints"
	CtxRepoint              = "repoint"
	CtxAlarmDeployments     = "alarmDeployments"
	CtxLogRetentionDays     = "logRetentionDays"
)

// ContextKeys lists every key ParseConfig reads.
var ContextKeys = []string{
	CtxVPCID, CtxAvailabilityZones, CtxSubnetIDs, CtxSecurityGroupID, CtxClusters, CtxOptInTag,
	CtxReplicationSecretARN, CtxRollbackWindowHours, CtxRetentionHours, CtxMaxLagSeconds,
	CtxMinHeadroomHours, CtxDeleteBlueGreen, CtxTLS, CtxRDSCABundle, CtxOnCallEmails, CtxOnCallHTTPS,
	CtxRepoint, CtxAlarmDeployments, CtxLogRetentionDays,
}

// Cluster is one opted-in cluster: its identifier (the production name, as
// before the switchover), the secret of its admin user and the DB cluster
// parameter groups switchback may change (the fence: blue's group and the
// group green was created with).
type Cluster struct {
	ID              string   `json:"-"`
	AdminSecretARN  string   `json:"adminSecretArn"`
	ParameterGroups []string `json:"parameterGroups"`
}

// Repoint is what the rollback function may re-point after a cutover; each
// grants its IAM permissions only when set.
type Repoint struct {
	// Route53ZoneIDs are the hosted zones whose CNAME the rollback may UPSERT.
	Route53ZoneIDs []string `json:"route53ZoneIds"`
	// AppSecretARNs are the application secrets whose host/port it may rewrite.
	AppSecretARNs []string `json:"appSecretArns"`
	// Rename allows renaming the opted-in clusters (ModifyDBCluster).
	Rename bool `json:"rename"`
}

// Config is the stack's configuration, from CDK context.
type Config struct {
	VPCID                string
	AvailabilityZones    []string
	SubnetIDs            []string
	SecurityGroupID      string
	Clusters             []Cluster
	OptInTag             string
	ReplicationSecretARN string
	RollbackWindowHours  int
	RetentionHours       int
	MaxLagSeconds        int
	MinHeadroomHours     int
	DeleteBlueGreen      bool
	TLS                  string
	RDSCABundle          string
	OnCallEmails         []string
	OnCallHTTPS          []string
	Repoint              Repoint
	AlarmDeployments     []string
	LogRetentionDays     int
}

// ConfigError lists every context problem; each names its key.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "switchback stack: invalid CDK context: " + strings.Join(e.Problems, "; ")
}

var (
	vpcRe       = regexp.MustCompile(`^vpc-[0-9a-f]{8}([0-9a-f]{9})?$`)
	subnetRe    = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	sgRe        = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
	azRe        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d[a-z]$`)
	clusterRe   = regexp.MustCompile(`^[a-z](?:[a-z0-9]|-[a-z0-9]){0,62}$`)
	pgRe        = regexp.MustCompile(`^[a-zA-Z](?:[a-zA-Z0-9]|-[a-zA-Z0-9]){0,254}$`)
	secretARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z]+(?:-[a-z]+)*-\d+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	zoneRe      = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	emailRe     = regexp.MustCompile(`^[^@\s,]+@[^@\s,]+\.[^@\s,]+$`)
	deployRe    = regexp.MustCompile(`^bgd-[a-z0-9]{16}$`)
)

// ParseConfig reads every context key through get (a construct node's
// TryGetContext, or a map in tests) and returns the configuration or a
// *ConfigError naming every missing or malformed key. Values may be JSON
// values (from cdk.json) or strings (from `-c key=value`): a list may be a
// JSON array or a comma-separated string, an object a JSON string.
func ParseConfig(get func(key string) any) (Config, error) {
	p := parser{get: get}
	var c Config
	c.VPCID = p.required(CtxVPCID, vpcRe, "a VPC id (vpc-…)")
	c.AvailabilityZones = p.list(CtxAvailabilityZones, azRe, "an availability zone name (us-east-1a)", false)
	c.SubnetIDs = p.list(CtxSubnetIDs, subnetRe, "a subnet id (subnet-…)", true)
	c.SecurityGroupID = p.required(CtxSecurityGroupID, sgRe, "a security group id (sg-…)")
	c.Clusters = p.clusters()
	c.OptInTag = p.optInTag()
	c.ReplicationSecretARN = p.optional(CtxReplicationSecretARN, secretARNRe, "a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>)")
	c.RollbackWindowHours = p.integer(CtxRollbackWindowHours, 168, 0, 2160)
	c.RetentionHours = p.integer(CtxRetentionHours, 168, 1, 2160)
	c.MaxLagSeconds = p.integer(CtxMaxLagSeconds, 5, 0, 3600)
	c.MinHeadroomHours = p.integer(CtxMinHeadroomHours, 24, 0, 2160)
	c.DeleteBlueGreen = p.boolean(CtxDeleteBlueGreen, true)
	c.TLS = p.tls()
	c.RDSCABundle = p.str(CtxRDSCABundle)
	if c.TLS == lambdaenv.TLSVerify && c.RDSCABundle == "" && !p.failed(CtxTLS) {
		p.fail(CtxRDSCABundle, "required when %s is %q: the path of the RDS CA bundle (global-bundle.pem), shipped to the functions in a layer at %s; or set %s to %q", CtxTLS, lambdaenv.TLSVerify, lambdaenv.DefaultTLSCABundle, CtxTLS, lambdaenv.TLSSkipVerify)
	}
	c.OnCallEmails = p.list(CtxOnCallEmails, emailRe, "an email address", false)
	c.OnCallHTTPS = p.httpsList(CtxOnCallHTTPS)
	if len(c.OnCallEmails) == 0 && len(c.OnCallHTTPS) == 0 && !p.failed(CtxOnCallEmails) && !p.failed(CtxOnCallHTTPS) {
		p.fail(CtxOnCallEmails, "required: at least one on-call endpoint in %s or %s (alarms and notifications go nowhere otherwise)", CtxOnCallEmails, CtxOnCallHTTPS)
	}
	c.Repoint = p.repoint()
	c.AlarmDeployments = p.list(CtxAlarmDeployments, deployRe, "a blue/green deployment id (bgd- and 16 lowercase letters or digits)", false)
	c.LogRetentionDays = p.logRetention()
	if len(p.problems) > 0 {
		return Config{}, &ConfigError{Problems: p.problems}
	}
	return c, nil
}

type parser struct {
	get      func(string) any
	problems []string
	keys     []string
}

func (p *parser) fail(key, format string, args ...any) {
	p.problems = append(p.problems, key+": "+fmt.Sprintf(format, args...))
	p.keys = append(p.keys, key)
}

func (p *parser) failed(key string) bool { return slices.Contains(p.keys, key) }

// raw returns the value, or nil when unset or an empty string.
func (p *parser) raw(key string) any {
	v := p.get(key)
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil
	}
	return v
}

func (p *parser) str(key string) string {
	switch v := p.raw(key).(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	default:
		p.fail(key, "want a string, got %s", describe(v))
		return ""
	}
}

func (p *parser) required(key string, re *regexp.Regexp, what string) string {
	v := p.str(key)
	switch {
	case p.failed(key):
	case v == "":
		p.fail(key, "required: %s", what)
	case !re.MatchString(v):
		p.fail(key, "%q is not %s", v, what)
	}
	return v
}

func (p *parser) optional(key string, re *regexp.Regexp, what string) string {
	v := p.str(key)
	if v != "" && !re.MatchString(v) {
		p.fail(key, "%q is not %s", v, what)
	}
	return v
}

// strings reads a list: a JSON array of strings, or a comma-separated string.
func (p *parser) strings(key string) []string {
	var items []string
	switch v := p.raw(key).(type) {
	case nil:
		return nil
	case string:
		s := strings.TrimSpace(v)
		if strings.HasPrefix(s, "[") {
			if err := json.Unmarshal([]byte(s), &items); err != nil {
				p.fail(key, "%q is not a JSON array of strings: %v", s, err)
				return nil
			}
		} else {
			items = strings.Split(s, ",")
		}
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				p.fail(key, "item %d: want a string, got %s", i, describe(e))
				return nil
			}
			items = append(items, s)
		}
	default:
		p.fail(key, "want a list (JSON array or comma-separated string), got %s", describe(v))
		return nil
	}
	var out []string
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) list(key string, re *regexp.Regexp, what string, required bool) []string {
	items := p.strings(key)
	if p.failed(key) {
		return nil
	}
	if required && len(items) == 0 {
		p.fail(key, "required: at least one %s", what)
	}
	for _, s := range items {
		if !re.MatchString(s) {
			p.fail(key, "%q is not %s", s, what)
		}
	}
	return items
}

func (p *parser) httpsList(key string) []string {
	items := p.strings(key)
	for _, s := range items {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			p.fail(key, "%q is not an https:// URL", s)
		}
	}
	return items
}

func (p *parser) integer(key string, def, lo, hi int) int {
	var n int
	switch v := p.raw(key).(type) {
	case nil:
		return def
	case float64:
		if v != float64(int(v)) {
			p.fail(key, "%v is not a whole number", v)
			return def
		}
		n = int(v)
	case string:
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
			p.fail(key, "%q is not a whole number", v)
			return def
		}
	default:
		p.fail(key, "want a whole number, got %s", describe(v))
		return def
	}
	if n < lo || n > hi {
		p.fail(key, "%d is out of range: want %d to %d", n, lo, hi)
	}
	return n
}

func (p *parser) boolean(key string, def bool) bool {
	switch v := p.raw(key).(type) {
	case nil:
		return def
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			p.fail(key, "%q is not a boolean (true or false)", v)
		}
		return b
	default:
		p.fail(key, "want true or false, got %s", describe(v))
		return def
	}
}

func (p *parser) tls() string {
	v := p.str(CtxTLS)
	switch v {
	case "":
		return lambdaenv.TLSVerify
	case lambdaenv.TLSVerify, lambdaenv.TLSSkipVerify, lambdaenv.TLSOff:
		return v
	}
	p.fail(CtxTLS, "%q is not a TLS mode: want %s (the default), %s or %s", v, lambdaenv.TLSVerify, lambdaenv.TLSSkipVerify, lambdaenv.TLSOff)
	return ""
}

// optInTag defaults to "none": the stack's IAM policies cover the listed
// clusters only, so tag opt-in is something to choose explicitly.
func (p *parser) optInTag() string {
	v := p.str(CtxOptInTag)
	if v == "" {
		return lambdaenv.OptInTagNone
	}
	if v == lambdaenv.OptInTagNone {
		return v
	}
	key, value, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(key) == "" || len(key) > 128 || len(value) > 256 {
		p.fail(CtxOptInTag, "%q is not key=value (for example %s) nor %q", v, lambdaenv.DefaultOptInTag, lambdaenv.OptInTagNone)
	}
	return v
}

// object returns the key's value as a JSON object decoded into out.
func (p *parser) object(key string, out any) bool {
	var data []byte
	switch v := p.raw(key).(type) {
	case nil:
		return false
	case string:
		data = []byte(v)
	case map[string]any:
		data, _ = json.Marshal(v)
	default:
		p.fail(key, "want a JSON object, got %s", describe(v))
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		p.fail(key, "not a valid object: %v", err)
		return false
	}
	return true
}

func (p *parser) clusters() []Cluster {
	var m map[string]Cluster
	if !p.object(CtxClusters, &m) {
		if !p.failed(CtxClusters) {
			p.fail(CtxClusters, `required: an object mapping each opted-in cluster identifier to {"adminSecretArn": "arn:aws:secretsmanager:…", "parameterGroups": ["…"]}`)
		}
		return nil
	}
	if len(m) == 0 {
		p.fail(CtxClusters, "required: at least one opted-in cluster")
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Cluster
	for _, id := range ids {
		c := m[id]
		c.ID = id
		if !clusterRe.MatchString(id) {
			p.fail(CtxClusters, "%q is not a DB cluster identifier (lowercase letters, digits and single hyphens, starting with a letter, at most 63)", id)
		}
		if !secretARNRe.MatchString(c.AdminSecretARN) {
			p.fail(CtxClusters, "cluster %s: adminSecretArn %q is not a Secrets Manager secret ARN", id, c.AdminSecretARN)
		}
		if len(c.ParameterGroups) == 0 {
			p.fail(CtxClusters, "cluster %s: parameterGroups is required: the custom DB cluster parameter groups of the cluster and of its green copy (the fence is set there)", id)
		}
		for _, g := range c.ParameterGroups {
			if !pgRe.MatchString(g) || strings.HasPrefix(strings.ToLower(g), "default.") {
				p.fail(CtxClusters, "cluster %s: parameter group %q is not a custom DB cluster parameter group name", id, g)
			}
		}
		out = append(out, c)
	}
	return out
}

func (p *parser) repoint() Repoint {
	var r Repoint
	if !p.object(CtxRepoint, &r) {
		return Repoint{}
	}
	for _, z := range r.Route53ZoneIDs {
		if !zoneRe.MatchString(z) {
			p.fail(CtxRepoint, "route53ZoneIds: %q is not a hosted zone id (Z…)", z)
		}
	}
	for _, a := range r.AppSecretARNs {
		if !secretARNRe.MatchString(a) {
			p.fail(CtxRepoint, "appSecretArns: %q is not a Secrets Manager secret ARN", a)
		}
	}
	return r
}

// validRetention are the values CloudWatch Logs accepts.
var validRetention = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (p *parser) logRetention() int {
	n := p.integer(CtxLogRetentionDays, 90, 1, 3653)
	if !p.failed(CtxLogRetentionDays) && !slices.Contains(validRetention, n) {
		p.fail(CtxLogRetentionDays, "%d is not a CloudWatch Logs retention: want one of %v", n, validRetention)
	}
	return n
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	return fmt.Sprintf("%T %s", v, b)
}

// Problem returns the problem naming key, if any (tests).
func (e *ConfigError) Problem(key string) (string, bool) {
	for _, p := range e.Problems {
		if strings.HasPrefix(p, key+": ") {
			return p, true
		}
	}
	return "", false
}
