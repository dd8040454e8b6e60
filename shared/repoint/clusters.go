package repoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/orchestrate"
)

// RDSAPI is the part of *rds.Client Clusters uses.
type RDSAPI interface {
	rds.DescribeDBClustersAPIClient
	ModifyDBCluster(ctx context.Context, in *rds.ModifyDBClusterInput, optFns ...func(*rds.Options)) (*rds.ModifyDBClusterOutput, error)
}

var _ RDSAPI = (*rds.Client)(nil)

// Defaults of Clusters' wait for a rename: RDS takes a minute or two (the
// DNS of the endpoints about as long again, which nothing here waits for).
const (
	DefaultRenamePollInterval = 5 * time.Second
	DefaultRenameTimeout      = 6 * time.Minute
)

// Clusters implements orchestrate.ClusterRenamer over RDS.
type Clusters struct {
	// PollInterval is how often Rename reads the cluster while it waits;
	// Timeout bounds the wait (and ctx). Zero means the Default* values.
	PollInterval, Timeout time.Duration

	api RDSAPI
}

var _ orchestrate.ClusterRenamer = (*Clusters)(nil)

// NewClusters returns the adapter over api (rds.NewFromConfig(cfg)).
func NewClusters(api RDSAPI) *Clusters { return &Clusters{api: api} }

func isClusterNotFound(err error) bool {
	var nf *rdstypes.DBClusterNotFoundFault
	var ae smithy.APIError
	return errors.As(err, &nf) || (errors.As(err, &ae) && ae.ErrorCode() == "DBClusterNotFoundFault")
}

// notFound matches orchestrate.ErrNotFound and keeps RDS's answer.
type notFound struct {
	id  string
	err error
}

func (e *notFound) Error() string {
	return fmt.Sprintf("DB cluster %s: %v: %v", e.id, orchestrate.ErrNotFound, e.err)
}
func (e *notFound) Unwrap() []error { return []error{orchestrate.ErrNotFound, e.err} }

// Cluster implements orchestrate.ClusterRenamer (DescribeDBClusters).
func (c *Clusters) Cluster(ctx context.Context, id string) (orchestrate.Cluster, error) {
	d, err := c.describe(ctx, id)
	if err != nil {
		return orchestrate.Cluster{}, err
	}
	return toCluster(*d), nil
}

func (c *Clusters) describe(ctx context.Context, id string) (*rdstypes.DBCluster, error) {
	out, err := c.api.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	if err != nil {
		if isClusterNotFound(err) {
			return nil, &notFound{id: id, err: err}
		}
		return nil, fmt.Errorf("describe DB cluster %s: %w", id, err)
	}
	for i, d := range out.DBClusters {
		if aws.ToString(d.DBClusterIdentifier) == id {
			return &out.DBClusters[i], nil
		}
	}
	return nil, &notFound{id: id, err: errors.New("not in DescribeDBClusters' answer")}
}

func toCluster(d rdstypes.DBCluster) orchestrate.Cluster {
	c := orchestrate.Cluster{
		ID: aws.ToString(d.DBClusterIdentifier), ARN: aws.ToString(d.DBClusterArn), Endpoint: aws.ToString(d.Endpoint),
		Port: int(aws.ToInt32(d.Port)), Engine: aws.ToString(d.Engine), EngineVersion: aws.ToString(d.EngineVersion),
		ParameterGroup: aws.ToString(d.DBClusterParameterGroup),
	}
	if len(d.TagList) > 0 {
		c.Tags = map[string]string{}
		for _, t := range d.TagList {
			c.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	for _, m := range d.DBClusterMembers {
		id := aws.ToString(m.DBInstanceIdentifier)
		c.Instances = append(c.Instances, id)
		if aws.ToBool(m.IsClusterWriter) {
			c.Writer = id
		}
	}
	return c
}

// Rename implements orchestrate.ClusterRenamer: ModifyDBCluster with
// NewDBClusterIdentifier and ApplyImmediately, then DescribeDBClusters
// every PollInterval until the cluster is "available" under its new name
// and its old name is gone, within Timeout and ctx.
func (c *Clusters) Rename(ctx context.Context, from, to string) error {
	if _, err := c.api.ModifyDBCluster(ctx, &rds.ModifyDBClusterInput{
		DBClusterIdentifier: aws.String(from), NewDBClusterIdentifier: aws.String(to), ApplyImmediately: aws.Bool(true),
	}); err != nil {
		return fmt.Errorf("rename DB cluster %s to %s: %w", from, to, err)
	}
	timeout := orDuration(c.Timeout, DefaultRenameTimeout)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(orDuration(c.PollInterval, DefaultRenamePollInterval))
	defer tick.Stop()
	last := "not visible yet"
	for {
		d, err := c.describe(wctx, to)
		switch {
		case err == nil && aws.ToString(d.Status) != "available":
			last = "visible with status " + aws.ToString(d.Status)
		case err == nil:
			if _, oldErr := c.describe(wctx, from); errors.Is(oldErr, orchestrate.ErrNotFound) {
				return nil
			}
			last = "visible, but " + from + " is still listed"
		case errors.Is(err, orchestrate.ErrNotFound):
			last = "not visible yet"
		case err != nil && wctx.Err() == nil:
			last = err.Error()
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("DB cluster %s was asked to become %s, but it was %s after %s: it may still finish; run the rollback again to go on", from, to, last, timeout)
		case <-tick.C:
		}
	}
}
