package lambdatest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo builds the test-only function in testdata/echo.
func echo(t *testing.T) string {
	t.Helper()
	return Build(t, "./testdata/echo")
}

type echoResponse struct {
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	DeadlineMS  int64  `json:"deadline_ms"`
	Echo        string `json:"echo"`
	Env         string `json:"env"`
}

func TestRun(t *testing.T) {
	bin := echo(t)
	start := time.Now()
	results := Run(t, bin, []string{"ECHO_VAR=hello", "AWS_LAMBDA_FUNCTION_NAME=switchback-echo"},
		[]byte(`{"echo":"one","env":"ECHO_VAR"}`),
		[]byte(`{"fail":"boom"}`),
		[]byte(`{"echo":"two","env":"AWS_ACCESS_KEY_ID"}`),
	)
	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	ids := map[string]bool{}
	for i, r := range results {
		if r.RequestID == "" || ids[r.RequestID] {
			t.Errorf("result %d: request id %q is empty or repeated", i, r.RequestID)
		}
		ids[r.RequestID] = true
	}

	var one echoResponse
	if results[0].Error != nil || json.Unmarshal(results[0].Response, &one) != nil {
		t.Fatalf("result 0 = %s, %v", results[0].Response, results[0].Error)
	}
	// The request id reached the handler through lambdacontext.
	if one.RequestID != results[0].RequestID {
		t.Errorf("handler saw request id %q, the invocation was %q", one.RequestID, results[0].RequestID)
	}
	if one.FunctionARN != "arn:aws:lambda:us-east-1:123456789012:function:switchback-echo" {
		t.Errorf("handler saw function ARN %q", one.FunctionARN)
	}
	if one.Echo != "one" || one.Env != "hello" {
		t.Errorf("result 0 = %+v", one)
	}
	if d := time.UnixMilli(one.DeadlineMS); d.Before(start.Add(DefaultTimeout-time.Second)) || d.After(time.Now().Add(DefaultTimeout)) {
		t.Errorf("handler's deadline %v is not about %v from now", d, DefaultTimeout)
	}

	// An error comes back as an error invocation: aws-lambda-go sends the
	// error's type name and message.
	if e := results[1].Error; results[1].Response != nil || e == nil || e.Type != "echoError" || e.Message != "boom" {
		t.Errorf("result 1 = response %q, error %+v; want error echoError: boom", results[1].Response, e)
	}

	// The function goes on after an error; the test credentials are set.
	var two echoResponse
	if results[2].Error != nil || json.Unmarshal(results[2].Response, &two) != nil || two.Echo != "two" || two.Env != "AKIDLAMBDATEST" {
		t.Errorf("result 2 = %s, %v", results[2].Response, results[2].Error)
	}
}

func TestStartStop(t *testing.T) {
	f := Start(t, echo(t), nil)
	r, err := f.Invoke([]byte(`{"echo":"x"}`))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	exit := f.Stop()
	if !exit.Signaled || exit.InitError != nil {
		t.Errorf("Stop = %+v, want a process ended by a signal", exit)
	}
	if !strings.Contains(exit.Output, `"request_id":"`+r.RequestID+`"`) {
		t.Errorf("output does not hold the handler's log line for %s:\n%s", r.RequestID, exit.Output)
	}
	if _, err := f.Invoke([]byte(`{}`)); err == nil {
		t.Error("Invoke after Stop succeeded")
	}
	if again := f.Stop(); again.Output != exit.Output {
		t.Error("a second Stop returned another Exit")
	}
}

func TestInitError(t *testing.T) {
	f := Start(t, echo(t), []string{"ECHO_INIT_ERROR=SWITCHBACK_TABLE: required"})
	exit, err := f.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if exit.Code != 1 || exit.Signaled {
		t.Errorf("exit = %+v, want status 1", exit)
	}
	if e := exit.InitError; e == nil || e.Type != "Runtime.InitError" || e.Message != "SWITCHBACK_TABLE: required" {
		t.Errorf("init error = %+v", e)
	}
	if !strings.Contains(exit.Output, "init failed: SWITCHBACK_TABLE: required") {
		t.Errorf("output = %q", exit.Output)
	}
	_, err = f.Invoke([]byte(`{}`))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Exit.Code != 1 || !strings.Contains(err.Error(), "init error (Runtime.InitError: SWITCHBACK_TABLE: required)") {
		t.Errorf("Invoke after exit: %v, want an *ExitError naming the init error", err)
	}
}

// errorSpy records Errorf instead of failing.
type errorSpy struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (s *errorSpy) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, format)
}

// TestServerRefusesProtocolErrors: answers for unknown or answered
// invocations and paths outside the API are refused and fail the test.
func TestServerRefusesProtocolErrors(t *testing.T) {
	spy := &errorSpy{TB: t}
	s := NewServer(spy)
	base := "http://" + s.Addr() + "/2018-06-01/runtime"
	for _, c := range []struct{ method, url string }{
		{http.MethodPost, base + "/invocation/nope/response"},
		{http.MethodPost, base + "/invocation/nope/error"},
		{http.MethodGet, base + "/invocation/x/response"},
		{http.MethodGet, "http://" + s.Addr() + "/2020-01-01/runtime/invocation/next"},
	} {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s %s: status %d, want an error", c.method, c.url, resp.StatusCode)
		}
	}
	if len(spy.errs) != 4 {
		t.Errorf("%d test errors, want 4", len(spy.errs))
	}
}
