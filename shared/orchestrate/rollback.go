package orchestrate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

// The re-pointing adapters (shared/repoint implements them with the AWS
// SDK): how the application follows the rollback cluster once it is
// production.

// DNSRecords reads and changes the DNS record the application connects
// through (Route 53).
type DNSRecords interface {
	// CNAME returns the CNAME record's target and TTL; target is "" when
	// the zone has no CNAME of that name.
	CNAME(ctx context.Context, zoneID, name string) (target string, ttl int64, err error)
	// UpsertCNAME points name at target with ttl (ChangeResourceRecordSets
	// UPSERT) and waits until the change is INSYNC. It returns the change id.
	// It returns the change id even when the wait fails (the change was
	// accepted but is not INSYNC yet).
	UpsertCNAME(ctx context.Context, zoneID, name, target string, ttl int64) (changeID string, err error)
	// WaitInsync waits (bounded) until the change is INSYNC (GetChange).
	WaitInsync(ctx context.Context, changeID string) error
}

// SecretEndpoints reads and rewrites the host and port in a JSON secret the
// application reads (Secrets Manager).
type SecretEndpoints interface {
	// Endpoint returns the secret's current "host" and "port" (0 when it
	// has none).
	Endpoint(ctx context.Context, secretID string) (host string, port int, err error)
	// PointAt stores a new version of the secret with "host" and "port"
	// replaced, which becomes AWSCURRENT (the previous one AWSPREVIOUS, for
	// undo). changed is false, and nothing is written, when it already
	// points there.
	PointAt(ctx context.Context, secretID, host string, port int) (version string, changed bool, err error)
}

// ClusterRenamer finds and renames DB clusters (RDS DescribeDBClusters,
// ModifyDBCluster).
type ClusterRenamer interface {
	// Cluster describes the cluster with that identifier; an error
	// wrapping ErrNotFound when there is none.
	Cluster(ctx context.Context, id string) (Cluster, error)
	// Rename gives cluster from the identifier to, applied immediately, and
	// waits (bounded) until DescribeDBClusters shows it under its new name.
	Rename(ctx context.Context, from, to string) error
}

// Repointers are the re-pointing adapters; a nil one makes its mode fail
// with a clear error.
type Repointers struct {
	DNS      DNSRecords
	Secrets  SecretEndpoints
	Clusters ClusterRenamer
}

// RollbackState is what the latest rollback of a pair recorded in its
// Record (LastRollback).
type RollbackState struct {
	Caller     string    `json:"caller" dynamodbav:"caller"`
	Reason     string    `json:"reason" dynamodbav:"reason"`
	Actor      string    `json:"actor" dynamodbav:"actor"`
	StartedAt  time.Time `json:"started_at" dynamodbav:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero" dynamodbav:"finished_at,omitempty"`
	// Outcome is the last run's: completed, aborted, diverged, refused,
	// failed; "" while it runs.
	Outcome string `json:"outcome,omitempty" dynamodbav:"outcome,omitempty"`
	// Rename is set when a rename re-pointing starts.
	Rename *ClusterRename `json:"rename,omitempty" dynamodbav:"rename,omitempty"`
	// DNSChange is a Route 53 re-pointing change that was accepted but not
	// seen INSYNC: the next run waits for it. It is cleared once INSYNC.
	DNSChange *DNSChange `json:"dns_change,omitempty" dynamodbav:"dns_change,omitempty"`
}

// DNSChange is a Route 53 change a rollback made: the CNAME RecordName in
// ZoneID → Target, change ID.
type DNSChange struct {
	ID         string `json:"id" dynamodbav:"id"`
	ZoneID     string `json:"zone_id" dynamodbav:"zone_id"`
	RecordName string `json:"record_name" dynamodbav:"record_name"`
	Target     string `json:"target" dynamodbav:"target"`
}

// ClusterRename is a rename re-pointing: production Name → ProductionTo,
// then the rollback cluster RollbackFrom → Name. The Record's clusters
// follow each rename as it is seen done.
type ClusterRename struct {
	// Name is production's identifier before the rename: the rollback
	// cluster takes it.
	Name string `json:"name" dynamodbav:"name"`
	// ProductionTo is production's new identifier, <Name>-rolledback<N>.
	ProductionTo string `json:"production_to" dynamodbav:"production_to"`
	// RollbackFrom is the rollback cluster's identifier before the rename.
	RollbackFrom string `json:"rollback_from" dynamodbav:"rollback_from"`
	// Production and Rollback are the clusters as configure saw them: the
	// engine's records on the servers are keyed by their endpoints, and
	// admin secrets are mapped to their identifiers.
	Production Cluster `json:"production" dynamodbav:"production"`
	Rollback   Cluster `json:"rollback" dynamodbav:"rollback"`
	// Done is set once both renames are seen and the record follows.
	Done bool `json:"done" dynamodbav:"done"`
}

// RollbackOutcome is what the rollback function returns.
type RollbackOutcome struct {
	Deployment string `json:"deployment"`
	DryRun     bool   `json:"dryRun"`
	// Outcome is the engine's (planned, completed, aborted, diverged,
	// refused) or "failed" (an error outside the engine's outcomes); a
	// request refused before the engine ran is "refused" with no Report.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Caller is who asked, Actor who acted (the function and request id).
	Caller string `json:"caller"`
	Actor  string `json:"actor,omitempty"`
	// Production and Rollback are the clusters' identifiers.
	Production string `json:"production,omitempty"`
	Rollback   string `json:"rollback,omitempty"`
	// Report is the engine's report (steps, write outage, positions); nil
	// when the request was refused before the engine ran.
	Report *replication.RollbackReport `json:"report,omitempty"`
	// Repoint holds one step per re-pointing mode (planned on a dry run).
	Repoint []replication.Step `json:"repoint"`
	// Verify is, on a dry run, the latest finished verify run read from
	// production (shared/verify): nil when there is none. When it found
	// the rollback cluster differing, Reason says so (it does not refuse
	// the rollback). VerifyError says why it could not be read.
	Verify      *VerifySummary `json:"verify,omitempty"`
	VerifyError string         `json:"verify_error,omitempty"`
}

// Rollback outcomes beyond the engine's.
const (
	RollbackRefused = replication.OutcomeRefused
	RollbackFailed  = "failed"
)

// ErrRepointFailed: the cutover happened but a re-pointing mode failed: the
// application may still point at the old production. Run the rollback
// again: re-pointing is idempotent.
var ErrRepointFailed = errors.New("re-pointing failed")

// history step names of a rollback.
const (
	histRollback = "rollback"
)

// rollbackable reports whether a record may be rolled back (or a rollback
// resumed or re-run), and why not.
func rollbackable(rec Record) (bool, string) {
	if rec.Production == nil || rec.Rollback == nil {
		return false, "the record has no clusters yet (phase " + string(rec.Phase) + ")"
	}
	switch rec.Phase {
	case PhaseConfigured, PhaseRollingBack, PhaseRolledBack:
		return true, ""
	case PhaseNeedsAttention:
		if strings.HasPrefix(rec.PhaseDetail, histRollback+" ") {
			return true, "" // an earlier rollback needs attention: running it again resumes or reports it
		}
	}
	why := fmt.Sprintf("deployment %s is %s, not configured", rec.Deployment, rec.Phase)
	if rec.PhaseDetail != "" {
		why += " (" + rec.PhaseDetail + ")"
	}
	return false, why + ": there is no rollback replica to promote; see switchback history --deployment " + rec.Deployment
}

// rollbackRun is one Rollback call.
type rollbackRun struct {
	o       Orchestrator // a copy, Actor naming the caller
	req     RollbackRequest
	out     *RollbackOutcome
	rec     Record
	holder  string
	leaseOK atomic.Bool
}

// rollbackLease is how long a rollback's lease lasts without renewal: it
// is renewed every quarter of it while the run lives, so a run that was
// killed (a Lambda timeout) blocks the next one for at most this long. The
// engine's server-side lock is released at once when its session dies.
const rollbackLease = 2 * time.Minute

func (r *rollbackRun) leaseTTL() time.Duration {
	if l := r.o.Settings.Lease; l > 0 && l < rollbackLease {
		return l
	}
	return rollbackLease
}

// Rollback plans (the default) or performs the cutover of a deployment's
// pair back to the rollback cluster, then re-points the application.
//
// A dry run reads the record, both servers and the re-pointing targets
// and changes nothing anywhere: no lease, no history, no notification.
//
// To execute, DryRun must be false, Confirm the rollback cluster's
// identifier and Reason non-empty. Refusals (a malformed request, an
// unknown deployment, a record that is not configured, a wrong or missing
// confirm, another worker's lease) change nothing; a refused execute of a
// known deployment appends one history line saying who tried and why it
// was refused. Under the lease, confirm is checked again against the
// record read there; before anything is fenced every requested
// re-pointing target is read (checkRepoint) and the cutover must fit
// before ctx's deadline with time kept for an abort (fitDeadline, which
// clamps the catch-up timeout): a failure refuses the run the same way.
// Otherwise, under the deployment's lease and the engine's
// server-side lock, replication.Rollback runs with the parameter-group
// fencers of both clusters (production's fence is read back through its
// group and its writer: the SQL fence does not survive a failover). Every
// step goes to the history with the caller and the reason. The record is
// rolling-back while it runs, rolled-back once completed, back to
// configured when the cutover aborted with production writable again, and
// needs-attention (on-call notified) when it diverged, aborted leaving
// production fenced, or failed in between. On-call is notified when it
// starts and ends, with who and why. After a completed (or diverged)
// cutover the re-pointing modes run: rename first (it changes the rollback
// cluster's endpoint), then Route 53 and the secret.
//
// The error wraps replication.ErrRefused for refusals, ErrInvalidRequest
// for a malformed request, the engine's ErrAborted or ErrDiverged, or
// ErrRepointFailed.
func (o *Orchestrator) Rollback(ctx context.Context, req RollbackRequest) (RollbackOutcome, error) {
	caller := strings.TrimSpace(req.Caller)
	if caller == "" {
		caller = "unknown"
	}
	out := RollbackOutcome{Deployment: req.Deployment, DryRun: req.IsDryRun(), Caller: caller, Actor: o.Actor, Repoint: []replication.Step{}}
	refuse := func(err error) (RollbackOutcome, error) {
		out.Outcome, out.Reason = RollbackRefused, err.Error()
		return out, err
	}
	if err := req.Validate(); err != nil {
		return refuse(err)
	}
	rec, err := o.Store.Get(ctx, req.Deployment)
	switch {
	case errors.Is(err, ErrNotFound):
		return refuse(unknownDeployment(req.Deployment))
	case err != nil:
		out.Outcome, out.Reason = RollbackFailed, err.Error()
		return out, err
	}
	out.Production, out.Rollback = clusterID(rec.Production), clusterID(rec.Rollback)
	r := &rollbackRun{o: *o, req: req, out: &out, rec: rec}
	r.o.Actor = o.Actor + " for " + caller
	if ok, why := rollbackable(rec); !ok {
		err := fmt.Errorf("%w: %s", replication.ErrRefused, why)
		if !out.DryRun {
			r.history(ctx, histRollback, "refused", err.Error())
		}
		return refuse(err)
	}
	if out.DryRun {
		return r.dryRun(ctx)
	}
	if why := r.confirmProblem(); why != "" {
		err := fmt.Errorf("%w: %s", replication.ErrRefused, why)
		r.history(ctx, histRollback, "refused", err.Error())
		return refuse(err)
	}
	return r.execute(ctx)
}

func clusterID(c *Cluster) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// confirmProblem says why an execute request may not go ahead: confirm
// must name the rollback cluster (its identifier now, or before a rename
// this rollback made), and a reason must be given.
func (r *rollbackRun) confirmProblem() string {
	want := r.rec.Rollback.ID
	accepted := []string{want}
	if rn := r.rename(); rn != nil {
		accepted = append(accepted, rn.RollbackFrom)
	}
	var why []string
	switch c := strings.TrimSpace(r.req.Confirm); {
	case c == "":
		why = append(why, fmt.Sprintf(`executing needs "confirm": %q, the rollback cluster's identifier`, want))
	case !contains(accepted, c):
		why = append(why, fmt.Sprintf(`"confirm" %q is not the rollback cluster's identifier %q: nothing was done`, c, want))
	}
	if strings.TrimSpace(r.req.Reason) == "" {
		why = append(why, `executing needs a "reason": it is recorded and sent to on-call`)
	}
	return strings.Join(why, "; ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (r *rollbackRun) rename() *ClusterRename {
	if r.rec.LastRollback == nil {
		return nil
	}
	return r.rec.LastRollback.Rename
}

// history appends an entry naming the caller (in the actor) and the
// reason.
func (r *rollbackRun) history(ctx context.Context, step, outcome, detail string) {
	if reason := strings.TrimSpace(r.req.Reason); reason != "" {
		detail = strings.TrimSpace(detail + " [reason: " + reason + "]")
	}
	r.o.history(ctx, r.req.Deployment, step, outcome, detail)
}

func (r *rollbackRun) historyStep(ctx context.Context, prefix string, s replication.Step) {
	detail := s.Detail
	if s.Error != "" {
		detail = strings.TrimSpace(detail + " " + s.Error)
	}
	r.history(ctx, prefix+s.Name, string(s.Outcome), detail)
}

// pair is both servers and their fencers.
type pair struct {
	prodC, rbC         Cluster
	prod, rb           *replication.Server
	prodFence, rbFence replication.Fencer
}

func (p *pair) close() {
	if p.prod != nil {
		p.prod.Close()
	}
	if p.rb != nil {
		p.rb.Close()
	}
}

// connect opens both clusters' writers and builds their parameter-group
// fencers. After a rename, the admin logins are looked up under the
// clusters' configured identifiers, and each server keeps its configured
// address as its name: the engine's records on the servers (the cutover
// marker, the source record) are keyed by it.
func (r *rollbackRun) connect(ctx context.Context) (*pair, error) {
	p := &pair{prodC: *r.rec.Production, rbC: *r.rec.Rollback}
	idProd, idRb := p.prodC, p.rbC
	if rn := r.rename(); rn != nil {
		idProd, idRb = rn.Production, rn.Rollback
	}
	o := &r.o
	var err error
	if p.prod, p.rb, _, err = o.connectPair(ctx, p.prodC, p.rbC, idProd, idRb); err != nil {
		return nil, err
	}
	if a := endpointAddr(idProd); a != "" {
		p.prod.Addr = a
	}
	if a := endpointAddr(idRb); a != "" {
		p.rb.Addr = a
	}
	if p.prodFence, err = o.Fencer(p.prodC, p.prod); err != nil {
		p.close()
		return nil, err
	}
	if p.rbFence, err = o.Fencer(p.rbC, p.rb); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func endpointAddr(c Cluster) string {
	if c.Endpoint == "" || c.Port == 0 {
		return ""
	}
	return net.JoinHostPort(c.Endpoint, strconv.Itoa(c.Port))
}

// engineRequest is the replication.RollbackRequest for the pair.
func (r *rollbackRun) engineRequest(ctx context.Context, p *pair, execute bool) (replication.RollbackRequest, error) {
	priv, err := r.req.privileged()
	if err != nil {
		return replication.RollbackRequest{}, err
	}
	er := replication.RollbackRequest{
		Production: p.prod, Rollback: p.rb, ProductionFence: p.prodFence, RollbackFence: p.rbFence,
		Execute: execute, MaxLag: r.o.rollbackMaxLag(r.req), CatchupTimeout: r.req.catchupTimeout(),
		MaxWriteDowntime: r.req.maxWriteDowntime(), PrivilegedWriters: priv, Hook: r.o.Hook,
		OnProgress: func(line string) {
			r.o.log().Info("rollback progress", "deployment", r.req.Deployment, "progress", line)
		},
	}
	if r.req.Reverse {
		if rn := r.rename(); rn != nil {
			return er, fmt.Errorf("%w: the clusters were renamed by an earlier run (%s is now %s): set up the roll-forward path with switchback configure against the renamed endpoints", replication.ErrRefused, rn.RollbackFrom, rn.Name)
		}
		wait := r.o.Settings.WaitTimeout
		if wait == 0 {
			wait = 2 * time.Minute
		}
		er.Reverse = &replication.ReverseOptions{SourceHost: p.rbC.Endpoint, SourcePort: p.rbC.Port, WaitTimeout: wait}
		// The old production replicates from the rollback cluster: its
		// replication user gets the configured password, if any.
		if pw, err := r.o.Credentials.ReplicationPassword(ctx, p.rbC); err == nil {
			er.Reverse.ReplicationPassword = pw
		} else {
			return er, err
		}
	}
	return er, nil
}

// dryRun plans: the engine's plan on both servers and each re-pointing
// mode's plan, with the latest verify result read from production. It
// writes nothing anywhere.
func (r *rollbackRun) dryRun(ctx context.Context) (RollbackOutcome, error) {
	out := r.out
	if err := r.syncRename(ctx, false); err != nil {
		out.Outcome, out.Reason = RollbackFailed, err.Error()
		return *out, err
	}
	p, err := r.connect(ctx)
	if err != nil {
		out.Outcome, out.Reason = RollbackFailed, "cannot reach the clusters: "+err.Error()
		return *out, err
	}
	defer p.close()
	er, err := r.engineRequest(ctx, p, false)
	if err != nil {
		out.Outcome, out.Reason = RollbackRefused, err.Error()
		return *out, err
	}
	er.OnStep = r.req.OnStep
	rep, engineErr := replication.Rollback(ctx, er)
	out.Report, out.Outcome, out.Reason = &rep, rep.Outcome, rep.Reason
	r.planRepoint(ctx, p)
	latestVerify(ctx, p.prod.DB(), out)
	return *out, engineErr
}

// execute performs the rollback under the lease.
func (r *rollbackRun) execute(ctx context.Context) (RollbackOutcome, error) {
	out, id := r.out, r.req.Deployment
	r.holder = r.o.Actor + "#" + rand.Text()[:8]
	if _, err := r.o.Store.AcquireLease(ctx, id, r.holder, r.leaseTTL()); err != nil {
		if errors.Is(err, ErrLeaseHeld) {
			err = fmt.Errorf("%w: another switchback run holds deployment %s (%v): wait for it, see switchback history --deployment %s", replication.ErrRefused, id, err, id)
			r.history(ctx, histRollback, "refused", err.Error())
			out.Outcome, out.Reason = RollbackRefused, err.Error()
			return *out, err
		}
		out.Outcome, out.Reason = RollbackFailed, err.Error()
		return *out, err
	}
	r.leaseOK.Store(true)
	hctx, stopHeartbeat := context.WithCancel(ctx)
	heartbeat := make(chan struct{})
	go func() {
		defer close(heartbeat)
		tick := time.NewTicker(r.leaseTTL() / 4)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
				r.renew(hctx)
			}
		}
	}()
	defer func() {
		stopHeartbeat()
		<-heartbeat
		if err := r.o.Store.ReleaseLease(context.WithoutCancel(ctx), id, r.holder); err != nil {
			r.o.log().Error("could not release the lease", "deployment", id, "error", err.Error())
		}
	}()
	// The record as it is under the lease.
	rec, err := r.o.Store.Get(ctx, id)
	if err != nil {
		out.Outcome, out.Reason = RollbackFailed, err.Error()
		return *out, err
	}
	r.rec = rec
	if ok, why := rollbackable(rec); !ok {
		err := fmt.Errorf("%w: %s", replication.ErrRefused, why)
		r.history(ctx, histRollback, "refused", err.Error())
		out.Outcome, out.Reason = RollbackRefused, err.Error()
		return *out, err
	}
	// confirm was checked against the record read before the lease: the
	// clusters may have changed since (a rename finished by another run).
	if why := r.confirmProblem(); why != "" {
		err := fmt.Errorf("%w: %s", replication.ErrRefused, why)
		r.history(ctx, histRollback, "refused", err.Error())
		out.Outcome, out.Reason = RollbackRefused, err.Error()
		return *out, err
	}
	if err := r.syncRename(ctx, true); err != nil {
		return r.fail(ctx, "the clusters' rename state cannot be read: "+err.Error(), err)
	}
	p, err := r.connect(ctx)
	if err != nil {
		return r.fail(ctx, "cannot reach the clusters, nothing was changed: "+err.Error(), err)
	}
	defer p.close()
	er, err := r.engineRequest(ctx, p, true)
	if err == nil {
		// Every re-pointing target is read before production is fenced: a
		// cutover whose application cannot follow is refused.
		err = r.checkRepoint(ctx)
	}
	var clamped string
	if err == nil {
		clamped, err = r.fitDeadline(ctx, &er)
	}
	if err != nil {
		r.history(ctx, histRollback, "refused", err.Error())
		out.Outcome, out.Reason = RollbackRefused, err.Error()
		return *out, err
	}
	prevPhase, prevDetail := rec.Phase, rec.PhaseDetail
	started := r.o.now().UTC()
	if _, err := r.o.upsert(ctx, id, func(x *Record) error {
		if x.Phase != PhaseRolledBack {
			x.Phase, x.PhaseDetail = PhaseRollingBack, fmt.Sprintf("rollback started by %s: %s", r.out.Caller, r.req.Reason)
		}
		st := RollbackState{Caller: r.out.Caller, Reason: r.req.Reason, Actor: r.o.Actor, StartedAt: started}
		if x.LastRollback != nil {
			st.Rename, st.DNSChange = x.LastRollback.Rename, x.LastRollback.DNSChange
		}
		x.LastRollback = &st
		return nil
	}); err != nil {
		out.Outcome, out.Reason = RollbackFailed, err.Error()
		return *out, err
	}
	r.history(ctx, histRollback, "started", fmt.Sprintf("%s → %s, requested by %s (max lag %s, catch-up timeout %s%s, privileged writers %s%s)",
		p.prodC.ID, p.rbC.ID, r.out.Caller, er.MaxLag, er.CatchupTimeout, clamped, orDefault(r.req.PrivilegedWriters, "refuse"), r.repointSummary()))
	if rerun := rec.LastRollback != nil && (rec.LastRollback.Outcome == replication.OutcomeCompleted || rec.LastRollback.Outcome == replication.OutcomeDiverged); rerun || rec.Phase == PhaseRolledBack {
		r.notify(ctx, "rollback started", fmt.Sprintf("%s: rollback run again (it already cut over to %s) by %s: %s; it checks the cutover and finishes re-pointing. Next: wait for completed.",
			id, p.rbC.ID, r.out.Caller, short(r.req.Reason)))
	} else {
		r.notify(ctx, "rollback started", fmt.Sprintf("%s is rolling back from %s to %s, requested by %s: %s. Phase rolling-back; writes to %s stop for the cutover. Next: wait for completed or aborted (switchback history --deployment %s).",
			id, p.prodC.ID, p.rbC.ID, r.out.Caller, short(r.req.Reason), p.prodC.ID, id))
	}

	er.OnStep = func(s replication.Step) {
		r.historyStep(ctx, "", s)
		r.renew(ctx)
		if r.req.OnStep != nil {
			r.req.OnStep(s)
		}
	}
	// The engine's steps up to an abort end before the function's
	// deadline less the abort's reserve; its abort runs past that context
	// (it detaches from it, bounded by itself), before the deadline.
	ectx, cancel := r.engineContext(ctx, &er)
	rep, engineErr := replication.Rollback(ectx, er)
	cancel()
	out.Report, out.Outcome, out.Reason = &rep, rep.Outcome, rep.Reason
	return r.finish(ctx, p, rep, engineErr, prevPhase, prevDetail)
}

// The deadline budget of an executing rollback (the Lambda function's
// timeout, or any deadline on the caller's context).
const (
	// rollbackAbortReserve is kept before the deadline for the engine's
	// abort (bounded by the engine at 30 s: re-fence the rollback target,
	// prove it not promoted, unfence production through its parameter
	// group) and for recording and notifying the outcome.
	rollbackAbortReserve = 40 * time.Second
	// rollbackPreFence is allowed for what runs between the check and the
	// fence: recording the start, the engine's lock wait and preconditions.
	rollbackPreFence = 5 * time.Second
	// minRollbackCatchup is the shortest catch-up timeout (which also
	// bounds the wait for production's fence) a run is clamped to; a
	// deadline too close for it refuses the run.
	minRollbackCatchup = 5 * time.Second
)

// catchupWaits is how many waits of up to CatchupTimeout an executing
// cutover holds: before the fence, for the predicted write downtime to be
// within MaxWriteDowntime; for production's fence to take; for the
// rollback target to catch up.
const catchupWaits = 3

// fitDeadline checks, before anything is fenced, that the cutover fits
// before ctx's deadline: its catchupWaits waits of up to CatchupTimeout,
// with rollbackPreFence before them and rollbackAbortReserve after, so
// that an abort can always unfence production before the function is
// killed. It clamps er.CatchupTimeout to fit and returns a note saying so,
// or refuses (wrapping replication.ErrRefused) saying what does not fit
// and how much time is left. Without a deadline it changes nothing.
func (r *rollbackRun) fitDeadline(ctx context.Context, er *replication.RollbackRequest) (string, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return "", nil
	}
	if er.CatchupTimeout <= 0 {
		er.CatchupTimeout = replication.DefaultCatchupTimeout
	}
	want := er.CatchupTimeout
	left := time.Until(deadline)
	avail := left - rollbackAbortReserve - rollbackPreFence
	least := min(want, minRollbackCatchup)
	if avail < catchupWaits*least {
		need := rollbackPreFence + catchupWaits*want + rollbackAbortReserve
		return "", fmt.Errorf("%w: the function has %s left before its deadline, too little to cut over safely: a cutover needs up to %s before the fence (lock, preconditions), then up to %s (catchupTimeoutSeconds, here at least %s) for each of: a predicted write downtime within maxWriteDowntimeMs, production's fence, the catch-up; and %s to abort and record before the deadline, %s in all (at least %s); nothing was fenced. Invoke it with a function timeout of at least %s, or a smaller catchupTimeoutSeconds",
			replication.ErrRefused, left.Round(time.Millisecond), rollbackPreFence, want, least, rollbackAbortReserve, need,
			rollbackPreFence+catchupWaits*least+rollbackAbortReserve, (need + 5*time.Second).Round(time.Second))
	}
	if catchupWaits*want <= avail {
		return "", nil
	}
	er.CatchupTimeout = (avail / catchupWaits).Truncate(time.Second)
	return fmt.Sprintf(" (clamped from %s: the function's deadline is %s away and %s of it is kept to abort)", want, left.Round(time.Second), rollbackAbortReserve), nil
}

// engineContext is the engine's context for an executing run: without a
// deadline, ctx; otherwise one that ends rollbackAbortReserve before it
// (the engine's abort detaches from it and is bounded by itself), with
// er.CatchupTimeout clamped again to what is left now.
func (r *rollbackRun) engineContext(ctx context.Context, er *replication.RollbackRequest) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	end := deadline.Add(-rollbackAbortReserve)
	if avail := time.Until(end) - rollbackPreFence; catchupWaits*er.CatchupTimeout > avail {
		er.CatchupTimeout = max(avail/catchupWaits, time.Second)
		r.o.log().Info("catch-up timeout clamped to the function's deadline", "deployment", r.req.Deployment, "catchup_timeout", er.CatchupTimeout.String())
	}
	return context.WithDeadline(ctx, end)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// renew extends the lease; losing it is logged (the engine's server-side
// lock still holds the pair) and stops the re-pointing.
func (r *rollbackRun) renew(ctx context.Context) {
	if !r.leaseOK.Load() {
		return
	}
	if _, err := r.o.Store.AcquireLease(ctx, r.req.Deployment, r.holder, r.leaseTTL()); err != nil {
		if ctx.Err() != nil {
			return // the run is ending
		}
		r.leaseOK.Store(false)
		r.o.log().Error("rollback lost its lease", "deployment", r.req.Deployment, "error", err.Error())
	}
}

func (r *rollbackRun) repointSummary() string {
	p := r.req.Repoint
	if p == nil {
		return ""
	}
	var modes []string
	if p.Rename != nil {
		modes = append(modes, "rename")
	}
	if p.Route53 != nil {
		modes = append(modes, "route53 "+p.Route53.RecordName)
	}
	if p.Secret != nil {
		modes = append(modes, "secret "+p.Secret.SecretID)
	}
	if len(modes) == 0 {
		return ""
	}
	return "; then re-point: " + strings.Join(modes, ", ")
}

// finish records the engine's outcome, re-points, and notifies.
func (r *rollbackRun) finish(ctx context.Context, p *pair, rep replication.RollbackReport, engineErr error, prevPhase Phase, prevDetail string) (RollbackOutcome, error) {
	out, id := r.out, r.req.Deployment
	who := fmt.Sprintf("requested by %s: %s", out.Caller, short(r.req.Reason))
	switch rep.Outcome {
	case replication.OutcomeCompleted, replication.OutcomeDiverged:
		repointErr := r.runRepoint(ctx)
		if repointErr != nil {
			engineErr = errors.Join(engineErr, repointErr)
		}
		// The clusters' names after a rename.
		prodID, rbID := r.rec.Production.ID, r.rec.Rollback.ID
		if rbID != p.rbC.ID {
			rbID += " (was " + p.rbC.ID + ")"
		}
		if rep.Outcome == replication.OutcomeDiverged {
			r.record(ctx, rep.Outcome, "", "")
			r.history(ctx, histRollback, "diverged", rep.Reason)
			detail := fmt.Sprintf("%s diverged: %s is production now, but %s holds writes made after it was frozen (%s); %s%s. Next: reconcile those writes by hand (switchback history --deployment %s).",
				histRollback, rbID, prodID, short(rep.Reason), who, r.repointNote(), id)
			if err := r.o.needsAttention(ctx, id, detail); err != nil {
				r.o.log().Error("could not record needs-attention", "deployment", id, "error", err.Error())
			}
			return *out, engineErr
		}
		detail := fmt.Sprintf("rolled back to %s at %s, %s", rbID, r.o.now().UTC().Format(time.RFC3339), who)
		r.record(ctx, rep.Outcome, PhaseRolledBack, detail)
		msg := fmt.Sprintf("completed: %s is production, %s stays fenced read-only; writes were unavailable for %d ms", rbID, prodID, rep.WriteUnavailableMS)
		if engineErr != nil && repointErr == nil {
			msg += "; but: " + engineErr.Error()
		}
		r.history(ctx, histRollback, "completed", msg)
		if repointErr != nil {
			r.notify(ctx, "rollback completed, re-pointing FAILED", fmt.Sprintf("%s: rollback %s; %s. RE-POINTING FAILED (%s): the application may still use %s, which rejects writes. Next: run the rollback again (re-pointing is idempotent) or re-point by hand.",
				id, msg, who, short(strings.TrimPrefix(repointErr.Error(), ErrRepointFailed.Error()+": ")), prodID))
			if err := r.o.needsAttention(ctx, id, fmt.Sprintf("%s completed but %s; run the rollback again to finish re-pointing", histRollback, short(repointErr.Error()))); err != nil {
				r.o.log().Error("could not record needs-attention", "deployment", id, "error", err.Error())
			}
			out.Reason = strings.TrimSpace(out.Reason + " re-pointing failed: " + repointErr.Error())
			return *out, engineErr
		}
		r.notify(ctx, "rollback completed", fmt.Sprintf("%s: rollback %s; %s%s. Next: check the application writes to %s.", id, msg, who, r.repointNote(), r.rec.Rollback.ID))
		return *out, engineErr
	case replication.OutcomeAborted:
		// Production writable again only if it reads back unfenced.
		fenced, ferr := p.prodFence.ReadOnly(context.WithoutCancel(ctx))
		if ferr == nil && !fenced {
			r.record(ctx, rep.Outcome, PhaseConfigured, "")
			r.history(ctx, histRollback, "aborted", rep.Reason+"; production is writable again")
			r.notify(ctx, "rollback aborted", fmt.Sprintf("%s: rollback ABORTED, %s is production and writable again (writes were unavailable for %d ms): %s; %s. Next: fix the cause, then try again.",
				id, p.prodC.ID, rep.WriteUnavailableMS, short(rep.Reason), who))
			return *out, engineErr
		}
		state := "is still fenced read-only"
		if ferr != nil {
			state = "could not be read back (" + ferr.Error() + ")"
		}
		r.record(ctx, rep.Outcome, "", "")
		r.history(ctx, histRollback, "aborted", rep.Reason+"; production "+state)
		detail := fmt.Sprintf("%s aborted and production %s %s: %s; %s. Next: check both clusters, unfence the one that should take writes.", histRollback, p.prodC.ID, state, short(rep.Reason), who)
		if err := r.o.needsAttention(ctx, id, detail); err != nil {
			r.o.log().Error("could not record needs-attention", "deployment", id, "error", err.Error())
		}
		return *out, engineErr
	case replication.OutcomeRefused:
		r.restore(ctx, prevPhase, prevDetail, rep.Outcome)
		r.history(ctx, histRollback, "refused", rep.Reason)
		r.notify(ctx, "rollback refused", fmt.Sprintf("%s: rollback REFUSED before anything was fenced, %s is still production: %s; %s. Next: fix the cause, then try again.", id, p.prodC.ID, short(rep.Reason), who))
		return *out, engineErr
	}
	// An error outside the engine's outcomes, mid-way.
	reason := "the rollback stopped with an error"
	if engineErr != nil {
		reason = engineErr.Error()
	}
	out.Outcome, out.Reason = RollbackFailed, strings.TrimSpace(rep.Reason+" "+reason)
	r.record(ctx, RollbackFailed, "", "")
	r.history(ctx, histRollback, "failed", out.Reason)
	if err := r.o.needsAttention(ctx, id, fmt.Sprintf("%s failed mid-way: %s; %s. Next: run the rollback again: it resumes from where the servers stand.", histRollback, short(out.Reason), who)); err != nil {
		r.o.log().Error("could not record needs-attention", "deployment", id, "error", err.Error())
	}
	if engineErr == nil {
		engineErr = errors.New(out.Reason)
	}
	return *out, engineErr
}

// fail ends a run that failed before the engine ran: nothing changed.
func (r *rollbackRun) fail(ctx context.Context, reason string, err error) (RollbackOutcome, error) {
	r.history(ctx, histRollback, "failed", reason)
	r.out.Outcome, r.out.Reason = RollbackFailed, reason
	return *r.out, err
}

// record stores the outcome in LastRollback and, when phase is set, the
// phase.
func (r *rollbackRun) record(ctx context.Context, outcome string, phase Phase, detail string) {
	if _, err := r.o.upsert(ctx, r.req.Deployment, func(x *Record) error {
		if x.LastRollback != nil {
			x.LastRollback.Outcome, x.LastRollback.FinishedAt = outcome, r.o.now().UTC()
		}
		if phase != "" {
			x.Phase, x.PhaseDetail = phase, detail
		}
		return nil
	}); err != nil {
		r.o.log().Error("could not record the rollback's outcome", "deployment", r.req.Deployment, "error", err.Error())
	}
}

// restore puts back the phase a refused run found.
func (r *rollbackRun) restore(ctx context.Context, phase Phase, detail, outcome string) {
	if _, err := r.o.upsert(ctx, r.req.Deployment, func(x *Record) error {
		if x.LastRollback != nil {
			x.LastRollback.Outcome, x.LastRollback.FinishedAt = outcome, r.o.now().UTC()
		}
		x.Phase, x.PhaseDetail = phase, detail
		return nil
	}); err != nil {
		r.o.log().Error("could not restore the phase", "deployment", r.req.Deployment, "error", err.Error())
	}
}

// notify tells on-call; a failure is logged: the rollback itself happened.
func (r *rollbackRun) notify(ctx context.Context, what, message string) {
	if r.o.Notifier == nil {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.o.Notifier.Notify(nctx, "switchback: "+r.req.Deployment+" "+what, message); err != nil {
		r.o.log().Error("could not notify on-call", "deployment", r.req.Deployment, "what", what, "error", err.Error())
	}
}

// repointNote summarizes the re-pointing steps for a notification.
func (r *rollbackRun) repointNote() string {
	if len(r.out.Repoint) == 0 {
		return "; no re-pointing asked: point the application at the rollback cluster"
	}
	var parts []string
	for _, s := range r.out.Repoint {
		parts = append(parts, strings.TrimPrefix(s.Name, "re-point ")+" "+string(s.Outcome))
	}
	return "; re-pointing: " + strings.Join(parts, ", ")
}

// notifyTextMax bounds the free text (reasons, errors) in a notification,
// so each stays short enough for a pager and a chat line; the history
// keeps the whole text.
const notifyTextMax = 240

// short cuts s to notifyTextMax characters.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > notifyTextMax {
		return string(r[:notifyTextMax-1]) + "…"
	}
	return s
}

// unknownDeployment is the refusal of a manual request (rollback, verify)
// naming a deployment the state table has no record of.
func unknownDeployment(id string) error {
	return fmt.Errorf("%w: no deployment %s in switchback's state table: configure never ran for it (check the id, and the region)", replication.ErrRefused, id)
}
