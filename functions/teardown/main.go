// Command teardown is the Lambda function that ends a pair's rollback
// path: on request ({"deployment": "bgd-…", "reason": "…", "caller": "…",
// "releaseFence": false}) or from a schedule ({"due": true}: every pair
// whose rollback window has ended). Under the deployment's lease it stops
// and resets replication on the rollback cluster, drops switchback's
// replication user from production, releases the fence only when asked,
// closes the record and tells on-call. Running it again reports closed.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

func main() {
	rt, err := wire.Load(context.Background(), "teardown", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("teardown", err)
	}
	lambda.Start(handler(rt))
}

func handler(rt *wire.Runtime) func(context.Context, orchestrate.TeardownRequest) (orchestrate.TeardownOutcome, error) {
	return func(ctx context.Context, req orchestrate.TeardownRequest) (orchestrate.TeardownOutcome, error) {
		o, log := rt.For(ctx, req.Deployment)
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
