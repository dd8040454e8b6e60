package orchestrate

import (
	"context"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// Topology resolves blue/green deployments and their clusters (the RDS
// adapter in shared/awsrds: DescribeBlueGreenDeployments,
// DescribeDBClusters).
type Topology interface {
	// Deployment describes one deployment with both clusters resolved
	// (Production is the Target: the new production once Status is
	// SWITCHOVER_COMPLETED); an error wrapping ErrNotFound when RDS has no
	// such deployment or one of its clusters is gone.
	Deployment(ctx context.Context, id string) (Deployment, error)
	// Deployments lists every blue/green deployment whose Status is
	// status, with both clusters resolved.
	Deployments(ctx context.Context, status string) ([]Deployment, error)
}

// RawEvent is one event as DescribeEvents returns it.
type RawEvent struct {
	SourceID   string
	SourceType string // "db-cluster" or "db-instance"
	Message    string
	Date       time.Time
}

// EventHistory reads past RDS events (DescribeEvents, at most 14 days back).
type EventHistory interface {
	// Events returns the events of the named sources of sourceType
	// ("db-cluster" or "db-instance") since since, every page; no sources
	// means every source of that type.
	Events(ctx context.Context, sourceType string, sources []string, since time.Time) ([]RawEvent, error)
}

// Invoker asks for a configure run without waiting for it (Lambda Invoke,
// InvocationType Event).
type Invoker interface {
	InvokeConfigure(ctx context.Context, req ConfigureRequest) error
}

// ConfigureRequest is the configure function's payload.
type ConfigureRequest struct {
	Deployment string `json:"deployment"`
}

// Notifier tells on-call something needs attention (SNS).
type Notifier interface {
	Notify(ctx context.Context, subject, message string) error
}

// Login is how switchback connects to a cluster: the admin user and
// password from its secret.
type Login struct {
	User     string
	Password string
}

// Credentials returns logins (Secrets Manager, cached per cold start).
type Credentials interface {
	// Admin returns the admin login for cluster.
	Admin(ctx context.Context, cluster Cluster) (Login, error)
	// ReplicationPassword returns the replication user's password ("" to
	// let configure generate one).
	ReplicationPassword(ctx context.Context, production Cluster) (string, error)
}

// Connector opens an engine server for a cluster's writer endpoint.
type Connector func(ctx context.Context, role string, cluster Cluster, login Login) (*replication.Server, error)

// FencerFactory returns the fencer for a cluster: on AWS its DB cluster
// parameter group (shared/awsrds), which survives failovers and works on
// Aurora MySQL v2.
type FencerFactory func(cluster Cluster, server *replication.Server) (replication.Fencer, error)

// BlueGreenDeleter deletes a blue/green deployment (never its target).
type BlueGreenDeleter interface {
	DeleteBlueGreenDeployment(ctx context.Context, id string) error
}
