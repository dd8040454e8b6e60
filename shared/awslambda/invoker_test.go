package awslambda

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
)

func TestInvokeConfigure(t *testing.T) {
	tests := []struct {
		name, function string
		wantQualifier  string
	}{
		{"by name", "switchback-configure", ""},
		{"by ARN with an alias", "arn:aws:lambda:us-east-1:123456789012:function:switchback-configure:live", "live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := awsfake.StartLambda(t)
			f.AddFunction("switchback-configure")
			err := NewInvoker(f.Client(), tt.function).InvokeConfigure(context.Background(), orchestrate.ConfigureRequest{Deployment: "bgd-abc123"})
			if err != nil {
				t.Fatalf("InvokeConfigure: %v", err)
			}
			calls := f.Calls("switchback-configure")
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1", len(calls))
			}
			c := calls[0]
			if c.FunctionName != tt.function || c.Qualifier != tt.wantQualifier || c.InvocationType != "Event" ||
				string(c.Payload) != `{"deployment":"bgd-abc123"}` || c.Status != http.StatusAccepted {
				t.Errorf("call = %+v (payload %s)", c, c.Payload)
			}
		})
	}
}

func TestInvokeConfigureErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *awsfake.Lambda)
		req   orchestrate.ConfigureRequest
		calls int
		code  string   // API error code, if any
		want  []string // in the error text
	}{
		{
			name:  "no such function",
			setup: func(f *awsfake.Lambda) {},
			calls: 1, code: "ResourceNotFoundException",
			want: []string{"invoke switchback-configure for deployment bgd-1", "Function not found"},
		},
		{
			name: "access denied",
			setup: func(f *awsfake.Lambda) {
				f.AddFunction("switchback-configure")
				f.FailNext("", 1, awsfake.LambdaAccessDenied("switchback-configure"))
			},
			calls: 1, code: "AccessDeniedException",
			want: []string{"lambda:InvokeFunction"},
		},
		{
			name: "throttled on every attempt",
			setup: func(f *awsfake.Lambda) {
				f.AddFunction("switchback-configure")
				f.FailNext("switchback-configure", 5, awsfake.LambdaTooManyRequests())
			},
			calls: 3, code: "TooManyRequestsException",
		},
		{
			name: "answered 200",
			setup: func(f *awsfake.Lambda) {
				f.AddFunction("switchback-configure")
				f.ReplyNext("", 1, awsfake.LambdaReply{Status: http.StatusOK, Payload: []byte("null")})
			},
			calls: 1,
			want:  []string{"status 200, want 202"},
		},
		{
			name: "function error",
			setup: func(f *awsfake.Lambda) {
				f.AddFunction("switchback-configure")
				f.ReplyNext("", 1, awsfake.LambdaReply{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`)})
			},
			calls: 1,
			want:  []string{"function error Unhandled", "boom"},
		},
		{
			name:  "no deployment",
			setup: func(f *awsfake.Lambda) { f.AddFunction("switchback-configure") },
			req:   orchestrate.ConfigureRequest{},
			calls: 0,
			want:  []string{"names no deployment"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := awsfake.StartLambda(t)
			tt.setup(f)
			req := tt.req
			if tt.name != "no deployment" {
				req.Deployment = "bgd-1"
			}
			err := NewInvoker(f.Client(), "switchback-configure").InvokeConfigure(context.Background(), req)
			if err == nil {
				t.Fatal("InvokeConfigure succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.code != "" {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
					t.Errorf("error %v: want API error %s", err, tt.code)
				}
			}
			if n := len(f.Calls("")); n != tt.calls {
				t.Errorf("%d Invoke calls, want %d", n, tt.calls)
			}
		})
	}
}

func TestInvokeConfigureRetriesThrottling(t *testing.T) {
	f := awsfake.StartLambda(t)
	f.AddFunction("switchback-configure")
	f.FailNext("", 1, awsfake.LambdaTooManyRequests())
	if err := NewInvoker(f.Client(), "switchback-configure").InvokeConfigure(context.Background(), orchestrate.ConfigureRequest{Deployment: "bgd-1"}); err != nil {
		t.Fatalf("InvokeConfigure: %v", err)
	}
	calls := f.Calls("")
	if len(calls) != 2 || calls[0].Code != "TooManyRequestsException" || calls[1].Status != http.StatusAccepted {
		t.Errorf("calls = %+v, want one throttled then one accepted", calls)
	}
}

// InvokeVerify queues the continuation as an Event invocation of the
// function as it was invoked (here an alias ARN), with a payload that the
// verify function decodes back to the same request.
func TestInvokeVerify(t *testing.T) {
	f := awsfake.StartLambda(t)
	f.AddFunction("switchback-verify")
	self := "arn:aws:lambda:us-east-1:123456789012:function:switchback-verify:live"
	rows, bound := 10, 4
	req := orchestrate.VerifyRequest{Deployment: "bgd-abc123", Caller: "alice",
		Verify: orchestrate.VerifyOptions{Tables: []string{"shop.orders"}, ChunkRows: &rows, Continuation: 2, MaxContinuations: &bound}}
	if err := NewInvoker(f.Client(), self).InvokeVerify(context.Background(), req); err != nil {
		t.Fatalf("InvokeVerify: %v", err)
	}
	calls := f.Calls("switchback-verify")
	if len(calls) != 1 || calls[0].FunctionName != self || calls[0].Qualifier != "live" || calls[0].InvocationType != "Event" || calls[0].Status != http.StatusAccepted {
		t.Fatalf("calls = %+v", calls)
	}
	got, err := orchestrate.DecodeVerifyRequest(calls[0].Payload)
	if err != nil {
		t.Fatalf("the payload %s does not decode: %v", calls[0].Payload, err)
	}
	if got.Deployment != req.Deployment || got.Verify.Continuation != 2 || *got.Verify.ChunkRows != 10 || *got.Verify.MaxContinuations != 4 ||
		len(got.Verify.Tables) != 1 || got.Caller != "" || strings.Contains(string(calls[0].Payload), "alice") {
		t.Errorf("payload %s decoded to %+v", calls[0].Payload, got)
	}

	// Refused by IAM: the error names the function and the deployment.
	f.FailNext("", 1, awsfake.LambdaAccessDenied("switchback-verify"))
	err = NewInvoker(f.Client(), "switchback-verify").InvokeVerify(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "invoke switchback-verify for deployment bgd-abc123") || !strings.Contains(err.Error(), "lambda:InvokeFunction") {
		t.Errorf("access denied: %v", err)
	}
	if err := NewInvoker(f.Client(), "switchback-verify").InvokeVerify(context.Background(), orchestrate.VerifyRequest{}); err == nil || !strings.Contains(err.Error(), "names no deployment") {
		t.Errorf("no deployment: %v", err)
	}
}
