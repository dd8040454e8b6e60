// Package awsfake holds local fakes of AWS services for tests: HTTP servers
// that speak each service's real wire protocol, so code under test goes
// through the real AWS SDK (endpoint override, signing, retries, error
// decoding, pagination) and only the service behind it is simulated. It is
// imported by tests only. Each service lives in files named after it
// (rds*.go: RDS, Query protocol).
package awsfake

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

// RDSAPIVersion is the only Version the fake accepts (the Query API version
// the SDK sends).
const RDSAPIVersion = "2014-10-31"

const rdsXMLNS = "http://rds.amazonaws.com/doc/2014-10-31/"

// rdsEventRetention: DescribeEvents "returns events ... for the past 14
// days" (RDS API reference, DescribeEvents; aws-facts §5).
const rdsEventRetention = 14 * 24 * time.Hour

// RDS is a fake Amazon RDS endpoint speaking the Query protocol: form-encoded
// POSTs with Action=…&Version=2014-10-31, answered with
// <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…
// documents, and <ErrorResponse><Error><Type/><Code/><Message/></Error>
// errors with the status RDS uses.
//
// Supported actions (anything else is 400 InvalidAction): DescribeDBClusters,
// DescribeBlueGreenDeployments, DescribeEvents, DeleteBlueGreenDeployment,
// ModifyDBClusterParameterGroup, DescribeDBClusterParameters,
// ModifyDBCluster (renames only: see RenameDelay). Within them the
// fake is strict: a missing required parameter is 400 MissingParameter, a bad
// value 400 InvalidParameterValue, and a parameter the fake does not model
// (Filters, EventCategories, …) is rejected with a message starting
// "awsfake:" rather than silently ignored. Requests must carry a SigV4
// Authorization header scoped to the rds service (403
// MissingAuthenticationToken otherwise); the signature itself is not
// checked. On a fake started with StartRDS, every such rejection also fails
// the test: a request the fake does not understand is a bug in the code
// under test. Errors RDS itself answers well-formed requests with (not
// found, invalid state, injected faults) do not.
//
// Every request is recorded (Calls), including the ones answered with an
// injected fault (FailNext). Set the exported fields before the first
// request.
type RDS struct {
	// PageSize caps the records of every Describe page (as MaxRecords does;
	// RDS's default and maximum is 100). Zero means 100.
	PageSize int
	// Now is the fake's clock, for the 14-day event window and the default
	// DescribeEvents interval; nil means time.Now.
	Now func() time.Time
	// OnModifyDBClusterParameterGroup, when set, is called for every valid
	// ModifyDBClusterParameterGroup before the values are stored — what RDS
	// would do to the cluster's instances (for example SET GLOBAL read_only
	// on a sandbox server). An error becomes a 500 InternalFailure and the
	// values are not stored.
	OnModifyDBClusterParameterGroup func(group string, params []RDSParameter) error
	// RenameDelay is how long a rename (ModifyDBCluster with
	// NewDBClusterIdentifier and ApplyImmediately) takes: meanwhile the
	// cluster keeps its identifier with Status "renaming" (and refuses
	// another modification), then it has the new one, its ARN and the
	// endpoints that began with the old identifier follow, and it is
	// "available" again. Zero renames at once.
	RenameDelay time.Duration

	renames []rdsRename // renames in progress (RenameDelay)

	mu          sync.Mutex
	clusters    []RDSCluster
	deployments []RDSDeployment
	events      []RDSEvent
	groups      map[string]*rdsGroup
	faults      []rdsFaultRule
	calls       []RDSCall
	requests    int
	server      *httptest.Server
	t           testing.TB // set by StartRDS: rejections fail it
}

// RDSCluster is a DB cluster as DescribeDBClusters returns it.
type RDSCluster struct {
	ID             string // DBClusterIdentifier
	ARN            string // DBClusterArn; derived from ID when empty
	Status         string // "available" when empty
	Engine         string
	EngineVersion  string
	Endpoint       string
	ReaderEndpoint string
	Port           int
	ParameterGroup string // DBClusterParameterGroup
	Tags           map[string]string
	Members        []RDSClusterMember
}

// RDSClusterMember is one DBClusterMember.
type RDSClusterMember struct {
	Instance string // DBInstanceIdentifier
	Writer   bool   // IsClusterWriter
}

// RDSDeployment is a blue/green deployment as DescribeBlueGreenDeployments
// returns it.
type RDSDeployment struct {
	ID         string // BlueGreenDeploymentIdentifier (bgd-…)
	Name       string
	Source     string // ARN
	Target     string // ARN
	Status     string
	CreateTime time.Time
	Switchover []RDSSwitchoverDetail
	Tags       map[string]string
}

// RDSSwitchoverDetail is one SwitchoverDetails member.
type RDSSwitchoverDetail struct {
	SourceMember string
	TargetMember string
	Status       string
}

// RDSEvent is one event as DescribeEvents returns it.
type RDSEvent struct {
	SourceID   string // SourceIdentifier
	SourceType string // "db-cluster", "db-instance", …
	SourceArn  string
	Message    string
	Categories []string
	Date       time.Time
}

// RDSParameter is one parameter of a ModifyDBClusterParameterGroup request.
type RDSParameter struct {
	Name        string // ParameterName
	Value       string // ParameterValue
	ApplyMethod string // "immediate" or "pending-reboot"
}

// RDSFault is an error the fake answers with.
type RDSFault struct {
	Status  int    // HTTP status
	Code    string // Error/Code, e.g. "Throttling"
	Message string

	// reject marks a request the fake does not understand (malformed,
	// unsupported): on a started fake it also fails the test.
	reject bool
}

// rejection is a fault for a request the fake does not understand.
func rejection(status int, code, format string, args ...any) *RDSFault {
	return &RDSFault{Status: status, Code: code, Message: fmt.Sprintf(format, args...), reject: true}
}

// apiError is a fault RDS itself would answer a well-formed request with.
func apiError(status int, code, format string, args ...any) *RDSFault {
	return &RDSFault{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// RDSCall is one request the fake received.
type RDSCall struct {
	Action string
	Params url.Values // every form parameter, Action and Version included
	Status int        // the HTTP status answered
	Code   string     // the error code answered, "" on success
}

// RDSThrottled is the fault RDS answers when a caller exceeds its request
// rate (the SDK retries it).
func RDSThrottled() RDSFault {
	return RDSFault{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"}
}

// RDSAccessDenied is the fault RDS answers when IAM does not allow action
// (403, not retried).
func RDSAccessDenied(action string) RDSFault {
	return RDSFault{Status: http.StatusForbidden, Code: "AccessDenied",
		Message: fmt.Sprintf("User: arn:aws:sts::123456789012:assumed-role/switchback/test is not authorized to perform: rds:%s", action)}
}

type rdsGroup struct {
	params map[string]string
	user   map[string]bool // set through ModifyDBClusterParameterGroup or AddParameterGroup
	// meta describes parameters added with DefineParameters; the others
	// are dynamic and modifiable, with no allowed values listed.
	meta map[string]RDSGroupParameter
	// pendingReboot: a change waits for a reboot (ApplyMethod
	// pending-reboot); the instances of the clusters using the group
	// report DBClusterParameterGroupStatus pending-reboot until Reboot.
	pendingReboot bool
}

// RDSGroupParameter is one parameter a DB cluster parameter group lists,
// with what DescribeDBClusterParameters says of it (RDS API Parameter:
// ApplyType, IsModifiable, AllowedValues).
type RDSGroupParameter struct {
	Name string
	// Value is the engine default the group lists ("" lists none).
	Value string
	// ApplyType is "dynamic" (when empty) or "static".
	ApplyType string
	// AllowedValues is a range ("0-1024") or a comma-separated list ("0,1").
	AllowedValues string
	// Fixed: IsModifiable is false.
	Fixed bool
}

func (p RDSGroupParameter) applyType() string {
	if p.ApplyType == "" {
		return "dynamic"
	}
	return p.ApplyType
}

type rdsFaultRule struct {
	action string // "" matches every action
	skip   int    // matching requests let through first
	left   int
	fault  RDSFault
}

// NewRDS returns a fake with no resources, to mount as an http.Handler.
// StartRDS also starts a server for it.
func NewRDS() *RDS { return &RDS{groups: map[string]*rdsGroup{}} }

// StartRDS starts a fake RDS endpoint on a local port, closed when t ends.
// Requests the fake rejects as malformed or unsupported also fail t: a
// request the fake does not understand is a bug in the code under test.
func StartRDS(t testing.TB) *RDS {
	t.Helper()
	f := NewRDS()
	f.t = t
	f.server = httptest.NewServer(f)
	t.Cleanup(f.server.Close)
	return f
}

// URL is the endpoint (BaseEndpoint / AWS_ENDPOINT_URL_RDS) of a started fake.
func (f *RDS) URL() string { return f.server.URL }

// EndpointEnv is the environment variable that points an SDK client (a
// function's bootstrap) at the started fake.
func (f *RDS) EndpointEnv() string { return "AWS_ENDPOINT_URL_RDS=" + f.URL() }

// Config is an aws.Config for the started fake: region us-east-1, static
// credentials, BaseEndpoint set to the fake. It keeps the SDK's standard
// retryer (3 attempts, the usual throttling and transient-error rules) with
// only the backoff shortened to a few milliseconds, so retry tests run fast.
func (f *RDS) Config() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDAWSFAKE", "awsfake-secret", ""),
		BaseEndpoint: aws.String(f.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
					return 5 * time.Millisecond, nil
				})
			})
		},
	}
}

// Client is a real *rds.Client pointed at the started fake (rds.NewFromConfig(f.Config())).
func (f *RDS) Client() *rds.Client { return rds.NewFromConfig(f.Config()) }

// AddCluster adds (or replaces, by ID) a DB cluster.
func (f *RDS) AddCluster(c RDSCluster) {
	if c.ARN == "" {
		c.ARN = "arn:aws:rds:us-east-1:123456789012:cluster:" + c.ID
	}
	if c.Status == "" {
		c.Status = "available"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters = slices.DeleteFunc(f.clusters, func(o RDSCluster) bool { return o.ID == c.ID })
	f.clusters = append(f.clusters, c)
}

// RemoveCluster deletes a cluster by ID.
func (f *RDS) RemoveCluster(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters = slices.DeleteFunc(f.clusters, func(o RDSCluster) bool { return o.ID == id })
}

// AddDeployment adds (or replaces, by ID) a blue/green deployment.
func (f *RDS) AddDeployment(d RDSDeployment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deployments = slices.DeleteFunc(f.deployments, func(o RDSDeployment) bool { return o.ID == d.ID })
	f.deployments = append(f.deployments, d)
}

// HasDeployment reports whether the deployment exists (it is removed by a
// successful DeleteBlueGreenDeployment).
func (f *RDS) HasDeployment(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.deployments, func(d RDSDeployment) bool { return d.ID == id })
}

// AddEvent adds an event.
func (f *RDS) AddEvent(e RDSEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

// AddParameterGroup adds (or replaces) a DB cluster parameter group with
// the given parameter values.
func (f *RDS) AddParameterGroup(name string, params map[string]string) {
	g := &rdsGroup{params: map[string]string{}, user: map[string]bool{}, meta: map[string]RDSGroupParameter{}}
	for k, v := range params {
		g.params[k] = v
		g.user[k] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[name] = g
}

// DefineParameters adds parameters to a DB cluster parameter group (made
// empty first when there is none), as engine defaults with their apply
// type, modifiability and allowed values: what a real group of the
// family lists before anyone sets them. ModifyDBClusterParameterGroup
// then refuses, as RDS does, a parameter the group does not list, one that
// is not modifiable, a value outside its allowed values, and ApplyMethod
// immediate on a static parameter.
func (f *RDS) DefineParameters(group string, params ...RDSGroupParameter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[group]
	if !ok {
		g = &rdsGroup{params: map[string]string{}, user: map[string]bool{}, meta: map[string]RDSGroupParameter{}}
		f.groups[group] = g
	}
	for _, p := range params {
		g.params[p.Name] = p.Value
		delete(g.user, p.Name)
		g.meta[p.Name] = p
	}
}

// PendingReboot reports whether a change to the group waits for a reboot
// (a ModifyDBClusterParameterGroup with ApplyMethod pending-reboot since
// the last Reboot).
func (f *RDS) PendingReboot(group string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[group]
	return ok && g.pendingReboot
}

// Reboot stands for rebooting the writers of the clusters that use group:
// their instances are in-sync with it again.
func (f *RDS) Reboot(group string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.groups[group]; ok {
		g.pendingReboot = false
	}
}

// ParameterGroup returns a copy of a group's parameter values (nil if there
// is no such group).
func (f *RDS) ParameterGroup(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(g.params))
	for k, v := range g.params {
		out[k] = v
	}
	return out
}

// FailNext makes the next n requests for action ("" for any action) fail
// with fault, before they are looked at. Rules queue up in order.
func (f *RDS) FailNext(action string, n int, fault RDSFault) {
	f.FailNextAfter(action, 0, n, fault)
}

// FailNextAfter lets the next skip requests for action through, then fails
// n with fault (for example the second page of a listing).
func (f *RDS) FailNextAfter(action string, skip, n int, fault RDSFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, rdsFaultRule{action: action, skip: skip, left: n, fault: fault})
}

// Calls returns the requests received for action ("" for all), in order.
func (f *RDS) Calls(action string) []RDSCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []RDSCall
	for _, c := range f.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// ---- HTTP ----

// ServeHTTP implements http.Handler.
func (f *RDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	reqID := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.requests)
	f.mu.Unlock()

	call := RDSCall{}
	status, body, rejected := f.serve(r, &call, reqID)
	call.Status = status
	f.mu.Lock()
	f.calls = append(f.calls, call)
	t := f.t
	f.mu.Unlock()
	if rejected != "" && t != nil {
		t.Errorf("awsfake: RDS rejected a request it does not understand (Action %q): %s", call.Action, rejected)
	}

	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve answers one request; rejected is set when the fake did not
// understand it.
func (f *RDS) serve(r *http.Request, call *RDSCall, reqID string) (status int, body []byte, rejected string) {
	fail := func(ft RDSFault) (int, []byte, string) {
		call.Code = ft.Code
		if ft.reject {
			rejected = ft.Code + ": " + ft.Message
		}
		return ft.Status, errorXML(ft, reqID), rejected
	}
	if r.Method != http.MethodPost {
		return fail(*rejection(http.StatusBadRequest, "InvalidAction", "awsfake: the Query protocol uses POST, got %s", r.Method))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return fail(*rejection(http.StatusBadRequest, "MalformedQueryString", "awsfake: Content-Type must be application/x-www-form-urlencoded, got %q", ct))
	}
	if err := r.ParseForm(); err != nil {
		return fail(*rejection(http.StatusBadRequest, "MalformedQueryString", "awsfake: %v", err))
	}
	call.Params = r.PostForm
	call.Action = r.PostForm.Get("Action")
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/rds/aws4_request") {
		return fail(*rejection(http.StatusForbidden, "MissingAuthenticationToken", "awsfake: request is not SigV4-signed for the rds service"))
	}
	if ft, ok := f.takeFault(call.Action); ok {
		return fail(ft)
	}
	if call.Action == "" {
		return fail(*rejection(http.StatusBadRequest, "MissingAction", "awsfake: no Action parameter"))
	}
	if v := r.PostForm.Get("Version"); v != RDSAPIVersion {
		return fail(*rejection(http.StatusBadRequest, "InvalidParameterValue", "awsfake: Version must be %s, got %q", RDSAPIVersion, v))
	}
	handler, ok := map[string]func(*rdsQuery) (any, *RDSFault){
		"DescribeDBClusters":            f.describeDBClusters,
		"DescribeBlueGreenDeployments":  f.describeBlueGreenDeployments,
		"DescribeEvents":                f.describeEvents,
		"DeleteBlueGreenDeployment":     f.deleteBlueGreenDeployment,
		"ModifyDBClusterParameterGroup": f.modifyDBClusterParameterGroup,
		"DescribeDBClusterParameters":   f.describeDBClusterParameters,
		"ModifyDBCluster":               f.modifyDBCluster,
	}[call.Action]
	if !ok {
		return fail(*rejection(http.StatusBadRequest, "InvalidAction", "awsfake: action %q is not supported by the fake RDS", call.Action))
	}
	q := &rdsQuery{action: call.Action, form: r.PostForm, used: map[string]bool{"Action": true, "Version": true}}
	result, ft := handler(q)
	if ft != nil {
		return fail(*ft)
	}
	return http.StatusOK, resultXML(call.Action, result, reqID), ""
}

func (f *RDS) takeFault(action string) (RDSFault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		rule := &f.faults[i]
		if rule.left == 0 || (rule.action != "" && rule.action != action) {
			continue
		}
		if rule.skip > 0 {
			rule.skip--
			continue
		}
		rule.left--
		return rule.fault, true
	}
	return RDSFault{}, false
}

func (f *RDS) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// ---- request parameters ----

// rdsQuery hands out form parameters and remembers which were used, so that
// anything left over is reported instead of ignored.
type rdsQuery struct {
	action string
	form   url.Values
	used   map[string]bool
}

func (q *rdsQuery) opt(name string) string {
	q.used[name] = true
	return q.form.Get(name)
}

func (q *rdsQuery) has(name string) bool { _, ok := q.form[name]; return ok }

func (q *rdsQuery) required(name string) (string, *RDSFault) {
	v := q.opt(name)
	if v == "" {
		return "", rejection(http.StatusBadRequest, "MissingParameter",
			"The request must contain the parameter %s (awsfake: required by %s)", name, q.action)
	}
	return v, nil
}

func (q *rdsQuery) invalid(format string, args ...any) *RDSFault {
	return rejection(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

func (q *rdsQuery) time(name string) (time.Time, bool, *RDSFault) {
	v := q.opt(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, q.invalid("awsfake: %s %q is not an ISO 8601 timestamp", name, v)
	}
	return t, true, nil
}

// page reads MaxRecords and Marker: RDS takes MaxRecords 20..100 (default
// 100); PageSize caps it further.
func (f *RDS) page(q *rdsQuery) (offset, size int, ft *RDSFault) {
	size = 100
	if v := q.opt("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n > 100 {
			return 0, 0, q.invalid("Invalid value for MaxRecords: %s (must be between 20 and 100)", v)
		}
		size = n
	}
	if f.PageSize > 0 && f.PageSize < size {
		size = f.PageSize
	}
	if m := q.opt("Marker"); m != "" {
		raw, err := base64.RawURLEncoding.DecodeString(m)
		prefix := "awsfake:" + q.action + ":"
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return 0, 0, q.invalid("awsfake: Marker %q was not issued by %s", m, q.action)
		}
		offset, err = strconv.Atoi(strings.TrimPrefix(string(raw), prefix))
		if err != nil || offset < 0 {
			return 0, 0, q.invalid("awsfake: Marker %q is corrupt", m)
		}
	}
	return offset, size, nil
}

// cut returns the page of n items starting at offset and the next marker.
func (q *rdsQuery) cut(n, offset, size int) (lo, hi int, marker string) {
	lo = min(offset, n)
	hi = min(lo+size, n)
	if hi < n {
		marker = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("awsfake:%s:%d", q.action, hi)))
	}
	return lo, hi, marker
}

// done rejects the parameters no handler asked for.
func (q *rdsQuery) done() *RDSFault {
	var extra []string
	for k := range q.form {
		if !q.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return q.invalid("awsfake: %s parameter(s) %s not supported by the fake", q.action, strings.Join(extra, ", "))
}

// ---- actions ----

func (f *RDS) describeDBClusters(q *rdsQuery) (any, *RDSFault) {
	id := q.opt("DBClusterIdentifier")
	offset, size, ft := f.page(q)
	if ft != nil {
		return nil, ft
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyRenames()
	var match []RDSCluster
	for _, c := range f.clusters {
		// DBClusterIdentifier takes the identifier or the ARN (aws-facts §5).
		if id == "" || c.ID == id || c.ARN == id {
			match = append(match, c)
		}
	}
	if id != "" && len(match) == 0 {
		return nil, apiError(http.StatusNotFound, "DBClusterNotFoundFault", "DBCluster %s not found.", id)
	}
	lo, hi, marker := q.cut(len(match), offset, size)
	res := struct {
		Clusters []xmlDBCluster `xml:"DBClusters>DBCluster"`
		Marker   string         `xml:"Marker,omitempty"`
	}{Marker: marker}
	for _, c := range match[lo:hi] {
		res.Clusters = append(res.Clusters, clusterXML(c, f.memberStatus(c.ParameterGroup)))
	}
	return res, nil
}

func (f *RDS) describeBlueGreenDeployments(q *rdsQuery) (any, *RDSFault) {
	id := q.opt("BlueGreenDeploymentIdentifier")
	offset, size, ft := f.page(q)
	if ft != nil {
		return nil, ft
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []RDSDeployment
	for _, d := range f.deployments {
		if id == "" || d.ID == id {
			match = append(match, d)
		}
	}
	if id != "" && len(match) == 0 {
		return nil, apiError(http.StatusNotFound, "BlueGreenDeploymentNotFoundFault", "BlueGreenDeploymentIdentifier %s doesn't refer to an existing blue/green deployment.", id)
	}
	lo, hi, marker := q.cut(len(match), offset, size)
	res := struct {
		Deployments []xmlDeployment `xml:"BlueGreenDeployments>member"`
		Marker      string          `xml:"Marker,omitempty"`
	}{Marker: marker}
	for _, d := range match[lo:hi] {
		res.Deployments = append(res.Deployments, deploymentXML(d))
	}
	return res, nil
}

// rdsSourceTypes are DescribeEvents' SourceType values (API_Event.html,
// aws-facts §1).
var rdsSourceTypes = []string{"db-instance", "db-parameter-group", "db-security-group", "db-snapshot",
	"db-cluster", "db-cluster-snapshot", "custom-engine-version", "db-proxy", "blue-green-deployment",
	"db-shard-group", "zero-etl"}

func (f *RDS) describeEvents(q *rdsQuery) (any, *RDSFault) {
	sourceType := q.opt("SourceType")
	sourceID := q.opt("SourceIdentifier")
	start, hasStart, ft := q.time("StartTime")
	if ft != nil {
		return nil, ft
	}
	end, hasEnd, ft := q.time("EndTime")
	if ft != nil {
		return nil, ft
	}
	duration := 60 // minutes; RDS's default (DescribeEvents: "Default: 60")
	if v := q.opt("Duration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, q.invalid("awsfake: Duration %q is not a number of minutes", v)
		}
		duration = n
	}
	offset, size, ft := f.page(q)
	if ft != nil {
		return nil, ft
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	if sourceType != "" && !slices.Contains(rdsSourceTypes, sourceType) {
		return nil, q.invalid("Invalid value for SourceType: %s", sourceType)
	}
	if sourceID != "" && sourceType == "" {
		// "If SourceIdentifier is supplied, SourceType must also be provided."
		return nil, rejection(http.StatusBadRequest, "InvalidParameterCombination", "SourceIdentifier requires SourceType")
	}
	now := f.now()
	// The interval: StartTime..EndTime; EndTime defaults to now, and without
	// StartTime the interval is the Duration minutes before EndTime. (The
	// exact defaults of the real service are approximated.)
	if !hasEnd {
		end = now
	}
	if !hasStart {
		start = end.Add(-time.Duration(duration) * time.Minute)
	}
	if start.After(end) {
		return nil, rejection(http.StatusBadRequest, "InvalidParameterCombination", "StartTime must be before EndTime")
	}
	oldest := now.Add(-rdsEventRetention)
	f.mu.Lock()
	var match []RDSEvent
	for _, e := range f.events {
		if (sourceType == "" || e.SourceType == sourceType) && (sourceID == "" || e.SourceID == sourceID) &&
			!e.Date.Before(start) && !e.Date.After(end) && !e.Date.Before(oldest) {
			match = append(match, e)
		}
	}
	f.mu.Unlock()
	sort.SliceStable(match, func(i, j int) bool { return match[i].Date.Before(match[j].Date) })
	lo, hi, marker := q.cut(len(match), offset, size)
	res := struct {
		Events []xmlEvent `xml:"Events>Event"`
		Marker string     `xml:"Marker,omitempty"`
	}{Marker: marker}
	for _, e := range match[lo:hi] {
		res.Events = append(res.Events, xmlEvent{
			SourceIdentifier: e.SourceID, SourceType: e.SourceType, SourceArn: e.SourceArn,
			Message: e.Message, EventCategories: e.Categories, Date: xmlTime(e.Date),
		})
	}
	return res, nil
}

func (f *RDS) deleteBlueGreenDeployment(q *rdsQuery) (any, *RDSFault) {
	id, ft := q.required("BlueGreenDeploymentIdentifier")
	if ft != nil {
		return nil, ft
	}
	deleteTarget := false
	if v := q.opt("DeleteTarget"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, q.invalid("Invalid value for DeleteTarget: %s", v)
		}
		deleteTarget = b
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.deployments, func(d RDSDeployment) bool { return d.ID == id })
	if i < 0 {
		return nil, apiError(http.StatusNotFound, "BlueGreenDeploymentNotFoundFault", "BlueGreenDeploymentIdentifier %s doesn't refer to an existing blue/green deployment.", id)
	}
	d := f.deployments[i]
	if deleteTarget && d.Status == "SWITCHOVER_COMPLETED" {
		// DeleteTarget "can't be specified if the blue/green deployment
		// status is SWITCHOVER_COMPLETED" (API_DeleteBlueGreenDeployment,
		// aws-facts §5); the exact error code is the fake's choice.
		return nil, apiError(http.StatusBadRequest, "InvalidBlueGreenDeploymentStateFault", "DeleteTarget can't be specified for a blue/green deployment in SWITCHOVER_COMPLETED status.")
	}
	f.deployments = slices.Delete(f.deployments, i, i+1)
	if deleteTarget {
		f.clusters = slices.DeleteFunc(f.clusters, func(c RDSCluster) bool { return c.ARN == d.Target })
	}
	d.Status = "DELETING"
	return struct {
		Deployment xmlDeployment `xml:"BlueGreenDeployment"`
	}{deploymentXML(d)}, nil
}

var rdsParamKey = regexp.MustCompile(`^Parameters\.Parameter\.([0-9]+)\.([A-Za-z]+)$`)

func (f *RDS) modifyDBClusterParameterGroup(q *rdsQuery) (any, *RDSFault) {
	group, ft := q.required("DBClusterParameterGroupName")
	if ft != nil {
		return nil, ft
	}
	byIndex := map[int]*RDSParameter{}
	for k := range q.form {
		m := rdsParamKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		p := byIndex[n]
		if p == nil {
			p = &RDSParameter{}
			byIndex[n] = p
		}
		switch m[2] {
		case "ParameterName":
			p.Name = q.opt(k)
		case "ParameterValue":
			p.Value = q.opt(k)
		case "ApplyMethod":
			p.ApplyMethod = q.opt(k)
		}
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	if len(byIndex) == 0 {
		return nil, rejection(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Parameters (awsfake: at least one Parameters.Parameter.N)")
	}
	// "You can modify up to 20 parameters in a single request" (aws-facts §5).
	if len(byIndex) > 20 {
		return nil, q.invalid("At most 20 parameters can be modified in a single request, got %d", len(byIndex))
	}
	var params []RDSParameter
	for n := 1; n <= len(byIndex); n++ {
		p, ok := byIndex[n]
		if !ok {
			return nil, q.invalid("awsfake: Parameters.Parameter.N must be numbered 1..%d, %d is missing", len(byIndex), n)
		}
		switch {
		case p.Name == "":
			return nil, rejection(http.StatusBadRequest, "MissingParameter", "Parameters.Parameter.%d.ParameterName is required", n)
		case !q.has(fmt.Sprintf("Parameters.Parameter.%d.ParameterValue", n)):
			return nil, rejection(http.StatusBadRequest, "MissingParameter", "Parameters.Parameter.%d.ParameterValue is required (awsfake)", n)
		case p.ApplyMethod != "immediate" && p.ApplyMethod != "pending-reboot":
			return nil, q.invalid("Parameters.Parameter.%d.ApplyMethod must be immediate or pending-reboot, got %q", n, p.ApplyMethod)
		}
		params = append(params, *p)
	}
	f.mu.Lock()
	g, ok := f.groups[group]
	f.mu.Unlock()
	if !ok {
		return nil, apiError(http.StatusNotFound, "DBParameterGroupNotFound", "DBClusterParameterGroup not found: %s", group)
	}
	if strings.HasPrefix(group, "default.") {
		return nil, apiError(http.StatusBadRequest, "InvalidParameterValue", "awsfake: default parameter group %s cannot be modified", group)
	}
	// What RDS answers a well-formed request it will not apply (the
	// messages are the fake's; the codes are RDS's error codes).
	f.mu.Lock()
	for _, p := range params {
		if _, listed := g.params[p.Name]; !listed {
			f.mu.Unlock()
			return nil, apiError(http.StatusBadRequest, "InvalidParameterValue", "Could not find parameter with name: %s (awsfake: group %s does not list it)", p.Name, group)
		}
		meta, ok := g.meta[p.Name]
		if !ok {
			continue
		}
		switch {
		case meta.Fixed:
			f.mu.Unlock()
			return nil, apiError(http.StatusBadRequest, "InvalidParameterValue", "The parameter %s cannot be modified. (awsfake: IsModifiable false)", p.Name)
		case p.ApplyMethod == "immediate" && meta.applyType() == "static":
			f.mu.Unlock()
			return nil, apiError(http.StatusBadRequest, "InvalidParameterCombination", "cannot use immediate apply method for static parameter %s (awsfake)", p.Name)
		case !allowedValue(meta.AllowedValues, p.Value):
			f.mu.Unlock()
			return nil, apiError(http.StatusBadRequest, "InvalidParameterValue", "Value: %s is outside of the allowed values %s for parameter: %s (awsfake)", p.Value, meta.AllowedValues, p.Name)
		}
	}
	f.mu.Unlock()
	if hook := f.OnModifyDBClusterParameterGroup; hook != nil {
		if err := hook(group, params); err != nil {
			return nil, apiError(http.StatusInternalServerError, "InternalFailure", "awsfake: applying the parameters failed: %v", err)
		}
	}
	f.mu.Lock()
	for _, p := range params {
		g.params[p.Name] = p.Value
		g.user[p.Name] = true
		if p.ApplyMethod == "pending-reboot" {
			g.pendingReboot = true
		}
	}
	f.mu.Unlock()
	return struct {
		Name string `xml:"DBClusterParameterGroupName"`
	}{group}, nil
}

func (f *RDS) describeDBClusterParameters(q *rdsQuery) (any, *RDSFault) {
	group, ft := q.required("DBClusterParameterGroupName")
	if ft != nil {
		return nil, ft
	}
	offset, size, ft := f.page(q)
	if ft != nil {
		return nil, ft
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[group]
	if !ok {
		return nil, apiError(http.StatusNotFound, "DBParameterGroupNotFound", "DBClusterParameterGroup not found: %s", group)
	}
	names := make([]string, 0, len(g.params))
	for k := range g.params {
		names = append(names, k)
	}
	sort.Strings(names)
	lo, hi, marker := q.cut(len(names), offset, size)
	res := struct {
		Parameters []xmlParameter `xml:"Parameters>Parameter"`
		Marker     string         `xml:"Marker,omitempty"`
	}{Marker: marker}
	for _, n := range names[lo:hi] {
		src := "engine-default"
		if g.user[n] {
			src = "user"
		}
		meta := g.meta[n]
		res.Parameters = append(res.Parameters, xmlParameter{
			ParameterName: n, ParameterValue: g.params[n], Source: src,
			ApplyType: meta.applyType(), DataType: "string", IsModifiable: !meta.Fixed,
			AllowedValues: meta.AllowedValues,
		})
	}
	return res, nil
}

// ---- XML ----

type xmlTag struct {
	Key   string
	Value string
}

type xmlDBClusterMember struct {
	DBInstanceIdentifier          string
	IsClusterWriter               bool
	DBClusterParameterGroupStatus string
	PromotionTier                 int
}

type xmlDBCluster struct {
	DBClusterIdentifier     string
	DBClusterArn            string
	Status                  string
	Engine                  string `xml:",omitempty"`
	EngineVersion           string `xml:",omitempty"`
	Endpoint                string `xml:",omitempty"`
	ReaderEndpoint          string `xml:",omitempty"`
	Port                    int    `xml:",omitempty"`
	DBClusterParameterGroup string `xml:",omitempty"`
	MultiAZ                 bool
	DBClusterMembers        []xmlDBClusterMember `xml:"DBClusterMembers>DBClusterMember"`
	TagList                 []xmlTag             `xml:"TagList>Tag"`
}

type xmlSwitchoverDetail struct {
	SourceMember string
	TargetMember string
	Status       string `xml:",omitempty"`
}

type xmlDeployment struct {
	BlueGreenDeploymentIdentifier string
	BlueGreenDeploymentName       string                `xml:",omitempty"`
	Source                        string                `xml:",omitempty"`
	Target                        string                `xml:",omitempty"`
	SwitchoverDetails             []xmlSwitchoverDetail `xml:"SwitchoverDetails>member"`
	Status                        string
	CreateTime                    string   `xml:",omitempty"`
	TagList                       []xmlTag `xml:"TagList>Tag"`
}

type xmlEvent struct {
	SourceIdentifier string
	SourceType       string
	Message          string
	EventCategories  []string `xml:"EventCategories>EventCategory"`
	Date             string
	SourceArn        string `xml:",omitempty"`
}

type xmlParameter struct {
	ParameterName  string
	ParameterValue string `xml:",omitempty"`
	Source         string
	ApplyType      string
	DataType       string
	AllowedValues  string `xml:",omitempty"`
	IsModifiable   bool
}

// allowedValue reports whether v is within allowed: a range ("0-1024"), a
// comma-separated list ("0,1", case-insensitive), or nothing listed.
func allowedValue(allowed, v string) bool {
	if allowed == "" {
		return true
	}
	if lo, hi, ok := strings.Cut(allowed, "-"); ok && !strings.Contains(allowed, ",") {
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		n, err3 := strconv.Atoi(v)
		if err1 == nil && err2 == nil {
			return err3 == nil && n >= a && n <= b
		}
	}
	for _, a := range strings.Split(allowed, ",") {
		if strings.EqualFold(strings.TrimSpace(a), v) {
			return true
		}
	}
	return false
}

// xmlTime renders a timestamp the way RDS does (ISO 8601, UTC, millis).
func xmlTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func tagsXML(m map[string]string) []xmlTag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []xmlTag
	for _, k := range keys {
		out = append(out, xmlTag{Key: k, Value: m[k]})
	}
	return out
}

// memberStatus is DBClusterParameterGroupStatus of the instances of a
// cluster using group. The caller holds f.mu.
func (f *RDS) memberStatus(group string) string {
	if g, ok := f.groups[group]; ok && g.pendingReboot {
		return "pending-reboot"
	}
	return "in-sync"
}

func clusterXML(c RDSCluster, memberStatus string) xmlDBCluster {
	x := xmlDBCluster{
		DBClusterIdentifier: c.ID, DBClusterArn: c.ARN, Status: c.Status, Engine: c.Engine,
		EngineVersion: c.EngineVersion, Endpoint: c.Endpoint, ReaderEndpoint: c.ReaderEndpoint,
		Port: c.Port, DBClusterParameterGroup: c.ParameterGroup, MultiAZ: len(c.Members) > 1,
		TagList: tagsXML(c.Tags),
	}
	for i, m := range c.Members {
		x.DBClusterMembers = append(x.DBClusterMembers, xmlDBClusterMember{
			DBInstanceIdentifier: m.Instance, IsClusterWriter: m.Writer,
			DBClusterParameterGroupStatus: memberStatus, PromotionTier: i + 1,
		})
	}
	return x
}

func deploymentXML(d RDSDeployment) xmlDeployment {
	x := xmlDeployment{
		BlueGreenDeploymentIdentifier: d.ID, BlueGreenDeploymentName: d.Name,
		Source: d.Source, Target: d.Target, Status: d.Status, CreateTime: xmlTime(d.CreateTime),
		TagList: tagsXML(d.Tags),
	}
	for _, s := range d.Switchover {
		x.SwitchoverDetails = append(x.SwitchoverDetails, xmlSwitchoverDetail(s))
	}
	return x
}

// resultXML renders <ActionResponse xmlns=…><ActionResult>result</ActionResult>
// <ResponseMetadata><RequestId/></ResponseMetadata></ActionResponse>.
func resultXML(action string, result any, reqID string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, action, rdsXMLNS)
	enc := xml.NewEncoder(&b)
	if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
		panic(fmt.Sprintf("awsfake: marshal %s result: %v", action, err))
	}
	if err := enc.Close(); err != nil {
		panic(fmt.Sprintf("awsfake: marshal %s result: %v", action, err))
	}
	fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>", reqID)
	fmt.Fprintf(&b, "</%sResponse>", action)
	return []byte(b.String())
}

func errorXML(ft RDSFault, reqID string) []byte {
	typ := "Sender"
	if ft.Status >= 500 {
		typ = "Receiver"
	}
	var msg strings.Builder
	_ = xml.EscapeText(&msg, []byte(ft.Message))
	return []byte(fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		rdsXMLNS, typ, ft.Code, msg.String(), reqID))
}

// ---- ModifyDBCluster (renames) ----

// rdsRename is a rename in progress.
type rdsRename struct {
	from, to string
	at       time.Time // when it takes effect
}

// rdsIdentifier is an RDS DB cluster identifier: 1 to 63 letters, digits or
// hyphens, starting with a letter, no two consecutive hyphens, no trailing
// hyphen (stored lowercase).
var rdsIdentifier = regexp.MustCompile(`^[a-z](?:[a-z0-9]|-[a-z0-9]){0,62}$`)

// renameCluster gives cluster from the identifier to: its ARN and the
// endpoints that began with the old identifier follow. f.mu is held.
func (f *RDS) renameCluster(from, to string) {
	for i := range f.clusters {
		c := &f.clusters[i]
		if c.ID != from {
			continue
		}
		c.ID, c.Status = to, "available"
		if strings.HasSuffix(c.ARN, ":cluster:"+from) {
			c.ARN = strings.TrimSuffix(c.ARN, from) + to
		}
		if rest, ok := strings.CutPrefix(c.Endpoint, from+"."); ok {
			c.Endpoint = to + "." + rest
		}
		if rest, ok := strings.CutPrefix(c.ReaderEndpoint, from+"."); ok {
			c.ReaderEndpoint = to + "." + rest
		}
	}
}

// applyRenames completes the renames whose time has come. f.mu is held.
func (f *RDS) applyRenames() {
	now := f.now()
	f.renames = slices.DeleteFunc(f.renames, func(r rdsRename) bool {
		if now.Before(r.at) {
			return false
		}
		f.renameCluster(r.from, r.to)
		return true
	})
}

func (f *RDS) modifyDBCluster(q *rdsQuery) (any, *RDSFault) {
	id, ft := q.required("DBClusterIdentifier")
	if ft != nil {
		return nil, ft
	}
	newID := q.opt("NewDBClusterIdentifier")
	immediately := false
	if v := q.opt("ApplyImmediately"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, q.invalid("Invalid value for ApplyImmediately: %s", v)
		}
		immediately = b
	}
	if ft := q.done(); ft != nil {
		return nil, ft
	}
	if newID == "" {
		return nil, q.invalid("awsfake: ModifyDBCluster models renames only: NewDBClusterIdentifier is required by the fake")
	}
	if !immediately {
		// RDS would rename in the next maintenance window, which the fake
		// does not model.
		return nil, q.invalid("awsfake: a rename without ApplyImmediately=true waits for the maintenance window, which the fake does not model")
	}
	newID = strings.ToLower(newID)
	if !rdsIdentifier.MatchString(newID) {
		return nil, apiError(http.StatusBadRequest, "InvalidParameterValue", "The parameter NewDBClusterIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyRenames()
	i := slices.IndexFunc(f.clusters, func(c RDSCluster) bool { return c.ID == id || c.ARN == id })
	if i < 0 {
		return nil, apiError(http.StatusNotFound, "DBClusterNotFoundFault", "DBCluster %s not found.", id)
	}
	c := &f.clusters[i]
	if c.Status != "available" {
		return nil, apiError(http.StatusBadRequest, "InvalidDBClusterStateFault", "DB cluster %s is not in the available state (status %s).", c.ID, c.Status)
	}
	taken := slices.ContainsFunc(f.clusters, func(o RDSCluster) bool { return o.ID == newID }) ||
		slices.ContainsFunc(f.renames, func(r rdsRename) bool { return r.to == newID })
	if taken {
		return nil, apiError(http.StatusBadRequest, "DBClusterAlreadyExistsFault", "DB Cluster already exists")
	}
	if newID == c.ID {
		return nil, apiError(http.StatusBadRequest, "DBClusterAlreadyExistsFault", "DB Cluster already exists")
	}
	from := c.ID
	if f.RenameDelay > 0 {
		c.Status = "renaming"
		f.renames = append(f.renames, rdsRename{from: from, to: newID, at: f.now().Add(f.RenameDelay)})
		return struct {
			Cluster xmlDBCluster `xml:"DBCluster"`
		}{clusterXML(*c, f.memberStatus(c.ParameterGroup))}, nil
	}
	f.renameCluster(from, newID)
	return struct {
		Cluster xmlDBCluster `xml:"DBCluster"`
	}{clusterXML(f.clusters[i], f.memberStatus(f.clusters[i].ParameterGroup))}, nil
}

// Cluster returns the cluster with identifier id as DescribeDBClusters
// would show it now.
func (f *RDS) Cluster(id string) (RDSCluster, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyRenames()
	for _, c := range f.clusters {
		if c.ID == id {
			return c, true
		}
	}
	return RDSCluster{}, false
}
