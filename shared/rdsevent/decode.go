package rdsevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Decode reads one EventBridge event from its raw JSON and returns what
// switchback makes of it. It is [DecodeEvent] after unmarshalling the
// envelope into an events.CloudWatchEvent.
//
// Every error wraps [ErrMalformed]: data that is not JSON, JSON that is not
// an object, an envelope field of the wrong type, or any problem
// [DecodeEvent] reports.
func Decode(data []byte) (Fact, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Fact{}, malformed("event is empty")
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		return Fact{}, malformed("event is not valid JSON: %v", err)
	}
	if trimmed[0] != '{' {
		return Fact{}, malformed("event is a JSON %s, not an object", jsonType(trimmed))
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		return Fact{}, malformed("envelope: %v", err)
	}
	if ev.Source == "" && ev.DetailType == "" {
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(trimmed, &keys)
		if _, ok := keys["Events"]; ok {
			return Fact{}, malformed(`this is a DescribeEvents result, not an EventBridge event: pass one event (the envelope with "source", "detail-type" and "detail")`)
		}
		return Fact{}, malformed(`not an EventBridge event: it has no "source" and no "detail-type"`)
	}
	return DecodeEvent(ev)
}

// DecodeEvent returns what switchback makes of one EventBridge event, as a
// Lambda handler receives it.
//
// Events from a source other than "aws.rds", and RDS events whose
// detail-type is not [DetailTypeBlueGreen], [DetailTypeCluster] or
// [DetailTypeInstance], are [KindIgnored] without their detail being checked.
// For the three detail-types read, the detail must be a JSON object with an
// EventID or a Message, else the error wraps [ErrMalformed].
//
// Classification, in order:
//   - a Message containing [BinlogCoordinatesPrefix] is [KindBinlogCoordinates]
//     whatever its EventID, and a message that cannot be parsed by
//     [ParseBinlogCoordinates] is an error, never a guess;
//   - an EventID of RDS-EVENT-0244…0249 or 0259…0261 gives its kind;
//   - a missing or other EventID falls back to the documented message text;
//   - anything else is [KindIgnored] with a Reason.
func DecodeEvent(ev events.CloudWatchEvent) (Fact, error) {
	if ev.Source != Source {
		return Fact{
			Kind:   KindIgnored,
			Reason: fmt.Sprintf("source %q is not %q", ev.Source, Source),
			Time:   ev.Time,
		}, nil
	}
	switch ev.DetailType {
	case DetailTypeBlueGreen, DetailTypeCluster, DetailTypeInstance:
	default:
		// The detail is read on a best-effort basis only: the detail of an
		// event switchback does not read must not turn into an error.
		f := Fact{Time: ev.Time}
		if d, err := parseDetail(ev.Detail); err == nil {
			f = baseFact(ev, d)
		}
		f.Kind = KindIgnored
		f.Reason = fmt.Sprintf("detail-type %q is not one switchback reads", ev.DetailType)
		return f, nil
	}

	d, err := parseDetail(ev.Detail)
	if err != nil {
		return Fact{}, err
	}
	if strings.TrimSpace(d.EventID) == "" && strings.TrimSpace(d.Message) == "" {
		return Fact{}, malformed(`"detail" has neither EventID nor Message`)
	}
	f := baseFact(ev, d)

	if strings.Contains(d.Message, BinlogCoordinatesPrefix) {
		file, pos, err := ParseBinlogCoordinates(d.Message)
		if err != nil {
			return Fact{}, err
		}
		f.Kind = KindBinlogCoordinates
		f.BinlogFile = file
		f.BinlogPosition = pos
		return f, nil
	}

	kind, ok := eventIDKinds[strings.ToUpper(strings.TrimSpace(d.EventID))]
	if !ok {
		kind, ok = kindFromMessage(d.Message)
	}
	if !ok {
		f.Kind = KindIgnored
		f.Reason = ignoredReason(d)
		return f, nil
	}
	f.Kind = kind

	switch kind {
	case KindDeploymentFailed:
		f.Reason = clauseAfter(becauseRe, d.Message)
	case KindClusterSwitchoverCanceled:
		f.Reason = clauseAfter(dueToRe, d.Message)
	case KindClusterSwitchoverCompleted:
		if oldName, newName, ok := ParseClusterRename(d.Message); ok {
			f.OldName, f.NewName = oldName, newName
		} else {
			f.Reason = `the message has no "Renamed <blue> to <blue>-oldN and <green> to <blue>" clause, ` +
				"so the cluster names after switchover could not be read"
		}
	}
	return f, nil
}

// eventIDKinds maps the documented Aurora blue/green event IDs to kinds.
var eventIDKinds = map[string]Kind{
	"RDS-EVENT-0244": KindDeploymentCreated,
	"RDS-EVENT-0245": KindDeploymentFailed,
	"RDS-EVENT-0246": KindDeploymentDeleted,
	"RDS-EVENT-0247": KindSwitchoverStarted,
	"RDS-EVENT-0248": KindSwitchoverCompleted,
	"RDS-EVENT-0249": KindSwitchoverCanceled,
	"RDS-EVENT-0259": KindClusterSwitchoverStarted,
	"RDS-EVENT-0260": KindClusterSwitchoverCompleted,
	"RDS-EVENT-0261": KindClusterSwitchoverCanceled,
}

// messageKinds recognises the documented message texts, used when an event
// has no EventID or one switchback does not know. Order matters: the
// cluster-level "Switchover from DB cluster …" patterns come before the
// deployment-level "Switchover from … to … started".
var messageKinds = []struct {
	re   *regexp.Regexp
	kind Kind
}{
	{regexp.MustCompile(`(?i)^Blue/green\s+deployment\s+tasks\s+completed\b`), KindDeploymentCreated},
	{regexp.MustCompile(`(?i)^Creation\s+of\s+blue/green\s+deployment\s+failed\b`), KindDeploymentFailed},
	{regexp.MustCompile(`(?i)^Blue/green\s+deployment\s+deleted\b`), KindDeploymentDeleted},
	{regexp.MustCompile(`(?i)^Switchover\s+from\s+DB\s+cluster\s+\S+\s+to\s+\S+\s+started\b`), KindClusterSwitchoverStarted},
	{regexp.MustCompile(`(?i)^Switchover\s+from\s+DB\s+cluster\s+\S+\s+to\s+\S+\s+completed\b`), KindClusterSwitchoverCompleted},
	{regexp.MustCompile(`(?i)^Switchover\s+from\s+DB\s+cluster\s+\S+\s+to\s+\S+\s+was\s+cancel+ed\b`), KindClusterSwitchoverCanceled},
	{regexp.MustCompile(`(?i)^Switchover\s+from\s+\S+\s+to\s+\S+\s+started\b`), KindSwitchoverStarted},
	{regexp.MustCompile(`(?i)^Switchover\s+completed\s+on\s+blue/green\s+deployment\b`), KindSwitchoverCompleted},
	{regexp.MustCompile(`(?i)^Switchover\s+cancel+ed\s+on\s+blue/green\s+deployment\b`), KindSwitchoverCanceled},
}

func kindFromMessage(msg string) (Kind, bool) {
	msg = strings.TrimSpace(msg)
	for _, mk := range messageKinds {
		if mk.re.MatchString(msg) {
			return mk.kind, true
		}
	}
	return "", false
}

var (
	becauseRe       = regexp.MustCompile(`(?is)\bbecause\s+(.+)$`)
	dueToRe         = regexp.MustCompile(`(?is)\bdue\s+to\s+(.+)$`)
	crashRecoveryRe = regexp.MustCompile(`(?i)\bBinlog\s+position\s+from\s+crash\s+recovery\b`)
)

// clauseAfter returns re's first group in msg, trimmed and without a final
// period, or "" if re does not match.
func clauseAfter(re *regexp.Regexp, msg string) string {
	m := re.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[1]), "."))
}

// ignoredReason explains why an RDS event of a read detail-type is ignored.
func ignoredReason(d Detail) string {
	if crashRecoveryRe.MatchString(d.Message) {
		return `"Binlog position from crash recovery" is where the instance's binlog stood when it started ` +
			"(possibly days before switchover), not the switchover point; replicating from it would replay " +
			"old writes, so switchback ignores it"
	}
	id := "without EventID"
	if s := strings.TrimSpace(d.EventID); s != "" {
		id = s
	}
	return fmt.Sprintf("event %s (%q) is not one switchback acts on", id, truncate(strings.TrimSpace(d.Message), 120))
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// baseFact fills the fields every RDS fact carries.
func baseFact(ev events.CloudWatchEvent, d Detail) Fact {
	f := Fact{
		EventID:    d.EventID,
		SourceID:   d.SourceIdentifier,
		SourceType: d.SourceType,
		Deployment: deploymentOf(ev, d),
		Time:       ev.Time,
		Message:    d.Message,
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(d.Date)); err == nil {
		f.Time = t
	}
	return f
}

// wireDetail is Detail as read from JSON. EventCategories and Tags are not
// used to classify events, so a surprise in their shape must not make an
// event unreadable: they are decoded separately and dropped if odd.
type wireDetail struct {
	EventCategories  json.RawMessage `json:"EventCategories"`
	SourceType       string          `json:"SourceType"`
	SourceArn        string          `json:"SourceArn"`
	Date             string          `json:"Date"`
	Message          string          `json:"Message"`
	SourceIdentifier string          `json:"SourceIdentifier"`
	EventID          string          `json:"EventID"`
	Tags             json.RawMessage `json:"Tags"`
}

// parseDetail checks that raw is a JSON object and decodes it.
func parseDetail(raw json.RawMessage) (Detail, error) {
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) == 0:
		return Detail{}, malformed(`missing "detail"`)
	case string(trimmed) == "null":
		return Detail{}, malformed(`"detail" is null`)
	case !json.Valid(trimmed):
		return Detail{}, malformed(`"detail" is not valid JSON`)
	case trimmed[0] != '{':
		return Detail{}, malformed(`"detail" is a JSON %s, not an object`, jsonType(trimmed))
	}
	var w wireDetail
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return Detail{}, malformed(`"detail": %v`, err)
	}
	d := Detail{
		SourceType:       w.SourceType,
		SourceArn:        w.SourceArn,
		Date:             w.Date,
		Message:          w.Message,
		SourceIdentifier: w.SourceIdentifier,
		EventID:          w.EventID,
	}
	if len(w.EventCategories) > 0 {
		_ = json.Unmarshal(w.EventCategories, &d.EventCategories) // lenient, see wireDetail
	}
	if len(w.Tags) > 0 {
		_ = json.Unmarshal(w.Tags, &d.Tags) // lenient, see wireDetail
	}
	return d, nil
}

// jsonType names the type of the valid JSON value v for error messages.
func jsonType(v []byte) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

var deploymentIDRe = regexp.MustCompile(`^bgd-[A-Za-z0-9]+$`)

// deploymentOf finds the blue/green deployment id an event names: the
// SourceIdentifier of a blue/green event, else a deployment SourceArn, else
// the one deployment ARN among the resources. If the resources name several
// deployments, it returns "" rather than pick one.
func deploymentOf(ev events.CloudWatchEvent, d Detail) string {
	if ev.DetailType == DetailTypeBlueGreen || strings.EqualFold(d.SourceType, "BLUE_GREEN_DEPLOYMENT") {
		if id := strings.TrimSpace(d.SourceIdentifier); deploymentIDRe.MatchString(id) {
			return id
		}
	}
	if id, ok := deploymentFromARN(d.SourceArn); ok {
		return id
	}
	found := ""
	for _, r := range ev.Resources {
		id, ok := deploymentFromARN(r)
		if !ok {
			continue
		}
		if found != "" && found != id {
			return ""
		}
		found = id
	}
	return found
}

// deploymentFromARN returns the bgd- id of an ARN of the form
// arn:<partition>:rds:<region>:<account>:deployment:bgd-….
func deploymentFromARN(arn string) (string, bool) {
	parts := strings.Split(strings.TrimSpace(arn), ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "rds" || parts[5] != "deployment" {
		return "", false
	}
	if !deploymentIDRe.MatchString(parts[6]) {
		return "", false
	}
	return parts[6], true
}
