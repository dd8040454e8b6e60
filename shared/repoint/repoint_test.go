package repoint_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/repoint"
)

const zone = "Z0ORDERSINTERNAL"

// UPSERT through the real SDK, waited for with its waiter; the record is
// read back; a second UPSERT of the same value is harmless.
func TestRoute53UpsertAndRead(t *testing.T) {
	f := awsfake.StartRoute53(t)
	f.PendingPolls = 3
	f.AddHostedZone(zone, "orders.internal")
	r := repoint.NewRoute53(f.Client())
	r.MinDelay, r.MaxDelay = time.Millisecond, 5*time.Millisecond
	ctx := context.Background()

	if target, _, err := r.CNAME(ctx, zone, "db.orders.internal"); err != nil || target != "" {
		t.Fatalf("no record yet: %q, %v", target, err)
	}
	id, err := r.UpsertCNAME(ctx, zone, "db.orders.internal", "orders-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com", 5)
	if err != nil || !strings.HasPrefix(id, "/change/") {
		t.Fatalf("UpsertCNAME = %q, %v", id, err)
	}
	if n := len(f.Calls("GetChange")); n != 4 {
		t.Errorf("waited with %d GetChange calls; want 4 (3 PENDING, then INSYNC)", n)
	}
	target, ttl, err := r.CNAME(ctx, zone, "DB.orders.internal.")
	if err != nil || target != "orders-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com" || ttl != 5 {
		t.Fatalf("CNAME = %q %d %v", target, ttl, err)
	}
	// Route 53's refusal, with its message.
	if _, err := r.UpsertCNAME(ctx, zone, "orders.internal", "x.example.com", 5); err == nil || !strings.Contains(err.Error(), "not permitted at apex") {
		t.Errorf("CNAME at the apex: %v", err)
	}
	// A change that never gets INSYNC within the bound.
	f.PendingPolls = 1000
	r.MaxWait = 30 * time.Millisecond
	if _, err := r.UpsertCNAME(ctx, zone, "api.orders.internal", "x.example.com", 5); err == nil || !strings.Contains(err.Error(), "not INSYNC") {
		t.Errorf("never in sync: %v", err)
	}
}

// PointAt rewrites host and port (keeping every other key, their order, and
// a string port's type) as a new version; the old one is AWSPREVIOUS; a
// second call changes nothing; a secret without "host" is refused.
func TestSecretsPointAt(t *testing.T) {
	f := awsfake.StartSecretsManager(t)
	arn := f.PutSecret("orders/app", `{"engine":"mysql","host":"orders-prod.cluster-abc","port":3306,"username":"app","password":"pw"}`)
	s := repoint.NewSecrets(f.Client())
	ctx := context.Background()
	host, port, err := s.Endpoint(ctx, "orders/app")
	if err != nil || host != "orders-prod.cluster-abc" || port != 3306 {
		t.Fatalf("Endpoint = %q %d %v", host, port, err)
	}
	version, changed, err := s.PointAt(ctx, "orders/app", "orders-prod-old1.cluster-abc", 3307)
	if err != nil || !changed || version == "" {
		t.Fatalf("PointAt = %q %v %v", version, changed, err)
	}
	v := f.SecretVersions(arn)
	if len(v) != 2 || v[0].ID != version ||
		v[0].Value != `{"engine":"mysql","host":"orders-prod-old1.cluster-abc","port":3307,"username":"app","password":"pw"}` ||
		v[1].Stages[0] != "AWSPREVIOUS" || !strings.Contains(v[1].Value, `"host":"orders-prod.cluster-abc"`) {
		t.Fatalf("versions = %+v", v)
	}
	puts := len(f.Calls(""))
	if _, changed, err := s.PointAt(ctx, arn, "ORDERS-PROD-OLD1.cluster-abc", 3307); err != nil || changed {
		t.Fatalf("second PointAt: changed %v, %v", changed, err)
	}
	for _, c := range f.Calls("")[puts:] {
		if c.Target == "secretsmanager.PutSecretValue" {
			t.Error("a second PointAt wrote a version")
		}
	}
	f.PutSecret("strport", `{"host":"a","port":"3306"}`)
	if _, _, err := s.PointAt(ctx, "strport", "b", 3307); err != nil {
		t.Fatal(err)
	}
	if got := f.SecretVersions("strport")[0].Value; got != `{"host":"b","port":"3307"}` {
		t.Errorf("string port: %s", got)
	}
	f.PutSecret("nohost", `{"username":"admin","password":"pw"}`)
	if _, _, err := s.PointAt(ctx, "nohost", "b", 3306); err == nil || !strings.Contains(err.Error(), `no "host"`) || strings.Contains(err.Error(), "pw") {
		t.Errorf("secret without host: %v", err)
	}
	f.PutSecret("notjson", `host=a password=hunter2`)
	if _, _, err := s.PointAt(ctx, "notjson", "b", 3306); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("not JSON: %v", err)
	}
	// A throttled put is retried by the SDK with the same token: one version.
	f.PutSecret("retry", `{"host":"a","port":3306}`)
	f.FailNext("retry", 2, awsfake.SecretsManagerThrottled())
	if _, _, err := s.PointAt(ctx, "retry", "b", 3306); err != nil {
		t.Fatal(err)
	}
	if n := len(f.SecretVersions("retry")); n != 2 {
		t.Errorf("%d versions; want 2", n)
	}
}

// Rename waits until the new name is visible and available and the old
// one gone; Cluster tells ErrNotFound apart; a rename that does not finish
// in time says so.
func TestClustersRename(t *testing.T) {
	f := awsfake.StartRDS(t)
	f.RenameDelay = 60 * time.Millisecond
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod", Endpoint: "orders-prod.cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306,
		ParameterGroup: "orders-prod-params", Tags: map[string]string{"team": "orders"},
		Members: []awsfake.RDSClusterMember{{Instance: "orders-prod-instance-1", Writer: true}}})
	c := repoint.NewClusters(f.Client())
	c.PollInterval = 10 * time.Millisecond
	ctx := context.Background()
	cl, err := c.Cluster(ctx, "orders-prod")
	if err != nil || cl.Endpoint != "orders-prod.cluster-abc.us-east-1.rds.amazonaws.com" || cl.Writer != "orders-prod-instance-1" || cl.Tags["team"] != "orders" || cl.ParameterGroup != "orders-prod-params" {
		t.Fatalf("Cluster = %+v, %v", cl, err)
	}
	if _, err := c.Cluster(ctx, "orders-prod-rolledback1"); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Fatalf("missing cluster: %v", err)
	}
	start := time.Now()
	if err := c.Rename(ctx, "orders-prod", "orders-prod-rolledback1"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("Rename returned after %s, before the rename was done", took)
	}
	cl, err = c.Cluster(ctx, "orders-prod-rolledback1")
	if err != nil || cl.Endpoint != "orders-prod-rolledback1.cluster-abc.us-east-1.rds.amazonaws.com" {
		t.Fatalf("renamed = %+v, %v", cl, err)
	}
	f.RenameDelay = time.Hour
	c.Timeout = 50 * time.Millisecond
	if err := c.Rename(ctx, "orders-prod-rolledback1", "orders-prod-rolledback2"); err == nil || !strings.Contains(err.Error(), "run the rollback again") {
		t.Errorf("a rename that does not finish: %v", err)
	}
	if err := c.Rename(ctx, "nope", "x"); err == nil {
		t.Error("renamed a cluster that does not exist")
	}
}

// listOnly is a Route53API that answers ListResourceRecordSets with sets.
type listOnly struct {
	repoint.Route53API
	sets []r53types.ResourceRecordSet
}

func (l listOnly) ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error) {
	return &route53.ListResourceRecordSetsOutput{ResourceRecordSets: l.sets}, nil
}

// CNAME refuses what an UPSERT of a simple CNAME would not safely replace:
// routing-policy record sets (a SetIdentifier) and alias records; it
// ignores the names after the one asked for.
func TestRoute53CNAMERefusesRoutingPolicyAndAlias(t *testing.T) {
	name := "db.orders.internal."
	cname := func(id string) r53types.ResourceRecordSet {
		s := r53types.ResourceRecordSet{Name: aws.String(name), Type: r53types.RRTypeCname, TTL: aws.Int64(5),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("a.example.com")}}}
		if id != "" {
			s.SetIdentifier, s.Weight = aws.String(id), aws.Int64(50)
		}
		return s
	}
	alias := r53types.ResourceRecordSet{Name: aws.String(name), Type: r53types.RRTypeA,
		AliasTarget: &r53types.AliasTarget{DNSName: aws.String("lb.example.com."), HostedZoneId: aws.String("Z1"), EvaluateTargetHealth: false}}
	next := r53types.ResourceRecordSet{Name: aws.String("dc.orders.internal."), Type: r53types.RRTypeA, TTL: aws.Int64(5),
		ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("10.0.0.1")}}}
	for _, c := range []struct {
		sets []r53types.ResourceRecordSet
		want string // "" means the plain CNAME is read
	}{
		{[]r53types.ResourceRecordSet{cname(""), next}, ""},
		{[]r53types.ResourceRecordSet{cname("blue"), cname("green")}, `routing policy (set identifier "blue")`},
		{[]r53types.ResourceRecordSet{alias}, "is an alias A record (to lb.example.com.)"},
	} {
		target, ttl, err := repoint.NewRoute53(listOnly{sets: c.sets}).CNAME(context.Background(), zone, "db.orders.internal")
		switch {
		case c.want == "" && (err != nil || target != "a.example.com" || ttl != 5):
			t.Errorf("plain CNAME: %q %d %v", target, ttl, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v; want an error containing %q", c.sets, err, c.want)
		}
	}
}
