// Package repoint holds the AWS adapters that move the application to the
// rollback cluster once a rollback made it production: a Route 53 CNAME
// (Route53, orchestrate.DNSRecords), the host and port in a Secrets Manager
// secret (Secrets, orchestrate.SecretEndpoints), and the RDS cluster rename
// a switchover itself does (Clusters, orchestrate.ClusterRenamer). Each
// takes its SDK client through a small interface the real client
// satisfies; tests point real clients at shared/awsfake. Errors keep the
// SDK's "operation error <Service>: <Action>" text and never quote a
// secret's value.
package repoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/switchback/switchback/shared/orchestrate"
)

// Route53API is the part of *route53.Client Route53 uses.
type Route53API interface {
	ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	route53.GetChangeAPIClient
}

var _ Route53API = (*route53.Client)(nil)

// Defaults of Route53's waiter: Route 53 usually propagates a change to its
// name servers within 60 s.
const (
	DefaultChangeMinDelay = 2 * time.Second
	DefaultChangeMaxDelay = 10 * time.Second
	DefaultChangeMaxWait  = 5 * time.Minute
)

// Route53 implements orchestrate.DNSRecords over Route 53.
type Route53 struct {
	// MinDelay and MaxDelay bound the waiter's polling of GetChange; MaxWait
	// bounds the whole wait. Zero means the Default* values.
	MinDelay, MaxDelay, MaxWait time.Duration

	api Route53API
}

var _ orchestrate.DNSRecords = (*Route53)(nil)

// NewRoute53 returns the adapter over api (route53.NewFromConfig(cfg)).
func NewRoute53(api Route53API) *Route53 { return &Route53{api: api} }

func fqdn(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// CNAME implements orchestrate.DNSRecords: ListResourceRecordSets from the
// name (every type), reading each record set of that name. It refuses,
// with an error, what an UPSERT of a simple CNAME would not safely
// replace: a record set with a SetIdentifier (weighted, latency,
// geolocation, failover, multivalue routing), an alias record, or a record
// of another type at the name (a CNAME cannot share its name). An unknown
// hosted zone is an error too.
func (r *Route53) CNAME(ctx context.Context, zoneID, name string) (string, int64, error) {
	want := fqdn(name)
	in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), StartRecordName: aws.String(want), MaxItems: aws.Int32(20)}
	target, ttl := "", int64(0)
	for page := 0; page < 50; page++ {
		out, err := r.api.ListResourceRecordSets(ctx, in)
		if err != nil {
			return "", 0, fmt.Errorf("read %s in hosted zone %s: %w", name, zoneID, err)
		}
		for _, s := range out.ResourceRecordSets {
			if fqdn(aws.ToString(s.Name)) != want {
				return target, ttl, nil // past the name: Route 53 lists in order
			}
			switch {
			case s.SetIdentifier != nil:
				return "", 0, fmt.Errorf("%s in hosted zone %s has a %s record set with a routing policy (set identifier %q): switchback only UPSERTs a simple CNAME; re-point it by hand", name, zoneID, s.Type, aws.ToString(s.SetIdentifier))
			case s.AliasTarget != nil:
				return "", 0, fmt.Errorf("%s in hosted zone %s is an alias %s record (to %s): switchback only UPSERTs a simple CNAME; re-point it by hand", name, zoneID, s.Type, aws.ToString(s.AliasTarget.DNSName))
			case s.Type != r53types.RRTypeCname:
				return "", 0, fmt.Errorf("%s in hosted zone %s has a %s record: a CNAME cannot share its name; re-point it by hand", name, zoneID, s.Type)
			case len(s.ResourceRecords) == 0:
				return "", 0, fmt.Errorf("%s in hosted zone %s is a CNAME without a value (a traffic policy record?): switchback only UPSERTs a simple CNAME", name, zoneID)
			}
			target, ttl = aws.ToString(s.ResourceRecords[0].Value), aws.ToInt64(s.TTL)
		}
		if !out.IsTruncated || out.NextRecordName == nil || fqdn(aws.ToString(out.NextRecordName)) != want {
			return target, ttl, nil
		}
		in.StartRecordName, in.StartRecordType, in.StartRecordIdentifier = out.NextRecordName, out.NextRecordType, out.NextRecordIdentifier
	}
	return "", 0, fmt.Errorf("read %s in hosted zone %s: too many record sets of that name", name, zoneID)
}

// UpsertCNAME implements orchestrate.DNSRecords: ChangeResourceRecordSets
// UPSERT, then the SDK's ResourceRecordSetsChanged waiter until INSYNC.
func (r *Route53) UpsertCNAME(ctx context.Context, zoneID, name, target string, ttl int64) (string, error) {
	out, err := r.api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String("switchback rollback: point " + name + " at the rollback cluster " + target),
			Changes: []r53types.Change{{
				Action: r53types.ChangeActionUpsert,
				ResourceRecordSet: &r53types.ResourceRecordSet{
					Name: aws.String(fqdn(name)), Type: r53types.RRTypeCname, TTL: aws.Int64(ttl),
					ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(target)}},
				},
			}},
		},
	})
	if err != nil {
		var icb *r53types.InvalidChangeBatch
		if errors.As(err, &icb) && len(icb.Messages) > 0 {
			return "", fmt.Errorf("UPSERT %s CNAME %s in hosted zone %s refused: %s", name, target, zoneID, strings.Join(icb.Messages, "; "))
		}
		return "", fmt.Errorf("UPSERT %s CNAME %s in hosted zone %s: %w", name, target, zoneID, err)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Id == nil {
		return "", fmt.Errorf("UPSERT %s CNAME: Route 53 answered without a change id", name)
	}
	id := aws.ToString(out.ChangeInfo.Id)
	if out.ChangeInfo.Status == r53types.ChangeStatusInsync {
		return id, nil
	}
	if err := r.WaitInsync(ctx, id); err != nil {
		return id, fmt.Errorf("%s CNAME → %s was accepted (change %s) but is not INSYNC yet: %w", name, target, id, err)
	}
	return id, nil
}

// WaitInsync implements orchestrate.DNSRecords: the SDK's
// ResourceRecordSetsChanged waiter on GetChange until the change is
// INSYNC, within MaxWait and ctx.
func (r *Route53) WaitInsync(ctx context.Context, changeID string) error {
	minDelay, maxDelay, maxWait := orDuration(r.MinDelay, DefaultChangeMinDelay), orDuration(r.MaxDelay, DefaultChangeMaxDelay), orDuration(r.MaxWait, DefaultChangeMaxWait)
	w := route53.NewResourceRecordSetsChangedWaiter(r.api, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = minDelay, max(maxDelay, minDelay)
	})
	if err := w.Wait(ctx, &route53.GetChangeInput{Id: aws.String(changeID)}, maxWait); err != nil {
		return fmt.Errorf("change %s: %w", changeID, err)
	}
	return nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
