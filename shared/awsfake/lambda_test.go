package awsfake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/switchback/switchback/shared/awsfake"
)

func TestLambdaInvoke(t *testing.T) {
	f := awsfake.StartLambda(t)
	f.AddFunction("configure")
	c := f.Client()
	ctx := context.Background()
	tests := []struct {
		name     string
		in       *lambda.InvokeInput
		status   int32
		payload  string
		function string
		qual     string
	}{
		{"event", &lambda.InvokeInput{FunctionName: aws.String("configure"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"a":1}`)}, 202, "", "configure", ""},
		{"event by ARN", &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:configure:live"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)}, 202, "", "configure", "live"},
		{"partial ARN and qualifier", &lambda.InvokeInput{FunctionName: aws.String("123456789012:function:configure"), Qualifier: aws.String("7"), InvocationType: types.InvocationTypeEvent}, 202, "", "configure", "7"},
		{"request-response", &lambda.InvokeInput{FunctionName: aws.String("configure"), Payload: []byte(`{}`)}, 200, "null", "configure", ""},
		{"dry run", &lambda.InvokeInput{FunctionName: aws.String("configure"), InvocationType: types.InvocationTypeDryRun}, 204, "", "configure", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.Invoke(ctx, tt.in)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if out.StatusCode != tt.status || string(out.Payload) != tt.payload || out.FunctionError != nil {
				t.Errorf("Invoke = status %d, payload %q, function error %v", out.StatusCode, out.Payload, out.FunctionError)
			}
			calls := f.Calls("")
			last := calls[len(calls)-1]
			if last.Function != tt.function || last.Qualifier != tt.qual || last.FunctionName != aws.ToString(tt.in.FunctionName) ||
				string(last.Payload) != string(tt.in.Payload) || last.InvocationType != string(tt.in.InvocationType) {
				t.Errorf("recorded %+v", last)
			}
		})
	}
}

func TestLambdaErrors(t *testing.T) {
	f := awsfake.StartLambda(t)
	f.AddFunction("configure")
	c := f.Client()
	ctx := context.Background()
	event := func(name string, payload string) *lambda.InvokeInput {
		return &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeEvent, Payload: []byte(payload)}
	}
	if _, err := c.Invoke(ctx, event("missing", "{}")); wireCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown function: %v, want ResourceNotFoundException", err)
	}
	if _, err := c.Invoke(ctx, event("configure", "not json")); wireCode(err) != "InvalidRequestContentException" {
		t.Errorf("payload not JSON: %v, want InvalidRequestContentException", err)
	}
	if _, err := c.Invoke(ctx, event("configure", `"`+strings.Repeat("x", 1<<20)+`"`)); wireCode(err) != "RequestTooLargeException" {
		t.Errorf("payload over 1 MB: %v, want RequestTooLargeException", err)
	}
	f.FailNext("configure", 1, awsfake.LambdaTooManyRequests())
	if _, err := c.Invoke(ctx, event("configure", "{}")); err != nil {
		t.Errorf("Invoke after one throttle (the SDK retries): %v", err)
	}
	f.FailNext("", 1, awsfake.LambdaAccessDenied("configure"))
	if _, err := c.Invoke(ctx, event("configure", "{}")); wireCode(err) != "AccessDeniedException" {
		t.Errorf("denied: %v, want AccessDeniedException", err)
	}
	f.ReplyNext("configure", 1, awsfake.LambdaReply{Status: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"x"}`)})
	out, err := c.Invoke(ctx, event("configure", "{}"))
	if err != nil || out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != `{"errorMessage":"x"}` {
		t.Errorf("ReplyNext: %+v, %v", out, err)
	}
}

func TestLambdaRejects(t *testing.T) {
	f := awsfake.NewLambda()
	f.AddFunction("configure")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	inv := srv.URL + "/2015-03-31/functions/configure/invocations"
	signed := map[string]string{"Authorization": wireSigV4("lambda"), "X-Amz-Invocation-Type": "Event"}
	tests := []struct {
		name   string
		method string
		url    string
		header map[string]string
		status int
		code   string
	}{
		{"GET", "GET", inv, signed, 404, "UnknownOperationException"},
		{"other path", "POST", srv.URL + "/2015-03-31/functions/configure", signed, 404, "UnknownOperationException"},
		{"old API version", "POST", srv.URL + "/2014-11-13/functions/configure/invocations", signed, 404, "UnknownOperationException"},
		{"bad function name", "POST", srv.URL + "/2015-03-31/functions/con%20figure/invocations", signed, 400, "ValidationException"},
		{"unsigned", "POST", inv, map[string]string{"X-Amz-Invocation-Type": "Event"}, 403, "MissingAuthenticationTokenException"},
		{"unknown invocation type", "POST", inv, map[string]string{"Authorization": wireSigV4("lambda"), "X-Amz-Invocation-Type": "Async"}, 400, "InvalidParameterValueException"},
		{"unknown query parameter", "POST", inv + "?Version=1", signed, 400, "InvalidParameterValueException"},
		{"log type", "POST", inv, map[string]string{"Authorization": wireSigV4("lambda"), "X-Amz-Log-Type": "Tail"}, 400, "InvalidParameterValueException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := wireRawWithHeaders(t, tt.method, tt.url, tt.header, `{}`)
			var e struct{ Type, Message string }
			if err := json.Unmarshal([]byte(body.body), &e); err != nil {
				t.Fatalf("error body %q: %v", body.body, err)
			}
			if status != tt.status || body.errorType != tt.code || !strings.HasPrefix(e.Message, "awsfake: ") {
				t.Errorf("answered %d %s %s, want %d %s with an awsfake: message", status, body.errorType, body.body, tt.status, tt.code)
			}
		})
	}
}

type wireAnswer struct{ body, errorType string }

func wireRawWithHeaders(t *testing.T, method, url string, header map[string]string, body string) (int, wireAnswer) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, wireAnswer{body: string(b), errorType: resp.Header.Get("X-Amzn-ErrorType")}
}

func TestLambdaRejectionFailsTest(t *testing.T) {
	spy := &wireSpy{TB: t}
	f := awsfake.StartLambda(spy)
	f.AddFunction("configure")
	_, err := f.Client().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("configure"), LogType: types.LogTypeTail})
	if wireCode(err) != "InvalidParameterValueException" {
		t.Errorf("Invoke with LogType Tail: %v, want InvalidParameterValueException", err)
	}
	if errs := spy.errors(); len(errs) != 1 || !strings.Contains(errs[0], "X-Amz-Log-Type") {
		t.Errorf("test errors = %q, want one about X-Amz-Log-Type", errs)
	}
}
