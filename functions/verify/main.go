// Command verify is the Lambda function that compares a deployment's
// rollback cluster with production online (shared/verify), invoked by hand
// or by a script:
//
//	aws lambda invoke --function-name switchback-verify \
//	  --cli-binary-format raw-in-base64-out \
//	  --client-context "$(printf '{"custom":{"caller":"%s"}}' "$USER" | base64)" \
//	  --payload '{"deployment":"bgd-…","verify":{"tables":["shop.orders"],"chunkRows":1000,"maxLagSeconds":10,"maxLockMs":20}}' out.json
//
// ("verify": {} compares every table with the defaults). The payload is
// decoded strictly (orchestrate.DecodeVerifyRequest): the "verify" object
// is required, so that a payload meant for one function is refused by the
// other (the rollback function refuses a "verify" field; this one a
// rollback request). The caller is taken from the client context, as the
// rollback function takes it.
//
// An invocation compares until a minute before its deadline
// (orchestrate.VerifyReserve); an unfinished run is kept on production and
// continued by the function invoking itself asynchronously (as it was
// invoked: the same version or alias) with the same payload
// ("continuation" counted in it, at most "maxContinuations", default 96,
// times), so a large verify completes across invocations. The response is
// the invocation's outcome (equal, differing, unverified, refused, or "in
// progress" with "continued": true); each invocation writes history lines,
// and on-call is told how a continued run ended. It never changes the
// pair's replication or phase; the rollback function's dry run shows the
// latest result.
//
// It is a function of its own, not a payload of the rollback function: the
// rollback function runs one execution at a time (one cutover at a time),
// and a verify chain would hold that execution for hours. This function
// runs one execution at a time too (reserved concurrency 1: one verify
// chain at a time per account); a second invocation while a chain runs is
// throttled (TooManyRequestsException), and a queued continuation waits
// for the running invocation to end (Lambda retries throttled
// asynchronous invocations).
//
// A malformed payload (InvalidVerifyRequest), or a first invocation
// refused before verify ran (VerifyRefused: an unknown deployment, a pair
// that is not configured, clusters out of reach, too little time), fails
// the invocation with an error naming the cause. A continuation's refusal
// is an outcome instead: a continuation is an asynchronous invocation,
// which Lambda would retry and dead-letter; its refusal is recorded in the
// history and told to on-call.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/switchback/switchback/functions/internal/wire"
	"github.com/switchback/switchback/shared/awslambda"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

func main() {
	rt, err := wire.Load(context.Background(), "verify", lambdaenv.Needs{Database: true})
	if err != nil {
		wire.Fail("verify", err)
	}
	// The state store (the record, history lines), and the Lambda client
	// a run that runs out of time continues itself through.
	rt.Orchestrator.Store = dynamostate.New(dynamodb.NewFromConfig(rt.AWS), rt.Config.Table)
	lambda.Start(handler(rt, lambdaapi.NewFromConfig(rt.AWS)))
}

// InvalidVerifyRequest is the function error for a payload that is not a
// verify request (its type name is the invocation's errorType).
type InvalidVerifyRequest struct{ msg string }

// Error is the problem, each field named by its path ("verify.chunkRows").
func (e *InvalidVerifyRequest) Error() string { return e.msg }

// VerifyRefused is the function error for a first invocation refused
// before verify ran: nothing was compared, nothing queued.
type VerifyRefused struct{ msg string }

// Error is why the request was refused.
func (e *VerifyRefused) Error() string { return e.msg }

// handler serves a verify payload; invoker is the Lambda client an
// unfinished run queues its continuation through.
func handler(rt *wire.Runtime, invoker awslambda.API) func(context.Context, json.RawMessage) (orchestrate.VerifyOutcome, error) {
	return func(ctx context.Context, payload json.RawMessage) (orchestrate.VerifyOutcome, error) {
		req, err := orchestrate.DecodeVerifyRequest(payload)
		o, log := rt.For(ctx, req.Deployment)
		req.Caller = wire.Caller(ctx)
		if err != nil {
			log.Error("verify request refused", "caller", req.Caller, "error", err.Error())
			return orchestrate.VerifyOutcome{}, &InvalidVerifyRequest{msg: err.Error()}
		}
		o.VerifyInvoker = awslambda.NewInvoker(invoker, self(ctx))
		out, err := o.Verify(ctx, req)
		switch {
		case err != nil && errors.Is(err, orchestrate.ErrInvalidRequest):
			log.Error("verify request refused", "caller", req.Caller, "error", err.Error())
			return out, &InvalidVerifyRequest{msg: err.Error()}
		case err != nil && req.Verify.Continuation == 0:
			log.Error("verify refused", "caller", req.Caller, "outcome", out.Outcome, "error", err.Error())
			return out, &VerifyRefused{msg: err.Error()}
		case err != nil:
			log.Error("verify continuation refused", "caller", req.Caller, "continuation", req.Verify.Continuation, "outcome", out.Outcome, "error", err.Error())
		default:
			log.Info("verify finished", "caller", req.Caller, "continuation", req.Verify.Continuation, "outcome", out.Outcome, "continued", out.Continued, "reason", out.Reason)
		}
		return out, nil
	}
}

// self is the function as it was invoked (its ARN, with the alias or
// version it was invoked through), else its name: what an unfinished run
// invokes to continue.
func self(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.InvokedFunctionArn != "" {
		return lc.InvokedFunctionArn
	}
	return lambdacontext.FunctionName
}
