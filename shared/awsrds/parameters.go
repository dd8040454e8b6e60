package awsrds

import (
	"context"
	"errors"

	"github.com/switchback/switchback/shared/orchestrate"
)

// ClusterParameter returns parameter name's value in DB cluster parameter
// group group (DescribeDBClusterParameters, every page), "" when the group
// lists no value for it. An unknown group is a *NotFoundError. It is what
// preflight reads binlog_format with.
func (c *Client) ClusterParameter(ctx context.Context, group, name string) (string, error) {
	if group == "" {
		return "", errors.New("DB cluster parameter group name is empty")
	}
	return (&ParameterGroupFencer{client: c}).parameter(ctx, group, name)
}

// CheckFenceGroup runs the parameter-group fencer's Check for cluster
// without a connection to its writer (which Check does not use): it returns
// the cluster's current DB cluster parameter group, or an error wrapping
// ErrFenceRefused when that is a default group or another cluster uses it
// (a *NotFoundError when the cluster does not exist). It changes nothing.
func (c *Client) CheckFenceGroup(ctx context.Context, cluster orchestrate.Cluster) (string, error) {
	if cluster.ID == "" && cluster.ARN == "" {
		return "", errors.New("parameter-group fence check: the cluster has neither an identifier nor an ARN")
	}
	return (&ParameterGroupFencer{client: c, cluster: cluster}).group(ctx)
}
