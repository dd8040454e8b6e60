// Command configure is the Lambda function capture and reconcile invoke
// for a deployment ({"deployment": "bgd-…"}): under the deployment's lease
// it fences the old cluster through its DB cluster parameter group, deletes
// the blue/green deployment once the fence is read back, and sets up
// verified reverse replication from the recorded coordinates.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/killpoint"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

func main() {
	rt, err := wire.Load(context.Background(), "configure", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("configure", err)
	}
	// A test hook, read once: SWITCHBACK_KILL_AT=<point>[#<n>] kills the
	// process at that kill point (see shared/killpoint); unset, nothing.
	if rt.Orchestrator.Hook, err = killpoint.FromEnv(); err != nil {
		wire.Fail("configure", err)
	}
	// The state store.
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	lambda.Start(handler(rt))
}

func handler(rt *wire.Runtime) func(context.Context, orchestrate.ConfigureRequest) (orchestrate.ConfigureOutcome, error) {
	return func(ctx context.Context, req orchestrate.ConfigureRequest) (orchestrate.ConfigureOutcome, error) {
		o, log := rt.For(ctx, req.Deployment)
		out, err := o.Configure(ctx, req)
		if err != nil {
			log.Error("configure failed", "outcome", out.Outcome, "error", err.Error())
			return out, err
		}
		log.Info("configure finished", "outcome", out.Outcome, "reason", out.Reason)
		return out, nil
	}
}
