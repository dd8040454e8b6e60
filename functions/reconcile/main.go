// Command reconcile is the scheduled Lambda function that finds
// switched-over deployments of opted-in clusters with no record or a
// stalled one, recovers their coordinates from DescribeEvents and resumes
// them; coordinates that cannot be found page on-call, never a guess.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/awslambda"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

func main() {
	rt, err := wire.Load(context.Background(), "reconcile", lambdaenv.Needs{ConfigureFunction: true})
	if err != nil {
		wire.Fail("reconcile", err)
	}
	// The state store, and the configure invoker (Lambda API).
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	rt.Orchestrator.Invoker = awslambda.NewInvoker(lambdaapi.NewFromConfig(rt.AWS), rt.Config.ConfigureFunction)
	lambda.Start(handler(rt))
}

// handler ignores its payload (an EventBridge schedule event).
func handler(rt *wire.Runtime) func(context.Context, json.RawMessage) (orchestrate.ReconcileReport, error) {
	return func(ctx context.Context, _ json.RawMessage) (orchestrate.ReconcileReport, error) {
		o, log := rt.For(ctx, "")
		rep, err := o.Reconcile(ctx)
		for _, it := range rep.Items {
			log.Info("reconciled", "deployment", it.Deployment, "action", it.Action, "detail", it.Detail)
		}
		if err != nil {
			log.Error("reconcile failed", "error", err.Error())
			return rep, err
		}
		log.Info("reconcile finished", "deployments_acted_on", len(rep.Items))
		return rep, nil
	}
}
