// Package lambdatest runs real Lambda function binaries in tests. Server is
// a local Lambda Runtime API (the HTTP API a custom runtime such as
// aws-lambda-go's polls for invocations); Start and Run start a built
// bootstrap with AWS_LAMBDA_RUNTIME_API pointing at one, hand it payloads
// one at a time and collect what it answers; Build compiles a function for
// the host so it runs here. No emulator is needed: the Runtime API is small.
//
// Runtime API: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Runtime API's version path and headers.
const (
	apiPrefix = "/2018-06-01/runtime"

	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadline    = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	HeaderErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// Result is what a function answered to one invocation.
type Result struct {
	// RequestID is the invocation's Lambda-Runtime-Aws-Request-Id.
	RequestID string
	// Response is the body the function posted to …/response; nil when
	// it reported an error.
	Response []byte
	// Error is what the function posted to …/error, or nil.
	Error *FunctionError
}

// FunctionError is an error a function reported, to …/invocation/{id}/error
// or …/init/error.
type FunctionError struct {
	// Type is the Lambda-Runtime-Function-Error-Type header, or the body's
	// errorType when the header is absent (aws-lambda-go sends only the
	// body: the Go type name of the error, e.g. "errorString").
	Type string
	// Message is the body's errorMessage.
	Message string
	// Body is the body as posted.
	Body []byte
}

// Error is "Type: Message".
func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Server is a local Lambda Runtime API. The function under test polls
// GET /2018-06-01/runtime/invocation/next, which blocks until Invoke queues
// a payload, and answers with POST …/invocation/{id}/response or
// …/invocation/{id}/error; an initialization failure is POST
// …/runtime/init/error. Each invocation carries the headers Lambda sets:
// Lambda-Runtime-Aws-Request-Id (a fresh UUID), Lambda-Runtime-Deadline-Ms,
// Lambda-Runtime-Invoked-Function-Arn and Lambda-Runtime-Trace-Id.
//
// A request outside the API, or an answer for an unknown or already
// answered invocation, is refused and fails the test.
type Server struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn. Set it
	// before the first Invoke.
	FunctionARN string

	t      testing.TB
	srv    *httptest.Server
	queue  chan *invocation
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	pending map[string]*invocation
	initErr *FunctionError
	// clientContext is sent as Lambda-Runtime-Client-Context.
	clientContext string
}

// SetClientContext makes every later invocation carry clientContext as
// Lambda-Runtime-Client-Context (what aws lambda invoke --client-context
// carries: JSON with "custom", "env" and "client"); "" sends none.
func (s *Server) SetClientContext(clientContext string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientContext = clientContext
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	traceID  string
	done     chan Result // buffered: the first answer
	answered bool
}

// NewServer starts a Runtime API server on a local port, closed when t
// ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:lambdatest",
		t:           t,
		queue:       make(chan *invocation),
		closed:      make(chan struct{}),
		pending:     map[string]*invocation{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// Close stops the server; pending polls for the next invocation end.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// InitError returns what the function posted to …/runtime/init/error, or
// nil.
func (s *Server) InitError() *FunctionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initErr
}

// Invoke hands payload to the function with the given deadline and waits
// for its answer, until ctx ends (then it returns context.Cause(ctx)).
func (s *Server) Invoke(ctx context.Context, payload []byte, deadline time.Time) (Result, error) {
	inv := &invocation{id: newUUID(), payload: payload, deadline: deadline, traceID: newTraceID(), done: make(chan Result, 1)}
	s.mu.Lock()
	s.pending[inv.id] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, inv.id)
		s.mu.Unlock()
	}()
	select {
	case s.queue <- inv:
	case <-ctx.Done():
		return Result{RequestID: inv.id}, fmt.Errorf("the function did not ask for the invocation: %w", context.Cause(ctx))
	case <-s.closed:
		return Result{RequestID: inv.id}, fmt.Errorf("the Runtime API server is closed")
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return Result{RequestID: inv.id}, fmt.Errorf("the function did not answer invocation %s: %w", inv.id, context.Cause(ctx))
	case <-s.closed:
		return Result{RequestID: inv.id}, fmt.Errorf("the Runtime API server is closed")
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	switch {
	case r.Method == http.MethodGet && path == "/invocation/next":
		s.next(w, r)
	case r.Method == http.MethodPost && path == "/init/error":
		s.initError(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/invocation/") &&
		(strings.HasSuffix(path, "/response") || strings.HasSuffix(path, "/error")):
		rest := strings.TrimPrefix(path, "/invocation/")
		id, kind, _ := strings.Cut(rest, "/")
		s.answer(w, r, id, kind)
	default:
		s.refuse(w, http.StatusNotFound, "UnknownEndpoint", fmt.Sprintf("%s %s is not part of the Runtime API", r.Method, r.URL.Path))
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-s.queue:
	case <-r.Context().Done():
		return
	case <-s.closed:
		http.Error(w, "runtime API server closed", http.StatusGone)
		return
	}
	h := w.Header()
	h.Set(HeaderRequestID, inv.id)
	h.Set(HeaderDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(HeaderFunctionARN, s.FunctionARN)
	h.Set(HeaderTraceID, inv.traceID)
	s.mu.Lock()
	if s.clientContext != "" {
		h.Set("Lambda-Runtime-Client-Context", s.clientContext)
	}
	s.mu.Unlock()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, id, kind string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	s.mu.Lock()
	inv, ok := s.pending[id]
	already := ok && inv.answered
	if ok {
		inv.answered = true
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.refuse(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is in progress")
		return
	case already:
		s.refuse(w, http.StatusBadRequest, "InvalidStateTransition", "invocation "+id+" was already answered")
		return
	}
	res := Result{RequestID: id}
	if kind == "response" {
		res.Response = body
	} else {
		res.Error = parseFunctionError(r.Header.Get(HeaderErrorType), body)
	}
	inv.done <- res
	accepted(w)
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	s.mu.Lock()
	s.initErr = parseFunctionError(r.Header.Get(HeaderErrorType), body)
	s.mu.Unlock()
	accepted(w)
}

// refuse answers an error as the Runtime API does and fails the test: the
// function broke the protocol.
func (s *Server) refuse(w http.ResponseWriter, status int, typ, msg string) {
	s.t.Errorf("lambdatest: Runtime API refused a request: %s: %s", typ, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func parseFunctionError(header string, body []byte) *FunctionError {
	e := &FunctionError{Type: header, Body: body}
	var b struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Message = b.Message
		if e.Type == "" {
			e.Type = b.Type
		}
	}
	return e
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID, as Lambda request ids are.
func newUUID() string {
	h := []byte(randomHex(16))
	h[12] = '4'
	h[16] = "89ab"[h[16]%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// newTraceID returns an X-Ray trace header as Lambda sends it.
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8))
}
