package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/rdsevent"
)

// Request is the preflight function's manual payload: one of Deployment
// (bgd-…) or Source (the blue cluster's identifier: the deployment's
// Source before the switchover). Fix, when set, overrides the configured
// Settings.Fix for this run.
type Request struct {
	Deployment string `json:"deployment,omitempty"`
	Source     string `json:"source,omitempty"`
	Fix        *bool  `json:"fix,omitempty"`
}

// Outcome is what one preflight invocation did.
type Outcome struct {
	// Action is "checked" (Report is set and was published) or "ignored"
	// (Reason says why: an event preflight does not act on, clusters not
	// opted in, a deployment RDS no longer has).
	Action     string `json:"action"`
	Reason     string `json:"reason,omitempty"`
	Deployment string `json:"deployment,omitempty"`
	// Trigger is "manual" or the RDS event ID (RDS-EVENT-0244).
	Trigger string  `json:"trigger"`
	Report  *Report `json:"report,omitempty"`
	// Notified says the report was published to the SNS topic.
	Notified bool `json:"notified"`
}

// AWS runs preflight for blue/green deployments with the adapters the
// functions use: before the switchover the deployment's Target (green) is
// the new production and its Source (blue) the rollback side; after it,
// the same fields name the new production and the -oldN cluster.
type AWS struct {
	Topology    orchestrate.Topology
	Credentials orchestrate.Credentials
	Connect     orchestrate.Connector
	Parameters  ParameterReader
	Groups      GroupChecker
	// Parallel reads the rollback cluster's group for parallel apply;
	// nil leaves it to what the rollback writer reports.
	Parallel ParallelApplyReader
	Notifier orchestrate.Notifier
	// OptedIn is the opt-in rule capture uses: a deployment is checked
	// when either cluster is opted in.
	OptedIn  func(clusterID string, tags map[string]string) (bool, string)
	Settings Settings
	// ConnectTimeout bounds opening each writer; 0 means 15 s.
	ConnectTimeout time.Duration
	Log            *slog.Logger
	Now            func() time.Time
}

func (a AWS) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// ErrBadRequest: the manual payload is not a Request preflight can act on.
var ErrBadRequest = errors.New("bad preflight request")

// Handle runs preflight for one invocation payload: an EventBridge RDS
// event (RDS-EVENT-0244, "blue/green deployment tasks completed", decoded
// with shared/rdsevent; every other event is ignored with the reason) or
// a manual Request. Failing checks are not an error: the report says
// them. Errors are for what prevented a report (a bad request, RDS or SNS
// failing).
func (a AWS) Handle(ctx context.Context, payload []byte) (Outcome, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		return Outcome{Action: "ignored", Trigger: "manual", Reason: "payload is not a JSON object"}, fmt.Errorf("%w: payload is not a JSON object: %v", ErrBadRequest, err)
	}
	if _, isEvent := probe["detail-type"]; isEvent {
		fact, err := rdsevent.Decode(payload)
		if err != nil {
			a.log().Warn("event ignored", "reason", err.Error())
			return Outcome{Action: "ignored", Trigger: "event", Reason: err.Error()}, nil
		}
		out := Outcome{Trigger: orPlaceholder(fact.EventID, "event"), Deployment: fact.Deployment}
		if fact.Kind != rdsevent.KindDeploymentCreated || fact.Deployment == "" {
			out.Action = "ignored"
			out.Reason = fmt.Sprintf("%s: preflight runs on %s (blue/green deployment tasks completed) and on request", fact.Kind, "RDS-EVENT-0244")
			a.log().Info("event ignored", "kind", string(fact.Kind), "reason", out.Reason)
			return out, nil
		}
		out, err = a.Preflight(ctx, Request{Deployment: fact.Deployment}, out.Trigger)
		if errors.Is(err, orchestrate.ErrNotFound) {
			// Gone before we looked: nothing to check, nothing to retry.
			a.log().Info("event ignored: the deployment is gone", "deployment", fact.Deployment, "error", err.Error())
			return Outcome{Action: "ignored", Trigger: out.Trigger, Deployment: fact.Deployment, Reason: err.Error()}, nil
		}
		return out, err
	}
	// Exact names, no null: encoding/json alone would read "Fix": true as
	// "fix": true (a retention change the payload does not ask for), and
	// "fix": null as no fix.
	for _, k := range slices.Sorted(maps.Keys(probe)) {
		v := probe[k]
		kind, known := map[string]string{"deployment": "a string", "source": "a string", "fix": "true or false"}[k]
		switch {
		case !known:
			return Outcome{Action: "ignored", Trigger: "manual", Reason: fmt.Sprintf("unknown field %q", k)},
				fmt.Errorf(`%w: unknown field %q (want {"deployment": "bgd-…"} or {"source": "<blue cluster id>"}, optionally "fix": true; names are case-sensitive)`, ErrBadRequest, k)
		case string(bytes.TrimSpace(v)) == "null":
			return Outcome{Action: "ignored", Trigger: "manual", Reason: fmt.Sprintf("%q is null", k)},
				fmt.Errorf(`%w: %q must be %s, not null`, ErrBadRequest, k, kind)
		}
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Outcome{Action: "ignored", Trigger: "manual", Reason: err.Error()},
			fmt.Errorf(`%w: %v (want {"deployment": "bgd-…"} or {"source": "<blue cluster id>"}, optionally "fix": true)`, ErrBadRequest, err)
	}
	return a.Preflight(ctx, req, "manual")
}

// Preflight resolves the request's deployment, opens both writers with
// their admin logins, runs every check, publishes the report and returns
// it. Clusters that are not opted in are ignored (nothing is opened).
func (a AWS) Preflight(ctx context.Context, req Request, trigger string) (Outcome, error) {
	out := Outcome{Trigger: trigger}
	req.Deployment, req.Source = strings.TrimSpace(req.Deployment), strings.TrimSpace(req.Source)
	var d orchestrate.Deployment
	var err error
	switch {
	case req.Deployment != "" && req.Source != "":
		out.Action, out.Reason = "ignored", "give deployment or source, not both"
		return out, fmt.Errorf("%w: %s", ErrBadRequest, out.Reason)
	case req.Deployment != "":
		d, err = a.Topology.Deployment(ctx, req.Deployment)
	case req.Source != "":
		d, err = a.bySource(ctx, req.Source)
	default:
		out.Action, out.Reason = "ignored", `the request names no deployment: want {"deployment": "bgd-…"} or {"source": "<blue cluster id>"}`
		return out, fmt.Errorf("%w: %s", ErrBadRequest, out.Reason)
	}
	if err != nil {
		out.Action, out.Reason, out.Deployment = "ignored", err.Error(), req.Deployment
		return out, err
	}
	out.Deployment = d.ID
	log := a.log().With("deployment", d.ID)
	if ok, why := a.optedIn(d); !ok {
		out.Action, out.Reason = "ignored", "deployment "+d.ID+" is not opted in: "+why
		log.Info("preflight skipped", "reason", out.Reason)
		return out, nil
	}
	settings := a.Settings
	if req.Fix != nil {
		settings.Fix = *req.Fix
	}
	prod, rb := d.Production, d.Rollback
	in := Inputs{
		Deployment: d.ID,
		Production: a.open(ctx, "production", prod),
		Rollback:   a.open(ctx, "rollback target", rb),
		Parameters: a.Parameters, Groups: a.Groups, Parallel: a.Parallel,
		Settings: settings, Now: a.Now,
	}
	defer closeSide(in.Production)
	defer closeSide(in.Rollback)
	rep := Run(ctx, in)
	out.Action, out.Report = "checked", &rep
	var failing []string
	for _, c := range rep.With(Fail) {
		failing = append(failing, c.ID)
	}
	log.Info("preflight finished", "verdict", string(rep.Verdict), "failing", failing, "production", rep.Production, "rollback", rep.Rollback, "trigger", trigger)
	if a.Notifier != nil {
		subject, message := rep.Notification(fmt.Sprintf(`payload {"deployment": %q}`, d.ID))
		if err := a.Notifier.Notify(ctx, subject, message); err != nil {
			return out, fmt.Errorf("publish the preflight report of %s: %w", d.ID, err)
		}
		out.Notified = true
	}
	return out, nil
}

// optedIn applies the opt-in rule to either cluster, as capture does.
func (a AWS) optedIn(d orchestrate.Deployment) (bool, string) {
	if a.OptedIn == nil {
		return false, "no opt-in rule configured"
	}
	var why []string
	for _, c := range []orchestrate.Cluster{d.Production, d.Rollback} {
		if c.ID == "" {
			continue
		}
		ok, reason := a.OptedIn(c.ID, c.Tags)
		if ok {
			return true, reason
		}
		why = append(why, reason)
	}
	return false, strings.Join(why, "; ")
}

// bySource finds the deployment whose Source (blue before the switchover)
// is the cluster source; after a switchover blue's name belongs to the new
// production, so that matches too, when no deployment has it as Source.
func (a AWS) bySource(ctx context.Context, source string) (orchestrate.Deployment, error) {
	all, err := a.Topology.Deployments(ctx, "")
	if err != nil {
		return orchestrate.Deployment{}, err
	}
	var exact, renamed []orchestrate.Deployment
	for _, d := range all {
		switch {
		case d.Rollback.ID == source || (d.Rollback.ARN != "" && d.Rollback.ARN == source):
			exact = append(exact, d)
		case d.Status == orchestrate.StatusSwitchoverCompleted && d.Production.ID == source:
			renamed = append(renamed, d)
		}
	}
	match := exact
	if len(match) == 0 {
		match = renamed
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return orchestrate.Deployment{}, fmt.Errorf("no blue/green deployment has source cluster %s: %w", source, orchestrate.ErrNotFound)
	}
	var ids []string
	for _, d := range match {
		ids = append(ids, d.ID+" ("+d.Status+")")
	}
	return orchestrate.Deployment{}, fmt.Errorf("%w: %d blue/green deployments have source cluster %s (%s): name one with \"deployment\"", ErrBadRequest, len(match), source, strings.Join(ids, ", "))
}

// greenName is a green cluster's name before the switchover
// ("orders-prod-green-3rnukl", aws-facts §5).
var greenName = regexp.MustCompile(`-green-[a-z0-9]+$`)

// open resolves a cluster's admin login and opens its writer. A green
// cluster with no secret of its own uses the blue cluster's: green is a
// clone of blue, with the same admin user and password.
func (a AWS) open(ctx context.Context, role string, c orchestrate.Cluster) Side {
	cl := c
	side := Side{Name: c.ID, Cluster: &cl}
	login, err := a.Credentials.Admin(ctx, c)
	if err != nil {
		if base := greenName.ReplaceAllString(c.ID, ""); base != c.ID {
			blue := c
			blue.ID, blue.ARN = base, ""
			if l, berr := a.Credentials.Admin(ctx, blue); berr == nil {
				login, err = l, nil
				a.log().Info("green cluster has no admin secret of its own: using the blue cluster's", "cluster", c.ID, "as", base)
			}
		}
	}
	if err != nil {
		side.CredentialsErr = err
		return side
	}
	timeout := a.ConnectTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := a.Connect(cctx, role, c, login)
	if err != nil {
		side.ConnectErr = err
		return side
	}
	side.Server = s
	return side
}

func closeSide(s Side) {
	if s.Server != nil {
		_ = s.Server.Close()
	}
}
