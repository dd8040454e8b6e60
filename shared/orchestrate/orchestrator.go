package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// Settings are the thresholds and switches the functions are configured
// with (shared/lambdaenv).
type Settings struct {
	// DeleteBlueGreen deletes the blue/green deployment once the old
	// cluster is fenced and the fence read back (never its target).
	DeleteBlueGreen bool
	// RetentionHours is the binlog retention configure ensures on the new
	// production, raised to RollbackWindow + MinHeadroom when that is more
	// (ConfigureRetentionHours).
	RetentionHours int
	// Lease is how long a configure run holds a deployment.
	Lease time.Duration
	// Stall is how long a record may sit in capturing or configuring
	// before Reconcile takes it up again.
	Stall time.Duration
	// WaitTimeout bounds configure's wait for the replication threads.
	WaitTimeout time.Duration
	// MaxLag is the most replication lag (seconds behind, probe lag) the
	// monitor counts as ready; 0 means replication.DefaultMaxLag.
	MaxLag time.Duration
	// MinHeadroom is the binlog retention headroom the monitor needs
	// above it to count a pair as ready.
	MinHeadroom time.Duration
	// MonitorConcurrency pairs are observed at once (0 means 4), each
	// within MonitorPairTimeout (0 means 20 s).
	MonitorConcurrency int
	MonitorPairTimeout time.Duration
	// RollbackWindow is how long after configure a pair stays; then the
	// monitor (or a due teardown) closes it. 0: never automatically.
	RollbackWindow time.Duration
}

// ConfigureRetentionHours is the binlog retention configure ensures on
// the new production: RetentionHours (replication.DefaultRetentionHours
// when 0), raised to at least the rollback window plus MinHeadroom (in
// whole hours, rounded up) so that the monitor does not count a pair not
// ready for lack of headroom before its window ends; at most
// replication.MaxRetentionHours.
func (s Settings) ConfigureRetentionHours() int {
	h := s.RetentionHours
	if h <= 0 {
		h = replication.DefaultRetentionHours
	}
	if s.RollbackWindow > 0 {
		need := int(math.Ceil((s.RollbackWindow + max(s.MinHeadroom, 0)).Hours()))
		h = max(h, need)
	}
	return min(h, replication.MaxRetentionHours)
}

// Orchestrator runs capture, reconcile and configure with its adapters.
// Every field but Log and Now is required by the operations that use it.
type Orchestrator struct {
	Store       Store
	Topology    Topology
	Events      EventHistory
	Invoker     Invoker
	Notifier    Notifier
	Credentials Credentials
	Connect     Connector
	Fencer      FencerFactory
	Deleter     BlueGreenDeleter
	// Repoint re-points the application after a rollback (rollback.go).
	Repoint Repointers
	// VerifyInvoker continues a verify run in another invocation of the
	// verify function (verify.go); nil: a run that runs out of time says
	// to run it again.
	VerifyInvoker VerifyInvoker
	// BinlogFileCreated reads when production created a binlog file, for
	// the monitor's binlog retention headroom (shared/binlogtime.FileCreated,
	// which links go-mysql: only the monitor wires it). Without it the
	// headroom is unknown and no pair is ready.
	BinlogFileCreated replication.BinlogFileCreated
	// OptedIn says whether a cluster may be touched, and why (or why not).
	OptedIn func(clusterID string, tags map[string]string) (bool, string)
	// Metric publishes a metric for a deployment (embedded metric format
	// in Lambda); nil publishes nothing.
	Metric func(name string, value float64, deployment string)
	// Actor names who acts, in history entries: "capture/<request id>".
	Actor    string
	Settings Settings
	Log      *slog.Logger
	Now      func() time.Time
	// Hook is passed to the engine's requests (RollbackRequest.Hook,
	// ConfigureRequest.Hook): a test hook called at every kill point; nil
	// does nothing.
	Hook func(point string)
}

func (o *Orchestrator) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Orchestrator) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}

// history appends one entry; a failure to record is logged, not fatal:
// the step itself happened. It is written even when ctx has ended (a
// Lambda deadline): the failure is what most needs recording.
func (o *Orchestrator) history(ctx context.Context, deployment, step, outcome, detail string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e := HistoryEntry{Deployment: deployment, Time: o.now().UTC(), Actor: o.Actor, Step: step, Outcome: outcome, Detail: detail}
	if err := o.Store.AppendHistory(ctx, e); err != nil {
		o.log().Error("could not append history", "deployment", deployment, "step", step, "error", err.Error())
	}
}

// connectPair opens both writers of a pair (prodC's and rbC's endpoints)
// with the admin logins of prodLoginAs and rbLoginAs (the same clusters,
// except after a rename, when the secrets are still those of the
// configured identifiers). closeBoth closes what was opened; the errors
// name the cluster and the stage (login or connection).
func (o *Orchestrator) connectPair(ctx context.Context, prodC, rbC, prodLoginAs, rbLoginAs Cluster) (prod, rb *replication.Server, closeBoth func(), err error) {
	prodLogin, err := o.Credentials.Admin(ctx, prodLoginAs)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot get production %s's admin login: %w", prodLoginAs.ID, err)
	}
	rbLogin, err := o.Credentials.Admin(ctx, rbLoginAs)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot get rollback cluster %s's admin login: %w", rbLoginAs.ID, err)
	}
	if prod, err = o.Connect(ctx, "production", prodC, prodLogin); err != nil {
		return nil, nil, nil, fmt.Errorf("production %s unreachable: %w", prodC.ID, err)
	}
	if rb, err = o.Connect(ctx, "rollback target", rbC, rbLogin); err != nil {
		prod.Close()
		return nil, nil, nil, fmt.Errorf("rollback cluster %s unreachable: %w", rbC.ID, err)
	}
	return prod, rb, func() { prod.Close(); rb.Close() }, nil
}

// maxUpdateAttempts bounds the optimistic read-modify-write loop.
const maxUpdateAttempts = 20

// errNoChange, returned by a mutate function, leaves the record as it is.
var errNoChange = errors.New("no change")

// upsert reads the record (a new one in PhaseCapturing when there is none),
// applies mutate and writes it back conditionally, retrying on concurrent
// changes. It returns the stored record.
func (o *Orchestrator) upsert(ctx context.Context, id string, mutate func(*Record) error) (Record, error) {
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		rec, err := o.Store.Get(ctx, id)
		created := false
		switch {
		case errors.Is(err, ErrNotFound):
			rec, created = Record{Deployment: id, Phase: PhaseCapturing}, true
		case err != nil:
			return Record{}, err
		}
		if err := mutate(&rec); errors.Is(err, errNoChange) {
			return rec, nil
		} else if err != nil {
			return rec, err
		}
		rec.UpdatedAt = o.now().UTC()
		if created {
			rec, err = o.Store.Create(ctx, rec)
		} else {
			rec, err = o.Store.Update(ctx, rec)
		}
		switch {
		case err == nil:
			return rec, nil
		case errors.Is(err, ErrExists), errors.Is(err, ErrStaleVersion):
			continue // someone else wrote it first: read again
		default:
			return rec, err
		}
	}
	return Record{}, fmt.Errorf("record %s: gave up after %d concurrent updates", id, maxUpdateAttempts)
}

// optedIn reports whether a deployment's clusters may be touched: either
// cluster listed or tagged (after switchover the new production carries the
// blue cluster's tags).
func (o *Orchestrator) optedIn(d Deployment) (bool, string) {
	if o.OptedIn == nil {
		return false, "no opt-in rule configured"
	}
	var why []string
	for _, c := range []Cluster{d.Production, d.Rollback} {
		if c.ID == "" {
			continue
		}
		ok, reason := o.OptedIn(c.ID, c.Tags)
		if ok {
			return true, reason
		}
		why = append(why, reason)
	}
	return false, fmt.Sprint(why)
}

// greenSuffix is what RDS appends to green resources before switchover
// ("orders-prod-green-3rnukl", aws-facts §5).
var greenSuffix = regexp.MustCompile(`-green-[a-z0-9]+$`)

// matchesSource reports whether an event source (a cluster or instance
// name, as it was before or after the switchover rename) belongs to the new
// production of d.
func matchesSource(d Deployment, source string) bool {
	names := []string{source}
	if stripped := greenSuffix.ReplaceAllString(source, ""); stripped != source {
		names = append(names, stripped)
	}
	for _, n := range names {
		if n == d.Production.ID || slices.Contains(d.Production.Instances, n) || slices.Contains(d.TargetMembers, n) {
			return true
		}
	}
	return false
}

// applyDeployment copies a deployment's topology into a record.
func applyDeployment(rec *Record, d Deployment) {
	prod, rb := d.Production, d.Rollback
	rec.Production, rec.Rollback = &prod, &rb
	rec.Status, rec.CreateTime = d.Status, d.CreateTime
}

// ready reports whether a record has everything configure needs.
func ready(rec Record) bool {
	return rec.Production != nil && rec.Rollback != nil && rec.Status == StatusSwitchoverCompleted && rec.Coords != nil
}

// startConfigure moves a ready record from capturing to configuring, and
// invokes configure when this caller made that move: of all the events and
// reconcile runs that find the record ready, exactly one asks.
func (o *Orchestrator) startConfigure(ctx context.Context, id string, why string) (bool, error) {
	moved := false
	_, err := o.upsert(ctx, id, func(r *Record) error {
		moved = false
		if !ready(*r) || r.Phase != PhaseCapturing {
			return errNoChange
		}
		r.Phase, r.PhaseDetail = PhaseConfiguring, ""
		moved = true
		return nil
	})
	if err != nil || !moved {
		return false, err
	}
	if err := o.Invoker.InvokeConfigure(ctx, ConfigureRequest{Deployment: id}); err != nil {
		o.history(ctx, id, "invoke configure", "failed", err.Error())
		return false, fmt.Errorf("invoke configure for %s: %w", id, err)
	}
	o.history(ctx, id, "invoke configure", "done", why)
	return true, nil
}

// needsAttention records that a human must act, notifies on-call and
// publishes the NeedsAttention metric — once per distinct problem. On-call
// is told before the phase is stored: when the notification fails, the
// error makes the caller try again (Lambda's retry, the next reconcile)
// instead of leaving a silent needs-attention. A configured pair keeps its
// phase (it still replicates); the problem is notified and recorded.
func (o *Orchestrator) needsAttention(ctx context.Context, id, detail string) error {
	rec, err := o.Store.Get(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if rec.PhaseDetail == detail {
		return nil // already known and notified
	}
	o.log().Error("deployment needs attention", "deployment", id, "detail", detail)
	if o.Notifier != nil {
		if err := o.Notifier.Notify(ctx, "switchback: "+id+" needs attention", detail); err != nil {
			return fmt.Errorf("notify on-call about %s: %w", id, err)
		}
	}
	if o.Metric != nil {
		o.Metric("NeedsAttention", 1, id)
	}
	o.history(ctx, id, "needs attention", "failed", detail)
	_, err = o.upsert(ctx, id, func(r *Record) error {
		r.PhaseDetail = detail
		if r.Phase != PhaseConfigured {
			r.Phase = PhaseNeedsAttention
		}
		return nil
	})
	return err
}
