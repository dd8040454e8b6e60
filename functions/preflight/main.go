// Command preflight is the Lambda function that checks whether a blue/green
// deployment's rollback path can be built and trusted, before the
// switchover: invoked by EventBridge on RDS-EVENT-0244 ("blue/green
// deployment tasks completed": green is ready, blue is its Source) and by
// hand with {"deployment": "bgd-…"} or {"source": "<blue cluster id>"}
// (optionally "fix": true). It checks green (the new production) and blue
// (the rollback side) — binlog format and retention, parameter groups,
// logins and privileges, newer→older hazards — publishes the report to the
// SNS topic and returns it. Only opted-in deployments are checked.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/preflight"
)

func main() {
	rt, err := wire.Load(context.Background(), "preflight", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("preflight", err)
	}
	lambda.Start(handler(rt))
}

// settings are what preflight holds the clusters to: retention for the
// rollback window (or, with no window, what configure ensures), raised in
// place only when SWITCHBACK_PREFLIGHT_FIX_RETENTION says so.
func settings(cfg lambdaenv.Config) preflight.Settings {
	window := int(cfg.RollbackWindow.Hours())
	if window == 0 {
		window = cfg.RetentionHours
	}
	return preflight.Settings{
		RetentionHours:          window,
		ConfigureRetentionHours: cfg.RetentionHours,
		Fix:                     cfg.PreflightFixRetention,
	}
}

func handler(rt *wire.Runtime) func(context.Context, json.RawMessage) (preflight.Outcome, error) {
	return func(ctx context.Context, payload json.RawMessage) (preflight.Outcome, error) {
		o, log := rt.For(ctx, "")
		a := preflight.AWS{
			Topology: o.Topology, Credentials: o.Credentials, Connect: o.Connect,
			Parameters: rt.RDS, Groups: rt.RDS, Parallel: rt.RDS,
			Notifier: o.Notifier, OptedIn: o.OptedIn,
			Settings: settings(rt.Config),
			Log:      log,
		}
		out, err := a.Handle(ctx, payload)
		if err != nil {
			log.Error("preflight failed", "deployment", out.Deployment, "action", out.Action, "error", err.Error())
			return out, err
		}
		verdict := ""
		if out.Report != nil {
			verdict = string(out.Report.Verdict)
		}
		log.Info("preflight done", "deployment", out.Deployment, "action", out.Action, "reason", out.Reason, "verdict", verdict, "notified", out.Notified)
		return out, nil
	}
}
