package awsfake

// lambda.go: AWS Lambda Invoke, REST-JSON protocol.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// lambdaMaxAsyncPayload is the payload limit of an Event invocation (1 MB;
// 6 MB for RequestResponse).
const (
	lambdaMaxAsyncPayload = 1 << 20
	lambdaMaxSyncPayload  = 6 << 20
)

// Lambda is a fake AWS Lambda endpoint for Invoke, speaking REST-JSON:
// POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=…] with
// the X-Amz-Invocation-Type header (Event, RequestResponse or DryRun;
// RequestResponse when absent) and the payload as the body. An Event
// invocation is answered 202 with an empty body, RequestResponse 200 with
// the function's result ("null" unless ReplyNext says otherwise), DryRun
// 204. Errors are a JSON body {"Type":"User","Message":"…"} with the code in
// the X-Amzn-ErrorType header and the status Lambda uses.
//
// Anything else (another method or path, an unknown header value or query
// parameter, a request without a SigV4 Authorization header scoped to
// lambda) is rejected with a message starting "awsfake:" and, on a fake
// started with StartLambda, also fails the test. As Lambda does, it answers
// 404 ResourceNotFoundException for a function that does not exist
// (AddFunction), 400 InvalidRequestContentException for a payload that is
// not JSON, and 413 RequestTooLargeException for one over the limit.
//
// Every request is recorded (Calls), including the ones answered with an
// injected fault (FailNext) or reply (ReplyNext).
type Lambda struct {
	mu        sync.Mutex
	functions map[string]bool // by name
	faults    []lambdaFaultRule
	replies   []lambdaReplyRule
	calls     []LambdaCall
	requests  int
	server    *httptest.Server
	t         testing.TB // set by StartLambda: rejections fail it
}

// LambdaCall is one Invoke request the fake received.
type LambdaCall struct {
	// FunctionName is the path parameter as sent (a name, an ARN or a
	// partial ARN, unescaped); Function is the function's name in it.
	FunctionName string
	Function     string
	// Qualifier is the version or alias, from the query or the ARN.
	Qualifier string
	// InvocationType is the X-Amz-Invocation-Type header ("" when absent).
	InvocationType string
	Payload        []byte
	Status         int    // the HTTP status answered
	Code           string // the error code answered, "" on success
}

// LambdaFault is an API error the fake answers with.
type LambdaFault struct {
	Status  int    // HTTP status
	Code    string // X-Amzn-ErrorType, e.g. "TooManyRequestsException"
	Message string
}

// LambdaTooManyRequests is the fault Lambda answers when the request rate or
// the concurrency limit is exceeded (the SDK retries it).
func LambdaTooManyRequests() LambdaFault {
	return LambdaFault{Status: http.StatusTooManyRequests, Code: "TooManyRequestsException", Message: "Rate Exceeded."}
}

// LambdaAccessDenied is the fault Lambda answers when IAM does not allow
// lambda:InvokeFunction on the function.
func LambdaAccessDenied(function string) LambdaFault {
	return LambdaFault{Status: http.StatusForbidden, Code: "AccessDeniedException",
		Message: "User: arn:aws:sts::123456789012:assumed-role/switchback/test is not authorized to perform: lambda:InvokeFunction on resource: " +
			lambdaARN(function) + " because no identity-based policy allows the lambda:InvokeFunction action"}
}

// LambdaReply overrides how the fake answers an Invoke that it accepts.
type LambdaReply struct {
	// Status is the HTTP status; 0 means the usual one for the invocation
	// type (202, 200 or 204).
	Status int
	// FunctionError is the X-Amz-Function-Error header ("Unhandled").
	FunctionError string
	// Payload is the response body.
	Payload []byte
}

type lambdaFaultRule struct {
	function string // a function name; "" matches every request
	left     int
	fault    LambdaFault
}

type lambdaReplyRule struct {
	function string
	left     int
	reply    LambdaReply
}

// NewLambda returns a fake with no functions, to mount as an http.Handler.
// StartLambda also starts a server for it.
func NewLambda() *Lambda { return &Lambda{functions: map[string]bool{}} }

// StartLambda starts a fake Lambda endpoint on a local port, closed when t
// ends. Requests the fake rejects as malformed fail t.
func StartLambda(t testing.TB) *Lambda {
	t.Helper()
	f := NewLambda()
	f.t = t
	f.server = httptest.NewServer(f)
	t.Cleanup(f.server.Close)
	return f
}

// URL is the endpoint (BaseEndpoint, AWS_ENDPOINT_URL_LAMBDA) of a started
// fake.
func (f *Lambda) URL() string { return f.server.URL }

// EndpointEnv is the environment variable that points an SDK client (a
// function's bootstrap) at the started fake.
func (f *Lambda) EndpointEnv() string { return "AWS_ENDPOINT_URL_LAMBDA=" + f.URL() }

// Config is an aws.Config for the started fake: region us-east-1, static
// credentials, BaseEndpoint set to the fake, and the SDK's standard retryer
// with only the backoff shortened to a few milliseconds.
func (f *Lambda) Config() aws.Config {
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

// Client is a real *lambda.Client pointed at the started fake.
func (f *Lambda) Client() *lambda.Client { return lambda.NewFromConfig(f.Config()) }

// AddFunction makes a function exist, by name.
func (f *Lambda) AddFunction(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.functions[name] = true
}

// FailNext makes the next n invocations of function (a name; "" for any)
// fail with fault, before they are looked at. Rules queue up in order.
func (f *Lambda) FailNext(function string, n int, fault LambdaFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, lambdaFaultRule{function: function, left: n, fault: fault})
}

// ReplyNext makes the fake answer the next n accepted invocations of
// function (a name; "" for any) with reply.
func (f *Lambda) ReplyNext(function string, n int, reply LambdaReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies = append(f.replies, lambdaReplyRule{function: function, left: n, reply: reply})
}

// Calls returns the invocations received for function (a name; "" for
// all), in order.
func (f *Lambda) Calls(function string) []LambdaCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []LambdaCall
	for _, c := range f.calls {
		if function == "" || c.Function == function {
			out = append(out, c)
		}
	}
	return out
}

// lambdaFunctionRe is the Lambda API's FunctionName pattern: a name, a
// partial ARN (account:function:name) or an ARN, with an optional qualifier.
var lambdaFunctionRe = regexp.MustCompile(`^(?:arn:aws[a-zA-Z-]*:lambda:)?(?:[a-z]{2}(?:-gov)?-[a-z]+-\d:)?(?:\d{12}:)?(?:function:)?([a-zA-Z0-9_-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$`)

func lambdaARN(name string) string { return "arn:aws:lambda:us-east-1:123456789012:function:" + name }

// ServeHTTP implements http.Handler.
func (f *Lambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	reqID := fmt.Sprintf("00000000-0000-4000-8003-%012d", f.requests)
	f.mu.Unlock()

	call := LambdaCall{InvocationType: r.Header.Get("X-Amz-Invocation-Type")}
	status, hdr, body, rejected := f.serve(r, &call)
	call.Status = status
	f.mu.Lock()
	f.calls = append(f.calls, call)
	t := f.t
	f.mu.Unlock()
	if rejected != "" && t != nil {
		t.Errorf("awsfake: Lambda rejected a request it does not understand (%s %s): %s", r.Method, r.URL, rejected)
	}

	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (f *Lambda) serve(r *http.Request, call *LambdaCall) (status int, hdr http.Header, body []byte, rejected string) {
	fail := func(ft LambdaFault) (int, http.Header, []byte, string) {
		call.Code = ft.Code
		b, _ := json.Marshal(map[string]string{"Type": "User", "Message": ft.Message})
		return ft.Status, http.Header{"Content-Type": {"application/json"}, "X-Amzn-Errortype": {ft.Code}}, b, ""
	}
	reject := func(status int, code, msg string) (int, http.Header, []byte, string) {
		st, h, b, _ := fail(LambdaFault{Status: status, Code: code, Message: "awsfake: " + msg})
		return st, h, b, msg
	}

	// /2015-03-31/functions/{FunctionName}/invocations, FunctionName escaped.
	segs := strings.Split(r.URL.EscapedPath(), "/")
	if r.Method != http.MethodPost || len(segs) != 5 || segs[0] != "" || segs[1] != "2015-03-31" || segs[2] != "functions" || segs[4] != "invocations" {
		return reject(http.StatusNotFound, "UnknownOperationException", "the fake Lambda serves only Invoke (POST /2015-03-31/functions/{FunctionName}/invocations), got "+r.Method+" "+r.URL.Path)
	}
	name, err := url.PathUnescape(segs[3])
	if err != nil {
		return reject(http.StatusBadRequest, "InvalidParameterValueException", "FunctionName: "+err.Error())
	}
	call.FunctionName = name
	m := lambdaFunctionRe.FindStringSubmatch(name)
	if m == nil || len(name) > 170 {
		return reject(http.StatusBadRequest, "ValidationException", fmt.Sprintf("FunctionName %q is not a function name or ARN", name))
	}
	call.Function, call.Qualifier = m[1], m[2]
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/lambda/aws4_request") {
		return reject(http.StatusForbidden, "MissingAuthenticationTokenException", "request is not SigV4-signed for the lambda service")
	}
	for k, v := range r.URL.Query() {
		if k != "Qualifier" || len(v) != 1 {
			return reject(http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf("query parameter %q is not modeled by the fake Lambda (only Qualifier)", k))
		}
		if call.Qualifier != "" && call.Qualifier != v[0] {
			return reject(http.StatusBadRequest, "InvalidParameterValueException", "Qualifier "+v[0]+" disagrees with the function ARN's "+call.Qualifier)
		}
		call.Qualifier = v[0]
	}
	for _, h := range []string{"X-Amz-Client-Context", "X-Amz-Log-Type", "X-Amz-Tenant-Id", "X-Amz-Durable-Execution-Name"} {
		if r.Header.Get(h) != "" {
			return reject(http.StatusBadRequest, "InvalidParameterValueException", "header "+h+" is not modeled by the fake Lambda")
		}
	}
	limit := lambdaMaxSyncPayload
	switch call.InvocationType {
	case "Event":
		limit = lambdaMaxAsyncPayload
	case "", "RequestResponse", "DryRun":
	default:
		return reject(http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf("X-Amz-Invocation-Type %q: want Event, RequestResponse or DryRun", call.InvocationType))
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return reject(http.StatusBadRequest, "InvalidRequestContentException", "read payload: "+err.Error())
	}
	call.Payload = payload

	f.mu.Lock()
	ft, faulted := f.takeFault(call.Function)
	exists := f.functions[call.Function]
	var reply LambdaReply
	replied := false
	if !faulted && exists {
		reply, replied = f.takeReply(call.Function)
	}
	f.mu.Unlock()
	switch {
	case faulted:
		return fail(ft)
	case !exists:
		return fail(LambdaFault{http.StatusNotFound, "ResourceNotFoundException", "Function not found: " + lambdaARN(call.Function)})
	case len(payload) > limit:
		return fail(LambdaFault{http.StatusRequestEntityTooLarge, "RequestTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", limit)})
	case len(payload) > 0 && !json.Valid(payload):
		return fail(LambdaFault{http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: Unexpected character"})
	}
	hdr = http.Header{"X-Amz-Executed-Version": {"$LATEST"}}
	switch call.InvocationType {
	case "Event":
		status = http.StatusAccepted
	case "DryRun":
		status = http.StatusNoContent
	default:
		status, body = http.StatusOK, []byte("null")
		hdr.Set("Content-Type", "application/json")
	}
	if replied {
		if reply.Status != 0 {
			status = reply.Status
		}
		if reply.FunctionError != "" {
			hdr.Set("X-Amz-Function-Error", reply.FunctionError)
		}
		if reply.Payload != nil {
			body = reply.Payload
		}
	}
	return status, hdr, body, ""
}

// takeFault pops the first matching fault. f.mu is held.
func (f *Lambda) takeFault(function string) (LambdaFault, bool) {
	for i := range f.faults {
		rule := &f.faults[i]
		if rule.left > 0 && (rule.function == "" || rule.function == function) {
			rule.left--
			return rule.fault, true
		}
	}
	return LambdaFault{}, false
}

// takeReply pops the first matching reply. f.mu is held.
func (f *Lambda) takeReply(function string) (LambdaReply, bool) {
	for i := range f.replies {
		rule := &f.replies[i]
		if rule.left > 0 && (rule.function == "" || rule.function == function) {
			rule.left--
			return rule.reply, true
		}
	}
	return LambdaReply{}, false
}
