package awsfake

// route53.go: Amazon Route 53, REST-XML protocol.

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
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
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// Route53APIVersion is the API version in every Route 53 path.
const Route53APIVersion = "2013-04-01"

const route53XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"

// Route53 is a fake Amazon Route 53 endpoint speaking the REST-XML
// protocol: resources under /2013-04-01/, XML bodies in the
// https://route53.amazonaws.com/doc/2013-04-01/ namespace, errors as
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>
// documents — except InvalidChangeBatch, which Route 53 answers with its own
// <InvalidChangeBatch><Messages><Message/>… document (the SDK has a
// customization for it).
//
// It models three operations, strictly:
//
//   - ChangeResourceRecordSets (POST /2013-04-01/hostedzone/{Id}/rrset):
//     CREATE, DELETE and UPSERT of plain record sets (Name, Type, TTL,
//     ResourceRecords), applied atomically. Alias, weighted, latency,
//     geolocation, failover, multivalue and health-checked sets, and any
//     element the fake does not know, are rejected. Route 53's rules are
//     enforced: names inside the zone, no CNAME at the apex, a CNAME alone
//     at its name and with exactly one value, TTL and values required,
//     CREATE of an existing set and DELETE of a missing or different one
//     refused (400 InvalidChangeBatch, listing every problem).
//   - GetChange (GET /2013-04-01/change/{Id}): a change is PENDING for the
//     first PendingPolls reads (default 1), then INSYNC.
//   - ListResourceRecordSets (GET /2013-04-01/hostedzone/{Id}/rrset with
//     name, type, identifier, maxitems): sets in Route 53's order (names
//     compared label by label from the right, then types), starting at
//     name/type, paginated with NextRecordName/NextRecordType.
//
// A zone made with AddHostedZone has the SOA and NS sets Route 53 creates.
// Unknown zones are 404 NoSuchHostedZone, unknown changes 404 NoSuchChange.
// Requests must carry a SigV4 Authorization header scoped to the route53
// service. A request the fake does not understand (another path or method,
// a malformed body, an unmodeled element or parameter) is answered with a
// message starting "awsfake:" and, on a fake started with StartRoute53,
// also fails the test. Every request is recorded (Calls), including the
// ones answered with an injected fault (FailNext).
type Route53 struct {
	// PendingPolls is how many GetChange answers say PENDING before a
	// change is INSYNC; zero means 1, negative means INSYNC at once.
	PendingPolls int

	mu       sync.Mutex
	zones    map[string]*r53Zone
	changes  map[string]*r53Change
	faults   []r53FaultRule
	calls    []Route53Call
	requests int
	server   *httptest.Server
	t        testing.TB // set by StartRoute53: rejections fail it
}

// Route53Record is one resource record set.
type Route53Record struct {
	Name   string // fully qualified, with the trailing dot
	Type   string // "CNAME", "A", …
	TTL    int64
	Values []string
}

// Route53Call is one request the fake received.
type Route53Call struct {
	// Operation is "ChangeResourceRecordSets", "GetChange",
	// "ListResourceRecordSets", or "" for a request outside the model.
	Operation string
	Method    string
	Path      string
	Query     url.Values
	Body      string
	Status    int    // the HTTP status answered
	Code      string // the error code answered, "" on success
}

// Route53Fault is an error the fake answers with.
type Route53Fault struct {
	Status  int    // HTTP status
	Code    string // Error/Code, e.g. "Throttling"
	Message string
	// Messages, for Code "InvalidChangeBatch", are the batch's problems.
	Messages []string

	reject bool // a request the fake does not understand: fails the test
}

// Route53Throttled is the fault Route 53 answers when a caller exceeds its
// request rate (the SDK retries it).
func Route53Throttled() Route53Fault {
	return Route53Fault{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"}
}

// Route53AccessDenied is the fault Route 53 answers when IAM does not allow
// action on the zone.
func Route53AccessDenied(action, zoneID string) Route53Fault {
	return Route53Fault{Status: http.StatusForbidden, Code: "AccessDenied",
		Message: fmt.Sprintf("User: arn:aws:sts::123456789012:assumed-role/switchback/test is not authorized to perform: route53:%s on resource: arn:aws:route53:::hostedzone/%s", action, zoneID)}
}

type r53Zone struct {
	id, name string // name fully qualified, lowercase
	sets     []Route53Record
}

type r53Change struct {
	id        string
	submitted time.Time
	comment   string
	polls     int
}

type r53FaultRule struct {
	op    string // "" matches every operation
	left  int
	fault Route53Fault
}

// NewRoute53 returns a fake with no hosted zones, to mount as an
// http.Handler. StartRoute53 also starts a server for it.
func NewRoute53() *Route53 {
	return &Route53{zones: map[string]*r53Zone{}, changes: map[string]*r53Change{}}
}

// StartRoute53 starts a fake Route 53 endpoint on a local port, closed when
// t ends. Requests the fake rejects as malformed or unsupported fail t.
func StartRoute53(t testing.TB) *Route53 {
	t.Helper()
	f := NewRoute53()
	f.t = t
	f.server = httptest.NewServer(f)
	t.Cleanup(f.server.Close)
	return f
}

// URL is the endpoint (BaseEndpoint, AWS_ENDPOINT_URL_ROUTE_53) of a
// started fake.
func (f *Route53) URL() string { return f.server.URL }

// EndpointEnv is the environment variable that points an SDK client (a
// function's bootstrap) at the started fake.
func (f *Route53) EndpointEnv() string { return "AWS_ENDPOINT_URL_ROUTE_53=" + f.URL() }

// Config is an aws.Config for the started fake: region us-east-1, static
// credentials, BaseEndpoint set to the fake, and the SDK's standard retryer
// with only the backoff shortened to a few milliseconds.
func (f *Route53) Config() aws.Config {
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

// Client is a real *route53.Client pointed at the started fake.
func (f *Route53) Client() *route53.Client { return route53.NewFromConfig(f.Config()) }

// r53ZoneID is the shape of a hosted zone id (without "/hostedzone/").
var r53ZoneID = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)

// AddHostedZone adds (or replaces) a public hosted zone with its SOA and NS
// record sets. id is "Z…" (with or without "/hostedzone/"), name the
// domain ("example.com" or "example.com.").
func (f *Route53) AddHostedZone(id, name string) {
	id = strings.TrimPrefix(id, "/hostedzone/")
	if !r53ZoneID.MatchString(id) {
		panic("awsfake: AddHostedZone: not a hosted zone id: " + id)
	}
	name = r53Fqdn(name)
	z := &r53Zone{id: id, name: name, sets: []Route53Record{
		{Name: name, Type: "NS", TTL: 172800, Values: []string{"ns-1.awsdns-00.com.", "ns-2.awsdns-00.net."}},
		{Name: name, Type: "SOA", TTL: 900, Values: []string{"ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}},
	}}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.zones[id] = z
}

// AddRecord adds (or replaces, by name and type) a record set in a zone.
func (f *Route53) AddRecord(zoneID string, r Route53Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	z, ok := f.zones[strings.TrimPrefix(zoneID, "/hostedzone/")]
	if !ok {
		panic("awsfake: AddRecord: no hosted zone " + zoneID)
	}
	r.Name, r.Type = r53Fqdn(r.Name), strings.ToUpper(r.Type)
	z.put(r)
}

// Record returns the record set of that name and type in the zone.
func (f *Route53) Record(zoneID, name, typ string) (Route53Record, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	z, ok := f.zones[strings.TrimPrefix(zoneID, "/hostedzone/")]
	if !ok {
		return Route53Record{}, false
	}
	if i := z.find(r53Fqdn(name), strings.ToUpper(typ)); i >= 0 {
		r := z.sets[i]
		r.Values = slices.Clone(r.Values)
		return r, true
	}
	return Route53Record{}, false
}

// FailNext makes the next n requests for operation ("" for any) fail with
// fault, before they are looked at. Rules queue up in order.
func (f *Route53) FailNext(operation string, n int, fault Route53Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, r53FaultRule{op: operation, left: n, fault: fault})
}

// Calls returns the requests received for operation ("" for all), in order.
func (f *Route53) Calls(operation string) []Route53Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Route53Call
	for _, c := range f.calls {
		if operation == "" || c.Operation == operation {
			out = append(out, c)
		}
	}
	return out
}

func (z *r53Zone) find(name, typ string) int {
	return slices.IndexFunc(z.sets, func(r Route53Record) bool { return r.Name == name && r.Type == typ })
}

func (z *r53Zone) put(r Route53Record) {
	if i := z.find(r.Name, r.Type); i >= 0 {
		z.sets[i] = r
		return
	}
	z.sets = append(z.sets, r)
}

// r53Fqdn lowercases a DNS name and gives it its trailing dot. Route 53
// stores names that way (and unescapes nothing the fake models).
func r53Fqdn(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// r53Less orders record sets as ListResourceRecordSets does: by name with
// the labels reversed (com.example.www), then by type.
func r53Less(a, b Route53Record) bool {
	ka, kb := r53Key(a.Name), r53Key(b.Name)
	if ka != kb {
		return ka < kb
	}
	return a.Type < b.Type
}

func r53Key(name string) string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, "\x00")
}

// ---- HTTP ----

// ServeHTTP implements http.Handler.
func (f *Route53) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	reqID := fmt.Sprintf("00000000-0000-4000-8003-%012d", f.requests)
	f.mu.Unlock()

	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	call := Route53Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body)}
	status, out, rejected := f.serve(r, body, &call, reqID)
	call.Status = status
	f.mu.Lock()
	f.calls = append(f.calls, call)
	t := f.t
	f.mu.Unlock()
	if rejected != "" && t != nil {
		t.Errorf("awsfake: Route 53 rejected a request it does not understand (%s %s): %s", r.Method, r.URL, rejected)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

var (
	r53RRSetPath  = regexp.MustCompile(`^/` + Route53APIVersion + `/hostedzone/([^/]+)/rrset$`)
	r53ChangePath = regexp.MustCompile(`^/` + Route53APIVersion + `/change/([^/]+)$`)
)

func r53Reject(status int, code, format string, args ...any) *Route53Fault {
	return &Route53Fault{Status: status, Code: code, Message: "awsfake: " + fmt.Sprintf(format, args...), reject: true}
}

func r53Error(status int, code, format string, args ...any) *Route53Fault {
	return &Route53Fault{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (f *Route53) serve(r *http.Request, body []byte, call *Route53Call, reqID string) (int, []byte, string) {
	fail := func(ft Route53Fault) (int, []byte, string) {
		call.Code = ft.Code
		rejected := ""
		if ft.reject {
			rejected = ft.Code + ": " + ft.Message
		}
		return ft.Status, r53ErrorXML(ft, reqID), rejected
	}
	var handler func() (any, *Route53Fault)
	var zoneID string
	switch m := r53RRSetPath.FindStringSubmatch(r.URL.Path); {
	case m != nil && r.Method == http.MethodPost:
		call.Operation, zoneID = "ChangeResourceRecordSets", m[1]
		handler = func() (any, *Route53Fault) { return f.change(zoneID, r, body) }
	case m != nil && r.Method == http.MethodGet:
		call.Operation, zoneID = "ListResourceRecordSets", m[1]
		handler = func() (any, *Route53Fault) { return f.list(zoneID, r.URL.Query(), body) }
	}
	if m := r53ChangePath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		call.Operation = "GetChange"
		id := m[1]
		handler = func() (any, *Route53Fault) { return f.getChange(id, r.URL.Query(), body) }
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/route53/aws4_request") {
		return fail(*r53Reject(http.StatusForbidden, "MissingAuthenticationToken", "request is not SigV4-signed for the route53 service"))
	}
	if handler == nil {
		return fail(*r53Reject(http.StatusNotFound, "UnknownOperationException", "%s %s is not an operation the fake Route 53 models (ChangeResourceRecordSets, GetChange, ListResourceRecordSets)", r.Method, r.URL.Path))
	}
	if ft, ok := f.takeFault(call.Operation); ok {
		return fail(ft)
	}
	res, ft := handler()
	if ft != nil {
		return fail(*ft)
	}
	return http.StatusOK, r53XML(res), ""
}

func (f *Route53) takeFault(op string) (Route53Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		rule := &f.faults[i]
		if rule.left > 0 && (rule.op == "" || rule.op == op) {
			rule.left--
			return rule.fault, true
		}
	}
	return Route53Fault{}, false
}

// ---- operations ----

// xmlUnknown collects elements a request body carries that the fake does
// not model.
type xmlUnknown struct {
	XMLName xml.Name
}

type r53ChangeRequest struct {
	XMLName     xml.Name `xml:"ChangeResourceRecordSetsRequest"`
	ChangeBatch *struct {
		Comment *string `xml:"Comment"`
		Changes *struct {
			Change  []r53ChangeXML `xml:"Change"`
			Unknown []xmlUnknown   `xml:",any"`
		} `xml:"Changes"`
		Unknown []xmlUnknown `xml:",any"`
	} `xml:"ChangeBatch"`
	Unknown []xmlUnknown `xml:",any"`
}

type r53ChangeXML struct {
	Action            string `xml:"Action"`
	ResourceRecordSet *struct {
		Name            string  `xml:"Name"`
		Type            string  `xml:"Type"`
		TTL             *string `xml:"TTL"`
		ResourceRecords *struct {
			ResourceRecord []struct {
				Value   string       `xml:"Value"`
				Unknown []xmlUnknown `xml:",any"`
			} `xml:"ResourceRecord"`
			Unknown []xmlUnknown `xml:",any"`
		} `xml:"ResourceRecords"`
		Unknown []xmlUnknown `xml:",any"`
	} `xml:"ResourceRecordSet"`
	Unknown []xmlUnknown `xml:",any"`
}

func unknownNames(u []xmlUnknown) string {
	var names []string
	for _, e := range u {
		names = append(names, e.XMLName.Local)
	}
	return strings.Join(names, ", ")
}

// r53Types are the record types Route 53 supports.
var r53Types = []string{"A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}

func (f *Route53) zone(id string) (*r53Zone, *Route53Fault) {
	z, ok := f.zones[id]
	if !ok {
		return nil, r53Error(http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: %s", id)
	}
	return z, nil
}

func (f *Route53) change(zoneID string, r *http.Request, body []byte) (any, *Route53Fault) {
	if len(r.URL.RawQuery) > 0 {
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ChangeResourceRecordSets takes no query parameters, got %q", r.URL.RawQuery)
	}
	var req r53ChangeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ChangeResourceRecordSets body is not the request document: %v", err)
	}
	switch {
	case req.XMLName.Space != route53XMLNS:
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ChangeResourceRecordSetsRequest must be in namespace %s, got %q", route53XMLNS, req.XMLName.Space)
	case len(req.Unknown) > 0:
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ChangeResourceRecordSetsRequest element(s) %s not modeled", unknownNames(req.Unknown))
	case req.ChangeBatch == nil || req.ChangeBatch.Changes == nil || len(req.ChangeBatch.Changes.Change) == 0:
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ChangeBatch with at least one Change is required")
	case len(req.ChangeBatch.Unknown) > 0 || len(req.ChangeBatch.Changes.Unknown) > 0:
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ChangeBatch element(s) %s not modeled", unknownNames(append(req.ChangeBatch.Unknown, req.ChangeBatch.Changes.Unknown...)))
	}
	if len(req.ChangeBatch.Changes.Change) > 1000 {
		return nil, r53Error(http.StatusBadRequest, "InvalidChangeBatch", "Number of records limit of 1000 exceeded.")
	}
	type op struct {
		action string
		set    Route53Record
	}
	var ops []op
	for i, c := range req.ChangeBatch.Changes.Change {
		n := i + 1
		rs := c.ResourceRecordSet
		switch {
		case len(c.Unknown) > 0:
			return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "Change %d: element(s) %s not modeled", n, unknownNames(c.Unknown))
		case c.Action != "CREATE" && c.Action != "DELETE" && c.Action != "UPSERT":
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Invalid XML ; cvc-enumeration-valid: Value '%s' is not facet-valid with respect to enumeration '[CREATE, DELETE, UPSERT]'.", c.Action)
		case rs == nil:
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Change %d has no ResourceRecordSet", n)
		case len(rs.Unknown) > 0:
			return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "Change %d: ResourceRecordSet element(s) %s not modeled (alias, routing policies and health checks are not)", n, unknownNames(rs.Unknown))
		case !slices.Contains(r53Types, rs.Type):
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Invalid XML ; cvc-enumeration-valid: Value '%s' is not facet-valid with respect to the record types.", rs.Type)
		case rs.Name == "":
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Change %d: ResourceRecordSet Name is required", n)
		case rs.TTL == nil || rs.ResourceRecords == nil || len(rs.ResourceRecords.ResourceRecord) == 0:
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=null]", c.Action, rs.Name, rs.Type)
		case len(rs.ResourceRecords.Unknown) > 0:
			return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "Change %d: ResourceRecords element(s) %s not modeled", n, unknownNames(rs.ResourceRecords.Unknown))
		}
		ttl, err := strconv.ParseInt(*rs.TTL, 10, 64)
		if err != nil || ttl < 0 || ttl > 2147483647 {
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Invalid XML ; TTL %q must be an integer from 0 to 2147483647", *rs.TTL)
		}
		set := Route53Record{Name: r53Fqdn(rs.Name), Type: rs.Type, TTL: ttl}
		for _, v := range rs.ResourceRecords.ResourceRecord {
			if len(v.Unknown) > 0 {
				return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "Change %d: ResourceRecord element(s) %s not modeled", n, unknownNames(v.Unknown))
			}
			if v.Value == "" {
				return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Invalid Resource Record: FATAL problem: EmptyValue encountered at 0")
			}
			set.Values = append(set.Values, v.Value)
		}
		ops = append(ops, op{c.Action, set})
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	z, ft := f.zone(zoneID)
	if ft != nil {
		return nil, ft
	}
	// Applied to a copy: a batch is all or nothing.
	sets := slices.Clone(z.sets)
	work := &r53Zone{id: z.id, name: z.name, sets: sets}
	var problems []string
	for _, o := range ops {
		s := o.set
		desc := fmt.Sprintf("[name='%s', type='%s']", s.Name, s.Type)
		if s.Name != z.name && !strings.HasSuffix(s.Name, "."+z.name) {
			problems = append(problems, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", s.Name, z.name))
			continue
		}
		i := work.find(s.Name, s.Type)
		switch o.action {
		case "DELETE":
			if i < 0 || work.sets[i].TTL != s.TTL || !slices.Equal(work.sets[i].Values, s.Values) {
				problems = append(problems, fmt.Sprintf("Tried to delete resource record set %s but the values provided do not match the current values", desc))
				if i < 0 {
					problems[len(problems)-1] = fmt.Sprintf("Tried to delete resource record set %s but it was not found", desc)
				}
				continue
			}
			if s.Name == z.name && (s.Type == "SOA" || s.Type == "NS") {
				problems = append(problems, fmt.Sprintf("A HostedZone must contain at least one NS record for the zone itself and exactly one SOA record; %s cannot be deleted", desc))
				continue
			}
			work.sets = slices.Delete(work.sets, i, i+1)
			continue
		case "CREATE":
			if i >= 0 {
				problems = append(problems, fmt.Sprintf("Tried to create resource record set %s but it already exists", desc))
				continue
			}
		}
		if s.Type == "CNAME" {
			if s.Name == z.name {
				problems = append(problems, fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s", s.Name, z.name))
				continue
			}
			if len(s.Values) != 1 {
				problems = append(problems, fmt.Sprintf("RRSet of type CNAME with DNS name %s has more than one resource record; a CNAME takes exactly one value", s.Name))
				continue
			}
		}
		conflict := slices.IndexFunc(work.sets, func(o Route53Record) bool {
			return o.Name == s.Name && o.Type != s.Type && (o.Type == "CNAME" || s.Type == "CNAME")
		})
		if conflict >= 0 {
			problems = append(problems, fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type %s with the same DNS name already exists in zone %s", s.Type, s.Name, work.sets[conflict].Type, z.name))
			continue
		}
		work.put(s)
	}
	if len(problems) > 0 {
		return nil, &Route53Fault{Status: http.StatusBadRequest, Code: "InvalidChangeBatch", Message: strings.Join(problems, "; "), Messages: problems}
	}
	z.sets = work.sets
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", z.id, len(f.changes), time.Now().UnixNano()))
	id := "C" + strings.ToUpper(fmt.Sprintf("%x", sum[:7]))[:13]
	ch := &r53Change{id: id, submitted: time.Now().UTC()}
	if req.ChangeBatch.Comment != nil {
		ch.comment = *req.ChangeBatch.Comment
	}
	f.changes[id] = ch
	return struct {
		XMLName    xml.Name      `xml:"ChangeResourceRecordSetsResponse"`
		ChangeInfo r53ChangeInfo `xml:"ChangeInfo"`
	}{ChangeInfo: ch.info("PENDING")}, nil
}

type r53ChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

func (c *r53Change) info(status string) r53ChangeInfo {
	return r53ChangeInfo{ID: "/change/" + c.id, Status: status, SubmittedAt: c.submitted.Format("2006-01-02T15:04:05.000Z"), Comment: c.comment}
}

func (f *Route53) getChange(id string, q url.Values, body []byte) (any, *Route53Fault) {
	if len(q) > 0 || len(body) > 0 {
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "GetChange takes no query parameters nor body")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.changes[id]
	if !ok {
		return nil, r53Error(http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist: %s", id)
	}
	pending := f.PendingPolls
	if pending == 0 {
		pending = 1
	}
	status := "INSYNC"
	if ch.polls < pending {
		status = "PENDING"
	}
	ch.polls++
	return struct {
		XMLName    xml.Name      `xml:"GetChangeResponse"`
		ChangeInfo r53ChangeInfo `xml:"ChangeInfo"`
	}{ChangeInfo: ch.info(status)}, nil
}

type r53SetXML struct {
	Name            string `xml:"Name"`
	Type            string `xml:"Type"`
	TTL             int64  `xml:"TTL"`
	ResourceRecords []struct {
		Value string `xml:"Value"`
	} `xml:"ResourceRecords>ResourceRecord"`
}

func (f *Route53) list(zoneID string, q url.Values, body []byte) (any, *Route53Fault) {
	if len(body) > 0 {
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ListResourceRecordSets takes no body")
	}
	for k, v := range q {
		if !slices.Contains([]string{"name", "type", "identifier", "maxitems"}, k) {
			return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "ListResourceRecordSets query parameter %q not modeled", k)
		}
		if len(v) != 1 {
			return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "query parameter %q given %d times", k, len(v))
		}
	}
	if q.Has("identifier") {
		return nil, r53Reject(http.StatusBadRequest, "InvalidInput", "identifier (routing policies) is not modeled")
	}
	name, typ := q.Get("name"), q.Get("type")
	if typ != "" && name == "" {
		return nil, r53Error(http.StatusBadRequest, "InvalidInput", "The input is not valid: type requires name")
	}
	if typ != "" && !slices.Contains(r53Types, typ) {
		return nil, r53Error(http.StatusBadRequest, "InvalidInput", "Invalid type: %s", typ)
	}
	max := 300
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, r53Error(http.StatusBadRequest, "InvalidInput", "maxitems %q must be a positive integer", v)
		}
		max = min(n, 300)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	z, ft := f.zone(zoneID)
	if ft != nil {
		return nil, ft
	}
	sets := slices.Clone(z.sets)
	sort.Slice(sets, func(i, j int) bool { return r53Less(sets[i], sets[j]) })
	start := 0
	if name != "" {
		from := Route53Record{Name: r53Fqdn(name), Type: typ}
		start = sort.Search(len(sets), func(i int) bool { return !r53Less(sets[i], from) })
	}
	end := min(start+max, len(sets))
	res := struct {
		XMLName        xml.Name    `xml:"ListResourceRecordSetsResponse"`
		Sets           []r53SetXML `xml:"ResourceRecordSets>ResourceRecordSet"`
		IsTruncated    bool        `xml:"IsTruncated"`
		NextRecordName string      `xml:"NextRecordName,omitempty"`
		NextRecordType string      `xml:"NextRecordType,omitempty"`
		MaxItems       int         `xml:"MaxItems"`
	}{MaxItems: max}
	for _, s := range sets[start:end] {
		x := r53SetXML{Name: s.Name, Type: s.Type, TTL: s.TTL}
		for _, v := range s.Values {
			x.ResourceRecords = append(x.ResourceRecords, struct {
				Value string `xml:"Value"`
			}{v})
		}
		res.Sets = append(res.Sets, x)
	}
	if end < len(sets) {
		res.IsTruncated, res.NextRecordName, res.NextRecordType = true, sets[end].Name, sets[end].Type
	}
	return res, nil
}

// ---- XML ----

// r53XML renders a response document in Route 53's namespace.
func r53XML(v any) []byte {
	b, err := xml.Marshal(v)
	if err != nil {
		panic("awsfake: marshal Route 53 response: " + err.Error())
	}
	// Give the root element its namespace: <Name> → <Name xmlns="…">.
	s := string(b)
	if i := strings.IndexAny(s, " >"); i > 0 {
		s = s[:i] + ` xmlns="` + route53XMLNS + `"` + s[i:]
	}
	return append([]byte(xml.Header), s...)
}

func r53ErrorXML(ft Route53Fault, reqID string) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	if ft.Code == "InvalidChangeBatch" {
		msgs := ft.Messages
		if len(msgs) == 0 {
			msgs = []string{ft.Message}
		}
		var b strings.Builder
		fmt.Fprintf(&b, `%s<InvalidChangeBatch xmlns="%s"><Messages>`, xml.Header, route53XMLNS)
		for _, m := range msgs {
			fmt.Fprintf(&b, "<Message>%s</Message>", esc(m))
		}
		fmt.Fprintf(&b, "</Messages><RequestId>%s</RequestId></InvalidChangeBatch>", reqID)
		return []byte(b.String())
	}
	typ := "Sender"
	if ft.Status >= 500 {
		typ = "Receiver"
	}
	return []byte(fmt.Sprintf(`%s<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xml.Header, route53XMLNS, typ, ft.Code, esc(ft.Message), reqID))
}
