// Package awsrds is switchback's Amazon RDS adapter: it implements the
// orchestrate interfaces that need RDS (Topology, EventHistory,
// BlueGreenDeleter, FencerFactory) with aws-sdk-go-v2's service/rds.
//
// Every list call goes through the SDK's paginators; throttling and
// transient errors are retried by the SDK's own retryer (configure it on
// the rds.Client, not here). Errors name the RDS action (the SDK's
// "operation error RDS: <Action>" text is kept) and never hide the cause.
// Facts about RDS are cited from docs/aws-facts.md ("aws-facts §N").
package awsrds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// API is the part of *rds.Client the adapter calls; *rds.Client satisfies
// it. Tests pass a real client pointed at a fake endpoint.
type API interface {
	rds.DescribeBlueGreenDeploymentsAPIClient
	rds.DescribeDBClustersAPIClient
	rds.DescribeEventsAPIClient
	rds.DescribeDBClusterParametersAPIClient
	DeleteBlueGreenDeployment(ctx context.Context, in *rds.DeleteBlueGreenDeploymentInput, optFns ...func(*rds.Options)) (*rds.DeleteBlueGreenDeploymentOutput, error)
	ModifyDBClusterParameterGroup(ctx context.Context, in *rds.ModifyDBClusterParameterGroupInput, optFns ...func(*rds.Options)) (*rds.ModifyDBClusterParameterGroupOutput, error)
}

var _ API = (*rds.Client)(nil)

// Client is the RDS adapter.
type Client struct {
	api API
	// Logger receives the adapter's warnings (a deployment skipped by
	// Deployments) and the fencer's progress; nil means slog.Default().
	Logger *slog.Logger
	// now is the clock (tests set it).
	now func() time.Time
}

// The orchestrate contracts Client implements.
var (
	_ orchestrate.Topology         = (*Client)(nil)
	_ orchestrate.EventHistory     = (*Client)(nil)
	_ orchestrate.BlueGreenDeleter = (*Client)(nil)
	_ orchestrate.FencerFactory    = (*Client)(nil).Fencer
)

// New returns the adapter over api (normally rds.NewFromConfig(cfg)).
func New(api API) *Client { return &Client{api: api, now: time.Now} }

func (c *Client) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// NotFoundError says which RDS resource does not exist. It matches
// orchestrate.ErrNotFound with errors.Is, and the RDS error (for example
// *types.DBClusterNotFoundFault) with errors.As.
type NotFoundError struct {
	// Kind is "blue/green deployment", "DB cluster" or "DB cluster
	// parameter group".
	Kind string
	// ID is the identifier or ARN that was looked up.
	ID string
	// Err is RDS's answer; nil when RDS answered with an empty list.
	Err error
}

func (e *NotFoundError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s %s: %v", e.Kind, e.ID, orchestrate.ErrNotFound)
	}
	return fmt.Sprintf("%s %s: %v: %v", e.Kind, e.ID, orchestrate.ErrNotFound, e.Err)
}

// Unwrap returns orchestrate.ErrNotFound and the RDS error.
func (e *NotFoundError) Unwrap() []error {
	if e.Err == nil {
		return []error{orchestrate.ErrNotFound}
	}
	return []error{orchestrate.ErrNotFound, e.Err}
}

// hasCode reports whether err is an RDS API error with one of codes (the
// modeled fault types carry the same codes, see service/rds/types/errors.go).
func hasCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

func isDeploymentNotFound(err error) bool {
	var nf *types.BlueGreenDeploymentNotFoundFault
	return errors.As(err, &nf) || hasCode(err, "BlueGreenDeploymentNotFoundFault")
}

func isClusterNotFound(err error) bool {
	var nf *types.DBClusterNotFoundFault
	return errors.As(err, &nf) || hasCode(err, "DBClusterNotFoundFault")
}

func isParameterGroupNotFound(err error) bool {
	var nf *types.DBParameterGroupNotFoundFault
	return errors.As(err, &nf) || hasCode(err, "DBParameterGroupNotFound")
}

// describeClusters runs DescribeDBClusters over every page.
func (c *Client) describeClusters(ctx context.Context, in *rds.DescribeDBClustersInput) ([]types.DBCluster, error) {
	var out []types.DBCluster
	p := rds.NewDescribeDBClustersPaginator(c.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.DBClusters...)
	}
	return out, nil
}

// describeDeployments runs DescribeBlueGreenDeployments over every page.
func (c *Client) describeDeployments(ctx context.Context, in *rds.DescribeBlueGreenDeploymentsInput) ([]types.BlueGreenDeployment, error) {
	var out []types.BlueGreenDeployment
	p := rds.NewDescribeBlueGreenDeploymentsPaginator(c.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.BlueGreenDeployments...)
	}
	return out, nil
}

// arnResource splits an RDS ARN
// ("arn:aws:rds:us-east-1:123456789012:cluster:orders-prod") into its
// resource type ("cluster", "db", "cluster-endpoint", "deployment", …) and
// name.
func arnResource(arn string) (kind, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "rds" || parts[6] == "" {
		return "", "", false
	}
	return parts[5], parts[6], true
}

// toCluster maps a DescribeDBClusters DBCluster (fields: aws-facts §5).
func toCluster(d types.DBCluster) orchestrate.Cluster {
	cl := orchestrate.Cluster{
		ID:             aws.ToString(d.DBClusterIdentifier),
		ARN:            aws.ToString(d.DBClusterArn),
		Endpoint:       aws.ToString(d.Endpoint), // the writer (cluster) endpoint
		Port:           int(aws.ToInt32(d.Port)),
		Engine:         aws.ToString(d.Engine),
		EngineVersion:  aws.ToString(d.EngineVersion),
		ParameterGroup: aws.ToString(d.DBClusterParameterGroup),
	}
	for _, t := range d.TagList {
		if cl.Tags == nil {
			cl.Tags = map[string]string{}
		}
		cl.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, m := range d.DBClusterMembers {
		id := aws.ToString(m.DBInstanceIdentifier)
		cl.Instances = append(cl.Instances, id)
		if aws.ToBool(m.IsClusterWriter) {
			cl.Writer = id
		}
	}
	return cl
}

// Compile-time check that the fencer is a replication.Fencer.
var _ replication.Fencer = (*ParameterGroupFencer)(nil)
