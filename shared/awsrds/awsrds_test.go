package awsrds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

const arnPrefix = "arn:aws:rds:us-east-1:123456789012:"

// fixedNow is the clock of the event tests (the fake's and the adapter's).
var fixedNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// newTest starts a fake RDS and returns an adapter on a real *rds.Client
// pointed at it, logging into the returned buffer.
func newTest(t *testing.T) (*awsfake.RDS, *Client, *bytes.Buffer) {
	t.Helper()
	f := awsfake.StartRDS(t)
	c := New(f.Client())
	var logs bytes.Buffer
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	return f, c, &logs
}

// addOrders adds the switched-over deployment of aws-facts §5 (aws-cli
// example 3): Source is the old blue "orders-prod-old1", Target the new
// production "orders-prod".
func addOrders(f *awsfake.RDS) {
	f.AddCluster(awsfake.RDSCluster{
		ID: "orders-prod", ARN: arnPrefix + "cluster:orders-prod",
		Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
		Endpoint:       "orders-prod.cluster-c1abc.us-east-1.rds.amazonaws.com",
		ReaderEndpoint: "orders-prod.cluster-ro-c1abc.us-east-1.rds.amazonaws.com",
		Port:           3306, ParameterGroup: "orders-prod-80",
		Tags: map[string]string{"switchback:enabled": "true", "team": "orders"},
		Members: []awsfake.RDSClusterMember{
			{Instance: "orders-prod-instance-2"},
			{Instance: "orders-prod-instance-1", Writer: true},
		},
	})
	f.AddCluster(awsfake.RDSCluster{
		ID: "orders-prod-old1", ARN: arnPrefix + "cluster:orders-prod-old1",
		Engine: "aurora-mysql", EngineVersion: "5.7.mysql_aurora.2.12.1",
		Endpoint: "orders-prod-old1.cluster-c1abc.us-east-1.rds.amazonaws.com",
		Port:     3306, ParameterGroup: "orders-old1-57",
		Tags: map[string]string{"switchback:enabled": "true", "team": "orders"},
		Members: []awsfake.RDSClusterMember{
			{Instance: "orders-prod-instance-1-old1", Writer: true},
			{Instance: "orders-prod-instance-2-old1"},
		},
	})
	f.AddDeployment(awsfake.RDSDeployment{
		ID: "bgd-orders1234", Name: "orders-upgrade",
		Source: arnPrefix + "cluster:orders-prod-old1", Target: arnPrefix + "cluster:orders-prod",
		Status: "SWITCHOVER_COMPLETED", CreateTime: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
		Switchover: []awsfake.RDSSwitchoverDetail{
			{SourceMember: arnPrefix + "cluster:orders-prod-old1", TargetMember: arnPrefix + "cluster:orders-prod", Status: "SWITCHOVER_COMPLETED"},
			{SourceMember: arnPrefix + "db:orders-prod-instance-1-old1", TargetMember: arnPrefix + "db:orders-prod-instance-1", Status: "SWITCHOVER_COMPLETED"},
			{SourceMember: arnPrefix + "db:orders-prod-instance-2-old1", TargetMember: arnPrefix + "db:orders-prod-instance-2", Status: "SWITCHOVER_COMPLETED"},
			{SourceMember: arnPrefix + "cluster-endpoint:orders-ro-old1", TargetMember: arnPrefix + "cluster-endpoint:orders-ro", Status: "SWITCHOVER_COMPLETED"},
		},
	})
}

var wantOrders = orchestrate.Deployment{
	ID: "bgd-orders1234", Status: "SWITCHOVER_COMPLETED",
	CreateTime: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
	Production: orchestrate.Cluster{
		ID: "orders-prod", ARN: arnPrefix + "cluster:orders-prod",
		Endpoint: "orders-prod.cluster-c1abc.us-east-1.rds.amazonaws.com", Port: 3306,
		Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0", ParameterGroup: "orders-prod-80",
		Tags:      map[string]string{"switchback:enabled": "true", "team": "orders"},
		Instances: []string{"orders-prod-instance-2", "orders-prod-instance-1"}, Writer: "orders-prod-instance-1",
	},
	Rollback: orchestrate.Cluster{
		ID: "orders-prod-old1", ARN: arnPrefix + "cluster:orders-prod-old1",
		Endpoint: "orders-prod-old1.cluster-c1abc.us-east-1.rds.amazonaws.com", Port: 3306,
		Engine: "aurora-mysql", EngineVersion: "5.7.mysql_aurora.2.12.1", ParameterGroup: "orders-old1-57",
		Tags:      map[string]string{"switchback:enabled": "true", "team": "orders"},
		Instances: []string{"orders-prod-instance-1-old1", "orders-prod-instance-2-old1"}, Writer: "orders-prod-instance-1-old1",
	},
	TargetMembers: []string{"orders-prod", "orders-prod-instance-1", "orders-prod-instance-2"},
}

func params(calls []awsfake.RDSCall, key string) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Params.Get(key))
	}
	return out
}

func TestDeploymentResolvesSwitchedOverClusters(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	got, err := c.Deployment(t.Context(), "bgd-orders1234")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantOrders) {
		t.Errorf("deployment:\n got %+v\nwant %+v", got, wantOrders)
	}
	if ids := params(f.Calls("DescribeBlueGreenDeployments"), "BlueGreenDeploymentIdentifier"); !slices.Equal(ids, []string{"bgd-orders1234"}) {
		t.Errorf("DescribeBlueGreenDeployments identifiers = %q", ids)
	}
	// Each cluster is looked up by the ARN the deployment holds.
	if ids := params(f.Calls("DescribeDBClusters"), "DBClusterIdentifier"); !slices.Equal(ids, []string{arnPrefix + "cluster:orders-prod", arnPrefix + "cluster:orders-prod-old1"}) {
		t.Errorf("DescribeDBClusters identifiers = %q", ids)
	}
}

func TestDeploymentNotFound(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	_, err := c.Deployment(t.Context(), "bgd-missing")
	if !errors.Is(err, orchestrate.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var nf *NotFoundError
	var fault *types.BlueGreenDeploymentNotFoundFault
	if !errors.As(err, &nf) || nf.Kind != "blue/green deployment" || nf.ID != "bgd-missing" || !errors.As(err, &fault) {
		t.Errorf("err = %#v, want a NotFoundError for the deployment wrapping BlueGreenDeploymentNotFoundFault", err)
	}
	if n := len(f.Calls("")); n != 1 {
		t.Errorf("%d calls, want 1 (a 404 is not retried)", n)
	}
}

func TestDeploymentClusterGone(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	f.RemoveCluster("orders-prod-old1")
	_, err := c.Deployment(t.Context(), "bgd-orders1234")
	var nf *NotFoundError
	var fault *types.DBClusterNotFoundFault
	if !errors.Is(err, orchestrate.ErrNotFound) || !errors.As(err, &nf) || nf.Kind != "DB cluster" || !errors.As(err, &fault) {
		t.Fatalf("err = %v, want a DB cluster NotFoundError", err)
	}
	if !strings.Contains(err.Error(), "orders-prod-old1") || !strings.Contains(err.Error(), "Source") {
		t.Errorf("err = %v, want it to name the Source cluster", err)
	}
}

func TestDeploymentEmptyID(t *testing.T) {
	f, c, _ := newTest(t)
	if _, err := c.Deployment(t.Context(), ""); err == nil {
		t.Fatal("empty id accepted")
	}
	if n := len(f.Calls("")); n != 0 {
		t.Errorf("%d calls for an empty id (it would list every deployment)", n)
	}
}

func TestDeploymentsPaginatesFiltersAndSkips(t *testing.T) {
	f, c, logs := newTest(t)
	f.PageSize = 2
	addOrders(f)
	for i := range 4 {
		name := fmt.Sprintf("app%d", i)
		f.AddCluster(awsfake.RDSCluster{ID: name, ParameterGroup: name + "-pg", Members: []awsfake.RDSClusterMember{{Instance: name + "-1", Writer: true}}})
		f.AddCluster(awsfake.RDSCluster{ID: name + "-old1", ParameterGroup: name + "-old-pg"})
		status := "SWITCHOVER_COMPLETED"
		if i%2 == 1 {
			status = "AVAILABLE"
		}
		f.AddDeployment(awsfake.RDSDeployment{ID: "bgd-" + name, Status: status,
			Source: arnPrefix + "cluster:" + name + "-old1", Target: arnPrefix + "cluster:" + name})
	}
	// Switched over, but its old cluster was deleted since: skipped.
	f.AddDeployment(awsfake.RDSDeployment{ID: "bgd-gone", Status: "SWITCHOVER_COMPLETED",
		Source: arnPrefix + "cluster:gone-old1", Target: arnPrefix + "cluster:app0"})
	// An RDS (DB instance) blue/green deployment: not switchback's; skipped.
	f.AddDeployment(awsfake.RDSDeployment{ID: "bgd-instance", Status: "SWITCHOVER_COMPLETED",
		Source: arnPrefix + "db:legacy-old1", Target: arnPrefix + "db:legacy"})

	got, err := c.Deployments(t.Context(), orchestrate.StatusSwitchoverCompleted)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
		if d.Production.ID == "" || d.Rollback.ID == "" {
			t.Errorf("%s not resolved: %+v", d.ID, d)
		}
	}
	if want := []string{"bgd-orders1234", "bgd-app0", "bgd-app2"}; !slices.Equal(ids, want) {
		t.Errorf("deployments = %q, want %q", ids, want)
	}
	// 7 deployments, 2 a page: 4 pages, each asking for the previous marker.
	calls := f.Calls("DescribeBlueGreenDeployments")
	if len(calls) != 4 {
		t.Fatalf("%d DescribeBlueGreenDeployments calls, want 4 pages", len(calls))
	}
	if calls[0].Params.Has("Marker") {
		t.Error("first page sent a Marker")
	}
	for i, c := range calls[1:] {
		if c.Params.Get("Marker") == "" || c.Params.Get("Marker") == calls[i].Params.Get("Marker") {
			t.Errorf("page %d marker %q", i+2, c.Params.Get("Marker"))
		}
	}
	for _, skipped := range []string{"bgd-gone", "bgd-instance"} {
		if !strings.Contains(logs.String(), "deployment="+skipped) {
			t.Errorf("skipping %s not logged: %s", skipped, logs)
		}
	}

	all, err := c.Deployments(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Errorf("%d deployments with an empty status, want the 5 resolvable ones", len(all))
	}
}

func TestDeploymentsFailsOnOtherErrors(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	f.FailNext("DescribeDBClusters", 1, awsfake.RDSAccessDenied("DescribeDBClusters"))
	_, err := c.Deployments(t.Context(), orchestrate.StatusSwitchoverCompleted)
	if err == nil || !strings.Contains(err.Error(), "DescribeDBClusters") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v, want an access-denied error naming DescribeDBClusters", err)
	}
	if errors.Is(err, orchestrate.ErrNotFound) {
		t.Error("access denied reported as not found")
	}
}

func TestThrottlingIsRetriedBySDK(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	f.FailNext("DescribeBlueGreenDeployments", 2, awsfake.RDSThrottled())
	got, err := c.Deployment(t.Context(), "bgd-orders1234")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "bgd-orders1234" {
		t.Errorf("got %+v", got)
	}
	calls := f.Calls("DescribeBlueGreenDeployments")
	if len(calls) != 3 || calls[0].Code != "Throttling" || calls[1].Code != "Throttling" || calls[2].Status != 200 {
		t.Errorf("calls = %+v, want 2 throttled then 1 success", calls)
	}
}

func TestThrottlingBeyondRetriesFails(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	f.FailNext("DescribeBlueGreenDeployments", 10, awsfake.RDSThrottled())
	_, err := c.Deployment(t.Context(), "bgd-orders1234")
	if err == nil || !strings.Contains(err.Error(), "Throttling") || !strings.Contains(err.Error(), "DescribeBlueGreenDeployments") {
		t.Fatalf("err = %v, want a throttling error naming the action", err)
	}
	// The SDK's standard retryer makes 3 attempts.
	if n := len(f.Calls("DescribeBlueGreenDeployments")); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestAccessDeniedNamesActionAndIsNotRetried(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	f.FailNext("DescribeBlueGreenDeployments", 100, awsfake.RDSAccessDenied("DescribeBlueGreenDeployments"))
	_, err := c.Deployment(t.Context(), "bgd-orders1234")
	if err == nil || !strings.Contains(err.Error(), "DescribeBlueGreenDeployments") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v", err)
	}
	if errors.Is(err, orchestrate.ErrNotFound) {
		t.Error("access denied reported as not found")
	}
	if n := len(f.Calls("")); n != 1 {
		t.Errorf("%d calls, want 1: access denied is not retried", n)
	}

	f.FailNext("DeleteBlueGreenDeployment", 100, awsfake.RDSAccessDenied("DeleteBlueGreenDeployment"))
	err = c.DeleteBlueGreenDeployment(t.Context(), "bgd-orders1234")
	if err == nil || !strings.Contains(err.Error(), "DeleteBlueGreenDeployment") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("delete err = %v", err)
	}
	if n := len(f.Calls("DeleteBlueGreenDeployment")); n != 1 {
		t.Errorf("%d delete calls, want 1", n)
	}
	if !f.HasDeployment("bgd-orders1234") {
		t.Error("deployment deleted despite access denied")
	}
}

func TestDeleteBlueGreenDeployment(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	if err := c.DeleteBlueGreenDeployment(t.Context(), "bgd-orders1234"); err != nil {
		t.Fatal(err)
	}
	if f.HasDeployment("bgd-orders1234") {
		t.Error("deployment still there")
	}
	calls := f.Calls("DeleteBlueGreenDeployment")
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	want := url.Values{"Action": {"DeleteBlueGreenDeployment"}, "Version": {"2014-10-31"},
		"BlueGreenDeploymentIdentifier": {"bgd-orders1234"}, "DeleteTarget": {"false"}}
	if !reflect.DeepEqual(calls[0].Params, want) {
		t.Errorf("sent %v, want %v", calls[0].Params, want)
	}
	// Both clusters stay.
	if _, err := c.Deployment(t.Context(), "bgd-orders1234"); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	for _, id := range []string{"orders-prod", "orders-prod-old1"} {
		if _, err := c.cluster(t.Context(), id); err != nil {
			t.Errorf("cluster %s: %v", id, err)
		}
	}
	// Already gone counts as done.
	if err := c.DeleteBlueGreenDeployment(t.Context(), "bgd-orders1234"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if calls := f.Calls("DeleteBlueGreenDeployment"); len(calls) != 2 || calls[1].Code != "BlueGreenDeploymentNotFoundFault" {
		t.Errorf("calls = %+v", calls)
	}
}

// addEvents adds events around fixedNow: 5 for the cluster (3 pages of 2),
// one of them older than 14 days, and some for other sources.
func addEvents(f *awsfake.RDS) {
	f.Now = func() time.Time { return fixedNow }
	ev := func(src, typ, msg string, ago time.Duration) {
		f.AddEvent(awsfake.RDSEvent{SourceID: src, SourceType: typ, Message: msg, Date: fixedNow.Add(-ago),
			SourceArn: arnPrefix + map[string]string{"db-cluster": "cluster:", "db-instance": "db:"}[typ] + src, Categories: []string{"notification"}})
	}
	ev("orders-prod", "db-cluster", "too old: RDS no longer has it", 20*24*time.Hour)
	ev("orders-prod", "db-cluster", "c1", 10*24*time.Hour)
	ev("orders-prod", "db-cluster", "Switchover from DB cluster orders-prod to orders-prod-green-abc completed.", 3*time.Hour)
	ev("orders-prod", "db-cluster", "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 40134574", 2*time.Hour)
	ev("orders-prod", "db-cluster", "c4", time.Hour)
	ev("orders-prod", "db-cluster", "c5", time.Minute)
	ev("orders-prod-instance-1", "db-instance", "instance event", 2*time.Hour)
	ev("orders-prod-old1", "db-cluster", "old1 event", 2*time.Hour+time.Second)
	ev("other", "db-cluster", "other cluster", time.Hour)
}

func TestEventsPaginateAndClampTo14Days(t *testing.T) {
	f, c, _ := newTest(t)
	c.now = func() time.Time { return fixedNow }
	f.PageSize = 2
	addEvents(f)
	got, err := c.Events(t.Context(), "db-cluster", []string{"orders-prod", "orders-prod-old1", "orders-prod"}, fixedNow.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.SourceID+": "+e.Message)
		if e.SourceType != "db-cluster" || e.Date.IsZero() {
			t.Errorf("event %+v", e)
		}
	}
	want := []string{"orders-prod: c1",
		"orders-prod: Switchover from DB cluster orders-prod to orders-prod-green-abc completed.",
		"orders-prod-old1: old1 event",
		"orders-prod: Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 40134574",
		"orders-prod: c4", "orders-prod: c5"}
	if !slices.Equal(msgs, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	if got[3].Date != fixedNow.Add(-2*time.Hour) {
		t.Errorf("date %v", got[3].Date)
	}
	calls := f.Calls("DescribeEvents")
	// orders-prod: 5 events in the window → 3 pages; orders-prod-old1: 1
	// page; the duplicate source is asked once.
	if len(calls) != 4 {
		t.Fatalf("%d DescribeEvents calls, want 4", len(calls))
	}
	if m := calls[1].Params.Get("Marker"); m == "" || calls[2].Params.Get("Marker") == m {
		t.Error("pages not chained by Marker")
	}
	wantStart := fixedNow.Add(-14*24*time.Hour + time.Minute)
	for _, call := range calls {
		start, err1 := time.Parse(time.RFC3339Nano, call.Params.Get("StartTime"))
		end, err2 := time.Parse(time.RFC3339Nano, call.Params.Get("EndTime"))
		if err1 != nil || err2 != nil || !start.Equal(wantStart) || !end.Equal(fixedNow) {
			t.Errorf("StartTime %q EndTime %q, want the clamp %s and now %s", call.Params.Get("StartTime"), call.Params.Get("EndTime"), wantStart, fixedNow)
		}
		if call.Params.Get("SourceType") != "db-cluster" {
			t.Errorf("SourceType %q", call.Params.Get("SourceType"))
		}
	}
	if srcs := params(calls, "SourceIdentifier"); !slices.Equal(srcs, []string{"orders-prod", "orders-prod", "orders-prod", "orders-prod-old1"}) {
		t.Errorf("sources %q", srcs)
	}
}

func TestEventsSinceInsideWindowIsKept(t *testing.T) {
	f, c, _ := newTest(t)
	c.now = func() time.Time { return fixedNow }
	addEvents(f)
	since := fixedNow.Add(-150 * time.Minute)
	got, err := c.Events(t.Context(), "db-instance", []string{"orders-prod-instance-1"}, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Message != "instance event" || got[0].SourceType != "db-instance" {
		t.Errorf("events %+v", got)
	}
	start, _ := time.Parse(time.RFC3339Nano, f.Calls("DescribeEvents")[0].Params.Get("StartTime"))
	if !start.Equal(since) {
		t.Errorf("StartTime %v, want since %v unchanged", start, since)
	}
}

func TestEventsThrottledMidPagination(t *testing.T) {
	f, c, _ := newTest(t)
	c.now = func() time.Time { return fixedNow }
	f.PageSize = 2
	addEvents(f)
	// The first page succeeds, the second is throttled once and retried by
	// the SDK with the same Marker, then the third.
	f.FailNextAfter("DescribeEvents", 1, 1, awsfake.RDSThrottled())
	got, err := c.Events(t.Context(), "db-cluster", []string{"orders-prod"}, fixedNow.Add(-11*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Errorf("%d events, want 5", len(got))
	}
	calls := f.Calls("DescribeEvents")
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 3 pages + 1 retry", len(calls))
	}
	if calls[1].Code != "Throttling" || calls[2].Status != 200 || calls[1].Params.Get("Marker") == "" ||
		calls[1].Params.Get("Marker") != calls[2].Params.Get("Marker") {
		t.Errorf("calls = %+v, want page 2 throttled then retried with the same Marker", calls)
	}
}

func TestEventsRejectsBadInput(t *testing.T) {
	f, c, _ := newTest(t)
	// EventBridge's spelling is not DescribeEvents' (aws-facts §1).
	if _, err := c.Events(t.Context(), "CLUSTER", []string{"orders-prod"}, fixedNow); err == nil {
		t.Error("source type CLUSTER accepted")
	}
	if _, err := c.Events(t.Context(), "db-cluster", []string{""}, fixedNow); err == nil {
		t.Error("empty source accepted")
	}
	if n := len(f.Calls("")); n != 0 {
		t.Errorf("%d calls for rejected input", n)
	}
}

func TestEventsWithoutSourcesReadsEverySourceOfTheType(t *testing.T) {
	f, c, _ := newTest(t)
	c.now = func() time.Time { return fixedNow }
	f.PageSize = 2
	addEvents(f)
	got, err := c.Events(t.Context(), "db-cluster", nil, fixedNow.Add(-3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, e := range got {
		srcs = append(srcs, e.SourceID)
	}
	// orders-prod ×4 (the switchover message is exactly 3h old), old1, other.
	if want := []string{"orders-prod", "orders-prod-old1", "orders-prod", "orders-prod", "other", "orders-prod"}; !slices.Equal(srcs, want) {
		t.Errorf("sources %q, want %q", srcs, want)
	}
	calls := f.Calls("DescribeEvents")
	if len(calls) != 3 {
		t.Errorf("%d calls, want 3 pages", len(calls))
	}
	for _, call := range calls {
		if call.Params.Has("SourceIdentifier") || call.Params.Get("SourceType") != "db-cluster" {
			t.Errorf("sent %v", call.Params)
		}
	}
}

// fencerFixture adds orders-prod-old1 with group pg, and others sharing
// groups as given, PageSize 2 so the cluster listing spans pages.
func fencerFixture(t *testing.T, group string, others map[string]string) (*awsfake.RDS, *ParameterGroupFencer) {
	t.Helper()
	f, c, _ := newTest(t)
	f.PageSize = 2
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod-old1", ParameterGroup: group,
		Members: []awsfake.RDSClusterMember{{Instance: "orders-prod-instance-1-old1", Writer: true}}})
	for i := range 5 {
		f.AddCluster(awsfake.RDSCluster{ID: fmt.Sprintf("unrelated%d", i), ParameterGroup: fmt.Sprintf("unrelated%d-pg", i)})
	}
	for id, g := range others {
		f.AddCluster(awsfake.RDSCluster{ID: id, ParameterGroup: g})
	}
	f.AddParameterGroup(group, map[string]string{"read_only": "0"})
	// The writer is never reached: every case here is refused first.
	writer := &replication.Server{Role: "rollback target", Addr: "127.0.0.1:1"}
	fe, err := c.Fencer(orchestrate.Cluster{ID: "orders-prod-old1", ParameterGroup: group}, writer)
	if err != nil {
		t.Fatal(err)
	}
	return f, fe.(*ParameterGroupFencer)
}

func TestFencerRefusesDefaultGroup(t *testing.T) {
	f, fe := fencerFixture(t, "default.aurora-mysql5.7", nil)
	for name, call := range map[string]func(context.Context) error{
		"Check":          fe.Check,
		"SetReadOnly on": func(ctx context.Context) error { return fe.SetReadOnly(ctx, true) },
		"SetReadOnly off": func(ctx context.Context) error {
			return fe.SetReadOnly(ctx, false)
		},
	} {
		err := call(t.Context())
		if !errors.Is(err, ErrFenceRefused) || !strings.Contains(err.Error(), `"default.aurora-mysql5.7"`) || !strings.Contains(err.Error(), "orders-prod-old1") {
			t.Errorf("%s: err = %v, want a refusal naming the group and cluster", name, err)
		}
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("%d ModifyDBClusterParameterGroup calls after refusals", n)
	}
}

func TestFencerRefusesSharedGroup(t *testing.T) {
	// The other user of the group is listed last: on the 4th page.
	f, fe := fencerFixture(t, "orders-params", map[string]string{"zz-reporting": "orders-params"})
	for _, on := range []bool{true, false} {
		err := fe.SetReadOnly(t.Context(), on)
		if !errors.Is(err, ErrFenceRefused) || !strings.Contains(err.Error(), `"orders-params"`) || !strings.Contains(err.Error(), "zz-reporting") {
			t.Errorf("SetReadOnly(%v): err = %v, want a refusal naming the group and the other cluster", on, err)
		}
	}
	if err := fe.Check(t.Context()); !errors.Is(err, ErrFenceRefused) {
		t.Errorf("Check: %v", err)
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("%d ModifyDBClusterParameterGroup calls after refusals", n)
	}
	// 7 clusters, 2 a page: every Check read 4 pages.
	if n := len(f.Calls("DescribeDBClusters")); n != 3*4 {
		t.Errorf("%d DescribeDBClusters calls, want 4 pages × 3 checks", n)
	}
}

func TestFencerCheckPassesOwnGroup(t *testing.T) {
	f, fe := fencerFixture(t, "orders-old1-params", nil)
	if err := fe.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("Check modified the group %d times", n)
	}
}

func TestFencerClusterGone(t *testing.T) {
	f, fe := fencerFixture(t, "orders-old1-params", nil)
	f.RemoveCluster("orders-prod-old1")
	if err := fe.SetReadOnly(t.Context(), true); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("err = %v, want not found", err)
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("%d ModifyDBClusterParameterGroup calls", n)
	}
}

func TestFencerConstructor(t *testing.T) {
	c := New(nil)
	if _, err := c.Fencer(orchestrate.Cluster{}, &replication.Server{}); err == nil {
		t.Error("cluster without id accepted")
	}
	if _, err := c.Fencer(orchestrate.Cluster{ID: "x"}, nil); err == nil {
		t.Error("nil writer accepted")
	}
	var factory orchestrate.FencerFactory = c.Fencer
	if fe, err := factory(orchestrate.Cluster{ID: "x"}, &replication.Server{}); err != nil || fe == nil {
		t.Errorf("factory: %v %v", fe, err)
	}
}

func TestARNResource(t *testing.T) {
	for arn, want := range map[string][2]string{
		arnPrefix + "cluster:orders-prod-old1":     {"cluster", "orders-prod-old1"},
		arnPrefix + "db:orders-prod-instance-1":    {"db", "orders-prod-instance-1"},
		arnPrefix + "cluster-endpoint:orders-ro":   {"cluster-endpoint", "orders-ro"},
		"arn:aws-cn:rds:cn-north-1:1:cluster:x":    {"cluster", "x"},
		"arn:aws:rds:us-east-1:1:deployment:bgd-1": {"deployment", "bgd-1"},
	} {
		kind, name, ok := arnResource(arn)
		if !ok || kind != want[0] || name != want[1] {
			t.Errorf("%s → %q %q %v", arn, kind, name, ok)
		}
	}
	for _, bad := range []string{"", "orders-prod", "arn:aws:ec2:us-east-1:1:instance:i-1", arnPrefix + "cluster:"} {
		if _, _, ok := arnResource(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
