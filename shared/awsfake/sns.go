package awsfake

// sns.go: Amazon SNS, Query protocol.

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// SNSAPIVersion is the only Version the fake accepts (the Query API version
// the SDK sends).
const SNSAPIVersion = "2010-03-31"

const snsXMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"

// snsMaxMessageBytes is Publish's limit: 256 KiB.
const snsMaxMessageBytes = 262144

// SNS is a fake Amazon SNS endpoint speaking the Query protocol:
// form-encoded POSTs with Action=…&Version=2010-03-31, answered with
// <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…
// documents and <ErrorResponse><Error><Type/><Code/><Message/></Error>
// errors with the status SNS uses.
//
// It models one action, Publish to a topic (TopicArn, Message, Subject),
// strictly: another action is 400 InvalidAction; a missing TopicArn or
// Message, a parameter the fake does not model (TargetArn, PhoneNumber,
// MessageStructure, MessageAttributes, …) or a request without a SigV4
// Authorization header scoped to sns is rejected with a message starting
// "awsfake:" and, on a fake started with StartSNS, also fails the test.
// As SNS does, it answers 404 NotFound for a topic that does not exist
// (AddTopic), and 400 InvalidParameter for a Subject of 100 characters or
// more or with line breaks or control characters, or a Message over
// 256 KiB.
//
// Every request is recorded (Calls), including the ones answered with an
// injected fault (FailNext); Published lists the messages accepted.
type SNS struct {
	mu        sync.Mutex
	topics    map[string]bool
	faults    []snsFaultRule
	calls     []SNSCall
	published []SNSMessage
	requests  int
	server    *httptest.Server
	t         testing.TB // set by StartSNS: rejections fail it
}

// SNSCall is one request the fake received.
type SNSCall struct {
	Action string
	Params url.Values // every form parameter, Action and Version included
	Status int        // the HTTP status answered
	Code   string     // the error code answered, "" on success
}

// SNSMessage is one message the fake accepted.
type SNSMessage struct {
	TopicARN  string
	Subject   string
	Message   string
	MessageID string
}

// SNSFault is an error the fake answers with.
type SNSFault struct {
	Status  int    // HTTP status
	Code    string // Error/Code, e.g. "Throttled"
	Message string
}

// SNSThrottled is the fault SNS answers when a caller exceeds its request
// rate: 429 Throttled (ThrottledException). The SDK's standard retryer
// does not count "Throttled" among its throttling codes.
func SNSThrottled() SNSFault {
	return SNSFault{Status: http.StatusTooManyRequests, Code: "Throttled", Message: "Rate exceeded"}
}

// SNSAuthorizationError is the fault SNS answers when IAM does not allow
// publishing to topicARN.
func SNSAuthorizationError(topicARN string) SNSFault {
	return SNSFault{Status: http.StatusForbidden, Code: "AuthorizationError",
		Message: "User: arn:aws:sts::123456789012:assumed-role/switchback/test is not authorized to perform: SNS:Publish on resource: " + topicARN +
			" because no identity-based policy allows the SNS:Publish action"}
}

type snsFaultRule struct {
	topic string // "" matches every request
	left  int
	fault SNSFault
}

// NewSNS returns a fake with no topics, to mount as an http.Handler.
// StartSNS also starts a server for it.
func NewSNS() *SNS { return &SNS{topics: map[string]bool{}} }

// StartSNS starts a fake SNS endpoint on a local port, closed when t ends.
// Requests the fake rejects as malformed fail t.
func StartSNS(t testing.TB) *SNS {
	t.Helper()
	f := NewSNS()
	f.t = t
	f.server = httptest.NewServer(f)
	t.Cleanup(f.server.Close)
	return f
}

// URL is the endpoint (BaseEndpoint, AWS_ENDPOINT_URL_SNS) of a started
// fake.
func (f *SNS) URL() string { return f.server.URL }

// EndpointEnv is the environment variable that points an SDK client (a
// function's bootstrap) at the started fake.
func (f *SNS) EndpointEnv() string { return "AWS_ENDPOINT_URL_SNS=" + f.URL() }

// Config is an aws.Config for the started fake: region us-east-1, static
// credentials, BaseEndpoint set to the fake, and the SDK's standard retryer
// with only the backoff shortened to a few milliseconds.
func (f *SNS) Config() aws.Config {
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

// Client is a real *sns.Client pointed at the started fake.
func (f *SNS) Client() *sns.Client { return sns.NewFromConfig(f.Config()) }

// AddTopic makes a topic exist.
func (f *SNS) AddTopic(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[arn] = true
}

// FailNext makes the next n Publish requests to topicARN ("" for any
// request) fail with fault, before they are looked at. Rules queue up in
// order.
func (f *SNS) FailNext(topicARN string, n int, fault SNSFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, snsFaultRule{topic: topicARN, left: n, fault: fault})
}

// Calls returns the requests received for action ("" for all), in order.
func (f *SNS) Calls(action string) []SNSCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SNSCall
	for _, c := range f.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// Published returns the messages accepted for topicARN ("" for all), in
// order.
func (f *SNS) Published(topicARN string) []SNSMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SNSMessage
	for _, m := range f.published {
		if topicARN == "" || m.TopicARN == topicARN {
			out = append(out, m)
		}
	}
	return out
}

// ServeHTTP implements http.Handler.
func (f *SNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.mu.Unlock()
	reqID := fmt.Sprintf("00000000-0000-4000-8002-%012d", n)

	call := SNSCall{}
	status, body, rejected := f.serve(r, &call, reqID, n)
	call.Status = status
	f.mu.Lock()
	f.calls = append(f.calls, call)
	t := f.t
	f.mu.Unlock()
	if rejected != "" && t != nil {
		t.Errorf("awsfake: SNS rejected a request it does not understand (%s %s, Action %q): %s", r.Method, r.URL, call.Action, rejected)
	}

	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// snsPublishParams are the Publish parameters the fake models.
var snsPublishParams = map[string]bool{"Action": true, "Version": true, "TopicArn": true, "Message": true, "Subject": true}

func (f *SNS) serve(r *http.Request, call *SNSCall, reqID string, n int) (status int, body []byte, rejected string) {
	fail := func(ft SNSFault) (int, []byte, string) {
		call.Code = ft.Code
		return ft.Status, snsErrorXML(ft, reqID), ""
	}
	reject := func(status int, code, msg string) (int, []byte, string) {
		st, b, _ := fail(SNSFault{Status: status, Code: code, Message: "awsfake: " + msg})
		return st, b, msg
	}
	if r.Method != http.MethodPost {
		return reject(http.StatusBadRequest, "InvalidAction", "the Query protocol uses POST, got "+r.Method)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return reject(http.StatusBadRequest, "MalformedQueryString", "Content-Type must be application/x-www-form-urlencoded, got "+ct)
	}
	if err := r.ParseForm(); err != nil {
		return reject(http.StatusBadRequest, "MalformedQueryString", err.Error())
	}
	call.Params = r.PostForm
	call.Action = r.PostForm.Get("Action")
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/sns/aws4_request") {
		return reject(http.StatusForbidden, "MissingAuthenticationToken", "request is not SigV4-signed for the sns service")
	}
	if call.Action != "Publish" {
		return reject(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("action %q is not supported by the fake SNS (only Publish)", call.Action))
	}
	if v := r.PostForm.Get("Version"); v != SNSAPIVersion {
		return reject(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Version must be %s, got %q", SNSAPIVersion, v))
	}
	for name := range r.PostForm {
		if !snsPublishParams[name] {
			return reject(http.StatusBadRequest, "InvalidParameter", fmt.Sprintf("Publish parameter %q is not modeled by the fake SNS (TopicArn, Message, Subject)", name))
		}
	}
	topic, message := r.PostForm.Get("TopicArn"), r.PostForm.Get("Message")
	subject, hasSubject := r.PostForm.Get("Subject"), r.PostForm.Has("Subject")
	if topic == "" {
		return reject(http.StatusBadRequest, "InvalidParameter", "Publish: TopicArn is required by the fake SNS")
	}
	if !r.PostForm.Has("Message") {
		return reject(http.StatusBadRequest, "InvalidParameter", "Publish: Message is required")
	}

	f.mu.Lock()
	ft, faulted := f.takeFault(topic)
	exists := f.topics[topic]
	f.mu.Unlock()
	switch {
	case faulted:
		return fail(ft)
	case message == "":
		return fail(SNSFault{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Empty message"})
	case len(message) > snsMaxMessageBytes:
		return fail(SNSFault{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Message too long"})
	case !utf8.ValidString(message):
		return fail(SNSFault{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Message must be UTF-8"})
	case hasSubject && !snsValidSubject(subject):
		return fail(SNSFault{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Subject"})
	case !exists:
		return fail(SNSFault{http.StatusNotFound, "NotFound", "Topic does not exist"})
	}
	id := fmt.Sprintf("00000000-0000-4000-9002-%012d", n)
	f.mu.Lock()
	f.published = append(f.published, SNSMessage{TopicARN: topic, Subject: subject, Message: message, MessageID: id})
	f.mu.Unlock()
	return http.StatusOK, []byte(fmt.Sprintf(`<PublishResponse xmlns="%s"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`,
		snsXMLNS, id, reqID)), ""
}

// snsValidSubject: "Subjects must be UTF-8 text with no line breaks or
// control characters, and less than 100 characters long" (SNS API
// reference, Publish).
func snsValidSubject(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) >= 100 {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// takeFault pops the first matching fault. f.mu is held.
func (f *SNS) takeFault(topic string) (SNSFault, bool) {
	for i := range f.faults {
		rule := &f.faults[i]
		if rule.left > 0 && (rule.topic == "" || rule.topic == topic) {
			rule.left--
			return rule.fault, true
		}
	}
	return SNSFault{}, false
}

func snsErrorXML(ft SNSFault, reqID string) []byte {
	typ := "Sender"
	if ft.Status >= 500 {
		typ = "Receiver"
	}
	var msg strings.Builder
	_ = xml.EscapeText(&msg, []byte(ft.Message))
	return []byte(fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		snsXMLNS, typ, ft.Code, msg.String(), reqID))
}
