// Command teardown is the Lambda function that ends a pair's rollback
// path: on request ({"deployment": "bgd-…", "reason": "…", "caller": "…",
// "releaseFence": false}) or from a schedule ({"due": true}: every pair
// whose rollback window has ended). The payload is decoded strictly
// (orchestrate.DecodeTeardownRequest): an unknown field ("dryRun"), a
// wrong type or a malformed id is refused with the field named, before
// anything runs. Under the deployment's lease and the engine's pair lock
// it stops and resets replication on the rollback cluster, drops
// switchback's replication user from production, releases the fence only
// when asked, closes the record and tells on-call. A pair a rollback has
// acted on is refused. Running it again reports closed.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

func main() {
	rt, err := wire.Load(context.Background(), "teardown", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("teardown", err)
	}
	// The state store.
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	lambda.Start(handler(rt))
}

// InvalidTeardownRequest is the function error for a payload that is not a
// teardown request (its type name is the invocation's errorType).
type InvalidTeardownRequest struct{ msg string }

func (e *InvalidTeardownRequest) Error() string { return e.msg }

func handler(rt *wire.Runtime) func(context.Context, json.RawMessage) (orchestrate.TeardownOutcome, error) {
	return func(ctx context.Context, payload json.RawMessage) (orchestrate.TeardownOutcome, error) {
		req, err := orchestrate.DecodeTeardownRequest(payload)
		o, log := rt.For(ctx, req.Deployment)
		if err != nil {
			log.Error("teardown request refused", "error", err.Error())
			return orchestrate.TeardownOutcome{Outcome: orchestrate.TeardownRefused, Reason: err.Error()}, &InvalidTeardownRequest{msg: err.Error()}
		}
		out, err := o.Teardown(ctx, req)
		if err != nil {
			log.Error("teardown failed", "outcome", out.Outcome, "error", err.Error())
			return out, err
		}
		log.Info("teardown finished", "outcome", out.Outcome, "unchanged", out.Unchanged, "reason", out.Reason,
			"fence_released", out.FenceReleased, "due", req.Due, "caller", req.Caller)
		return out, nil
	}
}
