package awsrds

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/switchback/switchback/shared/orchestrate"
)

// ErrNotAuroraCluster: a deployment's Source or Target is not a DB cluster
// ARN (an RDS DB instance blue/green deployment, which switchback does not
// handle).
var ErrNotAuroraCluster = errors.New("not an Aurora DB cluster")

// Deployment implements orchestrate.Topology: DescribeBlueGreenDeployments
// for id, then DescribeDBClusters for its Source and Target.
//
// Production is the Target and Rollback the Source whatever the Status:
// after switchover RDS rewrites them to the new production
// ("…:cluster:<name>") and the old blue ("…:cluster:<name>-oldN")
// (aws-facts §5). Before switchover the same fields hold green (Target) and
// the current production (Source), so callers must look at Status before
// treating them as production and rollback.
//
// An unknown deployment, or a Source/Target cluster that no longer exists,
// is a *NotFoundError (errors.Is orchestrate.ErrNotFound); its Kind says
// which.
func (c *Client) Deployment(ctx context.Context, id string) (orchestrate.Deployment, error) {
	if id == "" {
		// An empty identifier would make RDS list every deployment.
		return orchestrate.Deployment{}, errors.New("blue/green deployment identifier is empty")
	}
	list, err := c.describeDeployments(ctx, &rds.DescribeBlueGreenDeploymentsInput{BlueGreenDeploymentIdentifier: aws.String(id)})
	if err != nil {
		if isDeploymentNotFound(err) {
			return orchestrate.Deployment{}, &NotFoundError{Kind: "blue/green deployment", ID: id, Err: err}
		}
		return orchestrate.Deployment{}, fmt.Errorf("describe blue/green deployment %s: %w", id, err)
	}
	for _, b := range list {
		if aws.ToString(b.BlueGreenDeploymentIdentifier) == id {
			return c.resolve(ctx, b)
		}
	}
	return orchestrate.Deployment{}, &NotFoundError{Kind: "blue/green deployment", ID: id}
}

// Deployments implements orchestrate.Topology: every deployment
// (DescribeBlueGreenDeployments, all pages) whose Status is status, both
// clusters resolved; an empty status matches every deployment. RDS cannot
// filter on Status (its Filters are identifier, name, source and target),
// so the filter runs here.
//
// A deployment that cannot be resolved because one of its clusters no
// longer exists (DBClusterNotFoundFault: nothing left to roll back to) or
// is not an Aurora cluster is skipped and logged at Warn with the reason;
// the others are still returned. Any other error (access denied,
// throttling beyond the SDK's retries, …) fails the whole call, since it
// would hit every deployment alike.
func (c *Client) Deployments(ctx context.Context, status string) ([]orchestrate.Deployment, error) {
	list, err := c.describeDeployments(ctx, &rds.DescribeBlueGreenDeploymentsInput{})
	if err != nil {
		return nil, fmt.Errorf("list blue/green deployments: %w", err)
	}
	var out []orchestrate.Deployment
	for _, b := range list {
		if status != "" && aws.ToString(b.Status) != status {
			continue
		}
		d, err := c.resolve(ctx, b)
		if err != nil {
			var nf *NotFoundError
			if errors.As(err, &nf) || errors.Is(err, ErrNotAuroraCluster) {
				c.log().Warn("skipping blue/green deployment: it cannot be resolved",
					"deployment", aws.ToString(b.BlueGreenDeploymentIdentifier), "status", aws.ToString(b.Status), "error", err.Error())
				continue
			}
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// resolve describes a deployment's clusters.
func (c *Client) resolve(ctx context.Context, b types.BlueGreenDeployment) (orchestrate.Deployment, error) {
	id := aws.ToString(b.BlueGreenDeploymentIdentifier)
	d := orchestrate.Deployment{
		ID:         id,
		Status:     aws.ToString(b.Status),
		CreateTime: aws.ToTime(b.CreateTime),
	}
	source, target := aws.ToString(b.Source), aws.ToString(b.Target)
	if source == "" || target == "" {
		return d, fmt.Errorf("blue/green deployment %s (%s) has no Source or Target yet (Source %q, Target %q)", id, d.Status, source, target)
	}
	var err error
	if d.Production, err = c.clusterByARN(ctx, target); err != nil {
		return d, fmt.Errorf("blue/green deployment %s: Target (production after switchover): %w", id, err)
	}
	if d.Rollback, err = c.clusterByARN(ctx, source); err != nil {
		return d, fmt.Errorf("blue/green deployment %s: Source (rollback after switchover): %w", id, err)
	}
	// SwitchoverDetails lists, for Aurora, the cluster, each instance (:db:)
	// and custom endpoints (:cluster-endpoint:) (aws-facts §5). The contract
	// wants the cluster and instance names; endpoints are left out.
	seen := map[string]bool{}
	for _, s := range b.SwitchoverDetails {
		kind, name, ok := arnResource(aws.ToString(s.TargetMember))
		if !ok || (kind != "cluster" && kind != "db") || seen[name] {
			continue
		}
		seen[name] = true
		d.TargetMembers = append(d.TargetMembers, name)
	}
	return d, nil
}

// clusterByARN describes one cluster; DBClusterIdentifier accepts the ARN
// a blue/green deployment's Source and Target hold (aws-facts §5).
func (c *Client) clusterByARN(ctx context.Context, arn string) (orchestrate.Cluster, error) {
	if kind, _, ok := arnResource(arn); !ok || kind != "cluster" {
		return orchestrate.Cluster{}, fmt.Errorf("%s: %w", arn, ErrNotAuroraCluster)
	}
	return c.cluster(ctx, arn)
}

// cluster describes one cluster by identifier or ARN.
func (c *Client) cluster(ctx context.Context, idOrARN string) (orchestrate.Cluster, error) {
	list, err := c.describeClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(idOrARN)})
	if err != nil {
		if isClusterNotFound(err) {
			return orchestrate.Cluster{}, &NotFoundError{Kind: "DB cluster", ID: idOrARN, Err: err}
		}
		return orchestrate.Cluster{}, fmt.Errorf("describe DB cluster %s: %w", idOrARN, err)
	}
	switch len(list) {
	case 1:
		return toCluster(list[0]), nil
	case 0:
		return orchestrate.Cluster{}, &NotFoundError{Kind: "DB cluster", ID: idOrARN}
	default:
		return orchestrate.Cluster{}, fmt.Errorf("describe DB cluster %s: RDS returned %d clusters for one identifier", idOrARN, len(list))
	}
}
