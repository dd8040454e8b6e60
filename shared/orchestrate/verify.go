package orchestrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

// VerifyInvoker queues the invocation that continues a verify run which
// ran out of time (Lambda Invoke of the verify function itself,
// InvocationType Event), without waiting for it.
type VerifyInvoker interface {
	InvokeVerify(ctx context.Context, req VerifyRequest) error
}

// VerifySummary is a verify report in brief: the outcome, the tables that
// differ or could not be compared, and how far the run got. The whole
// report is stored on production (switchback.verify_run) and shown by
// switchback verify.
type VerifySummary struct {
	RunID   string `json:"run_id"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Production and RollbackTarget are the servers' addresses as the run
	// named them.
	Production     string `json:"production,omitempty"`
	RollbackTarget string `json:"rollback_target,omitempty"`
	Resumed        bool   `json:"resumed"`
	// Scope is the tables the run was asked to compare; empty: every
	// table.
	Scope      []string  `json:"scope,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Tables     int       `json:"tables"`
	Chunks     int64     `json:"chunks"`
	Rows       int64     `json:"rows"`
	// Differing lists the tables that differ and how ("shop.orders:
	// differing (2 of 40 chunks)"); Unverified the ones that could not be
	// compared, with why; Pending counts the tables an unfinished run has
	// not finished.
	Differing  []string `json:"differing_tables,omitempty"`
	Unverified []string `json:"unverified_tables,omitempty"`
	Pending    int      `json:"pending_tables,omitempty"`
	// MaxLockMS is the longest a production table was locked by the run's
	// latest invocation.
	MaxLockMS float64 `json:"max_production_lock_ms"`
}

// maxSummaryTables bounds each table list of a summary.
const maxSummaryTables = 20

// SummarizeVerify returns the summary of a verify report; nil for nil.
func SummarizeVerify(rep *verify.Report) *VerifySummary {
	if rep == nil {
		return nil
	}
	s := &VerifySummary{RunID: rep.RunID, Outcome: rep.Outcome, Reason: rep.Reason, Production: rep.Production,
		RollbackTarget: rep.Rollback, Resumed: rep.Resumed, Scope: rep.Scope, StartedAt: rep.StartedAt, FinishedAt: rep.FinishedAt,
		Tables: len(rep.Tables), Chunks: rep.Chunks, Rows: rep.Rows, MaxLockMS: rep.MaxLockMS}
	var differing, unverified []string
	for _, t := range rep.Tables {
		switch t.Status {
		case verify.StatusEqual:
		case verify.StatusPending:
			s.Pending++
		case verify.StatusUnverifiable, verify.StatusNotVerified:
			line := t.Table + ": " + t.Status
			if t.Reason != "" {
				line += " (" + t.Reason + ")"
			}
			unverified = append(unverified, line)
		case verify.StatusDiffering:
			differing = append(differing, fmt.Sprintf("%s: differing (%d of %d chunks)", t.Table, len(t.Differences), t.Chunks))
		default:
			differing = append(differing, t.Table+": "+t.Status)
		}
	}
	s.Differing, s.Unverified = capList(differing), capList(unverified)
	return s
}

func capList(l []string) []string {
	if len(l) <= maxSummaryTables {
		return l
	}
	return append(l[:maxSummaryTables:maxSummaryTables], fmt.Sprintf("… and %d more", len(l)-maxSummaryTables))
}

// VerifyOutcome is what the verify function returns for a verify
// payload.
type VerifyOutcome struct {
	Deployment string `json:"deployment"`
	// Outcome is verify's (equal, differing, unverified, refused, in
	// progress), or refused when the request was refused before verify
	// ran (Verify is nil then).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Caller  string `json:"caller"`
	Actor   string `json:"actor,omitempty"`
	// Production and Rollback are the clusters' identifiers.
	Production string `json:"production,omitempty"`
	Rollback   string `json:"rollback,omitempty"`
	// BudgetMS is how long this invocation compared for at most (0: no
	// deadline, to the end).
	BudgetMS int64 `json:"budget_ms"`
	// Continuation is this invocation's place in the chain (0: the
	// first); MaxContinuations the chain's bound.
	Continuation     int `json:"continuation"`
	MaxContinuations int `json:"max_continuations"`
	// Continued says the run was unfinished and the next invocation was
	// queued (with continuation+1).
	Continued bool `json:"continued"`
	// Verify is the run's report in brief.
	Verify *VerifySummary `json:"verify,omitempty"`
}

// VerifyReserve is what a verify invocation with a deadline (the Lambda
// function's timeout) keeps before it: verify stops comparing when only
// this much is left, finishes the chunk in hand, and the invocation
// records the result and queues the next one. A function timeout of
// VerifyReserve plus a few seconds makes every invocation compare for
// those few seconds.
const VerifyReserve = 60 * time.Second

// The rest of a verify invocation's time budget.
const (
	// verifyHardStop is when verify is cancelled outright (a chunk that
	// ran far past the budget); its compared chunks are kept, and the
	// run is continued as if the budget had run out.
	verifyHardStop = 20 * time.Second
	// minVerifyBudget is the least an invocation compares for: with less,
	// it is refused.
	minVerifyBudget = time.Second
	// verifyProgressEvery is how often a running verify logs its progress.
	verifyProgressEvery = 30 * time.Second
)

// histVerify is the history step of a verify invocation.
const histVerify = "verify"

// Verify runs one invocation of an online comparison of the deployment's
// rollback cluster with production (shared/verify): its progress is kept
// on production, so an invocation that runs out of time leaves the run
// resumable. With a deadline on ctx, the comparison stops
// VerifyReserve before it; when the run is unfinished it is continued by
// queueing the same request (never a restart, continuation+1) through
// VerifyInvoker, at most MaxContinuations times. Without a deadline it
// runs to the end.
//
// It needs a configured pair, and never changes the record, its phase or
// the pair's replication (verify pauses the rollback cluster's applier
// for moments at its sync points, and locks a production table for at
// most maxLockMs at a time). Each invocation appends a history line when
// it starts and one with its outcome; on-call is told how a continued run
// (nobody waits for its answer) ended.
//
// The error wraps ErrInvalidRequest for a malformed request and
// replication.ErrRefused for a request refused before verify ran (an
// unknown deployment, a pair that is not configured, too little time); a
// run that verify itself refused or that found differences is an
// outcome, not an error.
func (o *Orchestrator) Verify(ctx context.Context, req VerifyRequest) (VerifyOutcome, error) {
	caller := strings.TrimSpace(req.Caller)
	if caller == "" || caller == "unknown" {
		caller = "unknown"
		if req.Verify.Continuation > 0 {
			caller = fmt.Sprintf("verify continuation %d", req.Verify.Continuation)
		}
	}
	out := VerifyOutcome{Deployment: req.Deployment, Caller: caller, Actor: o.Actor,
		Continuation: req.Verify.Continuation, MaxContinuations: req.Verify.maxContinuations()}
	oo := *o
	oo.Actor = o.Actor + " for " + caller
	refuse := func(err error) (VerifyOutcome, error) {
		out.Outcome, out.Reason = verify.OutcomeRefused, err.Error()
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
		return refuse(err)
	}
	out.Production, out.Rollback = clusterID(rec.Production), clusterID(rec.Rollback)
	if why := verifiable(rec); why != "" {
		err := fmt.Errorf("%w: %s", replication.ErrRefused, why)
		oo.history(ctx, req.Deployment, histVerify, "refused", err.Error())
		if req.Verify.Continuation > 0 {
			oo.notifyVerify(ctx, req.Deployment, "verify stopped", fmt.Sprintf("%s: the verify run being continued (continuation %d) stopped: %s.", req.Deployment, req.Verify.Continuation, short(err.Error())))
		}
		return refuse(err)
	}
	budget, vctx, cancel, err := verifyBudget(ctx)
	if err != nil {
		oo.history(ctx, req.Deployment, histVerify, "refused", err.Error())
		return refuse(err)
	}
	defer cancel()
	out.BudgetMS = budget.Milliseconds()

	prod, rb, closeBoth, err := oo.verifyPair(ctx, rec)
	if err != nil {
		err = fmt.Errorf("%w: cannot reach the clusters: %v", replication.ErrRefused, err)
		oo.history(ctx, req.Deployment, histVerify, "refused", err.Error())
		if req.Verify.Continuation > 0 {
			oo.notifyVerify(ctx, req.Deployment, "verify stopped", fmt.Sprintf("%s: the verify run being continued (continuation %d) stopped: %s. Next: invoke the verify payload again to resume it.", req.Deployment, req.Verify.Continuation, short(err.Error())))
		}
		return refuse(err)
	}
	defer closeBoth()

	oo.history(ctx, req.Deployment, histVerify, "started", fmt.Sprintf("%s against %s, requested by %s: %s", out.Rollback, out.Production, caller, describeVerify(req, budget)))
	var lastLog time.Time
	rep, runErr := verify.Run(vctx, verify.Request{
		Production: prod, Rollback: rb, Tables: req.Verify.Tables,
		ChunkRows: req.Verify.chunkRows(), MaxLag: req.Verify.maxLag(), MaxLock: req.Verify.maxLock(),
		Rows: req.Verify.Rows, Restart: req.Verify.Restart, Budget: budget,
		OnProgress: func(p verify.Progress) {
			if time.Since(lastLog) < verifyProgressEvery {
				return
			}
			lastLog = time.Now()
			oo.log().Info("verify progress", "deployment", req.Deployment, "table", p.Table, "tables_done", p.TablesDone, "tables", p.Tables,
				"chunks", p.Chunks, "rows", p.Rows, "rows_per_second", p.RowsPerSecond, "paused", p.Paused)
		},
	})
	if rep == nil { // a request verify calls wrong: Validate should have caught it
		return refuse(fmt.Errorf("%w: %v", ErrInvalidRequest, runErr))
	}
	if runErr != nil && vctx.Err() != nil && ctx.Err() == nil {
		// Cancelled at the hard stop: what was compared is kept.
		rep.Outcome = verify.OutcomeIncomplete
		rep.Reason = fmt.Sprintf("stopped %s before the function's deadline, in the middle of a chunk (the compared chunks are kept): run again to continue run %s", verifyHardStop, rep.RunID)
		runErr = nil
	}
	out.Verify = SummarizeVerify(rep)
	out.Outcome, out.Reason = rep.Outcome, rep.Reason
	if runErr != nil && out.Reason == "" {
		out.Reason = runErr.Error()
	}
	return oo.verifyEnd(ctx, req, out, rep)
}

// verifyEnd records an invocation's outcome and, for an unfinished run,
// queues the next invocation (or says why not).
func (o *Orchestrator) verifyEnd(ctx context.Context, req VerifyRequest, out VerifyOutcome, rep *verify.Report) (VerifyOutcome, error) {
	id, run := req.Deployment, rep.RunID
	progress := fmt.Sprintf("run %s: %d tables, %d chunks, %d rows compared", orDefault(run, "(none)"), len(rep.Tables), rep.Chunks, rep.Rows)
	if rep.Outcome != verify.OutcomeIncomplete {
		o.history(ctx, id, histVerify, rep.Outcome, progress+"; "+out.Reason)
		if req.Verify.Continuation > 0 {
			next := "Next: nothing."
			switch rep.Outcome {
			case verify.OutcomeDiffering:
				next = "Next: find the differing rows (switchback verify --rows, or the verify payload with \"rows\": true) before counting on a rollback."
			case verify.OutcomeUnverified:
				next = "Next: see why those tables could not be compared (switchback history --deployment " + id + ")."
			case verify.OutcomeRefused:
				next = "Next: fix the cause, then invoke the verify payload again: it resumes the run."
			}
			o.notifyVerify(ctx, id, "verify "+rep.Outcome, fmt.Sprintf("%s: verify of %s against %s ended %s after %d continuations: %s; %s. %s",
				id, out.Rollback, out.Production, strings.ToUpper(rep.Outcome), req.Verify.Continuation, short(out.Reason), progress, next))
		}
		return out, nil
	}
	bound := req.Verify.maxContinuations()
	switch {
	case req.Verify.Continuation >= bound:
		out.Reason = fmt.Sprintf("%s; not continued: the chain reached its bound of %d continuations (maxContinuations): invoke the same payload again (without \"continuation\") to go on with run %s", out.Reason, bound, run)
		o.history(ctx, id, histVerify, "stopped", progress+"; "+out.Reason)
		o.notifyVerify(ctx, id, "verify stopped unfinished", fmt.Sprintf("%s: verify of %s stopped UNFINISHED after %d continuations (its bound); %s. Next: invoke the verify payload again to go on.", id, out.Rollback, bound, progress))
		return out, nil
	case o.VerifyInvoker == nil:
		out.Reason += "; this runtime cannot continue it by itself: run the same request again to continue"
		o.history(ctx, id, histVerify, "in progress", progress+"; "+out.Reason)
		return out, nil
	}
	next := req.next()
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	err := o.VerifyInvoker.InvokeVerify(ictx, next)
	cancel()
	if err != nil {
		out.Reason = fmt.Sprintf("%s; the next invocation could not be queued (%v): invoke the same payload again to continue run %s", out.Reason, err, run)
		o.history(ctx, id, histVerify, "failed", progress+"; "+out.Reason)
		if req.Verify.Continuation > 0 {
			o.notifyVerify(ctx, id, "verify stopped unfinished", fmt.Sprintf("%s: verify of %s stopped UNFINISHED: the next invocation could not be queued (%s); %s. Next: invoke the verify payload again to go on.", id, out.Rollback, short(err.Error()), progress))
		}
		return out, nil
	}
	out.Continued = true
	out.Reason = fmt.Sprintf("run %s is unfinished after this invocation's budget of %s: continued, continuation %d of at most %d queued",
		run, time.Duration(out.BudgetMS)*time.Millisecond, next.Verify.Continuation, bound)
	o.history(ctx, id, histVerify, "continued", fmt.Sprintf("%s; continuation %d of at most %d queued", progress, next.Verify.Continuation, bound))
	return out, nil
}

// verifiable says why a record's pair may not be verified ("" when it
// may): it needs both clusters and a configured pair, whose rollback
// cluster replicates from production.
func verifiable(rec Record) string {
	switch {
	case rec.Production == nil || rec.Rollback == nil:
		return "the record has no clusters yet (phase " + string(rec.Phase) + ")"
	case rec.Phase != PhaseConfigured:
		why := fmt.Sprintf("deployment %s is %s, not configured", rec.Deployment, rec.Phase)
		if rec.PhaseDetail != "" {
			why += " (" + rec.PhaseDetail + ")"
		}
		return why + ": verify compares a rollback cluster that replicates from production"
	}
	return ""
}

// verifyBudget is how long an invocation compares for: until
// VerifyReserve before ctx's deadline (no limit without one), and the
// context verify runs in, cancelled verifyHardStop before the deadline.
func verifyBudget(ctx context.Context) (time.Duration, context.Context, context.CancelFunc, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		vctx, cancel := context.WithCancel(ctx)
		return 0, vctx, cancel, nil
	}
	left := time.Until(deadline)
	budget := (left - VerifyReserve).Truncate(time.Millisecond)
	if budget < minVerifyBudget {
		return 0, nil, nil, fmt.Errorf("%w: the function has %s left before its deadline, too little to verify: an invocation keeps %s to finish its chunk, record the result and queue the next invocation, and compares for at least %s; give the function a timeout of at least %s",
			replication.ErrRefused, left.Round(time.Millisecond), VerifyReserve, minVerifyBudget, (VerifyReserve + minVerifyBudget + 5*time.Second).Round(time.Second))
	}
	vctx, cancel := context.WithDeadline(ctx, deadline.Add(-verifyHardStop))
	return budget, vctx, cancel, nil
}

// verifyPair opens both writers, each named by its configured endpoint
// (the address verify records its runs under).
func (o *Orchestrator) verifyPair(ctx context.Context, rec Record) (prod, rb *replication.Server, closeBoth func(), err error) {
	prodC, rbC := *rec.Production, *rec.Rollback
	if prod, rb, closeBoth, err = o.connectPair(ctx, prodC, rbC, prodC, rbC); err != nil {
		return nil, nil, nil, err
	}
	if a := endpointAddr(prodC); a != "" {
		prod.Addr = a
	}
	if a := endpointAddr(rbC); a != "" {
		rb.Addr = a
	}
	return prod, rb, closeBoth, nil
}

// describeVerify is a request's options for the history.
func describeVerify(req VerifyRequest, budget time.Duration) string {
	v := req.Verify
	tables := "every table"
	if len(v.Tables) > 0 {
		tables = strings.Join(v.Tables, ", ")
		if len(v.Tables) > 5 {
			tables = strings.Join(v.Tables[:5], ", ") + fmt.Sprintf(" and %d more", len(v.Tables)-5)
		}
	}
	parts := []string{tables}
	if v.ChunkRows != nil {
		parts = append(parts, fmt.Sprintf("chunk rows %d", *v.ChunkRows))
	}
	if v.MaxLagSeconds != nil {
		parts = append(parts, fmt.Sprintf("max lag %ds", *v.MaxLagSeconds))
	}
	if v.MaxLockMS != nil {
		parts = append(parts, fmt.Sprintf("max lock %dms", *v.MaxLockMS))
	}
	if v.Rows {
		parts = append(parts, "listing differing rows")
	}
	if v.Restart {
		parts = append(parts, "restarting any unfinished run")
	}
	b := "no time limit"
	if budget > 0 {
		b = "budget " + budget.Round(time.Second).String()
	}
	parts = append(parts, b, fmt.Sprintf("continuation %d of at most %d", v.Continuation, v.maxContinuations()))
	return strings.Join(parts, ", ")
}

// notifyVerify tells on-call; a failure is logged.
func (o *Orchestrator) notifyVerify(ctx context.Context, deployment, what, message string) {
	if o.Notifier == nil {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.Notifier.Notify(nctx, "switchback: "+deployment+" "+what, message); err != nil {
		o.log().Error("could not notify on-call", "deployment", deployment, "what", what, "error", err.Error())
	}
}

// latestVerifyTimeout bounds the dry run's read of the latest verify
// result.
const latestVerifyTimeout = 10 * time.Second

// latestVerify reads the newest finished verify run from production for
// the dry run: it sets out.Verify (nil when there is none) or
// out.VerifyError, and says in the plan's reason when the rollback
// cluster was found to differ. It never fails the dry run.
func latestVerify(ctx context.Context, production *sql.DB, out *RollbackOutcome) {
	lctx, cancel := context.WithTimeout(ctx, latestVerifyTimeout)
	defer cancel()
	rep, err := verify.Latest(lctx, production, "")
	if err != nil {
		out.VerifyError = "the latest verify result could not be read from production: " + err.Error()
		return
	}
	out.Verify = SummarizeVerify(rep)
	if rep == nil || rep.Outcome != verify.OutcomeDiffering {
		return
	}
	note := fmt.Sprintf("NOTE: the latest verify (run %s, finished %s) found the rollback target DIFFERENT from production: %s. A rollback makes the rollback target's data production's: find the differing rows (switchback verify --rows) or verify again before executing; this does not block the rollback",
		rep.RunID, rep.FinishedAt.UTC().Format(time.RFC3339), rep.Reason)
	if out.Reason == "" {
		out.Reason = note
	} else {
		out.Reason += "; " + note
	}
}
