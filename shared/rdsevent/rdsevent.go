// Package rdsevent turns the Amazon RDS events that EventBridge delivers
// (source "aws.rds") into typed facts switchback can act on: blue/green
// deployment lifecycle events, cluster switchover events and the "Binary log
// coordinates in green environment after switchover" message that says where
// reverse replication must start.
//
// The package only reads events; it never calls AWS. It is strict where a
// wrong guess would be costly: binlog coordinates and cluster names are taken
// from the message only when they are unambiguous, and anything else is an
// error wrapping [ErrMalformed] or a fact of kind [KindIgnored] with a
// Reason.
package rdsevent

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what switchback makes of one event. Its values are part of the
// CLI's JSON output, so they must not change.
type Kind string

// The kinds of [Fact]. The RDS event IDs behind each kind are listed in the
// Aurora User Guide ("Blue/green deployment events"); the binlog coordinates
// message has no documented event ID.
const (
	// KindDeploymentCreated is RDS-EVENT-0244: the blue/green deployment's
	// tasks completed and the green environment is ready.
	KindDeploymentCreated Kind = "deployment-created"
	// KindDeploymentFailed is RDS-EVENT-0245: creating the blue/green
	// deployment failed; Reason holds the "because …" text when present.
	KindDeploymentFailed Kind = "deployment-failed"
	// KindDeploymentDeleted is RDS-EVENT-0246: the blue/green deployment was
	// deleted.
	KindDeploymentDeleted Kind = "deployment-deleted"
	// KindSwitchoverStarted is RDS-EVENT-0247: switchover of the whole
	// deployment started.
	KindSwitchoverStarted Kind = "switchover-started"
	// KindSwitchoverCompleted is RDS-EVENT-0248: switchover of the whole
	// deployment completed.
	KindSwitchoverCompleted Kind = "switchover-completed"
	// KindSwitchoverCanceled is RDS-EVENT-0249: switchover of the whole
	// deployment was canceled.
	KindSwitchoverCanceled Kind = "switchover-canceled"
	// KindClusterSwitchoverStarted is RDS-EVENT-0259: switchover from one DB
	// cluster to another started.
	KindClusterSwitchoverStarted Kind = "cluster-switchover-started"
	// KindClusterSwitchoverCompleted is RDS-EVENT-0260: switchover from one
	// DB cluster to another completed; OldName and NewName hold the names
	// after the rename when the message states them.
	KindClusterSwitchoverCompleted Kind = "cluster-switchover-completed"
	// KindClusterSwitchoverCanceled is RDS-EVENT-0261: switchover from one DB
	// cluster to another was canceled; Reason holds the "due to …" text.
	KindClusterSwitchoverCanceled Kind = "cluster-switchover-canceled"
	// KindBinlogCoordinates is the message starting with
	// [BinlogCoordinatesPrefix]: BinlogFile and BinlogPosition say where the
	// new production's binlog stood at switchover.
	KindBinlogCoordinates Kind = "binlog-coordinates"
	// KindIgnored is any event switchback does not act on; Reason says why.
	KindIgnored Kind = "ignored"
)

// EventBridge envelope values that switchback reads.
const (
	// Source is the EventBridge "source" of every RDS event.
	Source = "aws.rds"
	// DetailTypeBlueGreen is the "detail-type" of blue/green deployment
	// events.
	DetailTypeBlueGreen = "RDS Blue Green Deployment Event"
	// DetailTypeCluster is the "detail-type" of DB cluster events.
	DetailTypeCluster = "RDS DB Cluster Event"
	// DetailTypeInstance is the "detail-type" of DB instance events.
	DetailTypeInstance = "RDS DB Instance Event"
)

// BinlogCoordinatesPrefix starts the message RDS emits after a blue/green
// switchover to report the green writer's binlog file and position, e.g.
// "Binary log coordinates in green environment after switchover: file
// mysql-bin-changelog.000003 and position 40134574".
const BinlogCoordinatesPrefix = "Binary log coordinates in green environment after switchover"

// ErrMalformed is wrapped by every error this package returns: the event or
// message could not be read, and switchback must not guess what it meant.
var ErrMalformed = errors.New("malformed RDS event")

// malformed returns an error wrapping ErrMalformed whose text is
// "malformed RDS event: " followed by the formatted problem.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Fact is what switchback makes of one event. JSON tags are a public contract
// (CLI --output json).
type Fact struct {
	// Kind says what the event means to switchback.
	Kind Kind `json:"kind"`
	// EventID is detail.EventID, e.g. "RDS-EVENT-0248"; empty if the event
	// had none.
	EventID string `json:"event_id,omitempty"`
	// SourceID is detail.SourceIdentifier: a bgd- id, cluster or instance
	// name.
	SourceID string `json:"source_id,omitempty"`
	// SourceType is detail.SourceType, e.g. "BLUE_GREEN_DEPLOYMENT",
	// "CLUSTER" or "DB_INSTANCE".
	SourceType string `json:"source_type,omitempty"`
	// Deployment is the blue/green deployment id (bgd-…) when the event names
	// one.
	Deployment string `json:"deployment,omitempty"`
	// BinlogFile is the binlog file name of a KindBinlogCoordinates fact.
	BinlogFile string `json:"binlog_file,omitempty"`
	// BinlogPosition is the binlog position (≥ 4) of a KindBinlogCoordinates
	// fact.
	BinlogPosition uint64 `json:"binlog_position,omitempty"`
	// OldName is, for KindClusterSwitchoverCompleted, the old production
	// cluster's name after switchover (e.g. "orders-prod-old1").
	OldName string `json:"old_name,omitempty"`
	// NewName is, for KindClusterSwitchoverCompleted, the new production
	// cluster's name after switchover (e.g. "orders-prod").
	NewName string `json:"new_name,omitempty"`
	// Reason explains a KindIgnored fact, a failure or cancellation, or
	// names that could not be read.
	Reason string `json:"reason,omitempty"`
	// Time is detail.Date, or the envelope time when Date is absent or
	// unreadable.
	Time time.Time `json:"time,omitzero"`
	// Message is detail.Message as RDS sent it.
	Message string `json:"message,omitempty"`
}

// Detail is the "detail" object of an RDS event delivered by EventBridge.
// The field names are RDS's own (PascalCase), so a Detail marshals back into
// the shape RDS sends.
type Detail struct {
	// EventCategories are RDS's categories, e.g. ["notification"].
	EventCategories []string `json:"EventCategories,omitempty"`
	// SourceType is "BLUE_GREEN_DEPLOYMENT", "CLUSTER", "DB_INSTANCE", ….
	// (DescribeEvents spells these differently: "db-cluster", ….)
	SourceType string `json:"SourceType,omitempty"`
	// SourceArn is the ARN of the resource the event is about.
	SourceArn string `json:"SourceArn,omitempty"`
	// Date is when the event happened, as sent (ISO 8601 with milliseconds,
	// e.g. "2024-04-30T01:23:54.932Z").
	Date string `json:"Date,omitempty"`
	// Message is the human-readable event text.
	Message string `json:"Message,omitempty"`
	// SourceIdentifier is the bgd- id, cluster or instance name.
	SourceIdentifier string `json:"SourceIdentifier,omitempty"`
	// EventID is e.g. "RDS-EVENT-0248".
	EventID string `json:"EventID,omitempty"`
	// Tags are the resource's tags when the event was sent.
	Tags map[string]string `json:"Tags,omitempty"`
}
