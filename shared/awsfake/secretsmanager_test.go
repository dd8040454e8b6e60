package awsfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/awsfake"
)

// wireSpy is a testing.TB that records Errorf instead of failing, to
// check that a started fake fails its test on a malformed request.
type wireSpy struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (s *wireSpy) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *wireSpy) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// wireRaw sends a request that did not come from the SDK.
func wireRaw(t *testing.T, method, url string, header map[string]string, body string) (int, string) {
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
	return resp.StatusCode, string(b)
}

func wireSigV4(service string) string {
	return "AWS4-HMAC-SHA256 Credential=AKIDAWSFAKE/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host, Signature=00"
}

func wireCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestSecretsManagerGetSecretValue(t *testing.T) {
	f := awsfake.StartSecretsManager(t)
	arn := f.PutSecret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/admin-AbCdEf", `{"username":"admin","password":"pw"}`)
	byName := f.PutSecret("billing/admin", `{"username":"b","password":"pw2"}`)
	c := f.Client()
	ctx := context.Background()

	for _, id := range []string{arn, "orders/admin"} {
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "orders/admin" ||
			aws.ToString(out.SecretString) != `{"username":"admin","password":"pw"}` ||
			len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" || out.CreatedDate == nil {
			t.Errorf("GetSecretValue(%s) = %+v", id, out)
		}
	}
	if !strings.HasPrefix(byName, "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing/admin-") {
		t.Errorf("made-up ARN %s", byName)
	}
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING")})
	if wireCode(err) != "ResourceNotFoundException" {
		t.Errorf("AWSPENDING: %v, want ResourceNotFoundException", err)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	if wireCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown secret: %v, want ResourceNotFoundException", err)
	}
	bin := f.PutBinarySecret("blob", []byte{0, 1, 2})
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(bin)})
	if err != nil || out.SecretString != nil || string(out.SecretBinary) != "\x00\x01\x02" {
		t.Errorf("binary secret: %+v, %v", out, err)
	}
	calls := f.Calls(arn)
	if len(calls) != 2 || calls[1].VersionStage != "AWSPENDING" || calls[1].Code != "ResourceNotFoundException" {
		t.Errorf("calls for %s = %+v", arn, calls)
	}
}

func TestSecretsManagerFaults(t *testing.T) {
	f := awsfake.StartSecretsManager(t)
	arn := f.PutSecret("orders", `{}`)
	f.Deny("billing")
	f.FailNext("orders", 1, awsfake.SecretsManagerThrottled())
	c := f.Client()
	ctx := context.Background()
	// Throttled once: the SDK retries.
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("orders")}); err != nil {
		t.Errorf("GetSecretValue after one throttle: %v", err)
	}
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("billing")})
	if wireCode(err) != "AccessDeniedException" {
		t.Errorf("denied: %v, want AccessDeniedException", err)
	}
	f.Deny(arn)
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("orders")})
	if wireCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), arn) {
		t.Errorf("denied by ARN, read by name: %v, want AccessDeniedException naming the ARN", err)
	}
	if got := f.Calls("orders"); len(got) != 3 || got[0].Code != "ThrottlingException" {
		t.Errorf("calls = %+v", got)
	}
}

func TestSecretsManagerRejects(t *testing.T) {
	f := awsfake.NewSecretsManager()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	json11 := "application/x-amz-json-1.1"
	tests := []struct {
		name   string
		method string
		header map[string]string
		body   string
		code   string
	}{
		{"GET", "GET", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": wireSigV4("secretsmanager")}, "", "UnknownOperationException"},
		{"JSON 1.0", "POST", map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": wireSigV4("secretsmanager")}, `{"SecretId":"x"}`, "SerializationException"},
		{"unsigned", "POST", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.GetSecretValue"}, `{"SecretId":"x"}`, "MissingAuthenticationTokenException"},
		{"signed for another service", "POST", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": wireSigV4("ssm")}, `{"SecretId":"x"}`, "MissingAuthenticationTokenException"},
		{"other operation", "POST", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.DescribeSecret", "Authorization": wireSigV4("secretsmanager")}, `{"SecretId":"x"}`, "UnknownOperationException"},
		{"unknown field", "POST", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": wireSigV4("secretsmanager")}, `{"SecretId":"x","Secret":"y"}`, "SerializationException"},
		{"no SecretId", "POST", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": wireSigV4("secretsmanager")}, `{"VersionStage":"AWSCURRENT"}`, "InvalidParameterException"},
		{"not JSON", "POST", map[string]string{"Content-Type": json11, "X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": wireSigV4("secretsmanager")}, `SecretId=x`, "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := wireRaw(t, tt.method, srv.URL, tt.header, tt.body)
			var e struct {
				Type    string `json:"__type"`
				Message string
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if status != http.StatusBadRequest || e.Type != tt.code || !strings.HasPrefix(e.Message, "awsfake: ") {
				t.Errorf("answered %d %s, want 400 %s with an awsfake: message", status, body, tt.code)
			}
		})
	}
	if n := len(f.Calls("")); n != len(tests) {
		t.Errorf("recorded %d calls, want %d", n, len(tests))
	}
}

// TestSecretsManagerRejectionFailsTest: a started fake reports a request it
// does not understand to its test; an ordinary API error is not reported.
func TestSecretsManagerRejectionFailsTest(t *testing.T) {
	spy := &wireSpy{TB: t}
	f := awsfake.StartSecretsManager(spy)
	c := f.Client()
	_, err := c.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")})
	if wireCode(err) != "UnknownOperationException" {
		t.Errorf("DescribeSecret: %v, want UnknownOperationException", err)
	}
	_, err = c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")})
	if wireCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetSecretValue: %v, want ResourceNotFoundException", err)
	}
	errs := spy.errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "secretsmanager.DescribeSecret") {
		t.Errorf("test errors = %q, want one about DescribeSecret", errs)
	}
}
