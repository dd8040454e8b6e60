package awsfake_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/switchback/switchback/shared/awsfake"
)

const wireTopic = "arn:aws:sns:us-east-1:123456789012:attention"

func TestSNSPublish(t *testing.T) {
	f := awsfake.StartSNS(t)
	f.AddTopic(wireTopic)
	c := f.Client()
	ctx := context.Background()
	out, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(wireTopic), Subject: aws.String("subject"), Message: aws.String("body")})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := f.Published(wireTopic)
	if len(got) != 1 || got[0].Subject != "subject" || got[0].Message != "body" || got[0].MessageID != aws.ToString(out.MessageId) {
		t.Errorf("published %+v, answered %+v", got, out)
	}

	tests := []struct {
		name string
		in   *sns.PublishInput
		code string
	}{
		{"no such topic", &sns.PublishInput{TopicArn: aws.String(wireTopic + "-x"), Message: aws.String("m")}, "NotFound"},
		{"subject of 100 characters", &sns.PublishInput{TopicArn: aws.String(wireTopic), Subject: aws.String(strings.Repeat("s", 100)), Message: aws.String("m")}, "InvalidParameter"},
		{"subject with a line break", &sns.PublishInput{TopicArn: aws.String(wireTopic), Subject: aws.String("a\nb"), Message: aws.String("m")}, "InvalidParameter"},
		{"empty message", &sns.PublishInput{TopicArn: aws.String(wireTopic), Message: aws.String("")}, "InvalidParameter"},
		{"message over 256 KiB", &sns.PublishInput{TopicArn: aws.String(wireTopic), Message: aws.String(strings.Repeat("m", 262145))}, "InvalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Publish(ctx, tt.in)
			if wireCode(err) != tt.code {
				t.Errorf("Publish: %v, want %s", err, tt.code)
			}
		})
	}
	if n := len(f.Published("")); n != 1 {
		t.Errorf("%d messages published, want 1", n)
	}
	// 99 characters is the longest subject SNS takes.
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(wireTopic), Subject: aws.String(strings.Repeat("é", 99)), Message: aws.String("m")}); err != nil {
		t.Errorf("Publish with a 99-character subject: %v", err)
	}
}

func TestSNSFaults(t *testing.T) {
	f := awsfake.StartSNS(t)
	f.AddTopic(wireTopic)
	f.FailNext("", 1, awsfake.SNSThrottled())
	f.FailNext(wireTopic, 1, awsfake.SNSAuthorizationError(wireTopic))
	c := f.Client()
	in := &sns.PublishInput{TopicArn: aws.String(wireTopic), Message: aws.String("m")}
	// The standard retryer does not retry SNS's 429 Throttled.
	if _, err := c.Publish(context.Background(), in); wireCode(err) != "Throttled" {
		t.Errorf("first Publish: %v, want Throttled", err)
	}
	if _, err := c.Publish(context.Background(), in); wireCode(err) != "AuthorizationError" {
		t.Errorf("second Publish: %v, want AuthorizationError", err)
	}
	calls := f.Calls("Publish")
	if len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests || calls[1].Status != http.StatusForbidden {
		t.Errorf("calls = %+v", calls)
	}
}

func TestSNSRejects(t *testing.T) {
	f := awsfake.NewSNS()
	f.AddTopic(wireTopic)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	form := "application/x-www-form-urlencoded"
	publish := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}, "TopicArn": {wireTopic}, "Message": {"m"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range publish {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q.Encode()
	}
	tests := []struct {
		name   string
		method string
		header map[string]string
		body   string
		status int
		code   string
	}{
		{"GET", "GET", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, "", 400, "InvalidAction"},
		{"JSON", "POST", map[string]string{"Content-Type": "application/json", "Authorization": wireSigV4("sns")}, `{}`, 400, "MalformedQueryString"},
		{"unsigned", "POST", map[string]string{"Content-Type": form}, publish.Encode(), 403, "MissingAuthenticationToken"},
		{"other action", "POST", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, with("Action", "CreateTopic"), 400, "InvalidAction"},
		{"wrong version", "POST", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, with("Version", "2012-01-01"), 400, "InvalidParameterValue"},
		{"unmodeled parameter", "POST", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, with("MessageStructure", "json"), 400, "InvalidParameter"},
		{"phone number", "POST", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, with("PhoneNumber", "+15555550100"), 400, "InvalidParameter"},
		{"no topic", "POST", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, with("TopicArn", ""), 400, "InvalidParameter"},
		{"no message", "POST", map[string]string{"Content-Type": form, "Authorization": wireSigV4("sns")}, with("Message", ""), 400, "InvalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := wireRaw(t, tt.method, srv.URL, tt.header, tt.body)
			var e struct {
				Error struct {
					Type, Code, Message string
				}
			}
			if err := xml.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if status != tt.status || e.Error.Code != tt.code || e.Error.Type != "Sender" || !strings.HasPrefix(e.Error.Message, "awsfake: ") {
				t.Errorf("answered %d %s, want %d %s with an awsfake: message", status, body, tt.status, tt.code)
			}
		})
	}
	if n, p := len(f.Calls("")), len(f.Published("")); n != len(tests) || p != 0 {
		t.Errorf("recorded %d calls and %d messages, want %d and 0", n, p, len(tests))
	}
}

func TestSNSRejectionFailsTest(t *testing.T) {
	spy := &wireSpy{TB: t}
	f := awsfake.StartSNS(spy)
	f.AddTopic(wireTopic)
	_, err := f.Client().Publish(context.Background(), &sns.PublishInput{
		TopicArn: aws.String(wireTopic), Message: aws.String("m"),
		MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}},
	})
	if wireCode(err) != "InvalidParameter" {
		t.Errorf("Publish with attributes: %v, want InvalidParameter", err)
	}
	if errs := spy.errors(); len(errs) != 1 || !strings.Contains(errs[0], "MessageAttributes") {
		t.Errorf("test errors = %q, want one about MessageAttributes", errs)
	}
}
