// Command capture is the Lambda function EventBridge invokes with RDS
// events (switchover completed, binlog coordinates): it records the fact
// and, once a deployment's topology, switchover and coordinates are known,
// invokes configure asynchronously — exactly once.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/awslambda"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/rdsevent"
)

func main() {
	rt, err := wire.Load(context.Background(), "capture", lambdaenv.Needs{ConfigureFunction: true})
	if err != nil {
		wire.Fail("capture", err)
	}
	// The state store, and the configure invoker (Lambda API).
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	rt.Orchestrator.Invoker = awslambda.NewInvoker(lambdaapi.NewFromConfig(rt.AWS), rt.Config.ConfigureFunction)
	lambda.Start(handler(rt))
}

// handler decodes the EventBridge event and records it. A malformed event
// is logged and dropped: retrying it cannot help.
func handler(rt *wire.Runtime) func(context.Context, json.RawMessage) (orchestrate.CaptureResult, error) {
	return func(ctx context.Context, event json.RawMessage) (orchestrate.CaptureResult, error) {
		o, log := rt.For(ctx, "")
		res, err := o.Capture(ctx, event)
		switch {
		case errors.Is(err, rdsevent.ErrMalformed):
			log.Error("malformed event dropped", "error", err.Error())
			return res, nil
		case err != nil:
			log.Error("capture failed", "deployment", res.Deployment, "error", err.Error())
			return res, err
		}
		log.Info("captured", "deployment", res.Deployment, "kind", string(res.Fact.Kind), "action", res.Action, "reason", res.Reason)
		return res, nil
	}
}
