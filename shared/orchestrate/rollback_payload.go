package orchestrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// RollbackRequest is the rollback function's payload (and what the CLI's
// rollback --deployment builds):
//
//	{"deployment": "bgd-…", "dryRun": true, "maxLagSeconds": 5,
//	 "catchupTimeoutSeconds": 30, "maxWriteDowntimeMs": 1000,
//	 "confirm": "<rollback cluster id>",
//	 "reason": "…", "reverse": false, "privilegedWriters": "refuse|kill|allow",
//	 "repoint": {"route53": {"zoneId": "Z…", "recordName": "db.example.com", "ttl": 5},
//	             "secret": {"secretId": "arn:…"}, "rename": {}}}
//
// Only deployment is required. A missing dryRun means a dry run: executing
// takes "dryRun": false, confirm equal to the rollback cluster's
// identifier, and a reason. Decode payloads with DecodeRollbackRequest,
// which is strict about names and types.
type RollbackRequest struct {
	Deployment string `json:"deployment"`
	// DryRun, when nil, is true: only a plan, nothing changes.
	DryRun *bool `json:"dryRun,omitempty"`
	// MaxLagSeconds is the most replication lag at which the cutover may
	// start (1 to 3600; default Settings.MaxLag, else 5).
	MaxLagSeconds *int `json:"maxLagSeconds,omitempty"`
	// CatchupTimeoutSeconds bounds the wait for a predicted write downtime
	// within MaxWriteDowntimeMS before the fence, and the write outage of
	// a cutover that has to abort (1 to 900; default 30).
	CatchupTimeoutSeconds *int `json:"catchupTimeoutSeconds,omitempty"`
	// MaxWriteDowntimeMS is the longest predicted write downtime at which
	// production is fenced (1 to 600000; default 1000): see
	// replication.DowntimePrediction.
	MaxWriteDowntimeMS *int `json:"maxWriteDowntimeMs,omitempty"`
	// Confirm must be the rollback cluster's identifier to execute.
	Confirm string `json:"confirm,omitempty"`
	// Reason says why; required to execute; recorded and notified.
	Reason string `json:"reason,omitempty"`
	// Reverse sets up the roll-forward path after the cutover: the old
	// production replicates from the rollback cluster.
	Reverse bool `json:"reverse,omitempty"`
	// PrivilegedWriters is "refuse" (default), "kill" or "allow": see
	// replication.PrivilegedWriters.
	PrivilegedWriters string `json:"privilegedWriters,omitempty"`
	// Repoint says how the application follows the rollback cluster.
	Repoint *RepointRequest `json:"repoint,omitempty"`

	// Caller is who asked. It is never read from the payload: the function
	// takes it from the Lambda context, the CLI from the operating system.
	Caller string `json:"-"`
	// OnStep, when set, is called as each step (the engine's, then each
	// re-pointing) ends.
	OnStep func(replication.Step) `json:"-"`
}

// RepointRequest selects the re-pointing modes; each is optional,
// idempotent and recorded in the history.
type RepointRequest struct {
	// Route53 UPSERTs a CNAME to the rollback cluster's writer endpoint and
	// waits until the change is INSYNC.
	Route53 *Route53Repoint `json:"route53,omitempty"`
	// Secret rewrites "host" (and "port") of a JSON secret the application
	// reads, as a new version (the previous one stays AWSPREVIOUS).
	Secret *SecretRepoint `json:"secret,omitempty"`
	// Rename renames production to <name>-rolledback<N> and the rollback
	// cluster to <name>, so the application's endpoint follows (about two
	// minutes of DNS change).
	Rename *RenameRepoint `json:"rename,omitempty"`
}

// Route53Repoint is the CNAME the application connects through.
type Route53Repoint struct {
	ZoneID     string `json:"zoneId"`
	RecordName string `json:"recordName"`
	// TTL in seconds, 0 to 86400; default 5.
	TTL *int64 `json:"ttl,omitempty"`
}

// SecretRepoint is the Secrets Manager secret (ARN or name) the application
// reads its host and port from.
type SecretRepoint struct {
	SecretID string `json:"secretId"`
}

// RenameRepoint takes no options.
type RenameRepoint struct{}

// Defaults and bounds of the payload.
const (
	DefaultRepointTTL    = 5
	maxRollbackLag       = 3600
	maxCatchupSeconds    = 900
	maxWriteDowntimeMS   = 600_000
	maxRollbackReasonLen = 1000
)

// ErrInvalidRequest: the payload is malformed or out of bounds. Nothing was
// read or changed.
var ErrInvalidRequest = fmt.Errorf("%w: invalid rollback request", replication.ErrInvalidArgument)

// IsDryRun reports whether the request only plans (the default).
func (r RollbackRequest) IsDryRun() bool { return r.DryRun == nil || *r.DryRun }

// The payload's shape, for DecodeRollbackRequest: exact names, exact types.
type jsonKind int

const (
	jsonString jsonKind = iota
	jsonBool
	jsonInt
	jsonObject
	jsonStrings // an array of strings
)

func (k jsonKind) String() string {
	return [...]string{"a string", "true or false", "an integer", "an object", "an array of strings"}[k]
}

type jsonField struct {
	kind   jsonKind
	fields map[string]jsonField
	// elsewhere names, for an object, fields that belong to another
	// function's payload: an unknown field error says where it goes.
	elsewhere map[string]string
}

// verifyElsewhere is where a "verify" object sent to the rollback
// function belongs.
const verifyElsewhere = `a verify payload goes to the verify function (switchback-verify), not to the rollback function`

var rollbackSchema = jsonField{kind: jsonObject, fields: map[string]jsonField{
	"deployment":            {kind: jsonString},
	"dryRun":                {kind: jsonBool},
	"maxLagSeconds":         {kind: jsonInt},
	"catchupTimeoutSeconds": {kind: jsonInt},
	"maxWriteDowntimeMs":    {kind: jsonInt},
	"confirm":               {kind: jsonString},
	"reason":                {kind: jsonString},
	"reverse":               {kind: jsonBool},
	"privilegedWriters":     {kind: jsonString},
	"repoint": {kind: jsonObject, fields: map[string]jsonField{
		"route53": {kind: jsonObject, fields: map[string]jsonField{
			"zoneId":     {kind: jsonString},
			"recordName": {kind: jsonString},
			"ttl":        {kind: jsonInt},
		}},
		"secret": {kind: jsonObject, fields: map[string]jsonField{"secretId": {kind: jsonString}}},
		"rename": {kind: jsonObject, fields: map[string]jsonField{}},
	}},
}, elsewhere: map[string]string{"verify": verifyElsewhere}}

// DecodeRollbackRequest reads a rollback payload strictly and checks it
// (Validate). Every field name must be exact (encoding/json would take
// "dryrun" for "dryRun"), appear once, and have its type (a string "false"
// is not false, null is not a value); anything after the object is an
// error. Errors name the field by its path ("repoint.route53.ttl") and
// wrap ErrInvalidRequest. A "verify" object (a VerifyRequest's) is refused
// with a pointer to the verify function, never read as a dry run.
func DecodeRollbackRequest(payload []byte) (RollbackRequest, error) {
	var req RollbackRequest
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := checkJSON(dec, "", rollbackSchema); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fmt.Errorf("%w: the payload has data after its JSON object", ErrInvalidRequest)
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return req, req.Validate()
}

// checkJSON reads one value at path from dec and checks it against f.
func checkJSON(dec *json.Decoder, path string, f jsonField) error {
	tok, err := dec.Token()
	if err != nil {
		if path == "" {
			return fmt.Errorf("the payload is not a JSON object: %v", err)
		}
		return fmt.Errorf("%q: %v", path, err)
	}
	got := ""
	switch v := tok.(type) {
	case json.Delim:
		switch {
		case v == '{' && f.kind == jsonObject:
			return checkObject(dec, path, f)
		case v == '{':
			got = "an object"
		case f.kind == jsonStrings:
			return checkStrings(dec, path)
		default:
			got = "an array"
		}
	case string:
		if f.kind == jsonString {
			return nil
		}
		got = "a string"
	case bool:
		if f.kind == jsonBool {
			return nil
		}
		got = "a boolean"
	case json.Number:
		if f.kind == jsonInt {
			if _, err := v.Int64(); err != nil {
				return fmt.Errorf("%q must be an integer, not %s", path, v)
			}
			return nil
		}
		got = "a number"
	case nil:
		got = "null"
	}
	if path == "" {
		return fmt.Errorf("the payload must be a JSON object, not %s", got)
	}
	return fmt.Errorf("%q must be %s, not %s", path, f.kind, got)
}

func checkObject(dec *json.Decoder, path string, f jsonField) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		full := key
		if path != "" {
			full = path + "." + key
		}
		sub, ok := f.fields[key]
		if !ok {
			return unknownField(full, key, f)
		}
		if seen[key] {
			return fmt.Errorf("%q appears twice", full)
		}
		seen[key] = true
		if err := checkJSON(dec, full, sub); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// checkStrings reads the elements of an array at path, after its '[':
// each must be a string (null is not).
func checkStrings(dec *json.Decoder, path string) error {
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%q: %v", path, err)
		}
		if _, ok := tok.(string); !ok {
			got := "null"
			switch v := tok.(type) {
			case json.Delim:
				got = "an object"
				if v == '[' {
					got = "an array"
				}
			case bool:
				got = "a boolean"
			case json.Number:
				got = "a number"
			}
			return fmt.Errorf("%q[%d] must be a string, not %s", path, i, got)
		}
	}
	_, err := dec.Token() // ']'
	return err
}

func unknownField(full, key string, f jsonField) error {
	for k, where := range f.elsewhere {
		if strings.EqualFold(k, key) {
			return fmt.Errorf("unknown field %q: %s", full, where)
		}
	}
	known := make([]string, 0, len(f.fields))
	for k := range f.fields {
		known = append(known, k)
		if strings.EqualFold(k, key) {
			return fmt.Errorf("unknown field %q: did you mean %q? (names are case-sensitive)", full, k)
		}
	}
	slices.Sort(known)
	if len(known) == 0 {
		return fmt.Errorf("unknown field %q: this object takes no fields", full)
	}
	return fmt.Errorf("unknown field %q (known here: %s)", full, strings.Join(known, ", "))
}

var (
	deploymentIDRe = regexp.MustCompile(`^bgd-[a-z0-9]{1,60}$`)
	zoneIDRe       = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	dnsNameRe      = regexp.MustCompile(`^(?:[A-Za-z0-9_*](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$`)
)

// Validate checks the request's values (DecodeRollbackRequest calls it).
// Confirm and reason are checked against the record when executing.
func (r RollbackRequest) Validate() error {
	var problems []string
	switch {
	case r.Deployment == "":
		problems = append(problems, `"deployment" is required: the blue/green deployment id (bgd-…)`)
	case !deploymentIDRe.MatchString(r.Deployment):
		problems = append(problems, fmt.Sprintf(`"deployment" %q is not a blue/green deployment id (bgd- and lowercase letters or digits)`, r.Deployment))
	}
	if v := r.MaxLagSeconds; v != nil && (*v < 1 || *v > maxRollbackLag) {
		problems = append(problems, fmt.Sprintf(`"maxLagSeconds" %d is out of range (1 to %d)`, *v, maxRollbackLag))
	}
	if v := r.CatchupTimeoutSeconds; v != nil && (*v < 1 || *v > maxCatchupSeconds) {
		problems = append(problems, fmt.Sprintf(`"catchupTimeoutSeconds" %d is out of range (1 to %d)`, *v, maxCatchupSeconds))
	}
	if v := r.MaxWriteDowntimeMS; v != nil && (*v < 1 || *v > maxWriteDowntimeMS) {
		problems = append(problems, fmt.Sprintf(`"maxWriteDowntimeMs" %d is out of range (1 to %d)`, *v, maxWriteDowntimeMS))
	}
	if _, err := r.privileged(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(r.Reason) > maxRollbackReasonLen {
		problems = append(problems, fmt.Sprintf(`"reason" is %d characters long; at most %d`, len(r.Reason), maxRollbackReasonLen))
	}
	if p := r.Repoint; p != nil {
		if d := p.Route53; d != nil {
			zone := strings.TrimPrefix(d.ZoneID, "/hostedzone/")
			switch {
			case zone == "":
				problems = append(problems, `"repoint.route53.zoneId" is required: the hosted zone id (Z…)`)
			case !zoneIDRe.MatchString(zone):
				problems = append(problems, fmt.Sprintf(`"repoint.route53.zoneId" %q is not a hosted zone id (Z and capital letters or digits)`, d.ZoneID))
			}
			switch {
			case d.RecordName == "":
				problems = append(problems, `"repoint.route53.recordName" is required: the DNS name the application connects to`)
			case len(d.RecordName) > 255 || !dnsNameRe.MatchString(d.RecordName):
				problems = append(problems, fmt.Sprintf(`"repoint.route53.recordName" %q is not a DNS name`, d.RecordName))
			}
			if d.TTL != nil && (*d.TTL < 0 || *d.TTL > 86400) {
				problems = append(problems, fmt.Sprintf(`"repoint.route53.ttl" %d is out of range (0 to 86400 seconds)`, *d.TTL))
			}
		}
		if s := p.Secret; s != nil && strings.TrimSpace(s.SecretID) == "" {
			problems = append(problems, `"repoint.secret.secretId" is required: the ARN or name of the secret the application reads`)
		}
		if p.Rename != nil && r.Reverse {
			problems = append(problems, `"reverse" and "repoint.rename" exclude each other: the rename changes the rollback cluster's endpoint, which the roll-forward replication would connect to; roll back with the rename, then set up the roll-forward path with switchback configure once the DNS change is done`)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(problems, "; "))
	}
	return nil
}

func (r RollbackRequest) privileged() (replication.PrivilegedWriters, error) {
	switch r.PrivilegedWriters {
	case "", "refuse":
		return replication.PrivilegedRefuse, nil
	case "kill":
		return replication.PrivilegedKill, nil
	case "allow":
		return replication.PrivilegedAllow, nil
	}
	return "", fmt.Errorf(`"privilegedWriters" %q is not one of refuse, kill, allow`, r.PrivilegedWriters)
}

// maxLag is the request's lag bound, else the setting, else the engine's
// default.
func (o *Orchestrator) rollbackMaxLag(r RollbackRequest) time.Duration {
	switch {
	case r.MaxLagSeconds != nil:
		return time.Duration(*r.MaxLagSeconds) * time.Second
	case o.Settings.MaxLag > 0:
		return o.Settings.MaxLag
	}
	return replication.DefaultRollbackMaxLag
}

// maxWriteDowntime is the request's bound on the predicted write
// downtime; 0 leaves the engine's default.
func (r RollbackRequest) maxWriteDowntime() time.Duration {
	if r.MaxWriteDowntimeMS != nil {
		return time.Duration(*r.MaxWriteDowntimeMS) * time.Millisecond
	}
	return 0
}

func (r RollbackRequest) catchupTimeout() time.Duration {
	if r.CatchupTimeoutSeconds != nil {
		return time.Duration(*r.CatchupTimeoutSeconds) * time.Second
	}
	return replication.DefaultCatchupTimeout
}

func (r Route53Repoint) ttl() int64 {
	if r.TTL != nil {
		return *r.TTL
	}
	return DefaultRepointTTL
}
