package orchestrate

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/switchback/switchback/shared/emf"
	"github.com/switchback/switchback/shared/replication"
)

// The metrics Monitor publishes (namespace emf.Namespace, dimension
// Deployment), one EMF line per pair and run.
const (
	MetricReplicaLag       = "ReplicaLagSeconds"
	MetricProbeLag         = "ProbeLagSeconds"
	MetricReplication      = "ReplicationRunning"
	MetricBytesBehind      = "BytesBehind"
	MetricHeadroom         = "BinlogRetentionHeadroomHours"
	MetricRollbackReady    = "RollbackReady"
	defaultMonitorParallel = 4
	defaultPairTimeout     = 20 * time.Second
)

// MonitorReport is what one monitor run saw and did.
type MonitorReport struct {
	// Pairs are the pairs published, in the store's order: the configured
	// pairs observed, and every other record with clusters that is not
	// closed (published not ready, with its phase as the reason).
	Pairs []PairStatus `json:"pairs"`
	// Due are the configured pairs whose rollback window has ended. The
	// monitor observes them like the others and leaves closing them to the
	// scheduled teardown ({"due": true}): a teardown may wait on a cluster
	// that does not answer, and the monitor must publish every pair.
	Due []string `json:"due,omitempty"`
}

// PairStatus is one observation of a pair and the verdict on it. Pointer
// fields are nil when the value is unknown; unknown values are not
// published.
type PairStatus struct {
	Deployment string `json:"deployment"`
	Production string `json:"production"`
	Rollback   string `json:"rollback"`
	// Ready is RollbackReady: replicating without error, lag under MaxLag,
	// headroom above MinHeadroom, both clusters reachable.
	Ready bool `json:"ready"`
	// Reachable: both writers answered within the pair's timeout.
	Reachable bool `json:"reachable"`
	// Running: both replication threads of the rollback cluster run.
	Running       bool     `json:"replication_running"`
	LagSeconds    *int64   `json:"lag_seconds,omitempty"`
	ProbeLagMS    *int64   `json:"probe_lag_ms,omitempty"`
	BytesBehind   *int64   `json:"bytes_behind,omitempty"`
	HeadroomHours *float64 `json:"headroom_hours,omitempty"`
	// Headroom is how the headroom was computed (or why it is unknown).
	Headroom *replication.Headroom `json:"headroom,omitempty"`
	// Reasons say why the pair is not ready; empty when it is.
	Reasons  []string `json:"reasons"`
	Warnings []string `json:"warnings,omitempty"`
	// Notified is the readiness change on-call was told about in this run
	// ("not-ready", "ready"), if any.
	Notified string `json:"notified,omitempty"`
	MS       int64  `json:"ms"`
}

// Monitor observes every configured pair (records in PhaseConfigured),
// at most Settings.MonitorConcurrency at once and each within
// Settings.MonitorPairTimeout, so that one cluster that does not answer
// cannot hold up the others. For each pair it connects both writers as
// Configure does, checks that both clusters' fences can be set (the
// rollback fences production through its DB cluster parameter group, so a
// default or shared group there means the rollback would be refused),
// runs replication.Observe (the heartbeat probe included) and
// replication.MeasureHeadroom (with BinlogFileCreated), and publishes one EMF line (namespace
// Switchback, dimension Deployment): ReplicaLagSeconds, ProbeLagSeconds,
// ReplicationRunning, BytesBehind, BinlogRetentionHeadroomHours and
// RollbackReady. A value that is unknown is left out, never made up; a
// pair that cannot be observed still publishes RollbackReady=0 and
// ReplicationRunning=0, with the reason logged.
//
// Every other record that names clusters and is not closed (capturing,
// configuring, rolling-back, rolled-back, needs-attention) publishes
// RollbackReady=0 and ReplicationRunning=0 with its phase as the reason,
// without touching the servers. A rolling-back record whose lease has
// expired is a rollback run that was killed (a Lambda timeout) mid-way:
// production may be fenced; on-call is told once per run.
//
// It stores what it saw in a configured record's LastSeen (the phase is
// left as it is) and tells on-call when a pair's readiness changes either
// way. A configured pair whose rollback window (Settings.RollbackWindow
// after ConfiguredAt) has ended is observed as the others, listed in Due
// and warned about; the scheduled teardown ({"due": true}) closes it — the
// monitor itself never tears down, so a teardown that hangs on a cluster
// cannot keep it from publishing. The error is for a store that cannot be
// listed; a pair's problems are in its status.
func (o *Orchestrator) Monitor(ctx context.Context) (MonitorReport, error) {
	rep := MonitorReport{Pairs: []PairStatus{}}
	recs, err := o.Store.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("monitor: list records: %w", err)
	}
	now := o.now()
	var watch []Record
	for _, rec := range recs {
		switch {
		case rec.Phase == PhaseClosed:
		case rec.Phase == PhaseConfigured:
			watch = append(watch, rec)
			if o.due(rec, now) {
				rep.Due = append(rep.Due, rec.Deployment)
			}
		case rec.Production != nil && rec.Rollback != nil:
			watch = append(watch, rec)
		}
	}
	parallel := o.Settings.MonitorConcurrency
	if parallel <= 0 {
		parallel = defaultMonitorParallel
	}
	rep.Pairs = make([]PairStatus, len(watch))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, rec := range watch {
		if rec.Phase != PhaseConfigured {
			// Not observed: the phase says the way back is not open.
			st := o.phaseStatus(ctx, rec, now)
			o.publish(ctx, st)
			rep.Pairs[i] = st
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rep.Pairs[i] = unobserved(rec, "the monitor run ended before this pair's turn: "+context.Cause(ctx).Error())
				o.publish(ctx, rep.Pairs[i])
				return
			}
			st := o.observeBounded(ctx, rec)
			<-sem
			if o.due(rec, now) {
				st.Warnings = append(st.Warnings, fmt.Sprintf("the rollback window of %s ended at %s: the scheduled teardown ({\"due\": true}) closes this pair",
					o.Settings.RollbackWindow, rec.ConfiguredAt.Add(o.Settings.RollbackWindow).UTC().Format(time.RFC3339)))
			}
			o.publish(ctx, st)
			st.Notified = o.recordSeen(ctx, rec.Deployment, st)
			rep.Pairs[i] = st
		}()
	}
	wg.Wait()
	return rep, nil
}

// staleRollbackReason marks the LastSeen of a rolling-back record whose
// run was found killed: on-call was told about that run.
const staleRollbackReason = "rollback run ended without an outcome"

// phaseStatus is the status of a record with clusters that is not
// configured (nor closed): not ready, its phase the reason. A rolling-back
// record whose lease expired is told to on-call once per rollback run.
func (o *Orchestrator) phaseStatus(ctx context.Context, rec Record, now time.Time) PairStatus {
	reason := "the pair is " + string(rec.Phase) + ", not configured: no rollback replica is watched"
	if rec.PhaseDetail != "" {
		reason += " (" + rec.PhaseDetail + ")"
	}
	st := unobserved(rec, reason)
	if rec.Phase == PhaseRollingBack && (rec.Lease == nil || !rec.Lease.Expires.After(now)) {
		st.Reasons = append(st.Reasons, staleRollbackReason+": its run holds no lease (killed or timed out mid-way)")
		if o.notifyStaleRollback(ctx, rec.Deployment, st) {
			st.Notified = "rollback-stalled"
		}
	}
	return st
}

// notifyStaleRollback tells on-call, once per rollback run, that a
// rolling-back record's run ended without an outcome; it marks the
// record's LastSeen so later monitor runs stay quiet. It reports whether
// it told on-call.
func (o *Orchestrator) notifyStaleRollback(ctx context.Context, id string, st PairStatus) bool {
	now := o.now().UTC()
	var rec Record
	marked := false
	_, err := o.upsert(ctx, id, func(r *Record) error {
		marked = false
		if r.Version == 0 || r.Phase != PhaseRollingBack || (r.Lease != nil && r.Lease.Expires.After(now)) {
			return errNoChange // gone, moved on, or a run holds it again
		}
		if ls := r.LastSeen; ls != nil && len(ls.Reasons) > 0 && strings.HasPrefix(ls.Reasons[len(ls.Reasons)-1], staleRollbackReason) &&
			(r.LastRollback == nil || !ls.Time.Before(r.LastRollback.StartedAt)) {
			return errNoChange // this run was already told
		}
		r.LastSeen = &LastSeen{Time: now, Ready: false, Reasons: st.Reasons}
		rec, marked = *r, true
		return nil
	})
	if err != nil {
		o.log().Error("could not record a stalled rollback", "deployment", id, "error", err.Error())
		return false
	}
	if !marked {
		return false
	}
	started, by := "at an unknown time", "unknown"
	if lr := rec.LastRollback; lr != nil {
		started, by = lr.StartedAt.UTC().Format(time.RFC3339), cmp.Or(lr.Caller, "unknown")
	}
	detail := fmt.Sprintf("the rollback from %s to %s started %s by %s ended without an outcome (its run was killed or timed out)", st.Production, st.Rollback, started, by)
	o.history(ctx, id, "monitor", "rollback-stalled", detail)
	o.notify(ctx, "switchback: "+id+" rollback STALLED",
		fmt.Sprintf("%s (phase rolling-back): %s; %s may be fenced read-only and reject the application's writes. Next: run the rollback again (it resumes from where the servers stand) or check read_only on both clusters by hand.",
			id, detail, st.Production))
	return true
}

// due reports whether a configured record's rollback window has ended.
func (o *Orchestrator) due(rec Record, now time.Time) bool {
	w := o.Settings.RollbackWindow
	return w > 0 && rec.Phase == PhaseConfigured && !rec.ConfiguredAt.IsZero() && !now.Before(rec.ConfiguredAt.Add(w))
}

// unobserved is the status of a pair that could not be observed.
func unobserved(rec Record, reason string) PairStatus {
	st := PairStatus{Deployment: rec.Deployment, Reasons: []string{reason}}
	if rec.Production != nil {
		st.Production = rec.Production.ID
	}
	if rec.Rollback != nil {
		st.Rollback = rec.Rollback.ID
	}
	return st
}

// observeBounded observes a pair within the pair timeout. The observation
// runs on its own goroutine so that even a call that ignores its context
// cannot hold the run past the timeout; it ends on its own once its calls
// return (they all have the timed-out context).
func (o *Orchestrator) observeBounded(ctx context.Context, rec Record) PairStatus {
	timeout := o.Settings.MonitorPairTimeout
	if timeout <= 0 {
		timeout = defaultPairTimeout
	}
	start := o.now()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan PairStatus, 1)
	go func() { done <- o.observePair(pctx, rec, timeout) }()
	var st PairStatus
	select {
	case st = <-done:
	case <-pctx.Done():
		st = unobserved(rec, fmt.Sprintf("no answer within the pair timeout of %s: check that both clusters are up and reachable from the monitor", timeout))
	}
	st.MS = o.now().Sub(start).Milliseconds()
	return st
}

// observePair connects both writers and observes the pair.
func (o *Orchestrator) observePair(ctx context.Context, rec Record, timeout time.Duration) PairStatus {
	st := unobserved(rec, "")
	st.Reasons = st.Reasons[:0]
	if rec.Production == nil || rec.Rollback == nil {
		st.Reasons = append(st.Reasons, "the record names no clusters")
		return st
	}
	prodC, rbC := *rec.Production, *rec.Rollback
	fail := func(format string, args ...any) PairStatus {
		st.Reasons = append(st.Reasons, fmt.Sprintf(format, args...))
		return st
	}
	prod, rb, closeBoth, err := o.connectPair(ctx, prodC, rbC, prodC, rbC)
	if err != nil {
		return fail("%v", err)
	}
	defer closeBoth()
	st.Reachable = true
	var fence replication.Fencer
	if o.Fencer != nil {
		if fence, err = o.Fencer(rbC, rb); err != nil {
			return fail("rollback cluster %s: %v", rbC.ID, err)
		}
		// A rollback fences production (and later lifts the rollback
		// cluster's fence) through their parameter groups, and refuses
		// when either is a default group or shared: the way back is not
		// open then, however well the replica runs.
		if pf, err := o.Fencer(prodC, prod); err != nil {
			st.Reasons = append(st.Reasons, fmt.Sprintf("production %s cannot be fenced, so a rollback would be refused: %v", prodC.ID, err))
		} else if err := pf.Check(ctx); err != nil {
			st.Reasons = append(st.Reasons, fmt.Sprintf("production %s cannot be fenced, so a rollback would be refused: %v", prodC.ID, err))
		}
		if err := fence.Check(ctx); err != nil {
			st.Reasons = append(st.Reasons, fmt.Sprintf("rollback cluster %s's fence cannot be managed, so a rollback would be refused: %v", rbC.ID, err))
		}
	}
	maxLag := o.Settings.MaxLag
	if maxLag <= 0 {
		maxLag = replication.DefaultMaxLag
	}
	// Long enough to measure a lag past MaxLag, short enough to leave the
	// pair's timeout room for the rest.
	probe := min(max(2*maxLag, 2*time.Second), timeout/2)
	obs, err := replication.Observe(ctx, replication.ObserveRequest{
		Production: prod, Rollback: rb, RollbackFence: fence, MaxLag: maxLag, ProbeTimeout: probe,
	})
	if err != nil {
		return fail("cannot read the replication state: %v", err)
	}
	st.Running = obs.IORunning && obs.SQLRunning
	st.LagSeconds, st.ProbeLagMS, st.BytesBehind = obs.SecondsBehind, obs.ProbeLagMS, obs.BytesBehind
	st.Reasons = append(st.Reasons, obs.Reasons...)
	st.Warnings = obs.Warnings
	if w := parallelGroupWarning(ctx, fence); w != "" {
		st.Warnings = append(st.Warnings, w)
	}
	h, err := replication.MeasureHeadroom(ctx, prod, rb, o.BinlogFileCreated)
	switch {
	case err != nil:
		st.Reasons = append(st.Reasons, "binlog retention headroom unknown: "+err.Error())
	case h.Unlimited:
		st.Headroom = &h // never purged by age: no headroom to publish, none missing
	case h.Hours == nil:
		st.Headroom = &h
		st.Reasons = append(st.Reasons, "binlog retention headroom unknown: "+h.Unknown)
	case h.Gone:
		st.Headroom, st.HeadroomHours = &h, h.Hours
		st.Reasons = append(st.Reasons, fmt.Sprintf("production %s no longer has binlog %s, which the rollback replica still needs: the way back is lost until the pair is configured again", prodC.ID, h.File))
	default:
		st.Headroom, st.HeadroomHours = &h, h.Hours
		if minH := o.Settings.MinHeadroom; *h.Hours <= minH.Hours() {
			st.Reasons = append(st.Reasons, fmt.Sprintf("binlog retention headroom %.1f h is not above %g h: production %s may purge %s (created %s, retention %s), which the rollback replica still needs",
				*h.Hours, minH.Hours(), prodC.ID, h.File, h.Created.Format(time.RFC3339), h.Retention))
		}
	}
	st.Ready = len(st.Reasons) == 0
	return st
}

// publish logs the pair's EMF line and, when it is not ready, why.
func (o *Orchestrator) publish(ctx context.Context, st PairStatus) {
	log := o.log().With("deployment", st.Deployment)
	ms := []emf.Metric{
		{Name: MetricRollbackReady, Value: b2f(st.Ready), Unit: emf.UnitNone},
		{Name: MetricReplication, Value: b2f(st.Running), Unit: emf.UnitNone},
	}
	if st.LagSeconds != nil {
		ms = append(ms, emf.Metric{Name: MetricReplicaLag, Value: float64(*st.LagSeconds), Unit: emf.UnitSeconds})
	}
	if st.ProbeLagMS != nil {
		ms = append(ms, emf.Metric{Name: MetricProbeLag, Value: float64(*st.ProbeLagMS) / 1000, Unit: emf.UnitSeconds})
	}
	if st.BytesBehind != nil {
		ms = append(ms, emf.Metric{Name: MetricBytesBehind, Value: float64(*st.BytesBehind), Unit: emf.UnitBytes})
	}
	if st.HeadroomHours != nil {
		ms = append(ms, emf.Metric{Name: MetricHeadroom, Value: math.Round(*st.HeadroomHours*100) / 100, Unit: emf.UnitNone})
	}
	attrs := []any{"ready", st.Ready, "reachable", st.Reachable, "production", st.Production, "rollback", st.Rollback, "reasons", st.Reasons}
	if len(st.Warnings) > 0 {
		attrs = append(attrs, "warnings", st.Warnings)
	}
	if st.Headroom != nil {
		attrs = append(attrs, "headroom", st.Headroom)
	}
	emf.Emit(ctx, log, st.Deployment, ms, attrs...)
	if !st.Ready {
		log.Warn("rollback not ready", "reachable", st.Reachable, "reasons", strings.Join(st.Reasons, "; "))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// recordSeen stores the observation in the record's LastSeen (only while
// the record is still configured and no other worker holds it) and, when
// readiness changed, records it in the history and tells on-call. A pair
// not seen before counts as ready: configure left it replicating. It
// returns the change notified, if any.
func (o *Orchestrator) recordSeen(ctx context.Context, id string, st PairStatus) string {
	now := o.now().UTC()
	var was bool
	changed := false
	_, err := o.upsert(ctx, id, func(r *Record) error {
		changed = false
		if r.Version == 0 || r.Phase != PhaseConfigured || (r.Lease != nil && r.Lease.Expires.After(now)) {
			return errNoChange // gone, moved on, or another worker acts on it
		}
		was = r.LastSeen == nil || r.LastSeen.Ready
		r.LastSeen = &LastSeen{Time: now, Ready: st.Ready, Reasons: st.Reasons,
			LagSeconds: st.LagSeconds, ProbeLagMS: st.ProbeLagMS, HeadroomHours: st.HeadroomHours}
		changed = was != st.Ready
		return nil
	})
	if err != nil {
		o.log().Error("could not store the monitor's observation", "deployment", id, "error", err.Error())
		return ""
	}
	if !changed {
		return ""
	}
	outcome, subject, message := readinessMessage(st)
	o.history(ctx, id, "monitor", outcome, strings.Join(st.Reasons, "; "))
	if o.Notifier != nil {
		if err := o.Notifier.Notify(ctx, subject, message); err != nil {
			o.log().Error("could not notify on-call of a readiness change", "deployment", id, "error", err.Error())
			return ""
		}
	}
	return outcome
}

// readinessMessage is the pager-sized notification of a readiness change.
func readinessMessage(st PairStatus) (outcome, subject, message string) {
	if st.Ready {
		detail := "replicating"
		if st.LagSeconds != nil {
			detail += fmt.Sprintf(", %d s behind", *st.LagSeconds)
		}
		if st.HeadroomHours != nil {
			detail += fmt.Sprintf(", binlog headroom %.0f h", *st.HeadroomHours)
		}
		return "ready", "switchback: " + st.Deployment + " rollback ready again",
			fmt.Sprintf("%s (phase configured): rollback to %s is possible again: %s. Next: nothing to do.", st.Deployment, st.Rollback, detail)
	}
	reasons := st.Reasons
	if len(reasons) > 2 {
		reasons = append(reasons[:2:2], fmt.Sprintf("and %d more", len(st.Reasons)-2))
	}
	return "not-ready", "switchback: " + st.Deployment + " rollback NOT ready",
		fmt.Sprintf("%s (phase configured): rollback from %s to %s is not possible now: %s. Next: %s",
			st.Deployment, st.Production, st.Rollback, strings.Join(reasons, "; "), nextStep(st))
}

// nextStep says what on-call should do about a pair that is not ready.
func nextStep(st PairStatus) string {
	joined := strings.ToLower(strings.Join(st.Reasons, " "))
	switch {
	case !st.Reachable:
		return "check that both clusters are up and reachable from the monitor (security groups, admin secrets)."
	case st.Headroom != nil && st.Headroom.Gone:
		return "the rollback replica cannot catch up; configure the pair again or accept that rollback is closed."
	case strings.Contains(joined, "cannot be fenced") || strings.Contains(joined, "fence cannot be managed"):
		return "give the cluster named its own custom DB cluster parameter group (aws rds modify-db-cluster --db-cluster-parameter-group-name), then reboot its writer; preflight checks it."
	case strings.Contains(joined, "error"):
		return "fix the replica error on " + st.Rollback + " (SHOW REPLICA STATUS); switchback history --deployment " + st.Deployment + "."
	case strings.Contains(joined, "headroom"):
		return "raise 'binlog retention hours' on " + st.Production + " (CALL mysql.rds_set_configuration) or fix what holds the replica back."
	case !st.Running:
		return "start replication on " + st.Rollback + " (CALL mysql.rds_start_replication) and check SHOW REPLICA STATUS."
	default:
		return "find what slows " + st.Rollback + "; rollback waits for it to catch up. The monitor checks again every minute."
	}
}
