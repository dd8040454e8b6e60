// Command rollback is the Lambda function on-call invokes by hand to roll a
// deployment back to its rollback cluster:
//
//	aws lambda invoke --function-name switchback-rollback \
//	  --cli-binary-format raw-in-base64-out \
//	  --client-context "$(printf '{"custom":{"caller":"%s"}}' "$USER" | base64)" \
//	  --payload '{"deployment":"bgd-…","dryRun":false,"confirm":"orders-prod-old1","reason":"…"}' out.json
//
// Without "dryRun": false it only plans and changes nothing. The payload
// is decoded strictly (orchestrate.DecodeRollbackRequest). The caller is
// taken from the invocation's client context (custom "caller" or "user",
// else the client application's installation id or title) or its Cognito
// identity, else "unknown": Lambda does not pass the invoking IAM identity
// to a function (CloudTrail records it). A request refused before the
// cutover ran (a malformed payload, an unknown deployment, a wrong
// confirm, another run's lease) fails the invocation with an error naming
// the cause; once the engine ran, the response is the report, whose
// "outcome" says completed, aborted, diverged, refused or planned. A dry
// run also shows the latest verify result read from production ("verify"),
// and says in its "reason" when that run found the rollback cluster
// differing.
//
// Verify itself runs in its own function, switchback-verify
// (functions/verify), so that a long verify never holds this function's
// single concurrent execution: a payload with a "verify" object is not a
// rollback request, and is refused as one (InvalidRollbackRequest).
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/killpoint"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/repoint"
)

func main() {
	rt, err := wire.Load(context.Background(), "rollback", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("rollback", err)
	}
	// A test hook, read once: SWITCHBACK_KILL_AT=<point>[#<n>] kills the
	// process at that kill point (see shared/killpoint); unset, nothing.
	if rt.Orchestrator.Hook, err = killpoint.FromEnv(); err != nil {
		wire.Fail("rollback", err)
	}
	// The state store, and re-pointing after a rollback (Route 53, the
	// application's secret, the clusters' rename).
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	rt.Orchestrator.Repoint = orchestrate.Repointers{
		DNS:      repoint.NewRoute53(route53.NewFromConfig(rt.AWS)),
		Secrets:  repoint.NewSecrets(secretsmanager.NewFromConfig(rt.AWS)),
		Clusters: repoint.NewClusters(rds.NewFromConfig(rt.AWS)),
	}
	lambda.Start(handler(rt))
}

// InvalidRollbackRequest is the function error for a payload that is not a
// rollback request (its type name is the invocation's errorType).
type InvalidRollbackRequest struct{ msg string }

func (e *InvalidRollbackRequest) Error() string { return e.msg }

// RollbackRefused is the function error for a request refused, or failed,
// before the cutover ran: nothing was changed.
type RollbackRefused struct{ msg string }

func (e *RollbackRefused) Error() string { return e.msg }

func handler(rt *wire.Runtime) func(context.Context, json.RawMessage) (orchestrate.RollbackOutcome, error) {
	return func(ctx context.Context, payload json.RawMessage) (orchestrate.RollbackOutcome, error) {
		req, err := orchestrate.DecodeRollbackRequest(payload)
		o, log := rt.For(ctx, req.Deployment)
		req.Caller = wire.Caller(ctx)
		if err != nil {
			log.Error("rollback request refused", "caller", req.Caller, "error", err.Error())
			return orchestrate.RollbackOutcome{}, &InvalidRollbackRequest{msg: err.Error()}
		}
		out, err := o.Rollback(ctx, req)
		switch {
		case err != nil && out.Report == nil:
			log.Error("rollback refused", "caller", req.Caller, "outcome", out.Outcome, "error", err.Error())
			if errors.Is(err, orchestrate.ErrInvalidRequest) {
				return out, &InvalidRollbackRequest{msg: err.Error()}
			}
			return out, &RollbackRefused{msg: err.Error()}
		case err != nil:
			log.Error("rollback finished", "caller", req.Caller, "dry_run", out.DryRun, "outcome", out.Outcome, "error", err.Error())
		default:
			log.Info("rollback finished", "caller", req.Caller, "dry_run", out.DryRun, "outcome", out.Outcome, "reason", out.Reason)
		}
		return out, nil
	}
}
