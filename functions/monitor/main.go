// Command monitor is the Lambda function a schedule runs every minute: it
// observes every configured rollback pair (bounded concurrency, a timeout
// per pair), publishes ReplicaLagSeconds, ProbeLagSeconds,
// ReplicationRunning, BytesBehind, BinlogRetentionHeadroomHours and
// RollbackReady through the embedded metric format (namespace Switchback,
// dimension Deployment), stores what it saw in each record, tells on-call
// when a pair's readiness changes, and tears down the pairs whose rollback
// window has ended.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/binlogtime"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

func main() {
	rt, err := wire.Load(context.Background(), "monitor", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("monitor", err)
	}
	// The state store, and binlog file creation times for the retention
	// headroom, read over the replication protocol: only the monitor
	// links go-mysql.
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	rt.Orchestrator.BinlogFileCreated = binlogtime.FileCreated
	lambda.Start(handler(rt))
}

// handler ignores its payload (an EventBridge scheduled event, or
// anything): every run looks at every configured pair.
func handler(rt *wire.Runtime) func(context.Context, json.RawMessage) (orchestrate.MonitorReport, error) {
	return func(ctx context.Context, _ json.RawMessage) (orchestrate.MonitorReport, error) {
		o, log := rt.For(ctx, "")
		rep, err := o.Monitor(ctx)
		if err != nil {
			log.Error("monitor failed", "error", err.Error())
			return rep, err
		}
		ready := 0
		for _, p := range rep.Pairs {
			if p.Ready {
				ready++
			}
		}
		log.Info("monitor finished", "pairs", len(rep.Pairs), "ready", ready, "not_ready", len(rep.Pairs)-ready, "due", len(rep.Due))
		return rep, nil
	}
}
