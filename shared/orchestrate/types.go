// Package orchestrate is the AWS-free core of switchback's serverless side:
// from the facts RDS reports about a blue/green deployment (switchover
// completed, binlog coordinates) to exactly one configured rollback pair,
// whatever order the events arrive in, however often, or whether they
// arrive at all. Capture records facts, Reconcile recovers what events
// missed, Configure fences the old cluster and sets up reverse replication.
//
// It talks to AWS only through the small interfaces declared here
// (Topology, EventHistory, Store, Invoker, VerifyInvoker, Notifier,
// Credentials, FencerFactory, the re-pointers in Repointers) and reads
// binlog file creation times through replication.BinlogFileCreated; the
// adapters live in their own packages (shared/awsrds, shared/dynamostate,
// shared/awsclients, shared/awslambda, shared/repoint, shared/binlogtime)
// and each Lambda function wires only the ones it uses, so that it links
// no other.
package orchestrate

import (
	"context"
	"errors"
	"time"
)

// Phase is where a deployment's rollback pair stands.
type Phase string

// The phases of a Record.
const (
	// PhaseCapturing: facts are being gathered (topology, switchover,
	// coordinates); configure has not been asked for yet.
	PhaseCapturing Phase = "capturing"
	// PhaseUnmatched: binlog coordinates arrived from a source no
	// switched-over deployment could be found for yet; Reconcile retries.
	PhaseUnmatched Phase = "unmatched"
	// PhaseConfiguring: configure was invoked (or is running).
	PhaseConfiguring Phase = "configuring"
	// PhaseConfigured: the rollback cluster is fenced and replicates from
	// the new production from the recorded coordinates.
	PhaseConfigured Phase = "configured"
	// PhaseRollingBack: a rollback (cutover) is running or was interrupted.
	PhaseRollingBack Phase = "rolling-back"
	// PhaseRolledBack: the rollback cluster is production again.
	PhaseRolledBack Phase = "rolled-back"
	// PhaseClosed: teardown ended the rollback window: replication reset,
	// the replication user dropped.
	PhaseClosed Phase = "closed"
	// PhaseNeedsAttention: switchback cannot go on without a human: the
	// coordinates cannot be found or disagree, or configure was refused.
	// PhaseDetail says why; a notification was sent.
	PhaseNeedsAttention Phase = "needs-attention"
)

// Cluster is one Aurora cluster of a pair, as the RDS API describes it.
type Cluster struct {
	ID             string            `json:"id" dynamodbav:"id"`
	ARN            string            `json:"arn" dynamodbav:"arn"`
	Endpoint       string            `json:"endpoint" dynamodbav:"endpoint"`
	Port           int               `json:"port" dynamodbav:"port"`
	Engine         string            `json:"engine" dynamodbav:"engine"`
	EngineVersion  string            `json:"engine_version" dynamodbav:"engine_version"`
	ParameterGroup string            `json:"parameter_group" dynamodbav:"parameter_group"`
	Tags           map[string]string `json:"tags,omitempty" dynamodbav:"tags,omitempty"`
	// Instances are the cluster's DB instance identifiers; Writer is the
	// writer's.
	Instances []string `json:"instances,omitempty" dynamodbav:"instances,omitempty"`
	Writer    string   `json:"writer" dynamodbav:"writer"`
}

// Deployment is a blue/green deployment as the RDS API describes it, with
// both clusters resolved. After switchover Production is the Target (the
// green cluster under the old name) and Rollback the Source (renamed
// "<name>-oldN").
type Deployment struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	CreateTime time.Time `json:"create_time"`
	Production Cluster   `json:"production"`
	Rollback   Cluster   `json:"rollback"`
	// TargetMembers are the resource names (cluster and instances) of the
	// green side as SwitchoverDetails lists them.
	TargetMembers []string `json:"target_members,omitempty"`
}

// StatusSwitchoverCompleted is BlueGreenDeployment.Status once the
// switchover is done.
const StatusSwitchoverCompleted = "SWITCHOVER_COMPLETED"

// Coordinates are the green writer's binlog coordinates at switchover and
// where they came from.
type Coordinates struct {
	File     string `json:"file" dynamodbav:"file"`
	Position uint64 `json:"position" dynamodbav:"position"`
	// Message is the RDS message they were read from, verbatim.
	Message string `json:"message" dynamodbav:"message"`
	// Source is the message's source identifier (cluster or instance).
	Source string `json:"source" dynamodbav:"source"`
	// Time is when RDS emitted the message.
	Time time.Time `json:"time" dynamodbav:"time"`
	// Via is "event" (EventBridge) or "describe-events" (Reconcile).
	Via string `json:"via" dynamodbav:"via"`
}

// Same reports whether c and o name the same binlog position.
func (c Coordinates) Same(o Coordinates) bool { return c.File == o.File && c.Position == o.Position }

// Record is the state of one deployment's rollback pair: one per
// blue/green deployment (or, while unmatched, per coordinates source).
type Record struct {
	// Deployment is the bgd- id, or "unmatched:<source>".
	Deployment string       `json:"deployment" dynamodbav:"deployment"`
	Production *Cluster     `json:"production,omitempty" dynamodbav:"production,omitempty"`
	Rollback   *Cluster     `json:"rollback,omitempty" dynamodbav:"rollback,omitempty"`
	Status     string       `json:"status,omitempty" dynamodbav:"status,omitempty"`
	CreateTime time.Time    `json:"create_time,omitzero" dynamodbav:"create_time,omitempty"`
	Coords     *Coordinates `json:"coordinates,omitempty" dynamodbav:"coordinates,omitempty"`
	Phase      Phase        `json:"phase" dynamodbav:"phase"`
	// PhaseDetail says why the record is in its phase (needs-attention).
	PhaseDetail string `json:"phase_detail,omitempty" dynamodbav:"phase_detail,omitempty"`
	// Version increases by one with every update (optimistic locking).
	Version   int64     `json:"version" dynamodbav:"version"`
	UpdatedAt time.Time `json:"updated_at" dynamodbav:"updated_at"`
	// Lease, when set and unexpired, says which worker acts on the record.
	Lease *Lease `json:"lease,omitempty" dynamodbav:"lease,omitempty"`
	// ConfiguredAt is when configure finished: the rollback window's start.
	ConfiguredAt time.Time `json:"configured_at,omitzero" dynamodbav:"configured_at,omitempty"`
	// LastSeen is the monitor's latest observation of the pair.
	LastSeen *LastSeen `json:"last_seen,omitempty" dynamodbav:"last_seen,omitempty"`
	// LastRollback is what the latest rollback recorded (rollback.go).
	LastRollback *RollbackState `json:"last_rollback,omitempty" dynamodbav:"last_rollback,omitempty"`
}

// LastSeen is what the monitor last observed of a pair.
type LastSeen struct {
	Time          time.Time `json:"time" dynamodbav:"time"`
	Ready         bool      `json:"ready" dynamodbav:"ready"`
	Reasons       []string  `json:"reasons,omitempty" dynamodbav:"reasons,omitempty"`
	LagSeconds    *int64    `json:"lag_seconds,omitempty" dynamodbav:"lag_seconds,omitempty"`
	ProbeLagMS    *int64    `json:"probe_lag_ms,omitempty" dynamodbav:"probe_lag_ms,omitempty"`
	HeadroomHours *float64  `json:"headroom_hours,omitempty" dynamodbav:"headroom_hours,omitempty"`
}

// Lease gives one worker the right to act on a record until Expires.
type Lease struct {
	Holder  string    `json:"holder" dynamodbav:"holder"`
	Expires time.Time `json:"expires" dynamodbav:"expires"`
}

// HistoryEntry is one append-only line of a record's history.
type HistoryEntry struct {
	Deployment string    `json:"deployment" dynamodbav:"deployment"`
	Time       time.Time `json:"time" dynamodbav:"time"`
	// Actor is who acted: a function and its request id, or a CLI user.
	Actor   string `json:"actor" dynamodbav:"actor"`
	Step    string `json:"step" dynamodbav:"step"`
	Outcome string `json:"outcome" dynamodbav:"outcome"`
	Detail  string `json:"detail,omitempty" dynamodbav:"detail,omitempty"`
}

// Errors Store implementations return; callers branch on them.
var (
	// ErrNotFound: no record (or deployment) by that id.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that id already exists.
	ErrExists = errors.New("record already exists")
	// ErrStaleVersion: the record changed since it was read.
	ErrStaleVersion = errors.New("record changed since it was read (stale version)")
	// ErrLeaseHeld: another worker holds an unexpired lease.
	ErrLeaseHeld = errors.New("lease held by another worker")
)

// Store keeps Records and their history (the DynamoDB adapter in
// shared/dynamostate; tests may use any implementation of the contract).
type Store interface {
	// Get returns the record, or an error wrapping ErrNotFound.
	Get(ctx context.Context, deployment string) (Record, error)
	// Create stores a new record with Version 1; ErrExists if there is one.
	Create(ctx context.Context, rec Record) (Record, error)
	// Update stores rec if the stored version is still rec.Version, and
	// returns it with Version+1; ErrStaleVersion otherwise. It leaves the
	// lease as stored.
	Update(ctx context.Context, rec Record) (Record, error)
	// Delete removes the record if its version is still version.
	Delete(ctx context.Context, deployment string, version int64) error
	// List returns every record (paginated underneath).
	List(ctx context.Context) ([]Record, error)
	// AcquireLease gives holder the lease for ttl if it is free, expired
	// or already holder's; ErrLeaseHeld (naming the holder) otherwise.
	AcquireLease(ctx context.Context, deployment, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease frees holder's lease; releasing a lease one does not
	// hold is a no-op.
	ReleaseLease(ctx context.Context, deployment, holder string) error
	// AppendHistory adds an entry; entries are never changed or removed.
	AppendHistory(ctx context.Context, e HistoryEntry) error
	// History returns the record's entries, oldest first.
	History(ctx context.Context, deployment string) ([]HistoryEntry, error)
}
