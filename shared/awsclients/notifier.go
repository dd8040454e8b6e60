package awsclients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/switchback/switchback/shared/orchestrate"
)

// SNSAPI is the part of *sns.Client that Notifier uses.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS limits (API reference, Publish): a subject is "UTF-8 text with no line
// breaks or control characters, and less than 100 characters long"; a
// message at most 256 KiB.
const (
	maxSubjectChars = 99
	maxMessageBytes = 256 * 1024
)

// Notifier implements orchestrate.Notifier: it publishes to an SNS topic.
type Notifier struct {
	api      SNSAPI
	topicARN string
}

var _ orchestrate.Notifier = (*Notifier)(nil)

// NewNotifier returns a Notifier publishing to topicARN through api.
func NewNotifier(api SNSAPI, topicARN string) *Notifier {
	return &Notifier{api: api, topicARN: topicARN}
}

// Notify publishes message with subject to the topic. The subject is made
// to fit SNS's rules (control characters and line breaks become spaces, it
// is cut to 99 characters with "..."), as is the message (cut to 256 KiB);
// an empty message is replaced by the subject. SNS's throttling answer
// (429 Throttled), which the SDK's standard retryer does not retry, is
// retried like other throttling errors.
func (n *Notifier) Notify(ctx context.Context, subject, message string) error {
	subject = fitSubject(subject)
	message = fitMessage(message)
	if message == "" {
		message = subject
	}
	if message == "" {
		return errors.New("notify: empty subject and message")
	}
	in := &sns.PublishInput{TopicArn: &n.topicARN, Message: &message}
	if subject != "" {
		in.Subject = &subject
	}
	_, err := n.api.Publish(ctx, in, func(o *sns.Options) {
		if o.Retryer != nil {
			o.Retryer = retry.AddWithErrorCodes(o.Retryer, "Throttled")
		}
	})
	if err != nil {
		return fmt.Errorf("publish to SNS topic %s (subject %q): %w", n.topicARN, subject, err)
	}
	return nil
}

// fitSubject returns s as SNS accepts it for a subject: valid UTF-8, control
// characters and line breaks replaced by spaces, surrounding space trimmed,
// and at most 99 characters, cut with "...".
func fitSubject(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= maxSubjectChars {
		return s
	}
	runes := []rune(s)
	return strings.TrimSpace(string(runes[:maxSubjectChars-3])) + "..."
}

// fitMessage returns message as valid UTF-8 of at most 256 KiB, cut at a
// character boundary with a note when it was longer.
func fitMessage(message string) string {
	message = strings.ToValidUTF8(message, "?")
	if len(message) <= maxMessageBytes {
		return message
	}
	const note = "\n[message cut to fit SNS's 256 KiB limit]"
	cut := maxMessageBytes - len(note)
	for cut > 0 && !utf8.RuneStart(message[cut]) {
		cut--
	}
	return message[:cut] + note
}
