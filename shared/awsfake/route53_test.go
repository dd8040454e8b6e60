package awsfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/switchback/switchback/shared/awsfake"
)

const wireZone = "Z0123456789ABCDEFGHIJ"

func upsertCNAME(name, value string, ttl int64) *route53.ChangeResourceRecordSetsInput {
	return &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String("/hostedzone/" + wireZone), // the SDK strips the prefix
		ChangeBatch: &types.ChangeBatch{Comment: aws.String("test"), Changes: []types.Change{{
			Action: types.ChangeActionUpsert,
			ResourceRecordSet: &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeCname, TTL: aws.Int64(ttl),
				ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}},
		}}},
	}
}

// The real SDK's UPSERT, its ResourceRecordSetsChanged waiter and
// ListResourceRecordSets against the fake.
func TestRoute53UpsertWaitList(t *testing.T) {
	f := awsfake.StartRoute53(t)
	f.PendingPolls = 2
	f.AddHostedZone(wireZone, "Example.Internal")
	f.AddRecord(wireZone, awsfake.Route53Record{Name: "db.example.internal", Type: "CNAME", TTL: 60, Values: []string{"orders-prod.cluster-abc.us-east-1.rds.amazonaws.com"}})
	c := f.Client()
	ctx := context.Background()

	out, err := c.ChangeResourceRecordSets(ctx, upsertCNAME("DB.example.internal", "orders-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com", 5))
	if err != nil {
		t.Fatal(err)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(out.ChangeInfo.Id), "/change/C") || aws.ToString(out.ChangeInfo.Comment) != "test" {
		t.Fatalf("ChangeInfo = %+v", out.ChangeInfo)
	}
	w := route53.NewResourceRecordSetsChangedWaiter(c, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	})
	if err := w.Wait(ctx, &route53.GetChangeInput{Id: out.ChangeInfo.Id}, 5*time.Second); err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if n := len(f.Calls("GetChange")); n != 3 {
		t.Errorf("GetChange called %d times; want 3 (PENDING twice, then INSYNC)", n)
	}
	r, ok := f.Record(wireZone, "db.example.internal.", "CNAME")
	if !ok || r.TTL != 5 || len(r.Values) != 1 || r.Values[0] != "orders-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com" {
		t.Fatalf("record = %+v, %v", r, ok)
	}
	list, err := c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(wireZone),
		StartRecordName: aws.String("db.example.internal"), StartRecordType: types.RRTypeCname, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ResourceRecordSets) != 1 || aws.ToString(list.ResourceRecordSets[0].Name) != "db.example.internal." || aws.ToInt64(list.ResourceRecordSets[0].TTL) != 5 {
		t.Fatalf("list = %+v", list)
	}
	// From the start: the apex's NS and SOA come first, then db.
	all, err := c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(wireZone), MaxItems: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.ResourceRecordSets) != 2 || all.ResourceRecordSets[0].Type != types.RRTypeNs || !all.IsTruncated ||
		aws.ToString(all.NextRecordName) != "db.example.internal." || all.NextRecordType != types.RRTypeCname {
		t.Fatalf("first page = %+v", all)
	}
}

// Route 53's rules: a CNAME at the apex, beside another type, outside the
// zone, or a CREATE of an existing set fail the whole batch with
// InvalidChangeBatch (the SDK's custom error); unknown zones and changes
// are NoSuch…; nothing is applied.
func TestRoute53Refusals(t *testing.T) {
	f := awsfake.StartRoute53(t)
	f.AddHostedZone(wireZone, "example.internal.")
	f.AddRecord(wireZone, awsfake.Route53Record{Name: "www.example.internal.", Type: "A", TTL: 60, Values: []string{"10.0.0.1"}})
	c := f.Client()
	ctx := context.Background()
	for name, in := range map[string]*route53.ChangeResourceRecordSetsInput{
		"apex":     upsertCNAME("example.internal", "x.example.com", 5),
		"conflict": upsertCNAME("www.example.internal", "x.example.com", 5),
		"outside":  upsertCNAME("db.example.com", "x.example.com", 5),
	} {
		_, err := c.ChangeResourceRecordSets(ctx, in)
		var icb *types.InvalidChangeBatch
		if !errors.As(err, &icb) || len(icb.Messages) != 1 {
			t.Errorf("%s: %v; want InvalidChangeBatch with one message", name, err)
		}
	}
	create := upsertCNAME("db.example.internal", "x.example.com", 5)
	create.ChangeBatch.Changes[0].Action = types.ChangeActionCreate
	if _, err := c.ChangeResourceRecordSets(ctx, create); err != nil {
		t.Fatal(err)
	}
	_, err := c.ChangeResourceRecordSets(ctx, create)
	var icb *types.InvalidChangeBatch
	if !errors.As(err, &icb) || !strings.Contains(icb.Messages[0], "already exists") {
		t.Errorf("CREATE twice: %v", err)
	}
	noZone := upsertCNAME("db.example.internal", "x.example.com", 5)
	noZone.HostedZoneId = aws.String("ZNOSUCHZONE")
	var nsz *types.NoSuchHostedZone
	if _, err := c.ChangeResourceRecordSets(ctx, noZone); !errors.As(err, &nsz) {
		t.Errorf("unknown zone: %v; want NoSuchHostedZone", err)
	}
	var nsc *types.NoSuchChange
	if _, err := c.GetChange(ctx, &route53.GetChangeInput{Id: aws.String("/change/CNOSUCH")}); !errors.As(err, &nsc) {
		t.Errorf("unknown change: %v; want NoSuchChange", err)
	}
	f.FailNext("ChangeResourceRecordSets", 1, awsfake.Route53Throttled())
	if _, err := c.ChangeResourceRecordSets(ctx, upsertCNAME("api.example.internal", "y.example.com", 5)); err != nil {
		t.Errorf("after one throttle the SDK retries: %v", err)
	}
	if r, _ := f.Record(wireZone, "www.example.internal", "A"); len(r.Values) != 1 {
		t.Errorf("A record changed: %+v", r)
	}
}

// A request the fake does not model (an alias target) fails the test that
// started it.
func TestRoute53RejectsUnmodeled(t *testing.T) {
	spy := &wireSpy{TB: t}
	f := awsfake.StartRoute53(spy)
	f.AddHostedZone(wireZone, "example.internal.")
	in := upsertCNAME("db.example.internal", "x", 5)
	in.ChangeBatch.Changes[0].ResourceRecordSet.AliasTarget = &types.AliasTarget{DNSName: aws.String("x"), HostedZoneId: aws.String(wireZone)}
	if _, err := f.Client().ChangeResourceRecordSets(context.Background(), in); err == nil {
		t.Fatal("alias accepted")
	}
	if errs := spy.errors(); len(errs) != 1 || !strings.Contains(errs[0], "AliasTarget") {
		t.Errorf("test failures = %q; want one naming AliasTarget", errs)
	}
	status, body := wireRaw(t, "GET", f.URL()+"/2013-04-01/hostedzone/"+wireZone+"/rrset", nil, "")
	if status != 403 || !strings.Contains(body, "MissingAuthenticationToken") {
		t.Errorf("unsigned request: %d %s", status, body)
	}
}
