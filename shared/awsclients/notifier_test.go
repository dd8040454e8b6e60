package awsclients

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/awsfake"
)

const topicARN = "arn:aws:sns:us-east-1:123456789012:switchback-attention"

func TestNotify(t *testing.T) {
	f := awsfake.StartSNS(t)
	f.AddTopic(topicARN)
	n := NewNotifier(f.Client(), topicARN)
	msg := "deployment bgd-123 needs attention: coordinates not found\nsee switchback history --deployment bgd-123"
	if err := n.Notify(context.Background(), "switchback: bgd-123 needs attention", msg); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	calls := f.Calls("")
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	p := calls[0].Params
	for k, want := range map[string]string{
		"Action": "Publish", "Version": "2010-03-31", "TopicArn": topicARN,
		"Subject": "switchback: bgd-123 needs attention", "Message": msg,
	} {
		if got := p.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := f.Published(topicARN); len(got) != 1 || got[0].Message != msg {
		t.Errorf("published %+v", got)
	}
}

func TestNotifyFitsSNSLimits(t *testing.T) {
	tests := []struct {
		name, subject, message string
		wantSubject            string
		wantMessage            func(string) bool
	}{
		{
			name:        "long subject with line breaks",
			subject:     "switchback:\tdeployment\r\n" + strings.Repeat("x", 200),
			message:     "m",
			wantSubject: "switchback: deployment  " + strings.Repeat("x", 99-3-len("switchback: deployment  ")) + "...",
			wantMessage: func(m string) bool { return m == "m" },
		},
		{
			name:        "multi-byte subject cut at a character",
			subject:     strings.Repeat("é", 150),
			message:     "m",
			wantSubject: strings.Repeat("é", 96) + "...",
			wantMessage: func(m string) bool { return m == "m" },
		},
		{
			name:        "no message",
			subject:     "switchback: bgd-1 needs attention",
			wantSubject: "switchback: bgd-1 needs attention",
			wantMessage: func(m string) bool { return m == "switchback: bgd-1 needs attention" },
		},
		{
			name:        "message over 256 KiB",
			subject:     "s",
			message:     strings.Repeat("ü", 200_000),
			wantSubject: "s",
			wantMessage: func(m string) bool {
				return len(m) <= 262144 && utf8.ValidString(m) && strings.HasSuffix(m, "[message cut to fit SNS's 256 KiB limit]")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := awsfake.StartSNS(t)
			f.AddTopic(topicARN)
			if err := NewNotifier(f.Client(), topicARN).Notify(context.Background(), tt.subject, tt.message); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := f.Published(topicARN)
			if len(got) != 1 {
				t.Fatalf("published %d messages, want 1", len(got))
			}
			if got[0].Subject != tt.wantSubject {
				t.Errorf("subject = %q (%d characters), want %q", got[0].Subject, utf8.RuneCountInString(got[0].Subject), tt.wantSubject)
			}
			if !tt.wantMessage(got[0].Message) {
				t.Errorf("message (%d bytes) is not as expected", len(got[0].Message))
			}
		})
	}
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *awsfake.SNS)
		calls int
		code  string
	}{
		{"topic does not exist", func(f *awsfake.SNS) {}, 1, "NotFound"},
		{"not authorized", func(f *awsfake.SNS) {
			f.AddTopic(topicARN)
			f.FailNext("", 1, awsfake.SNSAuthorizationError(topicARN))
		}, 1, "AuthorizationError"},
		{
			// SNS throttles with 429 Throttled, which the standard retryer
			// does not know; Notify retries it, up to the retryer's 3
			// attempts.
			"throttled on every attempt", func(f *awsfake.SNS) {
				f.AddTopic(topicARN)
				f.FailNext(topicARN, 5, awsfake.SNSThrottled())
			}, 3, "Throttled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := awsfake.StartSNS(t)
			tt.setup(f)
			err := NewNotifier(f.Client(), topicARN).Notify(context.Background(), "subject", "message")
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Fatalf("Notify error = %v, want API error %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), topicARN) {
				t.Errorf("error %q does not name the topic", err)
			}
			if n := len(f.Calls("Publish")); n != tt.calls {
				t.Errorf("%d Publish calls, want %d", n, tt.calls)
			}
		})
	}
}

func TestNotifyRetriesThrottling(t *testing.T) {
	f := awsfake.StartSNS(t)
	f.AddTopic(topicARN)
	f.FailNext(topicARN, 2, awsfake.SNSThrottled())
	if err := NewNotifier(f.Client(), topicARN).Notify(context.Background(), "subject", "message"); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if n, p := len(f.Calls("Publish")), len(f.Published(topicARN)); n != 3 || p != 1 {
		t.Errorf("%d calls and %d messages published, want 3 and 1", n, p)
	}
}
