package rdsevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

const (
	testBGD        = "bgd-4kq8w2m7r1x9zt3c"
	testBGDArn     = "arn:aws:rds:us-east-1:123456789012:deployment:" + testBGD
	testClusterArn = "arn:aws:rds:us-east-1:123456789012:cluster:orders-prod"
	testDate       = "2026-03-10T09:01:12.774Z"
	testEnvTime    = "2026-03-10T09:01:12Z"
	coordsPrefix   = "Binary log coordinates in green environment after switchover: "
)

// envelope returns a raw EventBridge event. detail is marshalled as is, so a
// test can pass a Detail, a map, a json.RawMessage or nil (no "detail" key).
func envelope(t *testing.T, source, detailType string, detail any, resources ...string) []byte {
	t.Helper()
	if resources == nil {
		resources = []string{}
	}
	ev := map[string]any{
		"version":     "0",
		"id":          "2f1d1b1e-7c55-4c4b-9d0e-6b8f8a3f0c11",
		"detail-type": detailType,
		"source":      source,
		"account":     "123456789012",
		"time":        testEnvTime,
		"region":      "us-east-1",
		"resources":   resources,
	}
	if detail != nil {
		ev["detail"] = detail
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal envelope: %v", err)
	}
	return b
}

func bgDetail(id, msg string) Detail {
	return Detail{
		EventCategories:  []string{"notification"},
		SourceType:       "BLUE_GREEN_DEPLOYMENT",
		SourceArn:        testBGDArn,
		Date:             testDate,
		Message:          msg,
		SourceIdentifier: testBGD,
		EventID:          id,
		Tags:             map[string]string{"team": "orders"},
	}
}

func clusterDetail(id, msg string) Detail {
	return Detail{
		EventCategories:  []string{"notification"},
		SourceType:       "CLUSTER",
		SourceArn:        testClusterArn,
		Date:             testDate,
		Message:          msg,
		SourceIdentifier: "orders-prod",
		EventID:          id,
	}
}

func instanceDetail(id, msg string) Detail {
	return Detail{
		EventCategories:  []string{"notification"},
		SourceType:       "DB_INSTANCE",
		SourceArn:        "arn:aws:rds:us-east-1:123456789012:db:orders-prod-instance-1-green-8kq2zt",
		Date:             testDate,
		Message:          msg,
		SourceIdentifier: "orders-prod-instance-1-green-8kq2zt",
		EventID:          id,
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// sameFact compares two facts, times with Equal.
func sameFact(got, want Fact) bool {
	if !got.Time.Equal(want.Time) {
		return false
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	return got == want
}

const (
	renameMsg = "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl completed. " +
		"Renamed orders-prod to orders-prod-old1 and orders-prod-green-3rnukl to orders-prod."
	crashMsg = "Binlog position from crash recovery is mysql-bin-changelog.000001 154"
)

func TestDecode(t *testing.T) {
	type tc struct {
		name       string
		detailType string // default DetailTypeBlueGreen
		d          Detail
		resources  []string
		// want holds the fields the case is about; EventID, SourceID,
		// SourceType, Message and Time are filled from d (Time from
		// testDate) unless want sets them.
		want Fact
	}
	cases := []tc{
		// Blue/green lifecycle by EventID; Deployment from SourceIdentifier.
		{name: "0244 created", d: bgDetail("RDS-EVENT-0244", "Blue/green deployment tasks completed. You can make more modifications to the green environment databases or switch over the deployment."),
			want: Fact{Kind: KindDeploymentCreated, Deployment: testBGD}},
		{name: "0245 failed with reason", d: bgDetail("RDS-EVENT-0245", "Creation of blue/green deployment failed because binary logging is off on orders-prod."),
			want: Fact{Kind: KindDeploymentFailed, Deployment: testBGD, Reason: "binary logging is off on orders-prod"}},
		{name: "0245 failed without reason", d: bgDetail("RDS-EVENT-0245", "Creation of blue/green deployment failed."),
			want: Fact{Kind: KindDeploymentFailed, Deployment: testBGD}},
		{name: "0246 deleted", d: bgDetail("RDS-EVENT-0246", "Blue/green deployment deleted."),
			want: Fact{Kind: KindDeploymentDeleted, Deployment: testBGD}},
		{name: "0247 switchover started", d: bgDetail("RDS-EVENT-0247", "Switchover from orders-prod to orders-prod-green-3rnukl started."),
			want: Fact{Kind: KindSwitchoverStarted, Deployment: testBGD}},
		{name: "0248 switchover completed", d: bgDetail("RDS-EVENT-0248", "Switchover completed on blue/green deployment."),
			want: Fact{Kind: KindSwitchoverCompleted, Deployment: testBGD}},
		{name: "0249 switchover canceled", d: bgDetail("RDS-EVENT-0249", "Switchover canceled on blue/green deployment."),
			want: Fact{Kind: KindSwitchoverCanceled, Deployment: testBGD}},
		// EventID decides even if the message text is unexpected.
		{name: "EventID wins over message", d: bgDetail("RDS-EVENT-0248", "Something new AWS says."),
			want: Fact{Kind: KindSwitchoverCompleted, Deployment: testBGD}},
		{name: "EventID in lower case with spaces", d: bgDetail(" rds-event-0246 ", "Blue/green deployment deleted."),
			want: Fact{Kind: KindDeploymentDeleted, Deployment: testBGD}},

		// Where the deployment id comes from.
		{name: "deployment from SourceArn", d: func() Detail {
			d := bgDetail("RDS-EVENT-0248", "Switchover completed on blue/green deployment.")
			d.SourceIdentifier = "my-deployment"
			return d
		}(), want: Fact{Kind: KindSwitchoverCompleted, Deployment: testBGD}},
		{name: "deployment from resources", d: func() Detail {
			d := bgDetail("RDS-EVENT-0248", "Switchover completed on blue/green deployment.")
			d.SourceIdentifier, d.SourceArn = "", ""
			return d
		}(), resources: []string{testClusterArn, "arn:aws-cn:rds:cn-north-1:123456789012:deployment:bgd-abc123"},
			want: Fact{Kind: KindSwitchoverCompleted, Deployment: "bgd-abc123"}},
		// Two different deployments in resources: ambiguous, so none.
		{name: "two deployments in resources", d: func() Detail {
			d := bgDetail("RDS-EVENT-0248", "Switchover completed on blue/green deployment.")
			d.SourceIdentifier, d.SourceArn = "", ""
			return d
		}(), resources: []string{testBGDArn, "arn:aws:rds:us-east-1:123456789012:deployment:bgd-other1"},
			want: Fact{Kind: KindSwitchoverCompleted}},
		// A cluster may be named bgd-…; a cluster's SourceIdentifier is never a deployment.
		{name: "cluster named like a deployment", detailType: DetailTypeCluster, d: func() Detail {
			d := clusterDetail("RDS-EVENT-0259", "Switchover from DB cluster bgd-x to bgd-x-green-abc started.")
			d.SourceIdentifier = "bgd-x"
			return d
		}(), want: Fact{Kind: KindClusterSwitchoverStarted}},
		{name: "malformed deployment ARN ignored", d: func() Detail {
			d := bgDetail("RDS-EVENT-0248", "Switchover completed on blue/green deployment.")
			d.SourceIdentifier, d.SourceArn = "", "arn:aws:rds:us-east-1:123456789012:deployment:bgd-"
			return d
		}(), resources: []string{"arn:aws:rds:us-east-1:123456789012:deployment:bgd-x:extra"},
			want: Fact{Kind: KindSwitchoverCompleted}},

		// Cluster switchover.
		{name: "0259 cluster switchover started", d: bgDetail("RDS-EVENT-0259", "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl started."),
			want: Fact{Kind: KindClusterSwitchoverStarted, Deployment: testBGD}},
		{name: "0260 rename", d: bgDetail("RDS-EVENT-0260", renameMsg),
			want: Fact{Kind: KindClusterSwitchoverCompleted, Deployment: testBGD, OldName: "orders-prod-old1", NewName: "orders-prod"}},
		{name: "0260 rename, extra whitespace, no final period", d: bgDetail("RDS-EVENT-0260",
			"Switchover from DB cluster orders-prod to orders-prod-green-3rnukl completed.  Renamed  orders-prod to\torders-prod-old2 and\n orders-prod-green-3rnukl  to orders-prod  "),
			want: Fact{Kind: KindClusterSwitchoverCompleted, Deployment: testBGD, OldName: "orders-prod-old2", NewName: "orders-prod"}},
		{name: "0260 without rename clause", d: bgDetail("RDS-EVENT-0260", "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl completed."),
			want: Fact{Kind: KindClusterSwitchoverCompleted, Deployment: testBGD,
				Reason: `the message has no "Renamed <blue> to <blue>-oldN and <green> to <blue>" clause, so the cluster names after switchover could not be read`}},
		// The green cluster must take the blue one's name; otherwise do not guess.
		{name: "0260 inconsistent rename", d: bgDetail("RDS-EVENT-0260", "Switchover from DB cluster a to b completed. Renamed a to a-old1 and b to c."),
			want: Fact{Kind: KindClusterSwitchoverCompleted, Deployment: testBGD,
				Reason: `the message has no "Renamed <blue> to <blue>-oldN and <green> to <blue>" clause, so the cluster names after switchover could not be read`}},
		// Should AWS deliver 0260 as a cluster event, the deployment comes from resources.
		{name: "0260 as a cluster event", detailType: DetailTypeCluster, d: clusterDetail("RDS-EVENT-0260", renameMsg),
			resources: []string{testClusterArn, testBGDArn},
			want:      Fact{Kind: KindClusterSwitchoverCompleted, Deployment: testBGD, OldName: "orders-prod-old1", NewName: "orders-prod"}},
		{name: "0261 canceled with reason", d: bgDetail("RDS-EVENT-0261", "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl was canceled due to replica lag exceeding the timeout."),
			want: Fact{Kind: KindClusterSwitchoverCanceled, Deployment: testBGD, Reason: "replica lag exceeding the timeout"}},
		{name: "0261 canceled without reason", d: bgDetail("RDS-EVENT-0261", "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl was canceled."),
			want: Fact{Kind: KindClusterSwitchoverCanceled, Deployment: testBGD}},

		// Fallback on the documented message when EventID is missing.
		{name: "no EventID: created", d: bgDetail("", "Blue/green deployment tasks completed. You can switch over."),
			want: Fact{Kind: KindDeploymentCreated, Deployment: testBGD}},
		{name: "no EventID: failed", d: bgDetail("", "Creation of blue/green deployment failed because of reasons."),
			want: Fact{Kind: KindDeploymentFailed, Deployment: testBGD, Reason: "of reasons"}},
		{name: "no EventID: deleted", d: bgDetail("", "Blue/green deployment deleted."),
			want: Fact{Kind: KindDeploymentDeleted, Deployment: testBGD}},
		{name: "no EventID: switchover started", d: bgDetail("", "Switchover from orders-prod to orders-prod-green-3rnukl started."),
			want: Fact{Kind: KindSwitchoverStarted, Deployment: testBGD}},
		{name: "no EventID: switchover completed", d: bgDetail("", "Switchover completed on blue/green deployment."),
			want: Fact{Kind: KindSwitchoverCompleted, Deployment: testBGD}},
		{name: "no EventID: switchover canceled", d: bgDetail("", "Switchover canceled on blue/green deployment."),
			want: Fact{Kind: KindSwitchoverCanceled, Deployment: testBGD}},
		{name: "no EventID: cluster switchover started", d: bgDetail("", "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl started."),
			want: Fact{Kind: KindClusterSwitchoverStarted, Deployment: testBGD}},
		{name: "no EventID: cluster switchover completed", d: bgDetail("", renameMsg),
			want: Fact{Kind: KindClusterSwitchoverCompleted, Deployment: testBGD, OldName: "orders-prod-old1", NewName: "orders-prod"}},
		{name: "no EventID: cluster switchover canceled", d: bgDetail("", "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl was canceled due to a timeout."),
			want: Fact{Kind: KindClusterSwitchoverCanceled, Deployment: testBGD, Reason: "a timeout"}},
		// An EventID switchback does not know also falls back to the message.
		{name: "unknown EventID: switchover completed", d: bgDetail("RDS-EVENT-0409", "Switchover completed on blue/green deployment."),
			want: Fact{Kind: KindSwitchoverCompleted, Deployment: testBGD}},
		// RDS (non-Aurora) per-instance switchover must not match the deployment-level 0247 text.
		{name: "RDS 0250 instance switchover is ignored", detailType: DetailTypeInstance, d: instanceDetail("RDS-EVENT-0250", "Switchover from DB instance db1 to db1-green-abc started."),
			want: Fact{Kind: KindIgnored, Reason: `event RDS-EVENT-0250 ("Switchover from DB instance db1 to db1-green-abc started.") is not one switchback acts on`}},

		// Binlog coordinates: cluster or instance event, any EventID.
		{name: "coordinates on cluster event", detailType: DetailTypeCluster, d: clusterDetail("", coordsPrefix+"file mysql-bin-changelog.000003 and position 40134574"),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 40134574}},
		{name: "coordinates on instance event, trailing period", detailType: DetailTypeInstance, d: instanceDetail("", coordsPrefix+"file mysql-bin-changelog.000017 and position 40134574."),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000017", BinlogPosition: 40134574}},
		{name: "coordinates with an unrelated EventID", detailType: DetailTypeCluster, d: clusterDetail("RDS-EVENT-0071", coordsPrefix+"file mysql-bin-changelog.000003 and position 4"),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 4}},
		// The message wins even over a switchback EventID: "whatever its EventID".
		{name: "coordinates with a blue/green EventID", detailType: DetailTypeInstance, d: instanceDetail("RDS-EVENT-0248", coordsPrefix+"file mysql-bin-changelog.000003 and position 120"),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 120}},
		{name: "coordinates on a blue/green event", d: bgDetail("RDS-EVENT-0409", coordsPrefix+"file mysql-bin-changelog.000003 and position 120"),
			want: Fact{Kind: KindBinlogCoordinates, Deployment: testBGD, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 120}},
		{name: "coordinates prefix not at start", detailType: DetailTypeCluster, d: clusterDetail("", "Info: "+coordsPrefix+"file mysql-bin-changelog.000003 and position 154."),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 154}},
		{name: "coordinates position above 2^32", detailType: DetailTypeCluster, d: clusterDetail("", coordsPrefix+"file mysql-bin-changelog.000003 and position 5000000000"),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 5000000000}},
		{name: "coordinates position max uint64", detailType: DetailTypeCluster, d: clusterDetail("", coordsPrefix+"file mysql-bin-changelog.000003 and position 18446744073709551615."),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: math.MaxUint64}},
		{name: "coordinates file with trailing period", detailType: DetailTypeCluster, d: clusterDetail("", coordsPrefix+"file mysql-bin-changelog.000003. and position 77"),
			want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 77}},

		// Ignored RDS events.
		{name: "crash recovery binlog position", detailType: DetailTypeInstance, d: instanceDetail("", crashMsg),
			want: Fact{Kind: KindIgnored, Reason: `"Binlog position from crash recovery" is where the instance's binlog stood when it started ` +
				"(possibly days before switchover), not the switchover point; replicating from it would replay old writes, so switchback ignores it"}},
		{name: "other cluster event", detailType: DetailTypeCluster, d: clusterDetail("RDS-EVENT-0071", "Completed failover to DB instance: orders-prod-instance-2"),
			want: Fact{Kind: KindIgnored, Reason: `event RDS-EVENT-0071 ("Completed failover to DB instance: orders-prod-instance-2") is not one switchback acts on`}},
		{name: "other event without EventID", detailType: DetailTypeCluster, d: clusterDetail("", "DB cluster stopped"),
			want: Fact{Kind: KindIgnored, Reason: `event without EventID ("DB cluster stopped") is not one switchback acts on`}},
		{name: "long message is truncated in reason", detailType: DetailTypeCluster, d: clusterDetail("RDS-EVENT-0150", strings.Repeat("é", 100)),
			want: Fact{Kind: KindIgnored, Reason: fmt.Sprintf("event RDS-EVENT-0150 (%q) is not one switchback acts on", strings.Repeat("é", 60)+"…")}},
		{name: "EventID only, no message", detailType: DetailTypeCluster, d: clusterDetail("RDS-EVENT-0150", ""),
			want: Fact{Kind: KindIgnored, Reason: `event RDS-EVENT-0150 ("") is not one switchback acts on`}},
		{name: "unread detail-type", detailType: "RDS DB Snapshot Event", d: clusterDetail("RDS-EVENT-0042", "Manual snapshot created"),
			want: Fact{Kind: KindIgnored, Reason: `detail-type "RDS DB Snapshot Event" is not one switchback reads`}},
		// Fact.Time falls back to the envelope time.
		{name: "no Date uses envelope time", detailType: DetailTypeCluster, d: func() Detail {
			d := clusterDetail("RDS-EVENT-0071", "Completed failover to DB instance: x")
			d.Date = ""
			return d
		}(), want: Fact{Kind: KindIgnored, Reason: `event RDS-EVENT-0071 ("Completed failover to DB instance: x") is not one switchback acts on`, Time: mustTime(t, testEnvTime)}},
		{name: "unreadable Date uses envelope time", d: func() Detail {
			d := bgDetail("RDS-EVENT-0248", "Switchover completed on blue/green deployment.")
			d.Date = "10/03/2026 09:01"
			return d
		}(), want: Fact{Kind: KindSwitchoverCompleted, Deployment: testBGD, Time: mustTime(t, testEnvTime)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dt := c.detailType
			if dt == "" {
				dt = DetailTypeBlueGreen
			}
			want := c.want
			want.EventID, want.SourceID, want.SourceType, want.Message = c.d.EventID, c.d.SourceIdentifier, c.d.SourceType, c.d.Message
			if want.Time.IsZero() {
				want.Time = mustTime(t, testDate)
			}
			got, err := Decode(envelope(t, Source, dt, c.d, c.resources...))
			if err != nil {
				t.Fatalf("Decode() error = %v; want %+v", err, want)
			}
			if !sameFact(got, want) {
				t.Errorf("Decode() =\n  %+v\nwant\n  %+v", got, want)
			}
		})
	}
}

func TestDecodeNotRDS(t *testing.T) {
	for _, c := range []struct {
		name   string
		source string
		detail any
		reason string
	}{
		{"ec2 event", "aws.ec2", map[string]any{"instance-id": "i-1", "state": "running"}, `source "aws.ec2" is not "aws.rds"`},
		// A scheduled event's detail is {}: it is not ours, so not an error either.
		{"scheduled event", "aws.events", map[string]any{}, `source "aws.events" is not "aws.rds"`},
		{"no detail at all", "custom.app", nil, `source "custom.app" is not "aws.rds"`},
		{"detail not an object", "custom.app", "hello", `source "custom.app" is not "aws.rds"`},
		{"no source", "", map[string]any{}, `source "" is not "aws.rds"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(envelope(t, c.source, DetailTypeCluster, c.detail))
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			want := Fact{Kind: KindIgnored, Reason: c.reason, Time: mustTime(t, testEnvTime)}
			if !sameFact(got, want) {
				t.Errorf("Decode() = %+v; want %+v", got, want)
			}
		})
	}

	// An RDS detail-type switchback does not read is ignored even if its
	// detail is unreadable.
	got, err := Decode(envelope(t, Source, "RDS DB Proxy Event", "not an object"))
	if err != nil || got.Kind != KindIgnored || got.Reason != `detail-type "RDS DB Proxy Event" is not one switchback reads` {
		t.Errorf("Decode(proxy event with string detail) = %+v, %v; want ignored", got, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	withDetail := func(detail any) []byte { return envelope(t, Source, DetailTypeCluster, detail) }
	coords := func(rest string) []byte {
		return withDetail(clusterDetail("", coordsPrefix+rest))
	}
	cases := []struct {
		name    string
		data    []byte
		wantErr string // the whole error text
	}{
		{"empty", nil, "malformed RDS event: event is empty"},
		{"whitespace", []byte(" \n\t"), "malformed RDS event: event is empty"},
		{"truncated JSON", []byte(`{"version": "0", "source": "aws.rds"`), "malformed RDS event: event is not valid JSON: unexpected end of JSON input"},
		{"not JSON", []byte("Binary log coordinates"), "malformed RDS event: event is not valid JSON: invalid character 'B' looking for beginning of value"},
		{"trailing garbage", []byte(`{"source": "aws.rds"} {}`), "malformed RDS event: event is not valid JSON: invalid character '{' after top-level value"},
		{"array", []byte(`[{"source": "aws.rds"}]`), "malformed RDS event: event is a JSON array, not an object"},
		{"string", []byte(`"aws.rds"`), "malformed RDS event: event is a JSON string, not an object"},
		{"number", []byte(`42`), "malformed RDS event: event is a JSON number, not an object"},
		{"boolean", []byte(`true`), "malformed RDS event: event is a JSON boolean, not an object"},
		{"null", []byte(`null`), "malformed RDS event: event is a JSON null, not an object"},
		{"source of wrong type", []byte(`{"source": 5, "detail": {}}`), "malformed RDS event: envelope: json: cannot unmarshal number into Go struct field"},
		{"bad envelope time", []byte(`{"source": "aws.rds", "time": "yesterday", "detail": {}}`), `malformed RDS event: envelope: parsing time "yesterday"`},

		{"missing detail", withDetail(nil), `malformed RDS event: missing "detail"`},
		{"null detail", withDetail(json.RawMessage("null")), `malformed RDS event: "detail" is null`},
		{"string detail", withDetail("RDS-EVENT-0248"), `malformed RDS event: "detail" is a JSON string, not an object`},
		{"array detail", withDetail([]string{"a"}), `malformed RDS event: "detail" is a JSON array, not an object`},
		{"empty detail", withDetail(map[string]any{}), `malformed RDS event: "detail" has neither EventID nor Message`},
		{"detail without EventID or Message", withDetail(map[string]any{"SourceType": "CLUSTER", "Message": "  "}), `malformed RDS event: "detail" has neither EventID nor Message`},
		{"Message of wrong type", withDetail(map[string]any{"EventID": "RDS-EVENT-0248", "Message": 7}), `malformed RDS event: "detail": json: cannot unmarshal number into Go struct field`},

		{"coordinates: no file", coords("position 40134574"), `malformed RDS event: binlog coordinates message has no file: "` + coordsPrefix + `position 40134574"`},
		{"coordinates: file keyword but no name", coords("file and position 40134574"), "malformed RDS event: binlog coordinates message has no file:"},
		{"coordinates: file at end", coords("file"), "malformed RDS event: binlog coordinates message has no file:"},
		{"coordinates: nothing after prefix", coords(""), "malformed RDS event: binlog coordinates message has no file:"},
		{"coordinates: no position", coords("file mysql-bin-changelog.000003"), `malformed RDS event: binlog coordinates message has no position: "` + coordsPrefix + `file mysql-bin-changelog.000003"`},
		{"coordinates: position keyword at end", coords("file mysql-bin-changelog.000003 and position"), "malformed RDS event: binlog coordinates message has no position:"},
		{"coordinates: non-numeric position", coords("file mysql-bin-changelog.000003 and position 12x"), `malformed RDS event: binlog position "12x" is not a number`},
		{"coordinates: negative position", coords("file mysql-bin-changelog.000003 and position -5"), `malformed RDS event: binlog position "-5" is not a number`},
		{"coordinates: signed position", coords("file mysql-bin-changelog.000003 and position +5"), `malformed RDS event: binlog position "+5" is not a number`},
		{"coordinates: only a period", coords("file mysql-bin-changelog.000003 and position ."), `malformed RDS event: binlog position "" is not a number`},
		{"coordinates: two periods", coords("file mysql-bin-changelog.000003 and position 5.."), `malformed RDS event: binlog position "5." is not a number`},
		{"coordinates: overflow", coords("file mysql-bin-changelog.000003 and position 99999999999999999999"), "malformed RDS event: binlog position 99999999999999999999 overflows 64 bits"},
		{"coordinates: max uint64 + 1", coords("file mysql-bin-changelog.000003 and position 18446744073709551616"), "malformed RDS event: binlog position 18446744073709551616 overflows 64 bits"},
		{"coordinates: position 0", coords("file mysql-bin-changelog.000003 and position 0"), "malformed RDS event: binlog position 0 is inside the binlog file's 4-byte header (the first event starts at 4)"},
		{"coordinates: position 3", coords("file mysql-bin-changelog.000003 and position 3."), "malformed RDS event: binlog position 3 is inside the binlog file's 4-byte header"},
		{"coordinates: file without index", coords("file mysql-bin-changelog and position 40134574"), `malformed RDS event: binlog file "mysql-bin-changelog" does not look like a binlog file name`},
		{"coordinates: file is a path", coords("file /etc/passwd.1 and position 40134574"), `malformed RDS event: binlog file "/etc/passwd.1" does not look like a binlog file name`},
		{"coordinates: file with quote", coords("file x'.000001 and position 40134574"), `malformed RDS event: binlog file "x'.000001" does not look like a binlog file name`},
		{"coordinates: GTID instead", coords("gtid 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"), "malformed RDS event: binlog coordinates message has no file:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.data)
			if err == nil {
				t.Fatalf("Decode() = %+v, nil; want error %q", got, c.wantErr)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode() error %v does not wrap ErrMalformed", err)
			}
			if !strings.HasPrefix(err.Error(), c.wantErr) {
				t.Errorf("Decode() error = %q; want it to start with %q", err, c.wantErr)
			}
			if got != (Fact{}) {
				t.Errorf("Decode() fact = %+v on error; want zero", got)
			}
		})
	}
}

func TestDecodeEvent(t *testing.T) {
	detail, err := json.Marshal(clusterDetail("", coordsPrefix+"file mysql-bin-changelog.000003 and position 40134574"))
	if err != nil {
		t.Fatal(err)
	}
	ev := events.EventBridgeEvent{Source: Source, DetailType: DetailTypeCluster, Detail: detail}
	got, err := DecodeEvent(ev)
	if err != nil {
		t.Fatalf("DecodeEvent() error = %v", err)
	}
	if got.Kind != KindBinlogCoordinates || got.BinlogFile != "mysql-bin-changelog.000003" || got.BinlogPosition != 40134574 {
		t.Errorf("DecodeEvent() = %+v; want coordinates mysql-bin-changelog.000003:40134574", got)
	}

	for _, c := range []struct {
		name    string
		detail  json.RawMessage
		wantErr string
	}{
		{"nil detail", nil, `malformed RDS event: missing "detail"`},
		{"blank detail", json.RawMessage("  "), `malformed RDS event: missing "detail"`},
		{"invalid JSON detail", json.RawMessage(`{"EventID":`), `malformed RDS event: "detail" is not valid JSON`},
		{"number detail", json.RawMessage(`12`), `malformed RDS event: "detail" is a JSON number, not an object`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeEvent(events.CloudWatchEvent{Source: Source, DetailType: DetailTypeInstance, Detail: c.detail})
			if !errors.Is(err, ErrMalformed) || err.Error() != c.wantErr {
				t.Errorf("DecodeEvent() error = %v; want %q wrapping ErrMalformed", err, c.wantErr)
			}
		})
	}
}

func TestParseDetailKeepsTagsAndIsLenientAboutThem(t *testing.T) {
	d, err := parseDetail(json.RawMessage(`{"EventID":"RDS-EVENT-0248","EventCategories":["notification"],"Tags":{"team":"orders","env":"prod"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Tags["team"] != "orders" || d.Tags["env"] != "prod" || len(d.EventCategories) != 1 || d.EventCategories[0] != "notification" {
		t.Errorf("parseDetail() = %+v; want tags and categories kept", d)
	}

	// Tags and categories are not used to classify, so odd shapes are dropped
	// instead of making the coordinates unreadable.
	raw := envelope(t, Source, DetailTypeCluster, map[string]any{
		"EventID":         "",
		"EventCategories": "notification",
		"Message":         coordsPrefix + "file mysql-bin-changelog.000003 and position 40134574",
		"Tags":            map[string]any{"count": 3},
	})
	f, err := Decode(raw)
	if err != nil || f.Kind != KindBinlogCoordinates || f.BinlogPosition != 40134574 {
		t.Errorf("Decode(odd tags) = %+v, %v; want coordinates", f, err)
	}
}

func TestParseBinlogCoordinates(t *testing.T) {
	for _, c := range []struct {
		msg     string
		file    string
		pos     uint64
		wantErr string
	}{
		{msg: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 40134574",
			file: "mysql-bin-changelog.000003", pos: 40134574},
		// DescribeEvents messages may carry a final period.
		{msg: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 40134574.",
			file: "mysql-bin-changelog.000003", pos: 40134574},
		{msg: "Binary log coordinates in green environment after switchover:  file   binlog.000001\tand position 4  ", file: "binlog.000001", pos: 4},
		{msg: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position " + strconv.FormatUint(1<<40+7, 10),
			file: "mysql-bin-changelog.000003", pos: 1<<40 + 7},
		{msg: "", wantErr: `malformed RDS event: message is not a binlog coordinates message (it lacks "Binary log coordinates in green environment after switchover"): ""`},
		{msg: crashMsg, wantErr: "malformed RDS event: message is not a binlog coordinates message"},
		// The prefix is matched case-sensitively, as RDS writes it.
		{msg: "binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 4",
			wantErr: "malformed RDS event: message is not a binlog coordinates message"},
		{msg: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 12x",
			wantErr: `malformed RDS event: binlog position "12x" is not a number`},
		{msg: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 99999999999999999999",
			wantErr: "malformed RDS event: binlog position 99999999999999999999 overflows 64 bits"},
		// "file" before the prefix does not count.
		{msg: "file mysql-bin-changelog.000003 Binary log coordinates in green environment after switchover: position 5",
			wantErr: "malformed RDS event: binlog coordinates message has no file:"},
		// "position" must come after the file.
		{msg: "Binary log coordinates in green environment after switchover: position 5 file mysql-bin-changelog.000003",
			wantErr: "malformed RDS event: binlog coordinates message has no position:"},
	} {
		file, pos, err := ParseBinlogCoordinates(c.msg)
		if c.wantErr != "" {
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), c.wantErr) {
				t.Errorf("ParseBinlogCoordinates(%q) = %q, %d, %v; want error %q wrapping ErrMalformed", c.msg, file, pos, err, c.wantErr)
			}
			if file != "" || pos != 0 {
				t.Errorf("ParseBinlogCoordinates(%q) = %q, %d with an error; want zero values", c.msg, file, pos)
			}
			continue
		}
		if err != nil || file != c.file || pos != c.pos {
			t.Errorf("ParseBinlogCoordinates(%q) = %q, %d, %v; want %q, %d, nil", c.msg, file, pos, err, c.file, c.pos)
		}
	}
}

func TestParseClusterRename(t *testing.T) {
	for _, c := range []struct {
		msg      string
		old, new string
		ok       bool
	}{
		{msg: renameMsg, old: "orders-prod-old1", new: "orders-prod", ok: true},
		{msg: "Renamed orders-prod to orders-prod-old1 and orders-prod-green-3rnukl to orders-prod", old: "orders-prod-old1", new: "orders-prod", ok: true},
		{msg: "Renamed   a1 \n to a1-old12   and b to a1.  ", old: "a1-old12", new: "a1", ok: true},
		{msg: "renamed Orders to orders-old1 and g to orders.", old: "orders-old1", new: "orders", ok: true},
		{msg: "Switchover from DB cluster orders-prod to orders-prod-green-3rnukl completed."},
		{msg: ""},
		// Green must take blue's name.
		{msg: "Renamed a to a-old1 and b to c."},
		// Blue must get a new name.
		{msg: "Renamed a to a and b to a."},
		// Blue and green must differ.
		{msg: "Renamed a to a-old1 and a to a."},
		// Names must be cluster identifiers.
		{msg: "Renamed a to a-old1, and b to a."},
		{msg: "Renamed a to a--old1 and b to a."},
		{msg: "Renamed a to 1a and b to a."},
		{msg: "Renamed a to a-old1 and b to a.."},
		{msg: "Renamed a to " + strings.Repeat("x", 64) + " and b to a."},
		{msg: "Renamed a to a-old1 and b"},
	} {
		old, new, ok := ParseClusterRename(c.msg)
		if old != c.old || new != c.new || ok != c.ok {
			t.Errorf("ParseClusterRename(%q) = %q, %q, %v; want %q, %q, %v", c.msg, old, new, ok, c.old, c.new, c.ok)
		}
	}
}

// The JSON field names are the CLI's --output json contract.
func TestFactJSON(t *testing.T) {
	f := Fact{
		Kind: KindBinlogCoordinates, EventID: "RDS-EVENT-0001", SourceID: "orders-prod", SourceType: "CLUSTER",
		Deployment: testBGD, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 1<<63 + 1,
		OldName: "o", NewName: "n", Reason: "r", Time: time.Date(2026, 3, 10, 9, 1, 10, 932e6, time.UTC), Message: "m",
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"binlog-coordinates","event_id":"RDS-EVENT-0001","source_id":"orders-prod","source_type":"CLUSTER",` +
		`"deployment":"bgd-4kq8w2m7r1x9zt3c","binlog_file":"mysql-bin-changelog.000003","binlog_position":9223372036854775809,` +
		`"old_name":"o","new_name":"n","reason":"r","time":"2026-03-10T09:01:10.932Z","message":"m"}`
	if string(b) != want {
		t.Errorf("json.Marshal(Fact) =\n  %s\nwant\n  %s", b, want)
	}
	b, err = json.Marshal(Fact{Kind: KindIgnored, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kind":"ignored","reason":"x"}`; string(b) != want {
		t.Errorf("json.Marshal(ignored Fact) = %s; want %s", b, want)
	}
}

func TestDecodeNotAnEnvelope(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty object", `{}`, "not an EventBridge event"},
		{"test-event-pattern result", `{"Result":true}`, "not an EventBridge event"},
		{"DescribeEvents result", `{"Events":[{"SourceIdentifier":"orders-prod","SourceType":"db-cluster","Message":"Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 40134574"}]}`, "DescribeEvents result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode(%s) error = %v; want ErrMalformed mentioning %q", tc.in, err, tc.want)
			}
		})
	}
}
