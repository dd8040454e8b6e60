package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchback/switchback/shared/replication"
)

// Re-pointing step names (history: "re-point <mode>").
const (
	stepRepointRename  = "re-point rename"
	stepRepointRoute53 = "re-point route53"
	stepRepointSecret  = "re-point secret"
)

// maxRolledBackSuffix bounds the search for a free <name>-rolledback<N>.
const maxRolledBackSuffix = 99

// rdsMaxIdentifier is the longest DB cluster identifier RDS takes.
const rdsMaxIdentifier = 63

// renameDNSNote is what a rename costs the application (aws-facts §5: a
// switchover renames the same way; clients keep DNS TTLs ≤ 5 s).
const renameDNSNote = "the application's endpoint follows without any change on its side, after about two minutes of DNS change (connections to both clusters drop while RDS renames them)"

// syncRename makes the record's clusters match RDS while a rename is half
// done (a run killed between or after the renames): production is found
// under its new identifier once renamed, the rollback cluster under
// production's old one. With write it stores them (and Done, once both
// renames are seen); a dry run only reads.
func (r *rollbackRun) syncRename(ctx context.Context, write bool) error {
	rn := r.rename()
	if rn == nil || rn.Done {
		return nil
	}
	c := r.o.Repoint.Clusters
	if c == nil {
		return errors.New("a rename is half done, and this runtime has no RDS client to finish it")
	}
	find := func(id string) (*Cluster, error) {
		cl, err := c.Cluster(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &cl, nil
	}
	to, err := find(rn.ProductionTo)
	if err != nil {
		return err
	}
	from, err := find(rn.RollbackFrom)
	if err != nil {
		return err
	}
	name, err := find(rn.Name)
	if err != nil {
		return err
	}
	var prod, rb *Cluster
	done := false
	switch {
	case to == nil:
		prod, rb = name, from
	case from != nil:
		prod, rb = to, from
	default:
		prod, rb, done = to, name, true
	}
	if prod == nil || rb == nil {
		return fmt.Errorf("the rename %s → %s, %s → %s is half done and RDS shows neither where it should be (%s: %v, %s: %v, %s: %v): check the clusters by hand",
			rn.Name, rn.ProductionTo, rn.RollbackFrom, rn.Name, rn.Name, name != nil, rn.ProductionTo, to != nil, rn.RollbackFrom, from != nil)
	}
	if !write {
		r.rec.Production, r.rec.Rollback = prod, rb
		return nil
	}
	return r.storeClusters(ctx, prod, rb, done)
}

// storeClusters records the clusters' current identities (and the rename's
// end), in the record and in r.rec.
func (r *rollbackRun) storeClusters(ctx context.Context, prod, rb *Cluster, done bool) error {
	rec, err := r.o.upsert(ctx, r.req.Deployment, func(x *Record) error {
		if prod != nil {
			c := *prod
			x.Production = &c
		}
		if rb != nil {
			c := *rb
			x.Rollback = &c
		}
		if done && x.LastRollback != nil && x.LastRollback.Rename != nil {
			x.LastRollback.Rename.Done = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.rec = rec
	r.out.Production, r.out.Rollback = clusterID(rec.Production), clusterID(rec.Rollback)
	return nil
}

// freeRolledBackName returns the first <name>-rolledback<N> no cluster has.
func freeRolledBackName(ctx context.Context, c ClusterRenamer, name string) (string, error) {
	for n := 1; n <= maxRolledBackSuffix; n++ {
		cand := fmt.Sprintf("%s-rolledback%d", name, n)
		if len(cand) > rdsMaxIdentifier {
			return "", fmt.Errorf("%s is longer than the %d characters RDS allows an identifier: rename production by hand", cand, rdsMaxIdentifier)
		}
		_, err := c.Cluster(ctx, cand)
		switch {
		case errors.Is(err, ErrNotFound):
			return cand, nil
		case err != nil:
			return "", err
		}
	}
	return "", fmt.Errorf("%s-rolledback1 to -rolledback%d are all taken", name, maxRolledBackSuffix)
}

// checkRepoint runs the read side of every requested re-pointing mode
// before production is fenced: Route 53 reads the record (the zone must
// exist; a routing-policy, alias or other-typed record set at the name is
// refused by the adapter), the secret is read with its host and port, and
// the rename finds both clusters as recorded, production's new
// <name>-rolledback<N> free and within RDS's identifier length. An error
// wraps replication.ErrRefused and lists every problem: a cutover the
// application could not follow is not started.
func (r *rollbackRun) checkRepoint(ctx context.Context) error {
	rq := r.req.Repoint
	if rq == nil {
		return nil
	}
	var problems []string
	if rq.Rename != nil {
		if err := r.checkRename(ctx); err != nil {
			problems = append(problems, "rename: "+err.Error())
		}
	}
	if d := rq.Route53; d != nil {
		if dns := r.o.Repoint.DNS; dns == nil {
			problems = append(problems, "route53: this runtime has no Route 53 client")
		} else if _, _, err := dns.CNAME(ctx, d.ZoneID, d.RecordName); err != nil {
			problems = append(problems, "route53: "+err.Error())
		}
	}
	if s := rq.Secret; s != nil {
		if sm := r.o.Repoint.Secrets; sm == nil {
			problems = append(problems, "secret: this runtime has no Secrets Manager client")
		} else if host, _, err := sm.Endpoint(ctx, s.SecretID); err != nil {
			problems = append(problems, "secret: "+err.Error())
		} else if host == "" {
			problems = append(problems, fmt.Sprintf(`secret: %s has an empty "host"`, s.SecretID))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the application could not be re-pointed, so nothing was fenced: %s. Fix the payload or the target and run again (a dry run reads each target)",
		replication.ErrRefused, strings.Join(problems, "; "))
}

// checkRename is the read side of a rename: nothing to check once the
// rename is recorded (syncRename found the clusters where it says);
// otherwise production and the rollback cluster are described under their
// recorded identifiers (and ARNs), and <name>-rolledback<N> is computed.
func (r *rollbackRun) checkRename(ctx context.Context) error {
	c := r.o.Repoint.Clusters
	if c == nil {
		return errors.New("this runtime has no RDS client")
	}
	if r.rename() != nil {
		return nil
	}
	name := r.rec.Production.ID
	if len(name) > rdsMaxIdentifier {
		return fmt.Errorf("%s is longer than the %d characters RDS allows an identifier", name, rdsMaxIdentifier)
	}
	for _, want := range []struct {
		role string
		c    *Cluster
	}{{"production", r.rec.Production}, {"the rollback cluster", r.rec.Rollback}} {
		cur, err := c.Cluster(ctx, want.c.ID)
		if err != nil {
			return fmt.Errorf("%s %s: %w", want.role, want.c.ID, err)
		}
		if want.c.ARN != "" && cur.ARN != "" && cur.ARN != want.c.ARN {
			return fmt.Errorf("the cluster named %s (%s) is not %s this deployment recorded (%s): rename by hand", want.c.ID, cur.ARN, want.role, want.c.ARN)
		}
	}
	_, err := freeRolledBackName(ctx, c, name)
	return err
}

// predictEndpoint is the writer endpoint a cluster gets when renamed from
// from to to (RDS endpoints begin with the identifier), or "".
func predictEndpoint(endpoint, from, to string) string {
	if rest, ok := strings.CutPrefix(endpoint, from+"."); ok {
		return to + "." + rest
	}
	return ""
}

// planRepoint adds a planned step per re-pointing mode, reading the
// current state of each target; it changes nothing.
func (r *rollbackRun) planRepoint(ctx context.Context, p *pair) {
	rq := r.req.Repoint
	if rq == nil {
		return
	}
	add := func(name, detail string, err error) {
		s := replication.Step{Name: name, Outcome: replication.StepPlanned, Detail: detail}
		if err != nil {
			s.Error = err.Error()
		}
		r.out.Repoint = append(r.out.Repoint, s)
		if r.req.OnStep != nil {
			r.req.OnStep(s)
		}
	}
	target, port := p.rbC.Endpoint, p.rbC.Port
	if rq.Rename != nil {
		detail, newEndpoint, err := r.planRename(ctx)
		if newEndpoint != "" {
			target = newEndpoint
		}
		add(stepRepointRename, detail, err)
	}
	if d := rq.Route53; d != nil {
		if r.o.Repoint.DNS == nil {
			add(stepRepointRoute53, "", errors.New("this runtime has no Route 53 client"))
		} else {
			cur, ttl, err := r.o.Repoint.DNS.CNAME(ctx, d.ZoneID, d.RecordName)
			now := "no CNAME now"
			if cur != "" {
				now = fmt.Sprintf("now %s (TTL %d)", cur, ttl)
			}
			detail := fmt.Sprintf("UPSERT %s CNAME → %s (TTL %d), %s; wait until INSYNC", d.RecordName, target, d.ttl(), now)
			if err == nil && sameDNSName(cur, target) && ttl == d.ttl() {
				detail = fmt.Sprintf("%s already CNAME → %s (TTL %d): nothing to change", d.RecordName, target, ttl)
				if pc := r.pendingDNSChange(d, target); pc != nil {
					detail = fmt.Sprintf("%s already CNAME → %s (TTL %d), but change %s of an earlier run was not seen INSYNC: wait for it", d.RecordName, target, ttl, pc.ID)
				}
			}
			add(stepRepointRoute53, detail, err)
		}
	}
	if s := rq.Secret; s != nil {
		if r.o.Repoint.Secrets == nil {
			add(stepRepointSecret, "", errors.New("this runtime has no Secrets Manager client"))
		} else {
			host, cport, err := r.o.Repoint.Secrets.Endpoint(ctx, s.SecretID)
			detail := fmt.Sprintf("write a new version of %s with host %s, port %d (now %s:%d); it becomes AWSCURRENT, the current one stays as AWSPREVIOUS for undo", s.SecretID, target, port, host, cport)
			if err == nil && sameDNSName(host, target) && (cport == port || cport == 0) {
				detail = fmt.Sprintf("%s already points at %s:%d: nothing to change", s.SecretID, host, port)
			}
			add(stepRepointSecret, detail, err)
		}
	}
}

// planRename describes the rename a run would do, and the rollback
// cluster's endpoint after it when it can be told.
func (r *rollbackRun) planRename(ctx context.Context) (detail, endpoint string, err error) {
	c := r.o.Repoint.Clusters
	if c == nil {
		return "", "", errors.New("this runtime has no RDS client")
	}
	if rn := r.rename(); rn != nil {
		if rn.Done {
			return fmt.Sprintf("already done: %s is named %s, the old production %s", rn.RollbackFrom, rn.Name, rn.ProductionTo), "", nil
		}
		return fmt.Sprintf("finish the rename started earlier: %s → %s, then %s → %s; %s", rn.Name, rn.ProductionTo, rn.RollbackFrom, rn.Name, renameDNSNote),
			predictEndpoint(r.rec.Rollback.Endpoint, rn.RollbackFrom, rn.Name), nil
	}
	name, from := r.rec.Production.ID, r.rec.Rollback.ID
	to, err := freeRolledBackName(ctx, c, name)
	if err != nil {
		return "", "", err
	}
	endpoint = predictEndpoint(r.rec.Rollback.Endpoint, from, name)
	ep := endpoint
	if ep == "" {
		ep = "the endpoint of " + name
	}
	return fmt.Sprintf("rename %s → %s, then %s → %s (ModifyDBCluster, applied immediately, each waited for): %s; the rollback cluster's writer endpoint becomes %s",
		name, to, from, name, renameDNSNote, ep), endpoint, nil
}

// sameDNSName compares DNS names, ignoring case and a trailing dot.
func sameDNSName(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// runRepoint runs the requested re-pointing modes after a cutover: the
// rename first (it changes the rollback cluster's endpoint), then Route 53
// and the secret, which point at that endpoint. A failed rename skips the
// others. Each step goes to the history.
func (r *rollbackRun) runRepoint(ctx context.Context) error {
	rq := r.req.Repoint
	if rq == nil {
		return nil
	}
	var errs []error
	stop := ""
	run := func(name string, fn func(context.Context) (replication.StepOutcome, string, error)) {
		start := r.o.now()
		s := replication.Step{Name: name}
		r.renew(ctx)
		switch {
		case stop != "":
			s.Outcome, s.Detail = replication.StepSkipped, stop
		case !r.leaseOK.Load():
			s.Outcome, s.Error = replication.StepFailed, "the deployment's lease was lost: another run may act on it; run the rollback again"
			errs = append(errs, errors.New(s.Error))
		default:
			outcome, detail, err := fn(ctx)
			s.Outcome, s.Detail = outcome, detail
			if err != nil {
				s.Outcome, s.Error = replication.StepFailed, err.Error()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
		s.MS = r.o.now().Sub(start).Milliseconds()
		r.out.Repoint = append(r.out.Repoint, s)
		r.historyStep(ctx, "", s)
		if r.req.OnStep != nil {
			r.req.OnStep(s)
		}
	}
	if rq.Rename != nil {
		run(stepRepointRename, r.repointRename)
		if len(errs) > 0 {
			stop = "the rename did not finish: the rollback cluster's endpoint is not final; run the rollback again"
		}
	}
	if rq.Route53 != nil {
		run(stepRepointRoute53, r.repointRoute53)
	}
	if rq.Secret != nil {
		run(stepRepointSecret, r.repointSecret)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrRepointFailed, errors.Join(errs...))
	}
	return nil
}

// repointRename renames production to <name>-rolledback<N> and the
// rollback cluster to <name>. The plan is stored before the first rename,
// and the record follows each rename, so a run killed between them is
// finished by the next without renaming anything twice.
func (r *rollbackRun) repointRename(ctx context.Context) (replication.StepOutcome, string, error) {
	c := r.o.Repoint.Clusters
	if c == nil {
		return "", "", errors.New("this runtime has no RDS client")
	}
	rn := r.rename()
	if rn != nil && rn.Done {
		return replication.StepAlreadyDone, fmt.Sprintf("%s is already named %s; the old production is %s", rn.RollbackFrom, rn.Name, rn.ProductionTo), nil
	}
	if rn == nil {
		name, from := r.rec.Production.ID, r.rec.Rollback.ID
		to, err := freeRolledBackName(ctx, c, name)
		if err != nil {
			return "", "", err
		}
		plan := ClusterRename{Name: name, ProductionTo: to, RollbackFrom: from, Production: *r.rec.Production, Rollback: *r.rec.Rollback}
		rec, err := r.o.upsert(ctx, r.req.Deployment, func(x *Record) error {
			if x.LastRollback == nil {
				x.LastRollback = &RollbackState{Caller: r.out.Caller, Reason: r.req.Reason, Actor: r.o.Actor, StartedAt: r.o.now().UTC()}
			}
			if x.LastRollback.Rename == nil {
				p := plan
				x.LastRollback.Rename = &p
			}
			return nil
		})
		if err != nil {
			return "", "", fmt.Errorf("record the rename plan before renaming: %w", err)
		}
		r.rec = rec
		rn = rec.LastRollback.Rename
	}
	var did []string
	// Production → <name>-rolledback<N>, unless done.
	if _, err := c.Cluster(ctx, rn.ProductionTo); errors.Is(err, ErrNotFound) {
		cur, err := c.Cluster(ctx, rn.Name)
		if err != nil {
			return "", "", fmt.Errorf("production %s: %w", rn.Name, err)
		}
		if rn.Production.ARN != "" && cur.ARN != "" && cur.ARN != rn.Production.ARN {
			return "", "", fmt.Errorf("the cluster named %s (%s) is not the production this deployment recorded (%s): nothing renamed; check the clusters by hand", rn.Name, cur.ARN, rn.Production.ARN)
		}
		if err := c.Rename(ctx, rn.Name, rn.ProductionTo); err != nil {
			return "", "", fmt.Errorf("rename production %s → %s: %w", rn.Name, rn.ProductionTo, err)
		}
		did = append(did, rn.Name+" → "+rn.ProductionTo)
	} else if err != nil {
		return "", "", err
	}
	prod, err := c.Cluster(ctx, rn.ProductionTo)
	if err != nil {
		return "", "", fmt.Errorf("production after its rename to %s: %w", rn.ProductionTo, err)
	}
	if err := r.storeClusters(ctx, &prod, nil, false); err != nil {
		return "", "", err
	}
	// The rollback cluster → <name>, unless done.
	if _, err := c.Cluster(ctx, rn.RollbackFrom); err == nil {
		if err := c.Rename(ctx, rn.RollbackFrom, rn.Name); err != nil {
			return "", "", fmt.Errorf("rename the rollback cluster %s → %s (production is already %s: run the rollback again to finish): %w", rn.RollbackFrom, rn.Name, rn.ProductionTo, err)
		}
		did = append(did, rn.RollbackFrom+" → "+rn.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	rb, err := c.Cluster(ctx, rn.Name)
	if err != nil {
		return "", "", fmt.Errorf("the rollback cluster after its rename to %s: %w", rn.Name, err)
	}
	if err := r.storeClusters(ctx, nil, &rb, true); err != nil {
		return "", "", err
	}
	detail := fmt.Sprintf("the rollback cluster is named %s (writer endpoint %s), the old production %s: %s", rn.Name, rb.Endpoint, rn.ProductionTo, renameDNSNote)
	if len(did) == 0 {
		return replication.StepAlreadyDone, detail, nil
	}
	return replication.StepDone, "renamed " + strings.Join(did, ", then ") + "; " + detail, nil
}

func (r *rollbackRun) repointRoute53(ctx context.Context) (replication.StepOutcome, string, error) {
	d, dns := r.req.Repoint.Route53, r.o.Repoint.DNS
	if dns == nil {
		return "", "", errors.New("this runtime has no Route 53 client")
	}
	target := r.rec.Rollback.Endpoint
	if target == "" {
		return "", "", fmt.Errorf("the rollback cluster %s has no writer endpoint on record", r.rec.Rollback.ID)
	}
	cur, ttl, err := dns.CNAME(ctx, d.ZoneID, d.RecordName)
	if err != nil {
		return "", "", err
	}
	pending := r.pendingDNSChange(d, target)
	if sameDNSName(cur, target) && ttl == d.ttl() {
		if pending == nil {
			return replication.StepAlreadyDone, fmt.Sprintf("%s already CNAME → %s (TTL %d)", d.RecordName, target, ttl), nil
		}
		// An earlier run's change was accepted but not seen INSYNC.
		if err := dns.WaitInsync(ctx, pending.ID); err != nil {
			return "", "", fmt.Errorf("%s is CNAME → %s, but change %s is not INSYNC yet: %w", d.RecordName, target, pending.ID, err)
		}
		if err := r.setDNSChange(ctx, nil); err != nil {
			return "", "", err
		}
		return replication.StepDone, fmt.Sprintf("%s CNAME → %s (TTL %d): change %s, made by an earlier run, is INSYNC now", d.RecordName, target, ttl, pending.ID), nil
	}
	change, err := dns.UpsertCNAME(ctx, d.ZoneID, d.RecordName, target, d.ttl())
	if err != nil {
		if change != "" {
			// Accepted but not INSYNC: the next run waits for it.
			if rerr := r.setDNSChange(ctx, &DNSChange{ID: change, ZoneID: d.ZoneID, RecordName: d.RecordName, Target: target}); rerr != nil {
				err = fmt.Errorf("%w; and the change id could not be recorded: %w", err, rerr)
			}
		}
		return "", "", err
	}
	if r.rec.LastRollback != nil && r.rec.LastRollback.DNSChange != nil {
		if err := r.setDNSChange(ctx, nil); err != nil {
			return "", "", err
		}
	}
	was := "no CNAME before"
	if cur != "" {
		was = fmt.Sprintf("was %s (TTL %d)", cur, ttl)
	}
	return replication.StepDone, fmt.Sprintf("%s CNAME → %s (TTL %d), %s; change %s is INSYNC", d.RecordName, target, d.ttl(), was, change), nil
}

func (r *rollbackRun) repointSecret(ctx context.Context) (replication.StepOutcome, string, error) {
	s, sm := r.req.Repoint.Secret, r.o.Repoint.Secrets
	if sm == nil {
		return "", "", errors.New("this runtime has no Secrets Manager client")
	}
	host, port := r.rec.Rollback.Endpoint, r.rec.Rollback.Port
	if host == "" || port == 0 {
		return "", "", fmt.Errorf("the rollback cluster %s has no writer endpoint and port on record", r.rec.Rollback.ID)
	}
	oldHost, oldPort, err := sm.Endpoint(ctx, s.SecretID)
	if err != nil {
		return "", "", err
	}
	version, changed, err := sm.PointAt(ctx, s.SecretID, host, port)
	if err != nil {
		return "", "", err
	}
	if !changed {
		return replication.StepAlreadyDone, fmt.Sprintf("%s already points at %s:%d", s.SecretID, host, port), nil
	}
	return replication.StepDone, fmt.Sprintf("%s: new version %s (AWSCURRENT) points at %s:%d; the previous one (%s:%d) stays AWSPREVIOUS for undo", s.SecretID, version, host, port, oldHost, oldPort), nil
}

// pendingDNSChange is the change an earlier run made to the same record
// and target that was not seen INSYNC, or nil.
func (r *rollbackRun) pendingDNSChange(d *Route53Repoint, target string) *DNSChange {
	if r.rec.LastRollback == nil {
		return nil
	}
	pc := r.rec.LastRollback.DNSChange
	if pc == nil || pc.ID == "" || pc.ZoneID != d.ZoneID || !sameDNSName(pc.RecordName, d.RecordName) || !sameDNSName(pc.Target, target) {
		return nil
	}
	return pc
}

// setDNSChange records (or, with nil, clears) the pending Route 53 change
// in the record's LastRollback, and in r.rec.
func (r *rollbackRun) setDNSChange(ctx context.Context, ch *DNSChange) error {
	rec, err := r.o.upsert(ctx, r.req.Deployment, func(x *Record) error {
		if x.LastRollback == nil {
			if ch == nil {
				return errNoChange
			}
			x.LastRollback = &RollbackState{Caller: r.out.Caller, Reason: r.req.Reason, Actor: r.o.Actor, StartedAt: r.o.now().UTC()}
		}
		x.LastRollback.DNSChange = ch
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the Route 53 change: %w", err)
	}
	r.rec = rec
	return nil
}
