package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// Two writers that could not be opened: every server check is skipped or
// failed with the reason, the AWS checks still run, and the verdict fails.
func TestRunWithoutServers(t *testing.T) {
	green := orchestrate.Cluster{ID: "orders-prod-green-3rnukl", Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "green-params", Writer: "orders-prod-instance-1-green-8kq2zt", EngineVersion: "8.0.mysql_aurora.3.08.0", Engine: "aurora-mysql"}
	blue := orchestrate.Cluster{ID: "orders-prod", Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "blue-params", EngineVersion: "5.7.mysql_aurora.2.12.1", Engine: "aurora-mysql"}
	rep := Run(t.Context(), Inputs{
		Deployment: "bgd-1",
		Production: Side{Cluster: &green, ConnectErr: errors.New("server unreachable: cannot reach production at 127.0.0.1:1: connection refused")},
		Rollback:   Side{Cluster: &blue, CredentialsErr: errors.New("no admin secret for cluster orders-prod")},
		Parameters: params{"green-params": {"binlog_format": "ROW"}},
		Groups:     groups{},
		Settings:   Settings{ProbeTimeout: time.Second},
		Now:        func() time.Time { return time.Date(2026, 3, 9, 14, 33, 0, 0, time.UTC) },
	})
	want := map[string]Status{
		CheckProductionReachable: Fail, CheckProductionLogin: Skip,
		CheckRollbackReachable: Fail, CheckRollbackLogin: Fail,
		CheckBinlogFormatGroup: Pass, CheckRollbackGroup: Pass, CheckProductionGroup: Pass,
		CheckBinlogFormatServer: Skip, CheckBinlogRetention: Skip, CheckProductionPrivileges: Skip, CheckRollbackPrivileges: Skip,
		CheckVersions:   Warn, // from the RDS engine versions: 8.0 → 5.7
		CheckCollations: Skip, CheckPrimaryKeys: Skip, CheckReplicationUserAuth: Skip,
		CheckRollbackParallel: Skip, // no RDS reader here, and no rollback server
	}
	if len(rep.Checks) != len(want) {
		t.Errorf("%d checks; want %d: %+v", len(rep.Checks), len(want), rep.Checks)
	}
	for id, st := range want {
		c, ok := rep.Check(id)
		if !ok || c.Status != st {
			t.Errorf("%s: %s (%s); want %s", id, c.Status, c.Evidence, st)
		}
	}
	if rep.Verdict != Fail || rep.Production != "orders-prod-green-3rnukl" || rep.Rollback != "orders-prod" || rep.Deployment != "bgd-1" {
		t.Errorf("report %+v", rep)
	}
	if c, _ := rep.Check(CheckRollbackReachable); !strings.Contains(c.Evidence, "TCP connection to 127.0.0.1:1 failed") {
		t.Errorf("rollback reachability without a login is not probed over TCP: %s", c.Evidence)
	}
}

type params map[string]map[string]string

func (p params) ClusterParameter(_ context.Context, group, name string) (string, error) {
	g, ok := p[group]
	if !ok {
		return "", &awsrds.NotFoundError{Kind: "DB cluster parameter group", ID: group}
	}
	return g[name], nil
}

// groups refuses the clusters it maps to a sharing cluster.
type groups map[string]string

func (g groups) CheckFenceGroup(_ context.Context, c orchestrate.Cluster) (string, error) {
	if other, ok := g[c.ID]; ok {
		return "", fmt.Errorf("%w: DB cluster parameter group %q of cluster %s is also used by %s", awsrds.ErrFenceRefused, c.ParameterGroup, c.ID, other)
	}
	return c.ParameterGroup, nil
}

func TestNotification(t *testing.T) {
	rep := Report{Deployment: "bgd-4kq8w2m7r1x9zt3c", Production: "orders-prod-green-3rnukl", Rollback: "orders-prod", Verdict: Fail, Checks: []Check{
		{ID: CheckBinlogFormatGroup, Title: titleBinlogFormatGroup, Status: Fail, Evidence: "binlog_format is not set", Fix: "aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name green-params --parameters ParameterName=binlog_format,ParameterValue=ROW,ApplyMethod=pending-reboot; then reboot the writer"},
		{ID: CheckCollations, Title: titleCollations, Status: Fail, Evidence: "production uses utf8mb4_0900_ai_ci", Fix: "move them"},
		{ID: CheckPrimaryKeys, Title: titlePrimaryKeys, Status: Warn, Evidence: "shop.audit", Fix: "add one"},
		{ID: CheckVersions, Title: titleVersions, Status: Warn, Evidence: "8.0 → 5.7", Fix: "no DDL"},
		{ID: CheckProductionLogin, Title: "production login", Status: Pass, Evidence: "ok"},
	}}
	subject, msg := rep.Notification(`payload {"deployment": "bgd-4kq8w2m7r1x9zt3c"}`)
	if subject != "switchback preflight FAIL: bgd-4kq8w2m7r1x9zt3c (2 failing)" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{
		"bgd-4kq8w2m7r1x9zt3c: preflight FAIL — 2 failing, 2 warning, 1 passed (production orders-prod-green-3rnukl → rollback orders-prod).",
		"FAIL binlog_format in production's DB cluster parameter group: binlog_format is not set",
		"FAIL collations the rollback side lacks: production uses utf8mb4_0900_ai_ci",
		"WARN tables without a primary key; version direction",
		`Next: apply each failing check's fix (in the report) and run preflight again (payload {"deployment": "bgd-4kq8w2m7r1x9zt3c"}); until it passes, do not count on rolling back.`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, line := range strings.Split(msg, "\n") {
		if n := utf8.RuneCountInString(line); n > 200 {
			t.Errorf("line of %d characters: %q", n, line)
		}
	}

	// Many long failures stay within the bounds.
	var many []Check
	for i := range 9 {
		many = append(many, Check{ID: fmt.Sprint(i), Title: fmt.Sprintf("check %d", i), Status: Fail, Evidence: strings.Repeat("x", 500)})
	}
	long := Report{Deployment: "bgd-" + strings.Repeat("z", 120), Production: "p", Rollback: "r", Verdict: Fail, Checks: many}
	subject, msg = long.Notification("")
	if utf8.RuneCountInString(subject) > MaxSubjectChars || utf8.RuneCountInString(msg) > MaxMessageChars {
		t.Errorf("subject %d, message %d characters; want at most %d and %d", utf8.RuneCountInString(subject), utf8.RuneCountInString(msg), MaxSubjectChars, MaxMessageChars)
	}
	if !strings.Contains(msg, "more failing (see the report)") || !strings.Contains(msg, "Next: apply each failing check's fix (in the report) and run preflight again; until") {
		t.Errorf("message:\n%s", msg)
	}

	pass := Report{Deployment: "bgd-1", Production: "p", Rollback: "r", Verdict: Pass, Checks: []Check{{Status: Pass}}}
	subject, msg = pass.Notification("x")
	if subject != "switchback preflight PASS: bgd-1" || !strings.HasSuffix(msg, "Next: nothing; the rollback path can be built.") {
		t.Errorf("pass: %q\n%s", subject, msg)
	}
	cli := Report{Production: "127.0.0.1:3306", Rollback: "127.0.0.1:3307", Verdict: Warn, Checks: []Check{{Title: "t", Status: Warn}}}
	if subject, _ := cli.Notification(""); subject != "switchback preflight WARN: 127.0.0.1:3306 → 127.0.0.1:3307" {
		t.Errorf("subject without a deployment: %q", subject)
	}
}

// ---- the AWS glue, with fakes and writers that cannot be opened ----

type topology struct{ deps []orchestrate.Deployment }

func (f topology) Deployment(_ context.Context, id string) (orchestrate.Deployment, error) {
	for _, d := range f.deps {
		if d.ID == id {
			return d, nil
		}
	}
	return orchestrate.Deployment{}, fmt.Errorf("blue/green deployment %s: %w", id, orchestrate.ErrNotFound)
}

func (f topology) Deployments(_ context.Context, status string) ([]orchestrate.Deployment, error) {
	var out []orchestrate.Deployment
	for _, d := range f.deps {
		if status == "" || d.Status == status {
			out = append(out, d)
		}
	}
	return out, nil
}

type creds map[string]orchestrate.Login

func (c creds) Admin(_ context.Context, cl orchestrate.Cluster) (orchestrate.Login, error) {
	if l, ok := c[cl.ID]; ok {
		return l, nil
	}
	return orchestrate.Login{}, errors.New("no admin secret for cluster " + cl.ID)
}

func (c creds) ReplicationPassword(context.Context, orchestrate.Cluster) (string, error) {
	return "", nil
}

type notifier struct{ subjects, messages []string }

func (n *notifier) Notify(_ context.Context, subject, message string) error {
	n.subjects, n.messages = append(n.subjects, subject), append(n.messages, message)
	return nil
}

func testAWS(t *testing.T) (AWS, *notifier, *[]string) {
	t.Helper()
	tags := map[string]string{"switchback:enabled": "true"}
	blue := orchestrate.Cluster{ID: "orders-prod", Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "blue-params", Tags: tags}
	green := orchestrate.Cluster{ID: "orders-prod-green-3rnukl", Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "green-params", Tags: tags}
	other := orchestrate.Cluster{ID: "billing", Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "billing-params"}
	otherGreen := orchestrate.Cluster{ID: "billing-green-1a2b3c", Endpoint: "127.0.0.1", Port: 1, ParameterGroup: "billing-params"}
	n := &notifier{}
	var opened []string
	a := AWS{
		Topology: topology{deps: []orchestrate.Deployment{
			{ID: "bgd-4kq8w2m7r1x9zt3c", Status: "AVAILABLE", Production: green, Rollback: blue},
			{ID: "bgd-billing", Status: "AVAILABLE", Production: otherGreen, Rollback: other},
		}},
		Credentials: creds{"orders-prod": {User: "admin", Password: "pw"}},
		Connect: func(_ context.Context, role string, c orchestrate.Cluster, l orchestrate.Login) (*replication.Server, error) {
			opened = append(opened, role+" "+c.ID+" as "+l.User)
			return nil, fmt.Errorf("%w: cannot reach %s at %s:%d: connection refused", replication.ErrUnreachable, role, c.Endpoint, c.Port)
		},
		Parameters: params{"green-params": {"binlog_format": "MIXED"}},
		Groups:     groups{},
		Notifier:   n,
		OptedIn: func(id string, tags map[string]string) (bool, string) {
			if tags["switchback:enabled"] == "true" {
				return true, "cluster " + id + " is tagged"
			}
			return false, "cluster " + id + " has no tag switchback:enabled=true"
		},
		Settings: Settings{ProbeTimeout: time.Second},
	}
	return a, n, &opened
}

func TestHandleDeploymentCreatedEvent(t *testing.T) {
	a, n, opened := testAWS(t)
	event, err := os.ReadFile("../../events/bluegreen-deployment-created.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Handle(t.Context(), event)
	if err != nil {
		t.Fatal(err)
	}
	if out.Action != "checked" || out.Trigger != "RDS-EVENT-0244" || out.Deployment != "bgd-4kq8w2m7r1x9zt3c" || !out.Notified || out.Report == nil {
		t.Fatalf("outcome %+v", out)
	}
	// Green has no secret of its own: the blue cluster's login is used.
	if fmt.Sprint(*opened) != "[production orders-prod-green-3rnukl as admin rollback target orders-prod as admin]" {
		t.Errorf("opened %v", *opened)
	}
	rep := out.Report
	if c, _ := rep.Check(CheckBinlogFormatGroup); c.Status != Warn || !strings.Contains(c.Evidence, "MIXED in green-params") {
		t.Errorf("group check: %+v", c)
	}
	if c, _ := rep.Check(CheckProductionReachable); c.Status != Fail {
		t.Errorf("reachability: %+v", c)
	}
	if rep.Verdict != Fail || len(n.subjects) != 1 || !strings.HasPrefix(n.subjects[0], "switchback preflight FAIL: bgd-4kq8w2m7r1x9zt3c") {
		t.Errorf("verdict %s, notifications %q", rep.Verdict, n.subjects)
	}
	if !strings.Contains(n.messages[0], "FAIL production writer reachable") {
		t.Errorf("message:\n%s", n.messages[0])
	}
}

func TestHandleIgnoresAndRefuses(t *testing.T) {
	a, n, opened := testAWS(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, payload, reason string
	}{
		{"switchover event", `{"version":"0","id":"x","detail-type":"RDS Blue Green Deployment Event","source":"aws.rds","detail":{"EventCategories":["notification"],"SourceType":"BLUE_GREEN_DEPLOYMENT","Message":"Switchover completed on blue/green deployment.","SourceIdentifier":"bgd-4kq8w2m7r1x9zt3c","EventID":"RDS-EVENT-0248"}}`, "switchover-completed: preflight runs on RDS-EVENT-0244"},
		{"malformed event", `{"detail-type":"RDS DB Cluster Event","source":"aws.rds"}`, "malformed"},
		{"deployment gone", `{"version":"0","id":"x","detail-type":"RDS Blue Green Deployment Event","source":"aws.rds","detail":{"EventCategories":["creation"],"SourceType":"BLUE_GREEN_DEPLOYMENT","Message":"Blue/green deployment tasks completed.","SourceIdentifier":"bgd-gone","EventID":"RDS-EVENT-0244"}}`, "bgd-gone"},
		{"not opted in", `{"deployment": "bgd-billing"}`, "not opted in: cluster billing-green-1a2b3c has no tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := a.Handle(ctx, []byte(tc.payload))
			if err != nil || out.Action != "ignored" || !strings.Contains(out.Reason, tc.reason) {
				t.Errorf("outcome %+v, %v; want ignored: %s", out, err, tc.reason)
			}
		})
	}
	for _, tc := range []struct{ name, payload, want string }{
		{"unknown field", `{"deployment": "bgd-4kq8w2m7r1x9zt3c", "dryRun": true}`, `unknown field "dryRun"`},
		{"nothing named", `{}`, "names no deployment"},
		{"both named", `{"deployment": "bgd-1", "source": "orders-prod"}`, "not both"},
		{"unknown deployment", `{"deployment": "bgd-nope"}`, "not found"},
		{"unknown source", `{"source": "nope"}`, "no blue/green deployment has source cluster nope"},
		{"wrong type", `{"deployment": 7}`, "cannot unmarshal number"},
		{"not an object", `[1]`, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := a.Handle(ctx, []byte(tc.payload))
			if err == nil || !strings.Contains(err.Error(), tc.want) || out.Report != nil {
				t.Errorf("outcome %+v, error %v; want an error naming %q", out, err, tc.want)
			}
		})
	}
	if len(n.subjects) != 0 || len(*opened) != 0 {
		t.Errorf("ignored or refused requests opened %v and notified %q", *opened, n.subjects)
	}

	// By source, with fix overridden.
	out, err := a.Handle(ctx, []byte(`{"source": "orders-prod", "fix": true}`))
	if err != nil || out.Deployment != "bgd-4kq8w2m7r1x9zt3c" || out.Action != "checked" || out.Trigger != "manual" {
		t.Errorf("by source: %+v, %v", out, err)
	}
}

func TestHandleGroupSharedWithGreen(t *testing.T) {
	a, n, _ := testAWS(t)
	a.Groups = groups{"orders-prod": "orders-prod-green-3rnukl"}
	out, err := a.Handle(t.Context(), []byte(`{"deployment": "bgd-4kq8w2m7r1x9zt3c"}`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := out.Report.Check(CheckRollbackGroup)
	expect(t, c, Fail, []string{"also used by orders-prod-green-3rnukl"}, []string{"its own custom DB cluster parameter group"})
	if !strings.Contains(n.messages[0], "FAIL rollback cluster's parameter group is custom and unshared") {
		t.Errorf("message:\n%s", n.messages[0])
	}
}

// Production's (green's) DB cluster parameter group shared with another
// cluster: the rollback would fence that cluster too, so it refuses; the
// production-parameter-group check fails with the evidence and the fix,
// and the notification says so. The rollback side's group still passes.
func TestHandleProductionGroupShared(t *testing.T) {
	a, n, _ := testAWS(t)
	a.Groups = groups{"orders-prod-green-3rnukl": "reporting-replica"}
	out, err := a.Handle(t.Context(), []byte(`{"deployment": "bgd-4kq8w2m7r1x9zt3c"}`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := out.Report.Check(CheckProductionGroup)
	expect(t, c, Fail, []string{"also used by reporting-replica", "a rollback fences production through this group"},
		[]string{"its own custom DB cluster parameter group", "modify-db-cluster --db-cluster-identifier orders-prod-green-3rnukl"})
	if rb, _ := out.Report.Check(CheckRollbackGroup); rb.Status != Pass {
		t.Errorf("rollback group: %+v", rb)
	}
	if out.Report.Verdict != Fail || !strings.Contains(n.messages[len(n.messages)-1], "FAIL production's parameter group is custom and unshared") {
		t.Errorf("verdict %s, message:\n%s", out.Report.Verdict, n.messages[len(n.messages)-1])
	}
}
